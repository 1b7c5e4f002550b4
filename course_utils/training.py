"""Training the seed's LeNet on MNIST: the recipe, a quiet progress display, a cached model.

Seed 002 ('A LeNET-5 Like Architecture', 'The LeNET-5 Architecture on MNIST') builds a
81,194-parameter LeNet-like Keras model (:func:`course_utils.models.lenet_keras`) for the
MNIST digits. This module trains it the way notebook 03 explains:

* data: the shipped MNIST padded to 32x32 (LeNet-5's input), the **validation set taken
  from the training set** (its last 5,000 digits, as Keras' ``validation_split`` does);
  the 10,000 test digits are never looked at while training (:func:`lenet_data`);
* recipe: Adam, learning rate decayed to zero along a cosine over all steps, batch 128,
  a fixed seed (:func:`train_lenet`);
* progress: one line per epoch or one bar for the whole run, never a line per batch
  (:class:`EpochProgress`), so committed notebook outputs stay short;
* cache: :func:`load_or_train_lenet` gives notebooks 6 and 7 the trained model from
  ``artifacts/models/lenet_keras.keras``, retraining it when it is missing or unusable.

The figures notebook 03 draws from a trained classifier (learning curves, confusion
matrix, misclassified digits) are here too, so later notebooks can draw the same
pictures for their compressed models.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from . import data, paths
from .timing import Timer
from .validators import integer

#: The recipe notebook 03 uses. Chosen on the validation set; on the course's 2-core CPU it
#: reached 99.12-99.23 % test accuracy for seeds 0, 1, 2 in under 30 s of training (6 epochs
#: at 3e-3: 99.00-99.17 %; a constant 1e-3: 98.4 %). Change it through :func:`train_lenet`.
EPOCHS = 5
BATCH_SIZE = 128
LEARNING_RATE = 5e-3
#: Optimizer steps per call into TensorFlow: fewer Python round trips per epoch (cut the CPU
#: time of a LeNet epoch by about a fifth on the course machine); results are unchanged.
STEPS_PER_EXECUTION = 32
VALIDATION_SIZE = 5000
SEED = 0
#: LeNet-5's input side (seed 002 table, 'In | Input | 1 | 32 x 32'): MNIST's 28 + 2 x 2 padding.
IMAGE_SIDE = 32
MODEL_FILENAME = "lenet_keras.keras"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class LeNetData:
    """MNIST split for training LeNet: float32 images (N, 32, 32, 1) in [0, 1], uint8 labels.

    ``x_val``/``y_val`` come from the end of the training set; ``x_test``/``y_test`` are
    MNIST's separate 10,000 test digits, used only to report the final accuracy.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __repr__(self) -> str:
        return (
            f"LeNetData(train {len(self.y_train):,}, validation {len(self.y_val):,}, "
            f"test {len(self.y_test):,}; images {self.x_train.shape[1:]} float32)"
        )


def lenet_data(
    validation_size: int = VALIDATION_SIZE,
    train_size: int | None = None,
    mnist_path: str | Path | None = None,
) -> LeNetData:
    """The shipped MNIST (:func:`course_utils.data.load_mnist`), padded to LeNet's 32x32.

    Args:
        validation_size: digits held out from the *end* of the 60,000 training digits to
            watch over-fitting while training (never the test set).
        train_size: use only the first ``train_size`` of the remaining training digits
            (small values make fast tests); default all of them.
        mnist_path: another ``.npz`` in Keras' layout (default the shipped file).
    """
    validation_size = integer("validation_size", validation_size, 0)
    (x_tr, y_tr), (x_te, y_te) = data.load_mnist(mnist_path)
    n_fit = len(y_tr) - validation_size
    if n_fit < 1:
        raise ValueError(
            f"validation_size={validation_size} leaves no training digits (there are {len(y_tr):,})"
        )
    if train_size is not None:
        train_size = integer("train_size", train_size, 1)
        if train_size > n_fit:
            raise ValueError(
                f"train_size={train_size:,} is more than the {n_fit:,} training digits left "
                f"after holding out validation_size={validation_size:,}; pass a smaller one or None"
            )
    stop = n_fit if train_size is None else train_size
    pad = (IMAGE_SIDE - x_tr.shape[1]) // 2
    return LeNetData(
        x_train=data.to_float_images(x_tr[:stop], pad=pad),
        y_train=y_tr[:stop],
        x_val=data.to_float_images(x_tr[n_fit:], pad=pad),
        y_val=y_tr[n_fit:],
        x_test=data.to_float_images(x_te, pad=pad),
        y_test=y_te,
    )


