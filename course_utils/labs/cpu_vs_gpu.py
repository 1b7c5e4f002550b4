"""CPU vs GPU (notebook 04): the benchmark harness, its reference records, and the GPU check.

Seed 002, 'When is the GPU faster than the CPU for NN?': notebook 04 writes the idea (FLOP by hand,
seconds = overhead + work / rate, the crossover); this module measures it on any device Keras sees and
keeps JSON reference records (:func:`record`, :func:`load`). Only Keras 3, so ``KERAS_BACKEND=jax python
-m course_utils gpu-check`` runs without TensorFlow. ``jit_compile`` is explicit (:func:`jit_setting`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import math
import os
import platform
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from .. import __version__, costs, paths, versions
from ..energy import EnergyMeter
from ..machine import cpu_model, describe_device
from ..tfenv import filtered_stderr
from ..timing import GPUUnavailableError, LatencyStats, TimedFlops, measure_latency
from ..validators import number, positive_int

SCHEMA = "course_utils/cpu-vs-gpu/3"  # 3: copies timed back to back, load before the run, the TF32 setting
READABLE = (SCHEMA, "course_utils/cpu-vs-gpu/2")  # 2: each copy one call with a 4-byte read-back
BATCH_SIZE = 128  # Keras' MNIST MLP example, the seed's model: batch 128, RMSprop, dropout 0.2
SAMPLES_PER_EPOCH = 60_000  # MNIST's training digits
WIDTHS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)  # n = 4096: the slide's 20,037,642 params
GEMM_SIZES = (16, 32, 64, 128, 256, 512, 1024, 2048)
GPU_GEMM_SIZES = (*GEMM_SIZES, 4096, 8192)
H2D_SIZES_BYTES = tuple(2**k for k in range(12, 29, 2))  # 4 KiB ... 256 MiB
H2D_COPIES = 8  # copies per timed sample, issued back to back with one wait at the end
BATCH_SIZES = (1, 8, 64, 512, 4096)  # inference vs batch size (notebook 01 promises it on a GPU)
QUICK = {"widths": (16, 128, 1024), "gemm": (32, 128, 512), "h2d": (2**12, 2**18, 2**24), "batch": (1, 64, 1024),
         "lenet": 5_000, "energy_seconds": 1.0}  # fmt: skip


@functools.lru_cache(maxsize=1)
def gpu_devices() -> tuple[str, ...]:
    """The GPUs Keras' backend sees, named as Keras names them (``'gpu:0'``, ...); () without one."""
    with filtered_stderr():  # TensorFlow and JAX print their CUDA probing on first use
        import keras
        try:
            return tuple(d for d in keras.distribution.list_devices("gpu") if d.startswith("gpu"))
        except (RuntimeError, ValueError):  # JAX without a GPU platform raises
            return ()


def _keras() -> Any:
    gpu_devices()  # imports Keras and its backend once, quietly
    import keras
    return keras


def backend() -> str:
    """Keras' backend, ``'tensorflow'`` or ``'jax'`` (chosen by ``KERAS_BACKEND``)."""
    return str(_keras().backend.backend())


def jit_setting(jit_compile: bool | None = None) -> bool:
    """The ``jit_compile`` to use: the one given, else False on TensorFlow (no XLA), True on JAX."""
    return backend() == "jax" if jit_compile is None else bool(jit_compile)


def keras_device(device: str) -> str:
    """``'cpu'``, ``'gpu'``, ``'gpu:1'``, ``'/GPU:0'`` -> Keras' ``'cpu:0'``, ``'gpu:0'``, ..."""
    kind, _, index = str(device).strip().lower().removeprefix("/").removeprefix("device:").partition(":")
    if kind not in ("cpu", "gpu") or not (index or "0").isdigit():
        raise ValueError(f"device={device!r} is not understood; use 'cpu', 'gpu' or 'gpu:N'")
    name = f"{kind}:{int(index or 0)}"
    if kind == "gpu" and name not in gpu_devices():
        raise GPUUnavailableError(f"device={device!r}: Keras ({backend()} backend) sees no such GPU ({list(gpu_devices())}). "
                                  "On Colab: Runtime > Change runtime type > GPU, then run again; or measure on 'cpu'.")  # fmt: skip
    return name


