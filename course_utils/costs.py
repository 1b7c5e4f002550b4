"""Closed-form compute and memory costs of one DNN layer.

This module is the slide "Inference: Compute & Memory Analysis" of seed 004
(Blott, Hot Chips 2018 tutorial, Part 1), written as code. For layer *i*:

==============  =====================================  ======================================
layer           weights W_i [bits]                     activations A_i [bits]
==============  =====================================  ======================================
fully conn.     IN * OUT * BITS                        BATCH * IN * BITS
convolution     IN_CH * OUT_CH * F_DIM^2 * BITS        BATCH * FM_DIM^2 * IN_CH * BITS
recurrent       (FM_DIM + HID) * HID * GATES * DIRS    BATCH * FM_DIM * DIRS * STATES * SEQ
                * BITS                                 * BITS
==============  =====================================  ======================================

and the operations O_i = 2 x multiply-accumulates (MACs), one multiply plus one add:

* fully connected: O_i = 2 * BATCH * IN * OUT
* convolution:     O_i = 2 * BATCH * FM_DIM^2 * IN_CH * OUT_CH * F_DIM^2
* recurrent:       O_i = 2 * (FM_DIM + HID) * HID * GATES * DIRS * SEQ   (per sequence)

The functions here return bytes (bits / 8), not bits, so that they line up with
memory sizes and bandwidths elsewhere in the course. Biases are ignored, as on the
slide. For a whole Keras model, layer by layer, use :func:`profile` (re-exported
here from :mod:`course_utils.profiler`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from .profiler import profile as profile

__all__ = [
    "RNN_GATES",
    "LayerCost",
    "conv_cost",
    "fc_cost",
    "model_size_bytes",
    "profile",
    "rnn_cost",
    "training_flops",
]

RNN_GATES: dict[str, int] = {"rnn": 1, "gru": 3, "lstm": 4}
"""GATES on the slide: weight matrices per recurrent cell (vanilla RNN 1, GRU 3, LSTM 4)."""


@dataclass(frozen=True)
class LayerCost:
    """W_i, A_i and O_i of one layer (seed 004, 'Inference: Compute & Memory Analysis').

    Attributes:
        weight_bytes: W_i, the layer's weights in bytes (bits / 8).
        activation_bytes: A_i, the layer's input activations in bytes for the whole batch.
        macs: multiply-accumulates for the whole batch.
        ops: O_i = 2 x ``macs`` (one multiply and one add per MAC).
    """

    weight_bytes: float
    activation_bytes: float
    macs: int
    ops: int

    @property
    def arithmetic_intensity(self) -> float:
        """Ops per weight byte, O_i / W_i: seed 004's 'Arithmetic Intensity' slide,
        "with respect to weights assuming weights are off-chip". ``inf`` without weights."""
        if self.weight_bytes == 0:
            return math.inf
        return self.ops / self.weight_bytes


def _integer(value: Any, name: str, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, or a ValueError that names the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})"
        )
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _positive_int(value: Any, name: str) -> int:
    return _integer(value, name, minimum=1)


def _positive_number(value: Any, name: str) -> float:
    """``value`` as a finite real number > 0 (bits=1.58 for ternary weights is fine)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number > 0, got {value!r} ({type(value).__name__})")
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def _layer_cost(weight_bits: float, activation_bits: float, macs: int) -> LayerCost:
    return LayerCost(
        weight_bytes=weight_bits / 8, activation_bytes=activation_bits / 8, macs=macs, ops=2 * macs
    )


def fc_cost(in_features: int, out_features: int, batch: int = 1, bits: float = 32) -> LayerCost:
    """Cost of a fully connected (dense) layer, seed 004 'Inference: Compute & Memory Analysis'.

    W = IN * OUT * BITS, A = BATCH * IN * BITS, O = 2 * BATCH * IN * OUT (biases ignored).

    Args:
        in_features: IN, inputs per sample.
        out_features: OUT, outputs per sample.
        batch: BATCH, samples that share one load of the weights.
        bits: BITS, precision of weights and activations.

    Returns:
        A :class:`LayerCost` in bytes and MACs. Its ``arithmetic_intensity`` is the
        slide's 2 * IN * OUT / (IN * OUT * BITS/8) = 16 / BITS per sample: 0.5 op/B at
        fp32, 2 at int8, 32 at int8 with batch 16.
    """
    in_features = _positive_int(in_features, "in_features")
    out_features = _positive_int(out_features, "out_features")
    batch = _positive_int(batch, "batch")
    bits = _positive_number(bits, "bits")
    return _layer_cost(
        weight_bits=in_features * out_features * bits,
        activation_bits=batch * in_features * bits,
        macs=batch * in_features * out_features,
    )


