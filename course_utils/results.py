"""Results cards: each notebook ends by saving its key measured figures.

A card, ``artifacts/results/<notebook-stem>.json``, holds the ``machine`` that ran the notebook
(CPU, cores, SIMD, int8 dot product, GPUs, versions) and ``metrics`` whose snake_case names carry
their unit: ``{"test_accuracy": {"value": 0.991, "unit": "fraction"}}`` (schema:
``course_utils/data/results_schema.md``). A student hands in one *pack* of cards under an alias
(:func:`pack`, ``results pack``) for :mod:`course_utils.classreport`; :func:`check_card`, the one
reader, says what is wrong with a card and keeps what is usable."""

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

from . import machine, paths, validators, versions

SCHEMA_VERSION = 1  # of the card format save_results writes (0: older cards without it)
PACK_FORMAT = "course_utils/results-pack"
MAX_FILE_BYTES = 2 * 2**20  # the largest card or pack read (a pack of all the cards: about 25 kB)
PACK_HELP = "results pack [--alias NAME] [-o FILE]: bundle your results cards into one file"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}$")
Metric = tuple[float, str] | dict[str, Any]
#: machine fields a card may hold and their JSON types (a pack keeps these and nothing else).
MACHINE_FIELDS = {"cpu": str, "arch": str, "physical_cores": int, "logical_cpus": int,
                  "simd": list, "int8_dot_product": list, "gpus": list, "os": str, "python": str,
                  "tensorflow": str, "keras": str}  # fmt: skip


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine_info() -> dict[str, Any]:
    """What ran the notebook: CPU model, cores, SIMD and int8 dot-product instructions, GPUs,
    OS, Python and library versions (the ``machine`` of a card; nothing personal)."""
    flags = machine.cpu_flags()
    return {
        "cpu": machine.cpu_model(), "arch": platform.machine(),
        "physical_cores": machine.physical_cores(), "logical_cpus": os.cpu_count(),
        "simd": machine.flag_names(flags, machine.SIMD_NAMES),
        "int8_dot_product": machine.flag_names(flags, machine.INT8_NAMES),
        "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
        "tensorflow": versions.installed("tensorflow"), "keras": versions.installed("keras"),
        "gpus": list(machine.gpu_names()),  # [] where TensorFlow is missing or broken
    }  # fmt: skip


def _normalise(name: str, metric: Metric) -> dict[str, Any]:
    """``metric`` as a card holds it, ``{"value": v, "unit": u, ...}``; ValueError if bad."""
    if not _NAME.match(name):
        raise ValueError(f"metric name {name!r} must be snake_case (e.g. 'test_accuracy')")
    if isinstance(metric, tuple | list) and len(metric) == 2:
        metric = {"value": metric[0], "unit": metric[1]}
    if not isinstance(metric, dict) or not {"value", "unit"} <= metric.keys():
        raise ValueError(f"metric {name!r} must be (value, unit), e.g. (0.991, 'fraction'), or "
                         f"a dict with 'value' and 'unit' keys; got {metric!r}")  # fmt: skip
    value = metric["value"].item() if hasattr(metric["value"], "item") else metric["value"]
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"metric {name!r} is {value}: a results card holds measured, finite values")
    return {**metric, "value": value}


def _card_path(notebook: str, directory: str | Path | None) -> Path:
    return Path(directory or paths.artifacts_dir("results")) / f"{Path(notebook).stem}.json"


def save_results(notebook: str, metrics: dict[str, Metric],
                 directory: str | Path | None = None) -> Path:  # fmt: skip
    """Write the card of ``notebook`` (its stem, e.g. ``'03_lenet_mnist'``, names the file) in
    ``directory`` (default ``artifacts/results/``); returns its path. ``metrics``: ``{name: (value,
    unit)}`` or ``{name: {"value": v, "unit": u}}``; ValueError for a bad name or value."""
    entries = {name: _normalise(name, m) for name, m in metrics.items()}
    path = _card_path(notebook, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    card = {"schema_version": SCHEMA_VERSION, "notebook": path.stem, "created_utc": _now(),
            "machine": machine_info(), "metrics": entries}  # fmt: skip
    path.write_text(json.dumps(card, indent=2) + "\n")
    return path


def load_results(notebook: str, directory: str | Path | None = None) -> dict[str, Any]:
    """Read a results card written by :func:`save_results` (FileNotFoundError says which notebook to run)."""
    path = _card_path(notebook, directory)
    if not path.is_file():
        raise FileNotFoundError(f"No results card {path}: run notebooks/{path.stem}.ipynb first.")
    return json.loads(path.read_text())


def read_json(path: str | Path) -> Any:
    """The JSON in ``path``, read-only and at most :data:`MAX_FILE_BYTES`; ValueError says why
    it cannot be used (too big, empty, binary, truncated, not JSON)."""
    with open(path, "rb") as f:
        raw = f.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"larger than the {MAX_FILE_BYTES // 2**20} MiB cap for a card or pack")
    try:
        text = raw.decode("utf-8")
        if not text.strip():
            raise ValueError("empty file")
        return json.loads(text)
    except UnicodeDecodeError:
        raise ValueError("binary data, not JSON") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply to be a card or pack") from None
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise ValueError("truncated JSON (the file ends early)") from None
        raise ValueError(f"not JSON ({exc.msg}, line {exc.lineno})") from None


def _finite_number(value: Any) -> bool:
    """An int or float, not a bool, and not NaN, inf or a JSON int beyond any float."""
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 1e300


