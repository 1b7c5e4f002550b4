"""Notebook 05's machinery for seed 003's MobileNets (Howard et al. 2017, arXiv:1704.04861; Sandler et al. 2018,
arXiv:1801.04381): Table 1 read off a built model, the paper's 'Conv MobileNet', V2's block, both roofs timed in
the same rounds as the layers under them. Paper names: ``f_dim`` D_K, ``in_ch`` M, ``out_ch`` N, ``fm_dim`` D_F.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np
from keras import layers
from tqdm.auto import tqdm

from .. import timing
from ..machine import BandwidthProbe, measure_bandwidth, measure_peak_flops, physical_cores
from ..profiler import profile
from ..timing import LatencyStats, TimedFlops
from ..validators import instance, positive_int, positive_number


@dataclass(frozen=True)
class BodyRow:
    """One row of seed 003's Table 1 with the cost of ONE such layer: ``macs`` (one image) and ``params``
    (kernel and bias, no BatchNorm) from the profiler, ``kernel_params`` (what the paper's Table 2
    counts); ``repeat`` is the table's '5x', ``layer_names`` all repeats' layers."""

    type_stride: str
    filter_shape: str
    input_size: str
    repeat: int = 1
    macs: int = 0
    params: int = 0
    kernel_params: int = 0
    layer_names: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        """(type / stride, filter shape, input size): what the paper's table shows."""
        return (self.type_stride, self.filter_shape, self.input_size)

    @property
    def total_macs(self) -> int:
        return self.macs * self.repeat


def _is_softmax(layer: Any) -> bool:
    act = getattr(layer, "activation", None)  # Activation('softmax') or a Softmax layer
    return type(layer).__name__ == "Softmax" or getattr(act, "__name__", "") == "softmax"


def _row_for(layer: Any, in_shape: tuple) -> tuple[str, str] | None:
    """(type / stride, filter shape) of one layer in the paper's notation, or None."""
    kind, k = type(layer).__name__, "x".join(map(str, getattr(layer, "kernel_size", ())))
    if kind == "DepthwiseConv2D":
        multiplier = "" if layer.depth_multiplier == 1 else f"x{layer.depth_multiplier}"
        return f"Conv dw / s{layer.strides[0]}", f"{k}x{in_shape[-1]}{multiplier} dw"
    if kind == "Conv2D" and tuple(in_shape[:2]) == (1, 1) and k == "1x1":
        return "FC / s1", f"{in_shape[-1]}x{layer.filters}"  # Keras' classifier: 1x1 conv on 1x1
    if kind == "Conv2D":
        return f"Conv / s{layer.strides[0]}", f"{k}x{in_shape[-1]}x{layer.filters}"
    if kind == "Dense":
        return "FC / s1", f"{in_shape[-1]}x{layer.units}"
    if kind == "GlobalAveragePooling2D":
        return "Avg Pool / s1", f"Pool {in_shape[0]}x{in_shape[1]}"
    return ("Softmax / s1", "Classifier") if _is_softmax(layer) else None


def _collapse(rows: list[BodyRow]) -> list[BodyRow]:
    """Merge runs of identical rows, or of identical pairs of rows, into rows with ``repeat``."""
    out: list[BodyRow] = []
    i = 0
    while i < len(rows):
        for period in (1, 2):
            keys, n = [r.key for r in rows[i : i + period]], 1
            while len(keys) == period and keys == [r.key for r in rows[i + n * period : i + (n + 1) * period]]:
                n += 1
            if n > 1:
                for j, row in enumerate(rows[i : i + period]):
                    names = sum((rows[i + k * period + j].layer_names for k in range(n)), ())
                    out.append(replace(row, repeat=n, layer_names=names))
                i += n * period
                break
        else:
            out.append(rows[i])
            i += 1
    return out


