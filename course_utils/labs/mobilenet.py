"""Efficient architectures: depthwise-separable convolutions and MobileNets (seed 003).

Seed 003 (METU / EURO4SEE, Part III.b 'Efficient Architectures') presents MobileNet V1
(Howard et al. 2017, arXiv:1704.04861) and MobileNet V2 (Sandler et al. 2018,
arXiv:1801.04381). This module holds the pieces notebook 05 computes with:

* the cost of a standard convolution against its depthwise-separable factorisation,
  seed 003's "k x k x M x N" against "k x k x M + 1 x 1 x M x N" per output pixel
  (:func:`separable_cost`, :func:`separable_cost_ratio`);
* seed 003's 'Table 1. MobileNet Body Architecture' regenerated from a built Keras
  model, with MACs and parameters per row (:func:`mobilenet_v1_body`,
  :func:`body_table`, :func:`body_differences`), and the paper's Table 2 split of
  MACs and parameters by layer type (:func:`resources_by_layer_type`);
* the paper's 'Conv MobileNet' of Table 4, the same body with standard convolutions
  (:func:`mobilenet_v1_standard_conv`);
* MobileNet V2's inverted residual block with its linear bottleneck
  (:func:`inverted_residual_block`), a classic ResNet bottleneck to compare it with
  (:func:`bottleneck_residual_block`), and the ReLU experiment of Sandler et al.'s
  Figure 1 (:func:`relu_roundtrip`);
* per-layer timing of a model, each layer alone as a ``tf.function`` on its own input
  shape, to see which layers run far below the machine's peak (:func:`time_layers`),
  and the latency of several models measured in alternating rounds, so that all see
  the same machine load (:func:`interleaved_latency`);
* a small MNIST CNN in a standard and a depthwise-separable version
  (:func:`mnist_cnn`) for a training experiment.

Names follow the paper: ``f_dim`` is the kernel side D_K, ``in_ch`` M, ``out_ch`` N,
``fm_dim`` the output feature map side D_F.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import layers

from ..profiler import profile
from ..timing import LatencyStats, measure_latency, resolve_device
from ..validators import positive_int, positive_number

__all__ = [
    "PAPER_BODY_TABLE",
    "BodyRow",
    "LayerTiming",
    "body_differences",
    "body_table",
    "bottleneck_residual_block",
    "interleaved_latency",
    "inverted_residual_block",
    "mnist_cnn",
    "mobilenet_v1_body",
    "mobilenet_v1_standard_conv",
    "relu_roundtrip",
    "resources_by_layer_type",
    "time_layers",
]


# ----------------------------------------------------------- MobileNet body table
#: Seed 003's 'Table 1. MobileNet Body Architecture' (Howard et al. 2017), as printed:
#: (type / stride, filter shape, input size, repeat). The seed's OCR slips ('Conv/sl',
#: 'Onv/sl') are read as 'Conv / s1'; the '5x' row repeats a pair of rows five times.
PAPER_BODY_TABLE: tuple[tuple[str, str, str, int], ...] = (
    ("Conv / s2", "3x3x3x32", "224x224x3", 1),
    ("Conv dw / s1", "3x3x32 dw", "112x112x32", 1),
    ("Conv / s1", "1x1x32x64", "112x112x32", 1),
    ("Conv dw / s2", "3x3x64 dw", "112x112x64", 1),
    ("Conv / s1", "1x1x64x128", "56x56x64", 1),
    ("Conv dw / s1", "3x3x128 dw", "56x56x128", 1),
    ("Conv / s1", "1x1x128x128", "56x56x128", 1),
    ("Conv dw / s2", "3x3x128 dw", "56x56x128", 1),
    ("Conv / s1", "1x1x128x256", "28x28x128", 1),
    ("Conv dw / s1", "3x3x256 dw", "28x28x256", 1),
    ("Conv / s1", "1x1x256x256", "28x28x256", 1),
    ("Conv dw / s2", "3x3x256 dw", "28x28x256", 1),
    ("Conv / s1", "1x1x256x512", "14x14x256", 1),
    ("Conv dw / s1", "3x3x512 dw", "14x14x512", 5),
    ("Conv / s1", "1x1x512x512", "14x14x512", 5),
    ("Conv dw / s2", "3x3x512 dw", "14x14x512", 1),
    ("Conv / s1", "1x1x512x1024", "7x7x512", 1),
    ("Conv dw / s2", "3x3x1024 dw", "7x7x1024", 1),
    ("Conv / s1", "1x1x1024x1024", "7x7x1024", 1),
    ("Avg Pool / s1", "Pool 7x7", "7x7x1024", 1),
    ("FC / s1", "1024x1000", "1x1x1024", 1),
    ("Softmax / s1", "Classifier", "1x1x1000", 1),
)


@dataclass(frozen=True)
class BodyRow:
    """One row of a MobileNet body table (seed 003, Table 1), with its cost per layer.

    Attributes:
        type_stride: 'Conv / s2', 'Conv dw / s1', 'Avg Pool / s1', 'FC / s1', ...
        filter_shape: '3x3x3x32' (k x k x in x out), '3x3x32 dw', 'Pool 7x7', '1024x1000'.
        input_size: the layer's input before any padding, 'H x W x C'.
        repeat: how many times the row occurs in a row (the table's '5x').
        macs: multiply-accumulates of ONE such layer, one image (from the profiler).
        params: parameters of one such layer (kernel and bias; BatchNorm not included).
        kernel_params: weights in its kernel only (no bias): what the paper's Table 2 counts.
        layer_names: the Keras layers behind the row (all repeats).
    """

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
        """macs x repeat."""
        return self.macs * self.repeat

    @property
    def total_params(self) -> int:
        """params x repeat."""
        return self.params * self.repeat

    @property
    def total_kernel_params(self) -> int:
        """kernel_params x repeat."""
        return self.kernel_params * self.repeat


def _size(shape: Sequence[int | None]) -> str:
    dims = [d for d in shape if d is not None]
    if len(dims) == 1:  # a flat vector, as the table writes it: 1 x 1 x C
        dims = [1, 1, *dims]
    return "x".join(str(d) for d in dims)


# layers that the paper's table does not list: BN and ReLU follow every conv ("All layers
# are followed by a batchnorm and ReLU nonlinearity", Section 3.2) ...
_ATTACHED = ("BatchNormalization", "ReLU")
# ... and layers that only move data: the row's input size is taken before them
_TRANSPARENT = ("InputLayer", "ZeroPadding2D", "Reshape", "Flatten", "Dropout")


def _row_for(layer: Any, in_shape: tuple) -> tuple[str, str] | None:
    """(type / stride, filter shape) of one layer, or None if the table has no row for it."""
    kind = type(layer).__name__
    if kind == "DepthwiseConv2D":
        k = "x".join(map(str, layer.kernel_size))
        multiplier = "" if layer.depth_multiplier == 1 else f"x{layer.depth_multiplier}"
        return f"Conv dw / s{layer.strides[0]}", f"{k}x{in_shape[-1]}{multiplier} dw"
    if kind == "Conv2D":
        if tuple(in_shape[:2]) == (1, 1) and tuple(layer.kernel_size) == (1, 1):
            # a 1x1 convolution on a 1x1 map is a fully connected layer (Keras' classifier)
            return "FC / s1", f"{in_shape[-1]}x{layer.filters}"
        k = "x".join(map(str, layer.kernel_size))
        return f"Conv / s{layer.strides[0]}", f"{k}x{in_shape[-1]}x{layer.filters}"
    if kind == "Dense":
        return "FC / s1", f"{in_shape[-1]}x{layer.units}"
    if kind == "GlobalAveragePooling2D":
        return "Avg Pool / s1", f"Pool {in_shape[0]}x{in_shape[1]}"
    if kind == "AveragePooling2D":
        pool = "x".join(map(str, layer.pool_size))
        return f"Avg Pool / s{layer.strides[0]}", f"Pool {pool}"
    if kind == "Softmax" or (
        kind == "Activation" and getattr(layer.activation, "__name__", "") == "softmax"
    ):
        return "Softmax / s1", "Classifier"
    return None


def _collapse(rows: list[BodyRow]) -> list[BodyRow]:
    """Merge runs of identical rows, or of identical pairs of rows, into one with ``repeat``."""
    out: list[BodyRow] = []
    i = 0
    while i < len(rows):
        merged = False
        for period in (1, 2):
            block = rows[i : i + period]
            if len(block) < period:
                continue
            n = 1
            while [r.key for r in rows[i + n * period : i + (n + 1) * period]] == [
                r.key for r in block
            ]:
                n += 1
            if n > 1:
                for j, row in enumerate(block):
                    names = tuple(
                        name for k in range(n) for name in rows[i + k * period + j].layer_names
                    )
                    out.append(
                        BodyRow(
                            row.type_stride,
                            row.filter_shape,
                            row.input_size,
                            n,
                            row.macs,
                            row.params,
                            row.kernel_params,
                            names,
                        )
                    )
                i += n * period
                merged = True
                break
        if not merged:
            out.append(rows[i])
            i += 1
    return out


def mobilenet_v1_body(model: keras.Model, collapse: bool = True) -> list[BodyRow]:
    """Seed 003's 'Table 1. MobileNet Body Architecture', read off a built Keras model.

    Walks the model's layers in order and writes one :class:`BodyRow` per convolution,
    pooling, fully connected and softmax layer, in the paper's notation: type / stride,
    filter shape, input size (before padding). BatchNorm and ReLU, which follow every
    convolution, get no row (as in the paper); padding, reshape and dropout layers
    only move data. MACs and parameters come from :func:`course_utils.profiler.profile`.
    Keras' classifier, a 1x1 convolution on the pooled 1x1x1024 map, is the paper's
    'FC' row.

    Args:
        model: a built MobileNet-like chain, e.g. ``course_utils.models.mobilenet_v1()``
            or ``keras.applications.MobileNet(weights=None)``.
        collapse: merge repeated rows (and repeated pairs of rows) into one row with
            ``repeat`` > 1, like the table's '5x'.

    Raises:
        TypeError: ``model`` is not a ``keras.Model``.
        ValueError: the model has no convolution at all.

    Layers of other kinds are named in a warning and left out of the table.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"mobilenet_v1_body: model must be a built keras.Model, got {type(model).__name__}"
        )
    costs = {row.name: row for row in profile(model).layers}
    rows: list[BodyRow] = []
    pending: tuple | None = None  # input shape before a run of data-moving layers
    skipped: list[str] = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in _ATTACHED or (
            kind == "Activation" and getattr(layer.activation, "__name__", "") != "softmax"
        ):
            continue
        if kind in _TRANSPARENT:
            if pending is None and kind != "InputLayer":
                pending = tuple(layer.input.shape[1:])
            continue
        in_shape = pending if pending is not None else tuple(layer.input.shape[1:])
        pending = None
        described = _row_for(layer, in_shape)
        if described is None:
            skipped.append(f"'{layer.name}' ({kind})")
            continue
        cost = costs.get(layer.name)
        rows.append(
            BodyRow(
                type_stride=described[0],
                filter_shape=described[1],
                input_size=_size(in_shape),
                macs=cost.macs if cost else 0,
                params=cost.params if cost else 0,
                kernel_params=cost.kernel_params if cost else 0,
                layer_names=(layer.name,),
            )
        )
    if not any(r.type_stride.startswith("Conv") for r in rows):
        raise ValueError(
            f"mobilenet_v1_body: model '{model.name}' has no Conv2D or DepthwiseConv2D layer; "
            "pass a MobileNet-like model, e.g. course_utils.models.mobilenet_v1()"
        )
    if skipped:
        warnings.warn(
            "mobilenet_v1_body: no table row for layer(s) " + ", ".join(skipped) + "; they are "
            "left out of the table (their MACs are still in profile(model)).",
            stacklevel=2,
        )
    return _collapse(rows) if collapse else rows


