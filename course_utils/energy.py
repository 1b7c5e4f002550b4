"""Energy per inference: measured where the machine has a counter, estimated otherwise.

Seed 000, 'Performance metrics', 4. Energy / Power Efficiency: "Total energy consumed to
perform computation (Joules per operation or per sample)". Energy is power integrated over
time, ``E [J] = P [W] x t [s]``; hardware that exposes a cumulative energy counter lets us
read ``E`` directly as the difference of two readings around the work:

* **Linux RAPL** (Running Average Power Limit, Intel since Sandy Bridge, AMD since Zen) via the
  powercap sysfs tree: ``/sys/class/powercap/intel-rapl:N/energy_uj`` is the energy of CPU
  package ``N`` in microjoules since boot. The counter wraps around at ``max_energy_range_uj``.
  Since the 2020 "PLATYPUS" side-channel attack the file is readable by root only on most
  distributions, and virtual machines usually do not expose it at all.
* **NVIDIA NVML** (``nvmlDeviceGetTotalEnergyConsumption``, Volta and newer): the GPU board's
  energy in millijoules since the driver loaded; used through ``pynvml`` (package
  ``nvidia-ml-py``) when it is importable. NVML refreshes it every 20-100 ms, so measure
  runs that last seconds, not milliseconds.

Where neither counter can be read, :class:`EnergyMeter` falls back to an **estimate**,
``assumed_watts x elapsed seconds`` (e.g. the chip's TDP, or its share of it), and says so:
every :class:`EnergyMeasurement` carries ``measured`` (True/False) and ``source``.

What a counter does not see: RAPL's package domain excludes DRAM (on most CPUs), the power
supply, fans and disks, and it includes everything else running on the package at the same
time; NVML sees the GPU board only. Wall-plug energy is higher than either.

Usage::

    with EnergyMeter(assumed_watts=65.0) as meter:   # 65 W used only if no counter is readable
        for _ in range(100):
            predict(x)
    print(meter.result)                 # "3.1 J in 0.48 s (6.5 W average), estimated: ..."
    joules_per_inference = meter.result.joules / 100
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .costs import estimate_energy_joules, tdp_share_watts  # noqa: F401  (E = P x t lives in costs)

#: Where Linux exposes RAPL counters (the powercap "intel-rapl" control type, also used on AMD).
POWERCAP_ROOT = Path("/sys/class/powercap")

_TOP_ZONE = re.compile(r"^intel-rapl:\d+$")  # packages (and psys); not sub-zones intel-rapl:0:1
SOURCES = ("auto", "rapl", "nvml", "estimate")


# ----------------------------------------------------------------------------------------- RAPL


@dataclass(frozen=True)
class RaplZone:
    """One RAPL counter of the powercap tree: its directory, name (e.g. 'package-0') and range."""

    path: Path
    name: str
    max_energy_range_uj: int

    def read_uj(self) -> int:
        """The counter now, in microjoules (cumulative since boot, wraps at the range)."""
        return int((self.path / "energy_uj").read_text().strip())


def rapl_zones(root: str | Path = POWERCAP_ROOT, prefix: str = "package") -> list[RaplZone]:
    """The readable top-level RAPL zones under ``root`` whose name starts with ``prefix``.

    Only top-level zones (``intel-rapl:N``) are used so that sub-zones (core, uncore, dram
    inside a package) are not counted twice; ``prefix='package'`` also skips 'psys' (the
    platform zone, which already contains the packages) and the duplicate
    ``intel-rapl-mmio`` tree. Zones whose ``energy_uj`` cannot be read (root-only files) are
    left out. Returns an empty list when there is no powercap tree.
    """
    root = Path(root)
    zones: list[RaplZone] = []
    if not root.is_dir():
        return zones
    for path in sorted(root.iterdir()):
        if not _TOP_ZONE.match(path.name):
            continue
        try:
            name = (path / "name").read_text().strip()
            max_range = int((path / "max_energy_range_uj").read_text().strip())
            int((path / "energy_uj").read_text().strip())  # readable? (root-only on most distros)
        except (OSError, ValueError):
            continue
        if name.startswith(prefix):
            zones.append(RaplZone(path=path, name=name, max_energy_range_uj=max_range))
    return zones


def rapl_available(root: str | Path = POWERCAP_ROOT) -> bool:
    """True when at least one RAPL package counter under ``root`` exists and is readable."""
    return bool(rapl_zones(root))


def rapl_delta_uj(start_uj: int, end_uj: int, max_energy_range_uj: int) -> int:
    """Energy between two readings of one RAPL counter (µJ), allowing for one wrap-around.

    The counter counts up to ``max_energy_range_uj`` and restarts at 0, so a smaller end value
    means it wrapped once: ``delta = end - start + max_energy_range_uj``. Two or more wraps
    cannot be detected; at 200 W a typical range (2^32 units, about 262 kJ) lasts over 20 minutes.
    """
    if end_uj >= start_uj:
        return end_uj - start_uj
    return end_uj - start_uj + max_energy_range_uj


# ----------------------------------------------------------------------------------------- NVML


def _import_pynvml() -> Any | None:
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return None
    return pynvml


def nvml_available() -> bool:
    """True when ``pynvml`` imports, NVML initialises and GPU 0 reports its energy counter."""
    nvml = _import_pynvml()
    if nvml is None:
        return False
    try:
        nvml.nvmlInit()
    except Exception:  # no driver / no GPU: NVML raises its own NVMLError subclasses
        return False
    try:
        if nvml.nvmlDeviceGetCount() < 1:
            return False
        nvml.nvmlDeviceGetTotalEnergyConsumption(nvml.nvmlDeviceGetHandleByIndex(0))
        return True
    except Exception:  # e.g. NVMLError_NotSupported on pre-Volta GPUs
        return False
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass


class _NvmlCounters:
    """Energy counters (mJ) of a set of GPUs through pynvml; open between start() and close()."""

    def __init__(self, indices: list[int] | None) -> None:
        self.nvml = _import_pynvml()
        if self.nvml is None:
            raise RuntimeError("pynvml is not installed (pip install nvidia-ml-py)")
        self.indices = indices
        self.handles: list[tuple[str, Any]] = []

    def start(self) -> dict[str, int]:
        nvml = self.nvml
        nvml.nvmlInit()
        indices = self.indices
        if indices is None:
            indices = list(range(nvml.nvmlDeviceGetCount()))
        for i in indices:
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            name = nvml.nvmlDeviceGetName(handle)
            if isinstance(name, bytes):
                name = name.decode()
            self.handles.append((f"gpu{i} {name}", handle))
        return self.read()

    def read(self) -> dict[str, int]:
        return {
            name: int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for name, h in self.handles
        }

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:
            pass


# ------------------------------------------------------------------------------------ the meter


@dataclass(frozen=True)
class EnergyMeasurement:
    """Energy of one measured region: joules, seconds, and whether it was measured or estimated.

    ``source`` says where the number comes from, e.g. ``'RAPL package-0'``,
    ``'NVML gpu0 NVIDIA H100'`` or ``'estimate: 8.8 W assumed x time'``; ``parts_joules`` splits
    a measurement by counter.
    """

    joules: float
    seconds: float
    measured: bool
    source: str
    parts_joules: dict[str, float] = field(default_factory=dict)

    @property
    def average_watts(self) -> float:
        """Average power over the region (W) = joules / seconds (0 for an empty region)."""
        return self.joules / self.seconds if self.seconds > 0 else 0.0

    def per(self, count: int) -> float:
        """Joules per item when the region processed ``count`` items (e.g. images)."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be an integer >= 1, got {count!r}")
        return self.joules / count

    def __str__(self) -> str:
        how = "measured by " if self.measured else ""
        return (
            f"{self.joules:.4g} J in {self.seconds:.3g} s ({self.average_watts:.3g} W average), "
            f"{how}{self.source}"
        )


