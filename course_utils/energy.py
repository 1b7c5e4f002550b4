"""Energy of a piece of work, read from the counter of the device that did it, or estimated.

Seed 000, metric 4: "Total energy consumed to perform computation (Joules per operation or
per sample)". ``E [J] = P [W] x t [s]``; a cumulative counter gives ``E`` as the difference
of two readings around the work:

* **CPU: Linux RAPL** (Intel since Sandy Bridge, AMD since Zen),
  ``/sys/class/powercap/intel-rapl:N/energy_uj``: package N in µJ, wrapping at
  ``max_energy_range_uj``; root-only on most distributions (2020 PLATYPUS attack), rarely
  exposed in virtual machines.
* **GPU: NVIDIA NVML** (``nvmlDeviceGetTotalEnergyConsumption``, Volta and newer, ``pynvml``
  from ``nvidia-ml-py``): one board in mJ, refreshed every 20-100 ms: measure seconds of work.

A meter reads only the counter of the device that did the work (an idle GPU's tens of watts
must not pass for a CPU inference's energy). Without a readable counter the result is an
**estimate**, ``assumed_watts x seconds``, labelled as one (``measured`` False). A counter
sees its whole package or board (RAPL: no DRAM on most CPUs); wall-plug energy is higher.

Usage (8.75 W is used only if RAPL is unreadable)::

    with EnergyMeter("cpu", assumed_watts=8.75) as meter: predict(x)
    print(meter.result, meter.result.per(len(x)))  # joules per image
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .costs import estimate_energy_joules
from .timing import parse_device
from .validators import positive_int

#: Where Linux exposes RAPL counters (the "intel-rapl" powercap type, on AMD too).
POWERCAP_ROOT = Path("/sys/class/powercap")

_TOP_ZONE = re.compile(r"^intel-rapl:\d+$")  # packages (and psys); not sub-zones intel-rapl:0:1


@dataclass(frozen=True)
class RaplZone:
    """One RAPL counter of the powercap tree."""

    path: Path  # its directory, e.g. /sys/class/powercap/intel-rapl:0
    name: str  # e.g. 'package-0'
    max_energy_range_uj: int  # the counter wraps to 0 here

    def read_uj(self) -> int:
        """The counter now, in microjoules (cumulative, wraps at the range)."""
        return int((self.path / "energy_uj").read_text().strip())


def rapl_zones(root: str | Path = POWERCAP_ROOT) -> list[RaplZone]:
    """The readable CPU package counters under ``root`` (empty when there are none).

    Only top-level 'package-N' zones: sub-zones (core, dram), 'psys' (which contains the
    packages) and the duplicate ``intel-rapl-mmio`` tree would count energy twice.
    """
    zones: list[RaplZone] = []
    for path in sorted(Path(root).iterdir()) if Path(root).is_dir() else []:
        if not _TOP_ZONE.match(path.name):
            continue
        try:
            name = (path / "name").read_text().strip()
            max_range = int((path / "max_energy_range_uj").read_text().strip())
            int((path / "energy_uj").read_text().strip())  # readable? (root-only on most distros)
        except (OSError, ValueError):
            continue
        if name.startswith("package"):
            zones.append(RaplZone(path, name, max_range))
    return zones


def rapl_delta_uj(start_uj: int, end_uj: int, max_energy_range_uj: int) -> int:
    """µJ between two readings of one RAPL counter: ``end - start``, + the range if it wrapped
    (end < start; at 200 W a typical 262 kJ range lasts over 20 minutes, so once at most)."""
    return end_uj - start_uj + (max_energy_range_uj if end_uj < start_uj else 0)


def _import_pynvml() -> Any | None:
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return None
    return pynvml


def _nvml_name(index: int) -> str | None:
    """'gpuN <name>' when GPU ``index`` reports its NVML energy counter, else None."""
    nvml = _import_pynvml()
    if nvml is None:
        return None
    try:
        nvml.nvmlInit()
    except Exception:  # no driver / no GPU: NVML raises its own NVMLError subclasses
        return None
    try:
        if index >= nvml.nvmlDeviceGetCount():
            return None
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # NotSupported before Volta
        name = nvml.nvmlDeviceGetName(handle)
        return f"gpu{index} {name.decode() if isinstance(name, bytes) else name}"
    except Exception:
        return None
    finally:
        nvml.nvmlShutdown()


@dataclass(frozen=True)
class EnergyMeasurement:
    """Energy of one region on ``device`` ('cpu', 'gpu:N'); ``source``: the counters or the estimate."""

    joules: float
    seconds: float
    measured: bool
    source: str
    device: str = "cpu"

    @property
    def average_watts(self) -> float:
        """Average power over the region (W) = joules / seconds (0 for an empty region)."""
        return self.joules / self.seconds if self.seconds > 0 else 0.0

    def per(self, count: int) -> float:
        """Joules per item when the region processed ``count`` items (e.g. images)."""
        return self.joules / positive_int("count", count)

    def __str__(self) -> str:
        how = "measured by" if self.measured else "estimated:"
        return (
            f"{self.joules:.4g} J in {self.seconds:.3g} s ({self.average_watts:.3g} W average) "
            f"on the {self.device.upper()}, {how} {self.source}"
        )


class EnergyMeter:
    """Context manager: the energy of the code inside it on ``device`` (seed 000, metric 4).

    ``device``: 'cpu' (RAPL packages) or 'gpu', 'gpu:N', '/GPU:N' (that GPU's NVML counter,
    NVML's numbering). ``assumed_watts``: power (W) for the estimate where the device has no
    readable counter (or ``use_counters=False``), e.g. ``costs.tdp_share_watts``; without it
    a ValueError says so before any work is done. ``powercap_root``: the powercap directory
    (tests pass a fake one). ``sync``: called before each reading (e.g. to wait for a GPU).
    After the block, ``meter.result`` is an :class:`EnergyMeasurement`; other work running
    at the same time on the package or board is included.
    """

    def __init__(self, device: str = "cpu", *, assumed_watts: float | None = None,
                 use_counters: bool = True, powercap_root: str | Path = POWERCAP_ROOT,
                 sync: Callable[[], Any] | None = None) -> None:  # fmt: skip
        kind, self.index = parse_device(device)
        self.device = "cpu" if kind == "cpu" else f"gpu:{self.index}"
        if assumed_watts is not None:
            estimate_energy_joules(0.0, assumed_watts)  # validates the number
        self.assumed_watts, self.sync = assumed_watts, sync
        self._zones = rapl_zones(powercap_root) if use_counters and kind == "cpu" else []
        self._gpu = _nvml_name(self.index) if use_counters and kind == "gpu" else None
        counter = "RAPL package counter" if kind == "cpu" else f"NVML counter of GPU {self.index}"
        self._why_estimate = "counters off" if not use_counters else f"no readable {counter}"
        if not self.will_measure and assumed_watts is None:
            raise ValueError(
                f"{self._why_estimate} for the {self.device.upper()} (RAPL is root-only on most "
                "Linux systems, absent in most VMs and on macOS; NVML needs a Volta or newer "
                "NVIDIA GPU and `pip install nvidia-ml-py`): pass assumed_watts=<power in W> "
                "(e.g. costs.tdp_share_watts(...)); the result is then labelled an estimate."
            )
        self._nvml: Any = None
        self._start: dict[str, int] = {}
        self._t0 = 0.0
        self.result: EnergyMeasurement | None = None

    @property
    def will_measure(self) -> bool:
        """True when a counter of the device will be read, False when the result is an estimate."""
        return bool(self._zones) or self._gpu is not None

    def _read(self) -> dict[str, int]:
        """Counter readings: µJ per RAPL package, or mJ of the GPU."""
        if self._nvml is None:
            return {f"RAPL {z.name}": z.read_uj() for z in self._zones}
        handle = self._nvml.nvmlDeviceGetHandleByIndex(self.index)
        return {f"NVML {self._gpu}": int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(handle))}

    def __enter__(self) -> EnergyMeter:
        self.result = None
        if self.sync is not None:
            self.sync()
        if self._gpu is not None:
            self._nvml = _import_pynvml()
            self._nvml.nvmlInit()
        self._start = self._read()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.sync is not None and exc_type is None:
            self.sync()
        seconds = time.perf_counter() - self._t0
        end = self._read()
        if self._nvml is not None:
            self._nvml.nvmlShutdown()
            self._nvml = None
            joules = (sum(end.values()) - sum(self._start.values())) * 1e-3
        else:
            joules = 1e-6 * sum(
                rapl_delta_uj(self._start[z], end[z], zone.max_energy_range_uj)
                for z, zone in zip(end, self._zones, strict=True)
            )
        source = " + ".join(end)
        if not self.will_measure:
            watts = float(self.assumed_watts)  # __init__ guarantees it is set
            joules = estimate_energy_joules(seconds, watts)
            source = f"{watts:.3g} W assumed x time ({self._why_estimate})"
        self.result = EnergyMeasurement(joules, seconds, self.will_measure, source, self.device)
