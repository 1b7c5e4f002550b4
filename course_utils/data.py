"""The course's data: MNIST, shipped in ``datasets/mnist.npz`` and verified by checksum.

The file has Keras' npz layout (``x_train`` uint8 60000x28x28, ``y_train``, ``x_test``
10000x28x28, ``y_test``) and is verified by a SHA-256 of the *array contents*, not of the
zip container, so the copy Keras downloads verifies too. Offline first: the shipped file is
always preferred; only without a clone (e.g. Colab) does :func:`load_mnist` fall back to
``keras.datasets.mnist.load_data()``, which needs the network. The file is never copied into
``~/.keras``: offline, Keras deletes a cached file whose hash is not its own.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np

from . import paths
from .validators import integer

#: SHA-256 over the four arrays of canonical MNIST (see :func:`content_sha256`).
MNIST_CONTENT_SHA256 = "ea5cfe1ad5ccfc735e41f1af8e5702e4563f84aa5fdd5b77bd0ee0aebd7e29ca"
#: SHA-256 of the shipped file itself (documented in datasets/README.md).
MNIST_FILE_SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"
ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")

Split = tuple[np.ndarray, np.ndarray]


class DatasetError(RuntimeError):
    """The dataset file is missing or corrupt; the message names the file and the fix."""


def content_sha256(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 (hex) of the arrays' names, dtypes, shapes and bytes, in Keras' order."""
    h = hashlib.sha256()
    for name in ARRAY_NAMES:
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _fix_hint(path: Path) -> str:
    return (f"Fix: restore it from git (`git checkout -- datasets/{path.name}` in the repository), "
            "or re-clone the course repository.")  # fmt: skip


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DatasetError(f"MNIST file not found: {path}. " + _fix_hint(path))
    try:
        with np.load(path, allow_pickle=False) as f:
            if missing := [n for n in ARRAY_NAMES if n not in f.files]:
                raise DatasetError(f"{path} is not an MNIST file in Keras' layout: arrays "
                                   f"{missing} are missing. " + _fix_hint(path))
            return {n: f[n] for n in ARRAY_NAMES}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"{path} could not be read as an .npz file ({exc}); it is corrupt "
                           "or truncated. " + _fix_hint(path)) from exc


def _download_via_keras() -> dict[str, np.ndarray]:
    """Fallback without a clone: Keras' download (network needed)."""
    import keras

    try:
        (xtr, ytr), (xte, yte) = keras.datasets.mnist.load_data()
    except Exception as exc:  # no network, blocked download, ...
        raise DatasetError(
            "No local datasets/mnist.npz (this is not a clone of the course repository) and "
            f"Keras could not download MNIST ({exc}). Fix: clone the repository and run from it, "
            "or connect to the network, or pass path= to a local mnist.npz."
        ) from exc
    return {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte}


def load_mnist(path: str | Path | None = None, verify: bool = True) -> tuple[Split, Split]:
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``, all uint8: 28x28 grey images
    (0-255) and labels 0-9, 60,000 for training and 10,000 for test (LeCun, Cortes & Burges;
    licence CC BY-SA 3.0).

    ``path``: an ``.npz`` file in Keras' layout; by default ``datasets/mnist.npz`` of the
    course repository, or without a clone (Colab) Keras' download. ``verify``: check the
    contents against :data:`MNIST_CONTENT_SHA256` (about 0.1 s). Raises :class:`DatasetError`
    when the file is missing, unreadable or not canonical MNIST, naming the file and the fix.
    """
    if path is None and (datasets := paths.datasets_dir()) is None:
        arrays, source = _download_via_keras(), "Keras' MNIST download"
        fix = "Fix: delete ~/.keras/datasets/mnist.npz and retry."
    else:
        path = Path(path) if path is not None else datasets / "mnist.npz"
        arrays, source, fix = _read_npz(path), str(path), _fix_hint(path)
    digest = content_sha256(arrays) if verify else MNIST_CONTENT_SHA256
    if digest != MNIST_CONTENT_SHA256:
        raise DatasetError(f"{source} does not contain canonical MNIST (content sha256 "
                           f"{digest[:12]}..., expected {MNIST_CONTENT_SHA256[:12]}...). " + fix)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def to_float_images(x: np.ndarray, pad: int = 0) -> np.ndarray:
    """uint8 images (N, H, W) -> float32 in [0, 1] with a channel axis (N, H+2*pad, W+2*pad, 1).

    ``pad=2`` turns MNIST's 28x28 into the 32x32 input of LeNet-5 (seed 002's table:
    'In | Input | 1 | 32 x 32'), the way LeCun et al. padded the digits.
    """
    if x.ndim != 3:
        raise ValueError(f"x must have shape (N, H, W); got {x.shape}")
    pad = integer("pad", pad, 0)
    out = np.pad(x.astype(np.float32) / 255.0, ((0, 0), (pad, pad), (pad, pad)))
    return out[..., None]
