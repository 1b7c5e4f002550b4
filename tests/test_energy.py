"""Tests of course_utils.energy: RAPL and NVML read for the device that did the work, else estimated.

No test touches real counters: a fake powercap tree (tmp_path) plays RAPL and a fake pynvml
module plays a GPU runtime, so each branch of the attribution rule runs on a CPU-only machine.
"""

import sys
import time
import types

import pytest

from course_utils import costs, energy


def make_zone(root, index, name, energy_uj, max_range=262_143_328_850, sub=None):
    zone = root / (f"intel-rapl:{index}" if sub is None else f"intel-rapl:{index}:{sub}")
    zone.mkdir(parents=True)
    (zone / "name").write_text(name + "\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_range}\n")
    return zone


@pytest.fixture
def no_nvml(monkeypatch):
    monkeypatch.setattr(energy, "_import_pynvml", lambda: None)


@pytest.fixture
def powercap(tmp_path):
    """Two packages, their sub-zones, psys and the duplicate MMIO tree, as on a real server."""
    root = tmp_path / "powercap"
    make_zone(root, 0, "package-0", 1_000_000)
    make_zone(root, 0, "core", 500_000, sub=0)
    make_zone(root, 0, "dram", 400_000, sub=1)
    make_zone(root, 1, "package-1", 2_000_000)
    make_zone(root, 2, "psys", 9_000_000)
    mmio = root / "intel-rapl-mmio:0"
    mmio.mkdir()
    (mmio / "name").write_text("package-0\n")
    (mmio / "energy_uj").write_text("1\n")
    (mmio / "max_energy_range_uj").write_text("10\n")
    return root


def fake_pynvml(counters_mj, supported=True):
    """A stand-in for pynvml (a GPU runtime): each GPU's counter advances 1.5 J per read."""
    state = {"reads": {i: 0 for i in counters_mj}, "open": 0}
    mod = types.ModuleType("pynvml")

    def init():
        state["open"] += 1

    def shutdown():
        state["open"] -= 1

    def energy_mj(handle):
        if not supported:
            raise RuntimeError("NVMLError_NotSupported")
        state["reads"][handle] += 1
        counters_mj[handle] += 1500
        return counters_mj[handle]

    mod.nvmlInit = init
    mod.nvmlShutdown = shutdown
    mod.nvmlDeviceGetCount = lambda: len(counters_mj)
    mod.nvmlDeviceGetHandleByIndex = lambda i: i
    mod.nvmlDeviceGetName = lambda h: b"NVIDIA H100 80GB HBM3"
    mod.nvmlDeviceGetTotalEnergyConsumption = energy_mj
    return mod, state


@pytest.fixture
def gpu_runtime(monkeypatch):
    """Two GPUs with NVML energy counters, as on a multi-GPU cloud machine."""
    mod, state = fake_pynvml({0: 10_000, 1: 20_000})
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    return state


def test_costs_behind_the_estimate():
    assert costs.estimate_energy_joules(2.5, 40.0) == 100.0
    assert costs.tdp_share_watts(280.0, 2, 64) == pytest.approx(8.75)
    with pytest.raises(ValueError, match="watts"):
        costs.estimate_energy_joules(1.0, float("nan"))


@pytest.mark.parametrize(
    "text, parsed",
    [
        ("cpu", ("cpu", 0)),
        ("/CPU:0", ("cpu", 0)),
        ("gpu", ("gpu", 0)),
        ("/GPU:1", ("gpu", 1)),
        ("/device:GPU:2", ("gpu", 2)),
        ("GPU:3", ("gpu", 3)),
    ],
)
def test_parse_device(text, parsed):
    assert energy.parse_device(text) == parsed


def test_parse_device_rejects_other_devices():
    with pytest.raises(ValueError, match="'cpu', 'gpu' or 'gpu:N'"):
        energy.parse_device("tpu:0")


def test_rapl_zones_only_top_level_packages(powercap):
    zones = energy.rapl_zones(powercap)
    assert [z.name for z in zones] == ["package-0", "package-1"]
    assert zones[0].read_uj() == 1_000_000


def test_rapl_absent_or_unreadable(tmp_path):
    assert energy.rapl_zones(tmp_path / "missing") == []
    root = tmp_path / "powercap"
    zone = make_zone(root, 0, "package-0", 5)
    (zone / "energy_uj").unlink()
    (zone / "energy_uj").mkdir()  # reading a directory fails like a root-only file does
    assert energy.rapl_zones(root) == []


def test_rapl_wraparound():
    assert energy.rapl_delta_uj(100, 350, 1000) == 250
    assert energy.rapl_delta_uj(900, 50, 1000) == 150  # 900 -> wrap at 1000 -> 50