def mobilenet_v1_body(model: keras.Model, collapse: bool = True) -> list[BodyRow]:
    """Seed 003's 'Table 1. MobileNet Body Architecture', read off a built Keras model.

    One :class:`BodyRow` per convolution, pooling, fully connected and softmax layer, in the paper's
    notation, the input size taken before any padding layer; BatchNorm and ReLU get no row (as in the
    paper); counts from :func:`course_utils.profiler.profile`. ``collapse`` merges repeated rows (and
    pairs) into one with ``repeat`` > 1, like the table's '5x'. Other layers are named in a warning.
    """
    model = instance("mobilenet_v1_body: model", model, keras.Model, "keras.Model")
    costs = {row.name: row for row in profile(model).layers}
    rows: list[BodyRow] = []
    pending: tuple | None = None  # input shape before a run of data-moving layers
    skipped: list[str] = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("BatchNormalization", "ReLU", "Activation") and not _is_softmax(layer):
            continue
        if kind in ("InputLayer", "ZeroPadding2D", "Reshape", "Flatten", "Dropout"):
            if pending is None and kind != "InputLayer":
                pending = tuple(layer.input.shape[1:])
            continue
        in_shape = pending if pending is not None else tuple(layer.input.shape[1:])
        pending = None
        described = _row_for(layer, in_shape)
        if described is None:
            skipped.append(f"'{layer.name}' ({kind})")
            continue
        dims = [d for d in in_shape if d is not None]
        size = "x".join(map(str, [1, 1, *dims] if len(dims) == 1 else dims))
        c = costs[layer.name]
        rows.append(BodyRow(*described, size, 1, c.macs, c.params, c.kernel_params, (layer.name,)))
    if not any(r.type_stride.startswith("Conv") for r in rows):
        raise ValueError(f"mobilenet_v1_body: model '{model.name}' has no Conv2D or DepthwiseConv2D layer; "
                         "pass a MobileNet-like model, e.g. course_utils.models.mobilenet_v1()")
    if skipped:  # their MACs are still in profile(model)
        warnings.warn(f"mobilenet_v1_body: no table row for layer(s) {', '.join(skipped)}; left out", stacklevel=2)
    return _collapse(rows) if collapse else rows


def body_table(rows: Iterable[BodyRow]) -> str:
    """The rows as a printable table in the paper's layout; repeated rows show all repeats' cost."""
    rows = list(rows)
    header = f"{'Type / Stride':<19} {'Filter Shape':<15} {'Input Size':<12} {'MACs':>13} {'params':>11}"
    lines = [header, "-" * len(header)]
    for r in rows:
        label = (f"{r.repeat}x " if r.repeat > 1 else "") + r.type_stride
        lines.append(f"{label:<19} {r.filter_shape:<15} {r.input_size:<12} {r.total_macs:>13,} "
                     f"{r.params * r.repeat:>11,}")
    macs, params = sum(r.total_macs for r in rows), sum(r.params * r.repeat for r in rows)
    lines += ["-" * len(header), f"{'total':<48} {macs:>13,} {params:>11,}"]
    return "\n".join(lines)


#: (filters, stride) of MobileNet V1's 13 depthwise-separable blocks (Table 1); the last
#: stride is 1: Table 1 prints s2, but its own sizes (and 569 M MACs) need s1.
_V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *((512, 1),) * 5, (1024, 2), (1024, 1))


def _conv_bn_relu(x: Any, conv: Any) -> Any:
    x = layers.BatchNormalization(name=f"{conv.name}_bn")(conv(x))
    return layers.ReLU(6.0, name=f"{conv.name}_relu")(x)


def mobilenet_v1_standard_conv(alpha: float = 1.0, resolution: int = 224, classes: int = 1000) -> keras.Model:
    """The paper's 'Conv MobileNet' (Howard et al. 2017, Table 4): each separable pair of V1 replaced by one standard
    3x3 convolution; same widths, strides and head as Table 1. Paper: 4866 M mult-adds, 29.3 M parameters; this
    model: 4867.3 M and 29.3 M. ``alpha`` is the width multiplier, ``resolution`` the input side.
    """
    alpha, resolution = positive_number("alpha", alpha), positive_int("resolution", resolution)
    classes = positive_int("classes", classes)
    x = inputs = keras.Input((resolution, resolution, 3))
    x = _conv_bn_relu(x, layers.Conv2D(int(32 * alpha), 3, 2, "same", use_bias=False, name="conv1"))
    for i, (filters, stride) in enumerate(_V1_BLOCKS, start=1):
        x = _conv_bn_relu(x, layers.Conv2D(int(filters * alpha), 3, stride, "same", use_bias=False, name=f"conv_{i}"))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="fc")(x)
    return keras.Model(inputs, outputs, name=f"conv_mobilenet_{alpha:g}_{resolution}")


