"""Tests of course_utils.machine: this machine's CPU, its theoretical peak, GEMM and STREAM probes."""

import dataclasses
import math
import time

import numpy as np
import psutil
import pytest

from course_utils import hardware
from course_utils import machine as machine_mod

G = 1e9


# --------------------------------------------------------------------------- this machine


@pytest.fixture(scope="module")
def machine():
    return machine_mod.local()


def test_local_machine_is_sane(machine):
    assert machine.physical_cores >= 1 and machine.logical_cpus >= machine.physical_cores
    assert machine.physical_cores == (psutil.cpu_count(logical=False) or psutil.cpu_count())
    assert machine.simd_bits in (32, 128, 256, 512) and machine.fma_units >= 1
    assert 1e8 < machine.clock_hz < 1e10 and machine.clock_source
    assert machine.theoretical_peak_flop_per_s == pytest.approx(
        machine.physical_cores
        * (machine.simd_bits // 32)
        * 2
        * machine.fma_units
        * machine.clock_hz
    )
    assert machine.assumptions and all(machine.assumptions)
    assert machine.memory_bytes > 2**28 and machine.cpu_model
    assert isinstance(machine.gpus, tuple)
    assert "GFLOP/s" in str(machine)


def test_local_flags_match_simd_width(machine):
    flags = machine_mod.cpu_flags()
    if "avx2" in flags and "avx512f" not in flags:
        assert machine.simd_bits == 256
    if machine.simd_bits == 256 and "fma" in flags:
        assert machine.flop_per_cycle_per_core in (16, 32)


@pytest.mark.parametrize(
    "flags, arch, vendor, family, model, bits, fma",
    [
        ({"sse", "sse2", "avx", "avx2", "fma"}, "x86_64", "GenuineIntel", "6", "78", 256, 2),
        ({"sse2", "avx2", "avx512f", "fma"}, "x86_64", "GenuineIntel", "6", "85", 512, 2),
        ({"sse2", "avx2", "avx512f", "fma"}, "x86_64", "AuthenticAMD", "25", "97", 256, 2),
        ({"sse2", "avx2", "fma"}, "x86_64", "AuthenticAMD", "23", "1", 256, 1),
        ({"sse", "sse2", "avx"}, "x86_64", "GenuineIntel", "6", "42", 256, 1),
        ({"sse", "sse2"}, "x86_64", "GenuineIntel", "6", "15", 128, 1),
        ({"fp", "asimd"}, "aarch64", "", None, None, 128, 2),
        ({"asimd"}, "arm64", "", None, None, 128, 2),
        (set(), "riscv64", "", None, None, 32, 1),
    ],
)
def test_simd_rules(flags, arch, vendor, family, model, bits, fma):
    got_bits, got_fma, notes = machine_mod._simd(flags, arch, vendor, family, model)
    assert (got_bits, got_fma) == (bits, fma) and notes


def test_simd_apple_silicon_and_given_clock():
    assert machine_mod._simd({"neon"}, "arm64", cpu_name="Apple M1")[:2] == (128, 4)
    machine = machine_mod.local(detect_gpus=False, clock_hz=3.0e9)
    assert machine.clock_hz == 3.0e9 and machine.clock_source == "given by the caller"
    assert machine.gpus == ()
    with pytest.raises(ValueError, match="clock_hz"):
        machine_mod.local(detect_gpus=False, clock_hz=0)


def test_local_as_device(machine):
    device = hardware.machine_device(machine, memory_bandwidth_bytes_per_s=10 * G)
    assert device.kind == "cpu" and device.price_usd is None and device.tdp_watts is None
    assert device.peak("fp32") == machine.theoretical_peak_flop_per_s
    assert device.memory_bandwidth_bytes_per_s == 10 * G
    with pytest.raises(ValueError, match="TDP"):
        device.flops_per_watt()


# --------------------------------------------------------------------------- probes


@pytest.mark.parametrize("backend", machine_mod.BACKENDS)
def test_gemm_probe(backend):
    probe = machine_mod.measure_peak_flops(n=256, repeats=3, backend=backend)
    assert probe.flop == 2 * 256**3 and probe.latency.samples_seconds.shape == (3,)
    assert probe.best_flop_per_s >= probe.flop_per_s > 0
    assert probe.flop_per_s == probe.flop / probe.latency.median
    assert probe.kind == "GEMM" and probe.device == "/CPU:0" and probe.bytes_moved == 3 * 256**2 * 4
    assert backend in str(probe) and "float32" in probe.name


def test_gemm_probe_bad_arguments():
    with pytest.raises(ValueError, match="backend"):
        machine_mod.measure_peak_flops(backend="torch")
    for backend in machine_mod.BACKENDS:
        with pytest.raises(ValueError, match="dtype"):
            machine_mod.measure_peak_flops(dtype="int32", n=8, backend=backend)
    with pytest.raises(ValueError, match="n must be"):
        machine_mod.measure_peak_flops(n=0)


def test_tensorflow_gemm_reaches_90_percent_of_numpy():
    """With oneDNN on (course_utils.tfenv), TF's GEMM runs near OpenBLAS speed.

    NOTES-stack: 179 vs 186 GFLOP/s at n=4096 on 2 cores (96 %); with oneDNN off
    TF reached only 90 (48 %). Best-of-N over alternating rounds, so a burst of
    other work on the machine hurts both sides alike. If the target is missed
    while other processes demonstrably took CPU time (psutil: all CPUs' busy
    time minus this process's), the comparison was not fair: skip, saying so.
    """
    me = psutil.Process()
    me.cpu_percent(None), psutil.cpu_percent(None)
    best = {"numpy": 0.0, "tensorflow": 0.0}
    start = time.perf_counter()
    for round_ in range(4):
        for backend in ("numpy", "tensorflow") if round_ % 2 == 0 else ("tensorflow", "numpy"):
            probe = machine_mod.measure_peak_flops(n=2048, repeats=4, warmup=1, backend=backend)
            best[backend] = max(best[backend], probe.best_flop_per_s)
        if round_ >= 1 and best["tensorflow"] >= 0.9 * best["numpy"]:
            break
        if time.perf_counter() - start > 12:  # ~2 s on an idle 2-core machine
            break
    ratio = best["tensorflow"] / best["numpy"]
    others = psutil.cpu_percent(None) * psutil.cpu_count() - me.cpu_percent(None)
    rates = ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in best.items())
    if ratio < 0.9 and others > 25:
        pytest.skip(
            f"TF/numpy GEMM = {ratio:.2f} ({rates}), but other processes used {others:.0f} % "
            "of a CPU meanwhile: the machine is busy, so the comparison is not fair"
        )
    assert ratio >= 0.9, f"TF/numpy = {ratio:.2f} ({rates}); others used {others:.0f} % of a CPU"


