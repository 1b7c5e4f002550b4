"""Quantization: number formats, affine integer quantization by hand, LiteRT deployment, energy.

Seed 004 (Blott, Hot Chips 2018, 'Example: Reducing Bit-Precision') makes three claims about
fewer bits: a *linear reduction in memory footprint* (its ResNet-50 table: 3.2 / 25.5 /
102.5 MB at 1 / 8 / 32 bits), less *weight-fetching bandwidth*, and *inherently cheaper
arithmetic* (it cites Dally, who quotes Horowitz's ISSCC 2014 energy table). Seed 001 lists
quantization among the ways to cut a model's cost. This module is what notebook 06 needs to
test each claim on real models:

1. **Number formats** (:class:`NumberFormat`, :data:`FORMATS`): fp32, fp16, bf16, int8, int4,
   binary; their range and precision from the bit layout (IEEE 754-2008 for the floats).
2. **Affine quantization by hand** (Jacob et al., CVPR 2018, 'Quantization and Training of
   Neural Networks for Efficient Integer-Arithmetic-Only Inference', eq. 1): a real value r
   is stored as an integer q with r = S (q - Z), scale S and zero point Z, per tensor or per
   channel (:func:`choose_params`, :func:`quantize`, :func:`dequantize`,
   :func:`quantization_error`).
3. **Keras models with quantized weights**: post-training weight quantization of a Keras
   model (:func:`quantize_weights`) and quantization-aware training with fake-quantized
   kernels and the straight-through estimator (:func:`qat_model`, :func:`strip_fake_quant`).
4. **LiteRT** (formerly TensorFlow Lite): conversion in the four standard modes
   (:func:`to_tflite`), a runner for accuracy and batch-1 latency (:class:`LiteRTModel`), and
   what a ``.tflite`` file is made of (:func:`tflite_anatomy`).
5. **Energy per operation** (:data:`ENERGY_45NM`): Horowitz's 45 nm table, and the energy of
   one inference estimated from MACs and weight reads (:func:`inference_energy`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import numbers
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ENERGY_45NM",
    "FORMATS",
    "TFLITE_MODES",
    "EnergyEstimate",
    "FakeQuantConv2D",
    "FakeQuantDense",
    "LiteRTModel",
    "NumberFormat",
    "OpEnergy",
    "QuantError",
    "QuantParams",
    "TfliteAnatomy",
    "cast_to_format",
    "channel_sqnr_db",
    "choose_params",
    "compare_latency",
    "dequantize",
    "fake_quant_ste",
    "fake_quantize",
    "formats_table",
    "inference_energy",
    "int8_instructions",
    "int_range",
    "interpreter_class",
    "mac_energy_pj",
    "op_energy_pj",
    "qat_model",
    "quantization_error",
    "quantize",
    "quantize_weights",
    "spacing",
    "sqnr_db",
    "strip_fake_quant",
    "tflite_anatomy",
    "to_tflite",
]


def _int_arg(value: Any, name: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < least:
        raise ValueError(f"{name} must be >= {least}, got {value}")
    return int(value)


# ============================================================================ number formats


@dataclass(frozen=True)
class NumberFormat:
    """A number format by its bit layout: seed 004 'Customized Arithmetic' (Bfloat16, Binary...).

    Floats (``kind='float'``) follow IEEE 754-2008: a sign bit, ``exponent_bits`` of biased
    exponent and ``mantissa_bits`` of stored fraction (an implicit leading 1 gives one more
    bit of precision), subnormals below the smallest normal number, the top exponent kept
    for inf/NaN. Integers (``kind='int'``) are two's complement, in units of a scale S that
    quantization chooses (see :func:`choose_params`). ``kind='binary'`` is one bit: -1 or +1
    times a scale (BinaryConnect/XNOR-Net weights; seed 004's binary networks, FINN).
    """

    name: str
    bits: int
    kind: str
    exponent_bits: int = 0
    mantissa_bits: int = 0
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("float", "int", "binary"):
            raise ValueError(f"kind must be 'float', 'int' or 'binary', got {self.kind!r}")
        if self.kind == "float" and 1 + self.exponent_bits + self.mantissa_bits != self.bits:
            raise ValueError(
                f"{self.name}: 1 sign + {self.exponent_bits} exponent + {self.mantissa_bits} "
                f"mantissa bits != {self.bits} bits"
            )

    @property
    def layout(self) -> str:
        """'1/8/23' (sign/exponent/mantissa) for floats, 'int' or 'sign' otherwise."""
        if self.kind == "float":
            return f"1/{self.exponent_bits}/{self.mantissa_bits}"
        return "two's compl." if self.kind == "int" else "sign only"

    @property
    def levels(self) -> int:
        """Distinct bit patterns, 2**bits (for floats some are inf/NaN and +-0)."""
        return 2**self.bits

    @property
    def _emax(self) -> int:
        return 2 ** (self.exponent_bits - 1) - 1

    @property
    def max_value(self) -> float:
        """Largest finite value: (2 - 2^-m) 2^emax for floats, 2^(b-1) - 1 for ints, 1 for binary."""
        if self.kind == "float":
            return (2 - 2.0**-self.mantissa_bits) * 2.0**self._emax
        if self.kind == "int":
            return float(2 ** (self.bits - 1) - 1)
        return 1.0

    @property
    def min_value(self) -> float:
        """Most negative value: -max for floats and binary, -2^(b-1) for ints."""
        return -float(2 ** (self.bits - 1)) if self.kind == "int" else -self.max_value

    @property
    def min_normal(self) -> float:
        """Smallest positive normal float, 2^(1 - emax); 1 (one step) for ints and binary."""
        return 2.0 ** (1 - self._emax) if self.kind == "float" else 1.0

    @property
    def min_positive(self) -> float:
        """Smallest positive value: the smallest subnormal 2^(1 - emax - m) for floats."""
        if self.kind == "float":
            return 2.0 ** (1 - self._emax - self.mantissa_bits)
        return 1.0

    @property
    def epsilon(self) -> float:
        """Relative step: the gap between 1 and the next value, 2^-m, for floats (the same
        everywhere in the normal range). For ints the step relative to full scale, 1/max."""
        if self.kind == "float":
            return 2.0**-self.mantissa_bits
        return 1.0 / self.max_value if self.kind == "int" else 2.0

    @property
    def decimal_digits(self) -> float:
        """Significant decimal digits: log10 2^(m+1) for floats, log10 of the levels otherwise."""
        if self.kind == "float":
            return (self.mantissa_bits + 1) * math.log10(2)
        return self.bits * math.log10(2)

    @property
    def dynamic_range_db(self) -> float:
        """20 log10(largest / smallest positive normal): how many decades of magnitude fit."""
        return 20 * math.log10(self.max_value / self.min_normal)


#: The formats of notebook 06, widest first. bf16 (Google Brain, TPU v2) keeps fp32's 8
#: exponent bits and so its range; fp16 (IEEE half) trades range for 3 more mantissa bits.
FORMATS: dict[str, NumberFormat] = {
    f.name: f
    for f in (
        NumberFormat("fp32", 32, "float", 8, 23, "IEEE 754 single: training default"),
        NumberFormat("fp16", 16, "float", 5, 10, "IEEE 754 half: GPUs' tensor cores"),
        NumberFormat("bf16", 16, "float", 8, 7, "bfloat16: fp32's range, TPUs and GPUs"),
        NumberFormat("int8", 8, "int", note="x scale S: LiteRT, TensorRT, NPUs"),
        NumberFormat("int4", 4, "int", note="x scale S: LLM weights (GPTQ, AWQ)"),
        NumberFormat("binary", 1, "binary", note="+-1 x scale: BNNs, FINN (seed 004)"),
    )
}


def _format(fmt: NumberFormat | str) -> NumberFormat:
    if isinstance(fmt, NumberFormat):
        return fmt
    if fmt in FORMATS:
        return FORMATS[fmt]
    raise ValueError(f"unknown number format {fmt!r}; use one of {', '.join(FORMATS)}")


def formats_table(formats: Sequence[NumberFormat | str] | None = None) -> str:
    """The formats side by side: bits, layout, largest value, smallest positive normal
    value, relative step (epsilon) and decimal digits. Integers are in units of their scale."""
    rows = [_format(f) for f in (formats if formats is not None else FORMATS.values())]
    head = (
        f"{'format':7s} {'bits':>4s} {'s/e/m':>12s} {'largest':>10s} {'smallest>0':>11s} "
        f"{'rel. step':>10s} {'digits':>6s}"
    )
    lines = [head, "-" * len(head)]
    for f in rows:
        lines.append(
            f"{f.name:7s} {f.bits:4d} {f.layout:>12s} {f.max_value:10.4g} {f.min_normal:11.4g} "
            f"{f.epsilon:10.3g} {f.decimal_digits:6.1f}"
        )
    return "\n".join(lines)


def spacing(fmt: NumberFormat | str, x: Any) -> np.ndarray:
    """Gap between ``|x|`` and the next larger value of ``fmt`` (like ``np.spacing``).

    Floats: 2^(floor(log2|x|) - m) in the normal range, so the gap grows with |x| and the
    *relative* gap stays about 2^-m; below the smallest normal it is the subnormal step.
    Integers (scale 1) and binary: a constant gap of 1 (resp. 2), the *absolute* precision.
    NaN beyond the format's largest value.
    """
    f = _format(fmt)
    a = np.abs(np.asarray(x, dtype=np.float64))
    if f.kind == "float":
        with np.errstate(divide="ignore"):
            exp = np.floor(np.log2(np.maximum(a, f.min_normal)))
        gap = 2.0 ** (exp - f.mantissa_bits)
    else:
        gap = np.full_like(a, 1.0 if f.kind == "int" else 2.0)
    return np.where(a > f.max_value, np.nan, gap)


def cast_to_format(x: Any, fmt: NumberFormat | str) -> np.ndarray:
    """``x`` rounded to the nearest fp16 / bf16 / fp32 value and back to float32 (round to
    nearest even, what ``astype`` does); the error this adds is what casting a model costs.
    Values beyond the format's range become +-inf (fp16 overflows above 65504)."""
    f = _format(fmt)
    dtypes = {"fp32": np.float32, "fp16": np.float16}
    if f.name == "bf16":
        import ml_dtypes  # ships with Keras and TensorFlow

        dtypes["bf16"] = ml_dtypes.bfloat16
    if f.name not in dtypes:
        raise ValueError(
            f"cast_to_format handles the floats fp32, fp16 and bf16; quantize to {f.name} "
            "with fake_quantize(x, bits=...) instead"
        )
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=np.float32).astype(dtypes[f.name]).astype(np.float32)


