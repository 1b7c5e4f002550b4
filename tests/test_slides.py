"""Lecture decks (slides/build.py): built from every notebook, offline, checked in a real browser.

The browser test opens every deck in headless Chromium with the network cut and asserts that
reveal.js initialised, that it counts as many slides as the notebook's slide metadata asks for
(plus the "(continued)" slides the builder adds), that MathJax typeset every formula and that
no resource failed to load. It then measures every slide at 1280x720 (slides/lecture.py's
rule): it fits the screen without scrolling, shows at most 60 words of prose and 12 lines of
code, and every figure is visible. It saves a screenshot of each title slide in
artifacts/slides/. Chromium is installed with apt-get where it is missing and this runs as
root; it is skipped only where that is impossible, never under CI.
"""

import re
from pathlib import Path

import matplotlib.image
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils.paths import artifacts_dir
from slides import browser, build, lecture

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
        talk = lecture.lecture_notebook(nb).nb  # the authors' notes and the prose moved there
        notes = sum(build.slide_type(c) == "notes" for c in talk.cells)
        assert page.count('<aside class="notes">') == notes, deck.html.name
        assert notes >= sum(build.slide_type(c) == "notes" for c in nb.cells)
        figures = sum(
            "image/png" in o.get("data", {}) for c in nb.cells if build.slide_type(c) != "skip"
            for o in c.get("outputs", [])
        )  # fmt: skip
        assert page.count("data:image/png;base64,") >= figures, deck.html.name


def test_decks_in_headless_chromium_offline(decks, chromium):
    shots = artifacts_dir("slides")
    problems = []
    with browser.Browser(chromium, window=lecture.SCREEN_PX) as b:
        for deck in decks:
            status = b.deck_status(deck.html)
            assert "unshare" in status.network_cut_by or "flags" in status.network_cut_by
            name = deck.html.name
            nb = nbformat.read(deck.notebook, as_version=4)
            assert deck.metadata_slides == build.expected_slide_count(nb)
            assert deck.expected_slides == deck.metadata_slides + deck.continuation_slides
            problems += build.status_problems(deck, status)
            if any("$" in c.source for c in nb.cells if c.cell_type == "markdown"):
                if status.math_typeset == 0:
                    problems.append(f"{name}: has formulas, MathJax typeset none")
            png = b.screenshot(shots / f"{deck.notebook.stem}_title.png")
            pixels = matplotlib.image.imread(png)
            assert pixels.shape[:2] == (lecture.SCREEN_PX[1], lecture.SCREEN_PX[0])
            assert pixels[..., :3].std() > 0.02, f"{png} looks blank"
            # the lecture rule, slide by slide
            metrics = b.slide_metrics()
            assert len(metrics) == status.total_slides
            problems += build.slide_problems(name, metrics)
            shown = [c for c in nb.cells if build.slide_type(c) != "skip"]
            outputs = [o.get("data", {}) for c in shown for o in c.get("outputs", [])]
            figures = sum("image/png" in d or "image/svg+xml" in d for d in outputs)
            assert sum(len(m["figures"]) for m in metrics) >= figures, name  # all were measured
            if any(c.cell_type == "code" for c in shown):
                assert max(m["code_lines"] for m in metrics) > 0, name
            assert max(m["prose_words"] for m in metrics) > 0, name
    assert not problems, "\n".join(problems)


def _measure(deck, chromium):
    with browser.Browser(chromium, window=lecture.SCREEN_PX) as b:
        assert b.deck_status(deck.html).total_slides == deck.expected_slides
        return b.slide_metrics()


