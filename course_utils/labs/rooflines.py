"""Notebook 08's harness: layers placed under a roof (min(peak, intensity x bandwidth), Williams,
Waterman & Patterson 2009; written in the notebook), the GEMM libraries, the plots. A layer's bytes
are counted two ways (seed 004): ``'weights'`` only, as if activations never leave the chip (Jouppi
et al. 2017: TPU v1's 24 MiB buffer); ``'total'``: weights, input and output once each, the least a
CPU or GPU running layer by layer through DRAM/HBM must move.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..roofline import Roof
from ..units import si
from ..validators import instance, one_of

if TYPE_CHECKING:
    from ..profiler import Profile

INTENSITIES = ("total", "weights")
"""How a layer's bytes are counted: weights + input + output activations, or weights only."""

GROUP_COLORS = {"conv": "#0072B2", "depthwise": "#D55E00", "fc": "#009E73"}
"""Colour of each layer group on the plots (Okabe-Ito, as :data:`course_utils.plots.PALETTE`)."""


def layer_group(kind: str) -> str:
    """The group of a Keras layer class on a roofline plot: 'depthwise', 'conv', 'fc' or 'other'."""
    instance("kind", kind, str, "Keras class name such as 'Conv2D'")
    if kind.startswith("DepthwiseConv"):
        return "depthwise"
    return "conv" if "Conv" in kind else "fc" if kind == "Dense" else "other"


def model_intensity(profile: Profile, intensity: str = "total") -> float:
    """A whole model's FLOP (2 x MACs) per byte: weight bytes, or every layer's bytes moved once."""
    total = sum(r.weight_bytes + r.activation_bytes + r.output_bytes for r in profile.layers)
    moved = float(profile.weight_bytes if one_of("intensity", intensity, INTENSITIES) == "weights" else total)
    if moved <= 0:
        raise ValueError(f"profile of {profile.model_name!r} moves no bytes; nothing to place")
    return profile.flops / moved


@dataclass(frozen=True)
class LayerPoint:
    """One weight layer on a roofline plot: its FLOPs, intensity, roof and (if timed) FLOP/s."""

    name: str
    kind: str
    group: str
    flops: int
    intensity_flop_per_byte: float
    attainable_flop_per_s: float
    bound: str
    achieved_flop_per_s: float | None = None

    @property
    def fraction_of_roof(self) -> float | None:
        """achieved / attainable: 1.0 means the layer runs at its roof; None if not timed."""
        measured, roof = self.achieved_flop_per_s, self.attainable_flop_per_s
        return None if measured is None else measured / roof


def place_layers(profile: Profile, roof: Roof, intensity: str = "total",
                 achieved_flop_per_s: Mapping[str, float] | None = None) -> list[LayerPoint]:
    """Every layer with multiply-accumulates under ``roof`` (pooling, BatchNorm, adds are left out).

    ``achieved_flop_per_s`` maps layer names to measured FLOP/s, e.g.
    ``{t.name: t.flop_per_s for t in timing.time_layers(model)}``.
    """
    one_of("intensity", intensity, INTENSITIES)
    instance("roof", roof, Roof, "course_utils.roofline.Roof")
    achieved = dict(achieved_flop_per_s or {})
    points = []
    for row in (r for r in profile.layers if r.macs > 0):
        x = float(row.arithmetic_intensity if intensity == "weights" else row.total_intensity)
        y, bound, group = float(roof.attainable(x)), str(roof.bound(x)), layer_group(row.kind)
        measured = achieved.pop(row.name, None)
        points.append(LayerPoint(row.name, row.kind, group, int(row.flops), x, y, bound, measured))
    if achieved:
        raise ValueError(f"not weight layers of {profile.model_name!r}: {sorted(achieved)[:5]}")
    return points


def roofline_seconds(points: Sequence[LayerPoint]) -> float:
    """Least time for the layers, each at its roof, one after another: sum(flops / attainable), s."""
    if not points or any(p.attainable_flop_per_s <= 0 for p in points):
        raise ValueError("pass place_layers(...) of a model with weight layers of intensity > 0")
    return float(sum(p.flops / p.attainable_flop_per_s for p in points))


