"""Rooflines drawn and measured: this machine's roof, and a model's layers under it.

Seed 004 ('Rooflines', after Williams, Waterman & Patterson, CACM 2009) places
neural-network layers on a log-log plot: x is a layer's *arithmetic intensity*
(FLOP per byte moved), y its performance (FLOP/s), and the roof
``min(peak, intensity x bandwidth)`` (:mod:`course_utils.roofline`) is the most
any layer can reach. This module

* measures a machine's roof (:func:`measure_machine_roof`: GEMM peak, checked
  against NumPy's GEMM, and STREAM bandwidth) and its cache steps
  (:func:`cache_level_bandwidths`);
* places a :class:`~course_utils.profiler.Profile`'s layers under a roof
  (:func:`place_layers`): where each layer *could* run;
* measures where each layer *does* run (:func:`measure_layer_flop_per_s`);
* draws it all (:func:`roofline_axes`, :func:`plot_roof`, :func:`plot_layers`,
  :func:`plot_bandwidth_sweep`).

Two intensities, two questions. ``intensity='weights'`` is seed 004's and
Jouppi et al.'s (ISCA 2017): FLOP per *weight* byte, "assuming weights are
off-chip" and activations stay on chip (the TPU keeps them in its 24 MiB
buffer). ``intensity='total'`` counts the weights, the input and the output
activations, each moved once: what a CPU layer that streams everything through
memory must move at least.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import plots
from ..machine import STREAM_ARRAYS, BandwidthProbe, measure_bandwidth, measure_peak_flops
from ..roofline import Roof
from ..timing import LatencyStats, TimedFlops, measure_latency, resolve_device
from ..validators import integer

if TYPE_CHECKING:
    from ..hardware import Device
    from ..profiler import LayerRow, Profile

__all__ = [
    "GROUP_COLORS",
    "INTENSITIES",
    "LayerPoint",
    "LayerTiming",
    "MachineRoof",
    "cache_level_bandwidths",
    "layer_group",
    "layer_intensity",
    "measure_layer_flop_per_s",
    "measure_machine_roof",
    "memory_bound_share",
    "model_intensity",
    "place_layers",
    "plot_bandwidth_sweep",
    "plot_layers",
    "plot_roof",
    "roof_at",
    "roofline_seconds",
    "roofline_axes",
]

INTENSITIES = ("total", "weights")
"""How a layer's bytes are counted: weights + input + output activations, or weights only."""

GROUP_COLORS = {
    "conv": "#0072B2",
    "depthwise": "#D55E00",
    "fc": "#009E73",
    "rnn": "#CC79A7",
    "other": "#999999",
}
"""Colour of each layer group on the plots (Okabe-Ito, as :data:`course_utils.plots.PALETTE`)."""


# --------------------------------------------------------------------------- layers under a roof


def layer_group(kind: str) -> str:
    """The group a Keras layer class belongs to on a roofline plot.

    ``'depthwise'`` (DepthwiseConv1D/2D: one filter per channel, MobileNet's
    memory-bound layers, seed 003), ``'conv'`` (all other convolutions), ``'fc'``
    (Dense), ``'rnn'`` (recurrent layers) or ``'other'``.
    """
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a Keras class name such as 'Conv2D', got {kind!r}")
    if kind.startswith("DepthwiseConv"):
        return "depthwise"
    if "Conv" in kind:
        return "conv"
    if kind == "Dense":
        return "fc"
    if kind in ("SimpleRNN", "GRU", "LSTM", "Bidirectional"):
        return "rnn"
    return "other"


def _check_intensity_kind(intensity: str) -> str:
    if intensity not in INTENSITIES:
        raise ValueError(
            f"intensity={intensity!r} must be one of {INTENSITIES}: 'total' counts weights "
            "and activations, 'weights' only the weights (seed 004)"
        )
    return intensity


def layer_intensity(row: LayerRow, intensity: str = "total") -> float | None:
    """Arithmetic intensity of one profiled layer in FLOP per byte (None if it moves no bytes).

    ``'weights'``: 2 x MACs / weight bytes, seed 004's 'Arithmetic Intensity'
    (for a Dense layer 16 x BATCH / BITS, less the bias's share).
    ``'total'``: 2 x MACs / (weight + input + output activation bytes).
    """
    _check_intensity_kind(intensity)
    return row.arithmetic_intensity if intensity == "weights" else row.total_intensity