def device_label(device: str) -> str:
    """``'CPU: AMD EPYC (2 cores)'``, ``'GPU: NVIDIA H100 80GB HBM3'``: the device, for a label."""
    kind, _, index = keras_device(device).partition(":")
    if kind == "cpu":
        try:
            return describe_device("cpu")
        except ImportError:  # no psutil on a bare GPU machine
            return f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs)"
    if backend() == "jax":
        import jax
        return f"GPU: {jax.devices('gpu')[int(index)].device_kind}"
    return describe_device(f"gpu:{index}")


# --------------------------------------------------------------------------- MLP training sweep


@dataclass(frozen=True)
class MLPPoint:
    """One width n of the MLP sweep (:func:`time_mlp_training`): medians of the steady-state seconds per
    training step and of the rest of a ``fit`` call (input pipeline, first steps, callbacks)."""

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
        counts = (self.width, self.params, self.macs_per_sample, self.batch_size, self.steps_timed)
        if min(counts) < 1 or not (math.isfinite(self.step_seconds) and self.step_seconds > 0 <= self.fit_overhead_seconds):
            raise ValueError(f"need counts >= 1, step_seconds > 0 and fit_overhead_seconds >= 0, got {self!r}")
        object.__setattr__(self, "step_seconds_samples", tuple(map(float, self.step_seconds_samples)))

    @property
    def epoch_seconds(self) -> float:
        """Extrapolated seconds per epoch: fit overhead + ceil(samples / batch) (469) x seconds per step."""
        return self.fit_overhead_seconds + math.ceil(self.samples_per_epoch / self.batch_size) * self.step_seconds

    @property
    def flop_per_step(self) -> float:
        """Training FLOP per step: 2 x batch x (3 x MACs - 784 x width): forward, weight gradients and
        input gradients, none for the images (seed 004's 'training = 3 x inference' is the bound)."""
        return 2.0 * self.batch_size * (3 * self.macs_per_sample - 784 * self.width)

    @property
    def train_flop_per_s(self) -> float:
        """Training FLOP/s reached: flop_per_step / step_seconds."""
        return self.flop_per_step / self.step_seconds

    def __str__(self) -> str:
        return (f"n={self.width:>5}: {self.params:>11,} params, {self.step_seconds * 1e3:8.2f} ms/step "
                f"-> {self.epoch_seconds:7.2f} s/epoch ({self.train_flop_per_s / 1e9:6.1f} GFLOP/s)")  # fmt: skip


@functools.lru_cache(maxsize=1)
def mnist_flat() -> tuple[np.ndarray, np.ndarray]:
    """The 60,000 MNIST training digits as the MLP reads them: float32 (60000, 784) in [0, 1], labels."""
    from ..data import load_mnist
    (x, y), _ = load_mnist()
    return x.reshape(len(x), -1).astype(np.float32) / np.float32(255), y


