"""Per-layer parameters, MACs, FLOPs and bytes of any built Keras 3 model.

``profile(model)`` walks the model's layer graph (no tracing, no forward pass: a
ResNet-50 takes a few milliseconds) and applies, to every layer, the cost rule of
its kind. The rules generalise the closed forms of seed 004 ("Inference: Compute &
Memory Analysis", see :mod:`course_utils.costs`) to any stride, padding, dilation,
group count and tensor rank, by reading the output shape from the graph:

* **MACs** are the multiply-accumulates of the weight layers only (Dense, the
  convolutions, the recurrent layers): one per weight use. A Dense layer on an
  input of shape (..., IN) costs prod(...) * IN * OUT; a convolution costs
  (output elements) * (IN_CH / groups) * prod(kernel). ``flops = 2 * macs``, the
  seed's O_i. Bias adds are *not* MACs; they go to ``other_ops`` under
  ``'bias_add'`` (TensorFlow's profiler adds them to its FLOP count).
* **other_ops** is all the other arithmetic, one op per element and operation,
  itemised in ``LayerRow.ops_breakdown``. The rules, per element:

  ====================  =============================================================
  kind                  ops
  ====================  =============================================================
  bias_add              1 per output element of a layer with a bias
  activations           relu 1 (max), relu6 2, leaky_relu 2 (mul, max), sigmoid 1,
                        tanh 1, elu 2, softmax 5 (max, subtract, exp, sum, divide; the
                        5 TensorFlow's profiler charges), ... see ``ACTIVATION_OPS``
  MaxPooling            k - 1 comparisons per output (k = prod(pool_size))
  AveragePooling        k per output (k - 1 adds and a divide; TF's count too)
  GlobalAveragePooling  1 per input element; GlobalMaxPooling: 1 per input element
                        minus 1 per output (comparisons)
  BatchNormalization    2 per element (scale and shift, inference with folded stats)
  LayerNormalization    5 per element (mean 1; variance 3: subtract, square, add;
                        normalise 1) plus 1 for scale and 1 for center
  Add/Subtract/...      (inputs - 1) per output element; Average: inputs per output
  Rescaling             1 (scale) + 1 if it has an offset; Normalization 2
  Embedding             1 'lookup' per token (a gather: memory, no arithmetic)
  recurrent cells       per step: 'bias_add', 'rnn_add' (x W + h U per gate unit),
                        gate activations, and 'rnn_cell' state updates (LSTM 4 per
                        unit: f*c, i*g, +, o*tanh(c); GRU 5; SimpleRNN 0)
  ====================  =============================================================

  Reshaping layers (Flatten, Reshape, Permute, ZeroPadding, Cropping,
  RepeatVector, nearest UpSampling, Concatenate) and inference-time identities
  (Dropout and friends) cost 0; ``InputLayer`` gets no row.
* **Bytes** use one precision ``bits`` for everything: ``weight_bytes`` =
  params * bits / 8 (BatchNorm's moving statistics included), ``activation_bytes``
  = the layer's *input* activations, the seed's A_i = BATCH * inputs * BITS / 8,
  ``output_bytes`` likewise for its outputs.

Layers the profiler has no rule for (custom layers, Lambda, attention, ...) are
listed in ``Profile.unknown`` and named in one ``warnings.warn`` per kind: they are
never silently counted as zero. Nested models (``keras.applications`` inside a
Sequential) are walked recursively; their rows are named ``outer/inner``. A layer
called several times (a shared layer) gets one row per call; its parameters and
weight bytes are counted at the first call only, so the totals count each weight
once. A nested model is costed with the shapes of its own graph.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import keras

from .costs import RNN_GATES
from .units import format_count
from .validators import positive_int, positive_number

__all__ = ["ACTIVATION_OPS", "LayerRow", "Profile", "profile"]

Shape = tuple[int, ...]

# fmt: off
ACTIVATION_OPS: dict[str, int] = {
    "linear": 0, "relu": 1, "relu6": 2, "leaky_relu": 2, "elu": 2, "selu": 3, "celu": 3,
    "sigmoid": 1, "hard_sigmoid": 2, "log_sigmoid": 2, "tanh": 1, "hard_tanh": 2,
    "exponential": 1, "softplus": 2, "softsign": 3, "silu": 2, "swish": 2, "hard_silu": 3,
    "hard_swish": 3, "gelu": 4, "mish": 3, "softmax": 5, "log_softmax": 5,
}
# fmt: on
"""Ops per element of each activation function: one op per elementwise arithmetic step or
special function (exp, tanh, erf): relu = max(x, 0); relu6 max and min; leaky_relu mul and
max; hard_sigmoid clip(x / 6 + 0.5); softplus exp and log1p; softsign abs, add, divide;
gelu x * 0.5 * (1 + erf(x / sqrt 2)); softmax max, subtract, exp, sum, divide."""

# fmt: off
_CATEGORIES: dict[str, tuple[str, ...]] = {
    "conv": ("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
             "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"),
    "fc": ("Dense",),
    "rnn": ("SimpleRNN", "GRU", "LSTM", "Bidirectional"),
}
# fmt: on


@dataclass
class _Cost:
    """Per-sample cost a rule returns; ``missing`` says what it could not count."""

    macs: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    missing: str | None = None

    def add(self, key: str, n: int) -> None:
        if n:
            self.ops[key] = self.ops.get(key, 0) + int(n)

    def scaled(self, factor: int) -> _Cost:
        return _Cost(self.macs * factor, {k: v * factor for k, v in self.ops.items()}, self.missing)


Rule = Callable[[Any, list[Shape], list[Shape]], _Cost]


# ---------------------------------------------------------------------------- helpers
def _elems(shape: Shape) -> int:
    return math.prod(shape)


def _channel_axis(layer: Any) -> int:
    """Channel axis in a shape without the batch dimension."""
    return 0 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1


def _spatial(layer: Any, shape: Shape) -> Shape:
    return shape[1:] if _channel_axis(layer) == 0 else shape[:-1]


_ACTIVATION_BY_ID: dict[int, str] | None = None


def _activation_name(fn: Any) -> str:
    """The Keras name of an activation function ('relu', ...), else its __name__."""
    global _ACTIVATION_BY_ID
    if _ACTIVATION_BY_ID is None:
        _ACTIVATION_BY_ID = {}
        for name in ACTIVATION_OPS:
            try:
                _ACTIVATION_BY_ID.setdefault(id(keras.activations.get(name)), name)
            except ValueError:  # pragma: no cover - a name this Keras lacks
                pass
    if isinstance(fn, str):
        return fn
    if fn is None:
        return "linear"
    return _ACTIVATION_BY_ID.get(id(fn), getattr(fn, "__name__", type(fn).__name__))


def _add_activation(cost: _Cost, fn: Any, n: int) -> None:
    """Add the ops of activation ``fn`` on ``n`` elements, or note it as missing."""
    name = _activation_name(fn)
    if name in ACTIVATION_OPS:
        cost.add(name, ACTIVATION_OPS[name] * n)
    else:
        cost.missing = f"activation function '{name}'"


def _bias_and_activation(layer: Any, cost: _Cost, n_out: int) -> _Cost:
    if getattr(layer, "use_bias", False):
        cost.add("bias_add", n_out)
    _add_activation(cost, getattr(layer, "activation", None), n_out)
    return cost


# ------------------------------------------------------------------------------ rules
def _dense(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    # (..., IN) x (IN, OUT): one IN-long dot product per output element
    n_out = _elems(outs[0])
    return _bias_and_activation(layer, _Cost(macs=n_out * ins[0][-1]), n_out)


def _conv(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    # every output element is a dot product over (IN_CH / groups) * prod(kernel) inputs
    in_ch = ins[0][_channel_axis(layer)]
    per_output = (in_ch // getattr(layer, "groups", 1)) * math.prod(layer.kernel_size)
    n_out = _elems(outs[0])
    return _bias_and_activation(layer, _Cost(macs=n_out * per_output), n_out)


def _conv_transpose(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    # every input element is scattered through OUT_CH * prod(kernel) weights
    macs = _elems(ins[0]) * layer.filters * math.prod(layer.kernel_size)
    return _bias_and_activation(layer, _Cost(macs=macs), _elems(outs[0]))


def _depthwise(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    # one prod(kernel) filter per output channel (IN_CH * depth_multiplier of them)
    n_out = _elems(outs[0])
    return _bias_and_activation(layer, _Cost(macs=n_out * math.prod(layer.kernel_size)), n_out)


def _separable(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    # depthwise (at the layer's stride) then a 1x1 pointwise conv: seed 003's k*k*M + M*N
    pixels = _elems(_spatial(layer, outs[0]))
    mid_ch = ins[0][_channel_axis(layer)] * layer.depth_multiplier
    depthwise = pixels * mid_ch * math.prod(layer.kernel_size)
    pointwise = pixels * mid_ch * layer.filters
    return _bias_and_activation(layer, _Cost(macs=depthwise + pointwise), _elems(outs[0]))


def _pooling(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    k = math.prod(layer.pool_size)
    cost = _Cost()
    if "Max" in type(layer).__name__:
        cost.add("max_pool", (k - 1) * _elems(outs[0]))
    else:
        cost.add("avg_pool", k * _elems(outs[0]))
    return cost


def _global_pooling(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    cost = _Cost()
    if "Max" in type(layer).__name__:
        cost.add("max_pool", _elems(ins[0]) - _elems(outs[0]))
    else:
        cost.add("avg_pool", _elems(ins[0]))
    return cost


def _batch_norm(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    cost = _Cost()
    cost.add("batch_norm", 2 * _elems(outs[0]))
    return cost


def _layer_norm(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    per_element = 5 + bool(getattr(layer, "scale", True)) + bool(getattr(layer, "center", True))
    cost = _Cost()
    cost.add("layer_norm", per_element * _elems(outs[0]))
    return cost


def _activation_layer(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    cost = _Cost()
    n = _elems(outs[0])
    kind = type(layer).__name__
    if kind == "ReLU":
        extra = (layer.max_value is not None) + (layer.negative_slope != 0)
        cost.add("relu", (1 + extra) * n)
    elif kind in ("LeakyReLU", "PReLU"):
        cost.add("leaky_relu", 2 * n)
    elif kind == "ELU":
        cost.add("elu", ACTIVATION_OPS["elu"] * n)
    elif kind == "Softmax":
        cost.add("softmax", ACTIVATION_OPS["softmax"] * n)
    else:  # Activation
        _add_activation(cost, layer.activation, n)
    return cost


def _elementwise(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    # n inputs -> n - 1 binary operations per output element (at least 1: x * 2.0)
    cost = _Cost()
    n_out = _elems(outs[0])
    key = type(layer).__name__.lower()
    if key == "average":
        cost.add(key, len(ins) * n_out)  # n - 1 adds and a divide
    else:
        cost.add(key, max(1, len(ins) - 1) * n_out)
    return cost


def _rescaling(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    cost = _Cost()
    offset = layer.offset
    has_offset = not (isinstance(offset, (int, float)) and offset == 0)
    cost.add("rescaling", (1 + has_offset) * _elems(outs[0]))
    return cost


def _normalization(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    cost = _Cost()
    cost.add("normalization", 2 * _elems(outs[0]))  # (x - mean) / std
    return cost


def _embedding(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    cost = _Cost()
    cost.add("lookup", _elems(ins[0]))
    return cost


def _zero(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    return _Cost()


def _upsampling(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    interpolation = getattr(layer, "interpolation", "nearest")
    if interpolation != "nearest":
        return _Cost(missing=f"interpolation '{interpolation}'")
    return _Cost()


_KERAS_RNN = {"SimpleRNN": "rnn", "GRU": "gru", "LSTM": "lstm"}


def _rnn(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    """Per sequence: SEQ steps of GATES * (FM_DIM + HID) * HID MACs (seed 004, recurrent)."""
    kind = type(layer).__name__
    if kind not in _KERAS_RNN:
        return _Cost(missing=f"recurrent layer '{kind}'")
    seq, fm_dim = ins[0][0], ins[0][-1]
    hid, gates = layer.units, RNN_GATES[_KERAS_RNN[kind]]
    step = _Cost(macs=gates * (fm_dim + hid) * hid)
    step.add("rnn_add", gates * hid)  # x W + h U
    cell = layer.cell
    if cell.use_bias:
        two_biases = kind == "GRU" and cell.reset_after
        step.add("bias_add", gates * hid * (2 if two_biases else 1))
    if kind == "SimpleRNN":
        _add_activation(step, cell.activation, hid)
    elif kind == "LSTM":
        _add_activation(step, cell.recurrent_activation, 3 * hid)  # i, f, o
        _add_activation(step, cell.activation, 2 * hid)  # g and tanh(c)
        step.add("rnn_cell", 4 * hid)  # f*c, i*g, +, o*tanh(c)
    else:  # GRU
        _add_activation(step, cell.recurrent_activation, 2 * hid)  # z, r
        _add_activation(step, cell.activation, hid)  # candidate
        step.add("rnn_cell", 5 * hid)  # r*(hU), 1-z, z*h, (1-z)*h~, +
    return step.scaled(seq)


def _bidirectional(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    fwd = _rnn(layer.forward_layer, ins, outs)
    bwd = _rnn(layer.backward_layer, ins, outs)
    cost = _Cost(macs=fwd.macs + bwd.macs, missing=fwd.missing or bwd.missing)
    for part in (fwd, bwd):
        for key, n in part.ops.items():
            cost.add(key, n)
    merge_ops = {"sum": 1, "mul": 1, "ave": 2}.get(layer.merge_mode, 0)
    n_merged = sum(_elems(s) for s in outs) if merge_ops else 0
    cost.add(f"merge_{layer.merge_mode}", merge_ops * n_merged)
    return cost


def _time_distributed(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    inner = layer.layer
    rule = _rule_for(inner)
    if rule is None:
        return _Cost(missing=f"wrapped layer kind '{type(inner).__name__}'")
    steps = ins[0][0]
    return rule(inner, [s[1:] for s in ins], [s[1:] for s in outs]).scaled(steps)


def _kinds(*names: str, dims: str = "") -> tuple[str, ...]:
    """('MaxPooling', dims='123') -> ('MaxPooling1D', 'MaxPooling2D', 'MaxPooling3D')."""
    return tuple(f"{n}{d}D" for n in names for d in dims) if dims else names


# fmt: off
_RULES: dict[str, Rule] = {
    "Dense": _dense,
    **dict.fromkeys(_kinds("Conv", dims="123"), _conv),
    **dict.fromkeys(tuple(f"Conv{d}DTranspose" for d in "123"), _conv_transpose),
    **dict.fromkeys(_kinds("DepthwiseConv", dims="12"), _depthwise),
    **dict.fromkeys(_kinds("SeparableConv", dims="12"), _separable),
    **dict.fromkeys(_kinds("MaxPooling", "AveragePooling", dims="123"), _pooling),
    **dict.fromkeys(_kinds("GlobalAveragePooling", "GlobalMaxPooling", dims="123"), _global_pooling),
    "BatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm,
    **dict.fromkeys(("Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"), _activation_layer),
    # merge layers, and the same-named keras.ops classes of x + y, x * y in functional code
    **dict.fromkeys(("Add", "Subtract", "Multiply", "Maximum", "Minimum", "Average", "Divide",
                     "TrueDivide"), _elementwise),
    "Rescaling": _rescaling,
    "Normalization": _normalization,
    "Embedding": _embedding,
    **dict.fromkeys(("SimpleRNN", "GRU", "LSTM"), _rnn),
    "Bidirectional": _bidirectional,
    "TimeDistributed": _time_distributed,
    **dict.fromkeys(_kinds("UpSampling", dims="123"), _upsampling),
    # reshaping, inference-time identities, and keras.ops classes that only move data
    **dict.fromkeys(
        ("Flatten", "Reshape", "Permute", "RepeatVector", "Identity", "Concatenate", "Dropout",
         *_kinds("ZeroPadding", "Cropping", "SpatialDropout", dims="123"), "GaussianDropout",
         "GaussianNoise", "AlphaDropout", "ActivityRegularization", "Transpose", "ExpandDims",
         "Squeeze", "GetItem"), _zero),
}
# fmt: on


def _rule_for(op: Any) -> Rule | None:
    """The rule for Keras' own class of ``op``; None for custom classes (even subclasses)."""
    cls = type(op)
    if not cls.__module__.startswith("keras."):
        return None
    return _RULES.get(cls.__name__)


