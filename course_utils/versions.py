"""What the notebooks need installed, in one place (the tested pins are in requirements.txt).

Two checks, both with a message that says what to install:

* :func:`check`: each package is installed at its minimum version (package metadata only,
  fast, imports nothing);
* :func:`check_apis`: the newer APIs the notebooks call exist in the *imported* modules. A
  version number alone misses a Keras upgraded by pip after the kernel had imported the old
  one (the old module stays loaded until the kernel restarts), which is what happens on Colab
  when a cell upgrades a preinstalled package.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import re
import sys
from dataclasses import dataclass

#: distribution name -> minimum version. Keep in step with pyproject.toml.
#: keras 3.12: keras.distillation (notebook 07). ipywidgets 7.7: what Colab ships (its
#: front end shows ipywidgets 7 widgets; the notebooks use nothing newer).
MINIMUM: dict[str, str] = {
    "tensorflow": "2.16",
    "keras": "3.12",
    "numpy": "1.26",
    "matplotlib": "3.8",
    "ipywidgets": "7.7",
}
#: distributions whose TensorFlow build may be named differently (Colab, macOS, CPU-only).
ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"),
}


@dataclass(frozen=True)
class Api:
    """An API the notebooks call that older releases of ``package`` lack."""

    package: str  # distribution and module name
    path: str  # attribute path inside the module, e.g. "distillation.Distiller"
    since: str  # first release that has it
    used_by: str  # where the course calls it


#: The newer APIs the notebooks and course_utils call (found by reading the imports of
#: course_utils and the notebooks against Keras' releases: keras.distillation appeared in
#: 3.12.0, Model.quantize in 3.2.0).
APIS: tuple[Api, ...] = (
    Api("keras", "distillation.Distiller", "3.12", "notebook 07 (knowledge distillation)"),
    Api("keras", "distillation.LogitsDistillation", "3.12", "notebook 07 (knowledge distillation)"),
    Api("keras", "Model.quantize", "3.2", "notebook 06 (Keras' own int8 quantization)"),
)


def _as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def installed(name: str) -> str | None:
    """The installed version of a distribution (or one of its alternatives), or None."""
    for dist in ALTERNATIVES.get(name, (name,)):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            continue
    return None


def install_hint(requirements: list[str]) -> str:
    """How to install ``requirements`` (e.g. ``['keras>=3.12']``), wherever the student is."""
    quoted = " ".join(f'"{r}"' for r in requirements)
    return (
        f"Fix: in a notebook run `%pip install -U {quoted}`, then restart the kernel "
        "(on Colab: Runtime > Restart session) and run the notebook again; "
        "in a clone of the course, `./course setup` installs the tested versions."
    )


def check(minimum: dict[str, str] | None = None) -> dict[str, str]:
    """Assert that each package is installed at >= its minimum version.

    Returns ``{name: installed version}``. Raises ``RuntimeError`` naming every
    package that is missing or too old, with the command that fixes it.
    """
    minimum = MINIMUM if minimum is None else minimum
    found, problems, fixes = {}, [], []
    for name, least in minimum.items():
        have = installed(name)
        if have is None:
            problems.append(f"{name} is not installed (need >= {least})")
        elif _as_tuple(have) < _as_tuple(least):
            problems.append(f"{name} {have} is too old (need >= {least})")
        else:
            found[name] = have
            continue
        fixes.append(f"{name}>={least}")
    if problems:
        raise RuntimeError("; ".join(problems) + ". " + install_hint(fixes))
    return found


def _lookup(module: object, path: str) -> bool:
    for part in path.split("."):
        try:
            module = getattr(module, part)
        except (AttributeError, ImportError):
            return False
    return True


def _problem(api: Api) -> str | None:
    """What is wrong with ``api`` in the imported package, or None when it is there."""
    try:
        module = sys.modules.get(api.package) or importlib.import_module(api.package)
    except ImportError:
        return f"{api.package} does not import ({api.used_by} needs it)"
    if _lookup(module, api.path):
        return None
    loaded = getattr(module, "__version__", "?")
    problem = (
        f"{api.package} {loaded} has no {api.package}.{api.path}, which {api.used_by} "
        f"calls (new in {api.package} {api.since})"
    )
    have = installed(api.package)
    if have and have != loaded:
        problem += (
            f"; {api.package} {have} is installed, but this kernel imported {loaded} "
            "before: restart the kernel"
        )
    return problem


def missing_apis(apis: tuple[Api, ...] = APIS) -> list[str]:
    """One sentence per API in ``apis`` that the imported package lacks (empty: all there).

    Imports each package (Keras imports TensorFlow: call it after the TensorFlow knobs
    are set, as :func:`course_utils.notebook.setup` does).
    """
    return [p for api in apis if (p := _problem(api))]


def check_apis(apis: tuple[Api, ...] = APIS) -> None:
    """Raise ``RuntimeError`` naming every API in ``apis`` the imported packages lack, and the fix."""
    problems, need = [], {}
    for api in apis:
        problem = _problem(api)
        if problem is None:
            continue
        problems.append(problem)
        if _as_tuple(api.since) > _as_tuple(need.get(api.package, "0")):
            need[api.package] = api.since
    if problems:
        raise RuntimeError(
            "; ".join(problems) + ". " + install_hint([f"{p}>={v}" for p, v in need.items()])
        )
