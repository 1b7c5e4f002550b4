"""Per-layer parameters, MACs, FLOPs and bytes of any built Keras 3 model (seed 004).

``profile(model)`` walks the model's layer graph (no tracing, no forward pass: a ResNet-50
takes milliseconds) and applies to every layer the cost rule of its kind: seed 004's closed
forms ("Inference: Compute & Memory Analysis", :mod:`course_utils.costs`) generalised to any
stride, padding, dilation, group count and rank by reading the output shape from the graph.

* **MACs**: multiply-accumulates of the weight layers only (Dense, convolutions, recurrent
  layers), one per weight use. Dense on (..., IN) -> OUT costs prod(...) * IN * OUT; a
  convolution (output elements) * (IN_CH / groups) * prod(kernel). ``flops = 2 * macs``,
  the seed's O_i. Bias adds are not MACs: they go to ``other_ops`` ('bias_add').
* **other_ops**: all other arithmetic, one op per element and operation, itemised in
  ``LayerRow.ops_breakdown``. Per element: bias_add 1; activations as ``ACTIVATION_OPS``
  (relu 1, softmax 5: max, subtract, exp, sum, divide, as TensorFlow's profiler counts);
  MaxPooling k - 1 per output, AveragePooling k (k = prod(pool_size)); global pooling 1 per
  input (max: minus 1 per output); BatchNormalization 2 (folded scale and shift);
  LayerNormalization 5 + 1 for scale + 1 for center; Add/Multiply/... (inputs - 1) per
  output, Average inputs; Rescaling 1 (+1 with an offset); Normalization 2; Embedding 1
  'lookup' per token; recurrent cells per step 'bias_add', 'rnn_add' (x W + h U), gate
  activations and 'rnn_cell' state updates (LSTM 4 per unit, GRU 5, SimpleRNN 0).
  Reshaping layers, Concatenate, nearest UpSampling and inference-time identities
  (Dropout, ...) cost 0; ``InputLayer`` gets no row.
* **Bytes** at one precision ``bits``: weights W_i, input activations A_i, outputs
  (see :class:`LayerRow`).

A layer without a rule (custom layers, Lambda, attention, ...) is listed in
``Profile.unknown`` and named in one warning per kind: never silently counted as zero.
Nested models are walked recursively (rows named ``outer/inner``); a shared layer gets one
row per call, its parameters counted at the first call only.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras

from .costs import RNN_GATES
from .units import format_count
from .validators import positive_int, positive_number

__all__ = ["ACTIVATION_OPS", "LayerRow", "Profile", "profile"]

Shape = tuple[int, ...]

ACTIVATION_OPS: dict[str, int] = {
    "linear": 0, "relu": 1, "relu6": 2, "leaky_relu": 2, "elu": 2, "selu": 3, "celu": 3,
    "sigmoid": 1, "hard_sigmoid": 2, "log_sigmoid": 2, "tanh": 1, "hard_tanh": 2,
    "exponential": 1, "softplus": 2, "softsign": 3, "silu": 2, "swish": 2, "hard_silu": 3,
    "hard_swish": 3, "gelu": 4, "mish": 3, "softmax": 5, "log_softmax": 5,
}  # fmt: skip
"""Ops per element of each activation: one per arithmetic step or special function (exp,
tanh, erf): relu6 max and min; leaky_relu mul and max; softplus exp and log1p; gelu
x * 0.5 * (1 + erf(x / sqrt 2)); softmax max, subtract, exp, sum, divide."""

_CATEGORIES: dict[str, tuple[str, ...]] = {
    "conv": ("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
             "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"),
    "fc": ("Dense",),
    "rnn": ("SimpleRNN", "GRU", "LSTM", "Bidirectional"),
}  # fmt: skip


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


def _ops(key: str, n: int) -> _Cost:
    """``n`` non-MAC ops of kind ``key`` (none when ``n`` is 0)."""
    return _Cost(ops={key: int(n)} if n else {})


def _per_output(key: str, ops_per_element: int) -> Rule:
    """The rule 'ops_per_element ops of kind ``key`` per output element'."""
    return lambda layer, ins, outs: _ops(key, ops_per_element * _elems(outs[0]))


# ---------------------------------------------------------------------------- helpers
_elems = math.prod  # elements of a shape


def _channel_axis(layer: Any) -> int:
    """Channel axis in a shape without the batch dimension."""
    return 0 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1


@functools.cache
def _activation_names() -> dict[int, str]:
    """id(Keras activation function) -> its first name in ACTIVATION_OPS."""
    names: dict[int, str] = {}
    for name in ACTIVATION_OPS:
        with contextlib.suppress(ValueError):  # a name this Keras lacks
            names.setdefault(id(keras.activations.get(name)), name)
    return names


def _activation_name(fn: Any) -> str:
    """The Keras name of an activation function ('relu', ...), else its __name__."""
    if fn is None or isinstance(fn, str):
        return fn or "linear"
    return _activation_names().get(id(fn), getattr(fn, "__name__", type(fn).__name__))


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
    pixels = _elems(outs[0]) // layer.filters
    mid_ch = ins[0][_channel_axis(layer)] * layer.depth_multiplier
    depthwise = pixels * mid_ch * math.prod(layer.kernel_size)
    pointwise = pixels * mid_ch * layer.filters
    return _bias_and_activation(layer, _Cost(macs=depthwise + pointwise), _elems(outs[0]))


def _pooling(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    k, n_out = math.prod(layer.pool_size), _elems(outs[0])
    if "Max" in type(layer).__name__:
        return _ops("max_pool", (k - 1) * n_out)  # k - 1 comparisons
    return _ops("avg_pool", k * n_out)  # k - 1 adds and a divide


def _global_pooling(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    if "Max" in type(layer).__name__:
        return _ops("max_pool", _elems(ins[0]) - _elems(outs[0]))
    return _ops("avg_pool", _elems(ins[0]))


def _layer_norm(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    # mean 1; variance 3 (subtract, square, add); normalise 1; then scale and center
    per_element = 5 + bool(getattr(layer, "scale", True)) + bool(getattr(layer, "center", True))
    return _ops("layer_norm", per_element * _elems(outs[0]))


def _activation_layer(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    n, kind = _elems(outs[0]), type(layer).__name__
    if kind == "ReLU":
        extra = (layer.max_value is not None) + (layer.negative_slope != 0)
        return _ops("relu", (1 + extra) * n)
    if kind in ("LeakyReLU", "PReLU"):
        return _ops("leaky_relu", 2 * n)
    if kind in ("ELU", "Softmax"):
        return _ops(kind.lower(), ACTIVATION_OPS[kind.lower()] * n)
    cost = _Cost()  # Activation
    _add_activation(cost, layer.activation, n)
    return cost


def _elementwise(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    # n inputs -> n - 1 binary operations per output element (at least 1: x * 2.0);
    # Average: n - 1 adds and a divide
    key = type(layer).__name__.lower()
    per_output = len(ins) if key == "average" else max(1, len(ins) - 1)
    return _ops(key, per_output * _elems(outs[0]))


def _rescaling(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    has_offset = not (isinstance(layer.offset, (int, float)) and layer.offset == 0)
    return _ops("rescaling", (1 + has_offset) * _elems(outs[0]))


def _zero(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    return _Cost()


def _upsampling(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    interpolation = getattr(layer, "interpolation", "nearest")
    return _Cost(missing=f"interpolation '{interpolation}'" if interpolation != "nearest" else None)


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
    fwd, bwd = _rnn(layer.forward_layer, ins, outs), _rnn(layer.backward_layer, ins, outs)
    cost = _Cost(fwd.macs + bwd.macs, dict(Counter(fwd.ops) + Counter(bwd.ops)),
                 fwd.missing or bwd.missing)  # fmt: skip
    merge_ops = {"sum": 1, "mul": 1, "ave": 2}.get(layer.merge_mode, 0)
    n_merged = sum(_elems(s) for s in outs) if merge_ops else 0
    cost.add(f"merge_{layer.merge_mode}", merge_ops * n_merged)
    return cost


def _time_distributed(layer: Any, ins: list[Shape], outs: list[Shape]) -> _Cost:
    inner = layer.layer
    rule = _rule_for(inner)
    if rule is None:
        return _Cost(missing=f"wrapped layer kind '{type(inner).__name__}'")
    steps = ins[0][0]  # the time axis
    return rule(inner, [s[1:] for s in ins], [s[1:] for s in outs]).scaled(steps)


def _kinds(*names: str, dims: str = "") -> tuple[str, ...]:
    """('MaxPooling', dims='123') -> ('MaxPooling1D', 'MaxPooling2D', 'MaxPooling3D')."""
    return tuple(f"{n}{d}D" for n in names for d in dims) if dims else names


_RULES: dict[str, Rule] = {
    "Dense": _dense,
    **dict.fromkeys(_kinds("Conv", dims="123"), _conv),
    **dict.fromkeys(tuple(f"Conv{d}DTranspose" for d in "123"), _conv_transpose),
    **dict.fromkeys(_kinds("DepthwiseConv", dims="12"), _depthwise),
    **dict.fromkeys(_kinds("SeparableConv", dims="12"), _separable),
    **dict.fromkeys(_kinds("MaxPooling", "AveragePooling", dims="123"), _pooling),
    **dict.fromkeys(_kinds("GlobalAveragePooling", "GlobalMaxPooling", dims="123"),
                    _global_pooling),
    "BatchNormalization": _per_output("batch_norm", 2),  # scale and shift, statistics folded
    "LayerNormalization": _layer_norm,
    **dict.fromkeys(("Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"),
                    _activation_layer),
    # merge layers, and the same-named keras.ops classes of x + y, x * y in functional code
    **dict.fromkeys(("Add", "Subtract", "Multiply", "Maximum", "Minimum", "Average", "Divide",
                     "TrueDivide"), _elementwise),
    "Rescaling": _rescaling,
    "Normalization": _per_output("normalization", 2),  # (x - mean) / std
    "Embedding": lambda layer, ins, outs: _ops("lookup", _elems(ins[0])),  # a gather per token
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
}  # fmt: skip


def _rule_for(op: Any) -> Rule | None:
    """The rule for Keras' own class of ``op``; None for custom classes (even subclasses)."""
    cls = type(op)
    return _RULES.get(cls.__name__) if cls.__module__.startswith("keras.") else None


