"""Notebook -> lecture: what a slide shows, what goes to the speaker notes.

A notebook explains in full sentences and full code; a lecture slide holds a figure, a table,
a formula or a short code excerpt and a few short lines. :func:`lecture_notebook` turns the
first into the second, from the notebook alone (the single source), by these rules:

* **Markdown cells** show their headings, tables, display formulas (``$$ ... $$``), images and
  code blocks, and the *first sentence* of each paragraph and list item (cut at a clause after
  :data:`LEAD_MAX_WORDS` / :data:`ITEM_MAX_WORDS` words). Whatever is not shown verbatim goes to
  the speaker notes, whole. A slide shows at most :data:`PROSE_BUDGET_WORDS` words of prose:
  the section's opening sentence first, then list items, then the other first sentences in
  reading order; the rest waits in the notes. Table cells are cut to
  :data:`TABLE_CELL_MAX_WORDS` words and tables to :data:`MAX_TABLE_ROWS` rows.
* **Code cells** show at most :data:`MAX_CODE_LINES` lines: a longer cell shows an excerpt
  (comments, docstrings, asserts, prints and plot styling, then blank lines go first; failing
  that the excerpt ends at a statement) and says "full code in the notebook". A cell whose output is a
  figure shows only its output. Printed output longer than :data:`MAX_OUTPUT_LINES` lines is
  cut in the middle; stderr and progress bars are not shown. Code a cell displays as Markdown
  (``show_source``) counts as code and is excerpted the same way.
* **Hidden stays hidden**: worked solutions (tag ``solution``) are skipped whatever their slide
  type, ``<details>`` blocks go to the notes, collapsed code or outputs
  (``jupyter.source_hidden`` / ``outputs_hidden``) are not shown.
* **Fit**: when a section's code, tables, formulas and figures do not fit one
  1280x720 slide (more than :data:`MAX_CODE_LINES` lines of code, or taller than
  :data:`HEIGHT_BUDGET_PX` by the estimate below), the builder continues it on a new
  subslide, "<heading> (continued)". In the browser the deck then shrinks figures, and as a
  last resort the slide's zoom (never below :data:`MIN_ZOOM`), until the slide fits.

Authors steer it with optional cell metadata (``metadata.slideshow``, next to ``slide_type``):

* ``"excerpt": "3-10"`` (code cell): the lines shown, 1-based as JupyterLab numbers them;
  ranges joined by commas (``"1-4,9-12"``); ``"none"``: show only the output; ``"all"``:
  the whole cell (at most 12 lines).
* ``"excerpt": "all"`` (Markdown cell): the cell as written, nothing moved to the notes;
  ``"none"``: only headings, formulas, tables, images and code, all prose to the notes.

:data:`MAX_PROSE_WORDS`, :data:`MAX_CODE_LINES`, :data:`SCREEN_PX` and :data:`MIN_ZOOM` are
also what the browser check (``slides.build --check``, tests/test_slides.py) measures.
"""

from __future__ import annotations

import ast
import base64
import copy
import re
import struct
from dataclasses import dataclass, field

from markdown_it import MarkdownIt  # with keras (keras -> rich -> markdown-it-py)

# --- what the browser check measures on every slide ------------------------------------------
SCREEN_PX = (1280, 720)  # the slide, and the screen it must fit without scrolling
MAX_PROSE_WORDS = 60  # visible prose (paragraphs, list items) on one slide, fragments included
MAX_CODE_LINES = 12  # lines of code on one slide (code cells and Markdown code blocks)
MIN_ZOOM = 0.75  # the deck may shrink a slide's text to fit, never below this

# --- the builder's own targets (tighter than the check, which counts a little differently) ---
PROSE_BUDGET_WORDS = 52
LEAD_MAX_WORDS = 24  # a paragraph's first sentence, cut at a clause beyond this
ITEM_MAX_WORDS = 14  # a list item's first sentence
TABLE_CELL_MAX_WORDS = 10
MAX_TABLE_ROWS = 12
MAX_OUTPUT_LINES = 12  # printed output shown per output (head and tail)
HEIGHT_BUDGET_PX = 660  # estimated content height of a 720 px slide (heading included)
CONTINUED = "(continued)"
EXCERPT_MARK = "# … full code in the notebook"

# --- the height estimate (px on a 1280x720 slide; slides/templates/course_reveal sets the CSS;
# measured in Chromium on the course's decks)
_HEADING_PX = {1: 77, 2: 63, 3: 53, 4: 48, 5: 44, 6: 44}
_PROSE_LINE_PX, _PROSE_CHARS_PER_LINE, _BLOCK_GAP_PX = 33, 95, 9
_FORMULA_PX, _FORMULA_LINE_PX = 80, 40
_TABLE_ROW_PX, _TABLE_LINE_PX, _TABLE_CHARS = 33, 24, 100  # row; each wrapped line; per line
_CODE_LINE_PX, _CODE_PAD_PX = 21.6, 22
_OUTPUT_LINE_PX, _OUTPUT_PAD_PX = 20.8, 13
_CELL_PAD_PX = 10
_CONTENT_WIDTH_PX = 1150
_FIGURE_MAX_PX = 600  # the template's img max-height
_FIGURE_MIN_PX, _FIGURE_MIN_FACTOR = 200, 0.5  # a figure shrinks to fit, not below these
_WIDGET_PX = 50


