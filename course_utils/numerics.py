"""Number formats and affine quantization (NumPy only): seed 004 ('Customized Arithmetic',
'Example: Reducing Bit-Precision'). The formats' range and precision from their bit layout
(IEEE 754-2008 for the floats), and affine integer quantization (Jacob et al., CVPR 2018,
eq. 1): a real r is stored as an integer q with r = S (q - Z), per tensor or per channel.
Notebook 06 writes these in a few lines and checks them against this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .validators import integer, one_of


@dataclass(frozen=True)
class NumberFormat:
    """A number format by its bit layout: seed 004 'Customized Arithmetic' (Bfloat16, Binary...).

    Floats (``kind='float'``), IEEE 754-2008: a sign bit, ``exponent_bits`` of biased exponent,
    ``mantissa_bits`` of stored fraction (plus an implicit leading 1), subnormals below the
    smallest normal, the top exponent kept for inf/NaN. Integers (``kind='int'``): two's
    complement, in units of a scale S (:func:`choose_params`). ``kind='binary'``: -1 or +1
    times a scale (BinaryConnect/XNOR-Net weights; seed 004's binary networks, FINN).
    """

    name: str
    bits: int
    kind: str
    exponent_bits: int = 0
    mantissa_bits: int = 0

    def __post_init__(self) -> None:
        one_of("kind", self.kind, ("float", "int", "binary"))
        if self.kind == "float" and 1 + self.exponent_bits + self.mantissa_bits != self.bits:
            raise ValueError(f"{self.name}: 1 sign + {self.exponent_bits} exponent + "
                             f"{self.mantissa_bits} mantissa bits != {self.bits} bits")

    @property
    def layout(self) -> str:
        """'1/8/23' (sign/exponent/mantissa) for floats, "two's compl." or 'sign only' otherwise."""
        if self.kind == "float":
            return f"1/{self.exponent_bits}/{self.mantissa_bits}"
        return "two's compl." if self.kind == "int" else "sign only"

    @property
    def _emax(self) -> int:
        return 2 ** (self.exponent_bits - 1) - 1

    @property
    def max_value(self) -> float:
        """Largest finite value: (2 - 2^-m) 2^emax for floats, 2^(b-1) - 1 for ints, 1 for binary."""
        if self.kind == "float":
            return (2 - 2.0**-self.mantissa_bits) * 2.0**self._emax
        return float(2 ** (self.bits - 1) - 1) if self.kind == "int" else 1.0

    @property
    def min_value(self) -> float:
        """Most negative value: -max for floats and binary, -2^(b-1) for ints."""
        return -float(2 ** (self.bits - 1)) if self.kind == "int" else -self.max_value

    @property
    def min_normal(self) -> float:
        """Smallest positive normal float, 2^(1 - emax); 1 (one step) for ints and binary."""
        return 2.0 ** (1 - self._emax) if self.kind == "float" else 1.0

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
        return (self.mantissa_bits + 1 if self.kind == "float" else self.bits) * math.log10(2)


#: The formats of notebook 06, widest first. bf16 (Google Brain, TPU v2) keeps fp32's 8
#: exponent bits and so its range; fp16 (IEEE half) trades range for 3 more mantissa bits.
FORMATS: dict[str, NumberFormat] = {f.name: f for f in (
    NumberFormat("fp32", 32, "float", 8, 23),  # IEEE 754 single: the training default
    NumberFormat("fp16", 16, "float", 5, 10),  # IEEE 754 half: GPUs' tensor cores
    NumberFormat("bf16", 16, "float", 8, 7),  # bfloat16: fp32's range; TPUs and GPUs
    NumberFormat("int8", 8, "int"),  # x scale S: LiteRT, TensorRT, NPUs
    NumberFormat("int4", 4, "int"),  # x scale S: LLM weights (GPTQ, AWQ)
    NumberFormat("binary", 1, "binary"),  # +-1 x scale: BNNs, FINN (seed 004)
)}  # fmt: skip


def _format(fmt: NumberFormat | str) -> NumberFormat:
    if not isinstance(fmt, NumberFormat) and fmt not in FORMATS:
        raise ValueError(f"unknown number format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt if isinstance(fmt, NumberFormat) else FORMATS[fmt]


def formats_table() -> str:
    """:data:`FORMATS` side by side: bits, layout, largest value, smallest positive normal
    value, relative step (epsilon) and decimal digits. Integers are in units of their scale."""
    head = (f"{'format':7s} {'bits':>4s} {'s/e/m':>12s} {'largest':>10s} {'min normal':>11s} "
            f"{'rel. step':>10s} {'digits':>6s}")
    lines = [head, "-" * len(head)]
    for f in FORMATS.values():
        lines.append(f"{f.name:7s} {f.bits:4d} {f.layout:>12s} {f.max_value:10.4g} "
                     f"{f.min_normal:11.4g} {f.epsilon:10.3g} {f.decimal_digits:6.1f}")
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
    if f.kind == "float":  # below the smallest normal, the subnormal step: exponent 1 - emax
        gap = 2.0 ** (np.floor(np.log2(np.maximum(a, f.min_normal))) - f.mantissa_bits)
    else:
        gap = np.full_like(a, 1.0 if f.kind == "int" else 2.0)
    return np.where(a > f.max_value, np.nan, gap)


def cast_to_format(x: Any, fmt: NumberFormat | str) -> np.ndarray:
    """``x`` rounded to the nearest fp16 / bf16 / fp32 value and back to float32 (round to
    nearest even, what ``astype`` does); the error this adds is what casting a model costs.
    Values beyond the format's range become +-inf (fp16 overflows above 65504)."""
    import ml_dtypes  # noqa: F401  (registers NumPy's 'bfloat16'; ships with Keras and TensorFlow)

    dtypes, name = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}, _format(fmt).name
    if name not in dtypes:
        raise ValueError(f"cast_to_format handles the floats fp32, fp16 and bf16; quantize to "
                         f"{name} with fake_quantize(x, bits=...) instead")
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=np.float32).astype(dtypes[name]).astype(np.float32)


