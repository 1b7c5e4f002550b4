"""The course map, ``notebooks/00_index.ipynb``, generated from the notebooks' title cells.

    python -m slides.course_map            # (re)write notebooks/00_index.ipynb
    python -m slides.course_map --check    # exit 1 if it is out of date

Every numbered notebook opens with a title cell (notebooks/CONTRIBUTING.md, "Shape")::

    # 02 — CNN basics: convolution, pooling, and the matrix multiply underneath
    [![Open In Colab](...badge...)](<its own Colab link>)
    ...
    **You will learn to**
    1. compute a 2-D convolution by hand, ...
    ...
    **Runs in** about 30 s on a 2-core CPU; no GPU needed.

:func:`read_card` takes the number, title, learning goals and run time from there, and
:func:`render_index` lays them out, one table row per notebook with its Colab badge. The
index is therefore never edited by hand, and a test checks it lists every notebook.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_markdown_cell, new_notebook

from course_utils.notebook import colab_url

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
INDEX_NAME = "00_index.ipynb"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"

_TITLE = re.compile(r"^#\s+(\d\d)\s+[—–-]+\s+(.+?)\s*$", re.MULTILINE)
_GOALS_HEADING = re.compile(
    r"^.*\b(you will|learning goals|goals)\b.*$", re.IGNORECASE | re.MULTILINE
)
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*+])\s+")
_RUNS_IN = re.compile(
    r"\b(?:runs? in|run ?time|running time)\b[*:\s]*(.+?)(?:\n\s*\n|\Z)", re.IGNORECASE | re.DOTALL
)
_DURATION = re.compile(
    r"\b(\d+(?:\.\d+)?|an?|one|two|three)\s*(s|secs?|seconds?|mins?|minutes?)\b", re.IGNORECASE
)
_WORDS = {"a": 1.0, "an": 1.0, "one": 1.0, "two": 2.0, "three": 3.0}


class TitleCellError(ValueError):
    """A notebook's title cell lacks what the course map needs; the message says what."""


@dataclass(frozen=True)
class NotebookCard:
    """What a notebook's title cell says about it."""

    path: Path
    number: str  # "02"
    title: str  # without the number
    goals: tuple[str, ...]  # "You will learn to" items, in order
    runs_in: str  # as written, e.g. "about 30 s on a 2-core CPU; no GPU needed"
    run_seconds: float  # the first duration in ``runs_in``, in seconds

    @property
    def colab_url(self) -> str:
        return colab_url(self.path.name)


def numbered_notebooks(directory: Path = NOTEBOOKS_DIR) -> list[Path]:
    """``NN_*.ipynb`` in course order, without the index itself."""
    return [p for p in sorted(directory.glob("[0-9][0-9]_*.ipynb")) if p.name != INDEX_NAME]


def title_source(nb: dict) -> str:
    """Source of the notebook's first cell, which must be its markdown title cell."""
    first = nb["cells"][0] if nb["cells"] else None
    if first is None or first["cell_type"] != "markdown":
        raise TitleCellError("the first cell must be a markdown title cell")
    return first["source"]


def _goals(text: str) -> tuple[str, ...]:
    """The list after the first line that announces goals ("**You will learn to**",
    "**You will**", "Learning goals") and is followed by one."""
    for heading in _GOALS_HEADING.finditer(text):
        items = _list_after(text[heading.end() :])
        if items:
            return items
    return ()


def _list_after(text: str) -> tuple[str, ...]:
    items: list[str] = []
    for line in text.splitlines()[1:]:
        if _LIST_ITEM.match(line):
            items.append(_LIST_ITEM.sub("", line).strip())
        elif not line.strip():
            continue  # blank lines may separate the items of a loose list
        elif line[:1] in (" ", "\t") and items:
            items[-1] += " " + line.strip()  # an item's continuation line
        else:
            break
    return tuple(items)


def _first_sentence(text: str) -> str:
    """Text up to the first full stop outside parentheses ("(e.g. Colab)" does not end it)."""
    depth = 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "." and depth == 0 and (i + 1 == len(text) or text[i + 1] == " "):
            if not text[max(0, i - 3) : i + 1].lower().endswith(("e.g.", "i.e.")):
                return text[:i]
    return text.rstrip(".")


