"""Latency and throughput, measured properly (seed 000, 'Metrics'; seed 004, 'Batches' in inference).

Latency is the time one request takes, throughput the work done per second. Measuring
either takes four habits, all built into :func:`measure_latency`: **warm up** (the first
calls pay for tracing and cold caches), **repeat** and report the median and the tail
(p90, p99), **materialise** the result before the clock stops (:func:`materialize`: on a
GPU TensorFlow returns before the work is done), and time the **fast path**, a compiled
``tf.function`` (:func:`compiled_predict`), not eager ``model(x)``.

Devices are named as TensorFlow names them (``'/CPU:0'``, ``'/GPU:0'``); asking for a GPU
where TensorFlow sees none raises :class:`GPUUnavailableError`, or, with ``fallback=True``,
warns and uses the CPU.
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
from .validators import integer

CPU = "/CPU:0"


def _progress(steps: Iterable[Any], show: bool, **bar: Any) -> Iterable[Any]:
    """``steps`` behind a tqdm bar when ``show`` (off by default: committed outputs stay clean)."""
    if not show:
        return steps
    from tqdm.auto import tqdm

    return tqdm(steps, leave=False, **bar)


class Timer:
    """Wall-clock timer for a ``with`` block (:func:`time.perf_counter`), in seconds.

    ``sync`` (optional) is called at the end of the block *before* the clock stops, e.g.
    to wait for a GPU. ``seconds`` is ``nan`` until the block ends.

    >>> with Timer() as t:
    ...     _ = sum(range(1000))
    >>> t.seconds > 0
    True
    """

    def __init__(self, sync: Callable[[], Any] | None = None) -> None:
        if sync is not None and not callable(sync):
            raise TypeError(f"sync must be callable or None, got {type(sync).__name__}")
        self.sync = sync
        self.seconds: float = math.nan

    def __enter__(self) -> Timer:
        self.seconds = math.nan
        self._start = time.perf_counter()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None and self.sync is not None:
            self.sync()
        self.seconds = time.perf_counter() - self._start


def _statistic(fn: Callable[[np.ndarray], Any], doc: str) -> property:
    return property(lambda self: float(fn(self.samples_seconds)), doc=doc)


@dataclass(eq=False)
class LatencyStats:
    """Repeated timings of one operation, in seconds, and their summary.

    ``median`` is the headline number (robust to slow outliers caused by other work on the
    machine); ``p90``/``p99`` are the tail a user with a latency budget cares about (seed 000,
    'latency'; Jouppi et al. 2017 size the TPU for the 99th-percentile response time).
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

    median = _statistic(np.median, "Median latency in seconds.")
    p90 = _statistic(lambda s: np.percentile(s, 90), "90th percentile in seconds (interpolated).")
    p99 = _statistic(lambda s: np.percentile(s, 99), "99th percentile in seconds (interpolated).")
    mean = _statistic(np.mean, "Mean latency in seconds.")
    std = _statistic(np.std, "Standard deviation in seconds (population, ddof=0).")
    min = _statistic(np.min, "Fastest sample in seconds: the least disturbed run.")
    max = _statistic(np.max, "Slowest sample in seconds.")

    def to_dict(self) -> dict[str, float | int]:
        """Summary as plain numbers (``median_seconds``, ..., ``n``), e.g. for a results card."""
        names = ("median", "p90", "p99", "mean", "std", "min", "max")
        return {**{f"{k}_seconds": getattr(self, k) for k in names}, "n": self.n}

    def __str__(self) -> str:
        return f"median {ms(self.median)} (p90 {ms(self.p90)}, p99 {ms(self.p99)}, n={self.n})"


def materialize(result: Any) -> Any:
    """Force ``result`` into host memory, so a timer measures the real work.

    Anything with ``.numpy()`` (tensors, variables) is copied to NumPy, which waits for a
    GPU; lists, tuples, namedtuples and dicts are walked (their type kept); other arrays go
    through ``np.asarray``; anything else (``None``, numbers, strings) is returned as is.
    """
    if isinstance(result, np.ndarray):
        return result
    if callable(getattr(result, "numpy", None)):
        return result.numpy()
    if isinstance(result, dict):
        return {key: materialize(value) for key, value in result.items()}
    if isinstance(result, tuple) and hasattr(result, "_fields"):  # namedtuple
        return type(result)(*(materialize(value) for value in result))
    if isinstance(result, list | tuple):
        return type(result)(materialize(value) for value in result)
    return np.asarray(result) if hasattr(result, "__array__") else result


