"""Every numbered notebook follows notebooks/CONTRIBUTING.md, and the course map lists them all.

Checked for each ``notebooks/NN_*.ipynb`` that exists (the index, 00, is generated and checked
separately): the title cell (heading, its own Colab badge, learning goals, run time), the
standard setup cell, a ``# NBVAL_CHECK_OUTPUT`` cell, every code cell executed top to bottom
with no errors, slide metadata on every cell, self-checking exercises and a results card last.
"""

import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell, new_notebook

from course_utils.notebook import colab_url
from slides import course_map

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = course_map.numbered_notebooks(ROOT / "notebooks")
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


per_notebook = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])


@per_notebook
def test_title_cell(path):
    nb = _read(path)
    first = nb.cells[0]
    assert first.cell_type == "markdown", "the first cell is the title cell (markdown)"
    assert first.metadata.get("slideshow", {}).get("slide_type") == "slide"
    badge = f"[![Open In Colab]({course_map.BADGE_IMAGE})]({colab_url(path.name)})"
    assert badge in first.source, f"the title cell needs the Colab badge of its own file: {badge}"
    card = course_map.read_card(path)  # heading, learning goals, run time
    assert 3 <= len(card.goals) <= 6, f"{len(card.goals)} learning goals; CONTRIBUTING asks 3-5"
    limit = 120 if card.number in ("06", "07", "08") else 90
    assert card.run_seconds <= limit, f"stated run time {card.runs_in!r} is over {limit} s"


@per_notebook
def test_setup_cell_is_the_standard_one(path):
    code = _code(_read(path))
    standard = course_map.standard_setup_cell()
    variants = {standard} | {
        standard.replace("nb.setup()", f"nb.setup({arg}=True)") for arg in ("need_gpu", "colab_gpu")
    }
    assert code and code[0].source.strip() in variants, (
        "the first code cell must be the setup cell of notebooks/CONTRIBUTING.md, verbatim"
    )
    assert code[0].metadata.get("slideshow", {}).get("slide_type") == "skip"


