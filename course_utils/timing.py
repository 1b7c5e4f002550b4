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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .units import ms

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


def integer(name: str, value: object, minimum: int) -> int:
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
    warmup = integer("warmup", warmup, 0)
    repeats = integer("repeats", repeats, 1)
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


def gpus() -> list[Any]:
    """The GPUs TensorFlow sees (``tf.config.list_physical_devices('GPU')``); empty on a CPU-only machine."""
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def gpu_available() -> bool:
    """True if TensorFlow sees at least one GPU."""
    return bool(gpus())


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
    found = len(gpus())
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


# --------------------------------------------------------------------------- models


def compiled_predict(model: Any, device: str = "cpu") -> Callable[[Any], Any]:
    """A fast forward pass: ``model(x, training=False)`` as one ``tf.function`` on ``device``.

    ``reduce_retracing=True`` lets one traced graph serve every batch size (the
    batch dimension becomes ``None`` after the second shape seen). XLA is off
    (``jit_compile=False``) on every device, so CPU and GPU run the same kind of
    graph: op by op, one kernel launch each. This is the
    path :func:`measure_model_latency` times by default; see NOTES-stack:
    MobileNet batch 1 on 2 CPU cores, 15.6 ms versus 110 ms eager.
    """
    import tensorflow as tf

    if not callable(model):
        raise TypeError(f"model must be a callable Keras model, got {type(model).__name__}")
    placement = resolve_device(device)

    @tf.function(reduce_retracing=True, jit_compile=False)
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
    batch_size = integer("batch_size", batch_size, 1)
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {', '.join(map(repr, METHODS))}")
    placement = resolve_device(device)
    check_weights_on(model, placement)
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
    sizes = [integer("batch_sizes entries", b, 1) for b in batch_sizes]
    if not sizes:
        raise ValueError("batch_sizes is empty; pass e.g. [1, 8, 32]")
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {', '.join(map(repr, METHODS))}")
    placement = resolve_device(device)
    check_weights_on(model, placement)
    shape = _input_shape(model, input_shape)
    run = _forward(model, method, placement)
    points = []
    for batch_size in sizes:
        x = _random_input(batch_size, shape, placement)
        stats = measure_latency(run, x, warmup=warmup, repeats=repeats, progress=progress)
        points.append(ThroughputPoint(batch_size, stats, batch_size / stats.median))
    return points


# --------------------------------------------------------------------------- device policy


def on_device(device: str = "cpu", fallback: bool = False) -> Any:
    """``with on_device('cpu'):`` build a model AND time it there: one device for weights and work.

    Keras creates a model's variables on the device in scope when it is built. A model
    built outside any scope on a GPU machine keeps its weights on the GPU; timed on the
    CPU, every call would first copy them over (about 100 MB for ResNet-50). Building and
    timing inside the same ``on_device`` scope keeps the weights where the work runs.
    Returns ``tf.device(...)`` for the resolved device (see :func:`resolve_device`).
    """
    import tensorflow as tf

    return tf.device(resolve_device(device, fallback=fallback))


def weights_device(model: Any) -> str | None:
    """The device that holds ``model``'s first weight, e.g. ``'/CPU:0'``; None without weights."""
    weights = getattr(model, "weights", None) or []
    if not weights:
        return None
    variable = getattr(weights[0], "value", weights[0])
    full = str(getattr(variable, "device", "") or "")
    match = re.search(r"device:(CPU|GPU):(\d+)", full, re.IGNORECASE)
    return f"/{match.group(1).upper()}:{match.group(2)}" if match else None


def check_weights_on(model: Any, placement: str) -> None:
    """Raise ValueError when ``model``'s weights live on another device than ``placement``."""
    held = weights_device(model)
    if held is not None and held != placement:
        raise ValueError(
            f"model '{getattr(model, 'name', '?')}' keeps its weights on {held}, but timing runs "
            f"on {placement}: every call would copy the weights first. Build the model inside "
            f"`with timing.on_device({placement!r}):` and time it there."
        )


# --------------------------------------------------------------------------- timed FLOPs


@dataclass(frozen=True)
class TimedFlops:
    """Work of known size, timed: the one record every achieved FLOP/s in the course comes from.

    The rule (notebooks 01, 04, 05 and 08 alike): **achieved FLOP/s = FLOP / median
    seconds per call**, where a call is the work alone, compiled, its result
    materialised. A machine's *peak* is the best call (:attr:`best_flop_per_s`): what
    the hardware can do when nothing disturbs it.

    Attributes:
        name: what was timed ('gemm n=2048', a layer's name, ...).
        flop: FLOP per call (a multiply-add counts 2).
        latency: the timed calls, in seconds.
        bytes_moved: bytes to and from memory per call (weights + inputs + outputs), if known.
        kind: the layer's class ('Conv2D'), 'GEMM', ...
        device: where it ran ('/CPU:0', '/GPU:0').
    """

    name: str
    flop: float
    latency: LatencyStats
    bytes_moved: float | None = None
    kind: str = ""
    device: str = CPU

    @property
    def seconds(self) -> float:
        """Median seconds per call."""
        return self.latency.median

    @property
    def flop_per_s(self) -> float:
        """Achieved FLOP/s: flop / median seconds (the course's one rule)."""
        return self.flop / self.latency.median

    @property
    def best_flop_per_s(self) -> float:
        """FLOP/s of the fastest call: the peak the hardware reaches undisturbed."""
        return self.flop / self.latency.min

    @property
    def intensity_flop_per_byte(self) -> float:
        """Arithmetic intensity flop / bytes_moved (roofline x axis); nan if bytes unknown."""
        if not self.bytes_moved:
            return math.nan
        return self.flop / self.bytes_moved

    def __str__(self) -> str:
        return f"{self.name}: {self.flop / self.seconds / 1e9:.2f} GFLOP/s ({self.latency})"


