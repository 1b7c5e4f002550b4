"""The class on one page (issue 15): ``class-report FOLDER -o report.html`` reads the students'
packs (:func:`course_utils.results.pack`, or loose cards in a sub-folder per student) and writes a
self-contained offline HTML page of the :data:`TABLES` and their figures (in a notebook:
``c = load_class(FOLDER)``, ``tables(c)``, ``figures(c)``). Bad input never stops it: each file
skipped or partly used gets ONE line in ``c.problems`` naming it and why; files are only read."""

from __future__ import annotations

import base64
import html
import io
import math
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import hardware, plots, results
from .roofline import attainable_flop_per_s

#: Where each part of the report reads its numbers: "NN/metric_name" on notebook NN's card (when
#: a notebook renames a metric, change it here). "metrics": the strip plots (its table: all).
SECTIONS: dict[str, dict[str, str]] = {
    "roofline": {"peak": "08/measured_peak_flop_per_s",
                 "bandwidth": "08/measured_bandwidth_bytes_per_s"},
    "lenet": {"training": "03/train_seconds"},
    "int8": {"LeNet fp32": "06/float32_latency_seconds", "LeNet int8": "06/int8_latency_seconds",
             "MobileNet fp32": "06/mobilenet_float32_latency_seconds",
             "MobileNet int8": "06/mobilenet_int8_latency_seconds"},
    "crossover": {"measured": "04/crossover_params_gpu",
                  "estimate": "04/crossover_params_estimate"},
    "metrics": {"GEMM (01)": "01/measured_gemm_flop_per_s",
                "LeNet training (03)": "03/train_seconds",
                "LeNet accuracy (03)": "03/test_accuracy",
                "MLP 4096 epoch (04)": "04/mlp_epoch_seconds_n4096",
                "MobileNet V1 (05)": "05/mobilenet_v1_latency_seconds",
                "int8 LeNet (06)": "06/int8_latency_seconds",
                "pruned accuracy (07)": "07/pruned_accuracy",
                "peak (08)": "08/measured_peak_flop_per_s",
                "bandwidth (08)": "08/measured_bandwidth_bytes_per_s"},
}  # fmt: skip
SI_UNITS = ("FLOP/s", "B/s", "s", "FLOP", "MAC", "B", "bytes", "J", "params", "images/s")
OUTLIER_Z = 3.5  # robust z-score (median and MAD, Iglewicz & Hoaglin 1993) that names a value
#: Each table of :func:`tables`: its title on the page and its columns (units in brackets).
TABLES = {
    "machines": ("The machines",
                 "machine|CPU|cores|logical CPUs|SIMD|int8 dot product|GPUs|notebooks"),
    "roofline": ("The class on one roofline",
                 "machine|SIMD|peak [FLOP/s]|bandwidth [B/s]|ridge point [FLOP/B]"),
    "lenet": ("LeNet training time against cores", "machine|cores|SIMD|training [s]"),
    "int8": ("int8 against fp32, by int8 instruction set", "int8 dot product|LeNet machines|"
             "LeNet fp32/int8 [x]|MobileNet machines|MobileNet fp32/int8 [x]"),
    "crossover": ("Each machine's CPU-vs-GPU crossover", "machine|GPUs|source|crossover [params]"),
    "metrics": ("Each metric across the class",
                "notebook|metric|unit|machines|min|median|max|references"),
    "outliers": ("Outliers", "machine|notebook|metric|value|why"),
}  # fmt: skip
HELP = "one offline HTML page of the class's results packs, for the instructor"
_CSS = ("body{font:14px sans-serif;max-width:1100px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px}"
        "img{max-width:100%}.problems li{font-family:monospace}")  # fmt: skip