def int_range(bits: int, signed: bool = True, narrow: bool = False) -> tuple[int, int]:
    """[q_min, q_max] of a ``bits``-bit integer: [-2^(b-1), 2^(b-1) - 1] signed, [0, 2^b - 1]
    unsigned. ``narrow`` drops the lowest code (-128 for int8), so the range is symmetric:
    LiteRT stores weights as int8 in [-127, 127] with zero point 0 (its quantization spec)."""
    bits = integer("bits", bits, 1)
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    lo += 1 if narrow else 0
    if lo >= hi:
        raise ValueError(f"bits={bits} with narrow={narrow} leaves fewer than 2 levels")
    return lo, hi


@dataclass(frozen=True)
class QuantParams:
    """Scale S and zero point Z of r = S (q - Z), Jacob et al. 2018 eq. 1: ``scale`` in real
    units per integer step and ``zero_point``, the integer that stands for the real 0 (0-d
    arrays per tensor, one per channel along ``axis`` otherwise); ``bits`` and the integer
    range [``qmin``, ``qmax``] (see :func:`int_range`)."""

    scale: np.ndarray
    zero_point: np.ndarray
    bits: int
    qmin: int
    qmax: int
    axis: int | None = None

    @property
    def int_dtype(self) -> np.dtype:
        """The smallest NumPy integer type that holds [qmin, qmax] (int8 for 8 bits and less)."""
        fits = [t for t in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.int64)
                if np.iinfo(t).min <= self.qmin and self.qmax <= np.iinfo(t).max]  # fmt: skip
        return np.dtype(fits[0])

    def broadcast(self, ndim: int) -> tuple[np.ndarray, np.ndarray]:
        """``scale`` and ``zero_point`` shaped to broadcast against an ``ndim``-d tensor."""
        if self.axis is None:
            return self.scale, self.zero_point
        shape = [-1 if i == self.axis else 1 for i in range(ndim)]
        return self.scale.reshape(shape), self.zero_point.reshape(shape)