def body_table(rows: Iterable[BodyRow]) -> str:
    """The rows as a printable table in the paper's layout, with MACs and params per row.

    Repeated rows show '5x' in front and their MACs and params for all repeats.
    """
    rows = list(rows)
    header = (
        f"{'Type / Stride':<19} {'Filter Shape':<15} {'Input Size':<12} {'MACs':>13} {'params':>11}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        label = (f"{r.repeat}x " if r.repeat > 1 else "") + r.type_stride
        lines.append(
            f"{label:<19} {r.filter_shape:<15} {r.input_size:<12} "
            f"{r.total_macs:>13,} {r.total_params:>11,}"
        )
    lines.append("-" * len(header))
    macs = sum(r.total_macs for r in rows)
    params = sum(r.total_params for r in rows)
    lines.append(f"{'total':<48} {macs:>13,} {params:>11,}")
    return "\n".join(lines)


def body_differences(
    rows: Sequence[BodyRow],
    paper: Sequence[tuple[str, str, str, int]] = PAPER_BODY_TABLE,
) -> list[str]:
    """Where a body table differs from the paper's Table 1, one sentence per difference.

    Compares row by row: type / stride, filter shape, input size and repeat count.
    Returns an empty list when they agree everywhere.
    """
    diffs: list[str] = []
    fields = ("type / stride", "filter shape", "input size", "repeat")
    for i, (row, ref) in enumerate(zip(rows, paper, strict=False), start=1):
        ours = (*row.key, row.repeat)
        for name, a, b in zip(fields, ours, ref, strict=True):
            if a != b:
                diffs.append(
                    f"row {i} ({ref[0]}, {ref[1]}): {name} is {a!r} in the model, "
                    f"{b!r} in the paper"
                )
    if len(rows) != len(paper):
        diffs.append(f"the model has {len(rows)} rows, the paper {len(paper)}")
    return diffs


def resources_by_layer_type(rows: Iterable[BodyRow]) -> dict[str, dict[str, float]]:
    """Share of MACs and kernel weights per layer type: Howard et al. 2017, Table 2.

    Types as in the paper: 'Conv 1x1', 'Conv DW 3x3', 'Conv 3x3', 'Fully Connected'
    (other kernel sizes get their own 'Conv kxk' entries). Returns
    ``{type: {'macs', 'kernel_params', 'macs_share', 'params_share'}}``, shares as
    fractions of the totals over these types (pooling and softmax have neither).
    """
    groups: dict[str, dict[str, float]] = {}
    for r in rows:
        if r.type_stride.startswith("FC"):
            kind = "Fully Connected"
        elif r.type_stride.startswith("Conv dw"):
            kind = "Conv DW " + r.filter_shape.split("x")[0] + "x" + r.filter_shape.split("x")[1]
        elif r.type_stride.startswith("Conv"):
            k = r.filter_shape.split("x")
            kind = f"Conv {k[0]}x{k[1]}"
        else:
            continue
        g = groups.setdefault(kind, {"macs": 0, "kernel_params": 0})
        g["macs"] += r.total_macs
        g["kernel_params"] += r.total_kernel_params
    total_macs = sum(g["macs"] for g in groups.values()) or 1
    total_params = sum(g["kernel_params"] for g in groups.values()) or 1
    for g in groups.values():
        g["macs_share"] = g["macs"] / total_macs
        g["params_share"] = g["kernel_params"] / total_params
    return groups


# (filters, stride) of MobileNet V1's 13 depthwise-separable blocks (Table 1)
_V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    *((512, 1),) * 5,
    (1024, 2),
    (1024, 1),  # Table 1 prints s2 here, but its own sizes (and 569 M MACs) need s1
)