def time_mlp_training(width: int, device: str = "cpu", jit_compile: bool | None = None,
                      batch_size: int = BATCH_SIZE, repeats: int = 2, min_seconds: float = 0.25,
                      max_steps: int | None = None, skip_steps: int = 2) -> MLPPoint:  # fmt: skip
    """Train seed 002's MLP of width n on ``device`` for a few steps of real ``fit`` calls.

    Built and compiled (RMSprop, ``jit_compile`` explicit) in ``keras.device(device)``; an untimed 2-step
    ``fit`` compiles. ``fit`` calls over all 60,000 digits then stop after N steps (the marked steps last
    ``min_seconds``; N <= ``max_steps``, default one epoch); a callback reads the loss, which waits for the
    device, and the clock after steps ``skip_steps`` and N. Medians of ``repeats`` calls are kept."""
    keras, jit = _keras(), jit_setting(jit_compile)
    width, repeats, min_seconds = positive_int("width", width), positive_int("repeats", repeats), number("min_seconds", min_seconds, 0)
    from ..models import mlp
    x, y = mnist_flat()
    max_steps = min(positive_int("max_steps", max_steps or len(x)), len(x) // batch_size)

    class StepClock(keras.callbacks.Callback):
        def __init__(self, last: int) -> None:
            super().__init__()
            self.last, self.marks = last, {}

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if batch + 1 in (skip_steps, self.last):
                float((logs or {}).get("loss", 0.0))  # copies the loss to the host: waits
                self.marks[batch + 1] = time.perf_counter()

    with keras.device(keras_device(device)):
        model = mlp(width)
        model.compile(optimizer=keras.optimizers.RMSprop(), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], jit_compile=jit)  # fmt: skip

        def fit(steps: int) -> tuple[float, float]:
            clock, start = StepClock(steps), time.perf_counter()
            model.fit(x, y, batch_size=batch_size, steps_per_epoch=steps, verbose=0, callbacks=[clock])
            return (clock.marks[steps] - clock.marks[skip_steps]) / (steps - skip_steps), time.perf_counter() - start

        model.fit(x, y, batch_size=batch_size, steps_per_epoch=2, verbose=0)  # warm-up: compiles
        steps = min(max_steps, skip_steps + 3)
        probe = fit(steps)
        wanted = skip_steps + math.ceil(min_seconds / max(probe[0], 1e-9))
        samples = [probe] if wanted <= steps or steps == max_steps else []
        steps = int(min(max_steps, max(steps, wanted)))
        while len(samples) < repeats:
            samples.append(fit(steps))
    macs = sum(costs.fc_cost(a, b).macs for a, b in ((784, width), (width, width), (width, 10)))
    return MLPPoint(width, int(model.count_params()), macs, batch_size, steps - skip_steps,
                    float(np.median([s for s, _ in samples])),
                    float(np.median([max(0.0, t - steps * s) for s, t in samples])), tuple(s for s, _ in samples))  # fmt: skip


def mlp_sweep(widths: Iterable[int] = WIDTHS, device: str = "cpu", **kwargs: Any) -> list[MLPPoint]:
    """:func:`time_mlp_training` per width (``kwargs`` go to it), e.g. ``mlp_sweep(tqdm(WIDTHS))``."""
    points = []
    for width in widths:
        points.append(time_mlp_training(width, device=device, **kwargs))
        _keras().utils.clear_session()  # drop the finished model
    return points


def gemm_sweep(sizes: Iterable[int] = GEMM_SIZES, device: str = "cpu", repeats: int = 20) -> dict[int, TimedFlops]:
    """n -> :class:`~course_utils.timing.TimedFlops` of an n x n fp32 product (``keras.ops.matmul``), 2 n^3 FLOP.

    Inputs are made on the device; each call fetches one element of the product, which waits for all
    of it. ``best_flop_per_s`` nears the device's peak only where the product outlasts that per-call
    work (an eager call and a read-back: 0.1-0.3 ms on a CPU, 0.5-1.1 ms on the course's H100 under JAX).
    """
    keras, dev, found = _keras(), keras_device(device), {}
    for n in (positive_int("sizes entries", n) for n in sizes):
        with keras.device(dev):
            a, b = keras.random.uniform((n, n), seed=1), keras.random.uniform((n, n), seed=2)
            call = lambda a=a, b=b: keras.ops.convert_to_numpy(keras.ops.matmul(a, b)[0, 0])  # noqa: E731
            stats = measure_latency(call, warmup=2, repeats=repeats)
        found[n] = TimedFlops(f"GEMM n={n}", 2.0 * n**3, stats, 12.0 * n**2, "GEMM", dev)
    return found


def wait(tensors: Sequence[Any]) -> None:
    """Return once every tensor in ``tensors`` exists on its device: one wait for all of them."""
    if backend() == "jax":
        import jax
        return jax.block_until_ready(tensors)
    _keras().ops.convert_to_numpy(tensors[-1][-1])  # a device's copies run in order: the last arrives last


