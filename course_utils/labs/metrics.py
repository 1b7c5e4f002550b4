"""Notebook 01's machinery: the platforms and table of seed 000's case study (Part I.c, "Edge Devices
vs Datacenter vs Supercomputers"; the notebook writes its three formulas), and the camera's batch size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..units import JOULES_PER_KWH, SECONDS_PER_YEAR, format_duration, format_energy, format_usd, si
from ..validators import fraction, positive_int, positive_number

#: Assumptions used when none is given (edit them): fraction of peak, USD per kWh, years.
DEFAULT_UTILIZATION, DEFAULT_USD_PER_KWH, DEFAULT_LIFETIME_YEARS = 0.3, 0.15, 3.0
#: Precisions tried in order: training in floating point, inference quantised (notebook 06).
TRAINING_PRECISIONS = ("bf16", "fp16", "fp32", "tf32", "fp64")
INFERENCE_PRECISIONS = ("int8", "fp16", "bf16", "fp32", "fp64")


@dataclass(frozen=True)
class Workload:
    """A job: ``flop`` operations in all (2 per MAC, :func:`course_utils.costs.training_flops` for
    training) over ``samples``, e.g. images."""

    name: str
    flop: float
    samples: int

    def __post_init__(self) -> None:
        positive_number("flop", self.flop)
        positive_int("samples", self.samples)


def preferred_precision(device: Any, training: bool = False) -> str:
    """The first of :data:`TRAINING_PRECISIONS` (or :data:`INFERENCE_PRECISIONS`) ``device`` has."""
    order = TRAINING_PRECISIONS if training else INFERENCE_PRECISIONS
    for precision in order:
        if precision in device.peak_flops:
            return precision
    raise ValueError(f"{device.name} has no peak in {order}; known: {sorted(device.peak_flops)}")


@dataclass(frozen=True)
class Platform:
    """Hardware running a workload, with every assumption the estimate depends on.

    ``peak_flop_per_s``, ``watts`` and ``price_usd`` (None: not public) are per unit; ``units``
    scale perfectly (fold losses into ``utilization``); ``power_basis``: what ``watts`` is.
    """

    name: str
    peak_flop_per_s: float
    watts: float
    utilization: float = DEFAULT_UTILIZATION
    units: int = 1
    price_usd: float | None = None
    lifetime_years: float = DEFAULT_LIFETIME_YEARS
    precision: str = "fp32"
    kind: str = ""
    power_basis: str = "TDP"

    def __post_init__(self) -> None:
        positive_number("peak_flop_per_s", self.peak_flop_per_s)
        positive_number("watts", self.watts)
        fraction("utilization", self.utilization, allow_zero=False)
        positive_int("units", self.units)
        positive_number("lifetime_years", self.lifetime_years)

    @classmethod
    def from_device(cls, device: Any, precision: str, **assumptions: Any) -> Platform:
        """A platform from a ``hardware.Device``: its peak at ``precision``, power, price."""
        defaults = {"name": device.name, "watts": device.tdp_watts, "price_usd": device.price_usd}
        return cls(peak_flop_per_s=device.peak(precision), precision=precision, kind=device.kind,
                   power_basis=device.power_basis, **(defaults | assumptions))


@dataclass(frozen=True)
class CaseEstimate:
    """Time (s), energy (J), money (USD); ``hardware_usd`` None when no price is public."""

    workload: Workload
    platform: Platform
    seconds: float
    joules: float
    energy_usd: float
    hardware_usd: float | None

    @property
    def total_usd(self) -> float:
        return self.energy_usd + (self.hardware_usd or 0.0)

    @property
    def joules_per_sample(self) -> float:
        return self.joules / self.workload.samples


def estimate(workload: Workload, platform: Platform, usd_per_kwh: float = DEFAULT_USD_PER_KWH) -> CaseEstimate:
    """Time, energy and money of ``workload`` on ``platform`` (the three formulas above)."""
    p = platform
    seconds = workload.flop / (p.peak_flop_per_s * p.utilization * p.units)
    joules = p.watts * p.units * seconds
    life_s = p.lifetime_years * SECONDS_PER_YEAR
    hardware_usd = None if p.price_usd is None else p.price_usd * p.units * seconds / life_s
    energy_usd = joules / JOULES_PER_KWH * usd_per_kwh
    return CaseEstimate(workload, p, seconds, joules, energy_usd, hardware_usd)


def case_table(estimates: Iterable[CaseEstimate]) -> str:
    """A row per estimate; ``*``: the money is electricity only (no public price), ``~``: the
    energy comes from an estimated power (``power_basis='estimate'``)."""
    rows = [(e.workload.name, f"{e.platform.name} {e.platform.precision}", e) for e in estimates]
    w0, w1 = (max(len(r[i]) for r in rows) for i in (0, 1))
    lines = [f"{'workload':<{w0}}  {'platform':<{w1}}  util{'time':>12}{'energy':>13}{'per sample':>12}{'money':>12}"]
    for work, platform, e in rows:
        energy = ("~" if e.platform.power_basis == "estimate" else "") + format_energy(e.joules)
        money = format_usd(e.total_usd) + ("" if e.hardware_usd is not None else "*")
        lines.append(f"{work:<{w0}}  {platform:<{w1}}  {e.platform.utilization:>4.0%} {format_duration(e.seconds):>11}"
                     f" {energy:>12} {si(e.joules_per_sample, 'J'):>11} {money:>11}")
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def batch_for_camera(points: Sequence[tuple[int, float, float]], frame_rate: float, bound_seconds: float) -> int:
    """Seed 004's batch trade-off for a camera delivering ``frame_rate`` frames/s: among
    ``(batch_size, median_seconds, p99_seconds)`` points, the batch sizes that keep up
    (``B / median >= frame_rate``), the one whose first frame waits least in the worst case,
    ``(B - 1) / frame_rate + p99``; 0 when none keeps up or that wait exceeds ``bound_seconds``."""
    frame_rate = positive_number("frame_rate", frame_rate)
    bound_seconds = positive_number("bound_seconds", bound_seconds)
    wait = {b: (b - 1) / frame_rate + p99 for b, median, p99 in points if b / median >= frame_rate}
    best = min(wait, key=wait.get, default=0)
    return best if best and wait[best] <= bound_seconds else 0