def test_stream_kernels_compute_the_right_thing():
    n = machine_mod._TRIAD_CHUNK + 123  # crosses a chunk boundary
    b, c = np.arange(n, dtype=float), np.full(n, 2.0)
    tmp = np.empty(machine_mod._TRIAD_CHUNK)
    expected = {"copy": b, "scale": 3 * b, "add": b + c, "triad": b + 3 * c}
    for kind, want in expected.items():
        a = np.zeros(n)
        machine_mod._stream_kernel(kind, a, b, c, tmp)
        np.testing.assert_array_equal(a, want)


@pytest.mark.parametrize("kind, arrays", [("copy", 2), ("scale", 2), ("add", 3), ("triad", 3)])
def test_bandwidth_probe_counts_write_allocate(kind, arrays):
    """Triad a = b + s*c names 3 arrays (STREAM's count) but moves 4: the cache reads a first."""
    size = 8 * 2**20
    probe = machine_mod.measure_bandwidth(size_bytes=size, kind=kind, repeats=3)
    assert probe.write_allocate and probe.arrays_moved == arrays + 1
    assert probe.bytes_per_call == (arrays + 1) * size and probe.working_set_bytes == arrays * size
    assert probe.best_bytes_per_s >= probe.median_bytes_per_s > 1e8
    assert probe.threads == machine_mod.physical_cores()
    assert kind in str(probe) and f"{arrays + 1} arrays moved" in str(probe)
    as_stream = dataclasses.replace(probe, write_allocate=False)  # STREAM's own count
    assert as_stream.bytes_per_call == arrays * size
    assert as_stream.best_bytes_per_s == pytest.approx(
        probe.best_bytes_per_s * arrays / (arrays + 1)
    )
    plain = machine_mod.measure_bandwidth(
        size_bytes=size, kind=kind, repeats=1, write_allocate=False
    )
    assert not plain.write_allocate and plain.arrays_moved == arrays


def test_bandwidth_probe_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        machine_mod.measure_bandwidth(kind="gather")
    with pytest.raises(ValueError, match="size_bytes"):
        machine_mod.measure_bandwidth(size_bytes=10)
    with pytest.raises(ValueError, match="threads"):
        machine_mod.measure_bandwidth(size_bytes=2**20, threads=0)


def test_small_arrays_repeat_inside_a_sample():
    small, large = (machine_mod.measure_bandwidth(size, kind="copy", repeats=3, threads=1)
                    for size in (16 * 2**10, 64 * 2**20))  # fmt: skip
    assert small.threads == large.threads == 1
    assert small.calls_per_sample > large.calls_per_sample >= 1
    assert small.latency.min >= 1e-3  # each sample long enough to time reliably
    assert math.isfinite(small.best_bytes_per_s) and small.best_bytes_per_s > 0


# --------------------------------------------------------------------------- other machines, played here


def test_int8_instructions_from_flags():
    assert machine_mod.int8_instructions({"fpu", "sse", "avx2", "avx512_vnni"}) == ["avx512_vnni"]
    assert machine_mod.int8_instructions({"avx2", "avx512vnni"}) == ["avx512_vnni"]  # macOS spelling
    assert machine_mod.int8_instructions({"fp", "asimd", "asimddp", "i8mm"}) == ["asimddp", "i8mm"]
    assert machine_mod.int8_instructions({"avx2", "fma"}) == []
    assert isinstance(machine_mod.int8_instructions(), list)  # this machine


