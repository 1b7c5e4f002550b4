"""Tests of course_utils.hardware: the sourced catalogue, seed 002's table, this machine, probes."""

import math
import time

import numpy as np
import psutil
import pytest

from course_utils import hardware
from course_utils.hardware import (
    PRECISIONS,
    Device,
    UnknownDeviceError,
    UnknownPrecisionError,
    catalog,
    get,
)

T, G = 1e12, 1e9


# --------------------------------------------------------------------------- the catalogue


@pytest.mark.parametrize("device", catalog(), ids=lambda d: d.name)
def test_every_entry_is_complete(device):
    assert device.kind in hardware.KINDS
    assert 1990 <= device.year <= 2030
    assert device.peak_flops and set(device.peak_flops) <= set(PRECISIONS)
    assert all(rate > 0 for rate in device.peak_flops.values())
    assert device.memory_bandwidth_bytes_per_s > 0
    assert device.tdp_watts is not None and device.tdp_watts > 0
    assert device.price_usd is None or device.price_usd > 0
    assert len(device.source) > 20 and device.notes
    assert get(device.name) is device
    for alias in device.aliases:
        assert get(alias) is device


def test_catalogue_covers_the_slides_and_today():
    names = {d.name for d in catalog()}
    for wanted in ("k80", "tpu v1", "p40", "v100", "rtx 3090", "tpu v2", "tpu v3", "coral"):
        assert get(wanted).name in names
    for wanted in ("bluegene/l", "a100", "h100", "h200", "jetson", "raspberry pi", "laptop cpu"):
        assert get(wanted).name in names
    kinds = {d.kind for d in catalog()}
    assert kinds == set(hardware.KINDS)
    assert [d.year for d in catalog()] == sorted(d.year for d in catalog())


def test_peaks_follow_from_their_documented_derivations():
    # units x FLOP per unit per cycle x clock, as each entry's notes explain
    assert get("tpu v1").peak("int8") == pytest.approx(256 * 256 * 2 * 0.7e9, rel=0.01)
    assert get("k80").peak("fp32") == pytest.approx(2 * 2496 * 2 * 0.875e9, rel=0.001)
    assert get("p40").peak("fp32") == pytest.approx(3840 * 2 * 1.531e9, rel=0.025)
    assert get("rtx 3090").peak("fp32") == pytest.approx(10496 * 2 * 1.695e9, rel=0.001)
    assert get("tpu v2").peak("bf16") == pytest.approx(2 * 128 * 128 * 2 * 0.7e9, rel=0.02)
    assert get("tpu v3").peak("bf16") == pytest.approx(2 * 2 * 128 * 128 * 2 * 0.94e9, rel=0.002)
    assert get("bluegene/l").peak("fp64") == pytest.approx(65536 * 2 * 4 * 0.7e9, rel=0.001)
    assert get("raspberry pi 5").peak("fp32") == pytest.approx(4 * 2.4e9 * 16)
    assert get("i7-6600u").peak("fp32") == pytest.approx(2 * 2.6e9 * 32)
    assert get("jetson").peak("fp32") == pytest.approx(1024 * 2 * 1.02e9, rel=0.001)
    assert get("raspberry pi 5").memory_bandwidth_bytes_per_s == pytest.approx(4 * 4267e6, rel=1e-3)
    # tensor rates are dense: half of NVIDIA's sparsity figures
    assert get("h100").peak("bf16") == pytest.approx(1979 * T / 2, rel=1e-3)
    assert get("h200").peak_flops == get("h100").peak_flops
    assert get("h200").memory_bandwidth_bytes_per_s > get("h100").memory_bandwidth_bytes_per_s


def test_get_is_case_insensitive_and_knows_aliases():
    k80 = get("NVIDIA Tesla K80")
    assert get("k80") is get("K80") is get("tesla k80") is get("  nvidia-tesla-k80 ") is k80
    assert get("TPU v1") is get("tpuv1") is get("tpu-v1") is get("TPU")
    with pytest.raises(TypeError, match="name"):
        get(80)


def test_unknown_device_suggests_close_names():
    with pytest.raises(UnknownDeviceError) as info:
        get("k8O")
    assert isinstance(info.value, KeyError)
    assert "'k8O'" in str(info.value) and "'k80'" in str(info.value)
    with pytest.raises(KeyError, match="tpu v3"):
        get("tpu v4")


