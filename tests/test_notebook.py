"""The setup cell's ``nb.setup()`` as other machines meet it, played on this CPU-only one.

A GPU runtime (TensorFlow lists a GPU), a runtime without one, Colab (``COLAB_RELEASE_TAG``),
a Colab runtime without the course's repository, and an older Keras: each branch's choice and
what it prints or warns.
"""

import sys
import types
import warnings
from pathlib import Path

import keras
import pytest

from course_utils import notebook, paths, results, versions
from course_utils.data import DatasetError, load_mnist

ROOT = Path(__file__).resolve().parent.parent


def _machine(gpus: list[str]):
    def machine_info():
        return {"cpu": "Test CPU", "logical_cpus": 2, "gpus": gpus}

    return machine_info


@pytest.fixture
def colab(monkeypatch):
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-test")


@pytest.fixture
def no_repository(monkeypatch, tmp_path):
    """course_utils as a wheel in site-packages, installed from a URL, run from a bare folder."""
    site = tmp_path / "site-packages" / "course_utils"
    site.mkdir(parents=True)
    monkeypatch.setattr(paths, "__file__", str(site / "paths.py"))
    monkeypatch.setattr(paths, "installed_from", lambda: None)
    monkeypatch.delenv("COURSE_ROOT", raising=False)
    work = tmp_path / "content"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _shipped_mnist():
    return load_mnist(ROOT / "datasets" / "mnist.npz")


def _setup(capsys, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = notebook.setup(**kwargs)
    out = capsys.readouterr().out
    return info, out, [str(w.message) for w in caught if w.category is UserWarning]


def test_gpu_runtime_on_colab_names_the_gpu_and_does_not_warn(monkeypatch, capsys, colab):
    monkeypatch.setattr(results, "machine_info", _machine(["Tesla T4"]))
    info, out, warned = _setup(capsys, need_gpu=True)
    assert info["gpus"] == ["Tesla T4"] and info["colab"] is True
    assert "GPU: Tesla T4" in out and "Running on Colab." in out
    assert not [w for w in warned if "GPU" in w], warned


def test_cpu_runtime_on_colab_warns_how_to_pick_a_gpu(monkeypatch, capsys, colab):
    monkeypatch.setattr(results, "machine_info", _machine([]))
    info, out, warned = _setup(capsys, colab_gpu=True)  # optional GPU parts: Colab offers one
    assert "GPU: none visible to TensorFlow" in out
    (gpu,) = [w for w in warned if "No GPU found" in w]
    assert "Runtime > Change runtime type > GPU" in gpu


def test_cpu_runtime_on_colab_stays_quiet_for_a_cpu_notebook(monkeypatch, capsys, colab):
    monkeypatch.setattr(results, "machine_info", _machine([]))
    _, out, warned = _setup(capsys)  # a notebook about the CPU has no GPU parts to offer
    assert "Running on Colab." in out
    assert not [w for w in warned if "No GPU found" in w], warned


def test_cpu_machine_warns_only_where_the_notebook_has_gpu_parts(monkeypatch, capsys):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.setattr(results, "machine_info", _machine([]))
    _, out, warned = _setup(capsys)
    assert warned == [] and "Running on Colab" not in out
    _, _, warned = _setup(capsys, need_gpu=True)
    (gpu,) = warned
    assert "fall back to the CPU" in gpu and "pip install -e .[gpu]" in gpu


def test_prints_versions_and_device(monkeypatch, capsys):
    monkeypatch.setattr(results, "machine_info", _machine(["NVIDIA H100"]))
    info, out, _ = _setup(capsys)
    first = out.splitlines()[0]
    assert first.startswith("Python ") and f"keras {keras.__version__}" in first
    assert "CPU: Test CPU (2 logical CPUs)" in out
    assert info["root"] == ROOT and set(info["versions"]) == set(versions.MINIMUM)
    _, quiet_out, _ = _setup(capsys, quiet=True)
    assert quiet_out == ""


def test_colab_without_the_repository_warns_what_is_missing(
    monkeypatch, capsys, colab, no_repository
):
    monkeypatch.setattr(results, "machine_info", _machine(["Tesla T4"]))
    info, _, warned = _setup(capsys)
    assert info["root"] is None
    (missing,) = warned
    assert "No clone of the course found" in missing and "Keras' download" in missing
    assert f"git clone --depth 1 {notebook.REPO_URL}" in missing
    assert paths.datasets_dir() is None
    assert paths.artifacts_dir() == no_repository.resolve() / "artifacts"


def test_colab_without_the_repository_gets_mnist_from_keras(monkeypatch, no_repository):
    """No shipped file: Keras' download is used and verified; offline, the error says what to do."""
    shipped = _shipped_mnist()
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: shipped)
    (x, y), (xt, yt) = load_mnist()
    assert x.shape == (60000, 28, 28) and yt.shape == (10000,)

    def offline():
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DatasetError, match="No local datasets/mnist.npz") as exc:
        load_mnist()
    assert "connect to the network" in str(exc.value) and "path=" in str(exc.value)


def test_colab_with_the_clone_installed_from_finds_it(monkeypatch, no_repository):
    """The setup cell's `pip install ./dl-meets-hardware`: pip records the folder; it is the root."""
    clone = no_repository / "dl-meets-hardware"
    (clone / "datasets").mkdir(parents=True)
    (clone / "course_utils").mkdir()
    monkeypatch.setattr(paths, "installed_from", lambda: clone)
    assert paths.repo_root() == clone.resolve()
    assert paths.datasets_dir() == clone.resolve() / "datasets"


def test_an_older_keras_stops_setup_with_the_fix(monkeypatch, capsys):
    old = types.ModuleType("keras")
    old.__version__ = "3.11.3"
    old.Model = keras.Model
    monkeypatch.setitem(sys.modules, "keras", old)
    real = versions.md.version
    monkeypatch.setattr(versions.md, "version", lambda n: "3.11.3" if n == "keras" else real(n))
    with pytest.raises(RuntimeError, match=r"keras 3\.11\.3 is too old \(need >= 3\.12\)"):
        notebook.setup(quiet=True)
    monkeypatch.setattr(versions.md, "version", real)  # installed new, imported old
    with pytest.raises(RuntimeError, match="keras.distillation.Distiller.*restart the kernel"):
        notebook.setup(quiet=True)
    assert capsys.readouterr().out == ""
