"""Tests of course_utils.labs.metrics: notebook 01's case study and the latency-bound lookup."""

from dataclasses import dataclass, field

import pytest

from course_utils import costs, hardware
from course_utils.labs import metrics as cs
from course_utils.units import SECONDS_PER_DAY, format_duration, format_energy, format_usd


def test_seed004_p40_arithmetic():
    """Seed 004: 100 epochs x 1.2 M images x 23 G ops on a 12 TFLOP/s P40."""
    one_epoch = costs.training_flops(23e9 / 3, 1_200_000, 1)
    assert one_epoch == pytest.approx(27.6e15)  # the slide says 23 * 10^15
    train = cs.Workload("train", costs.training_flops(23e9 / 3, 1_200_000, 100), 120_000_000)
    p40 = cs.Platform("P40", 12e12, watts=250, utilization=1.0)
    assert cs.estimate(train, p40).seconds / SECONDS_PER_DAY == pytest.approx(2.66, abs=0.01)
    # the utilization that "11 days" implies, with the slide's own 2.3e18
    assert costs.implied_utilization(2.3e18, 12e12, 11 * SECONDS_PER_DAY) == pytest.approx(
        0.2017, abs=1e-3
    )


def test_estimate_by_hand():
    # 1e15 FLOP on 2 units of 1e12 FLOP/s at 50 %: 1000 s; 2 x 250 W -> 500 kJ
    w = cs.Workload("job", flop=1e15, samples=1000)
    p = cs.Platform(
        "gpu", 1e12, watts=250, units=2, utilization=0.5, price_usd=10_000, lifetime_years=1.0
    )
    e = cs.estimate(w, p, usd_per_kwh=0.2)
    assert e.seconds == pytest.approx(1000.0)
    assert e.joules == pytest.approx(500e3)
    assert e.energy_usd == pytest.approx(500e3 / 3.6e6 * 0.2)
    assert e.hardware_usd == pytest.approx(2 * 10_000 * 1000 / (365.25 * 86400))
    assert e.total_usd == pytest.approx(e.energy_usd + e.hardware_usd)
    assert e.joules_per_sample == pytest.approx(500.0)


def test_energy_does_not_depend_on_units_but_on_utilization():
    """E = P n t with t = FLOP / (peak u n): more units save time, higher utilization energy."""
    w = cs.Workload("job", 1e18, 1)
    base = cs.estimate(w, cs.Platform("gpu", 1e13, 300))
    four = cs.estimate(w, cs.Platform("gpu", 1e13, 300, units=4))
    busy = cs.estimate(w, cs.Platform("gpu", 1e13, 300, utilization=0.6))
    assert four.seconds == pytest.approx(base.seconds / 4) and four.joules == pytest.approx(
        base.joules
    )
    assert busy.joules == pytest.approx(base.joules / 2)


def test_unknown_price_is_electricity_only():
    e = cs.estimate(cs.Workload("job", 1e15, 1), cs.Platform("old", 1e12, watts=1e6))
    assert e.hardware_usd is None and e.total_usd == e.energy_usd
    assert cs.case_table([e]).splitlines()[-1].endswith("*")


def test_validation_names_the_argument():
    with pytest.raises(ValueError, match="utilization"):
        cs.Platform("x", 1e12, 100, utilization=30)
    with pytest.raises(ValueError, match="utilization"):
        cs.Platform("x", 1e12, 100, utilization=0)
    with pytest.raises(ValueError, match="peak_flop_per_s"):
        cs.Platform("x", 0, 100)
    with pytest.raises(ValueError, match="units"):
        cs.Platform("x", 1e12, 100, units=0)
    with pytest.raises(TypeError, match="watts"):
        cs.Platform("x", 1e12, "100")
    with pytest.raises(ValueError, match="samples"):
        cs.Workload("x", 1e9, 0)
    with pytest.raises(ValueError, match="flop"):
        cs.Workload("x", -1.0, 10)


@dataclass(frozen=True)
class FakeDevice:
    name: str = "Fake GPU"
    kind: str = "gpu"
    peak_flops: dict = field(default_factory=lambda: {"fp32": 10e12, "fp16": 40e12})
    tdp_watts: float | None = 300.0
    price_usd: float | None = 5000.0
    power_basis: str = "TDP"

    def peak(self, precision="fp32"):
        if precision not in self.peak_flops:
            raise ValueError(f"no {precision} peak; known: {sorted(self.peak_flops)}")
        return self.peak_flops[precision]


def test_platform_from_device():
    p = cs.Platform.from_device(FakeDevice(), "fp16", units=4, utilization=0.25)
    assert (p.peak_flop_per_s, p.watts, p.price_usd, p.units) == (40e12, 300, 5000, 4)
    assert p.kind == "gpu" and p.precision == "fp16" and p.power_basis == "TDP"
    with pytest.raises(ValueError, match="int4"):
        cs.Platform.from_device(FakeDevice(), "int4")
    with pytest.raises(TypeError, match="watts"):
        cs.Platform.from_device(FakeDevice(tdp_watts=None), "fp32")
    assert cs.Platform.from_device(FakeDevice(tdp_watts=None), "fp32", watts=50).watts == 50