class LectureError(ValueError):
    """Slide metadata that cannot be honoured; the message names the cell and the fix."""


@dataclass
class Unit:
    """One thing a slide may show: a heading, a sentence, a formula, a table, a figure, a
    code cell with its outputs. ``rank`` orders prose (0 first; None: not prose, always shown)."""

    cell: int
    kind: str
    md: str = ""  # the Markdown shown (Markdown cells)
    notes: str = ""  # what the speaker notes get (the whole paragraph, when not shown verbatim)
    height_px: float = 0.0
    min_height_px: float = 0.0
    code_lines: int = 0
    words: int = 0
    rank: int | None = None
    group: int | None = None  # list items of one list share a group (joined on one list)
    heading: str = ""
    excerpt: bool = False  # code shown as an excerpt


@dataclass
class Lecture:
    """A notebook in lecture form, and what the builder did to it."""

    nb: dict
    metadata_slides: int  # slides the notebook's slide_type metadata asks for
    continuation_slides: int  # "(continued)" subslides the builder added to make content fit
    moved_to_notes: int  # prose blocks shortened or moved to the speaker notes
    code_excerpts: int  # code shown as an excerpt
    continued: list[str] = field(default_factory=list)  # headings that got a continuation


# ---------------------------------------------------------------------------------------------
# sentences and words
# ---------------------------------------------------------------------------------------------

# spans kept whole when splitting sentences and counting words: code, inline math, links, tags
_LINK = r"!?\[(?:[^\[\]]|!?\[[^\]]*\]\([^)]*\))*\]\([^)]*\)"  # also [![badge](img)](url)
_ATOM = re.compile(r"`+[^`]*?`+|(?<!\$)\$(?!\$)[^$]+?\$|" + _LINK + r"|<[^>]+>")
_ABBREVIATIONS = ("e.g.", "i.e.", "vs.", "cf.", "al.", "etc.", "fig.", "eq.", "approx.", "resp.")
_SENTENCE_END = re.compile(r"[.!?](?:\*{1,2}|_{1,2}|[\"')\]])*(?=\s|$)")
_CLAUSE_END = re.compile(r"[,;:]$|^[—–]$")


def _mask(text: str) -> tuple[str, list[str]]:
    atoms: list[str] = []

    def keep(m: re.Match) -> str:
        atoms.append(m.group(0))
        return f"\x00{len(atoms) - 1}\x00"

    return _ATOM.sub(keep, text), atoms


def _unmask(text: str, atoms: list[str]) -> str:
    return re.sub(r"\x00(\d+)\x00", lambda m: atoms[int(m.group(1))], text)


def count_words(markdown: str) -> int:
    """Words of a Markdown text as a reader sees them (inline code, math and links count one)."""
    masked, _ = _mask(markdown)
    return sum(1 for w in masked.split() if re.search(r"\w|\x00", w))