def gemm_libraries() -> dict[str, str]:
    """The library behind each float32 GEMM of the notebook: ``{'numpy': ..., 'tensorflow': ...}``.

    NumPy reports the BLAS it was built with (OpenBLAS, MKL, Apple's Accelerate, ...).
    TensorFlow's CPU matmul is oneDNN where ``TF_ENABLE_ONEDNN_OPTS=1`` (the course sets
    it on x86-64, :mod:`course_utils.tfenv`), its own Eigen kernels where it is 0, and the
    build's default otherwise.
    """
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        numpy_lib = f"{blas.get('name', 'unknown BLAS')} {blas.get('version', '')}".strip()
    except (TypeError, KeyError):
        numpy_lib = "unknown BLAS"
    flag = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    tf_lib = {"1": "oneDNN", "0": "Eigen"}.get(flag or "", "its build's default (Eigen or oneDNN)")
    return {"numpy": numpy_lib, "tensorflow": tf_lib}


def roofline_axes(ax: Any = None, xlim: tuple[float, float] = (0.1, 1e4), title: str = "") -> Any:
    """Log-log axes labelled for a roofline: FLOP per byte against FLOP/s."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.8))
    ax.set(xscale="log", yscale="log", xlim=xlim, title=title)
    ax.set_xlabel("arithmetic intensity (FLOP per byte moved)")
    ax.set_ylabel("performance (FLOP/s)")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: si(v, "FLOP/s")))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    return ax


def plot_roof(ax: Any, roof: Roof, label: str | None = None, annotate: bool = True, **line: Any) -> None:
    """Draw ``roof`` across the axes' x range; ``annotate`` marks the ridge, the peak and the bandwidth."""
    instance("roof", roof, Roof, "course_utils.roofline.Roof")
    (lo, hi), ridge = ax.get_xlim(), roof.ridge_point
    xs = np.array(sorted({lo, hi, min(max(ridge, lo), hi)}))
    (drawn,) = ax.plot(xs, roof.attainable(xs), lw=2, label=roof.name if label is None else label, **line)
    if not annotate:
        return
    note = {"fontsize": 8, "color": drawn.get_color(), "textcoords": "offset points"}
    if lo <= ridge <= hi:
        ax.axvline(ridge, color=note["color"], linestyle=":", lw=0.8)
        shown = f"{ridge:,.0f}" if ridge >= 100 else f"{ridge:.3g}"
        ax.annotate(f"ridge {shown} FLOP/B", (ridge, roof.peak_flop_per_s), (4, -12), **note)
    peak = si(roof.peak_flop_per_s, "FLOP/s")
    ax.annotate(peak, (hi, roof.peak_flop_per_s), (-4, 4), ha="right", **note)
    if ridge > lo * 1.3:
        bandwidth = si(roof.bandwidth_bytes_per_s, "B/s")
        ax.annotate(bandwidth, (lo * 1.3, roof.attainable(lo * 1.3)), (5, 3), **note)


def plot_layers(ax: Any, points: Sequence[LayerPoint], y: str = "attainable", marker: str = "o", label: str = "") -> None:
    """Scatter layers by group colour, area by share of FLOPs: on their roof (``y='attainable'``)
    or at their measured FLOP/s (``y='achieved'``, untimed layers skipped)."""
    one_of("y", y, ("attainable", "achieved"))
    chosen = [p for p in points if y == "attainable" or p.achieved_flop_per_s is not None]
    total = sum(p.flops for p in chosen) or 1
    for group, color in GROUP_COLORS.items():
        mine = [p for p in chosen if p.group == group]
        if mine:
            xs = [p.intensity_flop_per_byte for p in mine]
            ys = [p.attainable_flop_per_s if y == "attainable" else p.achieved_flop_per_s for p in mine]
            ax.scatter(xs, ys, s=[12 + 400 * p.flops / total for p in mine], marker=marker, color=color,
                       alpha=0.75, label=f"{label}: {group}" if label else group, zorder=3)
