"""The roofline model (Williams, Waterman & Patterson, CACM 52(4), 2009; seed 004, 'Roofline').

A kernel that does ``I`` FLOP per byte it moves to or from memory (its
*arithmetic intensity*, FLOP/byte) can run no faster than

    attainable = min(peak, I x bandwidth)        [FLOP/s]

Left of the *ridge point* ``I = peak / bandwidth`` the memory system limits it
(memory-bound, the slanted roof); right of it the arithmetic units do
(compute-bound, the flat roof). Seed 004 places neural-network layers on this
plot: fully connected layers at batch 1 are far left, convolutions far right.

Units matter: Jouppi et al. (ISCA 2017) draw TPU v1's ridge at about 1,350
because they count multiply-accumulates per weight byte: 92e12 / 2 / 34e9.
Counted in operations (2 per MAC) as here, it is 92e12 / 34e9 = 2,706 op/byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .validators import positive_number


def _intensity(intensity_flop_per_byte: Any) -> np.ndarray:
    try:
        intensity = np.asarray(intensity_flop_per_byte, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError("intensity_flop_per_byte must be a number or an array of numbers") from err
    if np.any(np.isnan(intensity)) or np.any(intensity < 0):
        raise ValueError("intensity_flop_per_byte must be >= 0 (FLOP per byte moved), not NaN")
    return intensity


def ridge_point(peak_flop_per_s: float, bandwidth_bytes_per_s: float) -> float:
    """Intensity where the two roofs meet: peak / bandwidth, in FLOP per byte."""
    peak = positive_number("peak_flop_per_s", peak_flop_per_s)
    return peak / positive_number("bandwidth_bytes_per_s", bandwidth_bytes_per_s)


def attainable_flop_per_s(
    intensity_flop_per_byte: Any, peak_flop_per_s: float, bandwidth_bytes_per_s: float
) -> Any:
    """Roofline bound min(peak, intensity x bandwidth) in FLOP/s (Williams et al. 2009).

    ``intensity_flop_per_byte`` may be a number (returns a float) or an array
    (returns an array of the same shape); ``inf`` intensity gives the peak.
    """
    peak = positive_number("peak_flop_per_s", peak_flop_per_s)
    bandwidth = positive_number("bandwidth_bytes_per_s", bandwidth_bytes_per_s)
    intensity = _intensity(intensity_flop_per_byte)
    attainable = np.minimum(peak, intensity * bandwidth)
    return float(attainable) if intensity.ndim == 0 else attainable


def bound(
    intensity_flop_per_byte: Any, peak_flop_per_s: float, bandwidth_bytes_per_s: float
) -> Any:
    """``'memory'`` left of the ridge point, ``'compute'`` at or right of it: a string for a
    number, an array of strings for an array."""
    ridge = ridge_point(peak_flop_per_s, bandwidth_bytes_per_s)
    intensity = _intensity(intensity_flop_per_byte)
    labels = np.where(intensity < ridge, "memory", "compute")
    return str(labels) if intensity.ndim == 0 else labels


@dataclass(frozen=True)
class Roof:
    """One machine's roofline, called ``name``: a flat compute roof at ``peak_flop_per_s``
    (FLOP/s) and a slanted memory roof of slope ``bandwidth_bytes_per_s`` (bytes/s)."""

    name: str
    peak_flop_per_s: float
    bandwidth_bytes_per_s: float

    def __post_init__(self) -> None:  # both stored as checked floats
        for name in ("peak_flop_per_s", "bandwidth_bytes_per_s"):
            object.__setattr__(self, name, positive_number(name, getattr(self, name)))

    @property
    def ridge_point(self) -> float:
        """peak / bandwidth in FLOP per byte."""
        return ridge_point(self.peak_flop_per_s, self.bandwidth_bytes_per_s)

    def attainable(self, intensity_flop_per_byte: Any) -> Any:
        """min(peak, intensity x bandwidth) in FLOP/s; numbers or arrays."""
        return attainable_flop_per_s(
            intensity_flop_per_byte, self.peak_flop_per_s, self.bandwidth_bytes_per_s
        )

    def bound(self, intensity_flop_per_byte: Any) -> Any:
        """``'memory'`` or ``'compute'`` for each intensity."""
        return bound(intensity_flop_per_byte, self.peak_flop_per_s, self.bandwidth_bytes_per_s)

    @classmethod
    def from_device(cls, device: Any, precision: str = "fp32") -> Roof:
        """The roof of a catalogue :class:`~course_utils.hardware.Device` (anything with
        ``name``, ``peak(precision)`` and ``memory_bandwidth_bytes_per_s``) at ``precision``."""
        peak, bandwidth = device.peak(precision), device.memory_bandwidth_bytes_per_s
        return cls(f"{device.name} ({precision})", peak, bandwidth)
