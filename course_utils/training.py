"""Training seed 002's LeNet-like model (:func:`course_utils.models.lenet_keras`) on MNIST:
trained in notebook 03; :func:`lenet_data`, :func:`compile_lenet`, :class:`EpochProgress` and
the cached model (:func:`load_or_train_lenet`) are reused by notebooks 05-07.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import keras
import numpy as np

from . import data, paths
from .models import lenet_keras
from .timing import Timer, on_device, resolve_device
from .validators import fraction, instance, integer, one_of, positive_number

#: The recipe of notebook 03, chosen on the validation set (never the test set).
EPOCHS = 5
BATCH_SIZE = 128
LEARNING_RATE = 5e-3
#: Optimizer steps per call into TensorFlow: fewer Python round trips per epoch, same results.
STEPS_PER_EXECUTION = 32
VALIDATION_SIZE = 5000
SEED = 0
#: LeNet-5's input side (seed 002 table, 'In | Input | 1 | 32 x 32'): MNIST's 28 + 2 x 2 padding.
IMAGE_SIDE = 32


@dataclass(frozen=True)
class LeNetData:
    """MNIST for LeNet: float32 images (N, 32, 32, 1) in [0, 1], uint8 labels; validation from
    the end of the training set, test = MNIST's 10,000 test digits (final accuracy only)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __repr__(self) -> str:
        return (f"LeNetData(train {len(self.y_train):,}, validation {len(self.y_val):,}, "
                f"test {len(self.y_test):,}; images {self.x_train.shape[1:]} float32)")


def _lenet_images(x: np.ndarray) -> np.ndarray:
    """MNIST's uint8 28x28 digits as LeNet's float32 32x32x1 inputs (a 2-pixel zero border)."""
    return data.to_float_images(x, pad=(IMAGE_SIDE - x.shape[1]) // 2)


def lenet_data(validation_size: int = VALIDATION_SIZE, train_size: int | None = None) -> LeNetData:
    """The shipped MNIST (:func:`course_utils.data.load_mnist`), padded to LeNet's 32x32.

    ``validation_size`` digits are held out from the *end* of the 60,000 training digits;
    ``train_size`` keeps only the first ones of the rest (small values make fast tests).
    """
    validation_size = integer("validation_size", validation_size, 0)
    (x_tr, y_tr), (x_te, y_te) = data.load_mnist()
    n_fit = len(y_tr) - validation_size
    stop = n_fit if train_size is None else integer("train_size", train_size, 1)
    if n_fit < 1 or stop > n_fit:
        raise ValueError(f"train_size={train_size} and validation_size={validation_size:,} ask "
                         f"for more than MNIST's {len(y_tr):,} training digits; pass smaller ones")
    return LeNetData(_lenet_images(x_tr[:stop]), y_tr[:stop], _lenet_images(x_tr[n_fit:]),
                     y_tr[n_fit:], _lenet_images(x_te), y_te)  # fmt: skip


class EpochProgress(keras.callbacks.Callback):
    """Keras callback, one line per epoch (``'lines'``: ``epoch 1/5  4.4 s  loss 0.2134 ...
    lr 4.52e-03``) or none (``'silent'``), never one per batch; use ``fit(verbose=0)``. Records
    ``epoch_seconds`` (wall-clock, validation included) and ``learning_rates`` (epoch ends)."""

    def __init__(self, style: str = "lines", file: IO[str] | None = None) -> None:
        super().__init__()
        self.style = one_of("style", style, ("lines", "silent"))
        self.file = file
        self.epoch_seconds: list[float] = []
        self.learning_rates: list[float] = []
        self._t0 = math.nan

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.epoch_seconds, self.learning_rates = [], []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.perf_counter() - self._t0
        lr = float(np.asarray(self.model.optimizer.learning_rate))
        self.epoch_seconds.append(seconds)
        self.learning_rates.append(lr)
        if self.style == "lines":
            logs = {k: v for k, v in (logs or {}).items() if k != "learning_rate"}
            # loss first, training metrics before validation ones
            keys = sorted(logs, key=lambda k: (k.startswith("val_"), "loss" not in k, k))
            metrics = "  ".join(f"{k} {float(logs[k]):.4f}" for k in keys)
            line = f"epoch {epoch + 1}/{self.params.get('epochs', '?')}  {seconds:.1f} s  {metrics}"
            print(f"{line}  lr {lr:.2e}", file=self.file or sys.stdout, flush=True)


@dataclass
class TrainedLeNet:
    """What :func:`train_lenet` returns: ``model`` (weights on ``settings['device']``),
    ``history`` (per epoch: Keras' ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``,
    ``epoch_seconds``, ``learning_rate``), ``train_seconds`` (wall-clock seconds of ``fit``,
    tracing and validation passes included), ``cpu_seconds`` (CPU time of this process
    meanwhile, all threads: other programs raise ``train_seconds``, not this), ``settings``.
    """

    model: Any
    history: dict[str, list[float]]
    train_seconds: float
    cpu_seconds: float
    settings: dict[str, Any] = field(default_factory=dict)


def compile_lenet(model: Any, learning_rate: float, total_steps: int,
                  steps_per_execution: int = STEPS_PER_EXECUTION,
                  jit_compile: bool = False) -> Any:  # fmt: skip
    """Compile ``model`` with the course's recipe: Adam, cosine-decayed rate, cross-entropy.

    The rate falls from ``learning_rate`` along half a cosine to 0 after ``total_steps``
    optimizer steps (Loshchilov & Hutter, SGDR, ICLR 2017). ``jit_compile=False`` runs the
    graph op by op without XLA on every device (Keras' default ``'auto'`` turns XLA on
    whenever a GPU is visible, and CPU and GPU timings would no longer compare).
    """
    rate = positive_number("learning_rate", learning_rate)
    schedule = keras.optimizers.schedules.CosineDecay(rate, integer("total_steps", total_steps, 1))
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=bool(jit_compile),
                  steps_per_execution=integer("steps_per_execution", steps_per_execution, 1))
    return model


