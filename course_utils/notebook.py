"""The setup cell every notebook runs first (its text: notebooks/CONTRIBUTING.md).

Where ``course_utils`` is not installed (Colab, a notebook opened on its own), the cell
makes a shallow clone of the course next to the notebook and pip-installs it from there,
so that ``datasets/`` (MNIST, the reference records) is at hand; :mod:`course_utils.paths`
finds that clone again after a kernel restart. Then ``setup()``:

* checks the minimum versions and the newer APIs the notebooks call
  (:mod:`course_utils.versions`), with a message that says what to install;
* prints the versions in use and the device (CPU model, GPUs);
* applies the plot style;
* warns, never fails, when no GPU is present where one would be used, saying how to get
  one, and when there is no clone of the course, saying what is missing.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from typing import Any

from . import paths, plots, versions

#: the course's GitHub repository (owner/name); change it here if you fork the course.
REPO = "dl-meets-hardware/course"
#: what the setup cell clones where course_utils is not installed (Colab).
REPO_URL = f"https://github.com/{REPO}"


def colab_url(notebook: str) -> str:
    """The "Open in Colab" link of ``notebooks/<notebook>`` on the main branch."""
    return f"https://colab.research.google.com/github/{REPO}/blob/main/notebooks/{notebook}"


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def setup(need_gpu: bool = False, colab_gpu: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Check versions and APIs, print them and the device, apply the course's plot style.

    ``need_gpu``: the notebook needs a GPU; without one, warn and explain how to get one (the
    notebook still runs on the CPU). ``colab_gpu``: the notebook has optional GPU parts; warn
    only on a Colab CPU runtime, where a GPU is one menu away. ``quiet``: print nothing (tests).
    Returns
    ``{"versions": {...}, "cpu": str, "gpus": [...], "colab": bool, "root": Path | None}``
    (``root``: the course repository, None without one). Raises RuntimeError when a package is
    missing or too old, or lacks an API the notebooks call, with the command that fixes it.
    """
    found = versions.check()
    from .results import machine_info
    from .tfenv import import_tensorflow

    import_tensorflow()  # quietly: no C++ start-up chatter in the notebook
    versions.check_apis()
    info = machine_info()
    gpus, root, colab = info.get("gpus", []), paths.repo_root(), in_colab()
    plots.use_course_style()
    if not quiet:
        print(" | ".join([f"Python {platform.python_version()}",
                          *(f"{k} {v}" for k, v in found.items())]))  # fmt: skip
        print(f"CPU: {info['cpu']} ({info['logical_cpus']} logical CPUs)")
        print("GPU: " + (", ".join(gpus) if gpus else "none visible to TensorFlow"))
        if colab:
            print("Running on Colab.")
    if not gpus and (need_gpu or (colab and colab_gpu)):
        how = "Locally: an NVIDIA GPU with its driver and `pip install -e .[gpu]`."
        if colab:
            how = "On Colab: Runtime > Change runtime type > GPU, then run all cells again."
        warnings.warn(f"No GPU found: the GPU parts of this notebook fall back to the CPU. {how}",
                      stacklevel=2)  # fmt: skip
    if root is None:
        warnings.warn(
            "No clone of the course found (course_utils was installed without it): MNIST comes "
            "from Keras' download (needs the network) and notebook 04 has no reference records. "
            f"Fix: `git clone --depth 1 {REPO_URL}` and open the notebooks from "
            "it, or set COURSE_ROOT to a clone.",
            stacklevel=2,
        )
    return {"versions": found, "cpu": info["cpu"], "gpus": gpus, "colab": colab, "root": root}


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