# ------------------------------------------------------------------------ the records
@dataclass
class LayerRow:
    """Costs of one layer call, for the whole batch (seed 004 W_i, A_i, O_i per layer).

    Attributes:
        name: layer name; ``outer/inner`` inside nested models, `` (call k)`` for the
            k-th call of a shared layer.
        kind: the Keras class name ('Conv2D', ...).
        output_shape: first output's shape without the batch dimension.
        params: parameters (0 on repeated calls of a shared layer).
        macs: multiply-accumulates of the weight layers, whole batch. No bias adds.
        ops_breakdown: the other ops by what they are ('bias_add', 'relu', 'max_pool', ...).
        weight_bytes: params * bits / 8 (W_i).
        activation_bytes: input activations, BATCH * inputs * bits / 8 (A_i).
        output_bytes: output activations, BATCH * outputs * bits / 8.
        trainable_params: the trainable part of ``params``.
        kernel_params: parameters in kernels (conv, dense, recurrent, embedding
            matrices), no biases or normalisation parameters: what seed 004's
            'CONV WEIGHTS (M)' and 'FC WEIGHTS (M)' table counts.
        note: why this row's cost is incomplete ('' when fully costed).
        flops: 2 * macs (one multiply and one add each), the seed's O_i.
        other_ops: sum of ``ops_breakdown``: everything that is not a MAC.
        arithmetic_intensity: flops per weight byte, seed 004's 'Arithmetic Intensity'
            ("with respect to weights assuming weights are off-chip"); None without weights.
    """

    name: str
    kind: str
    output_shape: tuple
    params: int
    macs: int
    ops_breakdown: dict[str, int]
    weight_bytes: float
    activation_bytes: float
    output_bytes: float
    trainable_params: int = 0
    kernel_params: int = 0
    note: str = ""
    flops: int = field(init=False)
    other_ops: int = field(init=False)
    arithmetic_intensity: float | None = field(init=False)

    def __post_init__(self) -> None:
        self.flops = 2 * self.macs
        self.other_ops = sum(self.ops_breakdown.values())
        self.arithmetic_intensity = self.flops / self.weight_bytes if self.weight_bytes else None

    @property
    def total_intensity(self) -> float | None:
        """flops / (weight + input + output bytes): the roofline's operational intensity
        with activations counted, as if every tensor went to DRAM once."""
        moved = self.weight_bytes + self.activation_bytes + self.output_bytes
        return self.flops / moved if moved else None

    @property
    def category(self) -> str:
        """'conv', 'fc', 'rnn' or 'other': the split of seed 004's CONV/FC tables."""
        for category, kinds in _CATEGORIES.items():
            if self.kind in kinds:
                return category
        return "other"


