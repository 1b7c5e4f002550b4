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
slide. For a whole Keras model, layer by layer, use :func:`course_utils.profiler.profile`.
Further down: separable convolution (seed 003), FLOPS per $ and per W, utilization, E = P t,
and energy per operation (Horowitz 2014).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .validators import (
    fraction,
    integer,
    non_negative_number,
    one_of,
    positive_int,
    positive_number,
)

RNN_GATES: dict[str, int] = {"rnn": 1, "gru": 3, "lstm": 4}
"""GATES on the slide: weight matrices per recurrent cell (vanilla RNN 1, GRU 3, LSTM 4)."""


@dataclass(frozen=True)
class LayerCost:
    """W_i, A_i and O_i of one layer (seed 004, 'Inference: Compute & Memory Analysis'):
    ``weight_bytes`` W_i (bits / 8), ``activation_bytes`` A_i, the input activations of the
    whole batch, ``macs`` for the whole batch and ``ops`` O_i = 2 x ``macs``."""

    weight_bytes: float
    activation_bytes: float
    macs: int
    ops: int

    @property
    def arithmetic_intensity(self) -> float:
        """Ops per weight byte, O_i / W_i: seed 004's 'Arithmetic Intensity' slide,
        "with respect to weights assuming weights are off-chip". ``inf`` without weights."""
        return self.ops / self.weight_bytes if self.weight_bytes else math.inf


def _layer_cost(weight_bits: float, activation_bits: float, macs: int) -> LayerCost:
    return LayerCost(
        weight_bytes=weight_bits / 8, activation_bytes=activation_bits / 8, macs=macs, ops=2 * macs
    )


