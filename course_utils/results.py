"""Results cards: each notebook ends by saving its key measured figures.

A card is ``artifacts/results/<notebook-stem>.json``::

    {"schema_version": 1,
     "notebook": "03_lenet_mnist",
     "created_utc": "2026-11-22T10:00:00Z",
     "machine": {"cpu": ..., "physical_cores": ..., "simd": [...], "int8_dot_product": [...],
                 "gpus": [...], ...},
     "metrics": {"test_accuracy": {"value": 0.991, "unit": "fraction"}, ...}}

Metric names are snake_case and carry their unit in the name or the ``unit``
field (``test_accuracy``, ``int8_bytes``, ``measured_peak_flop_per_s``), so cards
from different machines can be compared side by side. Every field is described
in ``course_utils/data/results_schema.md``.

A student hands in one file, a *pack* of all their cards under an alias they
choose (:func:`pack`, ``python -m course_utils results pack``); the instructor's
:mod:`course_utils.classreport` reads a folder of packs. :func:`check_card` is the
one reader both use: it says what is wrong with a card and keeps what is usable.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import math
import os
import platform
import re
import secrets
import socket
import sys
from pathlib import Path
from typing import Any

from . import machine, paths

SCHEMA_VERSION = 1
"""Version of the card format written by :func:`save_results` (0: older cards without it)."""
PACK_FORMAT = "course_utils/results-pack"
MAX_FILE_BYTES = 2 * 2**20
"""The largest card or pack file read (a pack of every notebook's card is about 25 kB)."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}$")
Metric = tuple[float, str] | dict[str, Any]

#: SIMD extensions, narrowest first: (name shown, CPU flags that mean it: Linux, macOS, NumPy).
SIMD_EXTENSIONS = (
    ("SSE4.2", ("sse4_2", "sse42")),
    ("NEON", ("asimd", "neon")),
    ("AVX", ("avx",)),
    ("AVX2", ("avx2",)),
    ("SVE", ("sve",)),
    ("AVX-512", ("avx512f",)),
)
#: int8 dot-product instructions (4 int8 products summed into int32 per lane and instruction).
INT8_DOT_PRODUCT = (
    ("AVX-512 VNNI", ("avx512_vnni", "avx512vnni")),
    ("AVX-VNNI", ("avx_vnni", "avxvnni")),
    ("AMX-INT8", ("amx_int8",)),
    ("Arm dot product", ("asimddp", "dotprod")),
    ("Arm i8mm", ("i8mm",)),
)
#: machine fields a card may hold and their JSON types (a pack keeps these and nothing else).
MACHINE_FIELDS = {
    "cpu": str, "arch": str, "physical_cores": int, "logical_cpus": int, "simd": list,
    "int8_dot_product": list, "gpus": list, "os": str, "python": str, "tensorflow": str,
    "keras": str,
}  # fmt: skip


def extensions(flags: set[str] | frozenset[str], table: tuple = SIMD_EXTENSIONS) -> list[str]:
    """Names from ``table`` (:data:`SIMD_EXTENSIONS`, :data:`INT8_DOT_PRODUCT`) whose flags are set."""
    return [name for name, names in table if set(names) & set(flags)]


def machine_info() -> dict[str, Any]:
    """What ran the notebook: CPU model, cores, SIMD and int8 dot-product instructions, GPUs,
    OS, Python and library versions (the ``machine`` of a card; nothing personal)."""
    from . import versions

    flags = machine.cpu_flags()  # this machine's CPU facts: all read through machine
    info: dict[str, Any] = {
        "cpu": machine.cpu_model(),
        "arch": platform.machine(),
        "physical_cores": machine.physical_cores(),
        "logical_cpus": os.cpu_count(),
        "simd": extensions(flags, SIMD_EXTENSIONS),
        "int8_dot_product": extensions(flags, INT8_DOT_PRODUCT),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "tensorflow": versions.installed("tensorflow"),
        "keras": versions.installed("keras"),
    }
    try:
        import tensorflow as tf

        info["gpus"] = [
            tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")
        ]
    except Exception:  # TensorFlow missing or broken: the card still gets written
        info["gpus"] = []
    return info


def _normalise(name: str, metric: Metric) -> dict[str, Any]:
    if not _NAME.match(name):
        raise ValueError(f"metric name {name!r} must be snake_case (e.g. 'test_accuracy')")
    if isinstance(metric, dict):
        if "value" not in metric or "unit" not in metric:
            raise ValueError(f"metric {name!r}: a dict needs 'value' and 'unit' keys")
        entry = dict(metric)
    else:
        try:
            value, unit = metric
        except (TypeError, ValueError):
            raise ValueError(
                f"metric {name!r} must be (value, unit), e.g. (0.991, 'fraction'); got {metric!r}"
            ) from None
        entry = {"value": value, "unit": unit}
    value = entry["value"]
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(
            f"metric {name!r} is {value}: a results card holds measured, finite values"
        )
    entry["value"] = value
    return entry


def save_results(
    notebook: str, metrics: dict[str, Metric], directory: str | Path | None = None
) -> Path:
    """Write the results card of ``notebook`` (its stem, e.g. ``'03_lenet_mnist'``).

    Args:
        notebook: notebook stem; also the file name.
        metrics: ``{name: (value, unit)}`` or ``{name: {"value": v, "unit": u, ...}}``.
        directory: default ``artifacts/results/``.

    Returns the path written. Raises ValueError for badly named or non-finite metrics.
    """
    stem = Path(notebook).stem
    card = {
        "schema_version": SCHEMA_VERSION,
        "notebook": stem,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_info(),
        "metrics": {name: _normalise(name, m) for name, m in metrics.items()},
    }
    out_dir = Path(directory) if directory else paths.artifacts_dir("results")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stem}.json"
    path.write_text(json.dumps(card, indent=2, sort_keys=False) + "\n")
    return path