def _moved_bytes(profile: Profile, intensity: str) -> float:
    if intensity == "weights":
        return float(profile.weight_bytes)
    return float(sum(r.weight_bytes + r.activation_bytes + r.output_bytes for r in profile.layers))


def model_intensity(profile: Profile, intensity: str = "total") -> float:
    """A whole model's FLOP per byte: 2 x MACs over all layers' bytes (see :func:`layer_intensity`).

    With ``'total'`` every layer's input and output activations are counted, as
    if each went to memory and back once (no layer fusion).
    """
    moved = _moved_bytes(profile, _check_intensity_kind(intensity))
    if moved <= 0:
        raise ValueError(f"profile of {profile.model_name!r} moves no bytes; nothing to place")
    return profile.flops / moved


@dataclass(frozen=True)
class LayerPoint:
    """One layer on a roofline plot (seed 004, 'Rooflines').

    Attributes:
        name: layer name from the profile.
        kind: Keras class name.
        group: :func:`layer_group` of ``kind`` (colour on the plot).
        flops: 2 x MACs of the layer for the whole batch.
        intensity_flop_per_byte: x coordinate (see :func:`layer_intensity`).
        attainable_flop_per_s: the roof above it, min(peak, intensity x bandwidth).
        bound: ``'memory'`` (left of the ridge point) or ``'compute'``.
        achieved_flop_per_s: measured FLOP/s, or None where not measured.
    """

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
        """achieved / attainable: 1.0 means the layer runs at its roof."""
        if self.achieved_flop_per_s is None:
            return None
        return self.achieved_flop_per_s / self.attainable_flop_per_s


def place_layers(
    profile: Profile,
    roof: Roof,
    intensity: str = "total",
    achieved_flop_per_s: Mapping[str, float] | None = None,
) -> list[LayerPoint]:
    """Put every layer with multiply-accumulates (conv, depthwise, dense, recurrent) under ``roof``.

    Layers without MACs (pooling, BatchNorm, activations, adds) are left out:
    the roof is drawn in FLOP/s of multiply-adds, as the GEMM peak is.
    ``achieved_flop_per_s`` (layer name -> measured FLOP/s, e.g. from
    :func:`measure_layer_flop_per_s`) fills in :attr:`LayerPoint.achieved_flop_per_s`.
    """
    _check_intensity_kind(intensity)
    if not isinstance(roof, Roof):
        raise TypeError(f"roof must be a course_utils.roofline.Roof, got {type(roof).__name__}")
    achieved = dict(achieved_flop_per_s or {})
    points = []
    for row in profile.layers:
        if row.macs <= 0:
            continue
        x = layer_intensity(row, intensity)
        if x is None:  # a weight layer always moves bytes; guard anyway
            continue
        points.append(
            LayerPoint(
                name=row.name,
                kind=row.kind,
                group=layer_group(row.kind),
                flops=int(row.flops),
                intensity_flop_per_byte=float(x),
                attainable_flop_per_s=float(roof.attainable(x)),
                bound=str(roof.bound(x)),
                achieved_flop_per_s=achieved.pop(row.name, None),
            )
        )
    if achieved:
        raise ValueError(
            f"achieved_flop_per_s names layers that are not weight layers of "
            f"{profile.model_name!r}: {sorted(achieved)[:5]}"
        )
    return points


def roofline_seconds(points: Sequence[LayerPoint]) -> float:
    """Least time the layers can take: each at its roof, one after another, in seconds.

    sum(flops / attainable FLOP/s) over ``points``: the roofline's lower bound
    on a forward pass (MAC work only; no overheads, no overlap between layers).
    """
    if not points:
        raise ValueError("points is empty; pass place_layers(...) of a model with weight layers")
    for p in points:
        if p.attainable_flop_per_s <= 0:
            raise ValueError(f"layer {p.name!r} has no attainable FLOP/s (intensity 0)")
    return float(sum(p.flops / p.attainable_flop_per_s for p in points))


# --------------------------------------------------------------------------- measuring the roof