_SUMMED = (
    "params",
    "trainable_params",
    "kernel_params",
    "macs",
    "flops",
    "other_ops",
    "weight_bytes",
    "activation_bytes",
    "output_bytes",
)


@dataclass(repr=False)
class Profile:
    """The per-layer profile of a model, with totals (seed 004's A_total, W_total, O_total).

    Attributes:
        model_name: ``model.name``.
        batch_size: BATCH used for MACs and activation bytes.
        bits: BITS used for all bytes.
        layers: one :class:`LayerRow` per layer call, in graph order.
        unknown: kinds (or 'kind: detail') that could not be costed; see the warnings.
    """

    model_name: str
    batch_size: int
    bits: float
    layers: list[LayerRow]
    unknown: list[str] = field(default_factory=list)

    def _sum(self, attr: str) -> Any:
        return sum(getattr(row, attr) for row in self.layers)

    @property
    def params(self) -> int:
        """All parameters (equals ``model.count_params()``)."""
        return self._sum("params")

    @property
    def trainable_params(self) -> int:
        return self._sum("trainable_params")

    @property
    def kernel_params(self) -> int:
        """Parameters in kernel matrices (no biases, no normalisation parameters)."""
        return self._sum("kernel_params")

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one forward pass of the batch."""
        return self._sum("macs")

    @property
    def flops(self) -> int:
        """2 x MACs: seed 004's O_total."""
        return self._sum("flops")

    @property
    def other_ops(self) -> int:
        """Non-MAC ops (bias adds, activations, pooling, normalisation, merges)."""
        return self._sum("other_ops")

    @property
    def weight_bytes(self) -> float:
        """W_total: every weight once, at ``bits`` each."""
        return self._sum("weight_bytes")

    @property
    def activation_bytes(self) -> float:
        """A_total = sum of the layers' input activations (seed 004)."""
        return self._sum("activation_bytes")

    @property
    def arithmetic_intensity(self) -> float:
        """FLOPs per weight byte of the whole model (seed 004, weights off-chip)."""
        return self.flops / self.weight_bytes if self.weight_bytes else math.inf

    def ops_breakdown(self) -> dict[str, int]:
        """Non-MAC ops of the whole model by what they are, largest first."""
        total: dict[str, int] = {}
        for row in self.layers:
            for key, n in row.ops_breakdown.items():
                total[key] = total.get(key, 0) + n
        return dict(sorted(total.items(), key=lambda item: -item[1]))

    def _group(self, key: Callable[[LayerRow], str]) -> dict[str, dict[str, float]]:
        groups: dict[str, dict[str, float]] = {}
        for row in self.layers:
            g = groups.setdefault(key(row), {"layers": 0, **dict.fromkeys(_SUMMED, 0)})
            g["layers"] += 1
            for attr in _SUMMED:
                g[attr] += getattr(row, attr)
        return groups

    def by_kind(self) -> dict[str, dict[str, float]]:
        """Totals per Keras class: {kind: {'layers', 'params', 'macs', 'flops', ...}}."""
        return self._group(lambda row: row.kind)

    def by_category(self) -> dict[str, dict[str, float]]:
        """Totals per 'conv' / 'fc' / 'rnn' / 'other', as in seed 004's CONV and FC tables."""
        return self._group(lambda row: row.category)

    def to_dicts(self) -> list[dict[str, Any]]:
        """The rows as plain dicts (for pandas or JSON), ``total_intensity`` included."""
        return [
            {**asdict(row), "total_intensity": row.total_intensity, "category": row.category}
            for row in self.layers
        ]

    def table(self, max_rows: int | None = None) -> str:
        """A printable per-layer table in the spirit of Darknet's layer print (seed 002).

        Columns: index, name, kind, output shape, params, MACs, BFLOPs (2 x MACs / 1e9,
        Darknet's column), weight kB (decimal), FLOP/B (flops per weight byte). A '?'
        marks a row whose cost is incomplete. ``max_rows`` limits the rows shown; the
        totals line always covers the whole model.
        """
        if max_rows is not None:
            max_rows = positive_int("max_rows", max_rows)
        rows = self.layers if max_rows is None else self.layers[:max_rows]
        name_w = min(40, max([len(r.name) for r in rows] + [4]))
        kind_w = min(24, max([len(r.kind) for r in rows] + [4]))
        header = (
            f"{'idx':>4}  {'name':<{name_w}}  {'kind':<{kind_w}}  {'output':<16} "
            f"{'params':>12} {'MACs':>15} {'BFLOPs':>8} {'weight kB':>10} {'FLOP/B':>8}"
        )
        lines = [
            f"{self.model_name}: batch {self.batch_size}, {self.bits:g}-bit weights and "
            "activations",
            header,
            "-" * len(header),
        ]
        for i, r in enumerate(rows):
            shape = "x".join("?" if d is None else str(d) for d in r.output_shape)
            macs = f"{r.macs:,}" + ("?" if r.note else "")
            ai = r.arithmetic_intensity
            ai = "-" if ai is None else f"{ai:.1f}" if ai < 1000 else f"{ai:,.0f}"
            lines.append(
                f"{i:>4}  {r.name[:name_w]:<{name_w}}  {r.kind[:kind_w]:<{kind_w}}  {shape:<16} "
                f"{r.params:>12,} {macs:>15} {r.flops / 1e9:>8.3f} "
                f"{r.weight_bytes / 1e3:>10.1f} {ai:>8}"
            )
        if len(rows) < len(self.layers):
            lines.append(f"      ... {len(self.layers) - len(rows)} more layers")
        lines.append("-" * len(header))
        lines.append(
            f"total: {self.params:,} params ({self.trainable_params:,} trainable), "
            f"{self.macs:,} MACs = {format_count(self.flops)}FLOPs "
            f"(+ {format_count(self.other_ops)} other ops), "
            f"weights {self.weight_bytes / 1e6:.2f} MB, "
            f"input activations {self.activation_bytes / 1e6:.2f} MB, "
            f"{self.arithmetic_intensity:.1f} FLOP per weight byte"
        )
        if self.unknown:
            lines.append("NOT COUNTED (no cost rule): " + ", ".join(self.unknown))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        unknown = f", unknown={self.unknown}" if self.unknown else ""
        return (
            f"Profile({self.model_name!r}, batch={self.batch_size}, bits={self.bits:g}: "
            f"{len(self.layers)} layers, {self.params:,} params, {format_count(self.macs)}MACs, "
            f"{format_count(self.flops)}FLOPs{unknown})"
        )