def mobilenet_v1_standard_conv(
    alpha: float = 1.0, resolution: int = 224, classes: int = 1000
) -> keras.Model:
    """The paper's 'Conv MobileNet' (Howard et al. 2017, Table 4): MobileNet V1 with
    every depthwise-separable pair replaced by one standard 3x3 convolution.

    Same widths, strides and head as MobileNet V1 (Table 1): a 3x3/2 stem conv, 13
    conv layers 3x3 (each followed by BatchNorm and ReLU), global average pooling, a
    fully connected layer and softmax. The paper reports 4866 M mult-adds and 29.3 M
    parameters; this model has 4867.3 M (its FC layer adds 1.0 M) and 29.3 M.

    Args:
        alpha: width multiplier (channels x alpha, as in ``keras.applications.MobileNet``).
        resolution: input side in pixels.
        classes: outputs of the classifier.
    """
    alpha = positive_number("alpha", alpha)
    resolution = positive_int("resolution", resolution)
    classes = positive_int("classes", classes)
    x = inputs = keras.Input((resolution, resolution, 3))
    x = layers.Conv2D(int(32 * alpha), 3, strides=2, padding="same", use_bias=False, name="conv1")(
        x
    )
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)
    for i, (filters, stride) in enumerate(_V1_BLOCKS, start=1):
        x = layers.Conv2D(
            int(filters * alpha),
            3,
            strides=stride,
            padding="same",
            use_bias=False,
            name=f"conv_{i}",
        )(x)
        x = layers.BatchNormalization(name=f"conv_{i}_bn")(x)
        x = layers.ReLU(6.0, name=f"conv_{i}_relu")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="fc")(x)
    return keras.Model(inputs, outputs, name=f"conv_mobilenet_{alpha:g}_{resolution}")