def conv_cost(
    fm_dim: int, in_ch: int, out_ch: int, f_dim: int, batch: int = 1, bits: float = 32
) -> LayerCost:
    """Cost of a 2-D convolution, seed 004 'Inference: Compute & Memory Analysis'.

    W = IN_CH * OUT_CH * F_DIM^2 * BITS, A = BATCH * FM_DIM^2 * IN_CH * BITS,
    O = 2 * BATCH * FM_DIM^2 * IN_CH * OUT_CH * F_DIM^2 (biases ignored).

    The slide uses one FM_DIM for both feature maps: A needs the *input* side, O the
    *output* side (one F_DIM^2 * IN_CH dot product per output pixel and channel). The
    two are equal only for 'same' padding and stride 1, which the formula silently
    assumes. For strided or 'valid' convolutions use :func:`profile`, which takes the
    output size from the model.

    Args:
        fm_dim: FM_DIM, side of the (square) feature map, in pixels.
        in_ch: IN_CH, input channels.
        out_ch: OUT_CH, output channels (filters).
        f_dim: F_DIM, side of the (square) filter.
        batch: BATCH, images per batch.
        bits: BITS, precision of weights and activations.
    """
    fm_dim = _positive_int(fm_dim, "fm_dim")
    in_ch = _positive_int(in_ch, "in_ch")
    out_ch = _positive_int(out_ch, "out_ch")
    f_dim = _positive_int(f_dim, "f_dim")
    batch = _positive_int(batch, "batch")
    bits = _positive_number(bits, "bits")
    return _layer_cost(
        weight_bits=in_ch * out_ch * f_dim**2 * bits,
        activation_bits=batch * fm_dim**2 * in_ch * bits,
        macs=batch * fm_dim**2 * in_ch * out_ch * f_dim**2,
    )


def rnn_cost(
    fm_dim: int,
    hid: int,
    gates: int | str,
    seq: int,
    dirs: int = 1,
    states: int = 1,
    batch: int = 1,
    bits: float = 32,
) -> LayerCost:
    """Cost of a recurrent layer, seed 004 'Inference: Compute & Memory Analysis'.

    W = (FM_DIM + HID) * HID * GATES * DIRS * BITS,
    A = BATCH * FM_DIM * DIRS * STATES * SEQ * BITS,
    O = 2 * (FM_DIM + HID) * HID * GATES * DIRS * SEQ per sequence; the slide leaves out
    BATCH here, this function multiplies by it like the FC and conv rows do.

    Args:
        fm_dim: FM_DIM, input features per time step.
        hid: HID, hidden size (state and output of each step).
        gates: GATES, weight matrices per cell: 1 vanilla RNN, 3 GRU, 4 LSTM, or one of
            the names in :data:`RNN_GATES` ('rnn', 'gru', 'lstm').
        seq: SEQ, sequence length (time steps).
        dirs: DIRS, 1 unidirectional, 2 bidirectional.
        states: STATES, the slide's worst-case factor on activations (1 = keep one copy).
        batch: BATCH, sequences per batch.
        bits: BITS, precision of weights and activations.
    """
    if isinstance(gates, str):
        if gates.lower() not in RNN_GATES:
            raise ValueError(f"gates must be an int or one of {sorted(RNN_GATES)}, got {gates!r}")
        gates = RNN_GATES[gates.lower()]
    fm_dim = _positive_int(fm_dim, "fm_dim")
    hid = _positive_int(hid, "hid")
    gates = _positive_int(gates, "gates")
    seq = _positive_int(seq, "seq")
    dirs = _positive_int(dirs, "dirs")
    if dirs > 2:
        raise ValueError(f"dirs must be 1 (unidirectional) or 2 (bidirectional), got {dirs}")
    states = _positive_int(states, "states")
    batch = _positive_int(batch, "batch")
    bits = _positive_number(bits, "bits")
    return _layer_cost(
        weight_bits=(fm_dim + hid) * hid * gates * dirs * bits,
        activation_bits=batch * fm_dim * dirs * states * seq * bits,
        macs=batch * (fm_dim + hid) * hid * gates * dirs * seq,
    )


def model_size_bytes(params: int, bits: float) -> float:
    """Bytes to store ``params`` weights at ``bits`` each: params * bits / 8.

    Seed 004, 'Architectural Challenges' table "Modelsize [MB] (ResNet50)": 3.2 MB at
    1 bit, 25.5 at 8, 102.5 at 32 (decimal MB). Computed: torchvision's ResNet-50 count,
    25,557,032 parameters (the "25.5 M" of the slide), gives 3.19 / 25.56 / 102.23 MB;
    Keras' ResNet50, 25,636,712 parameters (it adds conv biases and BatchNorm moving
    statistics), gives 3.20 / 25.64 / 102.55 MB. The slide's 32-bit figure thus matches
    the Keras count, its 8-bit figure the rounded 25.5 M.
    """
    params = _integer(params, "params", minimum=0)
    bits = _positive_number(bits, "bits")
    return params * bits / 8


def training_flops(inference_flops: float, samples: int, epochs: int) -> float:
    """Operations to train: 3 * #dataset * #epochs * O_inference (seed 004, 'Training overall').

    The 3 is one forward pass plus a backward pass that costs twice the forward one
    (gradients with respect to the activations and to the weights).

    Args:
        inference_flops: O_inference, operations of one forward pass of one sample.
        samples: #dataset, training samples per epoch.
        epochs: #epochs.
    """
    inference_flops = _positive_number(inference_flops, "inference_flops")
    samples = _positive_int(samples, "samples")
    epochs = _positive_int(epochs, "epochs")
    return 3 * samples * epochs * inference_flops


def __getattr__(name: str) -> Any:
    """Lazy re-export of :func:`course_utils.profiler.profile` (avoids a circular import)."""
    if name == "profile":
        from .profiler import profile

        return profile
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
