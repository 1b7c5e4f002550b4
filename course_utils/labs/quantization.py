"""Notebook 06's machinery: the notebook's idea (choose S and Z, quantize, dequantize, an int8 layer)
applied to every kernel of a Keras model (post-training weight quantization), trained through the
rounding (quantization-aware training, QAT), and exercise 1's cases and references.
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from ..numerics import QuantParams, choose_params, fake_quantize, quantize
from ..validators import integer


def quantize_weights(model: Any, bits: int = 8, per_channel: bool = True) -> Any:
    """A copy of ``model`` whose Dense and Conv kernels are fake-quantized to ``bits`` (post-training
    *weight* quantization, LiteRT's scheme): ``numerics.fake_quantize(kernel, bits, symmetric=True,
    axis=-1 if per_channel else None)``. Biases, activations and layers with other weights (BatchNorm,
    depthwise convolutions, named in a warning) stay float. The original model is not changed.
    """
    bits = integer("bits", bits, 2)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    kinds = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
    skipped = []
    for layer in clone.layers:
        if type(layer) in kinds or type(layer) in _PLAIN:  # the kernel's last axis: output channels
            axis = -1 if per_channel else None
            layer.kernel.assign(fake_quantize(np.asarray(layer.kernel), bits, symmetric=True, axis=axis))
        elif layer.weights:
            skipped.append(f"{layer.name} ({type(layer).__name__})")
    if skipped:
        warnings.warn("quantize_weights quantizes Dense and Conv kernels only; kept in float: "
                      + ", ".join(skipped), stacklevel=2)
    return clone


def fake_quant_ste(w: Any, bits: int) -> Any:
    """Symmetric per-output-channel fake quantization in Keras ops, with the straight-through
    estimator (STE). Forward: the numbers of ``numerics.fake_quantize`` (S = max|w| / q_max per
    output channel, the last axis). Backward: ``w + stop_gradient(w_q - w)`` has gradient 1, so
    training updates the float "shadow" weights as if rounding were not there (Bengio et al.
    2013; Jacob et al. 2018, section 3).
    """
    qmax = 2 ** (bits - 1) - 1
    if qmax < 1:
        raise ValueError(f"bits={bits}: symmetric fake quantization needs bits >= 2")
    scale = ops.max(ops.abs(w), axis=tuple(range(len(w.shape) - 1)), keepdims=True) / qmax
    scale = ops.where(scale > 0, scale, ops.ones_like(scale))
    w_q = ops.clip(ops.sign(w) * ops.floor(ops.abs(w) / scale + 0.5), -qmax, qmax) * scale
    return w + ops.stop_gradient(w_q - w)


def _fake_quant_layer(base: type) -> type:
    """A subclass of the Keras layer ``base`` whose ``kernel`` is fake-quantized on every use."""

    class FakeQuant(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, weight_bits: int = 8, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.weight_bits = integer("weight_bits", weight_bits, 2)

        @property
        def kernel(self) -> Any:  # Dense.call and BaseConv.call read self.kernel
            return fake_quant_ste(super().kernel, self.weight_bits)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "weight_bits": self.weight_bits}

    FakeQuant.__name__ = FakeQuant.__qualname__ = f"FakeQuant{base.__name__}"
    FakeQuant.__doc__ = f"``keras.layers.{base.__name__}`` with its kernel fake-quantized (QAT)."
    return FakeQuant


FakeQuantDense = _fake_quant_layer(keras.layers.Dense)
FakeQuantConv2D = _fake_quant_layer(keras.layers.Conv2D)
_PLAIN = {FakeQuantDense: keras.layers.Dense, FakeQuantConv2D: keras.layers.Conv2D}


def _swap_layers(model: Any, swap: dict[type, Any]) -> Any:
    """A clone of ``model`` with each layer whose type is in ``swap`` rebuilt by ``swap[type](config)``."""

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        return swap[type(layer)](config) if type(layer) in swap else layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def qat_model(model: Any, bits: int) -> Any:
    """``model`` rebuilt for quantization-aware training: its Dense and Conv2D layers become
    :data:`FakeQuantDense` / :data:`FakeQuantConv2D` with ``weight_bits=bits``, starting from
    the trained weights. Compile and fine-tune it; :func:`strip_fake_quant` turns it back."""
    bits = integer("bits", bits, 2)
    qat = _swap_layers(model, {plain: lambda c, fq=fq: fq(**c, weight_bits=bits) for fq, plain in _PLAIN.items()})
    if not any(type(layer) in _PLAIN for layer in qat.layers):
        raise ValueError("qat_model found no Dense or Conv2D layer in the model's top level")
    return qat


def strip_fake_quant(qat: Any) -> Any:
    """The plain Keras model of a QAT model: ordinary Dense/Conv2D layers whose kernels are
    quantized to the QAT bits, exactly the forward pass the QAT model trained with."""
    bits = {layer.weight_bits for layer in qat.layers if type(layer) in _PLAIN}
    if len(bits) != 1:
        raise ValueError("strip_fake_quant needs a model from qat_model (one weight_bits)")
    swap = {fq: lambda c, plain=plain: plain(**{k: v for k, v in c.items() if k != "weight_bits"})
            for fq, plain in _PLAIN.items()}
    return quantize_weights(_swap_layers(qat, swap), bits.pop())


def int8_dense_case(x: Any, w: Any) -> tuple[Any, ...]:
    """Exercise 1's arguments for y = x @ w: (q_x, z_x, s_x, q_w, s_w, s_y, z_y), the int8 codes
    and (S, Z) of x (asymmetric), w (symmetric, per output channel) and y (asymmetric)."""
    px, pw, py = choose_params(x), choose_params(w, symmetric=True, axis=-1), choose_params(np.asarray(x) @ w)
    return (quantize(x, px), int(px.zero_point), float(px.scale), quantize(w, pw), pw.scale,
            float(py.scale), int(py.zero_point))


def int32_accumulate_reference(q_x: Any, z_x: int, q_w: Any) -> np.ndarray:
    """Exercise 1's accumulator, sum_k (q_x[b, k] - z_x) q_w[k, j], exact (int64)."""
    return (np.asarray(q_x, np.int64) - z_x) @ np.asarray(q_w, np.int64)


def int8_dense_reference(q_x: Any, z_x: int, s_x: float, q_w: Any, s_w: Any, s_y: float, z_y: int) -> np.ndarray:
    """Exercise 1's int8 output codes the float way (Jacob et al. 2018, eq. 4): dequantize x
    and w, multiply in float64, quantize y with (s_y, z_y) to [-128, 127]."""
    y = (s_x * (np.asarray(q_x, np.float64) - z_x)) @ (s_w * np.asarray(q_w, np.float64))
    return quantize(y, QuantParams(np.asarray(s_y), np.asarray(z_y), 8, -128, 127))
