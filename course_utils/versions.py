"""Minimum versions the notebooks need, in one place (the tested pins are in requirements.txt)."""

from __future__ import annotations

import importlib.metadata as md
import re

#: distribution name -> minimum version. Keep in step with pyproject.toml.
MINIMUM: dict[str, str] = {
    "tensorflow": "2.16",
    "keras": "3.0",
    "numpy": "1.26",
    "matplotlib": "3.8",
    "ipywidgets": "8.0",
}
#: distributions whose TensorFlow build may be named differently (Colab, macOS, CPU-only).
ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"),
}


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


def check(minimum: dict[str, str] | None = None) -> dict[str, str]:
    """Assert that each package is installed at >= its minimum version.

    Returns ``{name: installed version}``. Raises ``RuntimeError`` naming every
    package that is missing or too old, with the command that fixes it.
    """
    minimum = MINIMUM if minimum is None else minimum
    found, problems = {}, []
    for name, least in minimum.items():
        have = installed(name)
        if have is None:
            problems.append(f"{name} is not installed (need >= {least})")
        elif _as_tuple(have) < _as_tuple(least):
            problems.append(f"{name} {have} is too old (need >= {least})")
        else:
            found[name] = have
    if problems:
        raise RuntimeError(
            "; ".join(problems)
            + ". Fix: run `./course setup` in the repository (or `pip install -r requirements.txt -e .`)."
        )
    return found
