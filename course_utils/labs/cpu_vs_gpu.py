"""CPU vs GPU: when is the GPU faster? The benchmark behind notebook 04.

Seed 002, 'When is the GPU faster than the CPU for NN?': "GPU slower than CPU for a
three-layer NN + MNIST, why? GPU needs a reasonable amount of trainable parameters +
data to beat the CPU!" The slide trains an MLP 784 -> n -> n -> 10 with dropout
(:func:`course_utils.models.mlp`; n = 4096 has 20,037,642 parameters) on MNIST and
plots 'Training time vs Trainable params' on the CPU and on the GPU of a server.

Three measurements, each on any TensorFlow device (``'cpu'``, ``'gpu'``):

* **MLP sweep** (:func:`mlp_sweep`): seconds per training epoch vs trainable
  parameters. Each width is timed over a few steps of a real ``model.fit`` call and
  extrapolated to one epoch of MNIST's 60,000 samples (:class:`MLPPoint`).
* **GEMM sweep** (:func:`gemm_sweep`): FLOP/s of an n x n matrix product vs n. A
  small product cannot fill a wide machine, and each call pays a fixed overhead.
* **Host-to-device copies** (:func:`h2d_sweep`): seconds to copy S bytes from main
  memory to a GPU, ``t = latency + S / bandwidth`` (:func:`fit_transfer`). A CPU
  computes on main memory directly: there is nothing to copy, so nothing to measure.

Both time series follow one model, ``seconds = fixed overhead + work / rate``
(:func:`fit_affine`): a GPU has a far higher rate **and** a higher fixed cost
per step (one kernel launch per operation, copies over PCIe), so it wins only once
the work per step is large enough (:func:`crossover`).

Results go to a JSON **reference file** (:func:`run_cpu_vs_gpu`, :func:`save`,
:func:`load`), recorded on a real machine with
``python -m course_utils bench cpu-vs-gpu --out datasets/reference/<name>.json``;
notebook 04 reads GPU files from ``datasets/reference/`` (:func:`references`). Where
no GPU file exists, :class:`GPUEstimate` gives a labelled estimate from the device
catalogue and stated assumptions, never a made-up measurement.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import json
import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import costs, paths
from ..machine import describe_device
from ..timing import CPU, GPUUnavailableError, resolve_device
from ..validators import integer, positive_int

__all__ = [
    "BATCH_SIZE",
    "CPU_H2D_NOTE",
    "HELP",
    "SCHEMA",
    "BenchRecord",
    "DeviceRun",
    "GPUEstimate",
    "GemmPoint",
    "MLPPoint",
    "ReferenceFileError",
    "StepModel",
    "TransferModel",
    "TransferPoint",
    "add_cli",
    "configure",
    "count_train_step_ops",
    "crossover",
    "fit_affine",
    "fit_step_model",
    "fit_transfer",
    "gemm_sweep",
    "h2d_sweep",
    "load",
    "main",
    "main_cpu_vs_gpu",
    "measure_h2d",
    "mlp_macs_per_sample",
    "mlp_params",
    "mlp_sweep",
    "mnist_flat",
    "reference_dir",
    "references",
    "run",
    "run_cpu_vs_gpu",
    "save",
    "summary",
    "time_mlp_training",
    "train_flop_per_step",
]

SCHEMA = "course_utils.bench/cpu-vs-gpu/1"
"""Format tag written into every reference file; :func:`load` refuses other formats."""

#: Keras' MNIST MLP example trains with batch 128 and RMSprop (the seed's setting, Keras 2).
BATCH_SIZE = 128
#: MNIST's training set: the samples of one epoch.
SAMPLES_PER_EPOCH = 60_000
#: 28 x 28 pixels, flattened: the MLP's input.
INPUT_DIM = 784
CLASSES = 10

#: Hidden widths n of the sweep: 16 ... 4096 (the slide's largest, 20,037,642 parameters).
DEFAULT_WIDTHS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
#: Matrix sides n of the GEMM sweep. A 4096 x 4096 product takes ~0.8 s on 2 CPU cores.
DEFAULT_GEMM_SIZES = (16, 32, 64, 128, 256, 512, 1024, 2048)
#: GPUs are fast enough for larger products.
GPU_GEMM_SIZES = (*DEFAULT_GEMM_SIZES, 4096, 8192)
#: Bytes per host-to-device copy: 4 KiB ... 256 MiB.
DEFAULT_H2D_SIZES_BYTES = tuple(2**k for k in range(12, 29, 2))
#: ``--quick``: a small sweep for tests and a first look (seconds, not minutes).
QUICK_WIDTHS = (16, 128, 1024)
QUICK_GEMM_SIZES = (32, 128, 512)
QUICK_H2D_SIZES_BYTES = (2**12, 2**18, 2**24)

KERNEL_FREE_OPS = frozenset(
    {"Const", "Placeholder", "Identity", "IdentityN", "NoOp", "ReadVariableOp", "VarHandleOp"}
)
"""Graph ops that launch no kernel (constants, inputs, aliases): not counted as work."""


# --------------------------------------------------------------------------- the MLP by formula


def mlp_params(width: int, input_dim: int = INPUT_DIM, classes: int = CLASSES) -> int:
    """Trainable parameters of seed 002's MLP input_dim -> n -> n -> classes (biases included).

    ``(784 + 1) n + (n + 1) n + (n + 1) 10 = n^2 + 796 n + 10``; n = 4096 gives the
    slide's 20,037,642 ('i=12, n=4096' summary). Dropout has no parameters.
    """
    n, d, c = positive_int("width", width), positive_int("input_dim", input_dim), positive_int("classes", classes)
    return (d + 1) * n + (n + 1) * n + (n + 1) * c


def mlp_macs_per_sample(width: int, input_dim: int = INPUT_DIM, classes: int = CLASSES) -> int:
    """Multiply-accumulates of one forward pass of one sample: ``784 n + n^2 + 10 n``.

    Seed 004's fully connected rule, ``IN x OUT`` MACs per layer (biases are additions,
    not MACs); the same count as :func:`course_utils.profiler.profile`.
    """
    n, d, c = positive_int("width", width), positive_int("input_dim", input_dim), positive_int("classes", classes)
    return d * n + n * n + n * c


def train_flop_per_step(macs_per_sample: int, batch_size: int = BATCH_SIZE) -> float:
    """FLOP of one training step: ``3 x batch x 2 x MACs`` (seed 004, 'Training overall').

    Forward 2 x MACs per sample, backward twice that; dropout, activations, the loss and
    the optimizer's per-weight updates are left out (they are O(n), the matrix products
    O(n^2)).
    """
    return costs.training_flops(
        2 * positive_int("macs_per_sample", macs_per_sample), positive_int("batch_size", batch_size), 1
    )


# --------------------------------------------------------------------------- MLP training sweep


@dataclass(frozen=True)
class MLPPoint:
    """One width of the MLP sweep: seconds per training step, and the epoch they add up to.

    ``step_seconds`` is the median over repeats of the **steady-state** seconds per
    step inside a ``model.fit`` call (timed between two marks after the first steps,
    see :func:`time_mlp_training`); ``fit_overhead_seconds`` the median of what the
    rest of the call costs (setting up the data pipeline, the first steps' extra,
    callbacks; never below 0). One epoch is extrapolated as
    ``fit_overhead_seconds + steps_per_epoch x step_seconds``.
    """

    width: int
    params: int
    macs_per_sample: int
    batch_size: int
    steps_timed: int
    step_seconds: float
    fit_overhead_seconds: float
    step_seconds_samples: tuple[float, ...] = ()
    samples_per_epoch: int = SAMPLES_PER_EPOCH

    def __post_init__(self) -> None:
        for name in ("width", "params", "macs_per_sample", "batch_size", "samples_per_epoch"):
            positive_int(name, getattr(self, name))
        integer("steps_timed", self.steps_timed, 1)
        for name in ("step_seconds", "fit_overhead_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
        if self.step_seconds <= 0:
            raise ValueError("step_seconds must be > 0")
        object.__setattr__(
            self, "step_seconds_samples", tuple(float(s) for s in self.step_seconds_samples)
        )

    @property
    def steps_per_epoch(self) -> int:
        """``ceil(samples_per_epoch / batch_size)``: 469 for 60,000 samples at batch 128."""
        return math.ceil(self.samples_per_epoch / self.batch_size)

    @property
    def epoch_seconds(self) -> float:
        """Extrapolated seconds per epoch: fit overhead + steps per epoch x seconds per step."""
        return self.fit_overhead_seconds + self.steps_per_epoch * self.step_seconds

    @property
    def flop_per_step(self) -> float:
        """Training FLOP per step (:func:`train_flop_per_step`)."""
        return train_flop_per_step(self.macs_per_sample, self.batch_size)

    @property
    def train_flop_per_s(self) -> float:
        """FLOP/s achieved while training: flop_per_step / step_seconds."""
        return self.flop_per_step / self.step_seconds

    @property
    def input_bytes_per_step(self) -> int:
        """Bytes of one batch as it reaches the device: float32 images + uint8 labels."""
        return self.batch_size * (4 * INPUT_DIM + 1)

    def __str__(self) -> str:
        return (
            f"n={self.width:>5}: {self.params:>11,} params, {self.step_seconds * 1e3:8.2f} ms/step "
            f"-> {self.epoch_seconds:7.2f} s/epoch ({self.train_flop_per_s / 1e9:6.1f} GFLOP/s)"
        )


@functools.lru_cache(maxsize=1)
def mnist_flat() -> tuple[np.ndarray, np.ndarray]:
    """MNIST's 60,000 training digits as the MLP reads them: float32 (60000, 784) in [0, 1], uint8 labels."""
    from ..data import load_mnist

    (x, y), _ = load_mnist()
    return x.reshape(len(x), -1).astype(np.float32) / np.float32(255), y