@dataclass
class Machine:
    """A student's machine (laptop and Colab are two): facts, metrics, units by '08/metric_name'."""

    label: str
    facts: dict[str, Any]
    values: dict[str, float]
    units: dict[str, str]
    simd: str = field(init=False)  # the widest SIMD extension, 'none' or 'unknown' (older cards)
    int8_isa: str = field(init=False)  # int8 dot-product instructions ('AVX-512 VNNI'), likewise
    cores: int | None = field(init=False)  # physical cores (older cards: logical CPUs)

    def __post_init__(self) -> None:
        f, isa = self.facts, self.facts.get("int8_dot_product")
        self.simd = (f["simd"] or ["none"])[-1] if "simd" in f else "unknown"
        self.int8_isa = "unknown" if isa is None else ", ".join(isa) or "none"
        self.cores = f.get("physical_cores") or f.get("logical_cpus")


@dataclass
class ClassData:
    """Every machine of the class, one line per input file skipped or partly used, and the
    reference ``devices``: catalogue CPUs, boards and the catalogued GPUs the class has (fp32)."""

    machines: list[Machine]
    problems: list[str]
    devices: list[hardware.Device] = field(init=False)

    def __post_init__(self) -> None:
        gpus = {hardware.catalog_gpu(g) for m in self.machines for g in m.facts.get("gpus", [])}
        self.devices = [d for d in hardware.catalog() if "fp32" in d.peak_flops
                        and (d.kind in ("cpu", "board") or d in gpus)]  # fmt: skip


def _entries(path: Path, note: list[str]) -> tuple[str | None, list[dict]]:
    """(alias or None for a loose card, usable cards) of a file; ``note`` gets what was left out."""
    data = results.read_json(path)
    if not (isinstance(data, dict) and ("format" in data or "cards" in data)):
        card, notes = results.check_card(data)
        if not card:
            raise ValueError("; ".join(notes))
        note += notes
        return None, [card]
    if data.get("format") != results.PACK_FORMAT or not isinstance(data.get("cards"), list):
        raise ValueError(f"says it is a pack but is not a {results.PACK_FORMAT!r} with a card list")
    if (version := data.get("schema_version")) not in range(1, results.SCHEMA_VERSION + 1):
        raise ValueError(f"pack of unknown schema_version {version!r}")
    try:
        alias = results.check_alias(data.get("alias", ""))
    except (TypeError, ValueError):
        alias = path.stem
        note.append(f"no valid alias, shown as {alias!r}")
    checked = [results.check_card(raw) for raw in data["cards"]]
    for n in dict.fromkeys(n for _, notes in checked for n in notes):  # each problem once
        numbers = ", ".join(str(i) for i, (_, notes) in enumerate(checked, 1) if n in notes)
        note.append(f"card {numbers}: {n}")
    if not (cards := [card for card, _ in checked if card]):
        raise ValueError("pack holds no usable card")
    return alias, cards


def load_class(folder: str | Path, ignore: str | Path | None = None) -> ClassData:
    """Read the packs and loose cards under ``folder`` (recursively, not hidden files or ``ignore``;
    a loose card's student is its sub-folder); a bad file gets a line in ``problems``, no error."""
    if not (folder := Path(folder)).is_dir():
        raise FileNotFoundError(f"no folder {folder}: give the folder holding the class's packs")
    skip, problems = Path(ignore).resolve() if ignore else None, []
    owner, cards = {}, {}  # alias -> the pack or folder that claimed it first; -> (card, file)s
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if not path.is_file() or rel.startswith(".") or "/." in rel or path.resolve() == skip:
            continue
        note: list[str] = []
        try:
            alias, found = _entries(path, note)
        except (OSError, ValueError) as exc:
            problems.append(f"{rel}: {'; '.join([*note, str(exc)])}; skipped")
            continue
        source = rel if alias else path.parent.relative_to(folder).as_posix()
        alias = alias or (source if source != "." else "loose cards")
        if owner.setdefault(alias, source) != source:
            new = next(a for n in range(2, len(owner) + 2) if (a := f"{alias} ({n})") not in owner)
            note.append(f"alias {alias!r} also used by {owner[alias]}, shown as '{new}'")
            alias, owner[new] = new, source
        cards.setdefault(alias, []).extend((card, rel) for card in found)
        if note:
            problems.append(f"{rel}: {'; '.join(note)}; partly used")
    machines = [m for alias, entries in cards.items() for m in _machines(alias, entries, problems)]
    return ClassData(machines, problems)


