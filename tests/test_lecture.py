"""Lecture form of a notebook (slides/lecture.py): what a slide shows, what goes to the notes.

The browser check of the built decks (tests/test_slides.py) measures the result on screen;
these tests pin the rules themselves on small notebooks.
"""

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output  # noqa: E402

from slides import build, lecture  # noqa: E402

LONG_PARAGRAPH = (
    "Seed 004 counts a layer's work with one formula. It multiplies the output map by the "
    "kernel and the channels, and that is all there is to it. The rest of this paragraph "
    "explains why, in the many words a notebook can afford and a slide cannot."
)


def _cell(kind, slide_type, source, **slideshow):
    new = new_markdown_cell if kind == "md" else new_code_cell
    return new(source, metadata={"slideshow": {"slide_type": slide_type, **slideshow}})


def _png(width_in=8.0, height_in=4.0):
    fig, ax = plt.subplots(figsize=(width_in, height_in), dpi=100)
    ax.plot([0, 1], [1, 0])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _slides(nb):
    """(visible Markdown/code of each slide, its notes) of a lecture notebook."""
    slides = []
    for cell in nb.cells:
        kind = build.slide_type(cell)
        if kind in ("slide", "subslide") or not slides:
            slides.append({"shown": [], "notes": [], "cells": []})
        if kind == "notes":
            slides[-1]["notes"].append(cell.source)
        elif kind != "skip":
            hidden = cell.metadata.get("transient", {}).get("remove_source")
            slides[-1]["shown"].append("" if hidden else cell.source)
            slides[-1]["cells"].append(cell)
    return slides


# ------------------------------------------------------------------------------ sentences


def test_first_sentence_respects_abbreviations_parentheses_code_and_math():
    assert lecture.first_sentence("Use e.g. Colab (i.e. a GPU). Then more.", 24) == (
        "Use e.g. Colab (i.e. a GPU).",
        False,
    )
    assert lecture.first_sentence("The rate $x = 1.5$ of `np.dot` is fine. Next.", 24)[0] == (
        "The rate $x = 1.5$ of `np.dot` is fine."
    )
    assert lecture.first_sentence("**Why a validation set?** Because.", 24)[0] == (
        "**Why a validation set?**"
    )
    assert lecture.first_sentence("One short sentence.", 24) == ("One short sentence.", True)


def test_a_long_first_sentence_is_cut_at_a_clause_and_keeps_bold_closed():
    text = "train it to **99 % test accuracy in about 30 s on a 2-core CPU and then read** all"
    cut, whole = lecture.first_sentence(text, 10)
    assert not whole and cut.endswith("…") and cut.count("**") == 2
    cut, _ = lecture.first_sentence("alpha beta gamma delta epsilon, zeta eta theta iota kappa", 8)
    assert cut == "alpha beta gamma delta epsilon\u00a0…"
    assert lecture.count_words("a `b c` $d + e$ [f g](http://x) h") == 5
    # a list number is no sentence; a cut never leaves a parenthesis open
    assert lecture.first_sentence("1. tell a count (work) from a rate. More.", 24)[0] == (
        "1. tell a count (work) from a rate."
    )
    assert lecture.first_sentence('Seed 003 shows "Table 1. Body". Then.', 24)[0] == (
        'Seed 003 shows "Table 1. Body".'
    )
    cut, _ = lecture.first_sentence("about 75 s on a 2-core CPU (30 s of it training), no GPU", 10)
    assert cut == "about 75 s on a 2-core CPU\u00a0…"


# --------------------------------------------------------------------------------- code


def test_code_that_fits_is_shown_as_written():
    code = "x = 1\n# a comment\n\nprint(x)"
    assert lecture.code_excerpt(code) == (code, False)


