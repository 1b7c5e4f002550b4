"""course_utils.paths: where the repository is, however the package was installed."""

import json
from pathlib import Path

import pytest

from course_utils import paths

ROOT = Path(__file__).resolve().parent.parent


class _Dist:
    def __init__(self, direct_url: dict | None):
        self.text = None if direct_url is None else json.dumps(direct_url)

    def read_text(self, name: str):
        return self.text if name == "direct_url.json" else None


@pytest.mark.parametrize(
    ("direct_url", "expected"),
    [
        ({"url": "file:///content/dl-meets-hardware", "dir_info": {}}, "/content/dl-meets-hardware"),
        ({"url": "file:///tmp/with%20space", "dir_info": {"editable": True}}, "/tmp/with space"),
        ({"url": "https://github.com/dl-meets-hardware/course", "vcs_info": {"vcs": "git"}}, None),
        (None, None),  # installed from a wheel on an index: no direct_url.json
    ],
)
def test_installed_from_reads_pips_record(monkeypatch, direct_url, expected):
    monkeypatch.setattr(paths.md, "distribution", lambda name: _Dist(direct_url))
    found = paths.installed_from()
    assert (str(found) if found else None) == expected


def test_installed_from_without_the_package(monkeypatch):
    def missing(name):
        raise paths.md.PackageNotFoundError(name)

    monkeypatch.setattr(paths.md, "distribution", missing)
    assert paths.installed_from() is None


def test_root_order_env_then_source_then_cwd_then_install_folder(monkeypatch, tmp_path):
    assert paths.repo_root() == ROOT  # a clone: the package's own folder
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path))
    assert paths.repo_root() == tmp_path.resolve()
    monkeypatch.delenv("COURSE_ROOT")
    wheel = tmp_path / "site-packages" / "course_utils"
    wheel.mkdir(parents=True)
    monkeypatch.setattr(paths, "__file__", str(wheel / "paths.py"))
    clone = tmp_path / "clone"
    for marker in ("datasets", "course_utils"):
        (clone / marker).mkdir(parents=True)
    monkeypatch.setattr(paths, "installed_from", lambda: clone)
    monkeypatch.chdir(ROOT / "notebooks")
    assert paths.repo_root() == ROOT  # walked up from notebooks/: the clone you work in wins
    monkeypatch.chdir(tmp_path)
    assert paths.repo_root() == clone.resolve()  # Colab: /content holds no clone
    monkeypatch.setattr(paths, "installed_from", lambda: tmp_path / "deleted")
    assert paths.repo_root() is None