def train_lenet(epochs: int = EPOCHS, batch_size: int = BATCH_SIZE,
                learning_rate: float = LEARNING_RATE, data_split: LeNetData | None = None,
                seed: int = SEED, progress: str | None = "lines",
                device: str = "cpu") -> TrainedLeNet:  # fmt: skip
    """Train seed 002's LeNet-like model (:func:`course_utils.models.lenet_keras`) on MNIST.

    Built, compiled and trained inside ``timing.on_device(device)`` (weights and work on the
    device named: 'cpu', 'gpu', ...), XLA off. ``learning_rate`` is Adam's initial rate
    (:func:`compile_lenet`); ``data_split`` defaults to :func:`lenet_data`; ``seed`` seeds
    Python, NumPy and TensorFlow (with oneDNN on, reruns can still differ by a digit or two);
    ``progress`` is ``'lines'`` or None; a missing GPU raises ``timing.GPUUnavailableError``.
    """
    epochs, batch_size = integer("epochs", epochs, 1), integer("batch_size", batch_size, 1)
    seed = integer("seed", seed, 0)
    one_of("progress", progress, ("lines", None))
    split = data_split if data_split is not None else lenet_data()
    instance("data_split", split, LeNetData, "LeNetData from lenet_data()")
    placement = resolve_device(device)
    watcher = EpochProgress(progress or "silent")
    with on_device(placement):
        keras.utils.set_random_seed(seed)
        model = lenet_keras()
        steps = math.ceil(len(split.y_train) / batch_size) * epochs
        compile_lenet(model, learning_rate, steps)
        cpu0 = time.process_time()
        with Timer() as timer:
            validation = (split.x_val, split.y_val) if len(split.y_val) else None
            fit = model.fit(split.x_train, split.y_train, batch_size, epochs, verbose=0,
                            callbacks=[watcher], validation_data=validation)  # fmt: skip
        cpu_seconds = time.process_time() - cpu0
    history = {k: [float(v) for v in vs] for k, vs in fit.history.items() if k != "learning_rate"}
    history["epoch_seconds"] = list(watcher.epoch_seconds)
    history["learning_rate"] = list(watcher.learning_rates)
    settings = dict(
        epochs=epochs, batch_size=batch_size, learning_rate=float(learning_rate),
        schedule="cosine decay to 0", optimizer="Adam", train_size=len(split.y_train),
        validation_size=len(split.y_val), seed=seed, device=placement, jit_compile=False,
    )  # fmt: skip
    return TrainedLeNet(model, history, timer.seconds, cpu_seconds, settings)