def _machines(alias: str, cards: list[tuple[dict, str]], problems: list[str]) -> Iterator[Machine]:
    """One :class:`Machine` per distinct (CPU, logical CPUs, GPUs) among one student's cards."""
    groups: dict[tuple, list[tuple[dict, str]]] = {}
    for card, rel in sorted(cards, key=lambda e: e[0]["created_utc"]):  # newer cards win
        m = card["machine"]
        fingerprint = (m.get("cpu"), m.get("logical_cpus"), tuple(m.get("gpus", [])))
        if fingerprint == (None, None, ()) and groups:
            fingerprint = next(iter(groups))  # no machine facts: the student's first machine
        groups.setdefault(fingerprint, []).append((card, rel))
    for i, group in enumerate(groups.values()):
        facts, values, units, seen = {}, {}, {}, {}  # seen: notebook -> the file of its card
        for card, rel in group:
            nb = card["notebook"][:2]
            if nb in seen:
                problems.append(f"{seen[nb]}: its notebook {nb} card replaced by {rel}'s (newer)")
            seen[nb] = rel
            facts.update(card["machine"])
            values.update({f"{nb}/{k}": float(v["value"]) for k, v in card["metrics"].items()})
            units.update({f"{nb}/{k}": v["unit"] for k, v in card["metrics"].items()})
        label = f"{alias} (machine {i + 1})" if len(groups) > 1 else alias
        yield Machine(label, facts, values, units)


def references(c: ClassData, unit: str) -> list[tuple[str, float]]:
    """(label, value) for a metric in FLOP/s (fp32 peaks) or B/s (memory bandwidths): the
    class's reference ``devices`` and seed 002's K80/TPU/P40 table; none for other units."""
    if (unit := unit.split(",")[0].strip()) not in ("FLOP/s", "B/s"):  # 's, batch 1' -> 's'
        return []
    flop = unit == "FLOP/s"
    own = [(d.name, d.peak("fp32") if flop else d.memory_bandwidth_bytes_per_s) for d in c.devices]
    quantity, seed = "training TOPS" if flop else "bandwidth", hardware.seed_002_accelerator_table()
    return own + [(f"seed 002: {r.device}", r.seed_value) for r in seed
                  if r.quantity == quantity and r.seed_value]  # fmt: skip


def outliers(values: dict[str, float]) -> list[tuple[str, str]]:
    """(label, why) for values far from the class: robust z-score > :data:`OUTLIER_Z` (log
    scale when all are positive), or differing from a majority of identical values."""
    if len(values) < 5:
        return []
    positive = all(v > 0 for v in values.values())
    x = {k: math.log(v) if positive else v for k, v in values.items()}
    mid = statistics.median(x.values())
    mad = statistics.median(abs(v - mid) for v in x.values())
    med, found = statistics.median(values.values()), []
    for k, v in x.items():
        if (0.6745 * abs(v - mid) / mad > OUTLIER_Z) if mad else abs(v - mid) > 1e-9 * abs(mid):
            why = f"{values[k] / med:.3g}x the class median" if positive else f"median {med:.4g}"
            found.append((k, why if mad else f"most others have {med:.6g}"))
    return found


def _pairs(c: ClassData, net: str) -> list[tuple[Machine, float, float]]:
    """(machine, fp32 latency, int8 latency) of ``net`` ('LeNet', 'MobileNet'), notebook 06."""
    fp32, int8 = SECTIONS["int8"][f"{net} fp32"], SECTIONS["int8"][f"{net} int8"]
    pairs = [(m, m.values.get(fp32), m.values.get(int8)) for m in c.machines]
    return [(m, f, i) for m, f, i in pairs if f and i]