# ------------------------------------------------------------------ MobileNet V2
def inverted_residual_block(
    fm_dim: int,
    in_ch: int,
    out_ch: int,
    expansion: int = 6,
    stride: int = 1,
    f_dim: int = 3,
) -> keras.Model:
    """MobileNet V2's inverted residual block with a linear bottleneck, as a small model.

    Sandler et al. 2018, Table 1 ('Bottleneck residual block'); seed 003, 'MobileNet
    V2: Inverted Residuals' and 'Linear Bottlenecks':

    1. expand: 1x1 conv in_ch -> t * in_ch, BatchNorm, ReLU6 (wide);
    2. depthwise: k x k depthwise conv with ``stride``, BatchNorm, ReLU6 (still wide);
    3. project: 1x1 conv t * in_ch -> out_ch, BatchNorm and **no activation** (the
       linear bottleneck: a ReLU on this narrow tensor would destroy information);
    4. add the input when stride is 1 and in_ch == out_ch: the skip connection joins
       the *narrow* ends, the inverse of a ResNet bottleneck.

    Layer by layer this is ``keras.applications.MobileNetV2``'s block (same MACs and
    parameters; Keras pads stride-2 blocks explicitly, with the same output size).

    Args:
        fm_dim: side of the input feature map.
        in_ch, out_ch: channels at the narrow ends.
        expansion: t, the expansion factor (6 in the paper).
        stride: 1 or 2 (of the depthwise layer).
        f_dim: side of the depthwise kernel.
    """
    fm_dim = positive_int("fm_dim", fm_dim)
    in_ch = positive_int("in_ch", in_ch)
    out_ch = positive_int("out_ch", out_ch)
    expansion = positive_int("expansion", expansion)
    f_dim = positive_int("f_dim", f_dim)
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride!r}")
    wide = in_ch * expansion
    x = inputs = keras.Input((fm_dim, fm_dim, in_ch), name="narrow_in")
    x = layers.Conv2D(wide, 1, use_bias=False, name="expand")(x)
    x = layers.BatchNormalization(name="expand_bn")(x)
    x = layers.ReLU(6.0, name="expand_relu6")(x)
    x = layers.DepthwiseConv2D(
        f_dim, strides=stride, padding="same", use_bias=False, name="depthwise"
    )(x)
    x = layers.BatchNormalization(name="depthwise_bn")(x)
    x = layers.ReLU(6.0, name="depthwise_relu6")(x)
    x = layers.Conv2D(out_ch, 1, use_bias=False, name="project")(x)
    x = layers.BatchNormalization(name="project_bn")(x)  # linear: no ReLU here
    if stride == 1 and in_ch == out_ch:
        x = layers.Add(name="skip_add")([inputs, x])
    return keras.Model(inputs, x, name=f"inverted_residual_{in_ch}_{wide}_{out_ch}")