# -------------------------------------------------------------------------- the walk
def _graph_nodes(model: Any) -> list[Any] | None:
    """The model's layer-call nodes in topological order, or None if it has no graph."""
    graph = getattr(model, "_functional", None) if isinstance(model, keras.Sequential) else model
    by_depth = getattr(graph, "_nodes_by_depth", None)
    if by_depth is None:
        return None
    order = {id(op): i for i, op in enumerate(graph.operations)}
    nodes = [(depth, node) for depth, depth_nodes in by_depth.items() for node in depth_nodes]
    nodes.sort(key=lambda dn: (-dn[0], order.get(id(dn[1].operation), 0)))
    return [node for _, node in nodes]


def _shape(tensor: Any) -> tuple:
    return tuple(tensor.shape[1:])


def _weight_size(weights: Sequence[Any]) -> int:
    return sum(math.prod(w.shape) for w in weights)


class _Walker:
    def __init__(self, batch_size: int, bits: float) -> None:
        self.batch_size = batch_size
        self.bytes_per_value = bits / 8
        self.rows: list[LayerRow] = []
        self.unknown: list[str] = []
        self.calls: dict[int, int] = {}
        self.warnings: list[str] = []

    def walk(self, model: Any, prefix: str) -> None:
        nodes = _graph_nodes(model)
        if nodes is None:
            raise ValueError(
                f"profile: model '{model.name}' ({type(model).__name__}) has no layer graph "
                "(a subclassed keras.Model, or a Sequential without a single input shape?). "
                "Profile a Functional or Sequential model, e.g. "
                "inputs = keras.Input(shape=...); keras.Model(inputs, outputs)."
            )
        for node in nodes:
            op = node.operation
            if op is None or node.is_input or isinstance(op, keras.layers.InputLayer):
                continue
            if isinstance(op, keras.Model) and _graph_nodes(op) is not None:
                self.walk(op, f"{prefix}{op.name}/")
            else:
                self.rows.append(self.row(op, node, prefix))

    def mark_unknown(self, label: str, message: str) -> None:
        if label not in self.unknown:
            self.unknown.append(label)
            self.warnings.append(message)

    def row(self, op: Any, node: Any, prefix: str) -> LayerRow:
        kind = type(op).__name__
        call = self.calls[id(op)] = self.calls.get(id(op), 0) + 1
        name = prefix + op.name + (f" (call {call})" if call > 1 else "")
        ins = [_shape(t) for t in node.input_tensors]
        outs = [_shape(t) for t in node.output_tensors]
        rule = _rule_for(op)
        note = ""
        if rule is None:
            cost = _Cost()
            note = "no cost rule"
            self.mark_unknown(
                kind,
                f"profile: no cost rule for layer kind '{kind}' (layer '{name}'); its MACs are "
                "NOT counted in the totals. Build the model from standard keras.layers, or "
                "add its cost by hand.",
            )
        elif any(d is None for s in ins + outs for d in s) and rule is not _zero:
            cost = _Cost()
            note = "unknown dimension"
            self.mark_unknown(
                f"{kind}: unknown dimension",
                f"profile: layer '{name}' ({kind}) has an unknown dimension in its input or "
                f"output shape {ins} -> {outs}; its MACs are NOT counted. Build the model "
                "with a fixed input shape, e.g. keras.Input(shape=(224, 224, 3)).",
            )
        else:
            try:
                cost = rule(op, ins, outs)
            except (AttributeError, IndexError, TypeError, ValueError) as exc:
                cost = _Cost(missing=f"configuration ({type(exc).__name__}: {exc})")
            if cost.missing:
                note = f"not counted: {cost.missing}"
                self.mark_unknown(
                    f"{kind}: {cost.missing}",
                    f"profile: no cost rule for the {cost.missing} of layer kind '{kind}' "
                    f"(layer '{name}'); those ops are NOT counted.",
                )
        first = call == 1
        params = op.count_params() if first and isinstance(op, keras.layers.Layer) else 0
        weights = list(getattr(op, "weights", [])) if first else []
        kernels = [w for w in weights if w.name.endswith("kernel") or w.name == "embeddings"]
        b, per = self.batch_size, self.bytes_per_value
        known = [s for s in ins if None not in s]
        known_out = [s for s in outs if None not in s]
        return LayerRow(
            name=name,
            kind=kind,
            output_shape=outs[0] if outs else (),
            params=params,
            macs=b * cost.macs,
            ops_breakdown={k: b * n for k, n in cost.ops.items()},
            weight_bytes=params * per,
            activation_bytes=b * sum(_elems(s) for s in known) * per,
            output_bytes=b * sum(_elems(s) for s in known_out) * per,
            trainable_params=_weight_size(getattr(op, "trainable_weights", [])) if first else 0,
            kernel_params=_weight_size(kernels),
            note=note,
        )