def h2d_sweep(sizes_bytes: Iterable[int] = H2D_SIZES_BYTES, device: str = "gpu", repeats: int = 20,
              copies: int = H2D_COPIES) -> dict[int, LatencyStats]:  # fmt: skip
    """bytes -> seconds per copy of a float32 NumPy array (pageable host memory) onto ``device``.

    Each sample issues ``copies`` copies back to back and waits once (:func:`wait`), so the framework's
    per-call work overlaps the transfers. Pageable memory is staged by the driver (pinned buffers reach
    more of the bus). On a CPU, or a GPU sharing the host's memory (Apple silicon), no bus is crossed."""
    keras, dev, found, copies = _keras(), keras_device(device), {}, positive_int("copies", copies)
    for size in (4 * (positive_int("sizes_bytes entries", s) // 4) for s in sizes_bytes):
        host = np.ones(size // 4, dtype=np.float32)
        with keras.device(dev):
            burst = lambda h=host: wait([keras.ops.convert_to_tensor(h) for _ in range(copies)])  # noqa: E731
            found[size] = LatencyStats(measure_latency(burst, warmup=2, repeats=repeats).samples_seconds / copies)
    return found


def batch_sweep(batch_sizes: Iterable[int] = BATCH_SIZES, device: str = "cpu", width: int = 1024,
                jit_compile: bool | None = None, repeats: int = 10) -> dict[int, LatencyStats]:  # fmt: skip
    """batch -> seconds per inference call (``predict_on_batch``) of seed 002's MLP of ``width``, model
    (``jit_compile`` explicit) and input on ``device``. Throughput = batch / seconds."""
    from ..models import mlp
    keras, found = _keras(), {}
    with keras.device(keras_device(device)):
        model = mlp(width)
        model.compile(jit_compile=jit_setting(jit_compile))
        for b in (positive_int("batch_sizes entries", b) for b in batch_sizes):
            x = keras.random.uniform((b, model.input_shape[1]), seed=3)
            found[b] = measure_latency(lambda x=x: model.predict_on_batch(x), warmup=2, repeats=repeats)
    return found


def energy_counter(device: str) -> bool:
    """True where the energy of work on ``device`` is read from a counter (NVML on a GPU, RAPL on a CPU)."""
    return EnergyMeter(keras_device(device), assumed_watts=1.0).will_measure


def measure_energy(work: Callable[[], Any], device: str = "gpu:0") -> tuple[dict, Any]:
    """(``work()``'s energy from ``device``'s counter, ValueError without one; ``work()``'s result)."""
    with EnergyMeter(keras_device(device)) as meter:
        result = work()
    m = meter.result
    return {"joules": m.joules, "seconds": m.seconds, "average_watts": m.average_watts, "source": m.source}, result


def lenet_fit(device: str = "gpu", jit_compile: bool | None = None, train_size: int = 20_000) -> dict:
    """Train seed 002's LeNet-like CNN for 2 epochs of ``train_size`` MNIST digits on ``device``: epoch 1
    includes compiling, epoch 2 is steady (its energy measured where a counter reads it)."""
    from .. import models, training
    keras, dev = _keras(), keras_device(device)
    split = training.lenet_data(validation_size=0, train_size=train_size)
    keras.utils.set_random_seed(training.SEED)
    seconds = []
    with keras.device(dev):
        model = models.lenet_keras()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], jit_compile=jit_setting(jit_compile))  # fmt: skip
        fit = lambda: model.fit(split.x_train, split.y_train, batch_size=BATCH_SIZE, verbose=0)  # noqa: E731
        for epoch in range(2):
            start = time.perf_counter()
            energy, history = measure_energy(fit, dev) if epoch and energy_counter(dev) else (None, fit())
            seconds.append(time.perf_counter() - start)
        test_accuracy = float(model.evaluate(split.x_test, split.y_test, verbose=0)[1])
    return {"train_size": train_size, "epoch_seconds": seconds, "train_accuracy": history.history["accuracy"][-1],
            "test_accuracy": test_accuracy, "energy": energy}  # fmt: skip


# --------------------------------------------------------------------------- reference records


def matmul_precision() -> dict:
    """The backend's fp32 matrix-product setting now: its knob, its value, and whether TF32 is allowed
    (TF32 tensor cores, Ampere and newer GPUs: a 10-bit mantissa, far above the fp32 peak)."""
    if backend() == "jax":
        import jax
        value = jax.config.jax_default_matmul_precision  # None: XLA's default, TF32 on those GPUs
        return {"setting": f"jax_default_matmul_precision={value}", "tf32_allowed": value not in ("highest", "float32")}
    import tensorflow as tf
    on = bool(tf.config.experimental.tensor_float_32_execution_enabled())
    return {"setting": f"tf.config.experimental.tensor_float_32_execution_enabled()={on}", "tf32_allowed": on}


def record(devices: Sequence[str] = ("cpu",), quick: bool = False, repeats: int = 2, note: str = "",
           command: str = "", log: Callable[[str], Any] = print) -> dict:  # fmt: skip
    """The reference record (JSON-ready) of each device's MLP, GEMM and inference batch sweeps, its largest
    GEMM's energy (where a counter reads it); a GPU's copies and LeNet fit too. ``quick``: :data:`QUICK`.
    A GPU's steps take milliseconds: its sweeps get at least 5 MLP repeats and more GEMM and batch calls."""
    load_average = getattr(os, "getloadavg", lambda: None)  # Unix: 1, 5, 15-minute load averages
    runs, skipped, jit, pick, load_at_start = [], [], jit_setting(), lambda key, full: QUICK[key] if quick else full, load_average()
    _table = lambda items, key: [{key: k, "samples_seconds": v.samples_seconds.tolist()} for k, v in items.items()]  # noqa: E731
    for dev in map(keras_device, devices):
        entry: dict[str, Any] = {"device": dev, "kind": dev[:3], "name": device_label(dev), "energy": None, "lenet": None}
        gpu = dev[:3] == "gpu"
        log(f"{entry['name']} [{dev}], jit_compile={jit}:")
        mlp = mlp_sweep(pick("widths", WIDTHS), dev, jit_compile=jit, repeats=max(repeats, 5) if gpu else repeats)
        entry["mlp"] = [asdict(p) for p in mlp]
        log("\n".join(f"  {p}" for p in mlp))
        gemm = gemm_sweep(pick("gemm", GPU_GEMM_SIZES if gpu else GEMM_SIZES), dev, repeats=50 if gpu else 20)
        entry["gemm"] = _table({n: t.latency for n, t in gemm.items()}, "n")
        log("  GEMM GFLOP/s (best): " + ", ".join(f"n={n} {t.best_flop_per_s / 1e9:.1f}" for n, t in gemm.items()))
        batch = batch_sweep(pick("batch", BATCH_SIZES), dev, jit_compile=jit, repeats=30 if gpu else 10)
        entry["batch"] = _table(batch, "batch_size")
        log("  inference MLP n=1024, samples/s: " + ", ".join(f"batch {b} {b / s.median:,.0f}" for b, s in batch.items()))
        if gpu:
            h2d = h2d_sweep(pick("h2d", H2D_SIZES_BYTES), dev)
            entry["h2d"] = _table(h2d, "size_bytes")
            log("  host-to-device GB/s (best): " + ", ".join(f"{s:,} B {s / t.min / 1e9:.2f}" for s, t in h2d.items()))
        if energy_counter(dev):  # ~3 s of the largest GEMM: FLOP per joule
            keras, n = _keras(), max(gemm)
            with keras.device(dev):
                a, calls = keras.random.uniform((n, n), seed=1), math.ceil(pick("energy_seconds", 3.0) / gemm[n].seconds)
                e, _ = measure_energy(lambda a=a, c=calls, o=keras.ops: [o.convert_to_numpy(o.matmul(a, a)[0, 0]) for _ in range(c)], dev)
            entry["energy"] = e = e | {"flop": calls * gemm[n].flop}
            log(f"  GEMM n={n} for {e['seconds']:.1f} s: {e['average_watts']:.0f} W, {e['flop'] / e['joules'] / 1e9:.1f} GFLOP/J")
        else:
            why = "NVML needs nvidia-ml-py and a Volta or newer GPU" if gpu else "RAPL is root-only on most Linux systems and absent in VMs"
            skipped.append(f"energy on {dev}: no readable counter ({why})")
        if gpu:
            entry["lenet"] = f = lenet_fit(dev, jit, train_size=pick("lenet", 20_000))
            log(f"  LeNet: epoch 1 {f['epoch_seconds'][0]:.2f} s (compiles), epoch 2 {f['epoch_seconds'][1]:.2f} s, "
                f"test accuracy {f['test_accuracy']:.1%}")  # fmt: skip
        runs.append({"h2d": None, **entry})
    name, gpus = backend(), gpu_devices()
    if not gpus:
        skipped.append(f"no GPU visible to Keras ({name} backend): skipped the GPU sweeps, host-to-device copies, "
                       "GPU energy and LeNet on a GPU")  # fmt: skip
    lib = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib")}.get(name, (name,))
    return {
        "schema": SCHEMA, "created_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command, "note": note, "quick": bool(quick),
        "backend": name, "jit_compile": jit, "xla": jit or name == "jax",
        "versions": {"python": platform.python_version(), "course_utils": __version__,
                     **{p: versions.installed(p) for p in ("keras", *lib, "numpy")}},
        "machine": {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
                    "gpus": [device_label(g) for g in gpus], "load_average_at_start_1_5_15_min": load_at_start,
                    "load_average_1_5_15_min": load_average()},
        "settings": {"batch_size": BATCH_SIZE, "samples_per_epoch": SAMPLES_PER_EPOCH, "optimizer": "RMSprop",
                     "dropout": 0.2, "repeats": repeats, "inference_model": "MLP n=1024",
                     "h2d_copies_per_sample": H2D_COPIES, "fp32_matmul": matmul_precision()},
        "runs": runs, "skipped": skipped,
    }  # fmt: skip


@dataclass(frozen=True)
class Record:
    """A record: ``data`` as written (machine, versions, backend, jit, settings) and ``runs``, each with ``device``,
    ``kind``, ``name``, ``mlp`` (MLPPoints), ``gemm`` ({n: TimedFlops}), ``batch`` and ``h2d`` ({batch or bytes:
    LatencyStats}; h2d None on a CPU), ``energy``, ``lenet`` (or None)."""

    data: dict
    runs: tuple[SimpleNamespace, ...]
    source: str = ""

    def run(self, kind: str) -> SimpleNamespace | None:
        """The first run of ``kind`` (``'cpu'`` or ``'gpu'``), or None."""
        return next((r for r in self.runs if r.kind == kind), None)

    def label(self, kind: str) -> str:
        """A curve's label: device, date, Keras and backend versions, XLA on or off."""
        d, name = self.data, getattr(self.run(kind), "name", f"(no {kind} run)")
        return (f"{name}, recorded {d['created_utc'][:10]} (Keras {d['versions'].get('keras')}, {d['backend']} "
                f"{d['versions'].get(d['backend'])}, XLA {'on' if d['xla'] else 'off'})")  # fmt: skip


def _parse(data: Any, where: str) -> Record:
    if not isinstance(data, dict) or data.get("schema") not in READABLE:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{where} is not a cpu-vs-gpu record (schema {found!r}, expected one of {READABLE}); "
                         "record one with `python -m course_utils gpu-check --out FILE.json`")  # fmt: skip

    def table(rows: list[dict], key: str) -> dict[int, LatencyStats]:
        return {int(row[key]): LatencyStats(np.array(row["samples_seconds"])) for row in rows}

    try:
        runs = []
        for r in data["runs"]:
            if not (r["device"].startswith(r["kind"] + ":") and r["name"].upper().startswith(r["kind"].upper() + ":")):
                raise ValueError(f"run {r['name']!r} on {r['device']!r} is not a {r['kind']!r} run")
            gemm = {n: TimedFlops(f"GEMM n={n}", 2.0 * n**3, s, 12.0 * n**2, "GEMM", r["device"])
                    for n, s in table(r["gemm"], "n").items()}  # fmt: skip
            runs.append(SimpleNamespace(**{**r, "mlp": tuple(MLPPoint(**p) for p in r["mlp"]), "gemm": gemm,
                "batch": table(r["batch"], "batch_size"), "h2d": r["h2d"] and table(r["h2d"], "size_bytes")}))  # fmt: skip
        dt.datetime.strptime(data["created_utc"], "%Y-%m-%dT%H:%M:%SZ")
        if not (isinstance(data["backend"], str) and isinstance(data["xla"], bool) and data["versions"]["keras"]):
            raise ValueError("backend, xla and the Keras version must be recorded")
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where} is damaged: {type(exc).__name__}: {exc}") from None
    if not runs:
        raise ValueError(f"{where} holds no runs")
    return Record(data, tuple(runs), where)