def bottleneck_residual_block(
    fm_dim: int, ch: int, bottleneck_ch: int, f_dim: int = 3
) -> keras.Model:
    """A classic ResNet bottleneck block (He et al. 2016, Fig. 5 right): wide -> narrow -> wide.

    1x1 conv ch -> bottleneck_ch, 3x3 conv bottleneck_ch -> bottleneck_ch, 1x1 conv
    bottleneck_ch -> ch, each with BatchNorm; ReLU after the first two and after the
    skip addition, which joins the *wide* ends. The contrast to
    :func:`inverted_residual_block` (seed 003: "skip connections exist between narrow
    parts of the network which is opposite of how an original residual connection works").
    """
    fm_dim = positive_int("fm_dim", fm_dim)
    ch = positive_int("ch", ch)
    bottleneck_ch = positive_int("bottleneck_ch", bottleneck_ch)
    f_dim = positive_int("f_dim", f_dim)
    x = inputs = keras.Input((fm_dim, fm_dim, ch), name="wide_in")
    x = layers.Conv2D(bottleneck_ch, 1, use_bias=False, name="reduce")(x)
    x = layers.BatchNormalization(name="reduce_bn")(x)
    x = layers.ReLU(name="reduce_relu")(x)
    x = layers.Conv2D(bottleneck_ch, f_dim, padding="same", use_bias=False, name="conv")(x)
    x = layers.BatchNormalization(name="conv_bn")(x)
    x = layers.ReLU(name="conv_relu")(x)
    x = layers.Conv2D(ch, 1, use_bias=False, name="restore")(x)
    x = layers.BatchNormalization(name="restore_bn")(x)
    x = layers.Add(name="skip_add")([inputs, x])
    x = layers.ReLU(name="out_relu")(x)
    return keras.Model(inputs, x, name=f"resnet_bottleneck_{ch}_{bottleneck_ch}_{ch}")