@dataclass(frozen=True)
class MachineRoof:
    """A measured roof: GEMM peak (two libraries) and STREAM triad bandwidth.

    Attributes:
        roof: :class:`~course_utils.roofline.Roof` with the TensorFlow GEMM's best
            FLOP/s (the library the models run on) and the triad bandwidth.
        gemm: the best probe of each backend, ``{'tensorflow': ..., 'numpy': ...}``.
        bandwidth: the STREAM triad probe (all physical cores).
        rounds: GEMM rounds run (each backend once per round).
        others_cpu_percent: CPU time other processes used while the GEMMs ran,
            in percent of one CPU (psutil): above ~50 the machine was busy and the
            numbers are low and noisy.
    """

    roof: Roof
    gemm: Mapping[str, TimedFlops]
    bandwidth: BandwidthProbe
    rounds: int
    others_cpu_percent: float

    @property
    def peak_flop_per_s(self) -> float:
        """Measured peak in FLOP/s (TensorFlow GEMM, best call)."""
        return self.roof.peak_flop_per_s

    @property
    def bandwidth_bytes_per_s(self) -> float:
        """Measured memory bandwidth in bytes/s (triad, best sample)."""
        return self.roof.bandwidth_bytes_per_s

    @property
    def backend_ratio(self) -> float:
        """TensorFlow GEMM FLOP/s / NumPy GEMM FLOP/s (best of each): ~1 when both are good."""
        return self.gemm["tensorflow"].best_flop_per_s / self.gemm["numpy"].best_flop_per_s

    @property
    def busy(self) -> bool:
        """True when other processes took more than half a CPU during the GEMM rounds."""
        return self.others_cpu_percent > 50


def measure_machine_roof(
    n: int = 2048,
    min_rounds: int = 2,
    max_rounds: int = 6,
    agree_within: float = 0.10,
    repeats: int = 5,
    bandwidth_size_bytes: int = 256 * 2**20,
    bandwidth_repeats: int = 8,
    name: str = "this machine (measured)",
) -> MachineRoof:
    """Measure this CPU's roof: fp32 GEMM peak and DRAM triad bandwidth (Williams et al. 2009).

    The GEMM (n x n, 2 n^3 FLOP) runs on TensorFlow and on NumPy in alternating
    rounds of ``repeats`` calls; each backend keeps its best probe
    (:func:`~course_utils.hardware.measure_peak_flops`). Best-of-N because other
    work on the machine can only slow a call down, never speed it up;
    alternating so a burst of it hurts both libraries alike. After ``min_rounds``
    it stops as soon as the two bests agree within ``agree_within`` (relative),
    else after ``max_rounds``. Bandwidth: STREAM triad on arrays of
    ``bandwidth_size_bytes`` each (:func:`~course_utils.hardware.measure_bandwidth`),
    far larger than the last-level cache, on all physical cores.
    """
    import psutil

    min_rounds = integer("min_rounds", min_rounds, 1)
    max_rounds = integer("max_rounds", max_rounds, min_rounds)
    if not 0 < agree_within < 1:
        raise ValueError(
            f"agree_within must be a fraction in (0, 1), e.g. 0.10; got {agree_within}"
        )
    me = psutil.Process()
    me.cpu_percent(None)
    psutil.cpu_percent(None)
    best: dict[str, TimedFlops] = {}
    rounds = 0
    while rounds < max_rounds:
        order = ("tensorflow", "numpy") if rounds % 2 == 0 else ("numpy", "tensorflow")
        for backend in order:
            probe = measure_peak_flops(n=n, repeats=repeats, backend=backend, warmup=1)
            if backend not in best or probe.best_flop_per_s > best[backend].best_flop_per_s:
                best[backend] = probe
        rounds += 1
        ratio = best["tensorflow"].best_flop_per_s / best["numpy"].best_flop_per_s
        if rounds >= min_rounds and abs(ratio - 1) <= agree_within:
            break
    others = max(0.0, psutil.cpu_percent(None) * psutil.cpu_count() - me.cpu_percent(None))
    stream = measure_bandwidth(bandwidth_size_bytes, kind="triad", repeats=bandwidth_repeats)
    roof = Roof(name, best["tensorflow"].best_flop_per_s, stream.best_bytes_per_s)
    return MachineRoof(roof, dict(best), stream, rounds, float(others))


