"""Time, energy and money of a deep-learning workload on a platform: a back-of-envelope calculator.

Seed 000, Part I.c "Case Study: Edge Devices vs Datacenter vs Supercomputers", with the
numbers of seed 004 ('Example: ResNet50', 'Training overall'). Three formulas, each with an
assumption you can change:

* **time**   ``t = FLOP / (peak x utilization x units)`` [s]. Peak is the datasheet rate at the
  precision used; *utilization* is the fraction of it a real network reaches (an assumption:
  seed 004's "11 days @ 100 %" for a P40 is really about 20 %, see the notebook).
* **energy** ``E = watts x units x t`` [J], with ``watts`` the TDP by default (chips at partial
  utilization draw less than TDP, but far more than idle; a measured power is better).
* **money**  ``$ = E [kWh] x electricity price + hardware``: the hardware is either the purchase
  price amortised over its lifetime (``price x units x t / lifetime``, i.e. as if the machine
  were busy all its life, the cheapest case) or a cloud price per unit-hour (which already
  includes electricity, so no energy cost is added on top).

Usage::

    resnet = training_workload(7.7e9, samples=1_200_000, epochs=100)
    p40 = Platform.from_device(hardware.get("P40"), "fp32", utilization=0.3)
    print(estimate(resnet, p40))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import costs
from ..units import (
    JOULES_PER_KWH,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    SECONDS_PER_YEAR,
    format_duration,
    format_energy,
    format_usd,
    si,
)
from ..validators import fraction, non_negative_number, positive_number

#: Fraction of peak assumed when none is given. An assumption, not a measurement: big CNNs
#: trained in mixed precision on datacenter GPUs reach a few tens of percent of peak.
DEFAULT_UTILIZATION = 0.3
#: Electricity price assumed when none is given (USD per kWh): an assumption to edit.
DEFAULT_USD_PER_KWH = 0.15
#: Years over which a purchase price is spread (a common depreciation period for servers).
DEFAULT_LIFETIME_YEARS = 3.0


# ------------------------------------------------------------------------------------ workloads


@dataclass(frozen=True)
class Workload:
    """A job measured in operations: ``flop`` in total over ``samples`` processed samples.

    ``flop`` counts operations (2 per MAC) at whatever precision the platform runs; for int8
    hardware these are integer ops, compared with the platform's int8 peak.
    """

    name: str
    flop: float
    samples: int
    description: str = ""

    def __post_init__(self) -> None:
        positive_number("flop", self.flop)
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise ValueError(f"samples must be an integer >= 1, got {self.samples!r}")

    @property
    def flop_per_sample(self) -> float:
        """Operations per processed sample (FLOP)."""
        return self.flop / self.samples


def inference_workload(flop_per_sample: float, samples: int, name: str = "") -> Workload:
    """Classify ``samples`` inputs with a model of ``flop_per_sample`` operations per forward pass.

    E.g. seed 000's case study, 1 M images with ResNet-50 (7.7 G operations each, seed 004).
    """
    flop_per_sample = positive_number("flop_per_sample", flop_per_sample)
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be an integer >= 1, got {samples!r}")
    return Workload(
        name=name or f"inference x {samples:,}",
        flop=flop_per_sample * samples,
        samples=samples,
        description=f"{samples:,} forward passes of {si(flop_per_sample, 'FLOP')}",
    )


def training_workload(
    inference_flop_per_sample: float, samples: int, epochs: int, name: str = ""
) -> Workload:
    """Train for ``epochs`` over ``samples`` inputs: 3 x samples x epochs x inference FLOP.

    Seed 004, 'Training overall', via :func:`course_utils.costs.training_flops`; the 3 is
    one forward and a backward pass that costs two forward ones.
    """
    flop = costs.training_flops(inference_flop_per_sample, samples, epochs)
    return Workload(
        name=name or f"training {epochs} epochs x {samples:,}",
        flop=flop,
        samples=samples * epochs,
        description=(
            f"{epochs} epochs x {samples:,} samples x 3 x {si(inference_flop_per_sample, 'FLOP')}"
        ),
    )


# ------------------------------------------------------------------------------------ platforms

#: Precisions tried in order when none is given: training needs floating point (16-bit formats
#: with fp32 accumulation are today's norm); inference is usually deployed quantised to int8.
TRAINING_PRECISIONS = ("bf16", "fp16", "fp32", "tf32", "fp64")
INFERENCE_PRECISIONS = ("int8", "fp16", "bf16", "fp32", "fp64")


def preferred_precision(device: Any, training: bool = False) -> str:
    """The precision a workload would typically use on ``device`` (a catalogue ``Device``).

    Training: the first of bf16, fp16, fp32, tf32, fp64 that the device has a peak for;
    inference: int8 first (a quantised model, see notebook 06), then the float formats.
    An assumption with a large effect: an H100 is 30 x faster in bf16 than in fp32.
    """
    order = TRAINING_PRECISIONS if training else INFERENCE_PRECISIONS
    for precision in order:
        if precision in device.peak_flops:
            return precision
    what = "training" if training else "inference"
    raise ValueError(
        f"{device.name} has no peak in any {what} precision {order}; "
        f"known: {sorted(device.peak_flops)}"
    )


@dataclass(frozen=True)
class Platform:
    """Hardware running a workload, with every assumption that the estimate depends on.

    Attributes:
        name: label in tables.
        peak_flop_per_s: peak rate of ONE unit at ``precision`` (FLOP/s, ops/s for int8).
        watts: power of one unit while busy (W); the TDP unless you measured it.
        units: how many chips / boards / machines work together (perfect scaling assumed;
            fold scaling losses into ``utilization``).
        utilization: fraction of peak reached on this workload, in (0, 1].
        price_usd: purchase price of one unit (USD), None if unknown.
        lifetime_years: years over which ``price_usd`` is amortised.
        cloud_usd_per_hour: rental price per unit-hour (USD); when set, it replaces the
            amortised hardware AND the electricity (a cloud price includes the power bill).
        precision: the precision the peak refers to ('fp32', 'fp16', 'int8', ...).
        kind: 'edge', 'gpu', 'supercomputer', ... (for colours and grouping).
        note: where the numbers come from.
    """

    name: str
    peak_flop_per_s: float
    watts: float
    units: int = 1
    utilization: float = DEFAULT_UTILIZATION
    price_usd: float | None = None
    lifetime_years: float = DEFAULT_LIFETIME_YEARS
    cloud_usd_per_hour: float | None = None
    precision: str = "fp32"
    kind: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        positive_number("peak_flop_per_s", self.peak_flop_per_s)
        positive_number("watts", self.watts)
        if isinstance(self.units, bool) or not isinstance(self.units, int) or self.units < 1:
            raise ValueError(f"units must be an integer >= 1, got {self.units!r}")
        fraction("utilization", self.utilization, allow_zero=False)
        if self.price_usd is not None:
            non_negative_number("price_usd", self.price_usd)
        positive_number("lifetime_years", self.lifetime_years)
        if self.cloud_usd_per_hour is not None:
            non_negative_number("cloud_usd_per_hour", self.cloud_usd_per_hour)

    @classmethod
    def from_device(
        cls,
        device: Any,
        precision: str = "fp32",
        *,
        units: int = 1,
        utilization: float = DEFAULT_UTILIZATION,
        watts: float | None = None,
        price_usd: float | None = None,
        lifetime_years: float = DEFAULT_LIFETIME_YEARS,
        cloud_usd_per_hour: float | None = None,
        name: str | None = None,
    ) -> Platform:
        """A platform from a :class:`course_utils.hardware.Device` catalogue entry.

        Peak at ``precision`` (``device.peak`` raises, listing the known precisions, when the
        datasheet gives none), TDP and launch price from the catalogue unless overridden.
        """
        if watts is None:
            watts = device.tdp_watts
            if watts is None:
                raise ValueError(f"{device.name} has no TDP in the catalogue: pass watts=...")
        return cls(
            name=name or device.name,
            peak_flop_per_s=float(device.peak(precision)),
            watts=float(watts),
            units=units,
            utilization=utilization,
            price_usd=price_usd if price_usd is not None else device.price_usd,
            lifetime_years=lifetime_years,
            cloud_usd_per_hour=cloud_usd_per_hour,
            precision=precision,
            kind=getattr(device, "kind", ""),
            note=getattr(device, "source", ""),
        )

    def replace(self, **changes: Any) -> Platform:
        """A copy with some fields changed, e.g. ``p.replace(utilization=0.5)``."""
        return dataclasses.replace(self, **changes)

    @property
    def sustained_flop_per_s(self) -> float:
        """What the whole platform delivers: peak x utilization x units (FLOP/s)."""
        return self.peak_flop_per_s * self.utilization * self.units

    @property
    def power_watts(self) -> float:
        """Power of the whole platform while busy: watts x units (W)."""
        return self.watts * self.units


# ------------------------------------------------------------------------------------ estimates


@dataclass(frozen=True)
class CaseEstimate:
    """Time (s), energy (J) and money (USD) of one workload on one platform.

    ``hardware_usd`` is the amortised purchase price or the cloud rental (None when the price
    is unknown, then ``total_usd`` is the electricity alone and ``money_complete`` is False).
    """

    workload: Workload
    platform: Platform
    seconds: float
    joules: float
    energy_usd: float
    hardware_usd: float | None
    usd_per_kwh: float

    @property
    def days(self) -> float:
        """Duration in days."""
        return self.seconds / SECONDS_PER_DAY

    @property
    def kwh(self) -> float:
        """Energy in kilowatt-hours (1 kWh = 3.6 MJ)."""
        return self.joules / JOULES_PER_KWH

    @property
    def total_usd(self) -> float:
        """Electricity plus hardware (amortised or rented); electricity only if no price is known."""
        return self.energy_usd + (self.hardware_usd or 0.0)

    @property
    def money_complete(self) -> bool:
        """False when the hardware price is unknown and ``total_usd`` is only the power bill."""
        return self.hardware_usd is not None

    @property
    def joules_per_sample(self) -> float:
        """Energy per processed sample (J)."""
        return self.joules / self.workload.samples

    @property
    def samples_per_s(self) -> float:
        """Throughput the estimate implies (samples/s)."""
        return self.workload.samples / self.seconds

    def as_row(self) -> dict[str, Any]:
        """The estimate as a flat dict (for tables, plots and results cards)."""
        return {
            "workload": self.workload.name,
            "platform": self.platform.name,
            "precision": self.platform.precision,
            "units": self.platform.units,
            "utilization": self.platform.utilization,
            "seconds": self.seconds,
            "joules": self.joules,
            "kwh": self.kwh,
            "energy_usd": self.energy_usd,
            "hardware_usd": self.hardware_usd,
            "total_usd": self.total_usd,
            "joules_per_sample": self.joules_per_sample,
        }

    def __str__(self) -> str:
        p = self.platform
        units = f"{p.units:,} x " if p.units > 1 else ""
        if p.cloud_usd_per_hour is not None:
            money = f"{format_usd(self.total_usd)} cloud rental at ${p.cloud_usd_per_hour}/unit-h"
        elif self.hardware_usd is None:
            money = f"{format_usd(self.energy_usd)} electricity (hardware price unknown)"
        else:
            money = (
                f"{format_usd(self.total_usd)} = {format_usd(self.energy_usd)} electricity"
                f" + {format_usd(self.hardware_usd)} hardware ({p.lifetime_years:g}-year amortisation)"
            )
        return (
            f"{self.workload.name} on {units}{p.name} ({p.precision}, {p.utilization:.0%} of "
            f"{si(p.peak_flop_per_s, 'FLOP/s')} peak):\n"
            f"  time   {format_duration(self.seconds)}\n"
            f"  energy {format_energy(self.joules)} ({si(self.joules, 'J')}) at {si(p.power_watts, 'W')}"
            f" ({si(self.joules_per_sample, 'J')} per sample)\n"
            f"  money  {money}"
        )


def estimate(
    workload: Workload, platform: Platform, usd_per_kwh: float = DEFAULT_USD_PER_KWH
) -> CaseEstimate:
    """Time, energy and money of ``workload`` on ``platform`` (seed 000 Part I.c case study).

    time = FLOP / (peak x utilization x units); energy = watts x units x time;
    money = kWh x ``usd_per_kwh`` + price x units x time / lifetime, or cloud price x
    units x hours (electricity included) when the platform has a cloud price.
    """
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a Workload, got {type(workload).__name__}")
    if not isinstance(platform, Platform):
        raise TypeError(f"platform must be a Platform, got {type(platform).__name__}")
    usd_per_kwh = non_negative_number("usd_per_kwh", usd_per_kwh)
    seconds = workload.flop / platform.sustained_flop_per_s
    joules = platform.power_watts * seconds
    if platform.cloud_usd_per_hour is not None:
        energy_usd = 0.0
        hardware_usd: float | None = (
            platform.cloud_usd_per_hour * platform.units * seconds / SECONDS_PER_HOUR
        )
    else:
        energy_usd = joules / JOULES_PER_KWH * usd_per_kwh
        hardware_usd = None
        if platform.price_usd is not None:
            life_s = platform.lifetime_years * SECONDS_PER_YEAR
            hardware_usd = platform.price_usd * platform.units * seconds / life_s
    return CaseEstimate(workload, platform, seconds, joules, energy_usd, hardware_usd, usd_per_kwh)


def compare(
    workloads: Sequence[Workload],
    platforms: Sequence[Platform],
    usd_per_kwh: float = DEFAULT_USD_PER_KWH,
) -> list[CaseEstimate]:
    """Every workload on every platform, workload-major (the case-study grid)."""
    return [estimate(w, p, usd_per_kwh) for w in workloads for p in platforms]


def case_table(estimates: Iterable[CaseEstimate]) -> str:
    """A printable table: workload, platform, utilization, time, energy, energy per sample, money.

    Money marked ``*`` is electricity only (hardware price unknown).
    """
    estimates = list(estimates)
    names = [
        f"{e.platform.units:,} x {e.platform.name}" if e.platform.units > 1 else e.platform.name
        for e in estimates
    ]
    w_work = max([len("workload"), *(len(e.workload.name) for e in estimates)])
    w_plat = max([len("platform"), *map(len, names)])
    header = (
        f"{'workload':<{w_work}}  {'platform':<{w_plat}} {'util':>5} {'time':>11} "
        f"{'energy':>11} {'per sample':>11} {'money':>11}"
    )
    lines = [header, "-" * len(header)]
    for e, name in zip(estimates, names, strict=True):
        money = format_usd(e.total_usd) + ("" if e.money_complete else "*")
        lines.append(
            f"{e.workload.name:<{w_work}}  {name:<{w_plat}} {e.platform.utilization:>5.0%} "
            f"{format_duration(e.seconds):>11} {format_energy(e.joules):>11} "
            f"{si(e.joules_per_sample, 'J'):>11} {money:>11}"
        )
    return "\n".join(lines)