def tables(c: ClassData) -> dict[str, list[dict[str, Any]]]:
    """The report's tables (:data:`TABLES`) as lists of row dicts, numbers unformatted."""
    rows: dict[str, list[tuple]] = {name: [] for name in TABLES}
    for m in c.machines:
        gpus, f = ", ".join(m.facts.get("gpus", [])) or "none", m.facts
        rows["machines"].append((m.label, f.get("cpu", "?"), m.cores, f.get("logical_cpus"), m.simd,
                                 m.int8_isa, gpus, " ".join(sorted({k[:2] for k in m.values}))))
        peak, bandwidth = (m.values.get(key) for key in SECTIONS["roofline"].values())
        if peak and bandwidth and peak > 0 and bandwidth > 0:
            rows["roofline"].append((m.label, m.simd, peak, bandwidth, peak / bandwidth))
        if seconds := m.values.get(SECTIONS["lenet"]["training"]):
            rows["lenet"].append((m.label, m.cores, m.simd, seconds))
        # a 'measured' crossover is this machine's own only where it has a GPU (else notebook 04
        # saves the reference record's host): machines without one show their estimate
        kinds = [k for k in SECTIONS["crossover"] if k != "measured" or m.facts.get("gpus")]
        if hit := [(k, v) for k in kinds if (v := m.values.get(SECTIONS["crossover"][k]))]:
            rows["crossover"].append((m.label, gpus, *hit[0]))
    for isa in sorted({m.int8_isa for m in c.machines}):
        row = (isa,)
        for net in ("LeNet", "MobileNet"):
            ratios = [f / i for m, f, i in _pairs(c, net) if m.int8_isa == isa]
            row += (len(ratios), statistics.median(ratios) if ratios else None)
        if row[1] or row[3]:
            rows["int8"].append(row)
    for key in sorted({k for m in c.machines for k in m.values}):
        got = {m.label: m.values[key] for m in c.machines if key in m.values}
        unit = next(m.units[key] for m in c.machines if key in m.units)
        refs = "; ".join(f"{name} {_fmt(v, unit)}" for name, v in references(c, unit))
        spread = (min(got.values()), statistics.median(got.values()), max(got.values()))
        rows["metrics"].append((key[:2], key[3:], unit, len(got), *spread, refs))
        for label, why in outliers(got):
            rows["outliers"].append((label, key[:2], key[3:], _fmt(got[label], unit), why))
    columns = {name: columns.split("|") for name, (_, columns) in TABLES.items()}
    return {name: [dict(zip(columns[name], r, strict=True)) for r in rows[name]] for name in TABLES}


def _fmt(value: Any, unit: str = "") -> str:
    """``value`` with an SI prefix where its unit takes one ('186 GFLOP/s'), else 4 digits."""
    if not isinstance(value, float):
        return "" if value is None else str(value)
    if (base := unit.split(",")[0].strip()) in SI_UNITS:
        return plots.si(value, base)
    number = f"{int(value):,}" if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    return f"{number} {base}".strip()