def default_model_path() -> Path:
    """``artifacts/models/lenet_keras.keras``: the trained LeNet notebooks 06 and 07 reuse."""
    return paths.artifacts_dir("models") / "lenet_keras.keras"


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (no absolute paths in outputs)."""
    root, full = paths.repo_root(), path.resolve()
    return str(full.relative_to(root)) if root and full.is_relative_to(root) else str(path)


def save_lenet(model: Any, path: str | Path | None = None) -> Path:
    """Save ``model`` as ``.keras`` (weights, architecture, optimizer state); returns the path.
    Writes a temporary file next to ``path`` and renames it: no reader sees half a model."""
    path = Path(path) if path is not None else default_model_path()
    if path.suffix != ".keras":
        raise ValueError(f"path must end in '.keras' (Keras 3's format), got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _problem_with(model: Any, min_accuracy: float, check_size: int) -> str | None:
    """Why a loaded model cannot serve as the course's LeNet, or None when it can."""
    in_shape, out_shape = tuple(model.input_shape), tuple(model.output_shape)
    if in_shape[1:] != (IMAGE_SIDE, IMAGE_SIDE, 1) or out_shape[1:] != (10,):
        return f"it maps {in_shape} -> {out_shape}, not 32x32x1 digits -> 10 classes"
    params, expected = int(model.count_params()), int(lenet_keras().count_params())
    if params != expected:
        return f"it has {params:,} parameters, not LeNet-like's {expected:,}"
    if min_accuracy > 0:
        (_, _), (x_te, y_te) = data.load_mnist()
        x = _lenet_images(x_te[:check_size])
        acc = float(np.mean(model.predict(x, 1000, verbose=0).argmax(1) == y_te[:check_size]))
        if acc < min_accuracy:
            return (f"its accuracy on the first {check_size:,} test digits is {acc:.3f} "
                    f"< min_accuracy={min_accuracy}")
    return None


def load_or_train_lenet(path: str | Path | None = None, min_accuracy: float = 0.98,
                        check_size: int = 1000, retrain: bool = False,
                        **train_kwargs: Any) -> Any:  # fmt: skip
    """The trained seed-002 LeNet: loaded from ``path`` if usable, else trained and saved.

    The file at ``path`` (default :func:`default_model_path`) is used when it loads, has
    LeNet-like's shape (32x32x1 -> 10, 81,194 parameters) and classifies the first
    ``check_size`` test digits with at least ``min_accuracy`` (0 skips this check). Otherwise,
    or with ``retrain=True``, :func:`train_lenet` (given ``train_kwargs``; on the CPU by
    default) retrains and saves it. One line says which happened and why.
    """
    path = Path(path) if path is not None else default_model_path()
    min_accuracy = fraction("min_accuracy", min_accuracy)
    check_size = integer("check_size", check_size, 1)
    if retrain:
        reason = "retrain=True"
    elif not path.is_file():
        reason = "there is no cached model yet"
    else:
        try:
            model = keras.saving.load_model(path)
        except Exception as exc:  # a corrupt file raises many kinds of errors
            reason = f"it could not be loaded ({type(exc).__name__}: {str(exc)[:120]})"
        else:
            reason = _problem_with(model, min_accuracy, check_size)
            if reason is None:
                print(f"Loaded the trained LeNet from {_shown(path)}.")
                return model
    print(f"Training LeNet because {reason} ({_shown(path)}) ...", flush=True)
    trained = train_lenet(**train_kwargs)
    save_lenet(trained.model, path)
    print(f"Trained in {trained.train_seconds:.1f} s and saved to {_shown(path)}.")
    problem = _problem_with(trained.model, min_accuracy, check_size) if min_accuracy else None
    if problem:
        warnings.warn(f"the retrained LeNet is below min_accuracy={min_accuracy} ({problem}); "
                      "check train_kwargs (epochs, learning_rate)", stacklevel=2)  # fmt: skip
    return trained.model