# ============================================================================ affine quantization


def int_range(bits: int, signed: bool = True, narrow: bool = False) -> tuple[int, int]:
    """[q_min, q_max] of a ``bits``-bit integer: [-2^(b-1), 2^(b-1) - 1] signed, [0, 2^b - 1]
    unsigned. ``narrow`` drops the lowest code (-128 for int8), so the range is symmetric:
    LiteRT stores weights as int8 in [-127, 127] with zero point 0 (its quantization spec)."""
    bits = _int_arg(bits, "bits", 1)
    if signed:
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        lo, hi = 0, 2**bits - 1
    if narrow:
        lo += 1
    if lo >= hi:
        raise ValueError(f"bits={bits} with narrow={narrow} leaves fewer than 2 levels")
    return lo, hi


@dataclass(frozen=True)
class QuantParams:
    """Scale S and zero point Z of r = S (q - Z), Jacob et al. 2018 eq. 1.

    Attributes:
        scale: S, real units per integer step: a 0-d array (per tensor) or one per channel.
        zero_point: Z, the integer that stands for the real 0 (same shape as ``scale``).
        bits: integer width.
        qmin, qmax: the integer range (see :func:`int_range`).
        axis: the channel axis of per-channel parameters, None per tensor.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    bits: int
    qmin: int
    qmax: int
    axis: int | None = None

    @property
    def symmetric(self) -> bool:
        """True when every zero point is 0 (then r = S q: no offset arithmetic in a GEMM)."""
        return bool(np.all(self.zero_point == 0))

    @property
    def channels(self) -> int:
        """Number of (scale, zero point) pairs: 1 per tensor."""
        return int(np.size(self.scale))

    @property
    def int_dtype(self) -> np.dtype:
        """The smallest NumPy integer type that holds [qmin, qmax] (int8 for 8 bits and less)."""
        for dtype in (np.int8, np.uint8, np.int16, np.uint16, np.int32):
            info = np.iinfo(dtype)
            if info.min <= self.qmin and self.qmax <= info.max:
                return np.dtype(dtype)
        return np.dtype(np.int64)

    def broadcast(self, ndim: int) -> tuple[np.ndarray, np.ndarray]:
        """``scale`` and ``zero_point`` shaped to broadcast against an ``ndim``-d tensor."""
        if self.axis is None:
            return self.scale, self.zero_point
        shape = [1] * ndim
        shape[self.axis] = -1
        return self.scale.reshape(shape), self.zero_point.reshape(shape)


def _round_half_away(v: np.ndarray) -> np.ndarray:
    """Round to nearest, ties away from zero: C's ``round``, which LiteRT's kernels use
    (NumPy's ``np.round`` sends ties to even)."""
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def choose_params(
    x: Any,
    bits: int = 8,
    symmetric: bool = False,
    axis: int | None = None,
    signed: bool = True,
    narrow: bool | None = None,
) -> QuantParams:
    """Scale and zero point for ``x`` from its range (min/max calibration).

    Asymmetric (activations): the range [r_min, r_max] is first stretched to contain 0, then

        S = (r_max - r_min) / (q_max - q_min),    Z = round(q_min - r_min / S),

    so that the real 0 (zero padding, ReLU outputs) is an exact integer. Symmetric (weights):
    Z = 0 and S = max|r| / q_max, with the narrow range [-127, 127] by default, as LiteRT does.

    Args:
        x: the real tensor (weights or a batch of activations).
        bits: integer width.
        symmetric: Z = 0 (see above).
        axis: per-channel along this axis (Keras kernels: -1, the output channels); None for
            one (S, Z) for the whole tensor.
        signed: int range (default) or uint range.
        narrow: drop the lowest code; default ``symmetric``.
    """
    bits = _int_arg(bits, "bits", 2 if (symmetric and narrow is not False) else 1)
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError("x must be a non-empty tensor of finite numbers")
    narrow = symmetric if narrow is None else narrow
    qmin, qmax = int_range(bits, signed, narrow)
    if axis is None:
        reduce: tuple[int, ...] = tuple(range(a.ndim))
    else:
        if not isinstance(axis, int) or not -a.ndim <= axis < a.ndim:
            raise ValueError(f"axis={axis!r} is not an axis of a {a.ndim}-d tensor")
        axis = axis % a.ndim
        reduce = tuple(i for i in range(a.ndim) if i != axis)
    r_min = np.minimum(a.min(axis=reduce), 0.0)
    r_max = np.maximum(a.max(axis=reduce), 0.0)
    if symmetric:
        if not signed:
            raise ValueError("symmetric quantization needs signed integers (signed=True)")
        scale = np.maximum(np.abs(r_min), np.abs(r_max)) / qmax
        zero = np.zeros_like(scale, dtype=np.int64)
    else:
        scale = (r_max - r_min) / (qmax - qmin)
        safe = np.where(scale > 0, scale, 1.0)
        zero = np.clip(_round_half_away(qmin - r_min / safe), qmin, qmax).astype(np.int64)
    scale = np.where(scale > 0, scale, 1.0)  # an all-zero channel: any scale stores it exactly
    return QuantParams(np.asarray(scale), np.asarray(zero), bits, qmin, qmax, axis)


def quantize(x: Any, params: QuantParams) -> np.ndarray:
    """q = clip(round(r / S) + Z, q_min, q_max), as the smallest integer dtype that fits."""
    a = np.asarray(x, dtype=np.float64)
    scale, zero = params.broadcast(a.ndim)
    q = np.clip(_round_half_away(a / scale) + zero, params.qmin, params.qmax)
    return q.astype(params.int_dtype)


def dequantize(q: Any, params: QuantParams) -> np.ndarray:
    """r = S (q - Z) as float32: the real values the integers stand for."""
    qa = np.asarray(q, dtype=np.int64)
    scale, zero = params.broadcast(qa.ndim)
    return (scale * (qa - zero)).astype(np.float32)


def fake_quantize(
    x: Any, bits: int = 8, symmetric: bool = True, axis: int | None = None
) -> np.ndarray:
    """``dequantize(quantize(x))`` with parameters chosen from ``x``: the float tensor a
    quantized model really computes with (its rounding error included)."""
    params = choose_params(x, bits, symmetric=symmetric, axis=axis)
    return dequantize(quantize(x, params), params)


def sqnr_db(x: Any, x_hat: Any) -> float:
    """Signal-to-quantization-noise ratio, 10 log10(sum x^2 / sum (x - x_hat)^2), in dB.

    Uniform rounding with step S adds noise of power S^2/12; every extra bit halves S, so
    SQNR grows by 20 log10 2 = 6.02 dB per bit (the classic rule for uniform quantizers).
    """
    a = np.asarray(x, dtype=np.float64)
    err = a - np.asarray(x_hat, dtype=np.float64)
    noise = float(np.sum(err**2))
    return math.inf if noise == 0 else 10 * math.log10(float(np.sum(a**2)) / noise)


def channel_sqnr_db(x: Any, x_hat: Any, axis: int = -1) -> np.ndarray:
    """:func:`sqnr_db` of each channel along ``axis``: a tensor-wide SQNR is dominated by its
    largest channels and hides how badly a per-tensor scale treats the small ones."""
    a = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    b = np.moveaxis(np.asarray(x_hat, dtype=np.float64), axis, -1)
    a, b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    return np.array([sqnr_db(a[:, c], b[:, c]) for c in range(a.shape[1])])


@dataclass(frozen=True)
class QuantError:
    """How far ``fake_quantize(x)`` is from ``x``.

    Attributes:
        bits: integer width.
        per_channel: one scale per output channel (else one per tensor).
        max_abs_error: worst absolute error (<= S/2 inside the range).
        rmse: root-mean-square error.
        sqnr_db: see :func:`sqnr_db`.
        mean_scale: S averaged over channels.
    """

    bits: int
    per_channel: bool
    max_abs_error: float
    rmse: float
    sqnr_db: float
    mean_scale: float


def quantization_error(
    x: Any, bits: int = 8, symmetric: bool = True, axis: int | None = None
) -> QuantError:
    """Error of quantizing ``x`` to ``bits`` (per tensor, or per channel along ``axis``)."""
    a = np.asarray(x, dtype=np.float64)
    params = choose_params(a, bits, symmetric=symmetric, axis=axis)
    err = a - dequantize(quantize(a, params), params)
    return QuantError(
        bits=params.bits,
        per_channel=axis is not None,
        max_abs_error=float(np.max(np.abs(err))),
        rmse=float(np.sqrt(np.mean(err**2))),
        sqnr_db=sqnr_db(a, a - err),
        mean_scale=float(np.mean(params.scale)),
    )


# ============================================================================ Keras: weight PTQ, QAT


def _kernel_layer_kind(layer: Any) -> str | None:
    """'dense' or 'conv' for layers whose kernel's last axis is the output channel."""
    import keras

    if type(layer) in (keras.layers.Dense, FakeQuantDense):
        return "dense"
    if type(layer) in (
        keras.layers.Conv1D,
        keras.layers.Conv2D,
        keras.layers.Conv3D,
        FakeQuantConv2D,
    ):
        return "conv"
    return None


def quantize_weights(model: Any, bits: int = 8, per_channel: bool = True) -> Any:
    """A copy of ``model`` whose Dense and Conv kernels are fake-quantized to ``bits``.

    Post-training *weight* quantization: every kernel is replaced by
    ``fake_quantize(kernel, bits, symmetric=True, axis=-1 if per_channel else None)``,
    LiteRT's weight scheme (symmetric, narrow range, per output channel). Biases stay float
    (LiteRT keeps them as int32 with scale S_w S_x, which is exact enough to ignore);
    activations stay float. Layers with other weights (BatchNorm, depthwise convolutions,
    embeddings) are left in float and named in a warning. The original model is not changed.
    """
    import keras

    bits = _int_arg(bits, "bits", 2)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    skipped = []
    for layer in _all_layers(clone):
        if _kernel_layer_kind(layer):
            kernel = np.asarray(layer.kernel)
            layer.kernel.assign(
                fake_quantize(kernel, bits, symmetric=True, axis=-1 if per_channel else None)
            )
        elif layer.weights and not isinstance(layer, keras.Model):
            skipped.append(f"{layer.name} ({type(layer).__name__})")
    if skipped:
        warnings.warn(
            "quantize_weights quantizes Dense and Conv kernels only; kept in float: "
            + ", ".join(skipped),
            stacklevel=2,
        )
    return clone


def _all_layers(model: Any) -> Iterator[Any]:
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers") and layer is not model:
            yield from _all_layers(layer)


def fake_quant_ste(w: Any, bits: int, per_channel: bool = True) -> Any:
    """Symmetric fake quantization in Keras ops, with the straight-through estimator (STE).

    Forward: S = max|w| / (2^(b-1) - 1) (per output channel = last axis, or per tensor),
    w_q = clip(round(w / S), -q_max, q_max) S, the same numbers as :func:`fake_quantize`
    (up to ties in rounding). Backward: ``w + stop_gradient(w_q - w)`` has gradient 1 with
    respect to w, so training updates the float "shadow" weights as if rounding were not
    there (Bengio et al. 2013; Jacob et al. 2018, section 3).
    """
    from keras import ops

    qmax = 2 ** (bits - 1) - 1
    if qmax < 1:
        raise ValueError(f"bits={bits}: symmetric fake quantization needs bits >= 2")
    axes = tuple(range(len(w.shape) - 1)) if per_channel else None
    scale = ops.max(ops.abs(w), axis=axes, keepdims=True) / qmax
    scale = ops.where(scale > 0, scale, ops.ones_like(scale))
    w_q = ops.clip(ops.sign(w) * ops.floor(ops.abs(w) / scale + 0.5), -qmax, qmax) * scale
    return w + ops.stop_gradient(w_q - w)


def _fake_quant_layer(base: type) -> type:
    """A subclass of the Keras layer ``base`` whose ``kernel`` is fake-quantized on every use."""

    class FakeQuant(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, weight_bits: int = 8, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.weight_bits = _int_arg(weight_bits, "weight_bits", 2)

        @property
        def kernel(self) -> Any:  # Dense.call and BaseConv.call read self.kernel
            return fake_quant_ste(super().kernel, self.weight_bits)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "weight_bits": self.weight_bits}

    FakeQuant.__name__ = FakeQuant.__qualname__ = f"FakeQuant{base.__name__}"
    FakeQuant.__doc__ = (
        f"``keras.layers.{base.__name__}`` training with its kernel fake-quantized to "
        "``weight_bits`` (symmetric, per output channel; see :func:`fake_quant_ste`)."
    )
    return FakeQuant


def _keras_layers() -> Any:
    import keras

    return keras.layers


FakeQuantDense = _fake_quant_layer(_keras_layers().Dense)
FakeQuantConv2D = _fake_quant_layer(_keras_layers().Conv2D)


def qat_model(model: Any, bits: int) -> Any:
    """``model`` rebuilt for quantization-aware training: its Dense and Conv2D layers become
    :data:`FakeQuantDense` / :data:`FakeQuantConv2D` with ``weight_bits=bits``, starting from
    the trained weights. Compile and fine-tune it; :func:`strip_fake_quant` turns it back."""
    import keras

    bits = _int_arg(bits, "bits", 2)

    def clone(layer: Any) -> Any:
        if type(layer) is keras.layers.Dense:
            return FakeQuantDense(**layer.get_config(), weight_bits=bits)
        if type(layer) is keras.layers.Conv2D:
            return FakeQuantConv2D(**layer.get_config(), weight_bits=bits)
        return layer.__class__.from_config(layer.get_config())

    qat = keras.models.clone_model(model, clone_function=clone)
    qat.set_weights(model.get_weights())
    if not any(isinstance(layer, FakeQuantDense | FakeQuantConv2D) for layer in qat.layers):
        raise ValueError(
            "qat_model found no Dense or Conv2D layer in the model's top level to fake-quantize"
        )
    return qat


def strip_fake_quant(qat: Any, bits: int | None = None) -> Any:
    """The plain Keras model of a QAT model, its kernels quantized to the QAT bits.

    Returns ``quantize_weights(plain, bits)``: exactly the forward pass the QAT model trained
    with, now as ordinary Dense/Conv2D layers. ``bits`` defaults to the layers' ``weight_bits``.
    """
    import keras

    found = {
        layer.weight_bits
        for layer in qat.layers
        if isinstance(layer, FakeQuantDense | FakeQuantConv2D)
    }
    if not found:
        raise ValueError("strip_fake_quant needs a model from qat_model (no fake-quant layers)")
    if bits is None:
        if len(found) > 1:
            raise ValueError(f"layers use different weight_bits {sorted(found)}; pass bits=")
        bits = found.pop()

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if isinstance(layer, FakeQuantDense):
            config.pop("weight_bits")
            return keras.layers.Dense(**config)
        if isinstance(layer, FakeQuantConv2D):
            config.pop("weight_bits")
            return keras.layers.Conv2D(**config)
        return layer.__class__.from_config(config)

    plain = keras.models.clone_model(qat, clone_function=clone)
    plain.set_weights(qat.get_weights())
    return quantize_weights(plain, bits)


# ============================================================================ LiteRT

#: The four post-training modes of the LiteRT converter (ai.google.dev/edge/litert, 'Post-
#: training quantization'): no quantization; fp16 weights; int8 weights with float
#: activations ('dynamic range': activations quantized on the fly inside each kernel);
#: everything int8, activation ranges calibrated on representative data.
TFLITE_MODES = ("float32", "float16", "dynamic_int8", "full_int8")

#: What the converter and the runtime print on stderr that says nothing to a student.
_LITERT_NOISE = (
    "fully_quantize:",
    "Created TensorFlow Lite XNNPACK delegate",
    "Ignored output_format",
    "Ignored drop_control_dependency",
    "Estimated count of arithmetic ops",
)


@contextlib.contextmanager
def _quiet_litert() -> Iterator[None]:
    """Silence the converter's stdout ('Saved artifact at ...'), its known stderr lines, its
    INFO log lines and Python warnings that concern TensorFlow's plumbing; other stderr lines
    (real errors) pass through."""
    from ._env import NOISE, filtered_stderr

    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl")]
    levels = [logger.level for logger in loggers]
    with (
        contextlib.redirect_stdout(io.StringIO()),
        filtered_stderr(NOISE + _LITERT_NOISE),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", message=".*Statistics for quantized inputs.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        for logger in loggers:  # 'INFO:tensorflow:Assets written to: /tmp/...' in notebooks
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def to_tflite(
    model: Any,
    mode: str = "float32",
    representative_data: Any = None,
    per_channel: bool = True,
) -> bytes:
    """Convert a Keras model to a LiteRT flatbuffer (``.tflite`` bytes) in one of :data:`TFLITE_MODES`.

    * ``'float32'``: the graph as is.
    * ``'float16'``: weights stored as fp16 (half the bytes); CPUs dequantize them to fp32
      at load time, GPUs may compute in fp16.
    * ``'dynamic_int8'``: weights int8 (symmetric); activations stay float between layers
      and are quantized on the fly inside each matrix multiply ("dynamic range").
    * ``'full_int8'``: weights *and* activations int8, input and output int8 too (what
      microcontrollers and NPUs such as the Edge TPU need). Activation ranges come from
      ``representative_data``: a float32 array (N, ...) of typical inputs, each fed once.

    ``per_channel=False`` gives one scale per weight tensor instead of one per output channel
    (the converter's ``_experimental_disable_per_channel``): fewer scale/zero-point entries in
    the file, usually a little more error. Uses ``TFLiteConverter.from_keras_model``
    (``from_concrete_functions`` writes unfrozen weights that output NaN on this stack).
    """
    import tensorflow as tf

    if mode not in TFLITE_MODES:
        raise ValueError(f"mode={mode!r} is not one of {', '.join(map(repr, TFLITE_MODES))}")
    if mode == "full_int8":
        if representative_data is None:
            raise ValueError(
                "mode='full_int8' needs representative_data: a float32 array (N, ...) of typical "
                "inputs (e.g. 100-500 training images) to calibrate the activation ranges"
            )
        rep = np.asarray(representative_data, dtype=np.float32)
        expected = tuple(model.input_shape[1:])
        if rep.ndim != len(expected) + 1 or any(
            e is not None and e != s for e, s in zip(expected, rep.shape[1:], strict=True)
        ):
            raise ValueError(
                f"representative_data has shape {rep.shape}; the model takes (N, "
                f"{', '.join(map(str, expected))})"
            )
        if len(rep) == 0:
            raise ValueError("representative_data is empty: pass at least one input")
    elif representative_data is not None:
        raise ValueError(
            f"representative_data is only used by mode='full_int8', not mode={mode!r}; drop it"
        )
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "full_int8":
        converter.representative_dataset = lambda: ([rep[i : i + 1]] for i in range(len(rep)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if not per_channel:
        converter._experimental_disable_per_channel = True
    with _quiet_litert():
        return bytes(converter.convert())


def interpreter_class() -> type:
    """LiteRT's ``ai_edge_litert.interpreter.Interpreter``; where that package does not import
    (no wheel for Intel macOS, for one), TensorFlow's older copy ``tf.lite.Interpreter``."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter
    return Interpreter


_TFLITE_IDENTIFIER = b"TFL3"


class LiteRTModel:
    """A ``.tflite`` model ready to run: predictions, accuracy and batch-1 latency.

    Inputs are float32 as for the Keras model; for an int8 model they are quantized with
    the input tensor's (S, Z) and the int8 outputs dequantized, so callers never see the
    difference. ``num_threads=1`` by default: latency on one core, as on a small device.

    >>> lite = LiteRTModel(to_tflite(model, "full_int8", x_train[:200]))  # doctest: +SKIP
    >>> lite.accuracy(x_test, y_test), lite.latency().median               # doctest: +SKIP
    """

    def __init__(self, model_content: bytes | str | Path, num_threads: int = 1) -> None:
        if isinstance(model_content, str | Path):
            model_content = Path(model_content).read_bytes()
        if not isinstance(model_content, bytes | bytearray):
            raise TypeError(
                f"model_content must be .tflite bytes (from to_tflite) or a path, got "
                f"{type(model_content).__name__}"
            )
        if bytes(model_content[4:8]) != _TFLITE_IDENTIFIER:
            raise ValueError("model_content is not a LiteRT flatbuffer (no 'TFL3' identifier)")
        self.model_content = bytes(model_content)
        self.num_threads = _int_arg(num_threads, "num_threads", 1)
        self._interpreters: dict[int, Any] = {}
        details = self._interpreter(1).get_input_details()
        if len(details) != 1:
            raise ValueError(f"LiteRTModel runs single-input models; this one has {len(details)}")
        self.input_shape = tuple(int(d) for d in details[0]["shape"][1:])
        self.input_dtype = np.dtype(details[0]["dtype"])
        self.output_dtype = np.dtype(self._interpreter(1).get_output_details()[0]["dtype"])

    @property
    def size_bytes(self) -> int:
        """Size of the ``.tflite`` file in bytes."""
        return len(self.model_content)

    def _interpreter(self, batch_size: int) -> Any:
        if batch_size not in self._interpreters:
            with _quiet_litert():
                it = interpreter_class()(
                    model_content=self.model_content, num_threads=self.num_threads
                )
                if batch_size != 1:
                    index = it.get_input_details()[0]["index"]
                    shape = list(it.get_input_details()[0]["shape"])
                    it.resize_tensor_input(index, [batch_size, *shape[1:]])
                it.allocate_tensors()
            self._interpreters[batch_size] = it
        return self._interpreters[batch_size]

    def _to_input(self, x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
        if np.issubdtype(self.input_dtype, np.integer):
            scale, zero = detail["quantization"]
            info = np.iinfo(self.input_dtype)
            q = _round_half_away(np.asarray(x, np.float64) / scale) + zero
            return np.clip(q, info.min, info.max).astype(self.input_dtype)
        return np.asarray(x, dtype=self.input_dtype)

    def _from_output(self, y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
        if np.issubdtype(self.output_dtype, np.integer):
            scale, zero = detail["quantization"]
            return ((y.astype(np.float64) - zero) * scale).astype(np.float32)
        return y.astype(np.float32)

    def _run(self, x: np.ndarray) -> np.ndarray:
        it = self._interpreter(len(x))
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        it.set_tensor(inp["index"], self._to_input(x, inp))
        it.invoke()
        return self._from_output(it.get_tensor(out["index"]), out)

    def predict(self, x: Any, batch_size: int = 1000) -> np.ndarray:
        """Float32 outputs for the float32 inputs ``x`` (N, ...), ``batch_size`` at a time."""
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != self.input_shape:
            raise ValueError(
                f"x has samples of shape {x.shape[1:]}; the model takes {self.input_shape}"
            )
        batch_size = _int_arg(batch_size, "batch_size", 1)
        outs = [self._run(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(outs)

    def accuracy(self, x: Any, y: Any, batch_size: int = 1000) -> float:
        """Fraction of ``x`` whose arg-max output equals the label in ``y``."""
        y = np.asarray(y).reshape(-1)
        if len(y) != len(x):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)} labels")
        return float(np.mean(np.argmax(self.predict(x, batch_size), axis=-1) == y))

    def latency(self, x: Any = None, warmup: int = 20, repeats: int = 200) -> Any:
        """Batch-1 latency in seconds (:func:`course_utils.timing.measure_latency`): set the
        input, ``invoke()``, read the output, on ``num_threads`` threads. ``x`` is one input
        sample (default zeros)."""
        from .timing import measure_latency

        it = self._interpreter(1)
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        sample = np.zeros((1, *self.input_shape), np.float32) if x is None else np.asarray(x)
        feed = self._to_input(sample.reshape(1, *self.input_shape), inp)

        def invoke() -> np.ndarray:
            it.set_tensor(inp["index"], feed)
            it.invoke()
            return it.get_tensor(out["index"])

        return measure_latency(invoke, warmup=warmup, repeats=repeats)

    def anatomy(self) -> TfliteAnatomy:
        """What the file is made of: see :func:`tflite_anatomy`."""
        return tflite_anatomy(self.model_content)

    def __repr__(self) -> str:
        return (
            f"LiteRTModel({self.size_bytes:,} bytes, input {self.input_dtype.name}"
            f"{list(self.input_shape)}, {self.num_threads} thread(s))"
        )


def compare_latency(
    lite_models: dict[str, LiteRTModel],
    rounds: int = 5,
    repeats: int = 40,
    warmup: int = 20,
    x: Any = None,
) -> dict[str, Any]:
    """Batch-1 latency of several LiteRT models, timed in alternating rounds.

    On a machine that also runs other work the load changes from second to second; timing
    model A now and model B later compares the load, not the models. Here each model gets
    ``warmup`` untimed calls, then in each of ``rounds`` rounds every model is timed
    ``repeats`` times (:meth:`LiteRTModel.latency`). Returns ``{name: LatencyStats}`` with
    ``rounds x repeats`` samples each, in seconds.
    """
    from .timing import LatencyStats

    if not lite_models:
        raise ValueError("compare_latency: lite_models is empty; pass {'name': LiteRTModel}")
    rounds = _int_arg(rounds, "rounds", 1)
    samples: dict[str, list[np.ndarray]] = {name: [] for name in lite_models}
    for name, lite in lite_models.items():
        if not isinstance(lite, LiteRTModel):
            raise TypeError(f"lite_models[{name!r}] is a {type(lite).__name__}, not a LiteRTModel")
        lite.latency(x, warmup=warmup, repeats=1)
    for _ in range(rounds):
        for name, lite in lite_models.items():
            stats = lite.latency(x, warmup=1, repeats=repeats)
            samples[name].append(stats.samples_seconds)
    return {name: LatencyStats(np.concatenate(s)) for name, s in samples.items()}


@dataclass(frozen=True)
class TfliteAnatomy:
    """Where the bytes of a ``.tflite`` file go.

    Attributes:
        total_bytes: the file.
        constant_bytes: constant tensors' data (weights, biases), by dtype name.
        quant_param_bytes: quantization parameters: 4 bytes per scale (float32) and 8 per
            zero point (int64), as the schema stores them, per tensor or per channel.
        tensors: number of tensors in the graph.
        ops: operator counts by name ('CONV_2D': 2, ...).
    """

    total_bytes: int
    constant_bytes: dict[str, int]
    quant_param_bytes: int
    tensors: int
    ops: dict[str, int] = field(default_factory=dict)

    @property
    def weight_bytes(self) -> int:
        """All constant data (weights and biases)."""
        return sum(self.constant_bytes.values())

    @property
    def other_bytes(self) -> int:
        """Graph structure, names, shapes, signatures, metadata: the rest of the file."""
        return self.total_bytes - self.weight_bytes - self.quant_param_bytes


def tflite_anatomy(model_content: bytes) -> TfliteAnatomy:
    """Read a ``.tflite`` flatbuffer (LiteRT's schema) and total its constant data by dtype,
    its quantization parameters and the rest; count its operators."""
    from tensorflow.lite.python import schema_py_generated as schema

    if bytes(model_content[4:8]) != _TFLITE_IDENTIFIER:
        raise ValueError("model_content is not a LiteRT flatbuffer (no 'TFL3' identifier)")
    dtype_names = {
        v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")
    }
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(model_content, 0)
    constant: dict[str, int] = {}
    quant = tensors = 0
    ops: dict[str, int] = {}
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        tensors += graph.TensorsLength()
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            size = model.Buffers(tensor.Buffer()).DataLength()
            if size:
                name = dtype_names.get(tensor.Type(), str(tensor.Type()))
                constant[name] = constant.get(name, 0) + size
            q = tensor.Quantization()
            if q is not None:
                quant += 4 * q.ScaleLength() + 8 * q.ZeroPointLength()
        for o in range(graph.OperatorsLength()):
            code = model.OperatorCodes(graph.Operators(o).OpcodeIndex())
            op = op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
            ops[op] = ops.get(op, 0) + 1
    constant = dict(sorted(constant.items(), key=lambda kv: -kv[1]))
    return TfliteAnatomy(len(model_content), constant, quant, tensors, ops)


def int8_instructions(cpuinfo: str | Path = "/proc/cpuinfo") -> list[str] | None:
    """The CPU's int8 dot-product instructions, from Linux's ``/proc/cpuinfo`` flags.

    Fast int8 inference on a CPU needs an instruction that multiplies 8-bit integers and
    accumulates in 32 bits: x86 ``avx512_vnni`` / ``avx_vnni`` (Intel Cascade Lake, Alder
    Lake; AMD Zen 4) and ``amx_int8`` (Sapphire Rapids); Arm ``asimddp`` (SDOT, Cortex-A55/A75
    onwards, Apple M1) and ``i8mm`` (SMMLA, Armv8.6). Without one, int8 GEMMs use widening 16-bit
    multiplies and are not faster than fp32 FMAs. Returns the flags found (possibly
    empty), or None where the file cannot be read (not Linux).
    """
    wanted = ("avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "asimddp", "i8mm")
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return None
    flags = set()
    for line in text.splitlines():
        if re.match(r"^(flags|Features)\s*:", line):
            flags.update(line.split(":", 1)[1].split())
    return [f for f in wanted if f in flags]


# ============================================================================ energy per operation


@dataclass(frozen=True)
class OpEnergy:
    """Energy of one operation in a 45 nm process at 0.9 V.

    Attributes:
        operation: 'add', 'mult' or 'read'.
        kind: 'int' or 'float' for arithmetic; 'SRAM 8 KB', 'DRAM', ... for reads.
        bits: operand width.
        picojoules: energy in pJ (1e-12 J).
    """

    operation: str
    kind: str
    bits: int
    picojoules: float

    @property
    def label(self) -> str:
        """'8-bit int add', '32-bit DRAM read', ..."""
        return f"{self.bits}-bit {self.kind} {self.operation}"


#: Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014, Fig. 1.1.9
#: (45 nm, 0.9 V), as Dally tabulates it ('High-Performance Hardware for Machine Learning',
#: 2015-2017 talks; Cadence ENN Summit, 1 Feb 2017, the source seed 004 cites) and Han et al.
#: (Deep Compression, ICLR 2016, Table 1). Horowitz gives cache reads per 64-bit word
#: (8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ) and DRAM as 1.3-2.6 nJ per 64 bits; the 32-bit
#: rows below are half of that, as Dally's table does for the 8 KB SRAM (5 pJ) and DRAM (640 pJ).
ENERGY_45NM: tuple[OpEnergy, ...] = (
    OpEnergy("add", "int", 8, 0.03),
    OpEnergy("add", "int", 32, 0.1),
    OpEnergy("add", "float", 16, 0.4),
    OpEnergy("add", "float", 32, 0.9),
    OpEnergy("mult", "int", 8, 0.2),
    OpEnergy("mult", "int", 32, 3.1),
    OpEnergy("mult", "float", 16, 1.1),
    OpEnergy("mult", "float", 32, 3.7),
    OpEnergy("read", "SRAM 8 KB", 32, 5.0),
    OpEnergy("read", "SRAM 32 KB", 32, 10.0),
    OpEnergy("read", "SRAM 1 MB", 32, 50.0),
    OpEnergy("read", "DRAM", 32, 640.0),
)


def op_energy_pj(operation: str, kind: str, bits: int) -> float:
    """Energy in pJ of one operation of :data:`ENERGY_45NM`, e.g. ``op_energy_pj('mult', 'int', 8)``."""
    for row in ENERGY_45NM:
        if (row.operation, row.kind, row.bits) == (operation, kind, bits):
            return row.picojoules
    have = "; ".join(f"{r.operation!r}, {r.kind!r}, {r.bits}" for r in ENERGY_45NM)
    raise ValueError(f"no energy for ({operation!r}, {kind!r}, {bits}); the table has: {have}")


#: How each format does one multiply-accumulate: (multiply, accumulate) rows of the table.
#: Integer MACs accumulate in 32 bits (an int8 x int8 product needs 16 bits, a sum of many
#: more), as int8 hardware does (TPU v1, VNNI, SDOT); fp16 accumulates in fp16 here.
_MAC = {
    "fp32": (("mult", "float", 32), ("add", "float", 32)),
    "fp16": (("mult", "float", 16), ("add", "float", 16)),
    "int32": (("mult", "int", 32), ("add", "int", 32)),
    "int8": (("mult", "int", 8), ("add", "int", 32)),
}


def mac_energy_pj(fmt: str) -> float:
    """Energy of one multiply-accumulate in pJ: multiply + accumulate of :data:`ENERGY_45NM`
    (fp32 3.7 + 0.9 = 4.6 pJ; int8 0.2 + 0.1 = 0.3 pJ with a 32-bit accumulator)."""
    if fmt not in _MAC:
        raise ValueError(f"fmt={fmt!r} is not one of {', '.join(map(repr, _MAC))}")
    return sum(op_energy_pj(*op) for op in _MAC[fmt])


@dataclass(frozen=True)
class EnergyEstimate:
    """Energy of one inference in joules, split into arithmetic and weight fetches."""

    compute_joules: float
    weight_read_joules: float

    @property
    def joules(self) -> float:
        """Total: compute + weight reads."""
        return self.compute_joules + self.weight_read_joules

    @property
    def memory_share(self) -> float:
        """Fraction of the total spent reading weights."""
        return self.weight_read_joules / self.joules if self.joules else 0.0


def inference_energy(
    macs: int, weights: int, fmt: str = "fp32", memory: str = "DRAM", batch_size: int = 1
) -> EnergyEstimate:
    """Energy per sample of a forward pass: ``macs`` MACs at :func:`mac_energy_pj` plus every
    one of ``weights`` weights read once per batch from ``memory`` (a read row of
    :data:`ENERGY_45NM`), scaled to the format's bits (an int8 weight costs a quarter of a
    32-bit read: energy follows the bits moved).

    A lower bound: activations, instruction fetch and control are not counted (Horowitz: on
    a CPU they cost far more than the arithmetic), and the 45 nm numbers are about halved on
    a 7 nm chip. What it shows is the *ratio*: one DRAM read costs as much as ~140 fp32 MACs.
    """
    macs = _int_arg(macs, "macs", 0)
    weights = _int_arg(weights, "weights", 0)
    batch_size = _int_arg(batch_size, "batch_size", 1)
    bits = {"fp32": 32, "fp16": 16, "int32": 32, "int8": 8}
    if fmt not in bits:
        raise ValueError(f"fmt={fmt!r} is not one of {', '.join(map(repr, bits))}")
    read_pj = op_energy_pj("read", memory, 32) * bits[fmt] / 32
    return EnergyEstimate(
        compute_joules=macs * mac_energy_pj(fmt) * 1e-12,
        weight_read_joules=weights * read_pj * 1e-12 / batch_size,
    )
