"""TensorFlow's noise and speed knobs, set once, before TensorFlow is imported.

Importing ``course_utils`` runs :func:`configure` first thing, so a notebook that
does ``import course_utils`` before ``import tensorflow`` gets:

* ``TF_CPP_MIN_LOG_LEVEL=2``: TensorFlow's C++ INFO and WARNING lines (which land
  on stderr and clutter notebooks and test logs) are hidden; errors still show.
* ``TF_ENABLE_ONEDNN_OPTS=1`` on x86-64: TensorFlow's oneDNN kernels. They are off
  by default on AMD CPUs; on the course's 2-core AMD EPYC test machine turning them
  on cut a LeNet training epoch from 10.6 s to 4.2 s and doubled fp32 GEMM speed
  (90 -> 179 GFLOP/s). Results may differ in the last bits between runs.

Both use ``os.environ.setdefault``: a value you set yourself wins, e.g.
``TF_ENABLE_ONEDNN_OPTS=0 ./course lab`` to compare.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings

DEFAULTS: dict[str, str] = {"TF_CPP_MIN_LOG_LEVEL": "2"}
if platform.machine().lower() in ("x86_64", "amd64"):
    DEFAULTS["TF_ENABLE_ONEDNN_OPTS"] = "1"


def configure() -> dict[str, str]:
    """Set the course's TensorFlow environment variables unless already set.

    Returns the values in force afterwards. Warns when TensorFlow was imported
    before ``course_utils`` (the variables are read at import time, so they would
    have no effect).
    """
    if "tensorflow" in sys.modules:
        changed = [k for k, v in DEFAULTS.items() if os.environ.get(k) != v]
        if changed:
            warnings.warn(
                "TensorFlow was imported before course_utils, so "
                + ", ".join(changed)
                + " could not take effect. Import course_utils first (or restart the kernel).",
                stacklevel=3,
            )
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    return {k: os.environ[k] for k in DEFAULTS}