def roof_at(device: Device, precision: str = "fp32") -> tuple[Roof, str, str]:
    """The roof of a catalogue ``device`` at ``precision``, or at its nearest catalogued one.

    Returns ``(roof, precision_used, note)``: ``note`` is ``''`` when the device
    has a peak at ``precision``; else ``precision_used`` is the next wider data
    type it has, or failing that the narrowest (TPU v1 has only int8, Google's
    TPU v2/v3 only bf16), and ``note`` says so.
    """
    from ..hardware import PRECISIONS

    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} must be one of {PRECISIONS}")
    known = [p for p in PRECISIONS if p in device.peak_flops]
    if precision in known:
        return Roof.from_device(device, precision), precision, ""
    order = list(PRECISIONS)  # widest (fp64) to narrowest (int8)
    wider = [p for p in known if order.index(p) < order.index(precision)]
    used = wider[-1] if wider else known[-1]
    note = (
        f"{device.name} has no {precision} rate in the catalogue (it has: "
        f"{', '.join(known)}); drawn at {used}."
    )
    return Roof.from_device(device, used), used, note


def memory_bound_share(points: Sequence[LayerPoint]) -> float:
    """Fraction of the FLOPs that run in memory-bound layers (left of the ridge point), 0..1."""
    total = sum(p.flops for p in points)
    if total <= 0:
        raise ValueError(
            "points hold no FLOPs; pass place_layers(...) of a model with weight layers"
        )
    return sum(p.flops for p in points if p.bound == "memory") / total


def cache_level_bandwidths(
    probes: Sequence[BandwidthProbe], cache_bytes: Mapping[str, int]
) -> dict[str, float]:
    """Bandwidth of each memory level from a :func:`~course_utils.hardware.bandwidth_sweep`.

    A probe's working set is ``STREAM_ARRAYS[kind] x size_bytes`` (triad: 3
    arrays). It measures level ``Lk`` when the working set fits in ``Lk`` but not
    in the level below; the level's bandwidth is the best such probe. Probes
    whose working set is at least 4 x the largest cache measure ``'DRAM'``.
    ``cache_bytes`` is :attr:`~course_utils.hardware.LocalMachine.cache_bytes`
    (``{'L1d': 32768, 'L2': ..., 'L3': ...}``). Returns ``{level: bytes/s}`` from
    the fastest level to DRAM, for the levels some probe landed in.
    """
    levels = sorted(
        ((name, int(size)) for name, size in cache_bytes.items() if size and int(size) > 0),
        key=lambda item: item[1],
    )
    if not levels:
        raise ValueError("cache_bytes is empty; pass hardware.local().cache_bytes")
    if not probes:
        raise ValueError("probes is empty; pass the list hardware.bandwidth_sweep() returns")
    out: dict[str, float] = {}
    for probe in probes:
        working_set = STREAM_ARRAYS[probe.kind] * probe.size_bytes
        level = None
        lower = 0
        for name, size in levels:
            if lower < working_set <= size:
                level = name
                break
            lower = size
        if level is None and working_set >= 4 * levels[-1][1]:
            level = "DRAM"
        if level is not None:
            out[level] = max(out.get(level, 0.0), probe.best_bytes_per_s)
    order = [name for name, _ in levels] + ["DRAM"]
    return {name: out[name] for name in order if name in out}


# --------------------------------------------------------------------------- measuring layers


@dataclass(frozen=True)
class LayerTiming:
    """One layer called on its own: FLOPs (2 x MACs, whole batch) and its latency samples."""

    name: str
    kind: str
    batch_size: int
    flops: int
    latency: LatencyStats

    @property
    def best_flop_per_s(self) -> float:
        """FLOP/s of the fastest call (least disturbed by other work)."""
        return self.flops / self.latency.min

    @property
    def median_flop_per_s(self) -> float:
        """FLOP/s of the median call."""
        return self.flops / self.latency.median


