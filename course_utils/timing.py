"""Latency and throughput, measured properly (seed 000, 'Metrics': latency, throughput).

Latency is the time one request takes, throughput the work done per second
(seed 000; seed 004, 'batch vs latency'). Measuring either takes four habits,
all built into :func:`measure_latency`:

1. **Warm up** first: the first calls pay for tracing, memory allocation and
   cold caches, and are not what a user of a running system sees.
2. **Repeat** and report the **median** and the tail (p90, p99), not one number:
   a busy machine adds noise, mostly in one direction (slower).
3. **Materialise** the result inside the timed region (:func:`materialize`):
   on a GPU, TensorFlow returns before the work is done; ``.numpy()`` waits.
4. Time the **fast path**: ``model(x)`` in eager mode runs Python for every
   layer; a ``tf.function`` runs one graph. On the course's 2-core test machine
   MobileNet at batch 1 took 110 ms eager, 67 ms with ``predict``, 19.6 ms with
   ``predict_on_batch`` and 15.6 ms as a ``tf.function``
   (see :func:`measure_model_latency`).

Devices are named as TensorFlow names them (``'/CPU:0'``, ``'/GPU:0'``); asking
for a GPU where TensorFlow sees none raises :class:`GPUUnavailableError`, or,
with ``fallback=True``, warns and uses the CPU.
"""

from __future__ import annotations

import math
import re
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CPU = "/CPU:0"
METHODS = ("function", "predict_on_batch", "predict", "eager")


# --------------------------------------------------------------------------- timers


class Timer:
    """Wall-clock timer for a ``with`` block, using :func:`time.perf_counter`.

    >>> with Timer() as t:
    ...     _ = sum(range(1000))
    >>> t.seconds > 0
    True

    ``sync`` (optional) is called at the end of the block, *before* the clock
    stops, e.g. to wait for a GPU. ``seconds`` is ``nan`` until the block ends.
    """

    def __init__(self, sync: Callable[[], Any] | None = None) -> None:
        if sync is not None and not callable(sync):
            raise TypeError(f"sync must be callable or None, got {type(sync).__name__}")
        self.sync = sync
        self.seconds: float = math.nan
        self._start = math.nan

    def __enter__(self) -> Timer:
        self.seconds = math.nan
        self._start = time.perf_counter()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None and self.sync is not None:
            self.sync()
        self.seconds = time.perf_counter() - self._start


def ms(seconds: float) -> str:
    """Format a duration in seconds as milliseconds with 3 significant digits.

    >>> ms(0.0123), ms(0.1104), ms(2.5e-5)
    ('12.3 ms', '110 ms', '0.025 ms')
    """
    value = float(seconds) * 1e3
    if not math.isfinite(value):
        return f"{value} ms"
    if abs(value) >= 100:
        return f"{value:.0f} ms"
    if abs(value) >= 10:
        return f"{value:.1f} ms"
    if abs(value) >= 1:
        return f"{value:.2f} ms"
    return f"{value:.3g} ms"


@dataclass(eq=False)
class LatencyStats:
    """Repeated timings of one operation, in seconds, and their summary.

    ``median`` is the headline number (robust to a few slow outliers caused by
    other work on the machine); ``p90``/``p99`` show the tail that a user with
    a latency budget cares about (seed 000, 'latency'; Jouppi et al. 2017 size
    the TPU for the 99th-percentile response time).
    """

    samples_seconds: np.ndarray

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples_seconds, dtype=np.float64).reshape(-1)
        if samples.size == 0:
            raise ValueError("samples_seconds is empty: time at least one call")
        if not np.all(np.isfinite(samples)) or np.any(samples < 0):
            raise ValueError("samples_seconds must be finite, non-negative durations in seconds")
        self.samples_seconds = samples

    @property
    def n(self) -> int:
        """Number of timed samples."""
        return int(self.samples_seconds.size)

    @property
    def median(self) -> float:
        """Median latency in seconds."""
        return float(np.median(self.samples_seconds))

    @property
    def p90(self) -> float:
        """90th-percentile latency in seconds (linear interpolation)."""
        return float(np.percentile(self.samples_seconds, 90))

    @property
    def p99(self) -> float:
        """99th-percentile latency in seconds (linear interpolation)."""
        return float(np.percentile(self.samples_seconds, 99))

    @property
    def mean(self) -> float:
        """Mean latency in seconds."""
        return float(np.mean(self.samples_seconds))

    @property
    def std(self) -> float:
        """Standard deviation of the samples in seconds (population, ddof=0)."""
        return float(np.std(self.samples_seconds))

    @property
    def min(self) -> float:
        """Fastest sample in seconds: the best the machine did (least disturbed)."""
        return float(np.min(self.samples_seconds))

    @property
    def max(self) -> float:
        """Slowest sample in seconds."""
        return float(np.max(self.samples_seconds))

    def to_dict(self) -> dict[str, float | int]:
        """Summary as plain numbers (seconds), e.g. for a results card or a table row."""
        return {
            "median_seconds": self.median,
            "p90_seconds": self.p90,
            "p99_seconds": self.p99,
            "mean_seconds": self.mean,
            "std_seconds": self.std,
            "min_seconds": self.min,
            "max_seconds": self.max,
            "n": self.n,
        }

    def __str__(self) -> str:
        return f"median {ms(self.median)} (p90 {ms(self.p90)}, p99 {ms(self.p99)}, n={self.n})"