def first_sentence(text: str, max_words: int) -> tuple[str, bool]:
    """The first sentence of a Markdown paragraph, cut at a clause (" …") beyond ``max_words``
    words. Returns it and whether it is all of ``text``. Sentences do not end inside
    parentheses, quotes, code, math or links, nor at "e.g." or a list number."""
    masked, atoms = _mask(" ".join(text.split()))
    end, depth, quoted = len(masked), 0, False
    for i, ch in enumerate(masked):
        depth += {"(": 1, ")": -1, "“": 1, "”": -1}.get(ch, 0)
        quoted ^= ch == '"'
        m = _SENTENCE_END.match(masked, i) if ch in ".!?" else None
        if m and depth <= 0 and not (quoted and '"' in masked[m.end() :]):
            word = masked[: i + 1].rsplit(" ", 1)[-1].lstrip("(*_\"'").lower()
            numbering = word[:-1].isdigit() and " " not in masked[: i + 1].strip()  # "1. ..."
            if word not in _ABBREVIATIONS and not numbering:
                end = m.end()
                break
    sentence = masked[:end].strip()
    words = sentence.split()
    if len(words) > max_words:
        depth_after = [0]  # parentheses open after each word: never cut inside them
        for w in words:
            depth_after.append(depth_after[-1] + w.count("(") - w.count(")"))
        cut = max_words
        for k in range(max_words - 1, max_words // 2 - 1, -1):
            if _CLAUSE_END.search(words[k]) and depth_after[k + 1] <= 0:
                cut = k + 1 if words[k] not in ("—", "–") else k
                break
        while cut > 1 and depth_after[cut] > 0:
            cut -= 1
        sentence = " ".join(words[:cut]).rstrip(",;:—– ") + "\u00a0…"
        if sentence.count("**") % 2:  # the cut fell inside **bold**: close it
            sentence = sentence[:-2] + "**\u00a0…"
        elif sentence.replace("**", "").count("*") % 2:
            sentence = sentence[:-2] + "*\u00a0…"
    whole = sentence == masked.strip()
    return _unmask(sentence, atoms), whole


# ---------------------------------------------------------------------------------------------
# Markdown cells
# ---------------------------------------------------------------------------------------------

_DISPLAY_MATH = re.compile(
    r"\$\$.+?\$\$|\\\[.+?\\\]|\\begin\{(equation|align|gather|multline)\*?\}.+?\\end\{\1\*?\}",
    re.DOTALL,
)
_IMAGE_ONLY = re.compile(r"^\s*(?:(?:!\[[^\]]*\]\([^)]*\)|<img\b[^>]*>)\s*)+$", re.IGNORECASE)
_LINK_ONLY = re.compile(r"^\s*(?:" + _LINK + r"\s*)+$")
_INLINE_IMAGE = re.compile(r"(?<!\[)!\[[^\]]*\]\([^)]*\)|<img\b[^>]*>", re.IGNORECASE)


def _prose_height(text: str) -> float:
    """Estimated height of a paragraph: the characters a reader sees, wrapped."""
    seen = re.sub(r"\]\([^)]*\)|[*`$]|\\[a-zA-Z]+|<[^>]+>", "", text)
    lines = sum(max(1, -(-len(line) // _PROSE_CHARS_PER_LINE)) for line in seen.split("\n\n"))
    return lines * _PROSE_LINE_PX + _BLOCK_GAP_PX


def _formula_height(tex: str) -> float:
    return _FORMULA_PX + _FORMULA_LINE_PX * tex.count("\\\\")


def _table(source: str) -> tuple[str, bool, int]:
    """A table cut for a slide (cells, rows): it, whether it changed, its height estimate."""
    rows = [r for r in source.strip().splitlines() if r.strip()]
    changed = False
    out = []
    for n, row in enumerate(rows):
        if n == 1:  # the |---|:---:| alignment row
            out.append(row)
            continue
        masked, atoms = _mask(row)
        cells = masked.strip().strip("|").split("|")
        short = []
        for cell in cells:
            first = _unmask(re.split(r"<br\s*/?>", cell, flags=re.IGNORECASE)[0], atoms)
            text, whole = first_sentence(first, TABLE_CELL_MAX_WORDS)
            changed |= not whole or first.strip() != _unmask(cell, atoms).strip()
            short.append(text)
        out.append("| " + " | ".join(short) + " |")
    body = out[2:]
    if len(body) > MAX_TABLE_ROWS:
        width = len(out[0].strip("|").split("|"))
        body = body[: MAX_TABLE_ROWS - 1] + ["| " + " | ".join(["⋮"] * width) + " |"]
        changed = True
    height = 0.0
    for row in [out[0]] + body:  # a row is as tall as its longest cell wraps
        cells = _mask(row)[0].strip().strip("|").split("|")
        per_line = max(8, _TABLE_CHARS // len(cells))
        lines = max(-(-len(c.strip()) // per_line) for c in cells)
        height += _TABLE_ROW_PX + _TABLE_LINE_PX * (lines - 1)
    return "\n".join(out[:2] + body), changed, height


def _paragraph_units(
    cell: int, text: str, rank: int, mode: str, max_words: int = LEAD_MAX_WORDS
) -> list[Unit]:
    """A paragraph: its first sentence (prose), its display formulas, or a figure/link."""
    if _IMAGE_ONLY.match(text):
        return [Unit(cell, "figure", md=text, height_px=300, min_height_px=_FIGURE_MIN_PX)]
    if _LINK_ONLY.match(text):
        return [Unit(cell, "link", md=text, words=count_words(text), height_px=_prose_height(text))]
    images = _INLINE_IMAGE.findall(text)  # always shown, whatever sentence they sit in
    if images:
        text = _INLINE_IMAGE.sub("", text)
    units: list[Unit] = []
    parts = _DISPLAY_MATH.split(text)
    formulas = [m.group(0) for m in _DISPLAY_MATH.finditer(text)]
    texts = parts[::2]  # re.split also returns the \begin{...} name group: skip it
    before = texts[0]
    own = before
    if rank == 1:  # a list item: its own line(s), not what is nested in it
        own = re.split(r"\n\s*\n|\n\s*(?:[-*+]|\d+[.)])\s", before)[0]
    lead, whole = ("", True)
    if own.strip() and mode != "none":
        lead, whole = first_sentence(own, max_words)
        whole = whole and own.strip() == before.strip()
    if not any(t.strip() for t in texts):  # formulas only
        notes = ""
    else:  # the prose not shown verbatim goes to the notes, with the whole paragraph
        notes = "" if mode != "none" and whole and not any(t.strip() for t in texts[1:]) else text
    if lead:
        units.append(
            Unit(cell, "prose", md=lead, notes=notes, words=count_words(lead),
                 height_px=_prose_height(lead), rank=rank)
        )  # fmt: skip
        notes = ""
    elif notes:
        units.append(Unit(cell, "notes", notes=notes))
        notes = ""
    for tex in formulas:
        units.append(Unit(cell, "formula", md=tex, height_px=_formula_height(tex)))
        units[-1].min_height_px = units[-1].height_px
    for image in images:
        units.append(Unit(cell, "figure", md=image, height_px=300, min_height_px=_FIGURE_MIN_PX))
    return units


def _list_items(tokens: list, lines: list[str], start: int) -> list[tuple[str, str]]:
    """(marker, item text) of the top-level items of the list opened at ``tokens[start]``."""
    items, level = [], tokens[start].level + 1
    for tok in tokens[start + 1 :]:
        if tok.level < level:
            break
        if tok.type == "list_item_open" and tok.level == level and tok.map:
            a, b = tok.map
            text = "\n".join(lines[a:b])
            text = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s?", "", text, count=1)
            marker = f"{tok.info}{tok.markup}" if tok.info else "-"
            items.append((marker, text))
    return items


def markdown_units(cell: int, source: str, mode: str = "auto") -> list[Unit]:
    """Split a Markdown cell into slide units (see the module docstring for the rules)."""
    # a blank line inside $$...$$ would end a Markdown paragraph (Jupyter reads math first)
    source = _DISPLAY_MATH.sub(lambda m: re.sub(r"\n\s*\n", "\n", m.group(0)), source)
    lines = source.splitlines()
    if mode == "all":
        return [Unit(cell, "verbatim", md=source, words=count_words(source),
                     height_px=_prose_height(source), min_height_px=_prose_height(source))]  # fmt: skip
    tokens = MarkdownIt("commonmark").enable("table").parse(source)
    units: list[Unit] = []
    hidden = 0  # inside <details> (e.g. a worked solution): all of it to the notes
    for i, tok in enumerate(tokens):
        if tok.level != 0 or tok.nesting == -1 or not tok.map:
            continue
        text = "\n".join(lines[tok.map[0] : tok.map[1]]).strip()
        if tok.type == "html_block":
            opened = len(re.findall(r"<details\b", text, re.IGNORECASE))
            hidden += opened - len(re.findall(r"</details\s*>", text, re.IGNORECASE))
            if opened or hidden > 0:
                units.append(Unit(cell, "notes", notes=text))
                hidden = max(hidden, 0)
                continue
        if hidden > 0:
            units.append(Unit(cell, "notes", notes=text))
        elif tok.type == "heading_open":
            level = int(tok.tag[1])
            title = re.sub(r"^#+\s*|\s*#*$", "", text)
            units.append(
                Unit(cell, "heading", md=text, heading=title, height_px=_HEADING_PX[level])
            )
        elif tok.type == "table_open":
            shown, changed, height = _table(text)
            height += _BLOCK_GAP_PX
            units.append(Unit(cell, "table", md=shown, notes=text if changed else "",
                              height_px=height, min_height_px=height))  # fmt: skip
        elif tok.type in ("fence", "code_block"):
            code = tok.content
            shown, excerpted = code_excerpt(code) if mode != "none" else (code, False)
            fence = tok.markup or "```"
            md = f"{fence}{tok.info}\n{shown.rstrip()}\n{fence}" if tok.type == "fence" else text
            n = len(shown.rstrip().splitlines())
            height = n * _CODE_LINE_PX + _CODE_PAD_PX
            units.append(Unit(cell, "code", md=md, code_lines=n, excerpt=excerpted,
                              height_px=height, min_height_px=height))  # fmt: skip
        elif tok.type == "paragraph_open":
            units += _paragraph_units(cell, text, rank=2, mode=mode)
        elif tok.type in ("bullet_list_open", "ordered_list_open"):
            group = cell * 1000 + i
            for marker, item in _list_items(tokens, lines, i):
                for u in _paragraph_units(cell, item, 1, mode, ITEM_MAX_WORDS):
                    if u.kind == "prose":
                        u.md, u.group = f"{marker} {u.md}", group
                        u.notes = f"{marker} {item}" if u.notes else ""
                    elif u.kind == "notes":
                        u.notes, u.group = f"{marker} {item}", group
                    units.append(u)
        elif tok.type == "blockquote_open":
            inner = re.sub(r"^\s*> ?", "", text, flags=re.MULTILINE)
            for u in _paragraph_units(cell, inner, rank=2, mode=mode):
                u.md = "> " + u.md if u.kind == "prose" else u.md
                units.append(u)
        elif tok.type == "html_block" and re.search(r"<img\b", text, re.IGNORECASE):
            units.append(Unit(cell, "figure", md=text, height_px=300, min_height_px=_FIGURE_MIN_PX))
        elif tok.type != "hr":  # other HTML: to the notes
            units.append(Unit(cell, "notes", notes=text))
    return units


# ---------------------------------------------------------------------------------------------
# code cells
# ---------------------------------------------------------------------------------------------

#: calls that present rather than compute: dropped first from an excerpt
_PRESENTING_NAMES = {"print", "display", "show_source"}
_PRESENTING_OWNERS = {"plt", "ax", "axes", "fig", "plots"}


def _is_presenting(stmt: ast.stmt) -> bool:
    """A call that only shows something (print, plot styling), or a loop/if/with of those."""
    if isinstance(stmt, (ast.For, ast.While, ast.If, ast.With)):
        body = stmt.body + getattr(stmt, "orelse", [])
        return all(_is_presenting(s) or isinstance(s, ast.Assert) for s in body)
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return False
    func = stmt.value.func
    if isinstance(func, ast.Name):
        return func.id in _PRESENTING_NAMES
    while isinstance(func, ast.Attribute):
        func = func.value
    return isinstance(func, ast.Name) and func.id in _PRESENTING_OWNERS


def _tier(parent: ast.AST, k: int, stmt: ast.stmt) -> int | None:
    """0: a docstring, 1: an assert, 2: a presenting call; None: code that computes."""
    docstring_owner = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    if k == 0 and isinstance(parent, docstring_owner) and isinstance(stmt, ast.Expr):
        if isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            return 0
    if isinstance(stmt, ast.Assert):
        return 1
    return 2 if _is_presenting(stmt) else None


def _droppable_tiers(code: str) -> tuple[list[set[int]], list[int]]:
    """Line numbers (0-based) an excerpt drops first, tier by tier (docstrings, asserts,
    presenting calls), and the first lines of the top-level statements. ([], []) if the code is
    not Python."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return [], []
    tiers: list[set[int]] = [set(), set(), set()]
    for node in ast.walk(tree):
        for body in (getattr(node, name, None) for name in ("body", "orelse", "finalbody")):
            if not isinstance(body, list) or not body or not isinstance(body[0], ast.stmt):
                continue
            tier_of = [_tier(node, k, stmt) for k, stmt in enumerate(body)]
            if all(t is not None for t in tier_of) and not isinstance(node, ast.Module):
                continue  # dropping them all would leave an empty block: keep them
            for stmt, tier in zip(body, tier_of, strict=True):
                if tier is not None:
                    tiers[tier] |= set(range(stmt.lineno - 1, stmt.end_lineno or stmt.lineno))
    starts = [stmt.lineno - 1 for stmt in tree.body]
    return tiers, starts


def code_excerpt(code: str, max_lines: int = MAX_CODE_LINES) -> tuple[str, bool]:
    """At most ``max_lines`` lines of ``code`` for a slide, and whether it is an excerpt.

    Code that fits is shown as it is. Otherwise comment lines go first, then docstrings,
    asserts, presenting calls (print, plots) and blank lines, until it fits; failing that the
    excerpt ends at the last top-level statement that fits. Its last line says "full code in
    the notebook".
    """
    lines = code.rstrip().splitlines()
    if len(lines) <= max_lines:
        return code, False
    room = max_lines - 1  # one line for the mark
    comments = {i for i, line in enumerate(lines) if line.strip().startswith("#")}
    blanks = {i for i, line in enumerate(lines) if not line.strip()}
    tiers, starts = _droppable_tiers(code)
    keep = list(range(len(lines)))
    for tier in [comments, *tiers, blanks]:
        if len(keep) <= room:
            break
        keep = [i for i in keep if i not in tier]
    if len(keep) > room:
        cut = room
        kept_starts = [n for n, i in enumerate(keep) if i in starts and n <= room]
        if kept_starts and kept_starts[-1] >= room // 2:
            cut = kept_starts[-1]
        keep = keep[:cut]
    while keep and not lines[keep[-1]].strip():
        keep.pop()
    indent = re.match(r"\s*", lines[keep[-1]]).group(0) if keep else ""
    return "\n".join([lines[i] for i in keep] + [indent + EXCERPT_MARK]), True


def _line_ranges(spec: str, n_lines: int, where: str) -> list[int]:
    picked: list[int] = []
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+))?\s*", part)
        if not m:
            raise LectureError(f'{where}: excerpt {spec!r} is not like "3-10" or "1-4,9-12"')
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if not 1 <= a <= b <= n_lines:
            raise LectureError(
                f"{where}: excerpt {spec!r} names lines outside 1-{n_lines}: update the cell's "
                "metadata.slideshow.excerpt (or remove it for the automatic excerpt)"
            )
        picked += [i for i in range(a - 1, b) if i not in picked]
    return picked


def _image_size(output: dict) -> tuple[float, float]:
    """Width and height (CSS px) of an image output, from its metadata or its PNG header."""
    data, meta = output.get("data", {}), output.get("metadata", {})
    for mime in ("image/png", "image/jpeg", "image/svg+xml"):
        if mime in data:
            size = meta.get(mime, {}) if isinstance(meta.get(mime), dict) else {}
            if "width" in size and "height" in size:
                return float(size["width"]), float(size["height"])
            if mime == "image/png":
                head = base64.b64decode("".join(data[mime])[:44] + "==")
                width, height = struct.unpack(">II", head[16:24])
                return float(width), float(height)
    return 640.0, 400.0


#: test-suite markers (``# NBVAL_CHECK_OUTPUT``): never shown on a slide
NBVAL_LINE = re.compile(r"^[ \t]*# ?NBVAL_[A-Z_]+[^\n]*\n?", re.MULTILINE)
_PROGRESS_BAR = re.compile(r"\d+%\|")


def _cut_text(text: str, max_lines: int) -> str:
    """At most ``max_lines`` lines: the head and the last one or two, the cut marked."""
    lines = text.rstrip("\n").split("\n")
    if len(lines) <= max_lines:
        return text
    tail = 2 if max_lines >= 6 else 1
    head = max_lines - 1 - tail
    cut = len(lines) - head - tail
    return (
        "\n".join(lines[:head] + [f"⋮ ({cut} more lines in the notebook)"] + lines[-tail:]) + "\n"
    )


_IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
_FENCED = re.compile(r"(^```[^\n]*\n)(.*?)(^```)", re.DOTALL | re.MULTILINE)


def _slide_outputs(outputs: list[dict]) -> list[dict]:
    """Outputs as a slide shows them: streams merged, no stderr, errors or progress bars."""
    shown: list[dict] = []
    for out in copy.deepcopy(outputs):
        kind, data = out.get("output_type"), out.get("data", {})
        if kind == "error" or (kind == "stream" and out.get("name") == "stderr"):
            continue
        if "application/vnd.jupyter.widget-view+json" in data:
            if _PROGRESS_BAR.search(str(data.get("text/plain", ""))):
                continue
        if kind == "stream" and shown and shown[-1].get("output_type") == "stream":
            shown[-1]["text"] += out["text"]
            continue
        shown.append(out)
    return shown


def _source_shown(nb_cell: dict, spec: str, where: str, max_lines: int) -> tuple[str, bool]:
    """The code a slide shows for ``spec`` ("auto", "all" or line ranges), and whether it is an
    excerpt. Test markers (``# NBVAL_...``) are never shown."""
    if spec == "auto":
        return code_excerpt(NBVAL_LINE.sub("", nb_cell["source"]), max_lines)
    if spec == "all":
        shown, excerpted = NBVAL_LINE.sub("", nb_cell["source"]), False
    else:  # line ranges of the cell as the author numbers them (test markers included)
        lines = nb_cell["source"].splitlines()
        picked, chosen = _line_ranges(spec, len(lines), where), []
        for n, i in enumerate(picked):
            if n and i != picked[n - 1] + 1:
                chosen.append("# …")
            if not NBVAL_LINE.match(lines[i] + "\n"):
                chosen.append(lines[i])
        shown, excerpted = "\n".join(chosen + [EXCERPT_MARK]), True
    n = len(shown.rstrip().splitlines())
    if n > MAX_CODE_LINES:
        raise LectureError(
            f"{where}: excerpt {spec!r} shows {n} lines, a slide shows at most "
            f"{MAX_CODE_LINES}: choose fewer lines in metadata.slideshow.excerpt"
        )
    return shown, excerpted


def _markdown_output(data: dict, max_code_lines: int) -> tuple[int, int, float]:
    """Excerpt the code blocks of a Markdown output (e.g. ``show_source``) in place; returns
    its lines of code, words of prose and height."""
    md = "".join(data["text/markdown"])
    md = _FENCED.sub(
        lambda m: (
            f"{m.group(1)}{code_excerpt(m.group(2), max_code_lines)[0].rstrip()}\n{m.group(3)}"
        ),
        md,
    )
    data["text/markdown"] = md
    code = "".join(m.group(2) for m in _FENCED.finditer(md))
    prose = _FENCED.sub("", md)
    n_code = len(code.rstrip().splitlines()) if code.strip() else 0
    height = n_code * _CODE_LINE_PX + _CODE_PAD_PX + (_prose_height(prose) if prose.strip() else 0)
    return n_code, count_words(prose), height


def _code_unit(cell: int, nb_cell: dict, where: str, max_code: int, max_output: int) -> Unit:
    """:func:`code_unit` with at most ``max_code`` lines of code and ``max_output`` of output."""
    spec = _excerpt_spec(nb_cell)
    unit = Unit(cell, "code", height_px=_CELL_PAD_PX)
    collapsed = nb_cell.get("metadata", {}).get("jupyter", {})  # hidden in the notebook: here too
    if collapsed.get("outputs_hidden"):
        nb_cell["outputs"] = []
    outputs = nb_cell["outputs"] = _slide_outputs(nb_cell.get("outputs", []))
    figures = [_image_size(o) for o in outputs if any(m in o.get("data", {}) for m in _IMAGE_TYPES)]
    hide = spec == "none" or (spec == "auto" and (figures or collapsed.get("source_hidden")))
    if hide:  # the figure is the point (or the author hid the code)
        nb_cell.setdefault("metadata", {}).setdefault("transient", {})["remove_source"] = True
    else:  # leave room for code shown in a Markdown output (show_source), at least 4 lines
        shown_code = any(
            "```" in "".join(o.get("data", {}).get("text/markdown", "")) for o in outputs
        )
        room = max_code - 4 if shown_code and spec == "auto" else max_code
        nb_cell["source"], unit.excerpt = _source_shown(nb_cell, spec, where, room)
        unit.code_lines = len(nb_cell["source"].rstrip().splitlines())
        unit.height_px += unit.code_lines * _CODE_LINE_PX + _CODE_PAD_PX
    for out in outputs:
        data = out.get("data", {})
        if out.get("output_type") == "stream":
            out["text"] = _cut_text(out["text"], max_output)
            unit.height_px += out["text"].count("\n") * _OUTPUT_LINE_PX + _OUTPUT_PAD_PX
        elif "application/vnd.jupyter.widget-view+json" in data:
            unit.height_px += _WIDGET_PX
        elif any(m in data for m in _IMAGE_TYPES):
            pass  # below
        elif "text/markdown" in data:
            n_code, words, height = _markdown_output(data, max(max_code - unit.code_lines, 1))
            unit.code_lines += n_code
            unit.words += words
            unit.height_px += height
        elif "text/html" in data:
            html_text = "".join(data["text/html"])
            rows = len(re.findall(r"<tr\b", html_text, re.IGNORECASE))
            prose = re.sub(
                r"<(table|pre|style|script)\b.*?</\1>|<[^>]+>", " ", html_text, flags=re.S
            )
            unit.words += count_words(prose)
            unit.height_px += rows * _TABLE_ROW_PX + (_prose_height(prose) if prose.strip() else 0)
        elif "text/plain" in data:
            data["text/plain"] = _cut_text("".join(data["text/plain"]), max_output)
            unit.height_px += data["text/plain"].count("\n") * _OUTPUT_LINE_PX + 2 * _OUTPUT_PAD_PX
    shown = [min(_FIGURE_MAX_PX, h * min(1.0, _CONTENT_WIDTH_PX / w)) for w, h in figures]
    unit.min_height_px = unit.height_px + sum(
        max(min(h, _FIGURE_MIN_PX), _FIGURE_MIN_FACTOR * h) for h in shown
    )
    unit.height_px += sum(shown)
    return unit


def code_unit(cell: int, nb_cell: dict, where: str) -> Unit:
    """Prepare a code cell for its slide, in place (code shown, outputs cut), as one Unit.

    A cell too tall for one slide even alone (long code, long output and figures) shows less:
    at most 8, then 5 lines of code (automatic excerpts only) and of each output."""
    original = copy.deepcopy(nb_cell)
    for max_code, max_output in ((MAX_CODE_LINES, MAX_OUTPUT_LINES), (8, 8), (5, 5)):
        trial = copy.deepcopy(original)
        unit = _code_unit(cell, trial, where, max_code, max_output)
        if unit.min_height_px <= HEIGHT_BUDGET_PX - _HEADING_PX[3]:
            break
    nb_cell.clear()
    nb_cell.update(trial)
    return unit


# ---------------------------------------------------------------------------------------------
# the whole notebook
# ---------------------------------------------------------------------------------------------


def slide_type(cell: dict) -> str:
    """A cell's ``slideshow.slide_type`` ('slide', 'subslide', 'fragment', '-', 'skip', 'notes');
    a worked solution (tag ``solution``) is 'skip' whatever it says: never on a slide."""
    if "solution" in cell.get("metadata", {}).get("tags", []):
        return "skip"
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-") or "-"


def _excerpt_spec(cell: dict) -> str:
    return str(cell.get("metadata", {}).get("slideshow", {}).get("excerpt", "auto")).strip()


def _new_cell(source: str, slide_type: str, cell_id: str) -> dict:
    from nbformat.v4 import new_markdown_cell

    return new_markdown_cell(source, metadata={"slideshow": {"slide_type": slide_type}}, id=cell_id)


def _sections(cells: list[dict]) -> list[list[int]]:
    """Cell indices of each slide/subslide section (the first visible cell opens the first)."""
    sections: list[list[int]] = [[]]
    seen_visible = False
    for i, cell in enumerate(cells):
        kind = slide_type(cell)
        if kind in ("slide", "subslide") and seen_visible:
            sections.append([])
        seen_visible |= kind not in ("skip", "notes")
        sections[-1].append(i)
    return sections


def _pack(units: list[Unit]) -> list[int]:
    """Slide part (0, 1, ...) of each unit: a new part where code lines or height overflow.
    Prose does not open a part; the prose just before an overflowing unit moves with it."""
    parts = [0] * len(units)
    part, code, height, has_content, pending = 0, 0, 0.0, False, []
    for k, u in enumerate(units):
        if u.rank is not None or u.kind == "notes":
            parts[k] = part
            pending.append(k)
            continue
        overflow = (
            code + u.code_lines > MAX_CODE_LINES or height + u.min_height_px > HEIGHT_BUDGET_PX
        )
        if has_content and overflow:
            part += 1
            code, height = 0, float(_HEADING_PX[3])
            for p in pending:
                parts[p] = part
        parts[k] = part
        code += u.code_lines
        height += u.min_height_px if u.kind != "heading" else u.height_px
        has_content |= u.kind != "heading"
        pending = []
    return parts


def _choose_prose(units: list[Unit], parts: list[int]) -> set[int]:
    """Indices of the prose units shown: per part, the opening sentence, then list items,
    then other first sentences, while the words and the height budget last."""
    shown: set[int] = set()
    for part in sorted(set(parts)):
        idx = [k for k in range(len(units)) if parts[k] == part]
        height = sum(
            units[k].min_height_px or units[k].height_px for k in idx if units[k].rank is None
        )
        words = sum(units[k].words for k in idx if units[k].rank is None)
        prose = [k for k in idx if units[k].rank is not None]
        first = prose[0] if prose else None
        closed: set[int] = set()
        for k in sorted(prose, key=lambda k: (0 if k == first else units[k].rank, k)):
            u = units[k]
            if u.group is not None and u.group in closed:
                continue
            if words + u.words <= PROSE_BUDGET_WORDS and height + u.height_px <= HEIGHT_BUDGET_PX:
                shown.add(k)
                words += u.words
                height += u.height_px
            elif u.group is not None:
                closed.add(u.group)  # a list shows its first items, never a gap
    return shown


def _cell_markdown(units: list[Unit], visible: set[int]) -> tuple[str, list[str]]:
    """One cell's slide Markdown, and the blocks its speaker notes get."""
    shown: list[str] = []
    notes: list[str] = []
    shown_group = noted_group = None
    for k, u in enumerate(units):
        if k in visible and u.md:
            same = u.group is not None and u.group == shown_group
            shown.append(("\n" if same else "\n\n") + u.md)
            shown_group = u.group
        elif u.kind != "notes":
            shown_group = None
        if u.rank is not None and k not in visible:
            note = u.notes or re.sub(r"\s*…$", "", u.md)  # a sentence not shown: all of it
        else:
            note = u.notes
        if note:
            same = u.group is not None and u.group == noted_group
            if same:
                notes[-1] += "\n" + note
            else:
                notes.append(note)
            noted_group = u.group
    return "".join(shown).strip(), notes


def lecture_notebook(nb: dict, name: str = "notebook") -> Lecture:
    """A copy of ``nb`` in lecture form (see the module docstring), and what changed.

    Raises LectureError for slide metadata it cannot honour (a bad ``excerpt``).
    """
    from nbformat import from_dict

    cells = copy.deepcopy(nb["cells"])
    for cell in cells:  # worked solutions: skipped, whatever their slide type says
        if slide_type(cell) == "skip":
            cell.setdefault("metadata", {}).setdefault("slideshow", {})["slide_type"] = "skip"
    out: list[dict] = []
    lecture = Lecture(nb, 0, 0, 0, 0)
    last_heading = ""
    for section in _sections(cells):
        if any(slide_type(cells[i]) not in ("skip", "notes") for i in section):
            lecture.metadata_slides += 1
        units: list[Unit] = []
        for i in section:
            cell, mode = cells[i], _excerpt_spec(cells[i])
            if slide_type(cell) in ("skip", "notes"):
                continue
            if cell["cell_type"] == "markdown":
                units += markdown_units(
                    i, cell["source"], mode if mode in ("all", "none") else "auto"
                )
            elif cell["cell_type"] == "code":
                units.append(code_unit(i, cell, f"{name}, cell {i + 1}"))
                lecture.code_excerpts += units[-1].excerpt
        parts = _pack(units)
        visible = _choose_prose(units, parts) | {k for k, u in enumerate(units) if u.rank is None}
        heading = next((u.heading for u in units if u.kind == "heading"), last_heading)
        last_heading = next((u.heading for u in reversed(units) if u.kind == "heading"), heading)
        emitted = 0  # the part the deck is in
        for i in section:
            cell = cells[i]
            mine = [k for k, u in enumerate(units) if u.cell == i]
            if not mine:
                out.append(cell)
                continue
            for part in sorted({parts[k] for k in mine}):
                if part > emitted:  # this part of the section opens a continuation slide
                    emitted = part
                    lecture.continuation_slides += 1
                    lecture.continued.append(heading)
                    title = f"### {heading} {CONTINUED}".strip()
                    out.append(_new_cell(title, "subslide", f"{cell.get('id', i)}-cont{part}"))
                first_part = part == parts[mine[0]]
                piece = cell if first_part else copy.deepcopy(cell)
                if not first_part or slide_type(cell) in ("slide", "subslide") and part > 0:
                    piece.setdefault("metadata", {}).setdefault("slideshow", {})["slide_type"] = "-"
                if not first_part:
                    piece["id"] = f"{cell.get('id', i)}-part{part}"
                out.append(piece)
                if cell["cell_type"] != "markdown":
                    continue
                ks = [k for k in mine if parts[k] == part]
                piece["source"], notes = _cell_markdown(
                    [units[k] for k in ks], {n for n, k in enumerate(ks) if k in visible}
                )
                lecture.moved_to_notes += len(notes)
                if notes:
                    out.append(
                        _new_cell("\n\n".join(notes), "notes", f"{piece.get('id', i)}-notes")
                    )
    lecture.nb = from_dict({**copy.deepcopy(dict(nb)), "cells": out})
    return lecture
