"""Build the lecture decks: one reveal.js deck per notebook, from its cells' slide metadata.

    ./course slides                              # every notebook -> slides/_build/
    python -m slides.build notebooks/03_*.ipynb  # the same, for some notebooks
    python -m slides.build --check               # then open each deck offline in Chromium

The decks are nbconvert's reveal.js slides (``jupyter nbconvert --to slides``) with the
course's template (``slides/templates/course_reveal``), made for a lecture hall with no
network:

* reveal.js and MathJax are fetched once from the npm registry (``npm pack``), checked against
  the pinned sha512 below and unpacked into ``slides/_build/_vendor/``; the decks load them by
  relative path, never from a CDN. Copy the whole ``slides/_build/`` folder to present anywhere.
* The notebooks' outputs (tables, printed results, figures as embedded PNG/SVG) are part of the
  deck; images a markdown cell links from the web (the Colab badge) become plain links.
* ``# NBVAL_...`` test markers are left out of the code shown on slides.
* The notebook is put in lecture form first (``slides/lecture.py``): a slide shows headings,
  figures, tables, formulas, short code and a few short sentences; the rest of the prose goes to
  the speaker notes, long code to an excerpt, and what does not fit one 1280x720 slide onto a
  "(continued)" subslide.

Which cell goes where is the notebook's ``slideshow.slide_type`` metadata (see
notebooks/CONTRIBUTING.md, "Slides"). :func:`expected_slide_count` says how many slides a deck
must have; ``--check`` (and tests/test_slides.py) compare it with what reveal.js counts, and
measure every slide: it fits the screen, with at most ``lecture.MAX_PROSE_WORDS`` words of prose
and ``lecture.MAX_CODE_LINES`` lines of code, every figure in view.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import html
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from . import lecture

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = ROOT / "notebooks"
BUILD_DIR = Path(__file__).resolve().parent / "_build"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE = "course_reveal"


@dataclass(frozen=True)
class VendorPackage:
    """A front-end package the decks load locally: npm name, pinned version and integrity."""

    name: str
    version: str
    integrity: str  # npm's dist.integrity ("sha512-<base64>")
    keep: tuple[str, ...]  # paths inside the package to unpack (prefixes)


#: reveal.js 5 keeps the file layout nbconvert's reveal template expects (dist/, plugin/notes/);
#: of its themes only "white" is kept: its font ships with it (others import web fonts).
#: MathJax 3's ``tex-svg-full.js`` is one file with every TeX extension and SVG output (no fonts).
VENDOR: tuple[VendorPackage, ...] = (
    VendorPackage(
        "reveal.js",
        "5.2.1",
        "sha512-r7//6mIM5p34hFiDMvYfXgyjXqGRta+/psd9YtytsgRlrpRzFv4RbH76TXd2qD+7ZPZEbpBDhdRhJaFgfQ7zNQ==",
        (
            "LICENSE",
            "dist/reveal.js",
            "dist/reveal.css",
            "dist/reset.css",
            "plugin/notes/",
            "dist/theme/white.css",
            "dist/theme/fonts/source-sans-pro/",
        ),  # fmt: skip
    ),
    VendorPackage(
        "mathjax",
        "3.2.2",
        "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        ("LICENSE", "es5/tex-svg-full.js"),
    ),
)
#: how the decks refer to the vendored files (relative to the deck).
REVEAL_PREFIX = "_vendor/reveal.js"
MATHJAX_URL = "_vendor/mathjax/es5/tex-svg-full.js"


class BuildError(RuntimeError):
    """A deck cannot be built; the message says what to do."""


# ---------------------------------------------------------------------------------------------
# reveal.js and MathJax from the npm registry
# ---------------------------------------------------------------------------------------------


def _integrity(tarball: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()


def _npm_pack(pkg: VendorPackage, cache: Path) -> Path:
    tarball = cache / f"{pkg.name}-{pkg.version}.tgz"
    if tarball.is_file() and _integrity(tarball) == pkg.integrity:
        return tarball
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError(
            f"npm is needed once to fetch {pkg.name} {pkg.version} from the npm registry, and it "
            "is not installed. Install Node.js with npm (e.g. `apt-get install npm`), or copy a "
            "slides/_build/_vendor/ folder from a machine that built the decks."
        )
    cache.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [npm, "pack", f"{pkg.name}@{pkg.version}", "--pack-destination", str(cache),
         "--prefer-offline", "--silent"],
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0 or not tarball.is_file():
        raise BuildError(
            f"`npm pack {pkg.name}@{pkg.version}` failed (is the npm registry reachable?):\n"
            + result.stderr[-2000:]
        )
    got = _integrity(tarball)
    if got != pkg.integrity:
        tarball.unlink()
        raise BuildError(
            f"{tarball.name} does not match its pinned integrity ({got[:24]}... instead of "
            f"{pkg.integrity[:24]}...): refusing to use it."
        )
    return tarball


def fetch_vendor(build_dir: Path = BUILD_DIR, cache: Path = BUILD_DIR / "_cache") -> Path:
    """Make ``<build_dir>/_vendor/{reveal.js,mathjax}`` (once; later calls reuse it).

    Each package is fetched with ``npm pack`` (tarballs kept in ``cache``, by default
    ``slides/_build/_cache``), verified against :data:`VENDOR`'s sha512, and only the files the
    decks use are unpacked. Returns the ``_vendor`` directory.
    """
    vendor = build_dir / "_vendor"
    for pkg in VENDOR:
        dest = vendor / pkg.name
        stamp, want = dest / ".course-vendor", f"{pkg.integrity} {' '.join(pkg.keep)}"
        if stamp.is_file() and stamp.read_text() == want:
            continue
        tarball = _npm_pack(pkg, cache)
        if dest.exists():
            shutil.rmtree(dest)
        with tarfile.open(tarball) as tar:
            members = [
                m
                for m in tar.getmembers()
                if m.isfile()
                and m.name.startswith("package/")
                and m.name[len("package/") :].startswith(pkg.keep)
            ]
            for member in members:
                member.name = member.name[len("package/") :]
            # regular files under package/ only; the "data" filter where Python has it (3.10.12+)
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(dest, members=members, **safe)
        stamp.write_text(want)
    return vendor


# ---------------------------------------------------------------------------------------------
# notebook -> deck
# ---------------------------------------------------------------------------------------------


#: a cell's slide type ('slide', 'subslide', 'fragment', '-', 'skip', 'notes'; solutions: 'skip')
slide_type = lecture.slide_type


def expected_slide_count(nb: dict) -> int:
    """How many slides reveal.js will count in the notebook's deck (``Reveal.getTotalSlides()``).

    nbconvert opens a slide at the first visible cell (whatever its type) and a new one at
    every later 'slide' or 'subslide' cell; reveal.js counts each vertical subslide, and a
    slide without subslides once. 'skip' and 'notes' cells add none, nor do fragments, nor
    worked solutions (tag ``solution``: never on a slide).
    """
    types = [slide_type(c) for c in nb["cells"]]
    visible = [i for i, t in enumerate(types) if t not in ("skip", "notes")]
    if not visible:
        raise BuildError("every cell is 'skip' or 'notes': there is nothing to show")
    first = visible[0]
    return 1 + sum(t in ("slide", "subslide") for t in types[first + 1 :])


_REMOTE_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*((?:https?:)?//[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_REMOTE_HTML_IMAGE = re.compile(
    r"<img\b[^>]*\bsrc=[\"']((?:https?:)?//[^\"']+)[\"'][^>]*>", re.IGNORECASE
)


def _alt_text(img_tag: str) -> str:
    m = re.search(r"\balt=[\"']([^\"']*)[\"']", img_tag, re.IGNORECASE)
    return m.group(1) if m else "image"


def prepare_for_slides(nb: dict) -> dict:
    """A copy of ``nb`` ready for an offline deck.

    * markdown images from the web (``![Open In Colab](https://...svg)``) become their alt text,
      so the surrounding link stays and nothing is fetched;
    * lines like ``# NBVAL_CHECK_OUTPUT`` (markers for the test suite) are dropped from code.
    """
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            src = _REMOTE_MD_IMAGE.sub(lambda m: m.group(1) or "image", cell["source"])
            cell["source"] = _REMOTE_HTML_IMAGE.sub(lambda m: _alt_text(m.group(0)), src)
        elif cell["cell_type"] == "code":
            cell["source"] = lecture.NBVAL_LINE.sub("", cell["source"])
    return nb


def _exporter():
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    c = Config()
    c.SlidesExporter.template_name = TEMPLATE
    c.SlidesExporter.extra_template_basedirs = [str(TEMPLATES_DIR)]
    c.SlidesExporter.reveal_url_prefix = REVEAL_PREFIX
    c.SlidesExporter.mathjax_url = MATHJAX_URL
    c.SlidesExporter.reveal_theme = "white"
    c.SlidesExporter.reveal_transition = "none"
    c.SlidesExporter.reveal_number = "c/t"
    c.SlidesExporter.reveal_width = str(lecture.SCREEN_PX[0])  # a 16:9 projector
    c.SlidesExporter.reveal_height = str(lecture.SCREEN_PX[1])
    c.SlidesExporter.embed_images = True  # local images in markdown cells go into the HTML
    c.SlidesExporter.exclude_input_prompt = True
    c.SlidesExporter.exclude_output_prompt = True
    return SlidesExporter(config=c)


@dataclass(frozen=True)
class Deck:
    """One built deck: ``expected_slides`` = the notebook's ``metadata_slides`` plus the
    ``continuation_slides`` the builder added so that every slide fits."""

    notebook: Path
    html: Path
    title: str
    expected_slides: int
    metadata_slides: int = 0
    continuation_slides: int = 0


def notebook_title(nb: dict, fallback: str) -> str:
    """The first ``# heading`` of the first markdown cell (the notebook's title), else ``fallback``."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            m = re.search(r"^#\s+(.+?)\s*$", cell["source"], re.MULTILINE)
            if m:
                return m.group(1)
            break
    return fallback


def build_deck(notebook: str | Path, build_dir: Path = BUILD_DIR, exporter=None) -> Deck:
    """Build ``<build_dir>/<stem>.slides.html`` from an (executed) notebook; returns the Deck.

    The deck expects reveal.js and MathJax in ``<build_dir>/_vendor`` (:func:`fetch_vendor`).
    """
    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise BuildError(f"no notebook at {notebook}")
    nb = nbformat.read(notebook, as_version=4)
    try:
        talk = lecture.lecture_notebook(nb, notebook.name)
    except lecture.LectureError as exc:
        raise BuildError(str(exc)) from None
    expected = expected_slide_count(talk.nb)
    assert expected == talk.metadata_slides + talk.continuation_slides, notebook.name
    body, _ = (exporter or _exporter()).from_notebook_node(
        prepare_for_slides(talk.nb),
        resources={
            "metadata": {"name": notebook.stem, "path": str(notebook.parent)},
            "course_min_zoom": lecture.MIN_ZOOM,
        },
    )
    remote = remote_resources(body)
    if remote:
        raise BuildError(
            f"{notebook.name}: the deck would load {remote[:5]} from the network; "
            "it must work offline (make those files local, or leave them out of the slides)."
        )
    build_dir.mkdir(parents=True, exist_ok=True)
    out = build_dir / f"{notebook.stem}.slides.html"
    out.write_text(body, encoding="utf-8")
    return Deck(
        notebook, out, notebook_title(nb, notebook.stem), expected,
        talk.metadata_slides, talk.continuation_slides,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# offline check (static): nothing in a deck may be loaded from the network
# ---------------------------------------------------------------------------------------------

_REMOTE = r"(?:https?:)?//"
_RESOURCE_PATTERNS = (
    # elements that load what their src/href/data names (links <a href> are fine: not loaded)
    re.compile(
        r"<(?:script|img|iframe|audio|video|source|track|embed|input)\b[^>]*?\bsrc\s*=\s*[\"']?("
        + _REMOTE
        + r"[^\"'\s>]+)",
        re.IGNORECASE,
    ),
    re.compile(r"<link\b[^>]*?\bhref\s*=\s*[\"']?(" + _REMOTE + r"[^\"'\s>]+)", re.IGNORECASE),
    re.compile(r"<object\b[^>]*?\bdata\s*=\s*[\"']?(" + _REMOTE + r"[^\"'\s>]+)", re.IGNORECASE),
    # CSS: url(...) and @import
    re.compile(r"url\(\s*[\"']?(" + _REMOTE + r"[^\"')\s]+)", re.IGNORECASE),
    re.compile(r"@import\s+[\"'](" + _REMOTE + r"[^\"']+)", re.IGNORECASE),
    # JavaScript modules
    re.compile(r"\bimport\b[^;\n]*?\bfrom\s*[\"'](" + _REMOTE + r"[^\"']+)"),
    re.compile(r"\bimport\s*\(\s*[\"'](" + _REMOTE + r"[^\"']+)"),
)


def remote_resources(text: str) -> list[str]:
    """URLs that an HTML or CSS text would *load* from the network (scripts, styles, images,
    fonts, frames, module imports). Plain hyperlinks (``<a href>``) are not counted."""
    found: list[str] = []
    for pattern in _RESOURCE_PATTERNS:
        found += [html.unescape(m.group(1)) for m in pattern.finditer(text)]
    return sorted(set(found))


# ---------------------------------------------------------------------------------------------
# the whole course
# ---------------------------------------------------------------------------------------------


def course_notebooks(directory: Path = NOTEBOOKS_DIR) -> list[Path]:
    """``notebooks/NN_*.ipynb`` in course order (00_index included)."""
    return sorted(directory.glob("[0-9][0-9]_*.ipynb"))


def write_deck_index(decks: list[Deck], build_dir: Path = BUILD_DIR) -> Path:
    """``<build_dir>/index.html``: a plain page linking every deck (no scripts, works offline)."""
    rows = "\n".join(
        f'<li><a href="{html.escape(d.html.name)}">{html.escape(d.title)}</a> '
        f"<small>({d.expected_slides} slides, from notebooks/{html.escape(d.notebook.name)})"
        "</small></li>"
        for d in decks
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Deep Learning meets Hardware: lecture decks</title>
<style>body{{font-family:sans-serif;max-width:48em;margin:2em auto;line-height:1.5}}
ul{{list-style:none;padding:0}} li{{margin:.4em 0}}</style>
</head><body>
<h1>Deep Learning meets Hardware: lecture decks</h1>
<p>One deck per notebook. Keys: arrows to move, <kbd>S</kbd> speaker notes, <kbd>F</kbd> full
screen, <kbd>Esc</kbd> overview. Everything here works offline.</p>
<ul>
{rows}
</ul>
</body></html>
"""
    out = build_dir / "index.html"
    out.write_text(page, encoding="utf-8")
    return out


def build_all(
    notebooks: list[Path] | None = None, build_dir: Path = BUILD_DIR, quiet: bool = False
) -> list[Deck]:
    """Fetch reveal.js/MathJax if needed, build every deck and the index page; returns the decks."""
    notebooks = course_notebooks() if not notebooks else [Path(n) for n in notebooks]
    if not notebooks:
        raise BuildError(f"no notebooks to build (looked for {NOTEBOOKS_DIR}/NN_*.ipynb)")
    fetch_vendor(build_dir)
    exporter = _exporter()
    decks = []
    for path in notebooks:
        deck = build_deck(path, build_dir, exporter)
        decks.append(deck)
        if not quiet:
            print(
                f"slides: {_show(deck.html)}  ({deck.expected_slides} slides, "
                f"{deck.continuation_slides} of them continued)"
            )
    index = write_deck_index(decks, build_dir)
    if not quiet:
        print(f"slides: {_show(index)}  (open this one)")
    return decks


def _show(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def slide_problems(deck_name: str, metrics: list[dict]) -> list[str]:
    """What breaks the lecture rule on the slides measured by ``Browser.slide_metrics``:
    a slide that does not fit the screen (or scrolls, or had to shrink below
    ``lecture.MIN_ZOOM``), more than ``lecture.MAX_PROSE_WORDS`` words of prose or
    ``lecture.MAX_CODE_LINES`` lines of code, a figure that is empty, not loaded or out of view."""
    problems = []
    for m in metrics:
        where = f"{deck_name} slide {m['index']} ({m['title'][:50] or 'no heading'})"
        left, top, right, bottom = m["bounds"]
        width, height = m["window"]
        if m["scrolls"] or top < -1 or left < -1 or bottom > height + 1 or right > width + 1:
            problems.append(
                f"{where}: does not fit the {width}x{height} screen (content spans "
                f"{left:.0f}..{right:.0f} x {top:.0f}..{bottom:.0f} px"
                + (", scrolls)" if m["scrolls"] else ")")
            )
        if m["zoom"] < lecture.MIN_ZOOM - 1e-3:
            problems.append(
                f"{where}: shrunk to {m['zoom']:.2f}x to fit (at least {lecture.MIN_ZOOM})"
            )
        if m["prose_words"] > lecture.MAX_PROSE_WORDS:
            problems.append(
                f"{where}: {m['prose_words']} words of prose (at most {lecture.MAX_PROSE_WORDS})"
            )
        if m["code_lines"] > lecture.MAX_CODE_LINES:
            problems.append(
                f"{where}: {m['code_lines']} lines of code (at most {lecture.MAX_CODE_LINES})"
            )
        for n, fig in enumerate(m["figures"], 1):
            if not (fig["loaded"] and fig["width"] > 1 and fig["height"] > 1 and fig["inside"]):
                problems.append(
                    f"{where}: figure {n} is not visible ({fig['width']:.0f}x{fig['height']:.0f} "
                    f"px, loaded: {fig['loaded']}, inside the screen: {fig['inside']})"
                )
    return problems


def status_problems(deck: Deck, status: Any) -> list[str]:
    """What a deck's load status (``browser.Browser.deck_status``) says is wrong: reveal.js did
    not start, counts other slides than the notebook asks for, failed loads, MathJax errors."""
    name, problems = deck.html.name, []
    if not status.reveal_ready:
        problems.append(f"{name}: reveal.js did not initialise")
    if status.total_slides != deck.expected_slides:
        problems.append(
            f"{name}: reveal.js counts {status.total_slides} slides, the notebook's slide "
            f"metadata {deck.metadata_slides} + {deck.continuation_slides} continued"
        )
    if status.failed_resources:
        problems.append(f"{name}: failed to load {status.failed_resources}")
    if status.math_errors:
        problems.append(f"{name}: MathJax could not typeset {status.math_errors}")
    return problems


def check_decks(decks: list[Deck], screenshots: Path | None = None) -> list[str]:
    """Open each deck offline in headless Chromium; return the problems found (empty: all good).

    Each deck must initialise, count the slides its notebook asks for, typeset its formulas,
    load everything, and every slide must pass :func:`slide_problems` at 1280x720.
    With ``screenshots``, also save ``<screenshots>/<notebook stem>_title.png`` of each title slide.
    """
    from . import browser

    problems = []
    with browser.Browser(window=lecture.SCREEN_PX) as b:
        for deck in decks:
            name = deck.html.name
            status = b.deck_status(deck.html)
            problems += status_problems(deck, status)
            if screenshots is not None:
                b.screenshot(screenshots / f"{deck.notebook.stem}_title.png")
            metrics = b.slide_metrics()
            problems += slide_problems(name, metrics)
            print(
                f"slides: checked {name}: {status.total_slides} slides "
                f"({deck.continuation_slides} continued), {status.math_typeset} formulas, "
                f"offline ({status.network_cut_by}); at most "
                f"{max(m['prose_words'] for m in metrics)} words of prose and "
                f"{max(m['code_lines'] for m in metrics)} lines of code a slide"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m slides.build",
        description="Build one offline reveal.js deck per notebook into slides/_build/.",
    )
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/NN_*.ipynb")
    parser.add_argument("--out", type=Path, default=BUILD_DIR, help="default: slides/_build")
    parser.add_argument(
        "--check",
        action="store_true",
        help="open every deck offline in headless Chromium and check it (installs Chromium "
        "with apt-get where missing and allowed)",
    )
    parser.add_argument(
        "--screenshots",
        type=Path,
        default=None,
        help="with --check: save a PNG of each title slide in this folder",
    )
    args = parser.parse_args(argv)
    try:
        decks = build_all(args.notebooks, args.out.resolve())
        problems = check_decks(decks, args.screenshots) if args.check else []
    except BuildError as exc:
        print(f"slides: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"slides: PROBLEM {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
