import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_utils import data, paths

ROOT = Path(__file__).resolve().parent.parent
MNIST = ROOT / "datasets" / "mnist.npz"


@pytest.fixture(scope="module")
def mnist():
    return data.load_mnist()


def test_shapes_dtypes_and_known_content(mnist):
    (xtr, ytr), (xte, yte) = mnist
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28)
    assert ytr.shape == (60000,) and yte.shape == (10000,)
    assert {a.dtype for a in (xtr, ytr, xte, yte)} == {np.dtype("uint8")}
    # PROVENANCE: first labels and label counts of canonical MNIST
    assert ytr[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(ytr).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(yte).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_file_checksum_matches_readme():
    import hashlib

    digest = hashlib.sha256(MNIST.read_bytes()).hexdigest()
    assert digest == data.MNIST_FILE_SHA256
    readme = (ROOT / "datasets" / "README.md").read_text()
    assert data.MNIST_FILE_SHA256 in readme and data.MNIST_CONTENT_SHA256 in readme


def test_content_checksum_ignores_zip_container(tmp_path, mnist):
    (xtr, ytr), (xte, yte) = mnist
    other = tmp_path / "recompressed.npz"
    np.savez(other, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)  # uncompressed: other bytes
    assert other.read_bytes() != MNIST.read_bytes()
    (x2, _), _ = data.load_mnist(other)
    assert np.array_equal(x2, xtr)


def test_missing_file_names_path_and_fix(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(data.DatasetError, match="nope.npz") as exc:
        data.load_mnist(missing)
    assert "git checkout" in str(exc.value)


def test_corrupt_file_names_path_and_fix(tmp_path):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(MNIST.read_bytes()[:100_000])  # truncated download
    with pytest.raises(data.DatasetError, match="corrupt") as exc:
        data.load_mnist(bad)
    assert str(bad) in str(exc.value)


def test_altered_content_is_rejected(tmp_path, mnist):
    (xtr, ytr), (xte, yte) = mnist
    ytr = ytr.copy()
    ytr[0] = 7
    bad = tmp_path / "mnist.npz"
    np.savez_compressed(bad, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    with pytest.raises(data.DatasetError, match="canonical MNIST"):
        data.load_mnist(bad)
    (_, y_ok), _ = data.load_mnist(bad, verify=False)
    assert y_ok[0] == 7


def test_wrong_layout_is_rejected(tmp_path):
    bad = tmp_path / "other.npz"
    np.savez(bad, images=np.zeros(3))
    with pytest.raises(data.DatasetError, match="x_train"):
        data.load_mnist(bad)


def test_to_float_images_pads_to_lenet_input(mnist):
    (xtr, _), _ = mnist
    x = data.to_float_images(xtr[:4], pad=2)
    assert x.shape == (4, 32, 32, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert np.all(x[:, :2] == 0)
    with pytest.raises(ValueError, match="pad"):
        data.to_float_images(xtr[:2], pad=-1)
    with pytest.raises(ValueError, match="shape"):
        data.to_float_images(xtr[0])


def test_loads_offline_without_touching_keras_cache(tmp_path):
    """With the network cut (where unshare works) and a fresh HOME, the shipped file loads."""
    if shutil.which("unshare") is None or sys.platform != "linux":
        pytest.skip("needs Linux unshare to cut the network")
    env = dict(os.environ, HOME=str(tmp_path), KERAS_HOME=str(tmp_path / "keras"))
    code = "from course_utils import data; (x, y), _ = data.load_mnist(); print(x.shape)"
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("unshare -rn not permitted here")
    out = subprocess.run(
        ["unshare", "-rn", sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert "(60000, 28, 28)" in out.stdout
    assert not (tmp_path / "keras" / "datasets").exists()


def test_repo_root_is_found():
    assert paths.repo_root() == ROOT
    assert paths.datasets_dir() == ROOT / "datasets"
