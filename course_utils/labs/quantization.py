"""Notebook 06's Keras machinery: post-training weight quantization and quantization-aware
training (QAT). The idea itself (choose S and Z, quantize, dequantize) is written in the
notebook and checked against :mod:`course_utils.numerics`; this is the harness that applies
it to every kernel of a Keras model and trains through the rounding.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..numerics import fake_quantize
from ..validators import integer


def _kernel_layers(model: Any) -> tuple[list[Any], list[str]]:
    """The layers whose kernel's last axis is the output channel (Dense, Conv1D-3D and their
    fake-quant versions), and the names of other layers that hold weights."""
    import keras

    kinds = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
    kernel, other = [], []
    for layer in model.layers:
        if type(layer) in kinds or type(layer) in (FakeQuantDense, FakeQuantConv2D):
            kernel.append(layer)
        elif layer.weights:
            other.append(f"{layer.name} ({type(layer).__name__})")
    return kernel, other


def quantize_weights(model: Any, bits: int = 8, per_channel: bool = True) -> Any:
    """A copy of ``model`` whose Dense and Conv kernels are fake-quantized to ``bits``.

    Post-training *weight* quantization: every kernel becomes ``numerics.fake_quantize(kernel,
    bits, symmetric=True, axis=-1 if per_channel else None)``, LiteRT's weight scheme
    (symmetric, narrow range, per output channel). Biases and activations stay float. Layers
    with other weights (BatchNorm, depthwise convolutions, ...) stay float, named in a
    warning. The original model is not changed.
    """
    import keras

    bits = integer("bits", bits, 2)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    kernel_layers, skipped = _kernel_layers(clone)
    for layer in kernel_layers:
        axis = -1 if per_channel else None
        layer.kernel.assign(fake_quantize(np.asarray(layer.kernel), bits, symmetric=True, axis=axis))
    if skipped:
        warnings.warn(
            "quantize_weights quantizes Dense and Conv kernels only; kept in float: "
            + ", ".join(skipped),
            stacklevel=2,
        )
    return clone


def fake_quant_ste(w: Any, bits: int) -> Any:
    """Symmetric per-output-channel fake quantization in Keras ops, with the straight-through
    estimator (STE).

    Forward: S = max|w| / (2^(b-1) - 1) per output channel (last axis), w_q = clip(round(w /
    S), -q_max, q_max) S, the numbers of ``numerics.fake_quantize``. Backward: ``w +
    stop_gradient(w_q - w)`` has gradient 1 with respect to w, so training updates the float
    "shadow" weights as if rounding were not there (Bengio et al. 2013; Jacob et al. 2018, 3).
    """
    from keras import ops

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


def _keras_layers() -> Any:
    import keras

    return keras.layers


FakeQuantDense = _fake_quant_layer(_keras_layers().Dense)
FakeQuantConv2D = _fake_quant_layer(_keras_layers().Conv2D)
_PLAIN = {FakeQuantDense: _keras_layers().Dense, FakeQuantConv2D: _keras_layers().Conv2D}


def qat_model(model: Any, bits: int) -> Any:
    """``model`` rebuilt for quantization-aware training: its Dense and Conv2D layers become
    :data:`FakeQuantDense` / :data:`FakeQuantConv2D` with ``weight_bits=bits``, starting from
    the trained weights. Compile and fine-tune it; :func:`strip_fake_quant` turns it back."""
    import keras

    bits = integer("bits", bits, 2)
    fake = {plain: fq for fq, plain in _PLAIN.items()}

    def clone(layer: Any) -> Any:
        if type(layer) in fake:
            return fake[type(layer)](**layer.get_config(), weight_bits=bits)
        return layer.__class__.from_config(layer.get_config())

    qat = keras.models.clone_model(model, clone_function=clone)
    qat.set_weights(model.get_weights())
    if not any(type(layer) in _PLAIN for layer in qat.layers):
        raise ValueError("qat_model found no Dense or Conv2D layer in the model's top level")
    return qat


def strip_fake_quant(qat: Any) -> Any:
    """The plain Keras model of a QAT model: ordinary Dense/Conv2D layers whose kernels are
    quantized to the QAT bits, exactly the forward pass the QAT model trained with."""
    import keras

    bits = {layer.weight_bits for layer in qat.layers if type(layer) in _PLAIN}
    if len(bits) != 1:
        raise ValueError("strip_fake_quant needs a model from qat_model (one weight_bits)")

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if type(layer) in _PLAIN:
            config.pop("weight_bits")
            return _PLAIN[type(layer)](**config)
        return layer.__class__.from_config(config)

    plain = keras.models.clone_model(qat, clone_function=clone)
    plain.set_weights(qat.get_weights())
    return quantize_weights(plain, bits.pop())
