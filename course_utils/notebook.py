"""The setup cell every notebook runs first.

Each notebook starts with the same two steps::

    # 1. on Colab (or anywhere course_utils is missing) install the course package
    import importlib.util, subprocess, sys
    if importlib.util.find_spec("course_utils") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", COURSE_PIP_URL], check=True)
    # 2. check versions, show what runs this notebook
    import course_utils.notebook as nb
    info = nb.setup()

``setup()`` asserts the minimum versions (``course_utils.versions``), prints the
versions in use and the device (CPU model, GPUs), applies the plot style, and
warns -- never fails -- when no GPU is present, saying how to get one.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from typing import Any

from . import plots, versions

#: the course's GitHub repository (owner/name); change it here if you fork the course.
REPO = "dl-meets-hardware/course"
#: where `pip install` gets the course package when it is not installed (Colab).
COURSE_PIP_URL = f"git+https://github.com/{REPO}"


def colab_url(notebook: str) -> str:
    """The "Open in Colab" link of ``notebooks/<notebook>`` on the main branch."""
    return f"https://colab.research.google.com/github/{REPO}/blob/main/notebooks/{notebook}"


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def setup(need_gpu: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Check versions, print them and the device, apply the course's plot style.

    Args:
        need_gpu: the notebook has GPU parts; without a GPU, warn and explain
            how to get one (the notebook still runs on the CPU).
        quiet: print nothing (tests).

    Returns ``{"versions": {...}, "cpu": str, "gpus": [...], "colab": bool}``.
    Raises RuntimeError when a package is missing or too old, with the fix.
    """
    found = versions.check()
    from .results import machine_info
    from .tfenv import import_tensorflow

    tf = import_tensorflow()  # quietly: no C++ start-up chatter in the notebook

    info = machine_info()
    gpus = info.get("gpus", [])
    report = {"versions": found, "cpu": info["cpu"], "gpus": gpus, "colab": in_colab()}
    plots.use_course_style()
    if not quiet:
        print(
            f"Python {platform.python_version()} | "
            + " | ".join(f"{k} {v}" for k, v in found.items())
        )
        print(f"CPU: {info['cpu']} ({info['logical_cpus']} logical CPUs)")
        print("GPU: " + (", ".join(gpus) if gpus else "none visible to TensorFlow"))
        if in_colab():
            print("Running on Colab.")
    if not gpus and (need_gpu or in_colab()):
        how = (
            "On Colab: Runtime > Change runtime type > GPU, then run all cells again."
            if in_colab()
            else "Locally: an NVIDIA GPU with its driver and `pip install -e .[gpu]`."
        )
        warnings.warn(
            f"No GPU found: the GPU parts of this notebook fall back to the CPU. {how}",
            stacklevel=2,
        )
    del tf
    return report


def show_source(obj: Any) -> None:
    """Display the source code of a ``course_utils`` function or class in the notebook.

    Logic lives once, in the package; this lets a notebook show it where it is
    explained (syntax-highlighted in Jupyter, plain text elsewhere).
    """
    import inspect

    source = inspect.getsource(obj)
    try:
        from IPython.display import Markdown, display

        display(Markdown(f"```python\n{source}```"))
    except ImportError:  # plain Python
        print(source)