def inverted_residual_block(fm_dim: int, in_ch: int, out_ch: int, expansion: int = 6, stride: int = 1,
                            f_dim: int = 3) -> keras.Model:
    """MobileNet V2's inverted residual block with a linear bottleneck, as a small model.

    Sandler et al. 2018, Table 1; seed 003, 'Inverted Residuals', 'Linear Bottlenecks': 1x1 expand to
    ``expansion`` x ``in_ch`` + BatchNorm + ReLU6; k x k depthwise with ``stride`` + BatchNorm + ReLU6; 1x1
    project to ``out_ch`` + BatchNorm and **no** activation; add the input when stride is 1 and in_ch == out_ch
    (the skip joins the narrow ends). Same MACs and parameters as ``keras.applications.MobileNetV2``'s blocks.
    """
    fm_dim, in_ch, out_ch = positive_int("fm_dim", fm_dim), positive_int("in_ch", in_ch), positive_int("out_ch", out_ch)
    expansion, f_dim = positive_int("expansion", expansion), positive_int("f_dim", f_dim)
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride!r}")
    wide = in_ch * expansion
    x = inputs = keras.Input((fm_dim, fm_dim, in_ch), name="narrow_in")
    x = _conv_bn_relu(x, layers.Conv2D(wide, 1, use_bias=False, name="expand"))
    x = _conv_bn_relu(x, layers.DepthwiseConv2D(f_dim, stride, "same", use_bias=False, name="depthwise"))
    x = layers.Conv2D(out_ch, 1, use_bias=False, name="project")(x)
    x = layers.BatchNormalization(name="project_bn")(x)  # linear: no ReLU here
    if stride == 1 and in_ch == out_ch:
        x = layers.Add(name="skip_add")([inputs, x])
    return keras.Model(inputs, x, name=f"inverted_residual_{in_ch}_{wide}_{out_ch}")


def _pool(same: tuple[Any, ...]) -> Any:
    """One LatencyStats (or TimedFlops) holding the samples of all rounds."""
    if isinstance(same[0], LatencyStats):
        return LatencyStats(np.concatenate([stats.samples_seconds for stats in same]))
    return replace(same[0], latency=_pool(tuple(t.latency for t in same)))


def roofline_sweep(model: keras.Model, device: str = "cpu", rounds: int = 3, repeats: int = 5, gemm_n: int = 2048,
                   stream_bytes: int = 256 * 2**20, progress: bool = False,
                   ) -> tuple[TimedFlops, BandwidthProbe, list[TimedFlops], LatencyStats, LatencyStats]:
    """Both roofs and the points under them, timed in the same rounds: ``(gemm, stream, layers, whole, overhead)``.

    Each of ``rounds`` rounds times STREAM triad and add on ``stream_bytes`` arrays, on one core and on all cores
    (``machine.measure_bandwidth``, 3 samples each, NumPy on the CPU: notebook 08's roof), then on ``device`` an
    fp32 ``gemm_n`` GEMM (2 calls), every weight layer alone (``timing.time_layers``), the whole model (batch 1,
    compiled, no XLA; ``repeats`` calls) and an empty compiled call (``timing.call_overhead``). Samples are pooled
    over the rounds: ``gemm.best_flop_per_s`` is the fastest GEMM call, ``stream`` the probe with the fastest one.
    """
    rounds, repeats = positive_int("rounds", rounds), positive_int("repeats", repeats)
    whole_call = timing.model_call(model, 1, device)
    streams = [(kind, threads) for kind in ("triad", "add") for threads in sorted({1, physical_cores()})]
    steps = tqdm(range(rounds), f"{model.name}: roofs, layers, model", leave=False, disable=not progress)
    parts = [([measure_bandwidth(stream_bytes, kind, repeats=3, threads=t) for kind, t in streams],
              measure_peak_flops(n=gemm_n, repeats=2, warmup=1, device=device),
              *timing.time_layers(model, 1, device, warmup=1, repeats=repeats),
              timing.measure_latency(whole_call, warmup=1, repeats=repeats),
              timing.call_overhead(device, repeats=4 * repeats)) for _ in steps]
    pooled = [_pool(same) for same in zip(*(part[1:] for part in parts), strict=True)]
    stream = max((probe for part in parts for probe in part[0]), key=lambda probe: probe.best_bytes_per_s)
    return pooled[0], stream, pooled[1:-2], pooled[-2], pooled[-1]