def _axis(ax: Any, which: str, unit: str, values: list[float]) -> None:
    """Axis ``which`` ('x', 'y') of ``ax``: log when ``values`` span over 3x, ticks in ``unit``."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi, axis = min(values), max(values), getattr(ax, f"{which}axis")
    base = unit.split(",")[0].strip()
    if lo > 0 and hi > 3 * lo:
        getattr(ax, f"set_{which}scale")("log")
        axis.set_major_locator(LogLocator(subs=(1.0,) if hi > 300 * lo else (1.0, 2.0, 5.0)))
        axis.set_minor_formatter(NullFormatter())
    tick = (lambda v, _: plots.si(v, base)) if base in SI_UNITS else (lambda v, _: f"{v:.3g}")
    axis.set_major_formatter(FuncFormatter(tick))


def _scatter(ax: Any, points: list[tuple[float, float, str]], legend: str, units: str) -> None:
    """Points (x, y, group) on log-log axes in ``units`` ('x unit|y unit'), a colour per group."""
    for color, group in zip(plots.PALETTE * 4, sorted({g for *_, g in points}), strict=False):
        xy = [(x, y) for x, y, g in points if g == group]
        ax.scatter(*zip(*xy, strict=True), color=color, label=group, s=25)
    _axis(ax, "x", units.split("|")[0], [x for x, _, _ in points])
    _axis(ax, "y", units.split("|")[1], [y for _, y, _ in points])
    ax.legend(title=legend, fontsize=7)


def _roofline(fig: Any, c: ClassData, rows: list[dict[str, Any]]) -> None:
    fig.set_size_inches(8, 5)
    ax = fig.add_subplot(xscale="log", yscale="log", xlabel="intensity [FLOP/byte]",
                         ylabel="attainable", title="The class on one roofline (notebook 08)")
    intensity = np.logspace(-2, 3, 200)  # FLOP/byte
    for r in rows:
        roof = attainable_flop_per_s(intensity, r["peak [FLOP/s]"], r["bandwidth [B/s]"])
        ax.plot(intensity, roof, color=plots.COLORS["measured"], lw=1, alpha=0.6)
    for d in c.devices:
        roof = attainable_flop_per_s(intensity, d.peak("fp32"), d.memory_bandwidth_bytes_per_s)
        ax.plot(intensity, roof, "--", color=plots.COLORS["estimate"], lw=1)
        ax.text(intensity[-1], roof[-1], f" {d.name}", fontsize=7, va="center")
    ax.plot([], [], color=plots.COLORS["measured"], label="a machine of the class, measured")
    ax.plot([], [], "--", color=plots.COLORS["estimate"], label="catalogue, fp32 datasheet")
    _axis(ax, "y", "FLOP/s", list(ax.get_ylim()))
    ax.legend(loc="upper left")


def _lenet(fig: Any, c: ClassData, rows: list[dict[str, Any]]) -> None:
    if rows := [r for r in rows if r["cores"]]:
        ax = fig.add_subplot(xlabel="CPU cores (jittered)", ylabel="training time",
                             title="LeNet training time against cores (notebook 03)")
        jitter = iter(np.random.default_rng(0).uniform(0.93, 1.07, len(rows)))  # side by side
        points = [(r["cores"] * next(jitter), r["training [s]"], r["SIMD"]) for r in rows]
        _scatter(ax, points, "widest SIMD", units="cores|s")


def _int8(fig: Any, c: ClassData, rows: list[dict[str, Any]]) -> None:
    fig.set_size_inches(10, 4.2)
    for k, net in enumerate(("LeNet", "MobileNet")):
        ax = fig.add_subplot(1, 2, k + 1, title=f"{net}, batch 1 (notebook 06)",
                             xlabel="fp32 latency", ylabel="int8 latency (dotted: same speed)")
        if points := [(f, i, m.int8_isa) for m, f, i in _pairs(c, net)]:
            ends = [min(min(p[:2]) for p in points), max(max(p[:2]) for p in points)]
            ax.plot(ends, ends, ":", color="grey")
            _scatter(ax, points, "int8 dot product", units="s|s")


def _crossover(fig: Any, c: ClassData, rows: list[dict[str, Any]]) -> None:
    fig.set_size_inches(7, 1.2 + 0.22 * len(rows))
    ax = fig.add_subplot(xlabel="MLP size where the GPU starts to win",
                         title="CPU-vs-GPU crossover (notebook 04)")
    rows = sorted(rows, key=lambda r: r["crossover [params]"])
    for kind, color, label in (("measured", "gpu", "measured on its GPU"),
                               ("estimate", "estimate", "estimate, catalogue GPU")):  # fmt: skip
        width = [r["crossover [params]"] if r["source"] == kind else 0 for r in rows]
        ax.barh([r["machine"] for r in rows], width, color=plots.COLORS[color], label=label)
    _axis(ax, "x", "params", [r["crossover [params]"] for r in rows])
    ax.tick_params(axis="y", labelsize=7)
    ax.legend()


def _strips(fig: Any, c: ClassData, rows: list[dict[str, Any]]) -> None:
    """One strip per metric of ``SECTIONS["metrics"]`` that some card holds."""
    units = {f"{r['notebook']}/{r['metric']}": r["unit"] for r in rows}
    strips = {role: key for role, key in SECTIONS["metrics"].items() if key in units}
    fig.set_size_inches(8, 1.5 * len(strips) + 0.6)
    rng = np.random.default_rng(0)
    for k, (role, key) in enumerate(strips.items()):
        ax = fig.add_subplot(len(strips), 1, k + 1, yticks=[], ylim=(-1.5, 1.5))
        values, unit = [m.values[key] for m in c.machines if key in m.values], units[key]
        ax.scatter(values, rng.uniform(-1, 1, len(values)), s=12, color=plots.COLORS["measured"])
        for name, ref in (refs := references(c, unit)):
            color = plots.COLORS["paper" if name.startswith("seed") else "estimate"]
            ax.axvline(ref, color=color, lw=0.8)
            ax.text(ref, 0.97, name, rotation=90, fontsize=6, ha="right", va="top",
                    transform=ax.get_xaxis_transform())  # fmt: skip
        _axis(ax, "x", unit, values + [ref for _, ref in refs])
        ax.set_ylabel(f"{role}\n[{unit}]", rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("Each metric across the class (lines: catalogue and seed 002 devices)")


def figures(c: ClassData) -> dict[str, Any]:
    """The report's matplotlib figures by section name (a section without data has none)."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    t, figs = tables(c), {}
    draw = dict(roofline=_roofline, lenet=_lenet, int8=_int8, crossover=_crossover, metrics=_strips)
    with mpl.rc_context():
        plots.use_course_style()
        for name, plot in draw.items():
            if t[name]:
                plot(figs.setdefault(name, Figure(layout="constrained")), c, t[name])
    return {name: fig for name, fig in figs.items() if fig.axes}


