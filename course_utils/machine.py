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
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import psutil

from .timing import CPU, LatencyStats, TimedFlops, Timer, gpus, measure_latency, resolve_device
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
    """macOS ``sysctl -n NAME`` (``with_names``: ``sysctl NAME``, 'key: value' lines); else None."""
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
    return (_cpuinfo_field("model name", "cpu model", "hardware", "model")
            or _sysctl("machdep.cpu.brand_string") or platform.processor() or platform.machine()
            or "unknown CPU")  # fmt: skip


def physical_cores() -> int:
    """Physical CPU cores (psutil; logical CPUs if psutil cannot tell)."""
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
        present = re.findall(r"^hw\.optional\.arm\.(\w+):\s*1$", arm, re.MULTILINE)
        return {"asimd", "neon", "fma"} | {names.get(f, f.lower()) for f in present}
    mac = " ".join(filter(None, map(_sysctl, ("machdep.cpu.features",
                                              "machdep.cpu.leaf7_features"))))  # fmt: skip
    if not mac:
        try:  # NumPy's own run-time CPU feature detection (private, but cross-platform)
            from numpy._core._multiarray_umath import __cpu_features__ as features
        except ImportError:  # pragma: no cover - older NumPy
            return set()
        mac = " ".join(name for name, present in features.items() if present)
    flags = {f.replace(".", "_") for f in mac.lower().split()}
    return flags | {"fma"} if "fma" in flags or "fma3" in flags else flags


def _cache_bytes() -> dict[str, int]:
    """Per-core L1d/L2 and shared L3 sizes from sysfs (Linux), e.g. {'L1d': 32768, ...}."""
    caches: dict[str, int] = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    for index in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        level = _read(f"{base}/{index}/level").strip()
        kind = _read(f"{base}/{index}/type").strip()
        match = re.fullmatch(r"(\d+)([KMG]?)", _read(f"{base}/{index}/size").strip().upper())
        if level and match and kind != "Instruction":
            scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[match.group(2)]
            caches[f"L{level}{'d' if kind == 'Data' else ''}"] = int(match.group(1)) * scale
    return caches


def gpu_names() -> tuple[str, ...]:
    """The GPUs TensorFlow sees, by name (``('Tesla T4',)``); ``()`` without GPU or TensorFlow."""
    try:
        import tensorflow as tf

        details = tf.config.experimental.get_device_details
        return tuple(details(g).get("device_name", g.name) for g in gpus())
    except Exception:  # TensorFlow missing or broken: describe the CPU all the same
        return ()


