"""Tests of course_utils.hardware: the sourced catalogue, seed 002's table, this machine, probes."""


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
    # Orin's tensor cores: fp16 at half the int8 rate, 32 tensor cores x 512 FLOP per clock
    assert get("jetson").peak("fp16") == pytest.approx(32 * 512 * 1.02e9)
    assert get("jetson").peak("int8") == pytest.approx(2 * get("jetson").peak("fp16"), rel=0.01)
    assert get("raspberry pi 5").memory_bandwidth_bytes_per_s == pytest.approx(4 * 4267e6, rel=1e-3)
    # tensor rates are dense: half of NVIDIA's sparsity figures
    assert get("h100").peak("bf16") == pytest.approx(1979 * T / 2, rel=1e-3)
    assert get("h200").peak_flops == get("h100").peak_flops
    assert get("h200").memory_bandwidth_bytes_per_s > get("h100").memory_bandwidth_bytes_per_s


def test_power_and_price_say_what_they_are():
    # most power figures are TDPs; the others say what they hold (seed 002's table mixes them)
    assert get("k80").power_basis.startswith("TDP") and get("k80").price_basis.startswith("launch")
    assert "supply" in get("raspberry pi 5").power_basis
    assert "TOP500 listing" in get("bluegene/l").power_basis  # not known to be measured
    assert "chip" in get("coral").power_basis and "board" in get("coral").price_basis
    for device in catalog():
        assert device.power_basis and device.price_basis


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
        "inferences/s <10 ms": ("1/13 TH", "1X", "2X"),
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
    assert rows[("year", k80)].catalogue_value == 2014  # differs by 0.1 %, yet differs
    assert rows[("inferences/s <10 ms", p40)].seed_value == 2.0
    assert rows[("inferences/s <10 ms", k80)].catalogue_value is None
    # on-chip memory as Jouppi et al. count it: register files + L2
    assert rows[("on-chip memory", p40)].seed_value == pytest.approx(
        30 * 256 * 2**10 + 3 * 2**20, rel=0.05
    )
    assert "register files + L2" in rows[("on-chip memory", p40)].explanation
    assert rows[("on-chip memory", k80)].seed_value == 2 * (13 * 512 * 2**10 + 1.5 * 2**20)
    # the rest is rounding (within 3 %) or equal
    for key in [("inference TOPS", tpu), ("inference TOPS", p40), ("bandwidth", p40)]:
        assert rows[key].ratio == pytest.approx(1, abs=0.03) and rows[key].ratio != 1
    assert rows[("training TOPS", tpu)].ratio is None


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