def test_unknown_precision_lists_known_ones():
    with pytest.raises(UnknownPrecisionError, match="fp64, fp32") as info:
        get("k80").peak("fp16")
    assert isinstance(info.value, ValueError) and isinstance(info.value, KeyError)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"kind": "fpga"}, "kind"),
        ({"year": 20}, "year"),
        ({"peak_flops": {}}, "peak_flops"),
        ({"peak_flops": {"fp12": 1.0}}, "fp12"),
        ({"peak_flops": {"fp32": -1.0}}, "peak_flops"),
        ({"memory_bandwidth_bytes_per_s": 0}, "memory_bandwidth"),
        ({"tdp_watts": float("nan")}, "tdp_watts"),
        ({"source": " "}, "source"),
    ],
)
def test_device_validates_its_fields(change, match):
    fields = dict(
        name="toy", kind="cpu", year=2024, peak_flops={"fp32": 1e9},
        memory_bandwidth_bytes_per_s=1e9, tdp_watts=10, price_usd=None, source="made up for a test",
    )  # fmt: skip
    Device(**fields)
    with pytest.raises(ValueError, match=match):
        Device(**{**fields, **change})


def test_peak_flops_is_read_only():
    with pytest.raises(TypeError):
        get("k80").peak_flops["fp32"] = 1.0


# --------------------------------------------------------------------------- mu and eta


def test_mu_and_eta_formulas():
    assert hardware.flops_per_dollar(1e12, 1000) == pytest.approx(1e9)
    assert hardware.flops_per_watt(1e12, 100) == pytest.approx(1e10)
    rtx = get("rtx 3090")
    assert rtx.flops_per_dollar() == pytest.approx(35.6e12 / 1499)
    assert rtx.flops_per_watt("fp16") == pytest.approx(71e12 / 350)
    assert get("k80").flops_per_watt() == pytest.approx(8.73e12 / 300)
    # the seed's point: an inference ASIC is far more efficient per watt
    assert get("tpu v1").flops_per_watt("int8") > 10 * get("k80").flops_per_watt("fp32")
    with pytest.raises(ValueError, match="launch price"):
        get("tpu v1").flops_per_dollar("int8")


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((1e12, 0), ValueError, "price_usd"),
        ((-1.0, 10), ValueError, "flop_per_s"),
        (("1e12", 10), TypeError, "flop_per_s"),
        ((1e12, float("inf")), ValueError, "price_usd"),
    ],
)
def test_mu_rejects_bad_numbers(args, error, match):
    with pytest.raises(error, match=match):
        hardware.flops_per_dollar(*args)
    with pytest.raises(error):
        hardware.flops_per_watt(*args)


# --------------------------------------------------------------------------- seed 002's table


def test_seed_002_table_values_as_documented():
    rows = {(r.quantity, r.device): r for r in hardware.seed_002_accelerator_table()}
    k80, tpu, p40 = get("k80").name, get("tpu v1").name, get("p40").name
    seed = {  # seed 002, 'TPUs vs GPUs': | | K80 2012 | TPU 2015 | P40 2016 |
        "year": ("2012", "2015", "2016"),
        "training TOPS": ("6 FP32", "NA", "12 FP32"),
        "inference TOPS": ("6 FP32", "90 INT8", "48 INT8"),
        "on-chip memory": ("16MB", "24 MB", "11 MB"),
        "power": ("300W", "75W", "250W"),
        "bandwidth": ("320 GB/S", "34 GB/S", "350 GB/S"),
    }
    assert len(rows) == 3 * len(seed)
    for quantity, texts in seed.items():
        for device, text in zip((k80, tpu, p40), texts, strict=True):
            row = rows[(quantity, device)]
            assert row.seed_text == text and row.explanation
    # the catalogue's own values, read at call time
    assert rows[("power", k80)].catalogue_value == get("k80").tdp_watts == 300
    assert rows[("inference TOPS", tpu)].catalogue_value == get("tpu v1").peak("int8")
    assert rows[("bandwidth", p40)].seed_value == 350 * G
    # where they differ, and why: boost vs base clock, datasheet vs per-die figures
    assert rows[("training TOPS", k80)].ratio == pytest.approx(8.73 / 6)
    assert "base clock" in rows[("training TOPS", k80)].explanation
    assert rows[("bandwidth", k80)].ratio == pytest.approx(1.5)
    assert "160" in rows[("bandwidth", k80)].explanation
    assert rows[("year", k80)].catalogue_value == 2014
    # the rest is rounding (within 3 %) or equal
    for key in [("inference TOPS", tpu), ("inference TOPS", p40), ("bandwidth", p40)]:
        assert rows[key].ratio == pytest.approx(1, abs=0.03) and rows[key].ratio != 1
    assert rows[("training TOPS", tpu)].ratio is None


# --------------------------------------------------------------------------- this machine


@pytest.fixture(scope="module")
def machine():
    return hardware.local()


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
    flags = hardware._cpu_flags()
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
    got_bits, got_fma, notes = hardware._simd(flags, arch, vendor, family, model)
    assert (got_bits, got_fma) == (bits, fma) and notes