def profile(model: Any, batch_size: int = 1, bits: float = 32) -> Profile:
    """Per-layer params, MACs, FLOPs and bytes of a built Keras model (seed 004's analysis).

    Implements seed 004's "Compute and Memory Requirements, architecture neutral, per
    layer" (W_i, A_i, O_i and their totals) for every layer of ``model``; see the
    module docstring for the counting rules. Nothing is traced or run.

    Args:
        model: a built ``keras.Model`` (Sequential or Functional, models nested in them
            included).
        batch_size: BATCH, samples per forward pass; scales MACs, ops and activations.
        bits: BITS, precision of weights and activations, for the byte counts.

    Returns:
        A :class:`Profile`; ``print(p)`` shows the per-layer table.

    Raises:
        TypeError: ``model`` is not a ``keras.Model``.
        ValueError: the model is not built, or has no layer graph (subclassed model).
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"profile: model must be a built keras.Model, got {type(model).__name__}. "
            "Pass the model, e.g. profile(keras.Sequential([keras.Input((32, 32, 1)), ...]))."
        )
    batch_size = positive_int("batch_size", batch_size)
    bits = positive_number("bits", bits)
    if not model.built:
        raise ValueError(
            f"profile: model '{model.name}' is not built, so its shapes are unknown. Start it "
            "with keras.Input(shape=...) (e.g. keras.Sequential([keras.Input((784,)), ...])) "
            "or call model.build((None, ...input shape...)) first."
        )
    walker = _Walker(batch_size, bits)
    walker.walk(model, prefix="")
    for message in walker.warnings:
        warnings.warn(message, stacklevel=2)
    return Profile(
        model_name=model.name,
        batch_size=batch_size,
        bits=bits,
        layers=walker.rows,
        unknown=walker.unknown,
    )