def measure_latency(fn: Callable[..., Any], *args: Any, warmup: int = 5, repeats: int = 30,
                    progress: bool = False, **kwargs: Any) -> LatencyStats:  # fmt: skip
    """Time ``fn(*args, **kwargs)``: ``warmup`` untimed calls, then ``repeats`` timed ones.

    Each timed call's result is :func:`materialize`-d inside the timed region, so
    asynchronous work (a GPU kernel) is counted; ``progress=True`` shows a bar. Returns
    seconds per call as :class:`LatencyStats` (seed 000, 'latency'), e.g.
    ``measure_latency(time.sleep, 0.005).median`` is a little over 0.005.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    warmup, repeats = integer("warmup", warmup, 0), integer("repeats", repeats, 1)
    for _ in range(warmup):
        materialize(fn(*args, **kwargs))
    samples = np.empty(repeats, dtype=np.float64)
    for i in _progress(range(repeats), progress, desc=getattr(fn, "__name__", "timing")):
        with Timer() as t:
            materialize(fn(*args, **kwargs))
        samples[i] = t.seconds
    return LatencyStats(samples)


# --------------------------------------------------------------------------- devices


class GPUUnavailableError(RuntimeError):
    """A GPU was asked for, but TensorFlow sees none (or not that many)."""


def gpus() -> list[Any]:
    """The GPUs TensorFlow sees (``tf.config.list_physical_devices('GPU')``); may be empty."""
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def gpu_available() -> bool:
    """True if TensorFlow sees at least one GPU."""
    return bool(gpus())


_DEVICE = re.compile(r"^/?(?:device:)?(cpu|gpu)(?::(\d+))?$")


def parse_device(device: str) -> tuple[str, int]:
    """``('cpu', 0)`` or ``('gpu', N)`` from 'cpu', 'gpu', 'gpu:1', '/CPU:0', '/device:GPU:1'."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'gpu', got {device!r}")
    match = _DEVICE.match(device.strip().lower())
    if match is None:
        raise ValueError(
            f"device={device!r} is not understood: use 'cpu', 'gpu' or 'gpu:N' (e.g. '/GPU:0')"
        )
    return match.group(1), int(match.group(2) or 0)


def device_name(device: str) -> str:
    """TensorFlow's name for ``device``: ``'cpu'`` -> ``'/CPU:0'``, ``'gpu:1'`` -> ``'/GPU:1'``.

    Accepts what :func:`parse_device` does and ``'auto'`` (the first GPU if there is one,
    else the CPU). Raises :class:`GPUUnavailableError`, saying how to get one, if the GPU
    asked for does not exist.
    """
    if isinstance(device, str) and device.strip().lower() == "auto":
        return "/GPU:0" if gpu_available() else CPU
    kind, index = parse_device(device)
    if kind == "cpu":
        if index != 0:
            raise ValueError(f"device={device!r}: TensorFlow exposes one CPU device, '/CPU:0'")
        return CPU
    if index >= len(gpus()):
        raise GPUUnavailableError(
            f"device={device!r} asks for GPU {index}, but TensorFlow sees no such GPU on this "
            "machine (tf.config.list_physical_devices('GPU') lists the ones it sees). To get "
            "one: on Colab, Runtime > Change runtime type > a GPU, then restart; locally, "
            "install an NVIDIA driver and `pip install -e .[gpu]` (Linux, CUDA). Or run on the "
            "CPU: pass device='cpu', or fallback=True to fall back with a warning."
        )
    return f"/GPU:{index}"


def resolve_device(device: str = "cpu", fallback: bool = False) -> str:
    """:func:`device_name`; with ``fallback=True`` a missing GPU warns and gives ``'/CPU:0'``."""
    try:
        return device_name(device)
    except GPUUnavailableError as err:
        if not fallback:
            raise
        warnings.warn(f"{err} Falling back to the CPU.", RuntimeWarning, stacklevel=2)
        return CPU


def on_device(device: str = "cpu", fallback: bool = False) -> Any:
    """``with on_device('cpu'):`` build a model AND time it there: one device for weights and work.

    Keras creates a model's variables on the device in scope when it is built: a model built
    outside any scope on a GPU machine keeps its weights on the GPU, and timed on the CPU
    every call would first copy them over (about 100 MB for ResNet-50). Returns
    ``tf.device(...)`` for :func:`resolve_device`'s answer.
    """
    import tensorflow as tf

    return tf.device(resolve_device(device, fallback=fallback))


def weights_device(model: Any) -> str | None:
    """The device that holds ``model``'s first weight, e.g. ``'/CPU:0'``; None without weights."""
    weights = getattr(model, "weights", None) or []
    if not weights:
        return None
    variable = getattr(weights[0], "value", weights[0])
    match = re.search(r"device:(CPU|GPU):(\d+)", str(getattr(variable, "device", "") or ""), re.I)
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