def relu_roundtrip(points: Any, dim: int, seed: int = 0) -> np.ndarray:
    """Embed 2-D points in ``dim`` dimensions, apply ReLU, map back: Sandler et al. 2018, Fig. 1.

    x (n, 2) -> y = ReLU(x T^T) with a random Gaussian T (dim x 2) -> x' = y W, where
    W (dim x 2) is the linear map that best recovers x from y (least squares over the
    points): the best a following linear layer could do. In few dimensions the ReLU
    zeroes coordinates that carried the only copy of some information and x' is badly
    damaged; in many dimensions every point keeps enough positive coordinates and x'
    is almost exact. This is why MobileNet V2 keeps its narrow bottlenecks linear
    (seed 003, 'Linear Bottlenecks'). (The paper maps back with T^-1; in many
    dimensions that recovers the same shape at about half the scale, because
    ReLU(z) = (z + |z|) / 2.)

    Args:
        points: array of shape (n, 2).
        dim: the embedding dimension n of the paper (>= 2).
        seed: seed of the random matrix T.

    Returns:
        x', the recovered points, shape (n, 2).
    """
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {x.shape}")
    dim = positive_int("dim", dim)
    if dim < 2:
        raise ValueError(f"dim must be >= 2 (the points are 2-D), got {dim}")
    t = np.random.default_rng(seed).standard_normal((dim, 2))
    y = np.maximum(x @ t.T, 0.0)
    readout, *_ = np.linalg.lstsq(y, x, rcond=None)
    return y @ readout


# ----------------------------------------------------------------- per-layer timing
@dataclass(frozen=True)
class LayerTiming:
    """One layer timed alone on its own input shape.

    Attributes:
        name, kind: the Keras layer's name and class.
        macs: its multiply-accumulates for the batch (profiler).
        bytes_moved: weights + input + output activations in bytes, as if each went
            to memory once (the profiler's weight, activation and output bytes).
        latency: the timings (seconds) of one call of the layer on the batch.
        overhead_seconds: the fixed cost of calling a compiled function at all,
            measured on an empty call (see :func:`time_layers`); 0 if not measured.
    """

    name: str
    kind: str
    macs: int
    bytes_moved: float
    latency: LatencyStats
    overhead_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        """Median seconds per call, call overhead included."""
        return self.latency.median

    @property
    def net_seconds(self) -> float:
        """Median seconds per call minus the call overhead: the layer's own work.

        Can come out <= 0 for a tiny layer on a busy machine, where the overhead
        estimate is as large as the layer's whole time.
        """
        return self.seconds - self.overhead_seconds

    @property
    def flops(self) -> int:
        """2 x MACs."""
        return 2 * self.macs

    @property
    def flop_per_s(self) -> float:
        """Achieved FLOP/s of the layer's own work: flops / net_seconds (nan if net <= 0)."""
        return self.flops / self.net_seconds if self.net_seconds > 0 else math.nan

    @property
    def intensity_flop_per_byte(self) -> float:
        """Arithmetic intensity: flops / bytes_moved (roofline x axis, Williams et al. 2009)."""
        return self.flops / self.bytes_moved if self.bytes_moved else math.inf