def test_long_code_drops_comments_docstrings_asserts_prints_then_ends_at_a_statement():
    code = '''def f(a):
    """Doc.

    More doc.
    """
    assert a > 0  # a check
    b = a + 1
    for i in range(3):
        print(i)
    return b


y = f(2)
assert y == 3
print(f"y = {y}")
z = [
    y,
    y + 1,
]
'''
    shown, excerpt = lecture.code_excerpt(code)
    lines = shown.splitlines()
    assert excerpt and len(lines) <= lecture.MAX_CODE_LINES
    assert lines[-1] == lecture.EXCERPT_MARK
    assert "Doc." not in shown and "assert" not in shown and "print" not in shown
    assert "    b = a + 1" in lines and "    return b" in lines and "y = f(2)" in lines
    # a loop of prints goes as a whole: no block is left empty
    assert "for i in range(3):" not in shown
    many = "\n".join(f"x{i} = {i}" for i in range(30))
    shown, excerpt = lecture.code_excerpt(many)
    assert excerpt and shown.splitlines()[:3] == ["x0 = 0", "x1 = 1", "x2 = 2"]
    assert len(shown.splitlines()) == lecture.MAX_CODE_LINES
    # not Python (a magic): lines, not statements
    magic = "%timeit f()\n" + many
    assert len(lecture.code_excerpt(magic)[0].splitlines()) == lecture.MAX_CODE_LINES


def test_code_cell_excerpt_metadata_and_figures():
    source = "# NBVAL_CHECK_OUTPUT\n" + "\n".join(f"x{i} = {i}" for i in range(1, 21))
    nb = new_notebook(
        cells=[
            _cell("md", "slide", "# T"),
            _cell("code", "-", source, excerpt="1-3,10"),  # author's numbering: line 1 is NBVAL
            _cell("code", "subslide", source, excerpt="none"),
            _cell("code", "subslide", "fig = plot()\nplt.show()"),
            _cell("code", "subslide", "fig = plot()\nplt.show()", excerpt="all"),
        ]
    )
    nb.cells[3].outputs = [new_output("display_data", data={"image/png": _png()})]
    nb.cells[4].outputs = [new_output("display_data", data={"image/png": _png()})]
    cells = lecture.lecture_notebook(nb).nb.cells
    assert cells[1].source.splitlines() == [
        "x1 = 1",
        "x2 = 2",
        "# …",
        "x9 = 9",
        lecture.EXCERPT_MARK,
    ]
    assert cells[2].metadata["transient"]["remove_source"]  # output only
    assert cells[3].metadata["transient"]["remove_source"]  # the figure is the point
    assert "transient" not in cells[4].metadata and cells[4].source.startswith("fig")
    assert "NBVAL" in nb.cells[1].source and len(nb.cells[1].source.splitlines()) == 21  # untouched


@pytest.mark.parametrize(
    ("excerpt", "error"),
    [("3-40", "outside 1-21"), ("two", "is not like"), ("1-13", "at most 12"), ("all", "at most")],
)
def test_bad_excerpt_metadata_names_the_cell_and_the_fix(excerpt, error):
    source = "# NBVAL_CHECK_OUTPUT\n" + "\n".join(f"x{i} = {i}" for i in range(1, 21))
    nb = new_notebook(
        cells=[_cell("md", "slide", "# T"), _cell("code", "-", source, excerpt=excerpt)]
    )
    with pytest.raises(lecture.LectureError, match=f"99_x.ipynb, cell 2: .*{error}"):
        lecture.lecture_notebook(nb, "99_x.ipynb")


def test_outputs_on_a_slide_lose_stderr_progress_bars_and_their_middle():
    cell = _cell("code", "-", "run()")
    cell.outputs = [
        new_output("stream", name="stdout", text="epoch 1\n"),
        new_output("stream", name="stderr", text="WARNING: something\n"),
        new_output("stream", name="stdout", text="".join(f"epoch {i}\n" for i in range(2, 31))),
        new_output(
            "display_data",
            data={
                "application/vnd.jupyter.widget-view+json": {"model_id": "a", "version_major": 2},
                "text/plain": "timing:  40%|####      | 2/5 [00:01<00:01]",
            },
        ),
    ]
    out = lecture.lecture_notebook(new_notebook(cells=[_cell("md", "slide", "# T"), cell])).nb
    (stream,) = out.cells[1].outputs
    lines = stream.text.splitlines()
    assert len(lines) == lecture.MAX_OUTPUT_LINES
    assert (
        lines[0] == "epoch 1"
        and lines[-1] == "epoch 30"
        and "more lines in the notebook" in stream.text
    )
    assert "WARNING" not in stream.text