def time_layers(
    model: Any,
    batch_size: int = 1,
    device: str = "cpu",
    kinds: Sequence[str] | None = None,
    min_flop: float = 0,
    warmup: int = 3,
    repeats: int = 10,
    progress: bool = False,
) -> list[TimedFlops]:
    """Time each weight layer of ``model`` alone: FLOP from the profiler, median seconds per call.

    Every top-level layer with multiply-accumulates (optionally only of the Keras classes
    ``kinds``, and with at least ``min_flop`` FLOP) is wrapped in its own compiled
    ``tf.function`` (no XLA) and called on a random float32 batch of its input shape made
    beforehand on ``device``; fetching one element of the output waits for the whole layer.
    Each result is a :class:`TimedFlops` whose ``flop_per_s`` follows the course's one rule.

    Two things a layer timed alone does not share with the whole model: a fixed cost per
    call (entering the compiled function; see :func:`call_overhead`) that dominates tiny
    layers, and caches kept warm by the previous layer. So the layer times do not add up
    to the model's latency. Layers inside nested models are skipped.
    """
    import tensorflow as tf

    from .profiler import profile

    batch_size = integer("batch_size", batch_size, 1)
    placement = resolve_device(device)
    check_weights_on(model, placement)
    rows = [
        r
        for r in profile(model, batch_size=batch_size).layers
        if r.macs > 0 and r.flops >= min_flop and (kinds is None or r.kind in kinds)
    ]
    top_level = {layer.name: layer for layer in model.layers}
    rows = [r for r in rows if r.name in top_level]
    if not rows:
        raise ValueError(f"time_layers: model '{model.name}' has no top-level layer to time here")
    steps: Iterable[Any] = rows
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(rows, desc=f"{model.name} layers", unit="layer", leave=False)
    results = []
    for row in steps:
        layer = top_level[row.name]
        with tf.device(placement):
            x = tf.random.stateless_uniform(
                (batch_size, *tuple(layer.input.shape)[1:]), seed=(1, 2), dtype=tf.float32
            )

        @tf.function(jit_compile=False)
        def call(x: Any, layer: Any = layer) -> Any:
            with tf.device(placement):
                return tf.reshape(layer(x), [-1])[0]

        stats = measure_latency(call, x, warmup=warmup, repeats=repeats)
        moved = row.weight_bytes + row.activation_bytes + row.output_bytes
        results.append(TimedFlops(row.name, row.flops, stats, moved, row.kind, placement))
    return results


def call_overhead(device: str = "cpu", repeats: int = 50) -> LatencyStats:
    """Seconds to call a compiled ``tf.function`` that does almost nothing (adds 1 to one number).

    The fixed cost of every compiled call on ``device``: compare it with a small layer's time
    from :func:`time_layers` to see how much of that time is work.
    """
    import tensorflow as tf

    placement = resolve_device(device)
    with tf.device(placement):
        one = tf.zeros((1,), dtype=tf.float32)

    @tf.function(jit_compile=False)
    def empty(v: Any) -> Any:
        with tf.device(placement):
            return v + 1.0

    return measure_latency(empty, one, warmup=3, repeats=repeats)


# --------------------------------------------------------------------------- fair comparisons


def model_call(model: Any, batch_size: int = 1, device: str = "cpu") -> Callable[[], Any]:
    """A zero-argument call of ``model`` on one random batch, compiled, for :func:`compare_latency`."""
    placement = resolve_device(device)
    check_weights_on(model, placement)
    x = _random_input(integer("batch_size", batch_size, 1), _input_shape(model, None), placement)
    forward = compiled_predict(model, placement)
    return lambda: forward(x)


def compare_latency(
    calls: Mapping[str, Callable[[], Any]],
    rounds: int = 5,
    repeats: int | Mapping[str, int] = 10,
    warmup: int = 3,
    progress: bool = False,
) -> dict[str, LatencyStats]:
    """Latency of several calls measured in alternating rounds, so they share the machine's load.

    On a machine that also runs other work the load changes from second to second: timing
    A now and B later compares the load, not A and B. Here each call first gets ``warmup``
    untimed runs; then, in each of ``rounds`` rounds, every call is timed ``repeats`` times
    (a number, or one per name) with :func:`measure_latency`. ``calls`` maps a name to a
    zero-argument callable, e.g. :func:`model_call` of a Keras model or a LiteRT model's
    ``predict`` bound to one input. Returns ``{name: LatencyStats}`` in seconds per call.
    """
    if not calls:
        raise ValueError("compare_latency: calls is empty; pass {'name': zero-argument callable}")
    rounds = integer("rounds", rounds, 1)
    warmup = integer("warmup", warmup, 0)
    if isinstance(repeats, Mapping):
        missing = [name for name in calls if name not in repeats]
        if missing:
            raise ValueError(f"compare_latency: repeats has no entry for {missing}")
        counts = {name: integer(f"repeats[{name!r}]", repeats[name], 1) for name in calls}
    else:
        counts = dict.fromkeys(calls, integer("repeats", repeats, 1))
    for name, fn in calls.items():
        if not callable(fn):
            raise TypeError(f"calls[{name!r}] must be a zero-argument callable")
        for _ in range(warmup):
            materialize(fn())
    samples: dict[str, list[np.ndarray]] = {name: [] for name in calls}
    steps: Iterable[int] = range(rounds)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="timing rounds", unit="round", leave=False)
    for _ in steps:
        for name, fn in calls.items():
            samples[name].append(measure_latency(fn, warmup=0, repeats=counts[name]).samples_seconds)
    return {name: LatencyStats(np.concatenate(parts)) for name, parts in samples.items()}
