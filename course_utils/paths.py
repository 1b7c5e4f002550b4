"""Where the course's files are: the repository, the shipped datasets, the artifacts.

Notebooks write nowhere but ``artifacts/`` (git-ignored): cached models, results cards, figures.
The repository root is, in this order: ``COURSE_ROOT`` if set; the folder this package's source
lies in (a clone, an editable install); the current directory or one above it (a notebook run
inside a clone); or the clone pip installed the package from (``pip install ./dl-meets-hardware``,
as the notebooks' setup cell does on Colab: pip records that folder in the package's
``direct_url.json``). Without any (the package installed from a URL, a notebook copied out on
its own) there is no root: MNIST then comes from Keras' download, notebook 04 has no reference
records, and the artifacts go to ``./artifacts``.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname


def _looks_like_root(path: Path) -> bool:
    return all((path / marker).is_dir() for marker in ("datasets", "course_utils"))


def installed_from() -> Path | None:
    """The local folder pip installed ``course_utils`` from (``pip install ./course``), if any."""
    try:
        text = md.distribution("course_utils").read_text("direct_url.json")
        url = urlparse(json.loads(text or "{}").get("url", ""))
    except (md.PackageNotFoundError, ValueError, AttributeError):
        return None
    return Path(url2pathname(url.path)) if url.scheme == "file" else None


def repo_root() -> Path | None:
    """The course repository's root directory, or None when not running from a clone."""
    if env := os.environ.get("COURSE_ROOT"):
        return Path(env).expanduser().resolve()
    cwd = Path.cwd().resolve()
    for candidate in (Path(__file__).resolve().parent.parent, cwd, *cwd.parents):
        if _looks_like_root(candidate):
            return candidate
    source = installed_from()
    return source.resolve() if source is not None and _looks_like_root(source) else None


def datasets_dir() -> Path | None:
    """``datasets/`` of the clone (where ``mnist.npz`` ships), or None without a clone."""
    root = repo_root()
    return root / "datasets" if root else None


def artifacts_dir(*parts: str) -> Path:
    """``artifacts/<parts...>`` (created on demand): the only place notebooks write. Falls back
    to ``./artifacts`` when there is no clone (e.g. a wheel on Colab)."""
    path = (repo_root() or Path.cwd()).joinpath("artifacts", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