# --------------------------------------------------------------------------- models


def compiled_predict(model: Any, device: str = "cpu") -> Callable[[Any], Any]:
    """A fast forward pass: ``model(x, training=False)`` as one ``tf.function`` on ``device``.

    ``reduce_retracing=True`` lets one graph serve every batch size; XLA is off
    (``jit_compile=False``) on every device, so CPU and GPU run the same op-by-op graph.
    NOTES-stack: MobileNet at batch 1 on 2 CPU cores took 15.6 ms so, 110 ms eager.
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
    """Per-sample input shape (no batch dimension): ``input_shape`` or the model's own."""
    if input_shape is None:
        try:
            full = model.input_shape
        except (AttributeError, ValueError) as err:
            raise ValueError(
                "the model has no known input shape (not built?); pass input_shape=(...) "
                "without the batch dimension"
            ) from err
        if isinstance(full, list) or (full and isinstance(full[0], tuple | list)):
            raise ValueError(
                "the model has several inputs; time your own call with measure_latency instead"
            )
        input_shape = full[1:]
    shape = tuple(input_shape)
    if not shape or any(not isinstance(d, int | np.integer) or d < 1 for d in shape):
        raise ValueError(
            f"input_shape {shape} must be positive ints without the batch dimension, "
            "e.g. input_shape=(28, 28, 1); pass it when the model's has None entries"
        )
    return tuple(int(d) for d in shape)


def _random_batch(batch_size: int, shape: tuple[int, ...], placement: str) -> Any:
    import tensorflow as tf

    with tf.device(placement):
        return tf.random.stateless_uniform((batch_size, *shape), seed=(0, 0), dtype=tf.float32)


def model_call(model: Any, batch_size: int = 1, device: str = "cpu",
               input_shape: Sequence[int] | None = None) -> Callable[[], Any]:  # fmt: skip
    """A zero-argument compiled call of ``model`` on one random float32 batch made on ``device``.

    The batch (``input_shape`` per sample, default the model's own) is made once, outside
    any timed region; pass the call to :func:`measure_latency` or :func:`compare_latency`.
    """
    placement = resolve_device(device)
    check_weights_on(model, placement)
    shape, forward = _input_shape(model, input_shape), compiled_predict(model, placement)
    x = _random_batch(integer("batch_size", batch_size, 1), shape, placement)
    return lambda: forward(x)


def measure_model_latency(model: Any, batch_size: int = 1, device: str = "cpu", warmup: int = 5,
                          repeats: int = 30, input_shape: Sequence[int] | None = None,
                          progress: bool = False) -> LatencyStats:  # fmt: skip
    """Seconds per forward pass of a whole random float32 batch: :func:`model_call` timed
    by :func:`measure_latency` (seed 000, 'latency')."""
    call = model_call(model, batch_size, device, input_shape)
    return measure_latency(call, warmup=warmup, repeats=repeats, progress=progress)


@dataclass(frozen=True)
class ThroughputPoint:
    """One batch size's latency and the throughput it gives (seed 004, 'Batches' in inference)."""

    batch_size: int
    latency: LatencyStats

    @property
    def samples_per_second(self) -> float:
        """Throughput: batch_size / median latency."""
        return self.batch_size / self.latency.median

    def __str__(self) -> str:
        return f"batch {self.batch_size}: {self.samples_per_second:,.0f} samples/s ({self.latency})"


def measure_throughput(model: Any, batch_sizes: Iterable[int], device: str = "cpu",
                       warmup: int = 3, repeats: int = 10, input_shape: Sequence[int] | None = None,
                       progress: bool = False) -> list[ThroughputPoint]:  # fmt: skip
    """Latency and ``samples_per_second = batch / median latency`` for each batch size.

    Larger batches usually raise throughput and latency at once: the trade-off of seed
    004 ('Batches' in inference). One compiled function serves all batch sizes.
    """
    sizes = [integer("batch_sizes entries", b, 1) for b in batch_sizes]
    if not sizes:
        raise ValueError("batch_sizes is empty; pass e.g. [1, 8, 32]")
    placement = resolve_device(device)
    check_weights_on(model, placement)
    shape, forward = _input_shape(model, input_shape), compiled_predict(model, placement)
    points = []
    for batch_size in sizes:
        x = _random_batch(batch_size, shape, placement)
        stats = measure_latency(forward, x, warmup=warmup, repeats=repeats, progress=progress)
        points.append(ThroughputPoint(batch_size, stats))
    return points


# --------------------------------------------------------------------------- timed FLOPs