def fc_cost(in_features: int, out_features: int, batch: int = 1, bits: float = 32) -> LayerCost:
    """Cost of a fully connected (dense) layer, seed 004 'Inference: Compute & Memory Analysis'.

    W = IN * OUT * BITS, A = BATCH * IN * BITS, O = 2 * BATCH * IN * OUT (biases ignored), with
    IN = ``in_features``, OUT = ``out_features`` per sample, BATCH = ``batch`` samples that share
    one load of the weights, BITS = ``bits`` of weights and activations. The arithmetic intensity
    2 * IN * OUT / (IN * OUT * BITS/8) = 16 / BITS per sample is the slide's 0.5 op/B at fp32,
    2 at int8, 32 at int8 with batch 16.
    """
    in_features = positive_int("in_features", in_features)
    out_features = positive_int("out_features", out_features)
    batch = positive_int("batch", batch)
    bits = positive_number("bits", bits)
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
    two are equal only for 'same' padding and stride 1, which the formula silently assumes;
    :func:`course_utils.profiler.profile` takes the output size from the model instead.
    ``fm_dim``: side of the square feature map in pixels; ``in_ch`` and ``out_ch``: channels;
    ``f_dim``: side of the square filter; ``batch``: images.
    """
    fm_dim = positive_int("fm_dim", fm_dim)
    in_ch = positive_int("in_ch", in_ch)
    out_ch = positive_int("out_ch", out_ch)
    f_dim = positive_int("f_dim", f_dim)
    batch = positive_int("batch", batch)
    bits = positive_number("bits", bits)
    return _layer_cost(
        weight_bits=in_ch * out_ch * f_dim**2 * bits,
        activation_bits=batch * fm_dim**2 * in_ch * bits,
        macs=batch * fm_dim**2 * in_ch * out_ch * f_dim**2,
    )


def rnn_cost(fm_dim: int, hid: int, gates: int | str, seq: int, dirs: int = 1, states: int = 1,
             batch: int = 1, bits: float = 32) -> LayerCost:  # fmt: skip
    """Cost of a recurrent layer, seed 004 'Inference: Compute & Memory Analysis'.

    W = (FM_DIM + HID) * HID * GATES * DIRS * BITS,
    A = BATCH * FM_DIM * DIRS * STATES * SEQ * BITS,
    O = 2 * (FM_DIM + HID) * HID * GATES * DIRS * SEQ per sequence; the slide leaves out
    BATCH here, this function multiplies by it like the FC and conv rows do.

    ``fm_dim``: input features per time step; ``hid``: hidden size; ``gates``: weight matrices
    per cell (1 vanilla RNN, 3 GRU, 4 LSTM) or a name of :data:`RNN_GATES`; ``seq``: time
    steps; ``dirs``: 1 or 2 (bidirectional); ``states``: the slide's worst-case factor on
    activations (1 = keep one copy); ``batch``: sequences.
    """
    if isinstance(gates, str):
        gates = RNN_GATES[one_of("gates", gates.lower(), RNN_GATES)]
    fm_dim = positive_int("fm_dim", fm_dim)
    hid = positive_int("hid", hid)
    gates = positive_int("gates", gates)
    seq = positive_int("seq", seq)
    dirs = one_of("dirs", positive_int("dirs", dirs), (1, 2))
    states = positive_int("states", states)
    batch = positive_int("batch", batch)
    bits = positive_number("bits", bits)
    return _layer_cost(
        weight_bits=(fm_dim + hid) * hid * gates * dirs * bits,
        activation_bits=batch * fm_dim * dirs * states * seq * bits,
        macs=batch * (fm_dim + hid) * hid * gates * dirs * seq,
    )


def model_size_bytes(params: int, bits: float) -> float:
    """Bytes to store ``params`` weights at ``bits`` each: params * bits / 8.

    Seed 004, 'Architectural Challenges' table "Modelsize [MB] (ResNet50)": 3.2 MB at
    1 bit, 25.5 at 8, 102.5 at 32 (decimal MB). Keras' ResNet50 has 25,636,712 parameters,
    25,502,912 of them in conv and dense kernels: all parameters give 3.20 / 25.64 / 102.55 MB,
    the kernels alone 3.19 / 25.50 / 102.01 MB. The slide's 1-bit row fits either count, its
    8-bit row the kernels, its 32-bit row all parameters (notebook 06 prints both).
    """
    params = integer("params", params, minimum=0)
    bits = positive_number("bits", bits)
    return params * bits / 8


def training_flops(inference_flops: float, samples: int, epochs: int) -> float:
    """Operations to train: 3 * #dataset * #epochs * O_inference (seed 004, 'Training overall').

    The 3 is one forward pass plus a backward pass that costs twice the forward one
    (gradients with respect to the activations and to the weights). ``inference_flops``:
    operations of one forward pass of one sample; ``samples``: training samples per epoch.
    """
    inference_flops = positive_number("inference_flops", inference_flops)
    samples = positive_int("samples", samples)
    epochs = positive_int("epochs", epochs)
    return 3 * samples * epochs * inference_flops


def flops_per_dollar(flop_per_s: float, price_usd: float) -> float:
    """mu = FLOPS / $ (seed 002, 'Methods and Terminology'): FLOP/s bought per US dollar."""
    return positive_number("flop_per_s", flop_per_s) / positive_number("price_usd", price_usd)


def flops_per_watt(flop_per_s: float, watts: float) -> float:
    """eta = FLOPS / Watt (seed 002, 'Methods and Terminology'): FLOP/s per watt, i.e. FLOP per joule."""
    return positive_number("flop_per_s", flop_per_s) / positive_number("watts", watts)


def compute_seconds(flop: float, flop_per_s: float, utilization: float = 1.0) -> float:
    """Seconds to do ``flop`` operations at ``utilization`` x ``flop_per_s`` (FLOP/s).

    Seed 004, 'Training - Approximately 100 Epochs': "Single P40 GPU (12TFLOPS): 11days @ 100%".
    """
    return positive_number("flop", flop) / (
        positive_number("flop_per_s", flop_per_s) * fraction("utilization", utilization, allow_zero=False)
    )


def implied_utilization(flop: float, peak_flop_per_s: float, seconds: float) -> float:
    """The fraction of ``peak_flop_per_s`` that doing ``flop`` operations in ``seconds`` implies.

    ``flop / (peak x seconds)``: for a measured run, the achieved share of peak; for a quoted
    duration (seed 004's "11 days" for a P40), the utilization the quote silently assumes.
    """
    return (
        positive_number("flop", flop)
        / positive_number("peak_flop_per_s", peak_flop_per_s)
        / positive_number("seconds", seconds)
    )


def estimate_energy_joules(seconds: float, watts: float) -> float:
    """Energy estimate ``E = P x t`` in joules, from a duration (s) and an assumed power (W).

    Seed 000, 'Energy / Power Efficiency'. Use it when no energy counter can be read; the power
    is an assumption (a TDP, or a share of one), so label the result as an estimate.

    Raises ValueError for a negative or non-finite ``seconds`` or ``watts``.
    """
    return non_negative_number("seconds", seconds) * non_negative_number("watts", watts)


def tdp_share_watts(tdp_watts: float, cores_used: int, cores_total: int) -> float:
    """Assumed power (W) of ``cores_used`` cores of a ``cores_total``-core chip with TDP ``tdp_watts``.

    A rough basis for :func:`estimate_energy_joules` on a machine you rent a slice of (a cloud
    VM with 2 of a 64-core package's cores draws about 2/64 of its TDP, plus a share of the
    memory system that this ignores). Raises ValueError for non-positive values or
    ``cores_used > cores_total``.
    """
    tdp_watts = positive_number("tdp_watts", tdp_watts)
    cores_used = positive_int("cores_used", cores_used)
    cores_total = positive_int("cores_total", cores_total)
    if cores_used > cores_total:
        raise ValueError(f"cores_used ({cores_used}) cannot exceed cores_total ({cores_total})")
    return tdp_watts * cores_used / cores_total


# ------------------------------------------------------------- separable convolution
@dataclass(frozen=True)
class SeparableCost:
    """A standard k x k convolution and its depthwise-separable factorisation, one image.

    Seed 003 ('MobileNet V1: depthwise separable convolution'); Howard et al. 2017,
    Section 3.1, equations (2) and (5), for a D_F x D_F output map (stride 1, 'same'
    padding), biases left out as in the paper. MACs: standard D_K^2 M N D_F^2, depthwise
    D_K^2 M D_F^2 (one k x k filter per input channel), pointwise M N D_F^2 (a 1 x 1
    convolution mixing the channels); weights (params): the same without D_F^2.
    ``separable_*`` = depthwise + pointwise.
    """

    standard_macs: int
    depthwise_macs: int
    pointwise_macs: int
    separable_macs: int
    standard_params: int
    depthwise_params: int
    pointwise_params: int
    separable_params: int

    @property
    def mac_ratio(self) -> float:
        """Separable / standard MACs: exactly 1/N + 1/D_K^2 (Howard et al., eq. 5)."""
        return self.separable_macs / self.standard_macs

    @property
    def param_ratio(self) -> float:
        """Separable / standard weights: also 1/N + 1/D_K^2."""
        return self.separable_params / self.standard_params


def separable_cost(fm_dim: int, in_ch: int, out_ch: int, f_dim: int = 3) -> SeparableCost:
    """MACs and weights of a standard convolution and of its depthwise-separable version.

    Seed 003: standard convolution costs k x k x M x N, depthwise separable k x k x M +
    1 x 1 x M x N, per output pixel; times D_F^2 for the layer (Howard et al. 2017,
    eqs. 2 and 4). The standard count is seed 004's conv formula (:func:`conv_cost`).
    ``fm_dim`` D_F (output side, pixels), ``in_ch`` M, ``out_ch`` N, ``f_dim`` D_K.

    Example: the paper's Table 3 layer (D_K 3, M = N = 512, D_F 14) costs 462.4 M MACs
    as a standard convolution and 52.3 M depthwise separable.
    """
    standard = conv_cost(fm_dim, in_ch, out_ch, f_dim)  # checks the four arguments
    dw, pw, pixels = f_dim * f_dim * in_ch, in_ch * out_ch, fm_dim * fm_dim  # MACs = pixels x W
    return SeparableCost(
        standard_macs=standard.macs, depthwise_macs=pixels * dw, pointwise_macs=pixels * pw,
        separable_macs=pixels * (dw + pw), standard_params=f_dim * f_dim * in_ch * out_ch,
        depthwise_params=dw, pointwise_params=pw, separable_params=dw + pw,
    )


def separable_cost_ratio(out_ch: int, f_dim: int = 3) -> float:
    """1/N + 1/D_K^2: depthwise-separable MACs as a fraction of a standard convolution's.

    Howard et al. 2017, eq. 5: (D_K^2 M D_F^2 + M N D_F^2) / (D_K^2 M N D_F^2). M and
    D_F cancel, so only the output channels N and the kernel side D_K matter. With
    3 x 3 kernels and N from 64 to 1024 it is 1/7.9 to 1/8.9: "8 to 9 times less
    computation" (Section 3.1).
    """
    return 1 / positive_int("out_ch", out_ch) + 1 / positive_int("f_dim", f_dim) ** 2


@dataclass(frozen=True)
class OpEnergy:
    """Energy in ``picojoules`` (1e-12 J) of one operation in a 45 nm process at 0.9 V:
    ``operation`` 'add', 'mult' or 'read'; ``kind`` 'int' or 'float' for arithmetic, 'SRAM 8 KB',
    'DRAM', ... for reads; ``bits`` the operand width; ``capacity_bytes`` for a read, how many
    bytes that memory holds (inf for DRAM)."""

    operation: str
    kind: str
    bits: int
    picojoules: float
    capacity_bytes: float = 0.0

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
    OpEnergy("read", "SRAM 8 KB", 32, 5.0, 8 * 2**10),
    OpEnergy("read", "SRAM 32 KB", 32, 10.0, 32 * 2**10),
    OpEnergy("read", "SRAM 1 MB", 32, 50.0, 2**20),
    OpEnergy("read", "DRAM", 32, 640.0, math.inf),
)


def op_energy_pj(operation: str, kind: str, bits: int) -> float:
    """Energy in pJ of one operation of :data:`ENERGY_45NM`, e.g. ``op_energy_pj('mult', 'int', 8)``."""
    for row in ENERGY_45NM:
        if (row.operation, row.kind, row.bits) == (operation, kind, bits):
            return row.picojoules
    have = "; ".join(f"{r.operation!r}, {r.kind!r}, {r.bits}" for r in ENERGY_45NM)
    raise ValueError(f"no energy for ({operation!r}, {kind!r}, {bits}); the table has: {have}")


def memory_for(weight_bytes: float) -> str:
    """The smallest memory of :data:`ENERGY_45NM` that holds ``weight_bytes``: 'SRAM 8 KB',
    'SRAM 32 KB', 'SRAM 1 MB' or, beyond 1 MiB, 'DRAM'. A bigger memory costs more per read
    (longer wires), so an estimate must charge the memory the weights really fit in."""
    weight_bytes = non_negative_number("weight_bytes", weight_bytes)
    reads = sorted((r for r in ENERGY_45NM if r.operation == "read"), key=lambda r: r.capacity_bytes)
    return next(r.kind for r in reads if weight_bytes <= r.capacity_bytes)


#: How each format does one multiply-accumulate: (multiply, accumulate) rows of the table.
#: Integer MACs accumulate in 32 bits (an int8 x int8 product needs 16 bits, a sum of many
#: more), as int8 hardware does (TPU v1, VNNI, SDOT); fp16 accumulates in fp16 here.
MAC_OPERATIONS = {
    "fp32": (("mult", "float", 32), ("add", "float", 32)),
    "fp16": (("mult", "float", 16), ("add", "float", 16)),
    "int32": (("mult", "int", 32), ("add", "int", 32)),
    "int8": (("mult", "int", 8), ("add", "int", 32)),
}
FORMAT_BITS = {"fp32": 32, "fp16": 16, "int32": 32, "int8": 8}


def mac_energy_pj(fmt: str) -> float:
    """Energy of one multiply-accumulate in pJ: multiply + accumulate of :data:`ENERGY_45NM`
    (fp32 3.7 + 0.9 = 4.6 pJ; int8 0.2 + 0.1 = 0.3 pJ with a 32-bit accumulator)."""
    return sum(op_energy_pj(*op) for op in MAC_OPERATIONS[one_of("fmt", fmt, MAC_OPERATIONS)])


@dataclass(frozen=True)
class EnergyEstimate:
    """Energy of one inference in joules: ``compute_joules`` (MACs x MAC energy) and
    ``weight_read_joules`` (the weights read once per batch, per sample) from ``memory``,
    the read row charged ('SRAM 1 MB', 'DRAM', ...)."""

    compute_joules: float
    weight_read_joules: float
    memory: str

    @property
    def joules(self) -> float:
        """Total: compute + weight reads."""
        return self.compute_joules + self.weight_read_joules

    @property
    def memory_share(self) -> float:
        """Fraction of the total spent reading weights."""
        return self.weight_read_joules / self.joules if self.joules else 0.0


def inference_energy(
    macs: int, weights: int, fmt: str = "fp32", memory: str | None = None, batch_size: int = 1
) -> EnergyEstimate:
    """Energy per sample of a forward pass: ``macs`` MACs at :func:`mac_energy_pj` plus every
    one of ``weights`` weights read once per batch, scaled to the format's bits (an int8
    weight costs a quarter of a 32-bit read: energy follows the bits moved).

    ``memory`` is a read row of :data:`ENERGY_45NM` ('DRAM' for weights kept off chip); by
    default the smallest one that holds the weights at this format (:func:`memory_for`).

    A lower bound: activations, instruction fetch and control are not counted (Horowitz: on
    a CPU they cost far more than the arithmetic), and the 45 nm numbers are about halved on
    a 7 nm chip. What it shows is the *ratio*: one DRAM read costs as much as ~140 fp32 MACs.
    """
    macs = integer("macs", macs, 0)
    weights = integer("weights", weights, 0)
    batch_size = integer("batch_size", batch_size, 1)
    bits = FORMAT_BITS[one_of("fmt", fmt, FORMAT_BITS)]
    memory = memory_for(weights * bits / 8) if memory is None else memory
    read_pj = op_energy_pj("read", memory, 32) * bits / 32
    compute_pj, weight_read_pj = macs * mac_energy_pj(fmt), weights * read_pj / batch_size
    return EnergyEstimate(compute_pj * 1e-12, weight_read_pj * 1e-12, memory)