@functools.lru_cache(maxsize=1)
def _step_clock_class() -> type:
    """The Keras callback class of :func:`_step_clock` (made on first use: Keras loads lazily)."""
    import keras

    class StepClock(keras.callbacks.Callback):
        def __init__(self, first: int, last: int) -> None:
            super().__init__()
            self.first, self.last = first, last
            self.marks: dict[int, float] = {}

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            step = batch + 1
            if step in (self.first, self.last):
                if logs and "loss" in logs:
                    float(logs["loss"])  # copies the loss to the host: waits for the device
                self.marks[step] = time.perf_counter()

    return StepClock


def _step_clock(first: int, last: int) -> Any:
    """A Keras callback noting the wall-clock time at the end of training steps ``first`` and ``last``.

    Reading the loss (``float(logs['loss'])``) copies it to the host, which waits for
    the device (a GPU runs asynchronously), so each mark is taken when its step has
    finished. Steps in between run as in any ``fit`` call, without waiting.
    """
    return _step_clock_class()(first, last)


def time_mlp_training(
    width: int,
    device: str = "cpu",
    batch_size: int = BATCH_SIZE,
    repeats: int = 2,
    min_seconds: float = 0.25,
    max_steps: int = 64,
    skip_steps: int = 2,
    dropout: float = 0.2,
    samples_per_epoch: int = SAMPLES_PER_EPOCH,
) -> MLPPoint:
    """Time training seed 002's MLP of hidden width ``width`` on ``device``; extrapolate one epoch.

    How (the same recipe on a CPU and a GPU):

    1. build ``models.mlp(width, dropout=dropout)`` on the device, compile it like Keras'
       MNIST MLP example (RMSprop, sparse cross-entropy, accuracy);
    2. **warm up**: one ``fit`` call of two batches, untimed. The first call traces and
       compiles the training step (about a second), which is not training time;
    3. time ``fit`` calls over all 60,000 MNIST digits (shuffled, as in a real epoch),
       each stopped after N steps (``steps_per_epoch=N``), so every call pays the real
       per-epoch set-up of the input pipeline. A callback marks the clock after step
       ``skip_steps`` and after step N: the steps in between give the steady-state
       seconds per step, the rest of the call's wall time its fixed overhead. A first
       call with 3 marked steps sets N so the marked steps last at least
       ``min_seconds`` (at most ``max_steps``); it counts as a sample when it already
       did. The medians of ``repeats`` samples are kept;
    4. extrapolate: one epoch of ``samples_per_epoch`` samples is the overhead plus
       ``ceil(samples / batch)`` steps (:class:`MLPPoint`).

    Timing a few steps instead of whole epochs keeps the 2-core CPU sweep within a
    notebook's budget: n = 4096 takes ~0.1 s per step there, ~50 s per epoch.
    """
    import keras
    import tensorflow as tf

    from .. import models

    width = positive_int("width", width)
    batch_size = integer("batch_size", batch_size, 1)
    repeats = integer("repeats", repeats, 1)
    skip_steps = integer("skip_steps", skip_steps, 1)
    max_steps = integer("max_steps", max_steps, skip_steps + 1)
    samples_per_epoch = integer("samples_per_epoch", samples_per_epoch, 1)
    if not isinstance(min_seconds, int | float) or not min_seconds >= 0:
        raise ValueError(f"min_seconds must be a number of seconds >= 0, got {min_seconds!r}")
    placement = resolve_device(device)
    x_all, y_all = mnist_flat()
    max_steps = min(max_steps, len(x_all) // batch_size)

    with tf.device(placement):
        model = models.mlp(width, dropout=dropout)
        model.compile(
            optimizer=keras.optimizers.RMSprop(),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )

        def fit(steps: int) -> tuple[float, float]:
            """(seconds per marked step, whole call's seconds) of one fit over ``steps`` batches."""
            clock = _step_clock(skip_steps, steps)
            start = time.perf_counter()
            model.fit(
                x_all, y_all, batch_size=batch_size, epochs=1, steps_per_epoch=steps,
                verbose=0, callbacks=[clock],
            )  # fmt: skip
            total = time.perf_counter() - start
            per_step = (clock.marks[steps] - clock.marks[skip_steps]) / (steps - skip_steps)
            return per_step, total

        model.fit(  # warm-up: the first call traces and compiles the training step
            x_all, y_all, batch_size=batch_size, epochs=1, steps_per_epoch=2, verbose=0
        )
        # A probe of 3 marked steps sets N; it counts as a sample when already long enough.
        steps = min(max_steps, skip_steps + 3)
        per_step, total = fit(steps)
        wanted = skip_steps + math.ceil(min_seconds / max(per_step, 1e-9))
        samples = [(per_step, total)] if wanted <= steps or steps == max_steps else []
        steps = int(min(max_steps, max(steps, wanted)))
        while len(samples) < repeats:
            samples.append(fit(steps))
    per_step_samples = [per_step for per_step, _ in samples]
    overhead_samples = [max(0.0, total - steps * per_step) for per_step, total in samples]
    macs = mlp_macs_per_sample(width)
    params = int(model.count_params())
    return MLPPoint(
        width=width,
        params=params,
        macs_per_sample=macs,
        batch_size=batch_size,
        steps_timed=steps - skip_steps,
        step_seconds=float(np.median(per_step_samples)),
        fit_overhead_seconds=float(np.median(overhead_samples)),
        step_seconds_samples=tuple(per_step_samples),
        samples_per_epoch=samples_per_epoch,
    )


def _progress(items: Sequence[Any], desc: str, progress: bool) -> Iterable[Any]:
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=True)