# ----------------------------------------------------------------------------- Markdown


def test_prose_goes_to_the_notes_headings_formulas_tables_stay():
    source = (
        f"## 2. A section\n\n{LONG_PARAGRAPH}\n\n"
        "**Parameters** of a conv layer, bias included:\n$$P = (f^2 c_{in} + 1) c_{out}$$\n\n"
        "| layer | MACs |\n|---|---|\n| conv | 117,600 |\n\n"
        f"{LONG_PARAGRAPH}\n\n{LONG_PARAGRAPH}\n"
    )
    nb = new_notebook(cells=[_cell("md", "slide", "# T"), _cell("md", "slide", source)])
    talk = lecture.lecture_notebook(nb)
    (slide,) = [s for s in _slides(talk.nb) if "A section" in "".join(s["shown"])]
    shown = "\n".join(slide["shown"])
    assert "## 2. A section" in shown and "$$P = (f^2" in shown and "| conv | 117,600 |" in shown
    assert "Seed 004 counts a layer's work with one formula." in shown
    assert "in the many words" not in shown
    assert lecture.count_words(shown) <= lecture.PROSE_BUDGET_WORDS + 8  # + the table's words
    notes = "\n".join(slide["notes"])
    assert notes.count(LONG_PARAGRAPH) == 3  # every paragraph whole, for the speaker
    assert talk.moved_to_notes >= 3


def test_images_are_always_shown_links_kept_whole():
    badge = "[![Open In Colab](badge.svg)](https://colab.example/nb)"
    source = f"# T\n\n{badge}\n\nFirst sentence. Then ![a plot](plot.png) in the middle."
    nb = new_notebook(cells=[_cell("md", "slide", source)])
    (slide,) = _slides(lecture.lecture_notebook(nb).nb)
    assert slide["shown"] == [f"# T\n\n{badge}\n\nFirst sentence.\n\n![a plot](plot.png)"]


def test_list_items_show_their_first_sentence_and_never_leave_a_gap():
    items = "\n".join(
        f"{n}. Item {n} makes a point that matters. " + "Then detail. " * 6 for n in range(1, 10)
    )
    nb = new_notebook(cells=[_cell("md", "slide", f"# T\n\nThe goals:\n\n{items}\n")])
    shown = _slides(lecture.lecture_notebook(nb).nb)[0]["shown"][0]
    lines = [line.split(". ", 1) for line in shown.splitlines() if line[:1].isdigit()]
    numbers = [int(n) for n, _ in lines]
    assert numbers == list(range(1, len(numbers) + 1)) and 3 <= len(numbers) < 9
    assert "Then detail" not in shown
    words = 2 + sum(lecture.count_words(text) for _, text in lines)  # "The goals:" + items
    assert words <= lecture.PROSE_BUDGET_WORDS
    # what an item holds beyond its first line (a paragraph, a nested list): to the notes
    nb = new_notebook(cells=[_cell("md", "slide", "- one\n\n  More on one.\n- two\n  - two a")])
    (slide,) = _slides(lecture.lecture_notebook(nb).nb)
    assert slide["shown"] == ["- one\n- two"]
    assert "More on one." in slide["notes"][0] and "two a" in slide["notes"][0]


def test_excerpt_metadata_on_markdown_all_and_none():
    nb = new_notebook(
        cells=[
            _cell("md", "slide", f"## A\n\n{LONG_PARAGRAPH}", excerpt="all"),
            _cell("md", "slide", f"## B\n\n{LONG_PARAGRAPH}\n\n$$x = 1$$", excerpt="none"),
        ]
    )
    a, b = _slides(lecture.lecture_notebook(nb).nb)
    assert a["shown"] == [f"## A\n\n{LONG_PARAGRAPH}"] and a["notes"] == []
    assert b["shown"] == ["## B\n\n$$x = 1$$"] and b["notes"] == [LONG_PARAGRAPH]