def read_card(path: str | Path) -> NotebookCard:
    """Read a notebook's title cell. Raises TitleCellError naming what is missing."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    try:
        text = title_source(nb)
    except TitleCellError as exc:
        raise TitleCellError(f"{path.name}: {exc}") from None
    title = _TITLE.search(text)
    if not title:
        raise TitleCellError(f"{path.name}: the title cell needs a heading '# NN — Title'")
    if not path.name.startswith(title.group(1) + "_"):
        raise TitleCellError(
            f"{path.name}: its title says notebook {title.group(1)}, its file name does not"
        )
    goals = _goals(text)
    if not goals:
        raise TitleCellError(
            f"{path.name}: the title cell needs its learning goals as a list after "
            "'**You will learn to**'"
        )
    runs = _RUNS_IN.search(text)
    duration = _DURATION.search(runs.group(1)) if runs else None
    if not runs or not duration:
        raise TitleCellError(
            f"{path.name}: the title cell needs its run time, e.g. "
            "'**Runs in** about 60 s on a 2-core CPU' (or '**Run time:** about a minute ...')"
        )
    # the first sentence, on one line: "about a minute on a 2-core laptop CPU (...)"
    runs_in = _first_sentence(" ".join(runs.group(1).split()))
    amount = duration.group(1).lower()
    seconds = _WORDS.get(amount) or float(amount)
    if duration.group(2).lower().startswith("m"):
        seconds *= 60
    return NotebookCard(path, title.group(1), title.group(2), goals, runs_in, seconds)


CONTRIBUTING = NOTEBOOKS_DIR / "CONTRIBUTING.md"


def standard_setup_cell(contributing: Path = CONTRIBUTING) -> str:
    """The setup cell every notebook starts with, exactly as notebooks/CONTRIBUTING.md gives it
    (its first python code block), so the rule and the tests that enforce it cannot drift."""
    text = contributing.read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    if not block:
        raise TitleCellError(f"{contributing} has no ```python block with the setup cell")
    lines = block.group(1).splitlines()
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(line[indent:] for line in lines).strip()


def badge(notebook: str) -> str:
    """The "Open in Colab" badge (markdown) of ``notebooks/<notebook>``."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook)})"


def _cell_text(text: str) -> str:
    """Text fit for one markdown table cell: one line, no column separators."""
    return " ".join(text.split()).replace("|", "\\|")


def _minutes(seconds: float) -> str:
    return f"about {round(seconds / 60)} min" if seconds >= 90 else f"about {round(seconds)} s"


def table(cards: list[NotebookCard]) -> str:
    """The course map: one markdown table row per notebook."""
    rows = [
        "| # | Notebook | You will learn to | Runs in | Colab |",
        "|---|---|---|---|---|",
    ]
    for c in cards:
        goals = "<br>".join(f"{i}. {_cell_text(g)}" for i, g in enumerate(c.goals, 1))
        rows.append(
            f"| {c.number} | [{_cell_text(c.title)}]({c.path.name}) | {goals} "
            f"| {_cell_text(c.runs_in)} | {badge(c.path.name)} |"
        )
    return "\n".join(rows)


_INTRO = """# 00 — Course map: Deep Learning meets Hardware

{badge}

What do deep-learning models cost in compute, memory, time, energy and money, and how does the
hardware they run on shape that? This course answers with numbers you compute and measure
yourself: every figure in the notebooks comes from running code on your machine, or is checked
against the paper or slide it comes from (and where a slide is wrong, the notebook says so).

The notebooks build on one another; take them in order. Each one opens with what you will learn
and how long it runs, works through worked examples (formula, numbers by hand, the
`course_utils` call that does it for a whole model, a check that the two agree), ends with
self-checking exercises and saves a results card of what it measured.

**{count} notebooks**, together {total} of computing on a 2-core laptop CPU. No GPU needed: the GPU
parts fall back to the CPU and say so."""

_HOW_TO_RUN = """## How to run the course

**On your machine** (Linux, or a Mac with Apple silicon; Python 3.11-3.13), in a clone of the
repository:

```bash
./course lab     # creates .venv with the pinned packages, then opens this map in JupyterLab
                 # (JupyterLab shows the whole repository: course_utils/, datasets/, README)
./course test    # the whole test suite: unit tests and every notebook
```

**On Colab**: click a notebook's badge. Its first cell makes a shallow clone of the course
(about 30 MB: the package, `datasets/mnist.npz`, the reference records) and installs it, keeping
Colab's TensorFlow and Keras. For the GPU parts choose *Runtime > Change runtime type > GPU*;
without one they run on the CPU and the first cell tells you so.

**Offline**: everything runs with no network once installed: MNIST ships with the repository and
every model is built from its layer table (`weights=None`)."""

