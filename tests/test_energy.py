import sys
import time
import types

import pytest

from course_utils import energy


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


def test_estimate_is_power_times_time():
    assert energy.estimate_energy_joules(2.5, 40.0) == 100.0
    assert energy.estimate_energy_joules(0, 10) == 0.0
    with pytest.raises(ValueError, match="seconds"):
        energy.estimate_energy_joules(-1.0, 10.0)
    with pytest.raises(ValueError, match="watts"):
        energy.estimate_energy_joules(1.0, float("nan"))
    with pytest.raises(TypeError, match="watts"):
        energy.estimate_energy_joules(1.0, "65")


def test_tdp_share():
    assert energy.tdp_share_watts(280.0, 2, 64) == pytest.approx(8.75)
    with pytest.raises(ValueError, match="cores_used"):
        energy.tdp_share_watts(280.0, 65, 64)
    with pytest.raises(ValueError, match="tdp_watts"):
        energy.tdp_share_watts(0, 1, 4)
    with pytest.raises(TypeError, match="cores_total"):
        energy.tdp_share_watts(100, 1, 2.5)


def test_rapl_zones_only_top_level_packages(powercap):
    zones = energy.rapl_zones(powercap)
    assert [z.name for z in zones] == ["package-0", "package-1"]
    assert zones[0].read_uj() == 1_000_000
    assert energy.rapl_available(powercap)


def test_rapl_absent_or_unreadable(tmp_path):
    assert energy.rapl_zones(tmp_path / "missing") == []
    assert not energy.rapl_available(tmp_path / "missing")
    root = tmp_path / "powercap"
    zone = make_zone(root, 0, "package-0", 5)
    (zone / "energy_uj").unlink()
    (zone / "energy_uj").mkdir()  # reading a directory fails like a root-only file does
    assert not energy.rapl_available(root)


def test_rapl_wraparound():
    assert energy.rapl_delta_uj(100, 350, 1000) == 250
    # counter went 900 -> (wrap at 1000) -> 50: 100 + 50 = 150 µJ
    assert energy.rapl_delta_uj(900, 50, 1000) == 150


def test_meter_reads_rapl_with_wraparound(powercap, no_nvml):
    zone1 = powercap / "intel-rapl:1"
    (zone1 / "max_energy_range_uj").write_text("2500000\n")

    def work():  # the "work": packages spend 3 J and 1 J (package-1 wraps)
        (powercap / "intel-rapl:0" / "energy_uj").write_text("4000000\n")
        (zone1 / "energy_uj").write_text("500000\n")

    meter = energy.EnergyMeter(powercap_root=powercap)
    assert meter.will_measure
    with meter:
        work()
    r = meter.result
    assert r.measured
    assert r.parts_joules == pytest.approx({"RAPL package-0": 3.0, "RAPL package-1": 1.0})
    assert r.joules == pytest.approx(4.0)
    assert "RAPL package-0" in r.source and "measured" in str(r)
    assert r.per(4) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="count"):
        r.per(0)


def test_meter_estimates_without_counters(tmp_path, no_nvml):
    with pytest.raises(ValueError, match="assumed_watts"):
        energy.EnergyMeter(powercap_root=tmp_path)
    meter = energy.EnergyMeter(assumed_watts=50.0, powercap_root=tmp_path)
    assert not meter.will_measure
    with meter:
        time.sleep(0.02)
    r = meter.result
    assert not r.measured and "estimate" in r.source and "50 W" in r.source
    assert r.seconds >= 0.02
    assert r.joules == pytest.approx(50.0 * r.seconds)
    assert r.average_watts == pytest.approx(50.0)


def test_estimate_source_ignores_counters(powercap, no_nvml):
    with pytest.raises(ValueError, match="source='estimate'"):
        energy.EnergyMeter("estimate", powercap_root=powercap)
    with energy.EnergyMeter("estimate", assumed_watts=10.0, powercap_root=powercap) as m:
        pass
    assert not m.result.measured


def test_explicit_sources_raise_when_missing(tmp_path, no_nvml):
    with pytest.raises(RuntimeError, match="RAPL"):
        energy.EnergyMeter("rapl", powercap_root=tmp_path)
    with pytest.raises(RuntimeError, match="nvidia-ml-py"):
        energy.EnergyMeter("nvml", assumed_watts=1.0, powercap_root=tmp_path)
    with pytest.raises(ValueError, match="source"):
        energy.EnergyMeter("joulemeter")
    with pytest.raises(ValueError, match="watts"):
        energy.EnergyMeter(assumed_watts=-3.0)


def fake_pynvml(counters_mj, supported=True):
    """A stand-in for pynvml whose energy counters advance by `step` mJ on every read."""
    state = {"reads": 0, "open": 0}
    mod = types.ModuleType("pynvml")

    def init():
        state["open"] += 1

    def shutdown():
        state["open"] -= 1

    def energy_mj(handle):
        if not supported:
            raise RuntimeError("NVMLError_NotSupported")
        state["reads"] += 1
        counters_mj[handle] += 1500  # 1.5 J per read
        return counters_mj[handle]

    mod.nvmlInit = init
    mod.nvmlShutdown = shutdown
    mod.nvmlDeviceGetCount = lambda: len(counters_mj)
    mod.nvmlDeviceGetHandleByIndex = lambda i: i
    mod.nvmlDeviceGetName = lambda h: b"NVIDIA H100 80GB HBM3"
    mod.nvmlDeviceGetTotalEnergyConsumption = energy_mj
    return mod, state


def test_meter_reads_nvml(monkeypatch, tmp_path):
    mod, state = fake_pynvml({0: 10_000, 1: 20_000})
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    assert energy.nvml_available()
    with energy.EnergyMeter("nvml", powercap_root=tmp_path) as meter:
        pass
    r = meter.result
    assert r.measured and r.source.startswith("NVML gpu0 NVIDIA H100")
    assert r.parts_joules == pytest.approx(
        {"NVML gpu0 NVIDIA H100 80GB HBM3": 1.5, "NVML gpu1 NVIDIA H100 80GB HBM3": 1.5}
    )
    assert r.joules == pytest.approx(3.0)
    assert state["open"] == 0  # every nvmlInit was matched by nvmlShutdown


def test_auto_sums_rapl_and_nvml(monkeypatch, powercap):
    mod, _ = fake_pynvml({0: 0})
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    with energy.EnergyMeter(powercap_root=powercap, gpu_indices=[0]) as meter:
        (powercap / "intel-rapl:0" / "energy_uj").write_text("3000000\n")
    r = meter.result
    assert set(r.parts_joules) == {
        "RAPL package-0",
        "RAPL package-1",
        "NVML gpu0 NVIDIA H100 80GB HBM3",
    }
    assert r.joules == pytest.approx(2.0 + 0.0 + 1.5)


def test_nvml_unsupported_gpu_falls_back(monkeypatch, tmp_path):
    mod, _ = fake_pynvml({0: 0}, supported=False)
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    assert not energy.nvml_available()
    with energy.EnergyMeter(assumed_watts=5.0, powercap_root=tmp_path) as meter:
        pass
    assert not meter.result.measured


def test_sync_called_around_region(tmp_path, no_nvml):
    calls = []
    with energy.EnergyMeter(
        assumed_watts=1.0, powercap_root=tmp_path, sync=lambda: calls.append(1)
    ):
        assert len(calls) == 1
    assert len(calls) == 2