@dataclass(frozen=True)
class LocalMachine:
    """This machine's CPU, its theoretical fp32 peak, and its GPUs (as TensorFlow sees them).

    ``theoretical_peak_flop_per_s = physical_cores x fp32 lanes x 2 FLOP per FMA x
    fma_units x clock_hz`` (seed 002, 'CPUs': the SIMD flags of ``lscpu``), e.g. a 2-core
    Zen 3 VM: 2 x 8 x 2 x 2 x 2.445 GHz = 157 GFLOP/s. A measured GEMM can beat it when the
    cores boost above the clock the system reports. ``assumptions`` lists each assumption.
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
        peak, clock = self.theoretical_peak_flop_per_s / 1e9, self.clock_hz / 1e9
        return (f"{self.cpu_model}: {self.physical_cores} cores ({self.logical_cpus} logical), "
                f"{self.simd_bits}-bit SIMD x {self.fma_units} FMA units at {clock:.3f} GHz -> "
                f"theoretical {peak:.0f} GFLOP/s fp32; GPUs: {', '.join(self.gpus) or 'none'}")  # fmt: skip


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
    return ASSUMED_CLOCK_HZ, ("ASSUMED (no clock readable here): pass local(clock_hz=...) from "
                              "your CPU's datasheet")  # fmt: skip


def _simd(flags: set[str], machine: str, vendor: str = "", family: str | None = None,
          model: str | None = None, cpu_name: str = "") -> tuple[int, int, list[str]]:  # fmt: skip
    """(simd_bits, fma_units, assumptions) from CPU flags, architecture, x86 vendor/family/model."""
    notes: list[str] = []
    amd, arch = "amd" in vendor.lower(), machine.lower()
    is_arm = arch.startswith("arm") or arch == "aarch64"
    if "avx512f" in flags and amd and family == "25":
        bits = 256
        notes.append("AVX-512 on AMD Zen 4 runs as two 256-bit halves: counted as 256-bit SIMD.")
    elif "avx512f" in flags:
        bits = 512
    elif "avx2" in flags or "avx" in flags:
        bits = 256
    elif {"sse", "sse2"} & flags or is_arm and ({"asimd", "neon"} & flags or arch == "arm64"):
        bits = 128
    else:
        bits = 32
        notes.append("No SIMD flags found: assuming scalar fp32 (1 lane).")
    if is_arm:
        fma = 4 if "apple" in cpu_name.lower() else 2
        notes.append(f"Arm: assuming {fma} FMA-capable 128-bit NEON pipes per core (Apple 4; "
                     "Cortex-A76/A78, Neoverse N1 2; Cortex-A53/A55 1).")  # fmt: skip
    elif "fma" in flags:
        zen1 = amd and family == "23" and (model or "").isdigit() and int(model or 0) < 0x30
        fma = 1 if zen1 else 2
        notes.append("AMD Zen 1/Zen+: 2 x 128-bit FMA = one 256-bit FMA per cycle: counted as 1."
                     if zen1 else "x86 with FMA: assuming 2 FMA units of full SIMD width per core "
                     "(Intel since Haswell, AMD since Zen 2; Atom-class cores and some Xeon "
                     "SKUs' AVX-512 have 1).")  # fmt: skip
    else:
        fma = 1
        notes.append("No FMA: assuming one add and one multiply unit per core, which peak at the "
                     "same 2 FLOP per lane per cycle as one FMA unit.")  # fmt: skip
    return bits, fma, notes


def local(detect_gpus: bool = True, clock_hz: float | None = None) -> LocalMachine:
    """Describe THIS machine: CPU model, cores, SIMD width, FMA units, clock, caches, GPUs.

    The theoretical fp32 peak follows from these (see :class:`LocalMachine`); every
    assumption is stated in ``assumptions``. ``detect_gpus=True`` asks TensorFlow for GPU
    names (imports it, ~3 s the first time). ``clock_hz`` overrides the clock read (Hz).
    """
    field = _cpuinfo_field
    bits, fma, notes = _simd(cpu_flags(), platform.machine(), field("vendor_id") or "",
                             field("cpu family"), field("model"), cpu_model())  # fmt: skip
    if clock_hz is None:
        clock, clock_source = _clock_hz()
    else:
        clock, clock_source = positive_number("clock_hz", clock_hz), "given by the caller"
    cores = physical_cores()
    notes.insert(0, f"Clock {clock / 1e9:.3f} GHz from {clock_source}; boost clocks can be higher.")
    notes.append(f"Peak counts the {cores} physical core(s); SMT threads share the FMA units.")
    return LocalMachine(
        cpu_model(), cores, int(psutil.cpu_count() or os.cpu_count() or cores), bits, fma, clock,
        clock_source, MappingProxyType(_cache_bytes()), int(psutil.virtual_memory().total),
        gpu_names() if detect_gpus else (), tuple(notes),
    )


BACKENDS = ("tensorflow", "numpy")


def measure_peak_flops(dtype: str = "float32", n: int = 2048, repeats: int = 10,
                       backend: str = "tensorflow", device: str = "cpu",
                       warmup: int = 2) -> TimedFlops:  # fmt: skip
    """This machine's GEMM rate: an n x n matrix product, 2 n^3 FLOP per call, as TimedFlops.

    The most compute-bound kernel (intensity ~ n/6 FLOP/byte in fp32): its rate is the
    practical peak on a roofline (``best_flop_per_s``; ``flop_per_s`` the median rate).
    ``backend='tensorflow'``: ``tf.linalg.matmul`` on ``device`` (oneDNN, cuBLAS);
    ``'numpy'``: ``np.matmul`` into a preallocated output (CPU only).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} must be one of {BACKENDS}")
    n, placement = integer("n", n, 1), resolve_device(device)
    if backend == "numpy":
        try:
            np_dtype = np.dtype(dtype)
        except TypeError:
            np_dtype = np.dtype(object)  # refused just below
        if np_dtype.kind != "f":
            raise ValueError(f"dtype={dtype!r} must be a floating-point type such as 'float32'")
        if placement != CPU:
            raise ValueError("backend='numpy' runs on the CPU only; use 'tensorflow' for a GPU")
        a, b = np.random.default_rng(0).random((2, n, n)).astype(np_dtype)
        out = np.empty((n, n), dtype=np_dtype)
        stats = measure_latency(np.matmul, a, b, out=out, warmup=warmup, repeats=repeats)
        dtype_name, itemsize = np_dtype.name, np_dtype.itemsize
    else:
        import tensorflow as tf

        try:
            tf_dtype = tf.as_dtype(dtype)
        except TypeError:
            tf_dtype = tf.string  # refused just below
        if not tf_dtype.is_floating:
            raise ValueError(f"dtype={dtype!r} must be a floating-point type such as 'float32'")
        with tf.device(placement):
            a = tf.cast(tf.random.stateless_uniform((n, n), seed=(1, 2)), tf_dtype)
            b = tf.cast(tf.random.stateless_uniform((n, n), seed=(3, 4)), tf_dtype)

        def gemm() -> Any:
            with tf.device(placement):
                return tf.linalg.matmul(a, b)[0, 0]  # fetching one element waits for the whole GEMM

        stats = measure_latency(gemm, warmup=warmup, repeats=repeats)
        dtype_name, itemsize = tf_dtype.name, tf_dtype.size
    moved_bytes = 3.0 * n * n * itemsize  # A and B read, C written
    name = f"{backend} {dtype_name} GEMM n={n}"
    return TimedFlops(name, 2.0 * n**3, stats, moved_bytes, "GEMM", placement)