def test_what_does_not_fit_continues_on_a_new_slide_and_the_count_follows():
    code = "\n".join(f"y{i} = {i}" for i in range(9))
    nb = new_notebook(
        cells=[
            _cell("md", "slide", "# T"),
            _cell("md", "slide", "## Three examples"),
            _cell("code", "-", code),
            _cell("md", "-", "The second one shows the same."),
            _cell("code", "-", code),
            _cell("md", "notes", "Say it twice."),
            _cell("code", "fragment", code),
            _cell("md", "slide", "## Done"),
        ]
    )
    talk = lecture.lecture_notebook(nb)
    assert (talk.metadata_slides, talk.continuation_slides) == (3, 2)
    assert build.expected_slide_count(nb) == talk.metadata_slides
    assert build.expected_slide_count(talk.nb) == 5
    titles = [s["shown"][0] for s in _slides(talk.nb)]
    assert titles[2:4] == ["### Three examples (continued)"] * 2
    second = _slides(talk.nb)[2]
    assert second["shown"][1] == "The second one shows the same."  # prose moves with its code
    assert second["notes"] == ["Say it twice."]
    assert talk.continued == ["Three examples"] * 2


def test_every_course_notebook_converts_and_keeps_its_notes_and_figures():
    for path in build.course_notebooks():
        nb = nbformat.read(path, as_version=4)
        talk = lecture.lecture_notebook(nb, path.name)
        assert build.expected_slide_count(nb) == talk.metadata_slides, path.name
        assert (
            build.expected_slide_count(talk.nb) == talk.metadata_slides + talk.continuation_slides
        )
        authors_notes = [c.source for c in nb.cells if build.slide_type(c) == "notes"]
        notes = [c.source for c in talk.nb.cells if build.slide_type(c) == "notes"]
        assert all(n in notes for n in authors_notes), path.name

        def figures(cells):
            return sum(
                "image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", [])
            )

        visible = [c for c in nb.cells if build.slide_type(c) != "skip"]
        assert figures(talk.nb.cells) == figures(nb.cells) >= figures(visible), path.name
        for cell in talk.nb.cells:
            shown = not cell.metadata.get("transient", {}).get("remove_source")
            if cell.cell_type == "code" and shown and build.slide_type(cell) != "skip":
                assert len(cell.source.splitlines()) <= lecture.MAX_CODE_LINES, path.name


def test_hidden_things_stay_hidden_solutions_details_collapsed_cells():
    solution = _cell("code", "subslide", "answer = 42")
    solution.metadata["tags"] = ["solution"]
    collapsed = _cell("code", "-", "secret_setup()")
    collapsed.metadata["jupyter"] = {"source_hidden": True, "outputs_hidden": True}
    collapsed.outputs = [new_output("stream", name="stdout", text="the answer is 42\n")]
    nb = new_notebook(
        cells=[
            _cell("md", "slide", "# T"),
            _cell(
                "md",
                "slide",
                "## Exercises\n\n<details><summary>Hint</summary>\n\nUse 42.\n\n</details>",
            ),
            collapsed,
            solution,
        ]
    )
    talk = lecture.lecture_notebook(nb)
    assert build.expected_slide_count(nb) == talk.metadata_slides == 2  # no slide for the solution
    assert build.expected_slide_count(talk.nb) == 2
    (_, exercises) = _slides(talk.nb)
    assert exercises["shown"][0] == "## Exercises" and "Use 42." in exercises["notes"][0]
    assert exercises["cells"][1].metadata["transient"]["remove_source"]
    assert exercises["cells"][1].outputs == []
    assert [build.slide_type(c) for c in talk.nb.cells][-1] == "skip"
