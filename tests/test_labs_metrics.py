from dataclasses import dataclass, field

import pytest

from course_utils import costs
from course_utils.labs import metrics as cs


def test_seed004_p40_arithmetic():
    """Seed 004: 100 epochs x 1.2 M images x 23 G ops on a 12 TFLOP/s P40."""
    train = cs.training_workload(23e9 / 3, samples=1_200_000, epochs=1)
    assert train.flop == pytest.approx(27.6e15)  # the slide says 23 * 10^15
    hundred = cs.training_workload(23e9 / 3, samples=1_200_000, epochs=100)
    assert hundred.flop == pytest.approx(2.76e18)
    assert hundred.samples == 120_000_000
    assert hundred.flop_per_sample == pytest.approx(23e9)
    days = costs.compute_seconds(hundred.flop, 12e12) / cs.SECONDS_PER_DAY
    assert days == pytest.approx(2.66, abs=0.01)  # not the slide's 11 days
    slide_days = costs.compute_seconds(2.3e18, 12e12) / cs.SECONDS_PER_DAY
    assert slide_days == pytest.approx(2.22, abs=0.01)
    # the utilization that "11 days" implies, with the slide's own 2.3e18
    assert costs.implied_utilization(2.3e18, 12e12, 11 * cs.SECONDS_PER_DAY) == pytest.approx(
        0.2017, abs=1e-3
    )


def test_inference_workload():
    w = cs.inference_workload(7.7e9, 1_000_000)
    assert w.flop == pytest.approx(7.7e15) and w.samples == 1_000_000
    assert "1,000,000" in w.name
    with pytest.raises(ValueError, match="samples"):
        cs.inference_workload(7.7e9, 0)
    with pytest.raises(ValueError, match="flop_per_sample"):
        cs.inference_workload(-1.0, 10)


def test_estimate_by_hand():
    # 1e15 FLOP on 2 units of 1e12 FLOP/s at 50 %: 1000 s; 2 x 250 W -> 500 kJ
    w = cs.Workload("job", flop=1e15, samples=1000)
    p = cs.Platform(
        "gpu",
        peak_flop_per_s=1e12,
        watts=250,
        units=2,
        utilization=0.5,
        price_usd=10_000,
        lifetime_years=1.0,
    )
    e = cs.estimate(w, p, usd_per_kwh=0.2)
    assert e.seconds == pytest.approx(1000.0)
    assert e.joules == pytest.approx(500e3)
    assert e.kwh == pytest.approx(500e3 / 3.6e6)
    assert e.energy_usd == pytest.approx(e.kwh * 0.2)
    assert e.hardware_usd == pytest.approx(2 * 10_000 * 1000 / (365.25 * 86400))
    assert e.total_usd == pytest.approx(e.energy_usd + e.hardware_usd)
    assert e.joules_per_sample == pytest.approx(500.0)
    assert e.samples_per_s == pytest.approx(1.0)
    assert e.money_complete
    text = str(e)
    assert "job on 2 x gpu" in text and "16.7 min" in text and "amortisation" in text
    assert e.as_row()["total_usd"] == e.total_usd


def test_cloud_price_replaces_hardware_and_power_bill():
    w = cs.Workload("job", flop=3.6e15, samples=1)
    p = cs.Platform(
        "cloud", 1e12, watts=300, utilization=1.0, price_usd=1e4, cloud_usd_per_hour=2.5
    )
    e = cs.estimate(w, p)
    assert e.seconds == pytest.approx(3600)
    assert e.energy_usd == 0 and e.hardware_usd == pytest.approx(2.5)
    assert e.joules == pytest.approx(300 * 3600)  # energy is still reported
    assert "cloud rental" in str(e)


def test_unknown_price_is_flagged():
    e = cs.estimate(cs.Workload("job", 1e15, 1), cs.Platform("old", 1e12, watts=1e6))
    assert e.hardware_usd is None and not e.money_complete
    assert e.total_usd == e.energy_usd
    assert "hardware price unknown" in str(e)
    assert "*" in cs.case_table([e]).splitlines()[-1]


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
    with pytest.raises(ValueError, match="seconds"):
        costs.implied_utilization(1e15, 1e12, 0)
    with pytest.raises(TypeError, match="workload"):
        cs.estimate("resnet", cs.Platform("x", 1e12, 100))
    with pytest.raises(ValueError, match="usd_per_kwh"):
        cs.estimate(cs.Workload("j", 1, 1), cs.Platform("x", 1e12, 100), usd_per_kwh=-1)