# ------------------------------------------------------------------------ the records
@dataclass
class LayerRow:
    """Costs of one layer call, for the whole batch (seed 004's W_i, A_i, O_i per layer).

    ``name``: ``outer/inner`` inside nested models, `` (call k)`` for a shared layer's k-th
    call (whose ``params`` are 0). ``kind``: the Keras class. ``output_shape``: the first
    output's, without the batch. ``macs``: of the weight layers, no bias adds.
    ``ops_breakdown``: the other ops by what they are ('bias_add', 'relu', ...).
    ``weight_bytes`` = params * bits / 8 (W_i); ``activation_bytes`` = BATCH * inputs *
    bits / 8 (A_i); ``output_bytes`` likewise for the outputs. ``kernel_params``: kernel
    matrices only (no biases or normalisation), as seed 004's 'CONV WEIGHTS (M)' and 'FC
    WEIGHTS (M)' count. ``note``: why the cost is incomplete ('' when fully costed).
    ``flops`` = 2 * macs (O_i); ``other_ops`` = sum of ``ops_breakdown``;
    ``arithmetic_intensity`` = flops per weight byte (seed 004, "with respect to weights
    assuming weights are off-chip"; None without weights).
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
        return next((c for c, kinds in _CATEGORIES.items() if self.kind in kinds), "other")


_SUMMED = ("params", "trainable_params", "kernel_params", "macs", "flops", "other_ops",
           "weight_bytes", "activation_bytes", "output_bytes")  # fmt: skip


def _total(attr: str, doc: str) -> property:
    return property(lambda self: sum(getattr(row, attr) for row in self.layers), doc=doc)


@dataclass(repr=False)
class Profile:
    """The per-layer profile of a model, with totals (seed 004's A_total, W_total, O_total).

    ``batch_size`` (BATCH) scales MACs and activation bytes, ``bits`` (BITS) sets all bytes;
    ``layers`` has one :class:`LayerRow` per layer call in graph order; ``unknown`` the kinds
    (or 'kind: detail') that could not be costed (see the warnings).
    """

    model_name: str
    batch_size: int
    bits: float
    layers: list[LayerRow]
    unknown: list[str] = field(default_factory=list)

    params = _total("params", "All parameters (equals ``model.count_params()``).")
    trainable_params = _total("trainable_params", "The trainable parameters.")
    kernel_params = _total("kernel_params", "Parameters in kernel matrices (no biases, norms).")
    macs = _total("macs", "Multiply-accumulates of one forward pass of the batch.")
    flops = _total("flops", "2 x MACs: seed 004's O_total.")
    other_ops = _total("other_ops", "Non-MAC ops: bias adds, activations, pooling, norms, merges.")
    weight_bytes = _total("weight_bytes", "W_total: every weight once, at ``bits`` each.")
    activation_bytes = _total("activation_bytes", "A_total: the layers' input activations.")

    @property
    def arithmetic_intensity(self) -> float:
        """FLOPs per weight byte of the whole model (seed 004, weights off-chip)."""
        return self.flops / self.weight_bytes if self.weight_bytes else math.inf

    def ops_breakdown(self) -> dict[str, int]:
        """Non-MAC ops of the whole model by what they are, largest first."""
        total: Counter[str] = Counter()
        for row in self.layers:
            total.update(row.ops_breakdown)
        return dict(total.most_common())

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

    def table(self, max_rows: int | None = None) -> str:
        """A printable per-layer table in the spirit of Darknet's layer print (seed 002).

        Columns: index, name, kind, output shape, params, MACs ('?': incomplete), BFLOPs
        (2 x MACs / 1e9, Darknet's), weight kB (decimal), FLOP/B (flops per weight byte).
        ``max_rows`` limits the rows shown; the totals line covers the whole model.
        """
        if max_rows is not None:
            max_rows = positive_int("max_rows", max_rows)
        rows = self.layers if max_rows is None else self.layers[:max_rows]
        name_w = min(40, max([len(r.name) for r in rows] + [4]))
        kind_w = min(24, max([len(r.kind) for r in rows] + [4]))
        header = (f"{'idx':>4}  {'name':<{name_w}}  {'kind':<{kind_w}}  {'output':<16} "
                  f"{'params':>12} {'MACs':>15} {'BFLOPs':>8} {'weight kB':>10} {'FLOP/B':>8}")  # fmt: skip
        rule = "-" * len(header)
        lines = [f"{self.model_name}: batch {self.batch_size}, {self.bits:g}-bit weights and "
                 "activations", header, rule]  # fmt: skip
        for i, r in enumerate(rows):
            shape = "x".join("?" if d is None else str(d) for d in r.output_shape)
            macs = f"{r.macs:,}" + ("?" if r.note else "")
            ai = r.arithmetic_intensity
            ai = "-" if ai is None else f"{ai:.1f}" if ai < 1000 else f"{ai:,.0f}"
            lines.append(f"{i:>4}  {r.name[:name_w]:<{name_w}}  {r.kind[:kind_w]:<{kind_w}}  "
                         f"{shape:<16} {r.params:>12,} {macs:>15} {r.flops / 1e9:>8.3f} "
                         f"{r.weight_bytes / 1e3:>10.1f} {ai:>8}")  # fmt: skip
        if len(rows) < len(self.layers):
            lines.append(f"      ... {len(self.layers) - len(rows)} more layers")
        lines += [rule, f"total: {self.params:,} params ({self.trainable_params:,} trainable), "
                  f"{self.macs:,} MACs = {format_count(self.flops)}FLOPs (+ "
                  f"{format_count(self.other_ops)} other ops), weights "
                  f"{self.weight_bytes / 1e6:.2f} MB, input activations "
                  f"{self.activation_bytes / 1e6:.2f} MB, {self.arithmetic_intensity:.1f} FLOP "
                  "per weight byte"]  # fmt: skip
        if self.unknown:
            lines.append("NOT COUNTED (no cost rule): " + ", ".join(self.unknown))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        unknown = f", unknown={self.unknown}" if self.unknown else ""
        return (f"Profile({self.model_name!r}, batch={self.batch_size}, bits={self.bits:g}: "
                f"{len(self.layers)} layers, {self.params:,} params, {format_count(self.macs)}"
                f"MACs, {format_count(self.flops)}FLOPs{unknown})")  # fmt: skip


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


def _weight_size(weights: Sequence[Any]) -> int:
    return sum(math.prod(w.shape) for w in weights)


class _Walker:
    """Walks a model's graph (and nested models'), one :class:`LayerRow` per layer call."""

    def __init__(self, batch_size: int, bits: float) -> None:
        self.batch_size, self.bytes_per_value = batch_size, bits / 8
        self.rows: list[LayerRow] = []
        self.unknown: list[str] = []  # labels of what could not be costed, each warned once
        self.warnings: list[str] = []
        self.calls: dict[int, int] = {}  # id(layer) -> calls seen so far (shared layers)

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

    def mark_unknown(self, label: str, message: str) -> None:  # one warning per label
        if label not in self.unknown:
            self.unknown.append(label)
            self.warnings.append(message)

    def row(self, op: Any, node: Any, prefix: str) -> LayerRow:
        kind = type(op).__name__
        call = self.calls[id(op)] = self.calls.get(id(op), 0) + 1
        name = prefix + op.name + (f" (call {call})" if call > 1 else "")
        ins = [tuple(t.shape[1:]) for t in node.input_tensors]  # no batch dimension
        outs = [tuple(t.shape[1:]) for t in node.output_tensors]
        rule, cost, note = _rule_for(op), _Cost(), ""
        if rule is None:
            note = "no cost rule"
            self.mark_unknown(kind, f"profile: no cost rule for layer kind '{kind}' (layer "
                              f"'{name}'); its MACs are NOT counted in the totals. Build the model "
                              "from standard keras.layers, or add its cost by hand.")  # fmt: skip
        elif any(d is None for s in ins + outs for d in s) and rule is not _zero:
            note = "unknown dimension"
            self.mark_unknown(f"{kind}: unknown dimension",
                              f"profile: layer '{name}' ({kind}) has an unknown dimension in its "
                              f"input or output shape {ins} -> {outs}; its MACs are NOT counted. "
                              "Build the model with a fixed input shape, e.g. "
                              "keras.Input(shape=(224, 224, 3)).")  # fmt: skip
        else:
            try:
                cost = rule(op, ins, outs)
            except (AttributeError, IndexError, TypeError, ValueError) as exc:
                cost = _Cost(missing=f"configuration ({type(exc).__name__}: {exc})")
            if cost.missing:
                note = f"not counted: {cost.missing}"
                self.mark_unknown(f"{kind}: {cost.missing}", f"profile: no cost rule for the "
                                  f"{cost.missing} of layer kind '{kind}' (layer '{name}'); those "
                                  "ops are NOT counted.")  # fmt: skip
        first = call == 1
        params = op.count_params() if first and isinstance(op, keras.layers.Layer) else 0
        weights = list(getattr(op, "weights", [])) if first else []
        kernels = [w for w in weights if w.name.endswith("kernel") or w.name == "embeddings"]
        b, per = self.batch_size, self.bytes_per_value

        def batch_bytes(shapes: list[Shape]) -> float:  # shapes with an unknown dimension: 0
            return b * sum(_elems(s) for s in shapes if None not in s) * per

        return LayerRow(
            name=name, kind=kind, output_shape=outs[0] if outs else (), params=params,
            macs=b * cost.macs, ops_breakdown={k: b * n for k, n in cost.ops.items()},
            weight_bytes=params * per, activation_bytes=batch_bytes(ins),
            output_bytes=batch_bytes(outs),
            trainable_params=_weight_size(getattr(op, "trainable_weights", [])) if first else 0,
            kernel_params=_weight_size(kernels), note=note,
        )  # fmt: skip


def profile(model: Any, batch_size: int = 1, bits: float = 32) -> Profile:
    """Per-layer params, MACs, FLOPs and bytes of a built Keras model (seed 004's analysis).

    Seed 004's "Compute and Memory Requirements, architecture neutral, per layer" (W_i,
    A_i, O_i and their totals) for every layer of a built Sequential or Functional ``model``
    (nested models included), by the module docstring's rules; nothing is traced or run.
    ``batch_size`` (BATCH) scales MACs, ops and activations; ``bits`` (BITS) is the precision
    of weights and activations. ``print(profile(model))`` shows the per-layer table.
    TypeError if ``model`` is not a ``keras.Model``; ValueError if it is not built or has no
    layer graph (a subclassed model).
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
    return Profile(model.name, batch_size, bits, walker.rows, walker.unknown)
