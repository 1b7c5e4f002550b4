"""The pinned stack is stated once (requirements.txt) and every other file agrees with it.

* environment.yml (conda) installs exactly ``-r requirements.txt`` and ``-e .`` with pip, and
  its Python is one that pyproject.toml, ``./course`` and the README accept; ``./course``'s
  Pythons (those the pinned stack has wheels for) are all ones pyproject.toml allows;
* every dependency in pyproject.toml (minimum versions) has a pin in requirements.txt that
  satisfies it, and the pins are what this environment has installed (the tested stack).
"""

import importlib.metadata as md
import re
import sys
from pathlib import Path

import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as pip vendors it
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
ENVIRONMENT = yaml.safe_load((ROOT / "environment.yml").read_text())


def _pins() -> dict[str, Requirement]:
    pins: dict[str, Requirement] = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name not in pins, f"requirements.txt pins {req.name} twice"
        pins[name] = req
    return pins


def _pinned_version(req: Requirement) -> Version:
    (spec,) = req.specifier
    assert spec.operator == "==", f"requirements.txt must pin exactly: {req}"
    return Version(spec.version)


def _python_supported_by_course_script() -> list[Version]:
    text = (ROOT / "course").read_text()
    m = re.search(r"^SUPPORTED_PYTHONS=\(([\d. ]+)\)$", text, re.MULTILINE)
    assert m, "./course no longer states its Pythons the way this test reads it"
    return [Version(v) for v in m[1].split()]


def test_environment_yml_installs_exactly_the_pins_and_the_package():
    deps = ENVIRONMENT["dependencies"]
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert pip_sections == [["-r requirements.txt", "-e ."]], (
        "environment.yml's pip section must be exactly `-r requirements.txt` and `-e .`, so "
        "requirements.txt stays the one place versions are pinned"
    )
    conda_pkgs = [d for d in deps if isinstance(d, str)]
    assert "pip" in conda_pkgs
    others = [d for d in conda_pkgs if not re.match(r"^(python|pip)\b", d)]
    assert not others, f"environment.yml installs {others} outside requirements.txt"


def test_environment_python_is_one_every_entry_point_accepts():
    (python,) = [
        d for d in ENVIRONMENT["dependencies"] if isinstance(d, str) and d.startswith("python")
    ]
    version = Version(re.fullmatch(r"python\s*=+\s*([\d.]+)", python)[1])
    requires = PYPROJECT["project"]["requires-python"]
    assert version in SpecifierSet(requires), (
        f"environment.yml's {python} is outside pyproject's requires-python {requires}"
    )
    supported = _python_supported_by_course_script()
    assert version in supported, f"./course accepts Python {supported}, environment.yml has {version}"
    assert all(v in SpecifierSet(requires) for v in supported), "./course accepts a Python pip refuses"
    listed = ", ".join(str(v) for v in supported[:-1]) + f" or {supported[-1]}"
    assert f"Python {listed}" in (ROOT / "README.md").read_text(), "README states other Pythons"
    assert f"Python {listed}" in (ROOT / "course").read_text(), "./course's help states other Pythons"
    assert f"Python {version}" in (ROOT / "requirements.txt").read_text(), (
        "requirements.txt's 'Tested on' line names another Python than environment.yml"
    )
    least = Version(re.fullmatch(r">=\s*([\d.]+)", requires)[1])
    assert PYPROJECT["tool"]["ruff"]["target-version"] == f"py{least.major}{least.minor}", (
        "ruff must check the code against the oldest Python pyproject.toml allows"
    )


def test_every_dependency_minimum_is_met_by_its_pin():
    pins = _pins()
    declared = list(PYPROJECT["project"]["dependencies"])
    declared += PYPROJECT["project"]["optional-dependencies"]["dev"]
    for text in declared:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"pyproject.toml needs {req.name}, requirements.txt does not pin it"
        pin = pins[name]
        assert str(req.marker or "") == str(pin.marker or ""), (
            f"{req.name}: pyproject and requirements.txt apply it on different platforms"
        )
        version = _pinned_version(pin)
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements.txt pins {req.name}=={version}, below pyproject's {req.specifier}"
        )


def test_this_environment_has_the_pinned_versions():
    """The tests run on the stack requirements.txt pins (what `./course setup` installs)."""
    env = default_environment()
    wrong = []
    for name, req in _pins().items():
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        want = _pinned_version(req)
        try:
            have = Version(md.version(name))
        except md.PackageNotFoundError:
            wrong.append(f"{name} is not installed (pinned {want})")
            continue
        if have != want:
            wrong.append(f"{name} {have} is installed, requirements.txt pins {want}")
    assert not wrong, "; ".join(wrong) + ". Fix: `./course setup` (reinstalls the pins)."


def test_running_python_is_supported():
    here = Version(f"{sys.version_info[0]}.{sys.version_info[1]}")
    assert here in _python_supported_by_course_script()