def _table(name: str, rows: list[dict[str, Any]]) -> str:
    """Table ``name`` in HTML, each number in the unit its column ('peak [FLOP/s]') or row names."""
    if not rows:
        return f'<p class="empty" id="{name}">No card holds these metrics yet.</p>'
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    cells = [[_fmt(v, k.partition("[")[2].rstrip("]") or r.get("unit", "")) for k, v in r.items()]
             for r in rows]  # fmt: skip
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
                   for row in cells)  # fmt: skip
    return f'<table id="{name}"><tr>{head}</tr>{body}</table>'


def write_report(c: ClassData, out: str | Path) -> Path:
    """Write the self-contained HTML page of class ``c`` to ``out``; returns its path."""
    t, figs = tables(c), figures(c)
    parts = [f"<h1>The class's results</h1><p>{len(c.machines)} machines; {len(c.problems)} "
             "files skipped or partly used (listed at the end).</p>"]  # fmt: skip
    for name, (title, _) in TABLES.items():
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if name in figs:
            figs[name].savefig(png := io.BytesIO(), format="png", dpi=90, bbox_inches="tight")
            src = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
            parts.append(f'<figure id="fig-{name}"><img alt="{title}" src="{src}"></figure>')
        parts.append(_table(name, t[name]))
    items = "".join(f"<li>{html.escape(p)}</li>" for p in c.problems) or "<li>none</li>"
    parts.append(f'<h2>Files skipped or partly used</h2><ul class="problems">{items}</ul>')
    Path(out).write_text('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>'
                         f"Class report</title><style>{_CSS}</style></head><body>{''.join(parts)}"
                         "</body></html>\n", encoding="utf-8")  # fmt: skip
    return Path(out)


def configure(parser: Any) -> None:
    """``class-report FOLDER [-o report.html]``."""
    parser.add_argument("folder", help="folder of results packs (or sub-folders of loose cards)")
    parser.add_argument("-o", "--out", default="class-report.html", help="the HTML page to write")


def run(args: Any) -> int:
    """Write the page; 0 if every file was used in full, 1 if any was skipped or cut, 2 usage."""
    try:
        c = load_class(args.folder, ignore=args.out)
    except FileNotFoundError as exc:
        print(f"class-report: error: {exc}", file=sys.stderr)
        return 2
    sys.stderr.writelines(f"{line}\n" for line in c.problems)
    print(f"wrote {write_report(c, args.out)}: {len(c.machines)} machines, {len(c.problems)} files"
          " skipped or partly used")
    return 1 if c.problems or not c.machines else 0