@dataclass(frozen=True)
class FakeDevice:
    name: str = "Fake GPU"
    kind: str = "gpu"
    peak_flops: dict = field(default_factory=lambda: {"fp32": 10e12, "fp16": 40e12})
    tdp_watts: float | None = 300.0
    price_usd: float | None = 5000.0
    source: str = "datasheet"

    def peak(self, precision="fp32"):
        if precision not in self.peak_flops:
            raise ValueError(f"no {precision} peak; known: {sorted(self.peak_flops)}")
        return self.peak_flops[precision]


def test_platform_from_device():
    p = cs.Platform.from_device(FakeDevice(), "fp16", units=4, utilization=0.25)
    assert p.peak_flop_per_s == 40e12 and p.watts == 300 and p.price_usd == 5000
    assert p.sustained_flop_per_s == pytest.approx(4 * 0.25 * 40e12)
    assert p.power_watts == 1200 and p.kind == "gpu" and p.precision == "fp16"
    assert p.replace(utilization=0.5).sustained_flop_per_s == pytest.approx(
        2 * p.sustained_flop_per_s
    )
    with pytest.raises(ValueError, match="int4"):
        cs.Platform.from_device(FakeDevice(), "int4")
    with pytest.raises(ValueError, match="watts"):
        cs.Platform.from_device(FakeDevice(tdp_watts=None))
    assert cs.Platform.from_device(FakeDevice(tdp_watts=None), watts=50).watts == 50


def test_compare_and_table():
    ws = [cs.inference_workload(7.7e9, 1_000_000), cs.training_workload(7.7e9, 1_200_000, 100)]
    ps = [cs.Platform("edge", 4e12, 2, precision="int8"), cs.Platform("dc", 100e12, 400)]
    grid = cs.compare(ws, ps)
    assert [(e.workload.name, e.platform.name) for e in grid] == [
        (ws[0].name, "edge"),
        (ws[0].name, "dc"),
        (ws[1].name, "edge"),
        (ws[1].name, "dc"),
    ]
    table = cs.case_table(grid)
    assert len(table.splitlines()) == 2 + 4
    # faster platform -> less time for the same workload
    assert grid[1].seconds < grid[0].seconds


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
    assert cs.format_duration(seconds) == text


@pytest.mark.parametrize(
    "usd, text", [(0.0042, "$0.0042"), (3.1, "$3.10"), (1234.4, "$1,234"), (2.1e6, "$2.1 M")]
)
def test_format_usd(usd, text):
    assert cs.format_usd(usd) == text


@pytest.mark.parametrize(
    "kwh, text",
    [(0.00505, "5.05 Wh"), (1.82, "1.82 kWh"), (10_028.4, "10,028 kWh"), (2.1e6, "2.1 GWh")],
)
def test_format_energy(kwh, text):
    assert cs.format_energy(kwh * 3.6e6) == text


def test_preferred_precision():
    gpu = FakeDevice()  # fp32 and fp16
    assert cs.preferred_precision(gpu, training=True) == "fp16"
    assert cs.preferred_precision(gpu) == "fp16"  # no int8 path
    edge = FakeDevice(peak_flops={"int8": 4e12})
    assert cs.preferred_precision(edge) == "int8"
    with pytest.raises(ValueError, match="training"):
        cs.preferred_precision(edge, training=True)
    old = FakeDevice(peak_flops={"fp64": 367e12})
    assert cs.preferred_precision(old, training=True) == "fp64"


def test_with_the_real_catalogue():
    from course_utils import hardware

    p40 = cs.Platform.from_device(hardware.get("P40"), "fp32", utilization=1.0)
    assert p40.watts == 250 and p40.price_usd == hardware.get("P40").price_usd
    train = cs.training_workload(7.716e9, 1_200_000, 100)
    assert cs.estimate(train, p40).days == pytest.approx(2.68, abs=0.01)
    assert cs.preferred_precision(hardware.get("H100"), training=True) == "bf16"
    assert cs.preferred_precision(hardware.get("H100")) == "int8"
    assert cs.preferred_precision(hardware.get("BlueGene/L"), training=True) == "fp64"
    with pytest.raises(ValueError, match="training"):
        cs.preferred_precision(hardware.get("Coral"), training=True)  # int8 only
    e = cs.estimate(train, cs.Platform.from_device(hardware.get("BlueGene/L"), "fp64"))
    assert not e.money_complete  # no public price: electricity only