class EnergyMeter:
    """Context manager measuring the energy of the code inside it (seed 000, metric 4).

    Args:
        source: ``'auto'`` (every readable counter: RAPL packages and NVML GPUs, summed;
            the estimate when there is none), ``'rapl'``, ``'nvml'`` (that counter or a
            RuntimeError saying why not), or ``'estimate'`` (always ``assumed_watts x time``).
        assumed_watts: the power (W) the estimate uses, e.g. a TDP or
            :func:`tdp_share_watts`. Needed for ``'estimate'``, and for ``'auto'`` on a
            machine without counters (ValueError otherwise, saying so).
        powercap_root: the powercap directory (tests pass a fake one).
        gpu_indices: NVML GPU indices to read (default all).
        sync: called before each reading (e.g. to wait for queued GPU work).

    After the ``with`` block, ``meter.result`` is an :class:`EnergyMeasurement`.
    Counters measure the whole chip, so other work running at the same time is included.
    """

    def __init__(
        self,
        source: str = "auto",
        *,
        assumed_watts: float | None = None,
        powercap_root: str | Path = POWERCAP_ROOT,
        gpu_indices: list[int] | None = None,
        sync: Callable[[], Any] | None = None,
    ) -> None:
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        if assumed_watts is not None:
            estimate_energy_joules(0.0, assumed_watts)  # validates the number
        self.source = source
        self.assumed_watts = assumed_watts
        self.powercap_root = Path(powercap_root)
        self.gpu_indices = gpu_indices
        self.sync = sync
        self._zones: list[RaplZone] = []
        self._nvml: _NvmlCounters | None = None
        self._plan()
        self._start_uj: dict[str, int] = {}
        self._start_mj: dict[str, int] = {}
        self._t0 = 0.0
        self.result: EnergyMeasurement | None = None

    def _plan(self) -> None:
        """Decide which counters to read; raise now, before the work, if none fits."""
        want_rapl = self.source in ("auto", "rapl")
        want_nvml = self.source in ("auto", "nvml")
        if want_rapl:
            self._zones = rapl_zones(self.powercap_root)
            if self.source == "rapl" and not self._zones:
                raise RuntimeError(
                    f"no readable RAPL package counter under {self.powercap_root}: the machine "
                    "has none (e.g. a VM or macOS), or energy_uj is root-only (Linux since 2020). "
                    "Use source='estimate' with assumed_watts=..., or run as a user allowed to "
                    "read the counters."
                )
        if want_nvml:
            if nvml_available():
                self._nvml = _NvmlCounters(self.gpu_indices)
            elif self.source == "nvml":
                raise RuntimeError(
                    "NVML energy counter unavailable: needs an NVIDIA GPU of the Volta "
                    "generation or newer, its driver, and `pip install nvidia-ml-py`. "
                    "Use source='estimate' with assumed_watts=... instead."
                )
        if not self._zones and self._nvml is None and self.assumed_watts is None:
            why = (
                "source='estimate' computes assumed_watts x time"
                if self.source == "estimate"
                else "no energy counter is readable on this machine, so the energy can only "
                "be estimated"
            )
            raise ValueError(
                f"{why}: pass assumed_watts=<power in W> (e.g. the chip's TDP or "
                "tdp_share_watts(...)); the result is then labelled as an estimate."
            )

    @property
    def will_measure(self) -> bool:
        """True when a hardware counter will be read, False when the result will be an estimate."""
        return bool(self._zones) or self._nvml is not None

    def __enter__(self) -> EnergyMeter:
        self.result = None
        if self.sync is not None:
            self.sync()
        self._start_uj = {z.name: z.read_uj() for z in self._zones}
        self._start_mj = self._nvml.start() if self._nvml is not None else {}
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.sync is not None and exc_type is None:
            self.sync()
        seconds = time.perf_counter() - self._t0
        parts: dict[str, float] = {}
        for zone in self._zones:
            delta = rapl_delta_uj(
                self._start_uj[zone.name], zone.read_uj(), zone.max_energy_range_uj
            )
            parts[f"RAPL {zone.name}"] = delta * 1e-6
        if self._nvml is not None:
            end_mj = self._nvml.read()
            self._nvml.close()
            for name, start in self._start_mj.items():
                parts[f"NVML {name}"] = (end_mj[name] - start) * 1e-3
        if parts:
            self.result = EnergyMeasurement(
                joules=sum(parts.values()),
                seconds=seconds,
                measured=True,
                source=" + ".join(parts),
                parts_joules=parts,
            )
        else:
            watts = float(self.assumed_watts)  # _plan guarantees it is set
            self.result = EnergyMeasurement(
                joules=estimate_energy_joules(seconds, watts),
                seconds=seconds,
                measured=False,
                source=f"estimate: {watts:.3g} W assumed x time (no energy counter readable)",
            )