@per_notebook
def test_has_checked_output_cells(path):
    checked = [
        c for c in _code(_read(path)) if c.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT")
    ]
    assert checked, "mark deterministic cells with a first line `# NBVAL_CHECK_OUTPUT`"
    for cell in checked:
        stderr = [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
        assert not stderr, f"a NBVAL_CHECK_OUTPUT cell writes to stderr: {cell.source[:60]!r}"


@per_notebook
def test_executed_top_to_bottom_without_errors(path):
    code = _code(_read(path))
    counts = [c.execution_count for c in code]
    assert None not in counts, "every code cell must be executed (`./course execute` it)"
    assert counts == list(range(1, len(code) + 1)), (
        "execution counts must run 1, 2, 3, ... : execute the notebook top to bottom in one go"
    )
    errors = [c.source[:60] for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"cells end in errors: {errors}"
    assert sum(bool(c.outputs) for c in code) >= len(code) // 2, "most code cells show output"


@per_notebook
def test_every_cell_has_slide_metadata(path):
    nb = _read(path)
    missing = [
        i
        for i, c in enumerate(nb.cells)
        if c.metadata.get("slideshow", {}).get("slide_type") not in SLIDE_TYPES
    ]
    assert not missing, f"cells {missing} lack metadata.slideshow.slide_type (one of {SLIDE_TYPES})"
    types = [c.metadata["slideshow"]["slide_type"] for c in nb.cells]
    assert types.count("slide") >= 3, "a lecture deck needs a title and section slides"


@per_notebook
def test_self_checking_exercises(path):
    code = _code(_read(path))
    assert any("course_utils.exercises" in c.source for c in code), (
        "exercises use the checks of course_utils.exercises"
    )
    call = re.compile(r"(?<![\w.])check(?:_prediction|_function|_choice)?\(\s*[\"']")
    calls = sum(len(call.findall(c.source)) for c in code)
    assert calls >= 4, f"{calls} exercise checks; CONTRIBUTING asks for 4-6 exercises"
    for cell in (c for c in code if call.search(c.source)):
        for m in re.finditer(r"expected\s*=\s*([^,\n)]+)", cell.source):
            assert not re.fullmatch(r"[-+\d.eE_ ]+", m.group(1).strip()), (
                f"expected= must be computed by code, not typed in: {m.group(0)!r}"
            )


@per_notebook
def test_exercises_are_tagged_with_all_three_kinds(path):
    cells = _read(path).cells
    kinds = set()
    for cell in cells:
        tags = set(cell.metadata.get("tags", []))
        if "exercise" in tags:
            found = tags & {"predict", "code", "explain"}
            assert len(found) == 1, f"an exercise cell needs one of predict/code/explain: {tags}"
            kinds |= found
    assert kinds == {"predict", "code", "explain"}, f"exercise kinds tagged: {sorted(kinds)}"


@per_notebook
def test_worked_solutions_are_hidden_and_checked(path):
    solutions = [c for c in _read(path).cells if "solution" in c.metadata.get("tags", [])]
    exercises = {id(c) for c in _read(path).cells if "exercise" in c.metadata.get("tags", [])}
    assert exercises and solutions, "every exercise has a worked solution (cells tagged solution)"
    for cell in solutions:
        assert cell.cell_type == "code"
        hidden = cell.metadata.get("jupyter", {})
        assert hidden.get("source_hidden") and hidden.get("outputs_hidden"), (
            "a solution cell is collapsed for students: jupyter.source_hidden and outputs_hidden"
        )
        assert cell.metadata.get("cellView") == "form" and cell.source.lstrip().startswith(
            "#@title"
        ), "Colab hides a solution only in form view: cellView 'form' and a first '#@title' line"
        assert re.search(r"assert\s+check(?:_prediction|_function|_choice)?\(", cell.source), (
            f"a worked solution asserts its check: {cell.source[:80]!r}"
        )
        assert "exercise" not in cell.metadata.get("tags", []), "solutions are not exercise cells"


@per_notebook
def test_results_card_last(path):
    last = _code(_read(path))[-1]
    assert re.search(rf"save_results\(\s*[\"']{re.escape(path.stem)}[\"']", last.source), (
        f'the last code cell saves the results card: save_results("{path.stem}", {{...}})'
    )


# ------------------------------------------------------------------------------- course map


def test_index_lists_every_notebook_and_is_current():
    index = _read(ROOT / "notebooks" / course_map.INDEX_NAME)
    text = "\n".join(c.source for c in index.cells)
    for path in NOTEBOOKS:
        assert f"]({path.name})" in text, f"00_index.ipynb does not link {path.name}"
        assert colab_url(path.name) in text, f"00_index.ipynb lacks {path.name}'s Colab badge"
    ok, message = course_map.index_is_current(ROOT / "notebooks")
    assert ok, f"{message}: run `python -m slides.course_map` and commit notebooks/00_index.ipynb"


def _title_nb(source: str):
    return new_notebook(cells=[new_markdown_cell(source)])


def test_read_card_parses_both_title_styles(tmp_path):
    a = tmp_path / "04_a.ipynb"
    nbformat.write(
        _title_nb(
            "# 04 — CPU vs GPU\n\nintro\n\n**You will learn to**\n\n1. time a GEMM;\n"
            "2. explain the\n   transfer cost;\n3. read a sweep.\n\n**Follows** seed 002.\n\n"
            "**Runs in** about 45 s on a 2-core CPU; with a GPU (e.g. Colab) more.\nNo GPU needed."
        ),
        a,
    )
    card = course_map.read_card(a)
    assert (card.number, card.title) == ("04", "CPU vs GPU")
    assert card.goals == ("time a GEMM;", "explain the transfer cost;", "read a sweep.")
    assert card.runs_in == "about 45 s on a 2-core CPU; with a GPU (e.g. Colab) more"
    assert card.run_seconds == 45
    b = tmp_path / "05_b.ipynb"
    nbformat.write(
        _title_nb(
            "# 05 - B\n\nHere you will see why.\n\n**You will**\n- x\n- y\n\n"
            "**Run time:** about a minute. No GPU."
        ),
        b,
    )
    card = course_map.read_card(b)
    assert card.goals == ("x", "y") and card.runs_in == "about a minute" and card.run_seconds == 60
    assert card.colab_url == colab_url("05_b.ipynb")


@pytest.mark.parametrize(
    "source, complaint",
    [
        ("no heading", "heading"),
        ("# 06 — Wrong number\n\n**You will learn to**\n1. a\n\n**Runs in** 5 s", "file name"),
        ("# 07 — T\n\n**Runs in** 5 s", "learning goals"),
        ("# 07 — T\n\n**You will learn to**\n1. a\n", "run time"),
    ],
)
def test_read_card_says_what_is_missing(tmp_path, source, complaint):
    path = tmp_path / "07_t.ipynb"
    nbformat.write(_title_nb(source), path)
    with pytest.raises(course_map.TitleCellError, match=complaint):
        course_map.read_card(path)


def test_render_index_is_deterministic_and_complete(tmp_path):
    for n in ("01", "02"):
        nbformat.write(
            _title_nb(f"# {n} — T{n}\n\n**You will learn to**\n1. a\n\n**Runs in** about 80 s"),
            tmp_path / f"{n}_t.ipynb",
        )
    cards = [course_map.read_card(p) for p in course_map.numbered_notebooks(tmp_path)]
    first, again = course_map.render_index(cards), course_map.render_index(cards)
    assert nbformat.writes(first) == nbformat.writes(again)
    assert "**2 notebooks**, together about 3 min" in first.cells[0].source
    assert course_map.index_is_current(tmp_path)[0] is False
    course_map.write_index(tmp_path)
    assert course_map.index_is_current(tmp_path) == (
        True,
        f"{tmp_path / '00_index.ipynb'} is up to date",
    )
    nbformat.validate(_read(tmp_path / "00_index.ipynb"))