#: Arrays each STREAM kernel names: its working set, and the traffic STREAM counts.
STREAM_ARRAYS = {"copy": 2, "scale": 2, "add": 3, "triad": 3}
_TRIAD_CHUNK = 2**15  # float64 elements (256 KiB): the s*c temporary stays in cache


def _stream_kernel(kind: str, a: np.ndarray, b: np.ndarray, c: np.ndarray, tmp: np.ndarray) -> None:
    s = 3.0  # STREAM's scalar
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

    STREAM counts the arrays a kernel names (copy a = b, scale a = s*b: 2; add a = b + c,
    triad a = b + s*c: 3). With ``write_allocate`` (the default) the written array counts
    twice: a write-back cache reads each line of ``a`` before the core overwrites it, so
    triad moves 4 arrays (STREAM's figure is then 25 % low; copy's 33 %).
    """

    kind: str
    size_bytes: int
    threads: int
    calls_per_sample: int
    latency: LatencyStats
    write_allocate: bool = True

    @property
    def arrays_moved(self) -> int:
        """Arrays' worth of traffic per call: those named, + the written one if read first."""
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

    def __str__(self) -> str:
        return (f"{self.kind} on {self.size_bytes / MiB:g} MiB arrays, {self.threads} thread(s), "
                f"{self.arrays_moved} arrays moved: {self.best_bytes_per_s / 1e9:.1f} GB/s best, "
                f"{self.median_bytes_per_s / 1e9:.1f} median")  # fmt: skip