def time_layers(
    model: keras.Model,
    kinds: Sequence[str] = ("Conv2D", "DepthwiseConv2D", "Dense"),
    batch_size: int = 1,
    warmup: int = 3,
    repeats: int = 10,
    device: str = "cpu",
    progress: bool = False,
    subtract_overhead: bool = True,
) -> list[LayerTiming]:
    """Time each layer of ``model`` of the given kinds alone, as a ``tf.function``.

    For every top-level layer whose class name is in ``kinds`` (nested models are not
    entered), a random float32 batch of the layer's input shape is made once, and
    ``layer(x)`` compiled as one ``tf.function`` is timed with
    :func:`course_utils.timing.measure_latency` (``warmup`` untimed calls, then
    ``repeats`` timed ones, result materialised). MACs and bytes come from
    :func:`course_utils.profiler.profile` with the same batch size, so each result
    knows its achieved FLOP/s and its arithmetic intensity: the points of a roofline
    plot (seed 004, 'Roofline'). Timing layers one by one leaves out what a whole
    graph shares (fusion, caches kept warm by the previous layer), so the sum of the
    layer times differs from the model's latency.

    Every standalone call also pays a fixed cost that has nothing to do with the layer
    (entering the compiled function, handing over the tensors): on a 2-core CPU a
    fraction of a millisecond, as much as a small layer's work. With
    ``subtract_overhead`` it is measured by timing an empty call (one addition on a
    single number) after each layer, interleaved so both see the same machine load;
    the median of those samples is each result's ``overhead_seconds``, and
    ``net_seconds`` / ``flop_per_s`` leave it out.

    Args:
        model: a built ``keras.Model`` whose layers are each called once.
        kinds: Keras class names to time.
        batch_size: images per call.
        warmup, repeats: see :func:`~course_utils.timing.measure_latency`.
        device: 'cpu', 'gpu' or a TensorFlow device string.
        progress: show one tqdm bar over the layers.
        subtract_overhead: measure the empty-call overhead (see above); False sets it to 0.

    Raises:
        TypeError: ``model`` is not a ``keras.Model``.
        ValueError: no layer of these kinds, or bad ``batch_size``.
    """
    import tensorflow as tf

    if not isinstance(model, keras.Model):
        raise TypeError(f"time_layers: model must be a keras.Model, got {type(model).__name__}")
    batch_size = positive_int("batch_size", batch_size)
    if isinstance(kinds, str):
        kinds = (kinds,)
    chosen = [layer for layer in model.layers if type(layer).__name__ in kinds]
    if not chosen:
        present = sorted({type(layer).__name__ for layer in model.layers})
        raise ValueError(
            f"time_layers: model '{model.name}' has no layer of kinds {list(kinds)}; "
            f"its kinds are {present}"
        )
    placement = resolve_device(device)
    costs = {row.name: row for row in profile(model, batch_size=batch_size).layers}
    steps: Iterable[Any] = chosen
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(chosen, desc="timing layers", unit="layer", leave=False)
    with tf.device(placement):
        one_number = tf.zeros((1,), dtype=tf.float32)

    def empty(v: Any) -> Any:
        with tf.device(placement):
            return v + 1.0

    empty_call = tf.function(empty)
    measured: list[tuple[Any, LatencyStats]] = []
    overhead_samples: list[np.ndarray] = []
    for layer in steps:
        shape = (batch_size, *layer.input.shape[1:])
        with tf.device(placement):
            x = tf.random.stateless_uniform(shape, seed=(0, 0), dtype=tf.float32)

        def call(inputs: Any, layer: Any = layer) -> Any:
            with tf.device(placement):
                return layer(inputs)

        measured.append(
            (layer, measure_latency(tf.function(call), x, warmup=warmup, repeats=repeats))
        )
        if subtract_overhead:
            idle = measure_latency(empty_call, one_number, warmup=1, repeats=repeats)
            overhead_samples.append(idle.samples_seconds)
    overhead = float(np.median(np.concatenate(overhead_samples))) if overhead_samples else 0.0
    results = []
    for layer, stats in measured:
        row = costs[layer.name]
        moved = row.weight_bytes + row.activation_bytes + row.output_bytes
        results.append(
            LayerTiming(layer.name, type(layer).__name__, row.macs, moved, stats, overhead)
        )
    return results


