"""Where the course's files are: the repository, the shipped datasets, the artifacts.

Notebooks write nowhere but ``artifacts/`` (git-ignored): cached models,
results cards, figures. The repository root is found from this package's own
location (editable install / a clone) or, failing that, by walking up from the
current directory; set ``COURSE_ROOT`` to override (e.g. on Colab without a clone
the artifacts then go to ``./artifacts``).
"""

from __future__ import annotations

import os
from pathlib import Path

_MARKERS = ("datasets", "course_utils")


def _looks_like_root(path: Path) -> bool:
    return all((path / m).is_dir() for m in _MARKERS)


def repo_root() -> Path | None:
    """The course repository's root directory, or None when not running from a clone."""
    env = os.environ.get("COURSE_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    here = Path(__file__).resolve().parent.parent
    if _looks_like_root(here):
        return here
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents):
        if _looks_like_root(candidate):
            return candidate
    return None


def datasets_dir() -> Path | None:
    """``datasets/`` of the clone (where ``mnist.npz`` ships), or None without a clone."""
    root = repo_root()
    return root / "datasets" if root else None


def artifacts_dir(*parts: str) -> Path:
    """``artifacts/<parts...>`` (created on demand): the only place notebooks write.

    Falls back to ``./artifacts`` when there is no clone (e.g. a wheel on Colab).
    """
    root = repo_root() or Path.cwd()
    path = root.joinpath("artifacts", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