def round_half_away(v: np.ndarray) -> np.ndarray:
    """Round to nearest, ties away from zero: C's ``round``, which LiteRT's kernels use
    (NumPy's ``np.round`` sends ties to even)."""
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def choose_params(x: Any, bits: int = 8, symmetric: bool = False, axis: int | None = None,
                  signed: bool = True, narrow: bool | None = None) -> QuantParams:  # fmt: skip
    """Scale and zero point for ``x`` from its range (min/max calibration).

    Asymmetric (activations): the range [r_min, r_max] is first stretched to contain 0, then

        S = (r_max - r_min) / (q_max - q_min),    Z = round(q_min - r_min / S),

    so that the real 0 (zero padding, ReLU outputs) is an exact integer. Symmetric (weights):
    Z = 0 and S = max|r| / q_max, with the narrow range [-127, 127] by default, as LiteRT does.

    ``axis``: one (S, Z) per channel along it (Keras kernels: -1, the output channels); None
    for one pair for the whole tensor. ``signed=False`` for the uint range; ``narrow`` drops
    the lowest code (default: ``symmetric``).
    """
    bits = integer("bits", bits, 2 if (symmetric and narrow is not False) else 1)
    if symmetric and not signed:
        raise ValueError("symmetric quantization needs signed integers (signed=True)")
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError("x must be a non-empty tensor of finite numbers")
    narrow = symmetric if narrow is None else narrow
    qmin, qmax = int_range(bits, signed, narrow)
    if axis is not None and (not isinstance(axis, int) or not -a.ndim <= axis < a.ndim):
        raise ValueError(f"axis={axis!r} is not an axis of a {a.ndim}-d tensor")
    axis = None if axis is None else axis % a.ndim
    reduce = tuple(i for i in range(a.ndim) if i != axis)  # all axes but the channel axis
    r_min = np.minimum(a.min(axis=reduce), 0.0)
    r_max = np.maximum(a.max(axis=reduce), 0.0)
    if symmetric:
        scale = np.maximum(np.abs(r_min), np.abs(r_max)) / qmax
    else:
        scale = (r_max - r_min) / (qmax - qmin)
    scale = np.where(scale > 0, scale, 1.0)  # an all-zero channel: any scale stores it exactly
    zero = np.zeros_like(scale) if symmetric else round_half_away(qmin - r_min / scale)
    zero = np.asarray(np.clip(zero, qmin, qmax).astype(np.int64))
    return QuantParams(np.asarray(scale), zero, bits, qmin, qmax, axis)


def quantize(x: Any, params: QuantParams) -> np.ndarray:
    """q = clip(round(r / S) + Z, q_min, q_max), as the smallest integer dtype that fits."""
    a = np.asarray(x, dtype=np.float64)
    scale, zero = params.broadcast(a.ndim)
    return np.clip(round_half_away(a / scale) + zero, params.qmin, params.qmax).astype(params.int_dtype)


def dequantize(q: Any, params: QuantParams) -> np.ndarray:
    """r = S (q - Z) as float32: the real values the integers stand for."""
    qa = np.asarray(q, dtype=np.int64)
    scale, zero = params.broadcast(qa.ndim)
    return (scale * (qa - zero)).astype(np.float32)


def fake_quantize(x: Any, bits: int = 8, symmetric: bool = True, axis: int | None = None) -> np.ndarray:
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
    noise = float(np.sum((a - np.asarray(x_hat, dtype=np.float64)) ** 2))
    return math.inf if noise == 0 else 10 * math.log10(float(np.sum(a**2)) / noise)