def interleaved_latency(
    models: Mapping[str, keras.Model],
    batch_size: int = 1,
    rounds: int = 5,
    repeats: int | Mapping[str, int] = 10,
    warmup: int = 3,
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, LatencyStats]:
    """Latency of several models on one random batch each, measured in alternating rounds.

    Comparing models means comparing their latencies under the same conditions. On a
    machine that also runs other work, the load changes from second to second, and a
    model timed while it was busy looks slower than one timed a moment later. So each
    model first gets ``warmup`` untimed calls, then the models take turns: in each of
    ``rounds`` rounds every model is timed ``repeats`` times (a number, or one per model
    name, e.g. fewer for a slow model) with :func:`course_utils.timing.measure_latency`.
    Each model runs as one ``tf.function`` (:func:`course_utils.timing.compiled_predict`).

    Args:
        models: ``{name: built keras.Model}``.
        batch_size: images per call.
        rounds: how many times the models take turns.
        repeats: timed calls per model and round.
        warmup: untimed calls per model before the first round.
        device: 'cpu', 'gpu' or a TensorFlow device string.
        progress: one tqdm bar over the rounds.

    Returns:
        ``{name: LatencyStats}`` with ``rounds x repeats`` samples each, seconds per call.
    """
    import tensorflow as tf

    from ..timing import compiled_predict, materialize

    if not models:
        raise ValueError("interleaved_latency: models is empty; pass {'name': model, ...}")
    batch_size = positive_int("batch_size", batch_size)
    rounds = positive_int("rounds", rounds)
    if isinstance(repeats, Mapping):
        missing = [name for name in models if name not in repeats]
        if missing:
            raise ValueError(f"interleaved_latency: repeats has no entry for {missing}")
        counts = {name: positive_int(f"repeats[{name!r}]", repeats[name]) for name in models}
    else:
        counts = dict.fromkeys(models, positive_int("repeats", repeats))
    if isinstance(warmup, bool) or not isinstance(warmup, numbers.Integral) or warmup < 0:
        raise ValueError(f"warmup must be an integer >= 0, got {warmup!r}")
    placement = resolve_device(device)
    calls, inputs = {}, {}
    for name, model in models.items():
        if not isinstance(model, keras.Model):
            raise TypeError(
                f"interleaved_latency: models[{name!r}] must be a keras.Model, "
                f"got {type(model).__name__}"
            )
        shape = tuple(model.input_shape[1:])
        if any(d is None for d in shape):
            raise ValueError(
                f"interleaved_latency: model {name!r} has an unknown input dimension {shape}; "
                "build it with a fixed keras.Input(shape=...)"
            )
        with tf.device(placement):
            inputs[name] = tf.random.stateless_uniform(
                (batch_size, *shape), seed=(0, 0), dtype=tf.float32
            )
        calls[name] = compiled_predict(model, placement)
        for _ in range(warmup):
            materialize(calls[name](inputs[name]))
    samples: dict[str, list[np.ndarray]] = {name: [] for name in models}
    steps: Iterable[int] = range(rounds)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="timing rounds", unit="round", leave=False)
    for _ in steps:
        for name in models:
            stats = measure_latency(calls[name], inputs[name], warmup=0, repeats=counts[name])
            samples[name].append(stats.samples_seconds)
    return {name: LatencyStats(np.concatenate(parts)) for name, parts in samples.items()}


# ------------------------------------------------------------ the MNIST experiment
def mnist_cnn(
    separable: bool = False,
    widths: Sequence[int] = (16, 32, 64),
    input_shape: tuple[int, int, int] = (28, 28, 1),
    classes: int = 10,
) -> keras.Model:
    """A small MNIST CNN, with standard or depthwise-separable convolutions (notebook 05).

    conv 3x3 widths[0] -> max pool 2 -> block widths[1] -> max pool 2 -> block widths[2]
    -> global average pool -> Dense ``classes`` softmax, ReLU and BatchNorm after every
    convolution. A *block* is one 3x3 convolution (``separable=False``) or, as in
    MobileNet V1, a 3x3 depthwise convolution and a 1x1 pointwise convolution
    (``separable=True``). The first convolution stays standard in both versions, as
    in MobileNet: on one input channel a depthwise split saves nothing.

    Args:
        separable: use depthwise-separable blocks.
        widths: output channels of the first conv and of the two blocks.
        input_shape: (H, W, C) of the images.
        classes: outputs.
    """
    widths = tuple(positive_int("widths entries", w) for w in widths)
    if len(widths) != 3:
        raise ValueError(f"widths must have 3 entries (stem, block 1, block 2), got {widths}")
    classes = positive_int("classes", classes)
    tag = "separable" if separable else "standard"

    def conv_bn_relu(x: Any, layer: Any) -> Any:
        x = layer(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{layer.name}_bn")(x)
        return layers.ReLU(name=f"{layer.name}_relu")(x)

    x = inputs = keras.Input(input_shape)
    x = conv_bn_relu(x, layers.Conv2D(widths[0], 3, padding="same", use_bias=False, name="conv1"))
    for i, width in enumerate(widths[1:], start=2):
        x = layers.MaxPooling2D(2, name=f"pool{i - 1}")(x)
        if separable:
            x = conv_bn_relu(
                x, layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"conv{i}_dw")
            )
            x = conv_bn_relu(x, layers.Conv2D(width, 1, use_bias=False, name=f"conv{i}_pw"))
        else:
            x = conv_bn_relu(
                x, layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{i}")
            )
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="fc")(x)
    return keras.Model(inputs, outputs, name=f"mnist_cnn_{tag}")
