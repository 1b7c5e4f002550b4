"""What the notebooks need installed, in one place (the tested pins are in requirements.txt).

:func:`check`: each package at its minimum version (metadata only: fast, imports nothing).
:func:`check_apis`: the newer APIs the notebooks call are in the *imported* modules (a version
misses a Keras upgraded after the kernel imported the old one, on Colab). Both say the fix."""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata as md
import re
import sys
from typing import NamedTuple

#: distribution name -> minimum version (keep in step with pyproject.toml): keras 3.12 has
#: keras.distillation (notebook 07); ipywidgets 7.7 is what Colab's front end shows.
MINIMUM: dict[str, str] = {"tensorflow": "2.16", "keras": "3.12", "numpy": "1.26",
                           "matplotlib": "3.8", "ipywidgets": "7.7"}  # fmt: skip
#: distributions whose TensorFlow build may be named differently (Colab, macOS, CPU-only).
ALTERNATIVES = {"tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly")}


class Api(NamedTuple):
    """A newer API: ``path`` in ``package``, new in release ``since``, called by ``used_by``."""

    package: str
    path: str
    since: str
    used_by: str


#: The newer APIs the notebooks and course_utils call (keras.distillation appeared in 3.12.0).
APIS: tuple[Api, ...] = tuple(
    Api("keras", f"distillation.{name}", "3.12", "notebook 07 (knowledge distillation)")
    for name in ("Distiller", "LogitsDistillation"))


def _as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def installed(name: str) -> str | None:
    """The installed version of a distribution (or one of its alternatives), or None."""
    for dist in ALTERNATIVES.get(name, (name,)):
        with contextlib.suppress(md.PackageNotFoundError):
            return md.version(dist)
    return None


def install_hint(requirements: list[str]) -> str:
    """How to install ``requirements`` (e.g. ``['keras>=3.12']``), wherever the student is."""
    quoted = " ".join(f'"{r}"' for r in requirements)
    return (f"Fix: in a notebook run `%pip install -U {quoted}`, then restart the kernel (on "
            "Colab: Runtime > Restart session) and run the notebook again; in a clone of the "
            "course, `./course setup` installs the tested versions.")  # fmt: skip


def check(minimum: dict[str, str] | None = None) -> dict[str, str]:
    """``{name: installed version}`` of each package in ``minimum`` (default :data:`MINIMUM`);
    ``RuntimeError`` names every one missing or too old, with the command that fixes it."""
    found, problems = {}, {}
    for name, least in (MINIMUM if minimum is None else minimum).items():
        if (have := installed(name)) is None:
            problems[f"{name}>={least}"] = f"{name} is not installed (need >= {least})"
        elif _as_tuple(have) < _as_tuple(least):
            problems[f"{name}>={least}"] = f"{name} {have} is too old (need >= {least})"
        else:
            found[name] = have
    if problems:
        raise RuntimeError("; ".join(problems.values()) + ". " + install_hint(list(problems)))
    return found


def _problem(api: Api) -> str | None:
    """What is wrong with ``api`` in the imported package, or None when it is there."""
    try:
        module = sys.modules.get(api.package) or importlib.import_module(api.package)
    except ImportError:
        return f"{api.package} does not import ({api.used_by} needs it)"
    with contextlib.suppress(AttributeError, ImportError):  # a lazy submodule may fail to import
        functools.reduce(getattr, api.path.split("."), module)
        return None
    loaded, have = getattr(module, "__version__", "?"), installed(api.package)
    problem = (f"{api.package} {loaded} has no {api.package}.{api.path}, which {api.used_by} "
               f"calls (new in {api.package} {api.since})")  # fmt: skip
    if have and have != loaded:
        problem += f"; {api.package} {have} is installed, but this kernel imported {loaded} before"
        problem += ": restart the kernel"
    return problem


def missing_apis(apis: tuple[Api, ...] = APIS) -> list[str]:
    """One sentence per API in ``apis`` the imported package lacks (empty: all there). Imports
    Keras, hence TensorFlow: call it after TensorFlow's knobs are set (:func:`.notebook.setup`)."""
    return [p for api in apis if (p := _problem(api))]


def check_apis(apis: tuple[Api, ...] = APIS) -> None:
    """Raise ``RuntimeError`` naming each API in ``apis`` the imported modules lack, and the fix."""
    if failing := {api: problem for api in apis if (problem := _problem(api))}:
        need = {a.package: a.since for a in sorted(failing, key=lambda a: _as_tuple(a.since))}
        fixes = install_hint([f"{p}>={v}" for p, v in need.items()])  # the newest release needed
        raise RuntimeError("; ".join(failing.values()) + ". " + fixes)
