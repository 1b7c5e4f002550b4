"""Lecture decks (slides/build.py): built from every notebook, offline, checked in a real browser.

The browser test opens every deck in headless Chromium with the network cut and asserts that
reveal.js initialised, that it counts as many slides as the notebook's slide metadata asks for,
that MathJax typeset every formula and that no resource failed to load; it saves a screenshot
of each title slide in artifacts/slides/. Chromium is installed with apt-get where it is
missing and this runs as root; it is skipped only where that is impossible, never under CI.
"""

import os
import re
from pathlib import Path

import matplotlib.image
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils.paths import artifacts_dir
from slides import browser, build

ROOT = Path(__file__).resolve().parent.parent


def _nb(*types_and_sources):
    cells = []
    for kind, slide_type, source in types_and_sources:
        new = new_markdown_cell if kind == "md" else new_code_cell
        cells.append(new(source, metadata={"slideshow": {"slide_type": slide_type}}))
    return new_notebook(cells=cells)


# --------------------------------------------------------------------------------- unit tests


def test_expected_slide_count_follows_the_slide_metadata():
    nb = _nb(
        ("code", "skip", "import x"),  # hidden cells before the first visible one add nothing
        ("md", "-", "# Title"),  # the first visible cell opens slide 1 whatever its type
        ("md", "fragment", "more"),
        ("md", "slide", "## A"),  # 2
        ("code", "subslide", "1"),  # 3 (vertical)
        ("md", "notes", "say this"),
        ("md", "subslide", "### b"),  # 4
        ("code", "skip", "plumbing"),
        ("md", "slide", "## C"),  # 5
    )
    assert build.expected_slide_count(nb) == 5
    assert build.expected_slide_count(_nb(("md", "fragment", "only"))) == 1
    with pytest.raises(build.BuildError, match="nothing to show"):
        build.expected_slide_count(_nb(("code", "skip", "a"), ("md", "notes", "b")))


def test_prepare_for_slides_keeps_links_drops_remote_images_and_test_markers():
    badge = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.example/nb)"
    nb = _nb(
        ("md", "slide", f"# T\n\n{badge}\n\n![local](figure.png)\n"),
        ("md", "-", 'x <img src="https://example.org/a.png" alt="A chart"> y'),
        ("code", "-", "# NBVAL_CHECK_OUTPUT\nprint(1)\n#NBVAL_SKIP\nprint(2)"),
    )
    out = build.prepare_for_slides(nb)
    assert "[Open In Colab](https://colab.example/nb)" in out.cells[0].source
    assert "![local](figure.png)" in out.cells[0].source  # local images are embedded later
    assert out.cells[1].source == "x A chart y"
    assert out.cells[2].source == "print(1)\nprint(2)"
    assert "NBVAL_CHECK_OUTPUT" in nb.cells[2].source  # the notebook itself is untouched


def test_remote_resources_finds_what_would_be_loaded_not_links():
    page = """
    <script src="https://cdn.example/reveal.js"></script>
    <link rel="stylesheet" href="//cdn.example/theme.css">
    <img src='http://example.org/x.png'>
    <style>@import "https://fonts.example/f.css"; .a{background:url(https://x.example/b.png)}</style>
    <script type="module">import m from 'https://cdn.example/mermaid.mjs';</script>
    <a href="https://colab.research.google.com/github/x">a link is not loaded</a>
    <script src="_vendor/reveal.js/dist/reveal.js"></script>
    """
    assert build.remote_resources(page) == [
        "//cdn.example/theme.css",
        "http://example.org/x.png",
        "https://cdn.example/mermaid.mjs",
        "https://cdn.example/reveal.js",
        "https://fonts.example/f.css",
        "https://x.example/b.png",
    ]


def test_vendor_files_are_pinned_and_checked(tmp_path, monkeypatch):
    vendor = build.fetch_vendor(tmp_path)
    for pkg in build.VENDOR:
        assert (vendor / pkg.name / ".course-vendor").read_text().split()[0] == pkg.integrity
        assert (vendor / pkg.name / "LICENSE").is_file()
    assert (vendor / "reveal.js" / "dist" / "reveal.js").is_file()
    assert (vendor / "mathjax" / "es5" / "tex-svg-full.js").is_file()
    # a tarball whose hash is not the pinned one is refused
    bad = build.VendorPackage("reveal.js", "5.2.1", "sha512-" + "A" * 86 + "==", ("LICENSE",))
    monkeypatch.setattr(build, "VENDOR", (bad,))
    with pytest.raises(build.BuildError, match="refusing"):
        build.fetch_vendor(tmp_path / "other", cache=tmp_path / "cache")


# ------------------------------------------------------------------- every deck of the course


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    """Every notebook's deck, built the way `./course slides` builds them."""
    out = tmp_path_factory.mktemp("slides")
    return build.build_all(build_dir=out, quiet=True)