def materialize(result: Any) -> Any:
    """Force ``result`` to exist in host memory, so a timer measures the real work.

    TensorFlow tensors and variables (anything with a ``.numpy()`` method) are
    copied to NumPy, which waits for a GPU to finish; arrays go through
    ``np.asarray``; lists, tuples and dicts are walked recursively (their type
    kept); anything else (``None``, numbers, strings) is returned as is.
    """
    if isinstance(result, np.ndarray):
        return np.asarray(result)
    numpy_method = getattr(result, "numpy", None)
    if callable(numpy_method):
        return numpy_method()
    if isinstance(result, dict):
        return {key: materialize(value) for key, value in result.items()}
    if isinstance(result, tuple) and hasattr(result, "_fields"):  # namedtuple
        return type(result)(*(materialize(value) for value in result))
    if isinstance(result, list | tuple):
        return type(result)(materialize(value) for value in result)
    if hasattr(result, "__array__"):
        return np.asarray(result)
    return result


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def measure_latency(
    fn: Callable[..., Any],
    *args: Any,
    warmup: int = 5,
    repeats: int = 30,
    progress: bool = False,
    **kwargs: Any,
) -> LatencyStats:
    """Time ``fn(*args, **kwargs)``: ``warmup`` untimed calls, then ``repeats`` timed ones.

    Each timed call's result is :func:`materialize`-d inside the timed region,
    so asynchronous work (a GPU kernel) is counted. ``progress=True`` shows a
    tqdm bar (off by default so committed notebook outputs stay clean).
    Returns the samples in seconds as :class:`LatencyStats` (seed 000, 'latency').
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    warmup = _check_count("warmup", warmup, 0)
    repeats = _check_count("repeats", repeats, 1)
    for _ in range(warmup):
        materialize(fn(*args, **kwargs))
    steps: Iterable[int] = range(repeats)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=getattr(fn, "__name__", "timing"), leave=False)
    samples = np.empty(repeats, dtype=np.float64)
    for i in steps:
        with Timer() as t:
            materialize(fn(*args, **kwargs))
        samples[i] = t.seconds
    return LatencyStats(samples)


# --------------------------------------------------------------------------- devices


class GPUUnavailableError(RuntimeError):
    """A GPU was asked for, but TensorFlow sees none (or not that many)."""


def _gpu_help(what: str) -> str:
    return (
        f"{what}, but TensorFlow sees no such GPU on this machine "
        "(tf.config.list_physical_devices('GPU') lists the ones it sees). "
        "To get one: on Colab, Runtime > Change runtime type > a GPU, then restart; "
        "locally, install an NVIDIA driver and `pip install -e .[gpu]` (Linux, CUDA). "
        "Or run on the CPU: pass device='cpu', or fallback=True to fall back with a warning."
    )


def _gpus() -> list[Any]:
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def gpu_available() -> bool:
    """True if TensorFlow sees at least one GPU."""
    return bool(_gpus())


_DEVICE = re.compile(r"^/?(?:device:)?(cpu|gpu)(?::(\d+))?$")


def device_name(device: str) -> str:
    """TensorFlow device string for ``device``: ``'cpu'`` -> ``'/CPU:0'``, ``'gpu'`` -> ``'/GPU:0'``.

    Accepts ``'cpu'``, ``'gpu'``, ``'gpu:1'``, ``'/GPU:0'``, ``'/device:GPU:0'``
    (any case) and ``'auto'`` (the first GPU if there is one, else the CPU).
    Raises :class:`GPUUnavailableError` if the GPU asked for does not exist and
    ``ValueError`` for anything else.
    """
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'gpu', got {device!r}")
    text = device.strip().lower()
    if text == "auto":
        return "/GPU:0" if gpu_available() else CPU
    match = _DEVICE.match(text)
    if match is None:
        raise ValueError(
            f"device={device!r} is not understood; use 'cpu', 'gpu', 'gpu:N', '/GPU:N' or 'auto'"
        )
    kind, index = match.group(1).upper(), int(match.group(2) or 0)
    if kind == "CPU":
        if index != 0:
            raise ValueError(f"device={device!r}: TensorFlow exposes one CPU device, '/CPU:0'")
        return CPU
    found = len(_gpus())
    if index >= found:
        raise GPUUnavailableError(_gpu_help(f"device={device!r} asks for GPU {index}"))
    return f"/GPU:{index}"


def resolve_device(device: str = "cpu", fallback: bool = False) -> str:
    """Like :func:`device_name`; with ``fallback=True`` a missing GPU warns and gives ``'/CPU:0'``."""
    try:
        return device_name(device)
    except GPUUnavailableError as err:
        if not fallback:
            raise
        warnings.warn(f"{err} Falling back to the CPU.", RuntimeWarning, stacklevel=2)
        return CPU


def describe_device(device: str = "cpu") -> str:
    """Human-readable name of a device, e.g. ``'CPU: AMD EPYC (2 cores)'``.

    GPUs are named from ``tf.config.experimental.get_device_details`` with their
    CUDA compute capability where TensorFlow reports it.
    """
    name = device_name(device)
    if name == CPU:
        from .hardware import cpu_model, physical_cores

        cores = physical_cores()
        return f"CPU: {cpu_model()} ({cores} core{'s' if cores != 1 else ''})"
    import tensorflow as tf

    gpu = _gpus()[int(name.rsplit(":", 1)[1])]
    details = tf.config.experimental.get_device_details(gpu)
    text = f"GPU: {details.get('device_name', gpu.name)}"
    capability = details.get("compute_capability")
    if capability:
        text += f" (compute capability {'.'.join(str(part) for part in capability)})"
    return text


# --------------------------------------------------------------------------- models


def compiled_predict(model: Any, device: str = "cpu") -> Callable[[Any], Any]:
    """A fast forward pass: ``model(x, training=False)`` as one ``tf.function`` on ``device``.

    ``reduce_retracing=True`` lets one traced graph serve every batch size (the
    batch dimension becomes ``None`` after the second shape seen). This is the
    path :func:`measure_model_latency` times by default; see NOTES-stack:
    MobileNet batch 1 on 2 CPU cores, 15.6 ms versus 110 ms eager.
    """
    import tensorflow as tf

    if not callable(model):
        raise TypeError(f"model must be a callable Keras model, got {type(model).__name__}")
    placement = resolve_device(device)

    @tf.function(reduce_retracing=True)
    def forward(x: Any) -> Any:
        with tf.device(placement):
            return model(x, training=False)

    forward.device = placement  # type: ignore[attr-defined]
    return forward


def _input_shape(model: Any, input_shape: Sequence[int] | None) -> tuple[int, ...]:
    """Per-sample input shape (no batch dimension)."""
    if input_shape is not None:
        shape = tuple(input_shape)
    else:
        try:
            full = model.input_shape
        except (AttributeError, ValueError) as err:
            raise ValueError(
                "the model has no known input shape (not built?); pass input_shape=(...) "
                "without the batch dimension"
            ) from err
        if isinstance(full, list) or (full and isinstance(full[0], tuple | list)):
            raise ValueError(
                "the model has several inputs; measure_model_latency feeds one, "
                "so time your own call with measure_latency instead"
            )
        shape = tuple(full[1:])
    if not shape or any(not isinstance(d, int | np.integer) or d < 1 for d in shape):
        raise ValueError(
            f"input_shape {shape} must be positive ints without the batch dimension, "
            "e.g. input_shape=(28, 28, 1); pass it when the model's has None entries"
        )
    return tuple(int(d) for d in shape)


def _forward(model: Any, method: str, placement: str) -> Callable[[Any], Any]:
    """The callable that ``method`` times (see :func:`measure_model_latency`)."""
    import tensorflow as tf

    if method == "function":
        return compiled_predict(model, placement)
    if method == "predict_on_batch":

        def run(x: Any) -> Any:
            with tf.device(placement):
                return model.predict_on_batch(x)

    elif method == "predict":

        def run(x: Any) -> Any:
            with tf.device(placement):
                return model.predict(x, batch_size=int(x.shape[0]), verbose=0)

    elif method == "eager":

        def run(x: Any) -> Any:
            with tf.device(placement):
                return model(x, training=False)

    else:
        raise ValueError(f"method={method!r} is not one of {', '.join(map(repr, METHODS))}")
    return run


def _random_input(batch_size: int, shape: tuple[int, ...], placement: str) -> Any:
    import tensorflow as tf

    with tf.device(placement):
        return tf.random.stateless_uniform((batch_size, *shape), seed=(0, 0), dtype=tf.float32)


def measure_model_latency(
    model: Any,
    batch_size: int = 1,
    device: str = "cpu",
    method: str = "function",
    warmup: int = 5,
    repeats: int = 30,
    input_shape: Sequence[int] | None = None,
    progress: bool = False,
) -> LatencyStats:
    """Latency of one forward pass of a Keras model on a random float32 batch.

    The input (``batch_size`` samples of ``input_shape``, default the model's
    own) is made once, on ``device``, outside the timed region. ``method``
    picks how the model is called, fastest first:

    * ``'function'`` - ``model(x, training=False)`` inside one ``tf.function``
      (:func:`compiled_predict`): one graph, no per-layer Python. The default.
    * ``'predict_on_batch'`` - Keras' compiled predict step for one batch;
      close to ``'function'``.
    * ``'predict'`` - Keras' full loop: builds a data adapter and iterator and
      runs callbacks on every call; fine for large datasets, slow for one batch.
    * ``'eager'`` - ``model(x)`` op by op from Python; slowest, easiest to debug.

    Returns seconds per call (the whole batch) as :class:`LatencyStats`.
    """
    batch_size = _check_count("batch_size", batch_size, 1)
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {', '.join(map(repr, METHODS))}")
    placement = resolve_device(device)
    shape = _input_shape(model, input_shape)
    x = _random_input(batch_size, shape, placement)
    run = _forward(model, method, placement)
    return measure_latency(run, x, warmup=warmup, repeats=repeats, progress=progress)


@dataclass(frozen=True)
class ThroughputPoint:
    """One batch size's latency and the throughput it gives (seed 004, 'batch vs latency')."""

    batch_size: int
    latency: LatencyStats
    samples_per_second: float

    def __str__(self) -> str:
        return f"batch {self.batch_size}: {self.samples_per_second:,.0f} samples/s ({self.latency})"


def measure_throughput(
    model: Any,
    batch_sizes: Iterable[int],
    device: str = "cpu",
    warmup: int = 3,
    repeats: int = 10,
    method: str = "function",
    input_shape: Sequence[int] | None = None,
    progress: bool = False,
) -> list[ThroughputPoint]:
    """Latency and throughput for each batch size: ``samples_per_second = batch / median latency``.

    Larger batches usually raise throughput (better use of the hardware) and
    latency at the same time: the trade-off of seed 004 ('batch vs latency').
    One compiled function serves all batch sizes.
    """
    sizes = [_check_count("batch_sizes entries", b, 1) for b in batch_sizes]
    if not sizes:
        raise ValueError("batch_sizes is empty; pass e.g. [1, 8, 32]")
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {', '.join(map(repr, METHODS))}")
    placement = resolve_device(device)
    shape = _input_shape(model, input_shape)
    run = _forward(model, method, placement)
    points = []
    for batch_size in sizes:
        x = _random_input(batch_size, shape, placement)
        stats = measure_latency(run, x, warmup=warmup, repeats=repeats, progress=progress)
        points.append(ThroughputPoint(batch_size, stats, batch_size / stats.median))
    return points