def measure_layer_flop_per_s(
    model: Any,
    batch_size: int = 1,
    repeats: int = 5,
    warmup: int = 1,
    min_flops: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, LayerTiming]:
    """Achieved FLOP/s of each weight layer of ``model``, each layer timed on its own.

    Every top-level layer with multiply-accumulates (per the profiler) and at
    least ``min_flops`` FLOP is wrapped in its own ``tf.function`` and called on
    a random float32 batch of its input shape, ``warmup`` + ``repeats`` times
    (:func:`~course_utils.timing.measure_latency`). FLOPs are the profiler's
    2 x MACs, so achieved FLOP/s sits on the same scale as the GEMM roof.

    Caveats worth teaching: a layer called again and again keeps whatever fits
    in the caches hot, so small layers can beat the DRAM roof (they run under a
    cache roof, see :func:`cache_level_bandwidths`); and each call costs some
    microseconds of dispatch, which dominates tiny layers. Layers inside nested
    models are skipped with a warning.
    """
    import tensorflow as tf

    from ..profiler import profile

    batch_size = integer("batch_size", batch_size, 1)
    repeats = integer("repeats", repeats, 1)
    warmup = integer("warmup", warmup, 0)
    min_flops = integer("min_flops", min_flops, 0)
    placement = resolve_device(device)
    prof = profile(model, batch_size=batch_size, bits=32)
    rows = [r for r in prof.layers if r.macs > 0 and r.flops >= min_flops]
    top_level = {layer.name: layer for layer in model.layers}
    skipped = [r.name for r in rows if r.name not in top_level]
    if skipped:
        warnings.warn(
            f"measure_layer_flop_per_s times top-level layers only; skipped {len(skipped)} "
            f"nested or repeated layer call(s), e.g. {skipped[:3]}",
            stacklevel=2,
        )
    steps: Iterable[Any] = [r for r in rows if r.name in top_level]
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(list(steps), desc=f"{model.name} layers", leave=False)
    timings: dict[str, LayerTiming] = {}
    for row in steps:
        layer = top_level[row.name]
        shape = (batch_size, *tuple(layer.input.shape)[1:])
        with tf.device(placement):
            x = tf.random.stateless_uniform(shape, seed=(1, 2), dtype=tf.float32)
        call = _layer_function(layer, placement)
        stats = measure_latency(call, x, warmup=warmup, repeats=repeats)
        timings[row.name] = LayerTiming(row.name, row.kind, batch_size, int(row.flops), stats)
    return timings


def _layer_function(layer: Any, placement: str) -> Any:
    import tensorflow as tf

    @tf.function
    def call(x: Any) -> Any:
        with tf.device(placement):
            y = layer(x)
            return tf.reshape(y, [-1])[0]  # fetching one element waits for the whole layer

    return call


# --------------------------------------------------------------------------- drawing