# --------------------------------------------------------------------------- progress


def _format_logs(logs: dict[str, Any]) -> str:
    """``loss 0.1234  accuracy 0.9650  val_loss ...``: training metrics first, loss first."""

    def order(key: str) -> tuple[bool, bool, str]:
        base = key.removeprefix("val_")
        return (key.startswith("val_"), base != "loss", base)

    keys = sorted((k for k in logs if k != "learning_rate"), key=order)
    return "  ".join(f"{k} {float(logs[k]):.4f}" for k in keys)


def _keras_callback_base() -> type:
    import keras

    return keras.callbacks.Callback


class EpochProgress(_keras_callback_base()):  # type: ignore[misc]
    """A Keras callback that reports once per epoch, never per batch.

    ``style='lines'`` prints one line per epoch (plain text: reads well in a committed
    notebook and in a terminal)::

        epoch 1/6  4.4 s  loss 0.3518  accuracy 0.8936  val_loss 0.0894  val_accuracy 0.9732  lr 2.79e-03

    ``style='bar'`` shows one ``tqdm.auto`` bar over the epochs with the latest metrics;
    ``style='silent'`` shows nothing. Every style records ``epoch_seconds`` and ``learning_rates`` (the rate in force at
    the end of each epoch). Use it with ``model.fit(..., verbose=0)``.
    """

    STYLES = ("lines", "bar", "silent")

    def __init__(self, style: str = "lines", file: IO[str] | None = None) -> None:
        super().__init__()
        if style not in self.STYLES:
            raise ValueError(f"style={style!r} is not one of {self.STYLES}")
        self.style = style
        self.file = file
        self.epoch_seconds: list[float] = []
        self.learning_rates: list[float] = []
        self._bar: Any = None
        self._t0 = math.nan

    def _current_lr(self) -> float:
        try:
            return float(np.asarray(self.model.optimizer.learning_rate))
        except (AttributeError, TypeError, ValueError):
            return math.nan

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.epoch_seconds, self.learning_rates = [], []
        if self.style == "bar":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.params.get("epochs"), unit="epoch", file=self.file)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.perf_counter() - self._t0
        lr = self._current_lr()
        self.epoch_seconds.append(seconds)
        self.learning_rates.append(lr)
        metrics = _format_logs(logs or {})
        if self._bar is not None:
            self._bar.set_postfix_str(metrics, refresh=False)
            self._bar.update(1)
        elif self.style == "lines":
            line = f"epoch {epoch + 1}/{self.params.get('epochs', '?')}  {seconds:.1f} s  {metrics}"
            if math.isfinite(lr):
                line += f"  lr {lr:.2e}"
            print(line, file=self.file or sys.stdout, flush=True)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


# --------------------------------------------------------------------------- training