def mlp_sweep(
    widths: Iterable[int] = DEFAULT_WIDTHS,
    device: str = "cpu",
    progress: bool = False,
    **kwargs: Any,
) -> list[MLPPoint]:
    """:func:`time_mlp_training` for each width (seed 002's 'Training time vs Trainable params').

    ``kwargs`` go to :func:`time_mlp_training` (``batch_size``, ``repeats``, ``min_seconds``,
    ...). ``progress=True`` shows one tqdm bar for the sweep.
    """
    import keras

    widths = [positive_int("widths entries", w) for w in widths]
    if not widths:
        raise ValueError("widths is empty; pass e.g. [16, 256, 4096]")
    points = []
    for width in _progress(widths, f"MLP sweep on {resolve_device(device)}", progress):
        points.append(time_mlp_training(width, device=device, **kwargs))
        keras.utils.clear_session()  # drop the finished model's graph and memory
    return points


# --------------------------------------------------------------------------- GEMM sweep


@dataclass(frozen=True)
class GemmPoint:
    """An n x n fp32 matrix product, 2 n^3 FLOP, timed ``repeats`` times (seconds per call)."""

    n: int
    best_seconds: float
    median_seconds: float
    repeats: int

    @property
    def flop(self) -> float:
        """FLOP per product: 2 n^3 (n^3 multiply-adds)."""
        return 2.0 * self.n**3

    @property
    def best_flop_per_s(self) -> float:
        """FLOP/s of the fastest call (the least disturbed by other work on the machine)."""
        return self.flop / self.best_seconds

    @property
    def median_flop_per_s(self) -> float:
        """FLOP/s of the median call."""
        return self.flop / self.median_seconds

    def __str__(self) -> str:
        return (
            f"n={self.n:>5}: {self.best_seconds * 1e6:12,.1f} us/call best -> "
            f"{self.best_flop_per_s / 1e9:8.2f} GFLOP/s"
        )


def gemm_sweep(
    sizes: Iterable[int] = DEFAULT_GEMM_SIZES,
    device: str = "cpu",
    min_seconds: float = 0.1,
    max_repeats: int = 200,
    progress: bool = False,
) -> list[GemmPoint]:
    """FLOP/s of an n x n fp32 GEMM for each n, on ``device`` (TensorFlow's matmul).

    Each size is measured with :func:`course_utils.hardware.measure_peak_flops` (inputs
    made on the device beforehand; each call waits for its result), first 3 times, then,
    when those took less than ``min_seconds``, as many times as fit in it (at most
    ``max_repeats``). Small products are dominated by the fixed cost of a call; large
    ones approach the device's peak.
    """
    from ..hardware import measure_peak_flops

    sizes = [positive_int("sizes entries", n) for n in sizes]
    if not sizes:
        raise ValueError("sizes is empty; pass e.g. [64, 512, 2048]")
    max_repeats = integer("max_repeats", max_repeats, 3)
    resolve_device(device)  # fail early, with the GPU help text
    points = []
    for n in _progress(sizes, "GEMM sweep", progress):
        probe = measure_peak_flops(n=n, repeats=3, warmup=1, device=device)
        median = probe.latency.median
        if 3 * median < min_seconds:
            repeats = int(min(max_repeats, max(3, min_seconds / max(median, 1e-9))))
            probe = measure_peak_flops(n=n, repeats=repeats, warmup=2, device=device)
        points.append(GemmPoint(n, probe.latency.min, probe.latency.median, probe.latency.n))
    return points