def roofline_axes(
    ax: Any = None,
    xlim: tuple[float, float] = (0.1, 1e4),
    ylim: tuple[float, float] | None = None,
    title: str | None = None,
) -> Any:
    """Log-log axes labelled for a roofline: FLOP per byte against FLOP/s."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.8))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*xlim)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel("arithmetic intensity (FLOP per byte moved)")
    ax.set_ylabel("performance (FLOP/s)")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: plots.si(v, "FLOP/s")))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    if title:
        ax.set_title(title)
    return ax


def plot_roof(
    ax: Any,
    roof: Roof,
    color: str | None = None,
    label: str | None = None,
    linestyle: str = "-",
    annotate: bool = True,
    bandwidth_label: str = "below",
) -> None:
    """Draw ``roof`` on roofline axes: the slanted memory roof, the flat compute roof, the ridge.

    The line spans the axes' current x limits. ``annotate`` writes the peak,
    the bandwidth and the ridge point (FLOP/byte) next to the lines;
    ``bandwidth_label`` puts the bandwidth ``'below'`` or ``'above'`` the
    slanted line (use ``'above'`` for a second, higher roof).
    """
    if not isinstance(roof, Roof):
        raise TypeError(f"roof must be a course_utils.roofline.Roof, got {type(roof).__name__}")
    if bandwidth_label not in ("below", "above"):
        raise ValueError(f"bandwidth_label={bandwidth_label!r} must be 'below' or 'above'")
    lo, hi = ax.get_xlim()
    ridge = roof.ridge_point
    xs = np.array(sorted({lo, hi, min(max(ridge, lo), hi)}))
    label = roof.name if label is None else label
    (line,) = ax.plot(xs, roof.attainable(xs), color=color, linestyle=linestyle, lw=2, label=label)
    if not annotate:
        return
    color = line.get_color()
    if lo <= ridge <= hi:
        ax.plot([ridge], [roof.peak_flop_per_s], "o", color=color, ms=5)
        ax.axvline(ridge, color=color, linestyle=":", lw=0.8, alpha=0.7)
        shown = f"{ridge:,.0f}" if ridge >= 100 else f"{ridge:.2g}"
        ax.text(
            ridge,
            0.03,
            f"ridge {shown} FLOP/B ",
            transform=ax.get_xaxis_transform(),
            rotation=90,
            va="bottom",
            ha="right",
            fontsize=8,
            color=color,
        )
    ax.annotate(
        plots.si(roof.peak_flop_per_s, "FLOP/s"),
        (hi, roof.peak_flop_per_s),
        textcoords="offset points",
        xytext=(-4, 4),
        ha="right",
        fontsize=8,
        color=color,
    )
    x_text = lo * (1.3 if bandwidth_label == "below" else 4.0)
    if ridge > x_text:
        below = bandwidth_label == "below"
        ax.annotate(
            plots.si(roof.bandwidth_bytes_per_s, "B/s"),
            (x_text, roof.attainable(x_text)),
            textcoords="offset points",
            xytext=(5, -3) if below else (-5, 3),
            ha="left" if below else "right",
            va="top" if below else "bottom",
            fontsize=8,
            color=color,
        )


def plot_layers(
    ax: Any,
    points: Sequence[LayerPoint],
    y: str = "attainable",
    marker: str = "o",
    label: str | None = None,
    size_by_flops: bool = True,
    legend_groups: bool = True,
) -> None:
    """Scatter layers on roofline axes, coloured by :func:`layer_group`.

    ``y='attainable'`` puts each layer on its roof (the best it could do);
    ``y='achieved'`` at its measured FLOP/s (layers without a measurement are
    skipped). With ``size_by_flops`` a marker's area grows with the layer's
    share of the model's FLOPs, so the plot shows where the work is.
    """
    if y not in ("attainable", "achieved"):
        raise ValueError(f"y={y!r} must be 'attainable' or 'achieved'")
    chosen = [p for p in points if y == "attainable" or p.achieved_flop_per_s is not None]
    if not chosen:
        return
    total = sum(p.flops for p in chosen) or 1
    for group in GROUP_COLORS:
        mine = [p for p in chosen if p.group == group]
        if not mine:
            continue
        xs = [p.intensity_flop_per_byte for p in mine]
        ys = [p.attainable_flop_per_s if y == "attainable" else p.achieved_flop_per_s for p in mine]
        sizes = [12 + 400 * p.flops / total for p in mine] if size_by_flops else 20
        name = {"fc": "FC (Dense)", "depthwise": "depthwise conv"}.get(group, group)
        text = f"{label}: {name}" if label else name
        ax.scatter(
            xs,
            ys,
            s=sizes,
            marker=marker,
            color=GROUP_COLORS[group],
            alpha=0.75,
            edgecolors="white" if marker not in ("x", "+") else None,
            linewidths=0.5,
            label=text if legend_groups else None,
            zorder=3,
        )


def plot_bandwidth_sweep(
    probes: Sequence[BandwidthProbe],
    cache_bytes: Mapping[str, int] | None = None,
    ax: Any = None,
) -> Any:
    """Bandwidth (bytes/s, linear) against working-set size (log), the cache sizes marked: the cache steps."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    if not probes:
        raise ValueError("probes is empty; pass the list hardware.bandwidth_sweep() returns")
    if ax is None:
        _, ax = plt.subplots()
    sets = [STREAM_ARRAYS[p.kind] * p.size_bytes for p in probes]
    ax.plot(sets, [p.best_bytes_per_s for p in probes], "o-", color=plots.COLORS["measured"])
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, 1.15 * max(p.best_bytes_per_s for p in probes))
    ax.set_xlabel(f"working set ({probes[0].kind}: {STREAM_ARRAYS[probes[0].kind]} arrays)")
    ax.set_ylabel("bandwidth (bytes read + written per s)")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _binary(v)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: plots.si(v, "B/s")))
    for name, size in (cache_bytes or {}).items():
        if size:
            ax.axvline(size, color="grey", linestyle=":", lw=1)
            ax.text(size, 1.0, f" {name}", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
    return ax


def _binary(value: float) -> str:
    for scale, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if value >= scale:
            return f"{value / scale:g} {unit}"
    return f"{value:g} B"