@dataclass
class TrainedLeNet:
    """What :func:`train_lenet` returns.

    Attributes:
        model: the trained, compiled Keras model.
        history: per-epoch ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` (from
            Keras), plus ``epoch_seconds`` and ``learning_rate`` (end of each epoch).
        train_seconds: wall-clock seconds of ``model.fit`` (all epochs, including the
            first call's graph tracing and the per-epoch validation; not data loading).
        cpu_seconds: CPU time this process used meanwhile, summed over all its threads
            (more than ``train_seconds`` when several cores work; a busy machine raises
            ``train_seconds`` much more than ``cpu_seconds``).
        settings: the recipe (epochs, batch size, learning rate, sizes, seed).
    """

    model: Any
    history: dict[str, list[float]]
    train_seconds: float
    cpu_seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    def __iter__(self):  # model, history, train_seconds = train_lenet(...)
        return iter((self.model, self.history, self.train_seconds))

    def __repr__(self) -> str:
        last = {k: v[-1] for k, v in self.history.items() if v}
        acc = last.get("val_accuracy", math.nan)
        return (
            f"TrainedLeNet({self.settings.get('epochs')} epochs in {self.train_seconds:.1f} s, "
            f"val_accuracy {acc:.4f})"
        )


def compile_lenet(
    model: Any,
    learning_rate: float,
    total_steps: int,
    steps_per_execution: int = STEPS_PER_EXECUTION,
) -> Any:
    """Compile ``model`` with the course's recipe: Adam, cosine-decayed learning rate.

    The rate starts at ``learning_rate`` and falls along half a cosine to 0 after
    ``total_steps`` optimizer steps (Loshchilov & Hutter, SGDR, ICLR 2017): large steps
    early to learn fast, small ones late to settle. Loss: sparse categorical
    cross-entropy on the softmax output; metric: accuracy. ``steps_per_execution``
    optimizer steps run per call into TensorFlow (less per-step overhead).
    """
    import keras

    if not (isinstance(learning_rate, int | float) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    total_steps = integer("total_steps", total_steps, 1)
    steps_per_execution = integer("steps_per_execution", steps_per_execution, 1)
    schedule = keras.optimizers.schedules.CosineDecay(float(learning_rate), total_steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def train_lenet(
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    learning_rate: float = LEARNING_RATE,
    data_split: LeNetData | None = None,
    validation_size: int = VALIDATION_SIZE,
    train_size: int | None = None,
    seed: int = SEED,
    progress: str | None = "lines",
) -> TrainedLeNet:
    """Train the seed-002 LeNet-like model (:func:`course_utils.models.lenet_keras`) on MNIST.

    Args:
        epochs: passes over the training digits.
        batch_size: digits per optimizer step.
        learning_rate: Adam's initial rate, decayed along a cosine (:func:`compile_lenet`).
        data_split: a :class:`LeNetData` you already loaded; default :func:`lenet_data`
            with ``validation_size`` and ``train_size``.
        validation_size, train_size: see :func:`lenet_data` (ignored with ``data_split``).
        seed: seeds Python, NumPy and TensorFlow (weights, shuffling). With oneDNN on,
            reruns can still differ in the last bits (and so by a digit or two).
        progress: ``'lines'`` (one line per epoch), ``'bar'`` (one tqdm bar) or None.

    Returns a :class:`TrainedLeNet` (unpacks as ``model, history, train_seconds``).
    """
    import keras

    from .models import lenet_keras

    epochs = integer("epochs", epochs, 1)
    batch_size = integer("batch_size", batch_size, 1)
    seed = integer("seed", seed, 0)
    if progress is not None and progress not in ("lines", "bar"):
        raise ValueError(f"progress={progress!r} is not one of 'lines', 'bar' or None")
    split = data_split if data_split is not None else lenet_data(validation_size, train_size)
    if not isinstance(split, LeNetData):
        raise TypeError(
            f"data_split must be a LeNetData from lenet_data(), got {type(split).__name__}"
        )

    keras.utils.set_random_seed(seed)
    model = lenet_keras()
    steps_per_epoch = math.ceil(len(split.y_train) / batch_size)
    compile_lenet(model, learning_rate, steps_per_epoch * epochs)
    watcher = EpochProgress(progress or "silent")
    validation = (split.x_val, split.y_val) if len(split.y_val) else None
    cpu0 = time.process_time()
    with Timer() as timer:
        fit = model.fit(
            split.x_train,
            split.y_train,
            batch_size=batch_size,
            epochs=epochs,
            validation_data=validation,
            shuffle=True,
            verbose=0,
            callbacks=[watcher],
        )
    cpu_seconds = time.process_time() - cpu0
    history = {k: [float(v) for v in vs] for k, vs in fit.history.items() if k != "learning_rate"}
    history["epoch_seconds"] = list(watcher.epoch_seconds)
    history["learning_rate"] = list(watcher.learning_rates)
    settings = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": float(learning_rate),
        "schedule": "cosine decay to 0",
        "optimizer": "Adam",
        "train_size": int(len(split.y_train)),
        "validation_size": int(len(split.y_val)),
        "seed": seed,
    }
    return TrainedLeNet(model, history, timer.seconds, cpu_seconds, settings)


# --------------------------------------------------------------------------- the cached model


def default_model_path() -> Path:
    """``artifacts/models/lenet_keras.keras``: the trained LeNet notebooks 6 and 7 reuse."""
    return paths.artifacts_dir("models") / MODEL_FILENAME


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (no absolute paths in outputs)."""
    root = paths.repo_root()
    try:
        return str(path.resolve().relative_to(root)) if root else str(path)
    except ValueError:
        return str(path)


def save_lenet(model: Any, path: str | Path | None = None) -> Path:
    """Save ``model`` as a ``.keras`` file (weights, architecture, optimizer state).

    Writes a temporary file next to ``path`` and renames it, so a reader never sees a
    half-written model. Returns the path written.
    """
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


def _expected_params() -> int:
    from .models import lenet_keras

    return int(lenet_keras().count_params())


def _problem_with(model: Any, min_accuracy: float, check_size: int) -> str | None:
    """Why a loaded model cannot serve as the course's LeNet, or None when it can."""
    in_shape = tuple(model.input_shape)
    out_shape = tuple(model.output_shape)
    if in_shape[1:] != (IMAGE_SIDE, IMAGE_SIDE, 1) or out_shape[1:] != (10,):
        return f"it maps {in_shape} -> {out_shape}, not 32x32x1 digits -> 10 classes"
    params, expected = int(model.count_params()), _expected_params()
    if params != expected:
        return f"it has {params:,} parameters, not LeNet-like's {expected:,}"
    if min_accuracy > 0:
        (_, _), (x_te, y_te) = data.load_mnist()
        pad = (IMAGE_SIDE - x_te.shape[1]) // 2
        x = data.to_float_images(x_te[:check_size], pad=pad)
        pred = np.argmax(model.predict(x, batch_size=1000, verbose=0), axis=1)
        acc = float(np.mean(pred == y_te[:check_size]))
        if acc < min_accuracy:
            return (
                f"its accuracy on the first {check_size:,} test digits is {acc:.3f} "
                f"< min_accuracy={min_accuracy}"
            )
    return None


def load_or_train_lenet(
    path: str | Path | None = None,
    min_accuracy: float = 0.98,
    check_size: int = 1000,
    retrain: bool = False,
    **train_kwargs: Any,
) -> Any:
    """The trained seed-002 LeNet: loaded from ``path`` if usable, else trained and saved.

    Notebook 03 trains and saves the model; notebooks 6 and 7 call this to reuse it. The
    cached file is used when it loads, has LeNet-like's shape (32x32x1 -> 10, 81,194
    parameters) and classifies the first ``check_size`` test digits with at least
    ``min_accuracy`` (0 skips this check). Otherwise (missing, corrupt, another model,
    badly trained) the model is retrained with :func:`train_lenet` (``train_kwargs`` go
    there; about 30 s on 2 CPU cores with the defaults) and saved to ``path``. One line
    says which happened and why.

    Args:
        path: default ``artifacts/models/lenet_keras.keras`` (:func:`default_model_path`).
        retrain: train and overwrite even when the cached model is fine.

    Returns the compiled Keras model.
    """
    import keras

    path = Path(path) if path is not None else default_model_path()
    if not 0 <= min_accuracy <= 1:
        raise ValueError(f"min_accuracy must be a fraction in [0, 1], got {min_accuracy!r}")
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
    if min_accuracy > 0 and _problem_with(trained.model, min_accuracy, check_size):
        import warnings

        warnings.warn(
            f"the retrained LeNet is below min_accuracy={min_accuracy} "
            f"({_problem_with(trained.model, min_accuracy, check_size)}); "
            "check train_kwargs (epochs, learning_rate)",
            stacklevel=2,
        )
    return trained.model


# --------------------------------------------------------------------------- looking at the results


def plot_learning_curves(history: dict[str, Sequence[float]]) -> Any:
    """Loss and accuracy per epoch, training vs validation, side by side; returns the figure.

    Training metrics are averaged over each epoch while the weights still change; the
    validation ones are measured at its end. A validation curve that turns up while
    the training curve keeps falling is over-fitting.
    """
    import matplotlib.pyplot as plt

    if "loss" not in history:
        raise ValueError(
            "history needs at least 'loss' (pass TrainedLeNet.history or fit().history)"
        )
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, metric, label in zip(
        axes, ("loss", "accuracy"), ("cross-entropy loss", "accuracy"), strict=True
    ):
        for prefix, name, style in (("", "training", "-o"), ("val_", "validation", "-s")):
            if prefix + metric in history:
                ax.plot(epochs, history[prefix + metric], style, label=name, ms=4)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_xticks(epochs)
        ax.legend()
    axes[0].set_yscale("log")
    axes[0].set_title("Loss (log scale)")
    axes[1].set_title("Accuracy")
    fig.tight_layout()
    return fig


def plot_confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, classes: int = 10, title: str = ""
) -> Any:
    """Counts of (true digit, predicted digit) as an annotated heat map; returns the figure.

    The diagonal holds the correct answers (blue numbers, uncoloured) so that the colour
    scale shows the errors only; empty cells are left white.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.shape} vs {y_pred.shape}")
    cm = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(cm, (y_true.astype(int), y_pred.astype(int)), 1)
    errors = np.where(np.eye(classes, dtype=bool), np.nan, cm.astype(float))
    errors[errors == 0] = np.nan
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    vmax = float(np.nanmax(errors)) if np.isfinite(errors).any() else 1.0
    image = ax.imshow(errors, cmap="Oranges", vmin=0, vmax=max(vmax, 1.0))
    for i in range(classes):
        for j in range(classes):
            if cm[i, j]:
                ax.text(
                    j,
                    i,
                    str(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="#0072B2" if i == j else ("white" if cm[i, j] > 0.6 * vmax else "black"),
                    fontweight="bold" if i == j else None,
                )
    ax.set_xticks(range(classes))
    ax.set_yticks(range(classes))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.grid(False)
    n_errors = int(cm.sum() - np.trace(cm))
    ax.set_title(
        title or f"Confusion matrix ({n_errors} error{'s' * (n_errors != 1)} of {int(cm.sum()):,})"
    )
    bar = fig.colorbar(image, ax=ax, label="errors (count)")
    bar.locator = MaxNLocator(integer=True)
    bar.update_ticks()
    fig.tight_layout()
    return fig


def plot_digits(
    images: np.ndarray, titles: Sequence[str], columns: int = 8, title: str = ""
) -> Any:
    """A grid of grey digit images (N, H, W) or (N, H, W, 1), each with a short title."""
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"images must be a non-empty (N, H, W) array, got shape {images.shape}")
    if len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    columns = integer("columns", columns, 1)
    rows = math.ceil(len(images) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.25 * columns, 1.45 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, text in zip(axes.ravel(), images, titles, strict=False):
        ax.imshow(img, cmap="gray_r")
        ax.set_title(text, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