def test_fit_check_catches_slides_that_break_the_lecture_rule(decks, chromium, tmp_path):
    """Cells shown verbatim ("excerpt": "all") can break the rule; the check says where."""
    words = " ".join(["word"] * 70) + "."
    fence = "```python\n" + "\n".join(f"x{i} = {i}" for i in range(14)) + "\n```"
    tall = "\n\n".join(f"$$x_{{{i}}} = \\frac{{{i}}}{{2}}$$" for i in range(20))  # no prose
    broken = "![broken](data:image/png;base64,AAAA)"
    path = tmp_path / "95_unfit.ipynb"
    cells = [("md", "slide", "# 95 — Unfit")]
    cells += [("md", "slide", f"## {n}\n\n{text}") for n, text in enumerate([words, fence, tall])]
    nb = _nb(*cells, ("md", "slide", f"## 3\n\n{broken}"))
    for cell in nb.cells[1:4]:
        cell.metadata.slideshow["excerpt"] = "all"
    nbformat.write(nb, path)
    deck = build.build_deck(path, decks[0].html.parent)
    problems = build.slide_problems(deck.html.name, _measure(deck, chromium))
    assert any("slide 1.0 (0): 70 words of prose (at most 60)" in p for p in problems), problems
    assert any("slide 2.0 (1): 14 lines of code (at most 12)" in p for p in problems), problems
    assert any("slide 3.0 (2): does not fit the 1280x720 screen" in p for p in problems), problems
    assert any("slide 4.0 (3): figure 1 is not visible" in p for p in problems), problems
    assert len(problems) == 4, problems


def test_the_builder_turns_notebook_text_into_slides_that_fit(decks, chromium, tmp_path):
    """A section written for reading (long prose, long code, long output, a big figure)
    becomes slides that pass the check, with the prose in the speaker notes."""
    import base64
    import io

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 9), dpi=100)
    ax.plot(range(10))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    prose = " ".join(
        f"Sentence {i} explains one more detail of the method at length." for i in range(25)
    )
    code = "\n".join(f"value_{i} = compute(step={i})  # step {i}" for i in range(40))
    path = tmp_path / "94_wordy.ipynb"
    nb = _nb(
        ("md", "slide", "# 94 — Wordy"),
        ("md", "slide", f"## Everything at once\n\n{prose}\n\n$$y = a x + b$$\n\n{prose}"),
        ("code", "-", code),
        ("md", "-", prose),
        ("code", "-", "plot()"),
        ("code", "subslide", code),
    )
    figure = nbformat.v4.new_output(
        "display_data", data={"image/png": base64.b64encode(buffer.getvalue()).decode()}
    )
    long_output = "".join(f"line {i}\n" for i in range(60))
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text=long_output)]
    nb.cells[4].outputs = [figure]
    nb.cells[5].outputs = [  # too tall for a slide even alone: shows less
        nbformat.v4.new_output("stream", name="stdout", text=long_output),
        figure,
        figure,
    ]
    nbformat.write(nb, path)
    deck = build.build_deck(path, decks[0].html.parent)
    assert deck.metadata_slides == 3 and deck.continuation_slides >= 1
    metrics = _measure(deck, chromium)
    assert build.slide_problems(deck.html.name, metrics) == []
    assert sum(len(m["figures"]) for m in metrics) == 3
    assert max(m["code_lines"] for m in metrics) == lecture.MAX_CODE_LINES
    page = deck.html.read_text(encoding="utf-8")
    assert page.count("Sentence 24 explains") == 3  # each paragraph whole, in the notes only
    assert "full code in the notebook" in page and "more lines in the notebook" in page


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
            ("md", "slide", "## Four\n\nThe slide says one thing. The notes say $E = m c^2$ too."),
        ),
        path,
    )
    deck = build.build_deck(path, decks[0].html.parent)
    with browser.Browser(chromium) as b:
        assert b.deck_status(deck.html).total_slides == 4
        assert b.speaker_notes((0, 0)) == "Say why this matters."
        assert b.speaker_notes((1, 0), fragment=0) == "Only with the fragment."
        assert b.speaker_notes((2, 0)) == ""
        # prose the slide does not show is in the notes, formulas drawn there too (each formula
        # carries its own glyphs: the speaker view is another window)
        assert b.speaker_notes((3, 0)).startswith("The slide says one thing. The notes say")
        drawn = b.evaluate(
            "Array.from(document.querySelectorAll('.speaker-controls-notes mjx-container svg'))"
            ".map(s => s.querySelectorAll('path[d]').length)",
            b._speaker,
        )
        assert drawn and min(drawn) > 0


def test_build_command(tmp_path, capsys):
    index = ROOT / "notebooks" / "00_index.ipynb"
    assert build.main([str(index), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "00_index.slides.html").is_file()
    assert "00_index.slides.html" in capsys.readouterr().out
    assert build.main([str(tmp_path / "missing.ipynb"), "--out", str(tmp_path)]) == 1
    assert "no notebook at" in capsys.readouterr().err