def test_case_table_marks_estimates_and_missing_prices():
    w = cs.Workload("classify", 7.7e15, 1_000_000)
    ps = [
        cs.Platform("edge", 4e12, 2, precision="int8", price_usd=150.0),
        cs.Platform("here", 1e11, 9, power_basis="estimate"),
    ]
    lines = cs.case_table([cs.estimate(w, p) for p in ps]).splitlines()
    assert len(lines) == 2 + 2 and set(lines[1]) == {"-"}
    assert "edge int8" in lines[2] and "~" not in lines[2] and not lines[2].endswith("*")
    assert "~" in lines[3] and lines[3].endswith("*")
    assert len({len(line) for line in lines[:3]}) == 1  # columns line up


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.0123, "12.3 ms"),
        (42, "42 s"),
        (600, "10 min"),
        (3 * 3600, "3 h"),
        (2.66 * 86400, "2.66 days"),
        (5 * 365.25 * 86400, "5 years"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    "usd, text", [(0.0042, "$0.0042"), (3.1, "$3.10"), (1234.4, "$1,234"), (2.1e6, "$2.1 M")]
)
def test_format_usd(usd, text):
    assert format_usd(usd) == text


@pytest.mark.parametrize(
    "kwh, text",
    [(0.00505, "5.05 Wh"), (1.82, "1.82 kWh"), (10_028.4, "10,028 kWh"), (2.1e6, "2.1 GWh")],
)
def test_format_energy(kwh, text):
    assert format_energy(kwh * 3.6e6) == text


def test_preferred_precision():
    gpu = FakeDevice()  # fp32 and fp16
    assert cs.preferred_precision(gpu, training=True) == "fp16"
    assert cs.preferred_precision(gpu) == "fp16"  # no int8 path
    edge = FakeDevice(peak_flops={"int8": 4e12})
    assert cs.preferred_precision(edge) == "int8"
    with pytest.raises(ValueError, match="no peak in"):
        cs.preferred_precision(edge, training=True)
    assert cs.preferred_precision(FakeDevice(peak_flops={"fp64": 367e12}), training=True) == "fp64"


def test_with_the_real_catalogue():
    p40 = cs.Platform.from_device(hardware.get("P40"), "fp32", utilization=1.0)
    assert p40.watts == 250 and p40.price_usd == hardware.get("P40").price_usd
    train = cs.Workload("train", costs.training_flops(7.716e9, 1_200_000, 100), 120_000_000)
    assert cs.estimate(train, p40).seconds / SECONDS_PER_DAY == pytest.approx(2.68, abs=0.01)
    assert cs.preferred_precision(hardware.get("H100"), training=True) == "bf16"
    assert cs.preferred_precision(hardware.get("H100")) == "int8"
    assert cs.preferred_precision(hardware.get("Jetson"), training=True) == "fp16"
    assert cs.preferred_precision(hardware.get("BlueGene/L"), training=True) == "fp64"
    with pytest.raises(ValueError, match="no peak in"):
        cs.preferred_precision(hardware.get("Coral"), training=True)  # int8 only
    bgl = cs.Platform.from_device(hardware.get("BlueGene/L"), "fp64")
    assert (
        bgl.power_basis.startswith("TOP500 listing")
        and cs.estimate(train, bgl).hardware_usd is None
    )


SWEEP = [(1, 0.004, 0.005), (8, 0.010, 0.012), (32, 0.030, 0.040)]  # (B, median s, p99 s)


@pytest.mark.parametrize(
    "points, frame_rate, bound, expected",
    [
        (SWEEP, 100, 0.05, 1),  # batch 1 keeps up (250/s) and waits least
        (SWEEP, 500, 0.05, 8),  # batch 1 falls behind; 8 waits 7/500 + 0.012 = 26 ms, 32 102 ms
        (SWEEP, 500, 0.02, 0),  # the best wait, 26 ms, is over the bound
        (SWEEP, 2000, 1.0, 0),  # no batch size keeps up with 2,000 frames/s
        ([(4, 0.008, 0.009), (1, 0.003, 0.004)], 400, 0.02, 4),  # order does not matter
        ([(2, 0.010, 0.010)], 100, 0.02, 2),  # exactly keeping up and exactly the bound
    ],
)
def test_batch_for_camera(points, frame_rate, bound, expected):
    assert cs.batch_for_camera(points, frame_rate, bound) == expected


def test_batch_for_camera_waits_on_the_tail_not_the_median():
    # the median (5 ms) would fit a 10 ms bound; the p99 (15 ms) does not
    assert cs.batch_for_camera([(1, 0.005, 0.015)], 30, 0.010) == 0
    with pytest.raises(ValueError, match="frame_rate"):
        cs.batch_for_camera(SWEEP, 0, 0.1)
    with pytest.raises(ValueError, match="bound_seconds"):
        cs.batch_for_camera(SWEEP, 30, -1)
