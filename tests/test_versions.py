"""course_utils.versions on this machine and playing an older Keras (Colab's may predate the APIs)."""

import json
import re
import sys
import types
from pathlib import Path

import keras
import pytest
from packaging.version import Version

from course_utils import versions

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def keras_installed_as(monkeypatch):
    """Make the package metadata report another Keras version than the one imported."""

    def report(version: str) -> None:
        real = versions.md.version
        monkeypatch.setattr(
            versions.md, "version", lambda name: version if name == "keras" else real(name)
        )

    return report


@pytest.fixture
def old_keras(monkeypatch):
    """Replace the imported Keras with a 3.11-like module: Model.quantize, no distillation."""
    module = types.ModuleType("keras")
    module.__version__ = "3.11.3"
    module.Model = keras.Model
    monkeypatch.setitem(sys.modules, "keras", module)
    return module


def test_every_minimum_and_api_is_met_here():
    assert set(versions.check()) == set(versions.MINIMUM)
    assert versions.missing_apis() == []
    versions.check_apis()


def test_an_older_keras_install_is_named_with_the_pip_command(keras_installed_as):
    keras_installed_as("3.11.3")
    with pytest.raises(RuntimeError) as exc:
        versions.check()
    message = str(exc.value)
    assert message.startswith("keras 3.11.3 is too old (need >= 3.12).")
    assert '%pip install -U "keras>=3.12"' in message
    assert "Runtime > Restart session" in message and "./course setup" in message


def test_a_missing_package_is_named():
    with pytest.raises(RuntimeError, match=r"surely-not-a-package-xyz is not installed.*>=1\.0"):
        versions.check({"surely-not-a-package-xyz": "1.0"})


#: An API reached through a class, which 3.11 has (notebook 06 once called it).
QUANTIZE = versions.Api("keras", "Model.quantize", "3.2", "notebook 06")


def test_an_imported_keras_without_distillation_is_caught(old_keras, keras_installed_as):
    keras_installed_as("3.11.3")  # Colab's preinstalled Keras, imported and installed alike
    problems = versions.missing_apis()
    assert len(problems) == 2, problems
    assert problems[0] == (
        "keras 3.11.3 has no keras.distillation.Distiller, which notebook 07 (knowledge "
        "distillation) calls (new in keras 3.12)"
    )
    with pytest.raises(RuntimeError) as exc:
        versions.check_apis((*versions.APIS, QUANTIZE))
    message = str(exc.value)
    assert message.count('"keras>=3.12"') == 1 and "restart the kernel" in message
    assert "Model.quantize" not in message  # 3.11 has it


def test_keras_upgraded_after_import_says_restart(old_keras, keras_installed_as):
    """Colab: pip upgraded Keras, but the kernel still holds the preinstalled one."""
    keras_installed_as("3.15.1")
    problems = versions.missing_apis()
    assert "keras 3.15.1 is installed, but this kernel imported 3.11.3 before" in problems[0]
    assert problems[0].endswith("restart the kernel")


def test_a_keras_before_model_quantize_is_caught(old_keras):
    del old_keras.Model
    old_keras.__version__ = "3.1.1"
    problems = versions.missing_apis((*versions.APIS, QUANTIZE))
    assert any("keras.Model.quantize, which notebook 06" in p for p in problems), problems


def test_apis_are_the_ones_the_course_calls():
    """Each listed API is called somewhere in course_utils or the notebooks."""
    sources = [p.read_text() for p in (ROOT / "course_utils").rglob("*.py")]
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(notebook.read_text())["cells"]
        sources += ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    text = "\n".join(sources)
    for api in versions.APIS:
        name = api.path.split(".")[-1]
        pattern = rf'\.{name}\("' if api.path.startswith("Model.") else rf"\b{re.escape(api.path)}\("
        assert re.search(pattern, text), f"nothing calls {api.package}.{api.path}"


def test_minimums_cover_every_api():
    for api in versions.APIS:
        least = versions.MINIMUM[api.package]
        assert Version(least) >= Version(api.since), (
            f"MINIMUM lets {api.package} {least} through, which lacks {api.path}"
        )