def save(data: dict, path: str | Path) -> Path:
    """Write a :func:`record` as JSON to ``path`` (``.json``; folders are created)."""
    path = Path(path)
    if path.suffix != ".json":
        raise ValueError(f"path must end in .json, got {str(path)!r}")
    _parse(data, "the record")  # never write what load() would refuse
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def load(path: str | Path) -> Record:
    """Read a record written by :func:`save`; ValueError says what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no record {path}; make one: `python -m course_utils gpu-check --out {path}`")
    try:
        return _parse(json.loads(path.read_text()), str(path))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None


def references(directory: str | Path | None = None) -> list[Record]:
    """Every record in ``directory`` (default ``datasets/reference/``), newest first (bad ones: a warning)."""
    folder = Path(directory) if directory is not None else (paths.datasets_dir() or Path("-")) / "reference"
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            found.append(load(path))
        except ValueError as exc:
            warnings.warn(f"skipping {path.name}: {exc}", stacklevel=2)
    return sorted(found, key=lambda r: r.data["created_utc"], reverse=True)


# --------------------------------------------------------------------------- command line

HELP = "run notebook 04's benchmark on the CPU and every GPU path once; write a reference record"


def configure(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``python -m course_utils gpu-check``."""
    parser.add_argument("--out", metavar="FILE.json", help="write the record there, e.g. "
                        "datasets/reference/<machine>_<devices>_<date>.json (default: print only)")  # fmt: skip
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sweeps (default without a GPU)")
    size.add_argument("--full", action="store_true", help="all sweeps (default with a GPU)")
    parser.add_argument("--repeats", type=int, default=2, help="timed fit calls per MLP width (2)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    parser.add_argument("--note", default="", help="stored in the record, e.g. 'Colab free tier'")


def run(args: argparse.Namespace) -> int:
    """Run ``gpu-check`` on the CPU and the first GPU: exit code 0, or 2 with the reason on stderr."""
    out = Path(args.out) if args.out else None
    problem = (f"--out must name a .json file, got {args.out!r}" if out and out.suffix != ".json"
               else f"{out} exists; pass --force to overwrite it" if out and out.exists() and not args.force
               else f"--repeats must be >= 1, got {args.repeats}" if args.repeats < 1 else None)  # fmt: skip
    if problem:
        print(f"gpu-check: error: {problem}", file=sys.stderr)
        return 2
    gpus = gpu_devices()
    print(f"Keras {versions.installed('keras')} on {backend()}, jit_compile={jit_setting()}; {device_label('cpu')}; "
          f"GPUs: {', '.join(map(device_label, gpus)) or 'none'}")  # fmt: skip
    argv = sys.argv[1:] if sys.argv[0].endswith("__main__.py") else []
    data = record(["cpu", *gpus[:1]], args.quick or (not gpus and not args.full), args.repeats, args.note,
                  " ".join(["python -m course_utils", *map(shlex.quote, argv)]), lambda s: print(s, flush=True))
    print("\n".join(f"skipped: {s}" for s in data["skipped"]) or "skipped: nothing")
    if out:
        print(f"written: {save(data, out)}")
    return 0