# --------------------------------------------------------------------------- host-to-device copies


@dataclass(frozen=True)
class TransferPoint:
    """Seconds to copy ``size_bytes`` from host (main) memory to a device, best and median."""

    size_bytes: int
    best_seconds: float
    median_seconds: float
    repeats: int

    @property
    def bytes_per_s(self) -> float:
        """Bytes per second of the fastest copy."""
        return self.size_bytes / self.best_seconds

    def __str__(self) -> str:
        return (
            f"{self.size_bytes:>12,} B: {self.best_seconds * 1e6:10,.1f} us best "
            f"-> {self.bytes_per_s / 1e9:6.2f} GB/s"
        )


CPU_H2D_NOTE = (
    "N/A on a CPU: it computes on main memory, so there is no host-to-device copy to time"
)


def measure_h2d(
    size_bytes: int, device: str = "gpu", repeats: int = 20, warmup: int = 3
) -> TransferPoint:
    """Time copying a float32 tensor of ``size_bytes`` from host memory to ``device`` (a GPU).

    The tensor is made in host memory once; each timed call copies it with
    ``tf.identity`` placed on the device and fetches one element back, which waits
    for the copy (so each sample includes one small device-to-host round trip: the
    latency seen by a training step that needs its data). On the CPU there is no
    copy: ValueError (:data:`CPU_H2D_NOTE`).
    """
    import tensorflow as tf

    from ..timing import measure_latency

    size_bytes = integer("size_bytes", size_bytes, 4)
    placement = resolve_device(device)
    if placement == CPU:
        raise ValueError(f"measure_h2d(device={device!r}): {CPU_H2D_NOTE}")
    with tf.device(CPU):
        host = tf.ones(size_bytes // 4, dtype=tf.float32)

    def copy() -> Any:
        # TensorFlow remembers a tensor's copy on another device ("mirror") and would reuse
        # it: a fresh CPU handle on the same buffer (Identity copies nothing on the CPU)
        # makes every call a real copy.
        with tf.device(CPU):
            fresh = tf.identity(host)
        with tf.device(placement):
            return tf.identity(fresh)[-1]

    with tf.device(placement):
        landed = tf.identity(host).device
    if not landed.upper().endswith(placement.strip("/").upper()):
        raise RuntimeError(f"the copy landed on {landed!r}, not on {placement!r}")
    stats = measure_latency(copy, warmup=warmup, repeats=repeats)
    return TransferPoint(4 * (size_bytes // 4), stats.min, stats.median, stats.n)


def h2d_sweep(
    sizes_bytes: Iterable[int] = DEFAULT_H2D_SIZES_BYTES,
    device: str = "gpu",
    repeats: int = 20,
    progress: bool = False,
) -> list[TransferPoint]:
    """:func:`measure_h2d` for each size (bytes); fit them with :func:`fit_transfer`."""
    sizes = [integer("sizes_bytes entries", s, 4) for s in sizes_bytes]
    if not sizes:
        raise ValueError("sizes_bytes is empty; pass e.g. [4096, 2**20, 2**26]")
    return [
        measure_h2d(s, device=device, repeats=repeats)
        for s in _progress(sizes, "host-to-device", progress)
    ]


# --------------------------------------------------------------------------- time = overhead + work / rate


def fit_affine(work: Sequence[float], seconds: Sequence[float]) -> tuple[float, float]:
    """Fit ``seconds = overhead + work / rate``; return ``(overhead_seconds, rate)``.

    Least squares on the **relative** error (each point weighted by 1 / seconds), so a
    1 ms point counts as much as a 1 s one: the small points fix the overhead, the
    large ones the rate. The overhead is kept >= 0 (refitted through the origin if
    the free fit goes below). ``rate`` is work per second (FLOP/s, bytes/s).
    """
    x = np.asarray(work, dtype=np.float64).reshape(-1)
    t = np.asarray(seconds, dtype=np.float64).reshape(-1)
    if x.size != t.size or x.size < 2:
        raise ValueError("fit_affine needs work and seconds of equal length, at least 2 points")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(t)) and np.all(t > 0)):
        raise ValueError("work and seconds must be finite, seconds > 0")
    if np.ptp(x) <= 0:
        raise ValueError("fit_affine needs points with different amounts of work")
    design = np.stack([np.ones_like(x), x], axis=1) / t[:, None]
    (overhead, slope), *_ = np.linalg.lstsq(design, np.ones_like(t), rcond=None)
    if overhead < 0:
        overhead = 0.0
        slope = float(np.sum(x / t) / np.sum((x / t) ** 2))
    if slope <= 0:
        raise ValueError(
            "the time does not grow with the work in these points (too noisy, or all "
            "overhead); measure a wider range of sizes"
        )
    return float(overhead), float(1.0 / slope)


@dataclass(frozen=True)
class StepModel:
    """Seconds per training step = ``overhead_seconds + flop / flop_per_s``."""

    overhead_seconds: float
    flop_per_s: float

    def step_seconds(self, flop_per_step: Any) -> Any:
        """Seconds per step for ``flop_per_step`` FLOP (scalar or array)."""
        return self.overhead_seconds + np.asarray(flop_per_step, dtype=np.float64) / self.flop_per_s


def fit_step_model(points: Sequence[MLPPoint]) -> StepModel:
    """:func:`fit_affine` of a sweep's seconds per step against its FLOP per step."""
    if len(points) < 2:
        raise ValueError("fit_step_model needs at least two MLPPoints (widths)")
    overhead, rate = fit_affine([p.flop_per_step for p in points], [p.step_seconds for p in points])
    return StepModel(overhead, rate)


@dataclass(frozen=True)
class TransferModel:
    """Copy seconds = ``latency_seconds + size_bytes / bytes_per_s``."""

    latency_seconds: float
    bytes_per_s: float

    def seconds(self, size_bytes: Any) -> Any:
        """Seconds to copy ``size_bytes`` (scalar or array)."""
        return self.latency_seconds + np.asarray(size_bytes, dtype=np.float64) / self.bytes_per_s


def fit_transfer(points: Sequence[TransferPoint]) -> TransferModel:
    """:func:`fit_affine` of host-to-device copies: latency (s) and bandwidth (bytes/s)."""
    latency, rate = fit_affine([p.size_bytes for p in points], [p.best_seconds for p in points])
    return TransferModel(latency, rate)


def crossover(
    x: Sequence[float], cpu_seconds: Sequence[float], gpu_seconds: Sequence[float]
) -> float | None:
    """The x (e.g. trainable parameters) where the GPU becomes faster than the CPU, or None.

    Walks the points in order of x and finds the first interval where the GPU goes from
    slower (or equal) to faster; the crossing is interpolated on log-log axes. Returns
    ``x[0]`` when the GPU is already faster at the first point, None when it never is.
    """
    xs, c, g = (np.asarray(v, dtype=np.float64).reshape(-1) for v in (x, cpu_seconds, gpu_seconds))
    if not (xs.size == c.size == g.size) or xs.size == 0:
        raise ValueError("x, cpu_seconds and gpu_seconds must be non-empty and of equal length")
    if np.any(xs <= 0) or np.any(c <= 0) or np.any(g <= 0):
        raise ValueError("x and the seconds must be > 0 (they are interpolated on log axes)")
    order = np.argsort(xs)
    xs, c, g = xs[order], c[order], g[order]
    gap = np.log(g) - np.log(c)  # > 0: the GPU is slower
    if gap[0] < 0:
        return float(xs[0])
    for i in range(1, xs.size):
        if gap[i] < 0 <= gap[i - 1]:
            frac = gap[i - 1] / (gap[i - 1] - gap[i])
            return float(np.exp(np.log(xs[i - 1]) + frac * (np.log(xs[i]) - np.log(xs[i - 1]))))
    return None


# --------------------------------------------------------------------------- an estimate for a GPU we lack


def count_train_step_ops(model: Any, batch_size: int = BATCH_SIZE) -> int:
    """Operations in one traced training step of a compiled Keras model (TensorFlow backend).

    Traces ``model.train_step`` for one batch and counts the graph's operations, leaving
    out those that launch no kernel (:data:`KERNEL_FREE_OPS`: constants, inputs, variable
    reads, identities). On a GPU each counted operation is (at least) one kernel launch;
    TensorFlow's optimiser fuses a few of them at run time, so this is an upper bound.
    """
    import tensorflow as tf

    if getattr(model, "optimizer", None) is None or not hasattr(model, "train_step"):
        raise TypeError("count_train_step_ops needs a compiled keras.Model (call model.compile)")
    batch_size = integer("batch_size", batch_size, 1)
    shape = tuple(model.input_shape[1:])
    model.optimizer.build(model.trainable_variables)
    spec = (
        tf.TensorSpec((batch_size, *shape), tf.float32),
        tf.TensorSpec((batch_size,), tf.uint8),
    )
    graph = tf.function(model.train_step).get_concrete_function(spec).graph
    return sum(op.type not in KERNEL_FREE_OPS for op in graph.get_operations())


#: PCIe 3.0 x16, per direction: 16 lanes x 8 GT/s x 128/130 encoding / 8 bits = 15.75 GB/s.
PCIE3_X16_BYTES_PER_S = 16 * 8e9 * (128 / 130) / 8


@dataclass(frozen=True)
class GPUEstimate:
    """A labelled estimate of training and GEMM time on a catalogue GPU (no measurement).

    An additive model with every assumption a field (and printed by :meth:`assumptions`):

    ``step = host_overhead + ops_per_step x launch_seconds
             + (link_latency + batch_bytes / link_bytes_per_s) + flop / (utilization x peak)``

    * ``host_overhead_seconds``: the per-step framework work on the host (Python, Keras,
      TensorFlow's executor), taken from the CPU sweep's fitted overhead;
    * ``ops_per_step`` x ``launch_seconds``: each operation of the step is a kernel
      launch on the GPU (:func:`count_train_step_ops`); a few microseconds each;
    * the batch crosses PCIe (``link_bytes_per_s``, ``link_latency_seconds``);
    * the arithmetic runs at ``utilization`` x the catalogue's fp32 peak;
    * per epoch, the ``fit`` call's set-up as measured on the CPU (:meth:`epoch_seconds`).

    Real GPUs overlap some of these, so read the result as a rough upper bound per step.
    ``gemm_utilization`` is the share of peak a large, single matrix product reaches.
    """

    device: Any  # a course_utils.hardware.Device
    host_overhead_seconds: float
    ops_per_step: int
    utilization: float = 0.3
    gemm_utilization: float = 0.8
    launch_seconds: float = 5e-6
    link_bytes_per_s: float = 0.75 * PCIE3_X16_BYTES_PER_S
    link_latency_seconds: float = 10e-6
    precision: str = "fp32"

    def __post_init__(self) -> None:
        for name in ("utilization", "gemm_utilization"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"{name} is a fraction of peak in (0, 1], got {value!r}")
        for name in ("host_overhead_seconds", "launch_seconds", "link_latency_seconds"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
        if not self.link_bytes_per_s > 0:
            raise ValueError(f"link_bytes_per_s must be > 0, got {self.link_bytes_per_s!r}")
        integer("ops_per_step", self.ops_per_step, 1)
        self.device.peak(self.precision)  # raises, listing the known precisions

    @property
    def peak_flop_per_s(self) -> float:
        """The catalogue's peak at ``precision`` (FLOP/s)."""
        return float(self.device.peak(self.precision))

    @property
    def fixed_step_seconds(self) -> float:
        """Seconds per step before any arithmetic: host + launches (the copy is added per batch)."""
        return self.host_overhead_seconds + self.ops_per_step * self.launch_seconds

    def transfer_seconds(self, size_bytes: Any) -> Any:
        """Seconds to copy ``size_bytes`` over the assumed link."""
        return (
            self.link_latency_seconds
            + np.asarray(size_bytes, dtype=np.float64) / self.link_bytes_per_s
        )

    def step_seconds(self, flop_per_step: Any, input_bytes_per_step: Any) -> Any:
        """Estimated seconds per training step (scalar or array)."""
        compute = np.asarray(flop_per_step, dtype=np.float64) / (
            self.utilization * self.peak_flop_per_s
        )
        return self.fixed_step_seconds + self.transfer_seconds(input_bytes_per_step) + compute

    def epoch_seconds(self, point: MLPPoint) -> float:
        """Estimated seconds per epoch for the width of ``point`` (same batch and samples).

        ``point.fit_overhead_seconds`` (the ``fit`` call's set-up, host work measured on
        the CPU) plus ``steps_per_epoch`` estimated steps.
        """
        step = self.step_seconds(point.flop_per_step, point.input_bytes_per_step)
        return float(point.fit_overhead_seconds + point.steps_per_epoch * step)

    def gemm_flop_per_s(self, n: Any, call_overhead_seconds: float) -> Any:
        """Estimated FLOP/s of one n x n GEMM call as :func:`gemm_sweep` times it.

        ``2 n^3 / (call_overhead + launch + link latency + 2 n^3 / (gemm_utilization x peak))``:
        the host's cost of a call (measured on the CPU), one kernel launch, one small copy
        back (the result element that the timer waits for), and the arithmetic.
        """
        flop = 2.0 * np.asarray(n, dtype=np.float64) ** 3
        seconds = (
            call_overhead_seconds
            + self.launch_seconds
            + self.link_latency_seconds
            + flop / (self.gemm_utilization * self.peak_flop_per_s)
        )
        return flop / seconds

    def assumptions(self) -> list[str]:
        """Every assumption of the estimate, one line each, with its value."""
        return [
            f"GPU: {self.device.name}, catalogue {self.precision} peak "
            f"{self.peak_flop_per_s / 1e12:.1f} TFLOP/s ({self.device.source.split(';')[0]})",
            f"training arithmetic at {self.utilization:.0%} of peak; one large GEMM at "
            f"{self.gemm_utilization:.0%} (assumed)",
            f"host work per step {self.host_overhead_seconds * 1e3:.2f} ms "
            "(measured: the CPU sweep's fitted overhead), and per epoch the fit call's "
            "set-up as measured on the CPU",
            f"{self.ops_per_step} operations per training step (counted in the traced step) x "
            f"{self.launch_seconds * 1e6:.0f} us per kernel launch (assumed) = "
            f"{self.ops_per_step * self.launch_seconds * 1e3:.2f} ms",
            f"batch copied over PCIe at {self.link_bytes_per_s / 1e9:.1f} GB/s "
            f"(assumed: 75 % of PCIe 3.0 x16's {PCIE3_X16_BYTES_PER_S / 1e9:.2f} GB/s) "
            f"+ {self.link_latency_seconds * 1e6:.0f} us latency (assumed)",
            "no overlap between these parts (real GPUs overlap some: an upper bound)",
        ]


# --------------------------------------------------------------------------- reference files


class ReferenceFileError(ValueError):
    """A reference file is not a readable cpu-vs-gpu record; the message names the file and why."""


@dataclass(frozen=True)
class DeviceRun:
    """All three sweeps on one device of the recording machine.

    ``device`` is TensorFlow's name (``'/CPU:0'``, ``'/GPU:0'``), ``kind`` ``'cpu'`` or
    ``'gpu'``, ``name`` the human-readable one (:func:`course_utils.timing.describe_device`).
    ``h2d`` is None on a CPU (``h2d_note`` says why).
    """

    device: str
    kind: str
    name: str
    mlp: tuple[MLPPoint, ...]
    gemm: tuple[GemmPoint, ...]
    h2d: tuple[TransferPoint, ...] | None = None
    h2d_note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("cpu", "gpu"):
            raise ValueError(f"kind must be 'cpu' or 'gpu', got {self.kind!r}")
        if not self.device.upper().startswith(f"/{self.kind.upper()}:"):
            raise ValueError(f"device {self.device!r} does not match kind {self.kind!r}")
        if not self.name.upper().startswith(f"{self.kind.upper()}:"):
            raise ValueError(f"name {self.name!r} must start with {self.kind.upper()!r}: ...")

    @property
    def params(self) -> list[int]:
        """Trainable parameters per width of the MLP sweep."""
        return [p.params for p in self.mlp]

    @property
    def epoch_seconds(self) -> list[float]:
        """Extrapolated seconds per epoch per width."""
        return [p.epoch_seconds for p in self.mlp]


@dataclass(frozen=True)
class BenchRecord:
    """A recorded cpu-vs-gpu benchmark: which machine, when, with what software, and the runs."""

    created_utc: str
    machine: dict[str, Any]
    versions: dict[str, str]
    settings: dict[str, Any]
    runs: tuple[DeviceRun, ...]
    schema: str = SCHEMA
    source: str = field(default="", compare=False)  # the file it was loaded from

    def run(self, kind: str) -> DeviceRun | None:
        """The first run of ``kind`` ('cpu' or 'gpu'), or None."""
        return next((r for r in self.runs if r.kind == kind), None)

    @property
    def date(self) -> str:
        """Recording date, YYYY-MM-DD (UTC)."""
        return self.created_utc[:10]

    def label(self, kind: str) -> str:
        """A plot label: device, recording date and software versions."""
        run = self.run(kind)
        if run is None:
            raise KeyError(f"this record has no {kind!r} run")
        return (
            f"{run.name} (recorded {self.date}, TF {self.versions.get('tensorflow', '?')}, "
            f"Keras {self.versions.get('keras', '?')})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (derived values such as epoch seconds added for readers)."""
        runs = []
        for r in self.runs:
            run = asdict(r)
            for point, raw in zip(r.mlp, run["mlp"], strict=True):
                raw["epoch_seconds"] = point.epoch_seconds
                raw["train_flop_per_s"] = point.train_flop_per_s
                raw["step_seconds_samples"] = list(point.step_seconds_samples)
            for point, raw in zip(r.gemm, run["gemm"], strict=True):
                raw["best_flop_per_s"] = point.best_flop_per_s
            if r.h2d is not None:
                for point, raw in zip(r.h2d, run["h2d"], strict=True):
                    raw["bytes_per_s"] = point.bytes_per_s
            runs.append(run)
        return {
            "schema": self.schema,
            "created_utc": self.created_utc,
            "machine": self.machine,
            "versions": self.versions,
            "settings": self.settings,
            "runs": runs,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "") -> BenchRecord:
        """Rebuild a record from :meth:`to_dict` output; ReferenceFileError if it is not one."""
        where = source or "the data"
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            found = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise ReferenceFileError(
                f"{where} is not a cpu-vs-gpu reference (schema {found!r}, expected {SCHEMA!r}); "
                "record one with `python -m course_utils bench cpu-vs-gpu --out FILE.json`"
            )
        try:
            runs = tuple(_run_from_dict(r) for r in data["runs"])
            record = cls(
                created_utc=str(data["created_utc"]),
                machine=dict(data["machine"]),
                versions={k: str(v) for k, v in data["versions"].items()},
                settings=dict(data["settings"]),
                runs=runs,
                source=source,
            )
            _dt.datetime.strptime(record.created_utc, "%Y-%m-%dT%H:%M:%SZ")
        except (KeyError, TypeError, ValueError) as exc:
            raise ReferenceFileError(f"{where} is damaged: {type(exc).__name__}: {exc}") from None
        if not runs:
            raise ReferenceFileError(f"{where} holds no runs")
        return record


def _fields(cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return {k: v for k, v in raw.items() if k in names}


def _run_from_dict(raw: dict[str, Any]) -> DeviceRun:
    h2d = raw.get("h2d")
    return DeviceRun(
        device=raw["device"],
        kind=raw["kind"],
        name=raw["name"],
        mlp=tuple(MLPPoint(**_fields(MLPPoint, p)) for p in raw["mlp"]),
        gemm=tuple(GemmPoint(**_fields(GemmPoint, p)) for p in raw["gemm"]),
        h2d=None if h2d is None else tuple(TransferPoint(**_fields(TransferPoint, p)) for p in h2d),
        h2d_note=raw.get("h2d_note", ""),
    )


def _versions() -> dict[str, str]:
    from .. import __version__, versions

    found = {"python": platform.python_version(), "course_utils": __version__}
    for name in ("tensorflow", "keras", "numpy"):
        found[name] = versions.installed(name) or "not installed"
    return found


def _device_kinds(devices: str | Sequence[str]) -> list[str]:
    """'all' -> the CPU and the first GPU when there is one; else the devices named."""
    from ..timing import gpu_available

    if isinstance(devices, str):
        devices = [devices]
    chosen: list[str] = []
    for device in devices:
        if device == "all":
            names = [CPU, "/GPU:0"] if gpu_available() else [CPU]
        else:
            names = [resolve_device(device)]  # GPUUnavailableError with help when missing
        chosen += [n for n in names if n not in chosen]
    return chosen


def run_cpu_vs_gpu(
    devices: str | Sequence[str] = "all",
    quick: bool = False,
    widths: Sequence[int] | None = None,
    gemm_sizes: Sequence[int] | None = None,
    h2d_sizes_bytes: Sequence[int] | None = None,
    repeats: int = 2,
    min_seconds: float = 0.25,
    progress: bool = False,
    command: str = "",
    note: str = "",
) -> BenchRecord:
    """Run the MLP, GEMM and host-to-device sweeps on each device and return the record.

    ``devices``: ``'all'`` (the CPU, plus the first GPU when TensorFlow sees one), or
    ``'cpu'``, ``'gpu'``, or a list of them. ``quick=True`` uses the small sweeps
    (:data:`QUICK_WIDTHS`, ...); explicit ``widths``/``gemm_sizes``/``h2d_sizes_bytes``
    win over both defaults. ``repeats`` and ``min_seconds`` go to :func:`time_mlp_training`.
    The host-to-device sweep runs on GPUs only. ``command`` and ``note`` (anything a reader
    should know, e.g. "Colab free tier" or "other jobs shared the CPU") go into the settings.
    """
    from ..results import machine_info

    try:
        load = [round(v, 2) for v in os.getloadavg()]  # other work on the machine slows timings
    except (AttributeError, OSError):  # Windows
        load = None
    runs = []
    for placement in _device_kinds(devices):
        kind = "gpu" if placement.upper().startswith("/GPU") else "cpu"
        w = widths or (QUICK_WIDTHS if quick else DEFAULT_WIDTHS)
        g = gemm_sizes or (
            QUICK_GEMM_SIZES if quick else GPU_GEMM_SIZES if kind == "gpu" else DEFAULT_GEMM_SIZES
        )
        mlp = mlp_sweep(
            w, device=placement, repeats=repeats, min_seconds=min_seconds, progress=progress
        )
        gemm = gemm_sweep(g, device=placement, progress=progress)
        if kind == "gpu":
            sizes = h2d_sizes_bytes or (QUICK_H2D_SIZES_BYTES if quick else DEFAULT_H2D_SIZES_BYTES)
            h2d, h2d_note = tuple(h2d_sweep(sizes, device=placement, progress=progress)), ""
        else:
            h2d, h2d_note = None, CPU_H2D_NOTE
        runs.append(
            DeviceRun(
                placement, kind, describe_device(placement), tuple(mlp), tuple(gemm), h2d, h2d_note
            )
        )
    return BenchRecord(
        created_utc=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        machine=machine_info(),
        versions=_versions(),
        settings={
            "batch_size": BATCH_SIZE,
            "samples_per_epoch": SAMPLES_PER_EPOCH,
            "optimizer": "RMSprop",
            "dropout": 0.2,
            "repeats": repeats,
            "quick": bool(quick),
            "command": command,
            "note": note,
            "load_average_1_5_15_min_at_start": load,
            "method": (
                "MLP: steady-state seconds per step inside model.fit, extrapolated to one "
                "epoch; GEMM: best of repeats; H2D: host tensor -> device, best of repeats"
            ),
        },
        runs=tuple(runs),
    )


def save(record: BenchRecord, path: str | Path) -> Path:
    """Write ``record`` as JSON to ``path`` (a ``.json`` file; folders are created)."""
    path = Path(path)
    if path.suffix != ".json":
        raise ValueError(f"path must end in .json, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record.to_dict(), indent=1) + "\n")
    return path


def load(path: str | Path) -> BenchRecord:
    """Read a reference file written by :func:`save` (ReferenceFileError names what is wrong)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no reference file {path}; record one with "
            f"`python -m course_utils bench cpu-vs-gpu --out {path}`"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ReferenceFileError(f"{path} is not valid JSON: {exc}") from None
    return BenchRecord.from_dict(data, source=str(path))


def reference_dir() -> Path | None:
    """``datasets/reference/`` of the course clone (None without a clone, e.g. a pip install)."""
    datasets = paths.datasets_dir()
    return datasets / "reference" if datasets else None


def references(kind: str | None = None, directory: str | Path | None = None) -> list[BenchRecord]:
    """Every reference record in ``directory`` (default ``datasets/reference/``), newest first.

    ``kind='gpu'`` keeps records with a GPU run, ``'cpu'`` those with a CPU run. A file
    that cannot be read is skipped with a warning naming it.
    """
    if kind not in (None, "cpu", "gpu"):
        raise ValueError(f"kind must be None, 'cpu' or 'gpu', got {kind!r}")
    folder = Path(directory) if directory is not None else reference_dir()
    if folder is None or not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            record = load(path)
        except ReferenceFileError as exc:
            warnings.warn(f"skipping {path.name}: {exc}", stacklevel=2)
            continue
        if kind is None or record.run(kind) is not None:
            found.append(record)
    return sorted(found, key=lambda r: r.created_utc, reverse=True)


# --------------------------------------------------------------------------- command line

HELP = "benchmarks: `bench cpu-vs-gpu` records the MLP/GEMM/transfer sweeps of notebook 04"


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected positive integers separated by commas, like 16,256,4096; got {text!r}"
        )
    return values


def _configure_cpu_vs_gpu(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", required=True, metavar="FILE.json",
        help="where to write the record, e.g. datasets/reference/cpu_vs_gpu_t4.json",
    )  # fmt: skip
    parser.add_argument(
        "--device", default="all", choices=("all", "cpu", "gpu"),
        help="all (default): the CPU and, if TensorFlow sees one, the GPU",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="small sweeps (a minute or less)")
    parser.add_argument("--widths", type=_int_list, metavar="N,N,...", help="MLP hidden widths")
    parser.add_argument("--gemm-sizes", type=_int_list, metavar="N,N,...", help="GEMM sides n")
    parser.add_argument(
        "--h2d-sizes", type=_int_list, metavar="BYTES,...", help="host-to-device copy sizes"
    )
    parser.add_argument("--repeats", type=int, default=2, help="timed fit calls per width (2)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    parser.add_argument(
        "--note", default="", help="stored with the record, e.g. 'Colab free tier, T4'"
    )
    parser.set_defaults(bench_run=main_cpu_vs_gpu)


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench`` sub-commands (now: ``cpu-vs-gpu``) to a ``bench`` parser.

    Matches ``course_utils.__main__.register``'s ``configure`` argument.
    """
    commands = parser.add_subparsers(dest="bench_command", metavar="BENCHMARK")
    _configure_cpu_vs_gpu(
        commands.add_parser(
            "cpu-vs-gpu",
            help="seed 002's CPU vs GPU sweeps, written to a JSON reference file",
            description=main_cpu_vs_gpu.__doc__.split("\n\n")[0],
        )
    )


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``bench`` (with ``cpu-vs-gpu``) to an argparse sub-parsers object; return its parser."""
    parser = subparsers.add_parser("bench", help=HELP, description=HELP)
    configure(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the ``bench`` sub-command chosen in ``args``; matches ``register``'s ``run``."""
    command = getattr(args, "bench_run", None)
    if command is None:
        print("bench: name a benchmark, e.g. `bench cpu-vs-gpu --out FILE.json`", file=sys.stderr)
        return 2
    return command(args)


def main_cpu_vs_gpu(args: argparse.Namespace) -> int:
    """Record the CPU vs GPU sweeps to ``args.out`` and print a summary; return the exit code.

    Exit code 2 (with the reason on stderr) for a bad ``--out``, an existing file without
    ``--force``, or ``--device gpu`` on a machine without a GPU.
    """
    out = Path(args.out)
    problem = None
    if out.suffix != ".json":
        problem = f"--out must name a .json file, got {args.out!r}"
    elif out.exists() and not args.force:
        problem = f"{out} exists; pass --force to overwrite it"
    elif args.repeats < 1:
        problem = f"--repeats must be >= 1, got {args.repeats}"
    if problem:
        print(f"bench cpu-vs-gpu: error: {problem}", file=sys.stderr)
        return 2
    command = _command_line(args)
    from ..tfenv import import_tensorflow

    import_tensorflow()  # without TensorFlow's C++ start-up chatter
    try:
        record = run_cpu_vs_gpu(
            devices=args.device,
            quick=args.quick,
            widths=args.widths,
            gemm_sizes=args.gemm_sizes,
            h2d_sizes_bytes=args.h2d_sizes,
            repeats=args.repeats,
            progress=sys.stderr.isatty(),
            command=command,
            note=args.note,
        )
    except GPUUnavailableError as exc:
        print(f"bench cpu-vs-gpu: error: {exc}", file=sys.stderr)
        return 2
    save(record, out)
    print(summary(record))
    print(f"written: {out}")
    return 0


def _command_line(args: argparse.Namespace) -> str:
    """The command that reproduces ``args`` (stored in the record's settings)."""
    parts = [
        "python -m course_utils bench cpu-vs-gpu",
        f"--out {args.out}",
        f"--device {args.device}",
    ]
    if args.quick:
        parts.append("--quick")
    for flag, values in (
        ("--widths", args.widths), ("--gemm-sizes", args.gemm_sizes), ("--h2d-sizes", args.h2d_sizes)
    ):  # fmt: skip
        if values:
            parts.append(f"{flag} {','.join(map(str, values))}")
    parts.append(f"--repeats {args.repeats}")
    if args.note:
        parts.append(f"--note {json.dumps(args.note)}")
    return " ".join(parts)


def summary(record: BenchRecord) -> str:
    """A printable summary of a record: one block per device."""
    lines = [f"cpu-vs-gpu record of {record.created_utc} ({record.machine.get('cpu', '?')})"]
    for r in record.runs:
        lines.append(f"\n{r.name} [{r.device}]")
        lines += [f"  {p}" for p in r.mlp]
        lines += [f"  GEMM {p}" for p in r.gemm]
        if r.h2d is None:
            lines.append(f"  host-to-device: {r.h2d_note}")
        else:
            lines += [f"  H2D {p}" for p in r.h2d]
            if len(r.h2d) >= 2:
                model = fit_transfer(r.h2d)
                lines.append(
                    f"  H2D fit: {model.latency_seconds * 1e6:.1f} us + bytes / "
                    f"{model.bytes_per_s / 1e9:.2f} GB/s"
                )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m course_utils.labs.cpu_vs_gpu cpu-vs-gpu ...``: the bench commands on their own."""
    parser = argparse.ArgumentParser(prog="python -m course_utils.labs.cpu_vs_gpu", description=HELP)
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
