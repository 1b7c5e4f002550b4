"""Numbers as a person reads them: SI prefixes, durations, energy, money, bytes.

Every function returns a string; none changes a value. ``si(1.86e11, 'FLOP/s')``
gives ``'186 GFLOP/s'``; ``format_duration(2.3e5)`` gives ``'2.66 days'``.
"""

from __future__ import annotations

import math

from .validators import non_negative_number

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86_400.0
SECONDS_PER_YEAR = 365.25 * SECONDS_PER_DAY
JOULES_PER_KWH = 3.6e6

_PREFIXES = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"),
             (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"))  # fmt: skip


def si(value: float, unit: str = "", digits: int = 3) -> str:
    """A number with an SI prefix and ``digits`` significant digits: ``si(1.86e11, 'FLOP/s')`` -> '186 GFLOP/s'."""
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}".strip()
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}".strip()
    return f"{value:.{digits}g} {unit}".strip()


def ms(seconds: float) -> str:
    """A duration in seconds as milliseconds, 3 significant digits: ``ms(0.0123)`` -> '12.3 ms'."""
    value = float(seconds) * 1e3
    if not math.isfinite(value):
        return f"{value} ms"
    decimals = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2 if abs(value) >= 1 else None
    return f"{value:.{decimals}f} ms" if decimals is not None else f"{value:.3g} ms"


def format_duration(seconds: float) -> str:
    """A duration in the unit a person would use: '850 ms', '42 s', '3.5 min', '2.7 days', '4.1 years'."""
    seconds = non_negative_number("seconds", seconds)
    for limit, scale, unit in (
        (1.0, 1e-3, "ms"),
        (120.0, 1.0, "s"),
        (2 * SECONDS_PER_HOUR, 60.0, "min"),
        (2 * SECONDS_PER_DAY, SECONDS_PER_HOUR, "h"),
        (2 * SECONDS_PER_YEAR, SECONDS_PER_DAY, "days"),
    ):
        if seconds < limit:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / SECONDS_PER_YEAR:.3g} years"


def format_usd(usd: float) -> str:
    """Money with sensible precision: '$0.0042', '$3.10', '$1,234', '$2.1 M'."""
    usd = non_negative_number("usd", usd)
    if usd >= 1e6:
        return f"${usd / 1e6:.3g} M"
    if usd >= 1000:
        return f"${usd:,.0f}"
    return f"${usd:.2f}" if usd >= 0.1 else f"${usd:.2g}"


def format_energy(joules: float) -> str:
    """Energy in the units of an electricity bill: '5.05 Wh', '1.82 kWh', '10,028 kWh', '2.1 GWh'."""
    kwh = non_negative_number("joules", joules) / JOULES_PER_KWH
    if kwh >= 1e6:
        return f"{kwh / 1e6:.3g} GWh"
    if kwh >= 100:
        return f"{kwh:,.0f} kWh"
    return f"{kwh:.3g} kWh" if kwh >= 1 else si(kwh * 1000, "Wh")


def format_bytes(n_bytes: float, binary: bool = False) -> str:
    """A size in bytes: '329 kB' (SI, the default) or '321 KiB' (``binary=True``)."""
    n_bytes = non_negative_number("n_bytes", n_bytes)
    if not binary:
        return si(n_bytes, "B")
    for scale, prefix in ((2**40, "Ti"), (2**30, "Gi"), (2**20, "Mi"), (2**10, "Ki")):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {prefix}B"
    return f"{n_bytes:g} B"


def format_count(n: float) -> str:
    """A count with a short multiplier, two decimals: '4.09 G', '25.56 M', '81.19 k', '42'."""
    for scale, unit in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:g}"