def check_card(data: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """``(usable card or None, one phrase per problem)`` of a card read from JSON: keeps each
    metric with a finite value and each machine field of its type (:data:`MACHINE_FIELDS`); a card
    without ``schema_version`` (older course) is version 0 and kept; a newer one is refused."""
    if not isinstance(data, dict) or not {"notebook", "metrics"} <= data.keys():
        return None, ["not a results card (it needs 'notebook' and 'metrics')"]
    version, notebook, metrics = data.get("schema_version", 0), data["notebook"], data["metrics"]
    if type(version) is not int or not 0 <= version <= SCHEMA_VERSION:
        return None, [f"unknown schema_version {version!r} (this course_utils reads 0 to "
                      f"{SCHEMA_VERSION}; a newer course_utils may read it: git pull)"]  # fmt: skip
    notes = ["older card (schema_version 0): no cores or SIMD recorded"] if version == 0 else []
    if not isinstance(notebook, str) or not re.match(r"^\d\d", notebook):
        return None, [f"notebook {notebook!r} is not a notebook stem like '03_lenet_mnist'"]
    if not isinstance(metrics, dict):
        return None, [f"notebook {notebook}: 'metrics' is not a mapping"]
    good: dict[str, dict[str, Any]] = {}
    for name, m in metrics.items():
        if isinstance(m, dict) and _finite_number(m.get("value")) and _NAME.match(name):
            kept = {k: v for k, v in m.items() if isinstance(v, str | bool) or _finite_number(v)}
            good[name] = {**kept, "unit": str(m.get("unit", ""))}
    if bad := [name for name in metrics if name not in good]:
        shown = ", ".join(bad[:4]) + (", ..." if len(bad) > 4 else "")
        notes.append(f"{notebook}: left out {len(bad)} metric(s) with no finite value ({shown})")
    if not good:
        return None, [*notes, f"{notebook}: no usable metric"]
    raw, facts = (data["machine"] if isinstance(data.get("machine"), dict) else {}), {}
    for key, kind in MACHINE_FIELDS.items():
        if isinstance(value := raw.get(key), list) and kind is list:
            facts[key] = [v[:200] for v in value[:16] if isinstance(v, str)]
        elif isinstance(value, kind) and not isinstance(value, bool):
            facts[key] = value[:200] if kind is str else value
    if not facts:
        notes.append(f"{notebook}: no machine facts")
    created = data.get("created_utc")
    return {"schema_version": version, "notebook": notebook,
            "created_utc": created if isinstance(created, str) else "", "machine": facts,
            "metrics": good}, notes  # fmt: skip


def _scrub(value: Any, personal: re.Pattern) -> Any:
    """``value`` with ``personal`` matches (home path, user, host name) made ``<private>``."""
    if isinstance(value, dict):
        return {k: _scrub(v, personal) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, personal) for v in value]
    return personal.sub("<private>", value) if isinstance(value, str) else value


def check_alias(alias: str) -> str:
    """``alias`` stripped, if it is 1-40 letters, digits, spaces, '_', '.', '-'; else ValueError."""
    if not _ALIAS.match(validators.instance("alias", alias, str, "string").strip()):
        raise ValueError(f"alias {alias!r}: use 1-40 letters, digits, spaces, '_', '.' or '-', "
                         "starting with a letter or digit (e.g. 'blue-falcon'); choose one that "
                         "does not identify you")  # fmt: skip
    return alias.strip()


def pack(alias: str, directory: str | Path | None = None,
         out: str | Path | None = None) -> tuple[Path, list[str]]:  # fmt: skip
    """Bundle the usable cards in ``directory`` (default ``artifacts/results/``) into ``out``
    (default ``artifacts/results-pack_<alias>.json``) to hand in: ``alias``, each card's notebook,
    date, machine facts and metrics, no user or host name or path (a metric's text: ``<private>``).
    Returns ``(path, a line per card left out or cut)``; FileNotFoundError if no card is usable."""
    alias, source = check_alias(alias), Path(directory or paths.artifacts_dir("results"))
    found = {os.path.expanduser("~"), getpass.getuser(), socket.gethostname()} - {"/"}
    names = [re.escape(p) for p in sorted(found, key=len, reverse=True) if len(p) >= 2]
    personal = re.compile(rf"(?<![A-Za-z0-9])(?:{'|'.join(names) or '(?!)'})(?![A-Za-z0-9])")
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
        raise FileNotFoundError(f"no usable results card in {source}: run the notebooks first")
    bundle = {"format": PACK_FORMAT, "schema_version": SCHEMA_VERSION, "alias": alias,
              "created_utc": _now(), "cards": cards}  # fmt: skip
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", alias)
    path = Path(out) if out else paths.artifacts_dir() / f"results-pack_{slug}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bundle, indent=1) + "\n")
    return path, problems


def configure_pack(parser: Any) -> None:
    """``results pack [--alias NAME] [-o FILE] [--cards DIR]``."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("pack", help="bundle your cards into one file to hand in").add_argument
    add("--alias", help="a name that does not identify you (default: random)")
    add("-o", "--out", help="default artifacts/results-pack_<alias>.json")
    add("--cards", help="folder of cards (default artifacts/results)")


def run_pack(args: Any) -> int:
    """Write the pack; 0 clean, 1 if a card was left out or cut, 2 for a bad alias or no card."""
    alias = args.alias or f"anonymous-{secrets.token_hex(2)}"
    try:
        path, problems = pack(alias, args.cards, args.out)
    except (TypeError, ValueError, FileNotFoundError) as exc:
        print(f"results pack: error: {exc}", file=sys.stderr)
        return 2
    sys.stderr.writelines(f"{line}\n" for line in problems)
    print(f"wrote {path} (alias {alias!r}): hand in this one file")
    return 1 if problems else 0
