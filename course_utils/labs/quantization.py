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

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..numerics import choose_params, dequantize, fake_quantize, quantize, round_half_away  # noqa: F401
from ..validators import integer

# ============================================================================ number formats


# ============================================================================ affine quantization


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

    bits = integer("bits", bits, 2)
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
            self.weight_bits = integer("weight_bits", weight_bits, 2)

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

    bits = integer("bits", bits, 2)

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




# ============================================================================ energy per operation