def test_cpu_meter_reads_rapl_with_wraparound(powercap, no_nvml):
    zone1 = powercap / "intel-rapl:1"
    (zone1 / "max_energy_range_uj").write_text("2500000\n")
    meter = energy.EnergyMeter("cpu", powercap_root=powercap)
    assert meter.will_measure
    with meter:  # the "work": packages spend 3 J and 1 J (package-1 wraps)
        (powercap / "intel-rapl:0" / "energy_uj").write_text("4000000\n")
        (zone1 / "energy_uj").write_text("500000\n")
    r = meter.result
    assert r.measured and r.device == "cpu"
    assert r.joules == pytest.approx(4.0)
    assert r.source == "RAPL package-0 + RAPL package-1" and "measured by" in str(r)
    assert r.per(4) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="count"):
        r.per(0)


def test_cpu_work_on_a_gpu_runtime_never_reads_nvml(powercap, gpu_runtime):
    """Issue 13: the idle GPU's energy must not be reported as the CPU's inference energy."""
    with energy.EnergyMeter("cpu", powercap_root=powercap) as meter:
        (powercap / "intel-rapl:0" / "energy_uj").write_text("3000000\n")
    assert meter.result.measured and meter.result.joules == pytest.approx(2.0)
    assert "NVML" not in meter.result.source
    assert gpu_runtime["reads"] == {0: 0, 1: 0}


def test_cpu_work_without_rapl_is_an_estimate_even_with_nvml(tmp_path, gpu_runtime):
    with pytest.raises(ValueError, match="no readable RAPL package counter for the CPU"):
        energy.EnergyMeter("cpu", powercap_root=tmp_path)
    meter = energy.EnergyMeter("cpu", assumed_watts=50.0, powercap_root=tmp_path)
    assert not meter.will_measure
    with meter:
        time.sleep(0.02)
    r = meter.result
    assert not r.measured and "estimated: 50 W assumed x time (no readable RAPL" in str(r)
    assert r.seconds >= 0.02 and r.joules == pytest.approx(50.0 * r.seconds)
    assert r.average_watts == pytest.approx(50.0)
    assert gpu_runtime["reads"] == {0: 0, 1: 0}


def test_gpu_work_reads_only_its_gpu(powercap, gpu_runtime):
    with energy.EnergyMeter("/GPU:1", powercap_root=powercap) as meter:
        (powercap / "intel-rapl:0" / "energy_uj").write_text("9000000\n")  # RAPL ignored
    r = meter.result
    assert r.measured and r.device == "gpu:1"
    assert r.source == "NVML gpu1 NVIDIA H100 80GB HBM3"
    assert r.joules == pytest.approx(1.5)
    assert gpu_runtime["reads"][0] == 0 and gpu_runtime["open"] == 0  # NVML shut down again


def test_gpu_work_without_nvml_is_an_estimate(powercap, no_nvml):
    with pytest.raises(ValueError, match="NVML counter of GPU 0"):
        energy.EnergyMeter("gpu", powercap_root=powercap)
    with energy.EnergyMeter("gpu", assumed_watts=70.0, powercap_root=powercap) as meter:
        pass
    assert not meter.result.measured and "70 W assumed" in meter.result.source


def test_pre_volta_gpu_or_missing_index_is_an_estimate(monkeypatch, tmp_path):
    mod, _ = fake_pynvml({0: 0}, supported=False)
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    assert not energy.EnergyMeter("gpu:0", assumed_watts=5.0, powercap_root=tmp_path).will_measure
    mod, _ = fake_pynvml({0: 0})
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    assert not energy.EnergyMeter("gpu:3", assumed_watts=5.0, powercap_root=tmp_path).will_measure


def test_counters_can_be_turned_off(powercap, no_nvml):
    with pytest.raises(ValueError, match="counters off"):
        energy.EnergyMeter("cpu", use_counters=False, powercap_root=powercap)
    with energy.EnergyMeter(
        "cpu", assumed_watts=10.0, use_counters=False, powercap_root=powercap
    ) as meter:
        pass
    assert not meter.result.measured and "counters off" in meter.result.source


def test_bad_watts_rejected(tmp_path, no_nvml):
    with pytest.raises(ValueError, match="watts"):
        energy.EnergyMeter("cpu", assumed_watts=-3.0, powercap_root=tmp_path)


def test_sync_called_around_region(tmp_path, no_nvml):
    calls = []
    with energy.EnergyMeter(
        "cpu", assumed_watts=1.0, powercap_root=tmp_path, sync=lambda: calls.append(1)
    ):
        assert len(calls) == 1
    assert len(calls) == 2