def load_results(notebook: str, directory: str | Path | None = None) -> dict[str, Any]:
    """Read a results card written by :func:`save_results` (FileNotFoundError says which notebook to run)."""
    stem = Path(notebook).stem
    out_dir = Path(directory) if directory else paths.artifacts_dir("results")
    path = out_dir / f"{stem}.json"
    if not path.is_file():
        raise FileNotFoundError(f"No results card {path}: run notebooks/{stem}.ipynb first.")
    return json.loads(path.read_text())


# ------------------------------------------------------------------ reading cards, packs


def read_json(path: str | Path) -> Any:
    """The JSON in ``path``, read-only and at most :data:`MAX_FILE_BYTES`.

    Raises ValueError saying why it cannot be used (too big, empty, binary, truncated, not JSON).
    """
    with open(path, "rb") as f:
        raw = f.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"larger than the {MAX_FILE_BYTES // 2**20} MiB cap for a card or pack")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("binary data, not JSON") from None
    if not text.strip():
        raise ValueError("empty file")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to be a card or pack") from None
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise ValueError("truncated JSON (the file ends early)") from None
        raise ValueError(f"not JSON ({exc.msg}, line {exc.lineno})") from None


def _finite_number(value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return abs(value) < 1e300  # False for NaN and inf; a JSON int may exceed any float


def check_card(data: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """Check a card read from JSON: ``(usable card or None, what is wrong with it)``.

    Keeps every metric with a finite value and every machine field of the right type
    (:data:`MACHINE_FIELDS`); a card without ``schema_version`` (older course versions) is
    version 0 and kept; a newer or unknown version is refused. Each problem is one phrase.
    """
    if not isinstance(data, dict) or not {"notebook", "metrics"} <= data.keys():
        return None, ["not a results card (it needs 'notebook' and 'metrics')"]
    notes = []
    version = data.get("schema_version", 0)
    if type(version) is not int or not 0 <= version <= SCHEMA_VERSION:
        return None, [
            f"unknown schema_version {version!r} (this course_utils reads 0 to {SCHEMA_VERSION};"
            " a newer course_utils may read it: git pull)"
        ]
    if version == 0:
        notes.append("older card (schema_version 0): no cores or SIMD recorded")
    notebook, metrics = data["notebook"], data["metrics"]
    if not isinstance(notebook, str) or not re.match(r"^\d\d", notebook):
        return None, [f"notebook {notebook!r} is not a notebook stem like '03_lenet_mnist'"]
    if not isinstance(metrics, dict):
        return None, [f"notebook {notebook}: 'metrics' is not a mapping"]
    good: dict[str, dict[str, Any]] = {}
    for name, metric in metrics.items():
        if isinstance(metric, dict) and _finite_number(metric.get("value")) and _NAME.match(name):
            kept = {
                k: v for k, v in metric.items() if isinstance(v, str | bool) or _finite_number(v)
            }
            good[name] = {**kept, "unit": str(metric.get("unit", ""))}
    bad = [name for name in metrics if name not in good]
    if bad:
        shown = ", ".join(bad[:4]) + (", ..." if len(bad) > 4 else "")
        notes.append(f"{notebook}: left out {len(bad)} metric(s) with no finite value ({shown})")
    if not good:
        return None, [*notes, f"{notebook}: no usable metric"]
    raw_machine = data.get("machine") if isinstance(data.get("machine"), dict) else {}
    machine = {}
    for key, kind in MACHINE_FIELDS.items():
        value = raw_machine.get(key)
        if kind is list and isinstance(value, list):
            machine[key] = [v[:200] for v in value[:16] if isinstance(v, str)]
        elif isinstance(value, kind) and not isinstance(value, bool):
            machine[key] = value[:200] if kind is str else value
    if not machine:
        notes.append(f"{notebook}: no machine facts")
    created = data.get("created_utc")
    card = {
        "schema_version": version,
        "notebook": notebook,
        "created_utc": created if isinstance(created, str) else "",
        "machine": machine,
        "metrics": good,
    }
    return card, notes


def _scrub(value: Any, personal: list[str]) -> Any:
    """``value`` with every personal string (home path, user and host name) replaced."""
    if isinstance(value, dict):
        return {k: _scrub(v, personal) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, personal) for v in value]
    if isinstance(value, str):
        for text in personal:
            value = re.sub(rf"(?<![A-Za-z0-9]){re.escape(text)}(?![A-Za-z0-9])", "<private>", value)
    return value


def check_alias(alias: str) -> str:
    """``alias`` stripped, if it is 1-40 letters, digits, spaces, '_', '.', '-'; else ValueError."""
    if not isinstance(alias, str):
        raise TypeError(f"alias must be a string, got {type(alias).__name__}")
    if not _ALIAS.match(alias.strip()):
        raise ValueError(
            f"alias {alias!r}: use 1-40 letters, digits, spaces, '_', '.' or '-', starting "
            "with a letter or digit (e.g. 'blue-falcon'); choose one that does not identify you"
        )
    return alias.strip()


def pack(
    alias: str, directory: str | Path | None = None, out: str | Path | None = None
) -> tuple[Path, list[str]]:
    """Bundle the cards in ``directory`` (default ``artifacts/results/``) into one file to hand in.

    The pack holds ``alias`` and the cards' notebook, date, machine facts and metrics, nothing
    else: no host or user name, no paths (any that a metric's text holds become ``<private>``).
    Unusable cards are left out. Returns ``(path written, one line per card left out or cut)``;
    ``out`` defaults to ``artifacts/results-pack_<alias>.json``. FileNotFoundError if no card
    is usable.
    """
    alias = check_alias(alias)
    source = Path(directory) if directory else paths.artifacts_dir("results")
    personal = [os.path.expanduser("~"), getpass.getuser(), socket.gethostname()]
    personal = sorted({p for p in personal if len(p) >= 2 and p != "/"}, key=len, reverse=True)
    cards, problems = [], []
    for path in sorted(source.glob("*.json")):
        try:
            card, notes = check_card(read_json(path))
        except (OSError, ValueError) as exc:
            card, notes = None, [str(exc)]
        if notes:
            problems.append(f"{path}: {'; '.join(notes)}" + ("" if card else "; left out"))
        if card:
            cards.append(_scrub(card, personal))
    if not cards:
        raise FileNotFoundError(
            f"no usable results card in {source}: run the notebooks first (each saves one)"
        )
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    bundle = {"format": PACK_FORMAT, "schema_version": SCHEMA_VERSION, "alias": alias,
              "created_utc": now, "cards": cards}  # fmt: skip
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", alias)
    path = Path(out) if out else paths.artifacts_dir() / f"results-pack_{slug}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bundle, indent=1) + "\n")
    return path, problems


PACK_HELP = "results pack [--alias NAME] [-o FILE]: bundle your results cards into one file"


def configure_pack(parser: Any) -> None:
    """``results pack [--alias NAME] [-o FILE] [--cards DIR]``."""
    pack_parser = parser.add_subparsers(dest="action", metavar="ACTION", required=True).add_parser(
        "pack", help="bundle your results cards into one file to hand in"
    )
    pack_parser.add_argument("--alias", help="a name that does not identify you (default: random)")
    pack_parser.add_argument("-o", "--out", help="default artifacts/results-pack_<alias>.json")
    pack_parser.add_argument("--cards", help="folder of cards (default artifacts/results)")


def run_pack(args: Any) -> int:
    """Write the pack; 0 clean, 1 if a card was left out or cut, 2 for a bad alias or no card."""
    alias = args.alias or f"anonymous-{secrets.token_hex(2)}"
    try:
        path, problems = pack(alias, args.cards, args.out)
    except (TypeError, ValueError, FileNotFoundError) as exc:
        print(f"results pack: error: {exc}", file=sys.stderr)
        return 2
    for line in problems:
        print(line, file=sys.stderr)
    print(f"wrote {path} (alias {alias!r}): hand in this one file")
    return 1 if problems else 0