def test_flag_names_from_linux_macos_and_numpy_flags():
    names = machine_mod.flag_names
    zen4 = {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"}
    assert names(zen4) == ["SSE4.2", "AVX", "AVX2", "AVX-512"]
    assert names(zen4, machine_mod.INT8_NAMES) == ["AVX-512 VNNI"]
    zen3 = {"sse4_2", "avx", "avx2", "fma"}
    assert names(zen3, machine_mod.INT8_NAMES) == []
    apple = {"neon", "asimd", "asimddp", "asimdhp"}  # NumPy's names, lower-cased
    assert names(apple) == ["NEON"]
    assert names(apple, machine_mod.INT8_NAMES) == ["Arm dot product"]
    alder_lake = {"avx2", "avx_vnni"}
    assert names(alder_lake, machine_mod.INT8_NAMES) == ["AVX-VNNI"]
    numpy_cascade_lake = {"sse42", "avx2", "avx512f", "avx512vnni"}
    assert names(numpy_cascade_lake) == ["SSE4.2", "AVX2", "AVX-512"]
    assert names(numpy_cascade_lake, machine_mod.INT8_NAMES) == ["AVX-512 VNNI"]


class _Freq:
    def __init__(self, current, max_):
        self.current, self.max, self.min = current, max_, 0.0


@pytest.fixture
def apple_silicon(monkeypatch):
    """An M2 MacBook as this machine: sysctl answers, no /proc, psutil.cpu_freq misbehaves."""
    import psutil

    answers = {
        "machdep.cpu.brand_string": "Apple M2",
        "hw.optional.arm": "hw.optional.arm.FEAT_DotProd: 1\nhw.optional.arm.FEAT_I8MM: 1\n"
        "hw.optional.arm.FEAT_BF16: 1\nhw.optional.arm.FEAT_SME: 0",
    }
    monkeypatch.setattr(machine_mod.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(machine_mod.platform, "machine", lambda: "arm64")
    monkeypatch.setattr(machine_mod, "_read", lambda path: "")
    monkeypatch.setattr(machine_mod, "_sysctl", lambda name, with_names=False: answers.get(name))
    monkeypatch.setattr(psutil, "cpu_freq", lambda: (_ for _ in ()).throw(SystemError("sysctl")))
    return answers


def test_apple_silicon_flags_clock_and_peak(apple_silicon):
    flags = machine_mod.cpu_flags()
    assert {"asimddp", "i8mm", "bf16", "asimd", "fma"} <= flags and "feat_sme" not in flags
    assert machine_mod.int8_instructions() == ["asimddp", "i8mm"]
    here = machine_mod.local(detect_gpus=False)  # psutil.cpu_freq raising must not break it
    assert here.cpu_model == "Apple M2" and here.clock_hz == 3.49e9
    assert (here.simd_bits, here.fma_units) == (128, 4)
    assert here.theoretical_peak_flop_per_s == pytest.approx(here.physical_cores * 4 * 2 * 4 * 3.49e9)


def test_scaled_or_missing_clock_is_assumed_and_labelled(monkeypatch):
    import psutil

    monkeypatch.setattr(machine_mod, "cpu_model", lambda: "Some CPU")
    monkeypatch.setattr(machine_mod, "_read", lambda path: "")
    monkeypatch.setattr(machine_mod, "_cpuinfo_field", lambda *names: None)
    monkeypatch.setattr(machine_mod, "_sysctl", lambda name, with_names=False: None)
    monkeypatch.setattr(psutil, "cpu_freq", lambda: _Freq(3.2, 3.2))  # 'MHz' that are GHz
    hz, source = machine_mod._clock_hz()
    assert hz == machine_mod.ASSUMED_CLOCK_HZ and "ASSUMED" in source
    monkeypatch.setattr(psutil, "cpu_freq", lambda: _Freq(2400.0, 3600.0))
    assert machine_mod._clock_hz() == (3.6e9, "psutil.cpu_freq().max (maximum, may include boost)")


def test_describe_device_on_a_gpu_runtime(monkeypatch):
    """A Colab GPU runtime as TensorFlow reports it: one GPU with its name and capability."""
    import tensorflow as tf

    from course_utils import timing

    gpu = tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")
    monkeypatch.setattr(timing, "gpus", lambda: [gpu])
    monkeypatch.setattr(machine_mod, "gpus", lambda: [gpu])
    monkeypatch.setattr(
        tf.config.experimental,
        "get_device_details",
        lambda d: {"device_name": "Tesla T4", "compute_capability": (7, 5)},
    )
    assert timing.device_name("gpu") == "/GPU:0" and timing.device_name("auto") == "/GPU:0"
    assert machine_mod.describe_device("gpu") == "GPU: Tesla T4 (compute capability 7.5)"
    assert hardware.catalog_gpu("Tesla T4") is hardware.get("t4")