def test_simd_apple_silicon_and_given_clock():
    assert hardware._simd({"neon"}, "arm64", cpu_name="Apple M1")[:2] == (128, 4)
    machine = hardware.local(detect_gpus=False, clock_hz=3.0e9)
    assert machine.clock_hz == 3.0e9 and machine.clock_source == "given by the caller"
    assert machine.gpus == ()
    with pytest.raises(ValueError, match="clock_hz"):
        hardware.local(detect_gpus=False, clock_hz=0)


def test_local_as_device(machine):
    device = machine.as_device(memory_bandwidth_bytes_per_s=10 * G)
    assert device.kind == "cpu" and device.price_usd is None and device.tdp_watts is None
    assert device.peak("fp32") == machine.theoretical_peak_flop_per_s
    assert device.memory_bandwidth_bytes_per_s == 10 * G
    with pytest.raises(ValueError, match="TDP"):
        device.flops_per_watt()


@pytest.mark.parametrize(
    "reported, expected",
    [
        ("Tesla K80", "k80"),
        ("Tesla T4", "t4"),
        ("NVIDIA A100-SXM4-40GB", "a100"),
        ("NVIDIA H100 80GB HBM3", "h100"),
        ("NVIDIA GeForce RTX 3090", "rtx 3090"),
        ("NVIDIA L4", "l4"),
        ("NVIDIA L40S", None),
        ("NVIDIA GeForce RTX 4090", None),
    ],
)
def test_gpu_names_map_to_catalogue(reported, expected):
    found = hardware.catalog_gpu(reported)
    assert found is (None if expected is None else get(expected))


def test_local_gpus_come_from_the_catalogue(machine):
    for device in machine.gpu_devices():
        assert device.kind == "gpu"


# --------------------------------------------------------------------------- probes


@pytest.mark.parametrize("backend", hardware.BACKENDS)
def test_gemm_probe(backend):
    probe = hardware.measure_peak_flops(n=256, repeats=3, backend=backend)
    assert probe.flop == 2 * 256**3 and probe.samples.shape == (3,)
    assert probe.best_flop_per_s >= probe.median_flop_per_s > 0
    assert probe.flop_per_s == probe.best_flop_per_s
    assert probe.dtype == "float32" and probe.device == "/CPU:0"
    assert backend in str(probe)


def test_gemm_probe_bad_arguments():
    with pytest.raises(ValueError, match="backend"):
        hardware.measure_peak_flops(backend="torch")
    for backend in hardware.BACKENDS:
        with pytest.raises(ValueError, match="dtype"):
            hardware.measure_peak_flops(dtype="int32", n=8, backend=backend)
    with pytest.raises(ValueError, match="n must be"):
        hardware.measure_peak_flops(n=0)


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
            probe = hardware.measure_peak_flops(n=2048, repeats=4, warmup=1, backend=backend)
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
    n = hardware._TRIAD_CHUNK + 123  # crosses a chunk boundary
    b, c = np.arange(n, dtype=float), np.full(n, 2.0)
    tmp = np.empty(hardware._TRIAD_CHUNK)
    expected = {"copy": b, "scale": 3 * b, "add": b + c, "triad": b + 3 * c}
    for kind, want in expected.items():
        a = np.zeros(n)
        hardware._stream_kernel(kind, a, b, c, tmp)
        np.testing.assert_array_equal(a, want)


@pytest.mark.parametrize("kind, arrays", [("copy", 2), ("scale", 2), ("add", 3), ("triad", 3)])
def test_bandwidth_probe(kind, arrays):
    probe = hardware.measure_bandwidth(size_bytes=8 * 2**20, kind=kind, repeats=3)
    assert probe.bytes_per_call == arrays * 8 * 2**20
    assert probe.best_bytes_per_s >= probe.median_bytes_per_s > 1e8
    assert probe.threads == hardware.physical_cores()
    assert kind in str(probe)


def test_bandwidth_probe_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        hardware.measure_bandwidth(kind="gather")
    with pytest.raises(ValueError, match="size_bytes"):
        hardware.measure_bandwidth(size_bytes=10)
    with pytest.raises(ValueError, match="threads"):
        hardware.measure_bandwidth(size_bytes=2**20, threads=0)


def test_bandwidth_sweep_small_arrays_repeat_inside_a_sample():
    small, large = hardware.bandwidth_sweep([16 * 2**10, 64 * 2**20], kind="copy", repeats=3)
    assert small.threads == large.threads == 1
    assert small.calls_per_sample > large.calls_per_sample >= 1
    assert small.latency.min >= 1e-3  # each sample long enough to time reliably
    assert math.isfinite(small.bytes_per_s) and small.bytes_per_s > 0
