"""This machine: its CPU, caches, GPUs and theoretical peak, and probes of what it really does.

Seed 002 ('CPUs') reads a CPU's SIMD flags with ``lscpu`` to see what it can compute per
cycle; :func:`local` does the same and turns cores x SIMD lanes x FMA units x clock into a
theoretical fp32 peak, stating every assumption. :func:`measure_peak_flops` (a large GEMM)
and :func:`measure_bandwidth` (McCalpin's STREAM kernels) measure what the machine
actually does: the two roofs of a roofline (Williams, Waterman & Patterson 2009).
"""

from __future__ import annotations

import math
import os
import platform
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from .timing import (
    CPU,
    LatencyStats,
    TimedFlops,
    Timer,
    device_name,
    gpus,
    measure_latency,
    resolve_device,
)
from .validators import integer, positive_number

MiB = 2**20


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _cpuinfo_field(*names: str) -> str | None:
    """First non-empty value of the first of ``names`` (lower case) found in /proc/cpuinfo."""
    fields: dict[str, str] = {}
    for line in _read("/proc/cpuinfo").splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return next((fields[name] for name in names if fields.get(name)), None)


def _sysctl(name: str, with_names: bool = False) -> str | None:
    """``sysctl -n NAME`` on macOS (``with_names``: ``sysctl NAME``, lines 'key: value'); else None."""
    if platform.system() != "Darwin":
        return None
    try:
        args = ["sysctl", name] if with_names else ["sysctl", "-n", name]
        out = subprocess.run(args, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def cpu_model() -> str:
    """The CPU's marketing name (/proc/cpuinfo, or sysctl on macOS, or ``platform``)."""
    return (
        _cpuinfo_field("model name", "cpu model", "hardware", "model")
        or _sysctl("machdep.cpu.brand_string")
        or platform.processor()
        or platform.machine()
        or "unknown CPU"
    )


def physical_cores() -> int:
    """Physical CPU cores (psutil; logical CPUs if psutil cannot tell)."""
    import psutil

    return int(psutil.cpu_count(logical=False) or psutil.cpu_count() or os.cpu_count() or 1)


def cpu_flags() -> set[str]:
    """The CPU's feature flags, lower case (``'avx2'``, ``'avx512_vnni'``, ``'asimddp'``, ...).

    Linux: ``/proc/cpuinfo``. macOS on Intel: ``sysctl machdep.cpu.*``. Apple silicon:
    ``sysctl hw.optional.arm.FEAT_*`` mapped to Linux's names (FEAT_DotProd -> asimddp,
    FEAT_I8MM -> i8mm, FEAT_BF16 -> bf16; NEON and FMA always). Elsewhere NumPy's own
    run-time detection.
    """
    text = _cpuinfo_field("flags", "features")
    if text:
        return set(text.lower().split())
    arm = _sysctl("hw.optional.arm", with_names=True)
    if arm and "hw.optional.arm.FEAT_" in arm:
        names = {"FEAT_DotProd": "asimddp", "FEAT_I8MM": "i8mm", "FEAT_BF16": "bf16"}
        found = {"asimd", "neon", "fma"}
        for line in arm.splitlines():
            key, _, value = line.partition(":")
            feature = key.strip().rsplit(".", 1)[-1]
            if key.startswith("hw.optional.arm.") and value.strip() == "1":
                found.add(names.get(feature, feature.lower()))
        return found
    mac = " ".join(
        filter(None, (_sysctl("machdep.cpu.features"), _sysctl("machdep.cpu.leaf7_features")))
    )
    if mac:
        return {f.replace(".", "_") for f in mac.lower().split()} | (
            {"fma"} if "fma" in mac.lower() else set()
        )
    try:  # NumPy's own run-time CPU feature detection (private, but cross-platform)
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # pragma: no cover - older NumPy
        return set()
    flags = {name.lower() for name, present in features.items() if present}
    if "fma3" in flags:
        flags.add("fma")
    return flags


def _cache_bytes() -> dict[str, int]:
    """Per-core L1d/L2 and shared L3 sizes from sysfs (Linux), e.g. {'L1d': 32768, ...}."""
    caches: dict[str, int] = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    for index in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        level = _read(f"{base}/{index}/level").strip()
        kind = _read(f"{base}/{index}/type").strip()
        size = _read(f"{base}/{index}/size").strip().upper()
        match = re.fullmatch(r"(\d+)([KMG]?)", size)
        if not level or not match or kind == "Instruction":
            continue
        scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[match.group(2)]
        caches[f"L{level}{'d' if kind == 'Data' else ''}"] = int(match.group(1)) * scale
    return caches


@dataclass(frozen=True)
class LocalMachine:
    """This machine's CPU, its theoretical fp32 peak, and its GPUs (as TensorFlow sees them).

    ``theoretical_peak_flop_per_s = physical_cores x fp32 lanes x 2 FLOP per FMA x
    fma_units x clock_hz`` (seed 002, 'CPUs': the SIMD flags of ``lscpu``). On the
    course's 2-core AMD EPYC (Zen 3) VM that is 2 x 8 x 2 x 2 x 2.445 GHz = 157 GFLOP/s,
    yet NumPy's GEMM measures about 186: the cores boost above the nominal clock
    that the VM reports, so a measured rate above "theory" is possible. Each
    assumption behind the number is listed in ``assumptions``.
    """

    cpu_model: str
    physical_cores: int
    logical_cpus: int
    simd_bits: int
    fma_units: int
    clock_hz: float
    clock_source: str
    cache_bytes: Mapping[str, int]
    memory_bytes: int
    gpus: tuple[str, ...]
    assumptions: tuple[str, ...]

    @property
    def fp32_lanes(self) -> int:
        """fp32 values per SIMD register (simd_bits / 32)."""
        return max(1, self.simd_bits // 32)

    @property
    def flop_per_cycle_per_core(self) -> int:
        """fp32 FLOP per cycle per core: lanes x 2 (an FMA is 2 FLOP) x FMA units."""
        return self.fp32_lanes * 2 * self.fma_units

    @property
    def theoretical_peak_flop_per_s(self) -> float:
        """cores x lanes x 2 x FMA units x clock, in fp32 FLOP/s."""
        return self.physical_cores * self.flop_per_cycle_per_core * self.clock_hz

    def __str__(self) -> str:
        gpus = ", ".join(self.gpus) or "none"
        return (
            f"{self.cpu_model}: {self.physical_cores} cores ({self.logical_cpus} logical), "
            f"{self.simd_bits}-bit SIMD x {self.fma_units} FMA units at {self.clock_hz / 1e9:.3f} GHz "
            f"-> theoretical {self.theoretical_peak_flop_per_s / 1e9:.0f} GFLOP/s fp32; GPUs: {gpus}"
        )


#: Apple silicon reports no clock through sysctl or psutil; the performance cores' maximum
#: clocks as Apple and AnandTech give them (M1 review, Nov 2020; M2-M4 launch coverage).
APPLE_CLOCK_HZ = {"M1": 3.2e9, "M2": 3.49e9, "M3": 4.05e9, "M4": 4.4e9}
#: A clock to assume when none can be read (stated in the assumptions).
ASSUMED_CLOCK_HZ = 3.0e9


def _plausible(hz: float | None) -> bool:
    """A CPU clock between 0.5 and 7 GHz (psutil on Apple silicon can return scaled values)."""
    return hz is not None and 0.5e9 <= hz <= 7e9


def _clock_hz() -> tuple[float, str]:
    """Nominal clock in Hz and where it came from; never fails (an assumed clock is labelled)."""
    match = re.search(r"@\s*([\d.]+)\s*GHz", cpu_model())
    if match:
        return float(match.group(1)) * 1e9, "nominal clock in the CPU's model name"
    apple = re.search(r"Apple (M\d)", cpu_model())
    if apple and apple.group(1) in APPLE_CLOCK_HZ:
        return APPLE_CLOCK_HZ[apple.group(1)], f"Apple {apple.group(1)} performance-core maximum"
    base = _read("/sys/devices/system/cpu/cpu0/cpufreq/base_frequency").strip()
    if base.isdigit():
        return int(base) * 1e3, "cpufreq base_frequency (sysfs)"
    import psutil

    freq = None
    try:
        freq = psutil.cpu_freq()
    except Exception:  # SystemError or a scaled reading on Apple silicon, missing on some VMs
        freq = None
    if freq is not None and _plausible(freq.max * 1e6):
        return freq.max * 1e6, "psutil.cpu_freq().max (maximum, may include boost)"
    mhz = _cpuinfo_field("cpu mhz")
    if mhz and _plausible(float(mhz) * 1e6):
        return float(mhz) * 1e6, "/proc/cpuinfo 'cpu MHz' (no cpufreq driver, e.g. a VM: nominal)"
    hz = _sysctl("hw.cpufrequency")
    if hz and hz.isdigit() and _plausible(float(hz)):
        return float(hz), "sysctl hw.cpufrequency"
    if freq is not None and _plausible(freq.current * 1e6):
        return freq.current * 1e6, "psutil.cpu_freq().current (current clock)"
    return ASSUMED_CLOCK_HZ, (
        "ASSUMED (no clock readable here): pass local(clock_hz=...) from your CPU's datasheet"
    )


def _simd(
    flags: set[str],
    machine: str,
    vendor: str = "",
    family: str | None = None,
    model: str | None = None,
    cpu_name: str = "",
) -> tuple[int, int, list[str]]:
    """(simd_bits, fma_units, assumptions) from CPU flags, architecture and x86 vendor/family/model."""
    notes: list[str] = []
    amd = "amd" in vendor.lower()
    is_arm = machine.lower() in ("arm64", "aarch64") or machine.lower().startswith("arm")
    if "avx512f" in flags:
        if amd and family == "25":
            bits = 256
            notes.append(
                "AVX-512 on AMD Zen 4 runs as two 256-bit halves: counted as 256-bit SIMD."
            )
        else:
            bits = 512
    elif "avx2" in flags or "avx" in flags:
        bits = 256
    elif is_arm and ({"asimd", "neon"} & flags or machine.lower() == "arm64"):
        bits = 128
    elif {"sse", "sse2"} & flags:
        bits = 128
    else:
        bits = 32
        notes.append("No SIMD flags found: assuming scalar fp32 (1 lane).")
    if is_arm and "apple" in cpu_name.lower():
        fma = 4
        notes.append("Apple silicon: assuming 4 FMA-capable 128-bit NEON pipes per core.")
    elif is_arm:
        fma = 2
        notes.append(
            "Arm: assuming 2 FMA-capable 128-bit NEON pipes per core (Cortex-A76/A78, "
            "Neoverse N1; Cortex-A53/A55 have 1, Apple cores 4)."
        )
    elif "fma" in flags:
        fma = 2
        notes.append(
            "x86 with FMA: assuming 2 FMA units of full SIMD width per core (true for Intel "
            "since Haswell and AMD since Zen 2; Zen 1 and Atom-class cores have less, some "
            "Xeon SKUs only 1 AVX-512 FMA unit)."
        )
        if amd and family == "23" and model is not None and model.isdigit() and int(model) < 0x30:
            fma = 1
            notes.append(
                "AMD Zen 1/Zen+: 2 x 128-bit FMA = one 256-bit FMA per cycle: counted as 1."
            )
    else:
        fma = 1
        notes.append(
            "No FMA: assuming one add and one multiply unit per core, which peak at the same "
            "2 FLOP per lane per cycle as one FMA unit."
        )
    return bits, fma, notes


def local(detect_gpus: bool = True, clock_hz: float | None = None) -> LocalMachine:
    """Describe THIS machine: CPU model, cores, SIMD width, FMA units, clock, caches, GPUs.

    The theoretical fp32 peak follows from these (see :class:`LocalMachine`);
    every assumption is stated in ``assumptions``. ``detect_gpus=True`` asks
    TensorFlow for GPU names (imports TensorFlow, ~3 s the first time).
    ``clock_hz`` overrides the clock read from the system (in Hz).
    """
    import psutil

    flags = cpu_flags()
    bits, fma, notes = _simd(
        flags,
        platform.machine(),
        vendor=_cpuinfo_field("vendor_id") or "",
        family=_cpuinfo_field("cpu family"),
        model=_cpuinfo_field("model"),
        cpu_name=cpu_model(),
    )
    if clock_hz is None:
        clock, clock_source = _clock_hz()
    else:
        clock, clock_source = positive_number("clock_hz", clock_hz), "given by the caller"
    cores = physical_cores()
    notes.insert(0, f"Clock {clock / 1e9:.3f} GHz from {clock_source}; boost clocks can be higher.")
    notes.append(
        f"Peak counts the {cores} physical core(s); SMT/hyper-threads share the FMA units."
    )
    gpus: tuple[str, ...] = ()
    if detect_gpus:
        import tensorflow as tf

        gpus = tuple(
            tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")
        )
    return LocalMachine(
        cpu_model=cpu_model(),
        physical_cores=cores,
        logical_cpus=int(psutil.cpu_count() or os.cpu_count() or cores),
        simd_bits=bits,
        fma_units=fma,
        clock_hz=clock,
        clock_source=clock_source,
        cache_bytes=MappingProxyType(_cache_bytes()),
        memory_bytes=int(psutil.virtual_memory().total),
        gpus=gpus,
        assumptions=tuple(notes),
    )


BACKENDS = ("tensorflow", "numpy")


def measure_peak_flops(
    dtype: str = "float32",
    n: int = 2048,
    repeats: int = 10,
    backend: str = "tensorflow",
    device: str = "cpu",
    warmup: int = 2,
) -> TimedFlops:
    """Measure this machine's GEMM rate: an n x n matrix product, 2 n^3 FLOP per call.

    A large GEMM is the most compute-bound kernel there is (intensity ~ n/6
    FLOP/byte in fp32), so its rate is the practical peak to put on a roofline.
    ``backend='tensorflow'`` uses ``tf.linalg.matmul`` on ``device`` (oneDNN on
    x86 CPUs, cuBLAS on GPUs; the result is synchronised by fetching one
    element); ``backend='numpy'`` uses ``np.matmul`` into a preallocated output
    (OpenBLAS/Accelerate, CPU only). Returns a :class:`~course_utils.timing.TimedFlops`:
    ``best_flop_per_s`` is the machine's peak (the fastest call), ``flop_per_s`` the
    median rate.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} must be one of {BACKENDS}")
    n = integer("n", n, 1)
    if backend == "numpy":
        try:
            np_dtype = np.dtype(dtype)
        except TypeError as err:
            raise ValueError(f"dtype={dtype!r} is not a NumPy dtype; use e.g. 'float32'") from err
        if np_dtype.kind != "f":
            raise ValueError(f"dtype={dtype!r} must be a floating-point type such as 'float32'")
        if resolve_device(device) != CPU:
            raise ValueError(
                "backend='numpy' runs on the CPU only; use backend='tensorflow' for a GPU"
            )
        rng = np.random.default_rng(0)
        a = rng.random((n, n)).astype(np_dtype)
        b = rng.random((n, n)).astype(np_dtype)
        out = np.empty((n, n), dtype=np_dtype)
        stats = measure_latency(np.matmul, a, b, out=out, warmup=warmup, repeats=repeats)
        return _gemm_record("numpy", np_dtype.name, np_dtype.itemsize, n, CPU, stats)

    import tensorflow as tf

    try:
        tf_dtype = tf.as_dtype(dtype)
    except TypeError as err:
        raise ValueError(f"dtype={dtype!r} is not a TensorFlow dtype; use e.g. 'float32'") from err
    if not tf_dtype.is_floating:
        raise ValueError(f"dtype={dtype!r} must be a floating-point type such as 'float32'")
    placement = resolve_device(device)
    with tf.device(placement):
        a = tf.cast(tf.random.stateless_uniform((n, n), seed=(1, 2)), tf_dtype)
        b = tf.cast(tf.random.stateless_uniform((n, n), seed=(3, 4)), tf_dtype)

    def gemm() -> Any:
        with tf.device(placement):
            return tf.linalg.matmul(a, b)[0, 0]  # fetching one element waits for the whole GEMM

    stats = measure_latency(gemm, warmup=warmup, repeats=repeats)
    return _gemm_record("tensorflow", tf_dtype.name, tf_dtype.size, n, placement, stats)


def _gemm_record(
    backend: str, dtype: str, itemsize: int, n: int, device: str, stats: LatencyStats
) -> TimedFlops:
    """An n x n GEMM as :class:`~course_utils.timing.TimedFlops`: 2 n^3 FLOP, 3 n^2 elements moved."""
    return TimedFlops(
        f"{backend} {dtype} GEMM n={n}", 2.0 * n**3, stats, 3.0 * n * n * itemsize, "GEMM", device
    )


# Arrays each STREAM kernel names (McCalpin 1995): copy a = b, scale a = s*b: 2; add a = b + c,
# triad a = b + s*c: 3. Its working set is this many arrays; STREAM counts these bytes as moved.
STREAM_ARRAYS = {"copy": 2, "scale": 2, "add": 3, "triad": 3}


_TRIAD_CHUNK = 2**15  # float64 elements (256 KiB): the s*c temporary stays in cache


def _stream_kernel(kind: str, a: np.ndarray, b: np.ndarray, c: np.ndarray, tmp: np.ndarray) -> None:
    s = 3.0
    if kind == "copy":  # a ufunc, not memcpy: ordinary stores like the other kernels
        np.positive(b, out=a)
    elif kind == "scale":
        np.multiply(b, s, out=a)
    elif kind == "add":
        np.add(b, c, out=a)
    else:  # triad, chunked so that s*c never makes a full-size temporary in memory
        for start in range(0, a.size, _TRIAD_CHUNK):
            stop = min(start + _TRIAD_CHUNK, a.size)
            t = tmp[: stop - start]
            np.multiply(c[start:stop], s, out=t)
            np.add(b[start:stop], t, out=a[start:stop])


@dataclass(frozen=True)
class BandwidthProbe:
    """A measured STREAM kernel: bytes moved to and from memory per second (McCalpin, STREAM).

    With ``write_allocate`` (the default) the written array counts twice: a write-back
    cache reads each line of ``a`` before the core overwrites it, so triad moves 4
    arrays, not the 3 STREAM counts (STREAM's figure is then 25 % low; copy's 33 %).
    """

    kind: str
    size_bytes: int
    threads: int
    calls_per_sample: int
    latency: LatencyStats
    write_allocate: bool = True

    @property
    def arrays_moved(self) -> int:
        """Arrays' worth of traffic per call: the arrays named, plus the written one again
        if the cache reads it first (write-allocate)."""
        return STREAM_ARRAYS[self.kind] + (1 if self.write_allocate else 0)

    @property
    def bytes_per_call(self) -> int:
        """Bytes moved by one kernel call: ``arrays_moved`` x size (triad: 4 x size)."""
        return self.arrays_moved * self.size_bytes

    @property
    def working_set_bytes(self) -> int:
        """Bytes the kernel touches: the arrays it names x size (triad: 3 x size)."""
        return STREAM_ARRAYS[self.kind] * self.size_bytes

    @property
    def best_bytes_per_s(self) -> float:
        """Bandwidth of the fastest sample in bytes/s."""
        return self.bytes_per_call * self.calls_per_sample / self.latency.min

    @property
    def median_bytes_per_s(self) -> float:
        """Bandwidth of the median sample in bytes/s."""
        return self.bytes_per_call * self.calls_per_sample / self.latency.median

    @property
    def bytes_per_s(self) -> float:
        """Same as :attr:`best_bytes_per_s`."""
        return self.best_bytes_per_s

    def __str__(self) -> str:
        return (
            f"{self.kind} on {self.size_bytes / MiB:g} MiB arrays, {self.threads} thread(s), "
            f"{self.arrays_moved} arrays moved: {self.best_bytes_per_s / 1e9:.1f} GB/s best, "
            f"{self.median_bytes_per_s / 1e9:.1f} median"
        )


def measure_bandwidth(
    size_bytes: int = 256 * MiB,
    kind: str = "triad",
    repeats: int = 10,
    threads: int | None = None,
    warmup: int = 2,
    min_sample_seconds: float = 2e-3,
    write_allocate: bool = True,
) -> BandwidthProbe:
    """Measure memory bandwidth with a STREAM kernel on float64 arrays of ``size_bytes`` each.

    Bytes moved: the arrays the kernel reads and writes (``copy`` a = b and ``scale``
    a = s*b: 2; ``add`` a = b + c and ``triad`` a = b + s*c: 3, as STREAM counts), plus,
    with ``write_allocate``, the written array once more: NumPy's ordinary stores make a
    write-back cache read each line of ``a`` before overwriting it, so triad moves 4 x size
    (pass ``write_allocate=False`` for STREAM's own count, or for a machine whose stores
    skip that read: non-temporal stores, or a core that detects whole-line writes).
    NumPy writes into preallocated outputs; triad works in cache-sized chunks so
    ``s*c`` makes no hidden full-size temporary.
    Arrays much larger than the last-level cache measure DRAM; small ones
    measure a cache (see :func:`bandwidth_sweep`). ``threads`` (default: the
    physical cores) split the arrays; NumPy releases the GIL inside its loops.
    Small arrays are run several times per timed sample (at least
    ``min_sample_seconds``) so the timer's overhead does not count.
    """
    if kind not in STREAM_ARRAYS:
        raise ValueError(f"kind={kind!r} must be one of {tuple(STREAM_ARRAYS)}")
    size_bytes = integer("size_bytes", size_bytes, 1024)
    repeats = integer("repeats", repeats, 1)
    warmup = integer("warmup", warmup, 0)
    min_sample_seconds = positive_number("min_sample_seconds", min_sample_seconds)
    threads = physical_cores() if threads is None else integer("threads", threads, 1)
    n = size_bytes // 8
    threads = min(threads, max(1, n // 1024))
    a, b, c = np.full(n, 0.0), np.full(n, 1.0), np.full(n, 2.0)
    bounds = np.linspace(0, n, threads + 1).astype(int)
    parts = [
        (a[i:j], b[i:j], c[i:j], np.empty(min(_TRIAD_CHUNK, j - i)))
        for i, j in zip(bounds, bounds[1:], strict=False)
    ]

    pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None
    try:

        def once() -> None:
            if pool is None:
                _stream_kernel(kind, *parts[0])
            else:
                for future in [pool.submit(_stream_kernel, kind, *p) for p in parts]:
                    future.result()

        for _ in range(warmup):
            once()
        calls = 1  # grow the calls per sample until one sample lasts min_sample_seconds
        while calls < 100_000:
            with Timer() as t:
                for _ in range(calls):
                    once()
            if t.seconds >= min_sample_seconds:
                break
            calls = min(
                100_000,
                math.ceil(calls * min(10.0, 1.2 * min_sample_seconds / max(t.seconds, 1e-9))),
            )

        def sample() -> None:
            for _ in range(calls):
                once()

        stats = measure_latency(sample, warmup=0, repeats=repeats)
    finally:
        if pool is not None:
            pool.shutdown()
    return BandwidthProbe(kind, n * 8, threads, calls, stats, bool(write_allocate))


def bandwidth_sweep(
    sizes_bytes: Iterable[int] | None = None,
    kind: str = "triad",
    repeats: int = 5,
    threads: int = 1,
) -> list[BandwidthProbe]:
    """Bandwidth against array size: steps down at each cache level (L1, L2, L3, DRAM).

    Default sizes: 16 KiB to 256 MiB per array in steps of 4x. One thread by
    default, so each step is one core's cache; compare with ``local().cache_bytes``
    (the working set is 2 or 3 arrays, :attr:`BandwidthProbe.working_set_bytes`). The smallest
    sizes read low for another reason: each NumPy call costs about a microsecond
    of Python overhead, as long as moving a few tens of KiB from L1.
    """
    sizes: Sequence[int] = (
        [16 * 2**10 * 4**i for i in range(8)] if sizes_bytes is None else list(sizes_bytes)
    )
    return [measure_bandwidth(s, kind=kind, repeats=repeats, threads=threads) for s in sizes]


#: Names shown for CPU flags (results cards, the class report): SIMD extensions, narrowest
#: first, and the int8 dot-product instructions, whose flags are :data:`INT8_DOT_PRODUCT`.
SIMD_NAMES = {"sse4_2": "SSE4.2", "asimd": "NEON", "neon": "NEON", "avx": "AVX", "avx2": "AVX2",
              "sve": "SVE", "avx512f": "AVX-512"}  # fmt: skip
INT8_NAMES = {"avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "amx_int8": "AMX-INT8",
              "asimddp": "Arm dot product", "i8mm": "Arm i8mm"}  # fmt: skip
INT8_DOT_PRODUCT = tuple(INT8_NAMES)


def flag_names(flags: Iterable[str], names: Mapping[str, str] = SIMD_NAMES) -> list[str]:
    """The ``names`` (:data:`SIMD_NAMES`, :data:`INT8_NAMES`) of the flags set in ``flags``,
    spelt as Linux spells them (``avx512_vnni``, ``sse4_2``) or as macOS and NumPy do
    (``avx512vnni``, ``sse42``)."""
    spelt = {f.replace("_", "") for f in flags}
    return list(dict.fromkeys(n for f, n in names.items() if f.replace("_", "") in spelt))


def int8_instructions(flags: set[str] | None = None) -> list[str]:
    """The CPU's int8 dot-product instructions among its feature flags (:func:`cpu_flags`).

    Fast int8 inference on a CPU wants an instruction that multiplies 8-bit integers and
    accumulates in 32 bits in one step: x86 ``avx512_vnni`` / ``avx_vnni`` (Intel Cascade
    Lake, Alder Lake; AMD Zen 4) and ``amx_int8`` (Sapphire Rapids); Arm ``asimddp`` (SDOT,
    Cortex-A55/A75 onwards, Apple M1) and ``i8mm`` (SMMLA, Armv8.6). Without one, AVX2 still
    multiplies int8 pairs with ``vpmaddubsw`` and sums them with ``vpmaddwd``: more steps per
    MAC, and whether int8 then beats fp32 depends on the kernel, so measure. Returns the
    instructions found (possibly none).
    """
    flags = cpu_flags() if flags is None else flags
    return [f for f in INT8_DOT_PRODUCT if f in flags]


def describe_device(device: str = "cpu") -> str:
    """Human-readable name of a device, e.g. ``'CPU: AMD EPYC (2 cores)'``.

    GPUs are named from ``tf.config.experimental.get_device_details`` with their
    CUDA compute capability where TensorFlow reports it.
    """
    name = device_name(device)
    if name == CPU:
        cores = physical_cores()
        return f"CPU: {cpu_model()} ({cores} core{'s' if cores != 1 else ''})"
    import tensorflow as tf

    gpu = gpus()[int(name.rsplit(":", 1)[1])]
    details = tf.config.experimental.get_device_details(gpu)
    text = f"GPU: {details.get('device_name', gpu.name)}"
    capability = details.get("compute_capability")
    if capability:
        text += f" (compute capability {'.'.join(str(part) for part in capability)})"
    return text