def measure_bandwidth(size_bytes: int = 256 * MiB, kind: str = "triad", repeats: int = 10,
                      threads: int | None = None, warmup: int = 2, min_sample_seconds: float = 2e-3,
                      write_allocate: bool = True) -> BandwidthProbe:  # fmt: skip
    """Memory bandwidth of a STREAM kernel (McCalpin 1995) on float64 arrays of ``size_bytes``.

    Bytes moved are counted as :class:`BandwidthProbe` says: triad a = b + s*c moves 4 x size
    with ``write_allocate`` (NumPy's ordinary stores), STREAM's 3 x size without (a machine
    whose stores skip the read). Arrays much larger than the last-level cache measure DRAM,
    small ones a cache (compare ``local().cache_bytes``). ``threads`` (default: the physical
    cores) split the arrays; small arrays run several times per sample (>= ``min_sample_seconds``).
    """
    if kind not in STREAM_ARRAYS:
        raise ValueError(f"kind={kind!r} must be one of {tuple(STREAM_ARRAYS)}")
    size_bytes = integer("size_bytes", size_bytes, 1024)
    repeats, warmup = integer("repeats", repeats, 1), integer("warmup", warmup, 0)
    min_sample_seconds = positive_number("min_sample_seconds", min_sample_seconds)
    threads = physical_cores() if threads is None else integer("threads", threads, 1)
    n = size_bytes // 8
    threads = min(threads, max(1, n // 1024))  # at least 8 KiB a thread
    a, b, c = np.full(n, 0.0), np.full(n, 1.0), np.full(n, 2.0)
    bounds = np.linspace(0, n, threads + 1).astype(int)
    parts = [(a[i:j], b[i:j], c[i:j], np.empty(min(_TRIAD_CHUNK, j - i)))
             for i, j in zip(bounds, bounds[1:], strict=False)]  # fmt: skip
    pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None

    def sample(calls: int) -> None:  # the kernel ``calls`` times, each thread on its part
        for _ in range(calls):
            if pool is None:
                _stream_kernel(kind, *parts[0])
            else:
                for future in [pool.submit(_stream_kernel, kind, *p) for p in parts]:
                    future.result()

    try:
        sample(warmup)
        calls = 1  # grow the calls per sample until one sample lasts min_sample_seconds
        while calls < 100_000:
            with Timer() as t:
                sample(calls)
            if t.seconds >= min_sample_seconds:
                break
            grow = min(10.0, 1.2 * min_sample_seconds / max(t.seconds, 1e-9))
            calls = min(100_000, math.ceil(calls * grow))
        stats = measure_latency(sample, calls, warmup=0, repeats=repeats)
    finally:
        if pool is not None:
            pool.shutdown()
    return BandwidthProbe(kind, n * 8, threads, calls, stats, bool(write_allocate))


#: Names shown for CPU flags (results cards, the class report): SIMD extensions, narrowest
#: first, and the int8 dot-product instructions (:func:`int8_instructions`).
SIMD_NAMES = {"sse4_2": "SSE4.2", "asimd": "NEON", "neon": "NEON", "avx": "AVX", "avx2": "AVX2",
              "sve": "SVE", "avx512f": "AVX-512"}  # fmt: skip
INT8_NAMES = {"avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "amx_int8": "AMX-INT8",
              "asimddp": "Arm dot product", "i8mm": "Arm i8mm"}  # fmt: skip


def flag_names(flags: Iterable[str], names: Mapping[str, str] = SIMD_NAMES) -> list[str]:
    """The ``names`` (:data:`SIMD_NAMES`, :data:`INT8_NAMES`) of the flags set in ``flags``,
    spelt as Linux spells them (``avx512_vnni``, ``sse4_2``) or as macOS and NumPy do
    (``avx512vnni``, ``sse42``)."""
    return list(dict.fromkeys(names[f] for f in _set_in(flags, names)))


def _set_in(flags: Iterable[str], names: Mapping[str, str]) -> list[str]:
    """The keys of ``names`` set in ``flags``, whichever spelling ``flags`` uses."""
    spelt = {f.replace("_", "") for f in flags}
    return [f for f in names if f.replace("_", "") in spelt]


def int8_instructions(flags: set[str] | None = None) -> list[str]:
    """The int8 dot-product instructions among the CPU's flags (:func:`cpu_flags`), maybe none.

    They multiply 8-bit integers and accumulate in 32 bits in one step: x86 ``avx512_vnni``,
    ``avx_vnni`` (Cascade Lake, Alder Lake, Zen 4), ``amx_int8`` (Sapphire Rapids); Arm
    ``asimddp`` (SDOT: Cortex-A55/A75, Apple M1), ``i8mm`` (SMMLA, Armv8.6). Without one AVX2
    takes more steps per MAC (``vpmaddubsw`` + ``vpmaddwd``): whether int8 beats fp32, measure.
    """
    return _set_in(cpu_flags() if flags is None else flags, INT8_NAMES)


def describe_device(device: str = "cpu") -> str:
    """A device's name to print, e.g. ``'CPU: AMD EPYC (2 cores)'``, ``'GPU: Tesla T4 (compute
    capability 7.5)'``."""
    name = resolve_device(device)
    if name == CPU:
        cores = physical_cores()
        return f"CPU: {cpu_model()} ({cores} core{'s' if cores != 1 else ''})"
    import tensorflow as tf

    gpu = gpus()[int(name.rsplit(":", 1)[1])]
    details = tf.config.experimental.get_device_details(gpu)
    capability = details.get("compute_capability")
    cc = f" (compute capability {'.'.join(map(str, capability))})" if capability else ""
    return f"GPU: {details.get('device_name', gpu.name)}{cc}"