def test_every_notebook_has_a_deck(decks):
    built = {d.notebook.name for d in decks}
    assert built == {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert "00_index.ipynb" in built
    index = (decks[0].html.parent / "index.html").read_text()
    for deck in decks:
        assert f'href="{deck.html.name}"' in index


def test_decks_load_nothing_from_the_network(decks):
    vendor = decks[0].html.parent / "_vendor"
    for css in (vendor / "reveal.js" / "dist").rglob("*.css"):
        assert build.remote_resources(css.read_text()) == [], css
    for deck in decks:
        page = deck.html.read_text(encoding="utf-8")
        assert build.remote_resources(page) == [], deck.html.name
        # every local script/style sheet the deck names is there, next to it
        for ref in re.findall(r"<(?:script|link)\b[^>]*?(?:src|href)=\"([^\"]+)\"", page):
            assert (deck.html.parent / ref).is_file(), f"{deck.html.name}: missing {ref}"
        nb = nbformat.read(deck.notebook, as_version=4)
        notes = sum(build.slide_type(c) == "notes" for c in nb.cells)
        assert page.count('<aside class="notes">') == notes, deck.html.name
        figures = sum(
            "image/png" in o.get("data", {}) for c in nb.cells if build.slide_type(c) != "skip"
            for o in c.get("outputs", [])
        )  # fmt: skip
        assert page.count("data:image/png;base64,") >= figures, deck.html.name


@pytest.fixture(scope="module")
def chromium():
    try:
        return browser.ensure_chromium()
    except browser.BrowserUnavailable as exc:
        if os.environ.get("CI"):
            raise  # CI runs as root on a Debian machine: there it must really run
        pytest.skip(f"no headless Chromium: {exc}")


def test_decks_in_headless_chromium_offline(decks, chromium):
    shots = artifacts_dir("slides")
    problems = []
    with browser.Browser(chromium) as b:
        for deck in decks:
            status = b.deck_status(deck.html)
            assert "unshare" in status.network_cut_by or "flags" in status.network_cut_by
            name = deck.html.name
            if not status.reveal_ready:
                problems.append(f"{name}: reveal.js did not initialise")
            if status.total_slides != deck.expected_slides:
                problems.append(
                    f"{name}: reveal.js counts {status.total_slides} slides, "
                    f"the slide metadata {deck.expected_slides}"
                )
            if status.failed_resources:
                problems.append(f"{name}: could not load {status.failed_resources}")
            if status.math_errors:
                problems.append(f"{name}: MathJax could not typeset {status.math_errors}")
            nb = nbformat.read(deck.notebook, as_version=4)
            if any("$" in c.source for c in nb.cells if c.cell_type == "markdown"):
                if status.math_typeset == 0:
                    problems.append(f"{name}: has formulas, MathJax typeset none")
            png = b.screenshot(shots / f"{deck.notebook.stem}_title.png")
            pixels = matplotlib.image.imread(png)
            assert pixels.shape[:2] == (800, 1280)
            assert pixels[..., :3].std() > 0.02, f"{png} looks blank"
    assert not problems, "\n".join(problems)


def test_browser_check_catches_broken_decks(decks, chromium, tmp_path):
    """The check can fail: a TeX error, and a deck that wants reveal.js from a CDN."""
    out = decks[0].html.parent  # next to the vendored files
    path = tmp_path / "97_broken.ipynb"
    nbformat.write(
        _nb(("md", "slide", "# 97 — Broken\n\nbad $\\frac{1}$"), ("md", "slide", "## 2")), path
    )
    deck = build.build_deck(path, out)
    cdn = out / "97_cdn.slides.html"
    local = 'src="_vendor/reveal.js/dist/reveal.js"'
    assert local in deck.html.read_text()
    cdn.write_text(deck.html.read_text().replace(local, 'src="https://cdn.example/reveal.js"'))
    with browser.Browser(chromium) as b:
        status = b.deck_status(deck.html)
        assert status.reveal_ready and status.total_slides == deck.expected_slides == 2
        assert status.math_errors == ["Missing argument for \\frac"]
        status = b.deck_status(cdn)
        assert not status.reveal_ready
        assert any("cdn.example/reveal.js" in r for r in status.failed_resources)


def test_speaker_view_shows_the_notes_cells_offline(decks, chromium, tmp_path):
    path = tmp_path / "96_notes.ipynb"
    nbformat.write(
        _nb(
            ("md", "slide", "# 96 — Notes"),
            ("md", "notes", "Say why this matters."),
            ("md", "slide", "## Two"),
            ("code", "fragment", "print(2)"),
            ("md", "notes", "Only with the fragment."),
            ("md", "slide", "## Three, no notes"),
        ),
        path,
    )
    deck = build.build_deck(path, decks[0].html.parent)
    with browser.Browser(chromium) as b:
        assert b.deck_status(deck.html).total_slides == 3
        assert b.speaker_notes((0, 0)) == "Say why this matters."
        assert b.speaker_notes((1, 0), fragment=0) == "Only with the fragment."
        assert b.speaker_notes((2, 0)) == ""


def test_build_command(tmp_path, capsys):
    index = ROOT / "notebooks" / "00_index.ipynb"
    assert build.main([str(index), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "00_index.slides.html").is_file()
    assert "00_index.slides.html" in capsys.readouterr().out
    assert build.main([str(tmp_path / "missing.ipynb"), "--out", str(tmp_path)]) == 1
    assert "no notebook at" in capsys.readouterr().err