_INSTRUCTORS = """## For instructors

Each notebook is also a lecture deck: its cells carry reveal.js slide metadata (*slide*,
*subslide*, *fragment*, *notes* for speaker notes, *skip* for plumbing).

```bash
./course slides        # one offline reveal.js deck per notebook in slides/_build/
```

The decks need no network in the lecture hall (reveal.js and MathJax are copied next to them).
A slide carries a figure, a table, a formula or a short code excerpt; the rest of the prose goes
to the speaker notes. See `slides/README.md` for presenting and live slides in JupyterLab.

**The class on one page.** Each notebook saves a results card. At the end each student runs
`./course results pack --alias NAME` and hands in the one file it writes (their cards and the
alias, nothing personal). Then:

```bash
./course class-report FOLDER -o report.html   # one offline page: the class's machines, roofs,
                                              # training times, int8 speed-ups, crossovers
```

A file the report cannot use is named with the reason and skipped; the inputs are never changed.
The README's instructor section says more."""

_SOURCES = """## The lecture material behind the course

* METU / EURO4SEE, *Optimizing Deep Learning Systems for Hardware*, Part I (metrics: FLOPs,
  latency, throughput, energy, cost) and Part III.b (efficient architectures: MobileNet V1/V2,
  pruning, quantization, distillation).
* Frigaard, *ITMAL lesson 09: deep learning, CNNs and hardware*, Aarhus University, 2021
  (convolution and pooling, LeNet-5, Darknet-19, CPU vs GPU, FLOPS per dollar and per watt).
* Blott, *DNN compute and memory*, Hot Chips 2018 tutorial, Part 1, Xilinx (cost formulas for
  FC, conv and RNN layers, rooflines, reduced precision, batch versus latency).
* "What is FLOPs in deep learning" (FLOPs versus FLOP/s; pruning, quantization, reduced
  precision).

Each notebook's title cell names the slides it follows; papers are cited where they are used."""


def render_index(cards: list[NotebookCard]) -> nbformat.NotebookNode:
    """The course-map notebook for ``cards`` (deterministic: same cards, same file)."""
    total = sum(c.run_seconds for c in cards)
    cells = [
        (_INTRO.format(badge=badge(INDEX_NAME), count=len(cards), total=_minutes(total)), "slide"),
        ("## The notebooks\n\n" + table(cards), "slide"),
        (_HOW_TO_RUN, "slide"),
        (_INSTRUCTORS, "subslide"),
        (_SOURCES, "subslide"),
    ]
    nb = new_notebook(
        cells=[
            new_markdown_cell(text, metadata={"slideshow": {"slide_type": kind}})
            for text, kind in cells
        ],
        metadata={
            "kernelspec": {
                "name": "python3",
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
            },
            "language_info": {"name": "python"},
        },
    )
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"course-map-{i}"  # stable ids: regenerating changes nothing
    return nb


def _content(nb: dict) -> list[tuple[str, str, str]]:
    """What a reader sees of a notebook: cell types, sources, slide types (not ids or metadata
    that saving in JupyterLab may change)."""
    return [(c["cell_type"], c["source"], slide_type_of(c)) for c in nb["cells"]]


def slide_type_of(cell: dict) -> str:
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")


def index_is_current(directory: Path = NOTEBOOKS_DIR) -> tuple[bool, str]:
    """Whether ``00_index.ipynb`` shows what :func:`render_index` makes of the notebooks now."""
    path = directory / INDEX_NAME
    want = render_index([read_card(p) for p in numbered_notebooks(directory)])
    if not path.is_file():
        return False, f"{path} does not exist"
    have = nbformat.read(path, as_version=4)
    if _content(have) != _content(want):
        return False, f"{path} differs from the notebooks' title cells"
    return True, f"{path} is up to date"


def write_index(directory: Path = NOTEBOOKS_DIR) -> Path:
    """(Re)write ``00_index.ipynb`` from the notebooks' title cells; returns its path."""
    cards = [read_card(p) for p in numbered_notebooks(directory)]
    path = directory / INDEX_NAME
    path.write_text(nbformat.writes(render_index(cards)), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m slides.course_map",
        description="Write notebooks/00_index.ipynb from the notebooks' title cells.",
    )
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    args = parser.parse_args(argv)
    try:
        if args.check:
            ok, message = index_is_current()
            print(f"course map: {message}" + ("" if ok else ": run `python -m slides.course_map`"))
            return 0 if ok else 1
        print(f"course map: wrote {write_index()}")
    except TitleCellError as exc:
        print(f"course map: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
