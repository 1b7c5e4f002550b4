"""Results cards: each notebook ends by saving its key measured figures.

A card is ``artifacts/results/<notebook-stem>.json``::

    {"notebook": "03_lenet_mnist",
     "created_utc": "2026-11-22T10:00:00Z",
     "machine": {"cpu": ..., "cores": ..., "gpus": [...], "python": ..., "tensorflow": ...},
     "metrics": {"test_accuracy": {"value": 0.991, "unit": "fraction"}, ...}}

Metric names are snake_case and carry their unit in the name or the ``unit``
field (``test_accuracy``, ``int8_bytes``, ``measured_peak_flop_per_s``), so cards
from different machines can be compared side by side.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import re
from pathlib import Path
from typing import Any

from . import paths

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
Metric = tuple[float, str] | dict[str, Any]


def machine_info() -> dict[str, Any]:
    """What ran the notebook: CPU model, core count, GPUs, OS, Python and library versions."""
    from . import versions

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
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