@dataclass(frozen=True)
class TimedFlops:
    """Work of known size, timed: the one record every achieved FLOP/s in the course comes from.

    The rule (notebooks 01, 04, 05 and 08 alike): **achieved FLOP/s = FLOP / median seconds
    per call**, a call being the work alone, compiled, its result materialised. A machine's
    *peak* is the best call (:attr:`best_flop_per_s`). ``flop`` counts a multiply-add as 2;
    ``bytes_moved`` (weights + inputs + outputs per call) is optional; ``kind`` is the
    layer's class ('Conv2D') or 'GEMM'; ``device`` where it ran.
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
        return self.flop / self.bytes_moved if self.bytes_moved else math.nan

    def __str__(self) -> str:
        return f"{self.name}: {self.flop / self.seconds / 1e9:.2f} GFLOP/s ({self.latency})"


def time_layers(model: Any, batch_size: int = 1, device: str = "cpu",
                kinds: Sequence[str] | None = None, min_flop: float = 0, warmup: int = 3,
                repeats: int = 10, progress: bool = False) -> list[TimedFlops]:  # fmt: skip
    """Time each top-level weight layer of ``model`` alone, as :class:`TimedFlops`.

    FLOP come from the profiler (optionally only layers of the Keras classes ``kinds`` with
    at least ``min_flop``); each layer runs in its own compiled ``tf.function`` (no XLA) on a
    random batch made beforehand on ``device``, fetching one output element. A layer alone
    pays a fixed cost per call (:func:`call_overhead`) and finds colder caches, so the layer
    times do not add up to the model's latency. Layers inside nested models are skipped.
    """
    import tensorflow as tf

    from .profiler import profile

    batch_size = integer("batch_size", batch_size, 1)
    placement = resolve_device(device)
    check_weights_on(model, placement)
    top_level = {layer.name: layer for layer in model.layers}
    rows = [r for r in profile(model, batch_size=batch_size).layers
            if r.name in top_level and r.macs > 0 and r.flops >= min_flop
            and (kinds is None or r.kind in kinds)]  # fmt: skip
    if not rows:
        raise ValueError(f"time_layers: model '{model.name}' has no top-level layer to time here")
    results = []
    for row in _progress(rows, progress, desc=f"{model.name} layers", unit="layer"):
        layer = top_level[row.name]
        x = _random_batch(batch_size, tuple(layer.input.shape)[1:], placement)

        @tf.function(jit_compile=False)
        def call(x: Any, layer: Any = layer) -> Any:
            with tf.device(placement):
                return tf.reshape(layer(x), [-1])[0]

        stats = measure_latency(call, x, warmup=warmup, repeats=repeats)
        moved = row.weight_bytes + row.activation_bytes + row.output_bytes
        results.append(TimedFlops(row.name, row.flops, stats, moved, row.kind, placement))
    return results


def call_overhead(device: str = "cpu", repeats: int = 50) -> LatencyStats:
    """Seconds to call a compiled ``tf.function`` that adds 1 to one number on ``device``:
    the fixed cost of every compiled call, to compare with a small layer's time."""
    import tensorflow as tf

    placement = resolve_device(device)
    one = _random_batch(1, (), placement)

    @tf.function(jit_compile=False)
    def empty(v: Any) -> Any:
        with tf.device(placement):
            return v + 1.0

    return measure_latency(empty, one, warmup=3, repeats=repeats)


def compare_latency(calls: Mapping[str, Callable[[], Any]], rounds: int = 5,
                    repeats: int | Mapping[str, int] = 10, warmup: int = 3,
                    progress: bool = False) -> dict[str, LatencyStats]:  # fmt: skip
    """Latency of several calls measured in alternating rounds, so they share the machine's load.

    On a machine that runs other work too, timing A now and B later compares the load, not
    A and B. Each zero-argument call in ``calls`` (e.g. a :func:`model_call`) first runs
    ``warmup`` times untimed; then in each of ``rounds`` rounds every call is timed
    ``repeats`` times (a number, or one per name). Returns ``{name: LatencyStats}`` in
    seconds per call.
    """
    if not calls:
        raise ValueError("compare_latency: calls is empty; pass {'name': zero-argument callable}")
    rounds, warmup = integer("rounds", rounds, 1), integer("warmup", warmup, 0)
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
    for _ in _progress(range(rounds), progress, desc="timing rounds", unit="round"):
        for name, fn in calls.items():
            stats = measure_latency(fn, warmup=0, repeats=counts[name])
            samples[name].append(stats.samples_seconds)
    return {name: LatencyStats(np.concatenate(parts)) for name, parts in samples.items()}
