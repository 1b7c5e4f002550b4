"""Hardware: a sourced device catalogue, this machine, and GEMM / bandwidth probes.

Seed 002, 'Hardware for Machine Learning', judges hardware by two ratios:

* mu  = FLOPS / $     (:func:`flops_per_dollar`) - what the compute costs to buy;
* eta = FLOPS / Watt  (:func:`flops_per_watt`)   - what it costs to run.

The catalogue (:func:`catalog`, :func:`get`) holds peak rates, memory bandwidth,
TDP and launch price of the devices the slides show (K80, TPU v1, P40, V100,
RTX 3090, TPU v2/v3, Coral Edge TPU, BlueGene/L) and of today's (A100, H100,
H200, T4, L4, Jetson, Raspberry Pi, a laptop CPU). Every entry names its
source; where a seed's figure differs, the entry follows the primary source and
its ``notes`` say what the seed shows and why (:func:`seed_002_accelerator_table`
puts the seed's K80/TPU/P40 table next to the catalogue's values).

Conventions: a multiply-add counts as 2 FLOPs (seed 001, seed 004); ``int8``
rates are operations per second; tensor-core (matrix) rates are **dense**, i.e.
without NVIDIA's 2:4 structured sparsity, which doubles the headline figure;
fp16/bf16 rates use fp32 accumulation where the vendor quotes both.

:func:`local` describes this machine and its theoretical peak from the CPU's
SIMD width, FMA units and clock; :func:`measure_peak_flops` and
:func:`measure_bandwidth` measure what it really does.
"""

from __future__ import annotations

import difflib
import math
import os
import platform
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .timing import CPU, LatencyStats, Timer, _check_count, measure_latency, resolve_device

PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")
KINDS = ("cpu", "gpu", "tpu", "edge", "supercomputer", "board")
MiB = 2**20


# --------------------------------------------------------------------------- mu and eta


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive, finite number, got {value}")
    return value


def flops_per_dollar(flop_per_s: float, price_usd: float) -> float:
    """mu = FLOPS / $ (seed 002, 'Methods and Terminology'): FLOP/s bought per US dollar."""
    return _positive("flop_per_s", flop_per_s) / _positive("price_usd", price_usd)


def flops_per_watt(flop_per_s: float, watts: float) -> float:
    """eta = FLOPS / Watt (seed 002, 'Methods and Terminology'): FLOP/s per watt, i.e. FLOP per joule."""
    return _positive("flop_per_s", flop_per_s) / _positive("watts", watts)


# --------------------------------------------------------------------------- the catalogue


class UnknownPrecisionError(ValueError, KeyError):
    """A device has no catalogued peak for that precision (a ValueError and a KeyError)."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Device:
    """A device's datasheet figures (seed 002, 'Hardware for Machine Learning').

    ``peak_flops`` maps a precision (``'fp64'``, ``'fp32'``, ``'tf32'``,
    ``'fp16'``, ``'bf16'``, ``'fp8'``, ``'int8'``) to its dense peak rate in
    FLOP/s (operations/s for int8), only where known. ``memory_bandwidth_bytes_per_s``
    is the off-chip (DRAM/HBM) bandwidth, ``tdp_watts`` the thermal design power
    (``None`` if unknown), ``price_usd`` the launch price (``None`` if never sold
    or not public), ``source`` where the numbers come from, ``notes`` anything a
    student should know (derivations, where a seed differs).
    """

    name: str
    kind: str
    year: int
    peak_flops: Mapping[str, float]
    memory_bandwidth_bytes_per_s: float
    tdp_watts: float | None
    price_usd: float | None
    source: str
    notes: str = ""
    aliases: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("name must be a non-empty string")
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r} must be one of {KINDS}")
        if (
            isinstance(self.year, bool)
            or not isinstance(self.year, int)
            or not (1940 <= self.year <= 2100)
        ):
            raise ValueError(f"year={self.year!r} must be a four-digit int")
        peaks = dict(self.peak_flops)
        if not peaks:
            raise ValueError(f"{self.name}: peak_flops needs at least one precision")
        for precision, rate in peaks.items():
            if precision not in PRECISIONS:
                raise ValueError(f"{self.name}: precision {precision!r} is not one of {PRECISIONS}")
            peaks[precision] = _positive(f"peak_flops[{precision!r}]", rate)
        object.__setattr__(self, "peak_flops", MappingProxyType(peaks))
        object.__setattr__(
            self,
            "memory_bandwidth_bytes_per_s",
            _positive("memory_bandwidth_bytes_per_s", self.memory_bandwidth_bytes_per_s),
        )
        if self.tdp_watts is not None:
            object.__setattr__(self, "tdp_watts", _positive("tdp_watts", self.tdp_watts))
        if self.price_usd is not None:
            object.__setattr__(self, "price_usd", _positive("price_usd", self.price_usd))
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError(f"{self.name}: source must name where the figures come from")
        object.__setattr__(self, "aliases", tuple(self.aliases))

    def __hash__(self) -> int:
        return hash((self.name, self.kind, self.year))

    def peak(self, precision: str = "fp32") -> float:
        """Peak rate in FLOP/s (ops/s for int8) at ``precision``."""
        try:
            return self.peak_flops[precision]
        except KeyError:
            known = ", ".join(p for p in PRECISIONS if p in self.peak_flops)
            raise UnknownPrecisionError(
                f"{self.name} has no {precision!r} peak in the catalogue; known: {known}"
            ) from None

    def flops_per_dollar(self, precision: str = "fp32") -> float:
        """mu = peak FLOP/s per launch-price dollar (seed 002)."""
        if self.price_usd is None:
            raise ValueError(f"{self.name} has no public launch price, so FLOPS/$ is unknown")
        return flops_per_dollar(self.peak(precision), self.price_usd)

    def flops_per_watt(self, precision: str = "fp32") -> float:
        """eta = peak FLOP/s per watt of TDP (seed 002)."""
        if self.tdp_watts is None:
            raise ValueError(f"{self.name} has no TDP in the catalogue, so FLOPS/W is unknown")
        return flops_per_watt(self.peak(precision), self.tdp_watts)

    def ridge_point(self, precision: str = "fp32") -> float:
        """Peak / bandwidth in FLOP per byte: where the roofline bends (see ``roofline``)."""
        return self.peak(precision) / self.memory_bandwidth_bytes_per_s


T, G = 1e12, 1e9
_JOUPPI_2017 = (
    "Jouppi et al., 'In-Datacenter Performance Analysis of a Tensor Processing Unit', "
    "ISCA 2017, Table 2"
)
_JOUPPI_2020 = (
    "Jouppi et al., 'A Domain-Specific Supercomputer for Training Deep Neural Networks', "
    "CACM 63(7), 2020"
)

_CATALOG: tuple[Device, ...] = (
    Device(
        name="NVIDIA Tesla K80",
        kind="gpu",
        year=2014,
        peak_flops={"fp64": 2.91 * T, "fp32": 8.73 * T},
        memory_bandwidth_bytes_per_s=480 * G,
        tdp_watts=300,
        price_usd=5000,
        source=(
            "NVIDIA Tesla K80 datasheet (2014): up to 8.73 TFLOP/s fp32 and 2.91 TFLOP/s fp64 "
            "with GPU Boost, 480 GB/s, 300 W; launch price from AnandTech, 'NVIDIA Launches "
            "Tesla K80, GK210 GPU' (17 Nov 2014)"
        ),
        notes=(
            "One board, two GK210 GPUs (2 x 2,496 cores, 2 x 12 GB GDDR5 at 240 GB/s); figures "
            "are for the whole board. At the 562 MHz base clock fp32 is 4,992 x 2 x 0.562 GHz = "
            "5.6 TFLOP/s. Seed 002's table ('K80 2012': 6 TOPS FP32, 16 MB on chip, 300 W, "
            "320 GB/s) doubles the per-die figures of Jouppi et al. 2017 Table 2 (2.8 TFLOP/s "
            "at base clock, 8 MiB, 150 W, 160 GB/s per die). 2012 is the year of the Kepler "
            "architecture; the K80 launched in November 2014."
        ),
        aliases=("k80", "tesla k80"),
    ),
    Device(
        name="Google TPU v1",
        kind="tpu",
        year=2015,
        peak_flops={"int8": 92 * T},
        memory_bandwidth_bytes_per_s=34 * G,
        tdp_watts=75,
        price_usd=None,
        source=_JOUPPI_2017,
        notes=(
            "Inference only: a 256 x 256 array of 8-bit MACs at 700 MHz = 65,536 x 2 x 0.7 GHz "
            "= 91.8 TOP/s. 28 MiB on chip (24 MiB Unified Buffer + 4 MiB accumulators), "
            "8 GiB DDR3 at 34 GB/s. TDP 75 W, measured 40 W when busy. In Google's datacenters "
            "since 2015, never sold. Seed 002's table rounds to 90 INT8 TOPS and lists only "
            "the 24 MiB buffer as on-chip memory."
        ),
        aliases=("tpu", "tpu v1", "tpuv1", "tpu1", "google tpu"),
    ),
    Device(
        name="NVIDIA Tesla P40",
        kind="gpu",
        year=2016,
        peak_flops={"fp32": 12 * T, "int8": 47 * T},
        memory_bandwidth_bytes_per_s=346 * G,
        tdp_watts=250,
        price_usd=5699,
        source=(
            "NVIDIA Tesla P40 datasheet (2016): 12 TFLOP/s fp32, 47 TOP/s int8, 346 GB/s, "
            "250 W; launch price as listed by the TechPowerUp GPU database"
        ),
        notes=(
            "3,840 CUDA cores at 1.531 GHz boost: 3,840 x 2 x 1.531 GHz = 11.76 TFLOP/s fp32, "
            "rounded to 12 by NVIDIA; int8 uses the dp4a instruction (4 x the fp32 rate). "
            "Seed 002's table rounds to 48 INT8 TOPS and 350 GB/s; its '11 MB on-chip "
            "memory' is not a datasheet figure."
        ),
        aliases=("p40", "tesla p40"),
    ),
    Device(
        name="NVIDIA Tesla V100 SXM2",
        kind="gpu",
        year=2017,
        peak_flops={"fp64": 7.8 * T, "fp32": 15.7 * T, "fp16": 125 * T},
        memory_bandwidth_bytes_per_s=900 * G,
        tdp_watts=300,
        price_usd=None,
        source=(
            "NVIDIA Tesla V100 datasheet and Volta architecture whitepaper (2017): 7.8/15.7 "
            "TFLOP/s fp64/fp32, 125 tensor TFLOP/s fp16, 900 GB/s HBM2, 300 W"
        ),
        notes=(
            "Seed 002 quotes the whitepaper's '125 Tensor TFLOPS': 640 tensor cores, each a "
            "4x4x4 fp16 matrix multiply-accumulate (D = A x B + C) per clock."
        ),
        aliases=("v100", "tesla v100", "v100 sxm2"),
    ),
    Device(
        name="NVIDIA Tesla T4",
        kind="gpu",
        year=2018,
        peak_flops={"fp32": 8.1 * T, "fp16": 65 * T, "int8": 130 * T},
        memory_bandwidth_bytes_per_s=320 * G,
        tdp_watts=70,
        price_usd=None,
        source=(
            "NVIDIA T4 datasheet (2018): 8.1 TFLOP/s fp32, 65 TFLOP/s fp16 (mixed precision), "
            "130 TOP/s int8, 16 GB GDDR6 at 320 GB/s, 70 W"
        ),
        notes="The GPU that Colab's free tier usually provides.",
        aliases=("t4", "tesla t4"),
    ),
    Device(
        name="NVIDIA GeForce RTX 3090",
        kind="gpu",
        year=2020,
        peak_flops={"fp32": 35.6 * T, "fp16": 71 * T, "bf16": 71 * T, "int8": 284 * T},
        memory_bandwidth_bytes_per_s=936 * G,
        tdp_watts=350,
        price_usd=1499,
        source=(
            "NVIDIA Ampere GA102 GPU architecture whitepaper (2020), RTX 3090: 35.6 TFLOP/s "
            "fp32, 71 TFLOP/s fp16/bf16 tensor (fp32 accumulate), 284 TOP/s int8 tensor, "
            "936 GB/s GDDR6X, 350 W; launch price $1,499 (NVIDIA, September 2020)"
        ),
        notes=(
            "Seed 002 shows 10,496 CUDA cores at 1.70 GHz boost: 10,496 x 2 x 1.70 GHz = "
            "35.7 TFLOP/s; the whitepaper's 35.6 uses 1.695 GHz. With fp16 accumulation the "
            "tensor cores run twice as fast (142 TFLOP/s)."
        ),
        aliases=("rtx 3090", "3090", "geforce rtx 3090"),
    ),
    Device(
        name="NVIDIA A100 SXM4 80GB",
        kind="gpu",
        year=2020,
        peak_flops={
            "fp64": 9.7 * T,
            "fp32": 19.5 * T,
            "tf32": 156 * T,
            "fp16": 312 * T,
            "bf16": 312 * T,
            "int8": 624 * T,
        },
        memory_bandwidth_bytes_per_s=2039 * G,
        tdp_watts=400,
        price_usd=None,
        source=(
            "NVIDIA A100 Tensor Core GPU datasheet: fp64 9.7 (19.5 on tensor cores), fp32 19.5, "
            "tf32 156, fp16/bf16 312 TFLOP/s, int8 624 TOP/s (dense), 2,039 GB/s HBM2e, 400 W"
        ),
        notes="The datasheet's larger tensor figures (312 tf32, 624 fp16, 1,248 int8) assume 2:4 sparsity.",
        aliases=("a100", "a100 sxm", "a100 80gb"),
    ),
    Device(
        name="NVIDIA H100 SXM5",
        kind="gpu",
        year=2022,
        peak_flops={
            "fp64": 34 * T,
            "fp32": 67 * T,
            "tf32": 494.7 * T,
            "fp16": 989.4 * T,
            "bf16": 989.4 * T,
            "fp8": 1978.9 * T,
            "int8": 1978.9 * T,
        },
        memory_bandwidth_bytes_per_s=3350 * G,
        tdp_watts=700,
        price_usd=None,
        source=(
            "NVIDIA H100 Tensor Core GPU datasheet (SXM): fp64 34 (67 on tensor cores), fp32 67, "
            "and with sparsity tf32 989, fp16/bf16 1,979, fp8/int8 3,958; 80 GB HBM3 at "
            "3.35 TB/s; up to 700 W"
        ),
        notes="Tensor rates here are dense: half the datasheet's sparsity figures.",
        aliases=("h100", "h100 sxm", "h100 sxm5"),
    ),
    Device(
        name="NVIDIA H200 SXM",
        kind="gpu",
        year=2024,
        peak_flops={
            "fp64": 34 * T,
            "fp32": 67 * T,
            "tf32": 494.7 * T,
            "fp16": 989.4 * T,
            "bf16": 989.4 * T,
            "fp8": 1978.9 * T,
            "int8": 1978.9 * T,
        },
        memory_bandwidth_bytes_per_s=4800 * G,
        tdp_watts=700,
        price_usd=None,
        source=(
            "NVIDIA H200 Tensor Core GPU datasheet (SXM): same compute as H100 SXM, "
            "141 GB HBM3e at 4.8 TB/s, up to 700 W"
        ),
        notes=(
            "Same Hopper chip as the H100 with more and faster memory: only memory-bound "
            "work gets faster, which the roofline makes visible."
        ),
        aliases=("h200", "h200 sxm"),
    ),
    Device(
        name="NVIDIA L4",
        kind="gpu",
        year=2023,
        peak_flops={
            "fp32": 30.3 * T,
            "tf32": 60 * T,
            "fp16": 121 * T,
            "bf16": 121 * T,
            "fp8": 242.5 * T,
            "int8": 242.5 * T,
        },
        memory_bandwidth_bytes_per_s=300 * G,
        tdp_watts=72,
        price_usd=None,
        source=(
            "NVIDIA L4 Tensor Core GPU datasheet (2023): fp32 30.3 TFLOP/s; with sparsity tf32 "
            "120, fp16/bf16 242, fp8/int8 485; 24 GB GDDR6 at 300 GB/s; 72 W"
        ),
        notes="Tensor rates here are dense (half the sparsity figures). Offered on Colab.",
        aliases=("l4",),
    ),
    Device(
        name="Google TPU v2",
        kind="tpu",
        year=2017,
        peak_flops={"bf16": 45 * T},
        memory_bandwidth_bytes_per_s=600 * G,
        tdp_watts=280,
        price_usd=None,
        source=(
            "Google Cloud TPU v2 announcement (2017): a 4-chip board gives 180 TFLOP/s with "
            f"64 GB HBM at 2,400 GB/s, i.e. 45 TFLOP/s and 600 GB/s per chip; TDP from {_JOUPPI_2020}"
        ),
        notes=(
            "Per chip: 2 cores x one 128 x 128 bf16 MXU x 2 FLOP x 700 MHz = 45.9 TFLOP/s "
            "(Jouppi et al. 2020 round to 46). Training and inference; cloud rental only."
        ),
        aliases=("tpu v2", "tpuv2", "tpu2"),
    ),
    Device(
        name="Google TPU v3",
        kind="tpu",
        year=2018,
        peak_flops={"bf16": 123 * T},
        memory_bandwidth_bytes_per_s=900 * G,
        tdp_watts=450,
        price_usd=None,
        source=(
            "Google Cloud TPU documentation, 'TPU v3': 123 TFLOP/s bf16 and 32 GiB HBM2 at "
            f"900 GB/s per chip, measured power 123/220/262 W min/mean/max; TDP from {_JOUPPI_2020}"
        ),
        notes=(
            "Per chip: 2 cores x two 128 x 128 MXUs x 2 FLOP x 940 MHz = 123 TFLOP/s. Seed 002 "
            "shows Cloud TPU v3 ('launched in 2018'). Water-cooled; cloud rental only."
        ),
        aliases=("tpu v3", "tpuv3", "tpu3"),
    ),
    Device(
        name="Google Coral Dev Board (Edge TPU)",
        kind="edge",
        year=2019,
        peak_flops={"int8": 4 * T},
        memory_bandwidth_bytes_per_s=12.8 * G,
        tdp_watts=2,
        price_usd=149.99,
        source=(
            "Coral Dev Board datasheet (coral.ai): Edge TPU 4 TOPS int8 at 2 W (0.5 W per TOPS), "
            "NXP i.MX 8M SoC with 1 GB LPDDR4; price $149.99 as shown in seed 002"
        ),
        notes=(
            "tdp_watts is the Edge TPU's 2 W; the whole board needs a 5 V / 3 A supply. The "
            "Edge TPU has no DRAM of its own: 12.8 GB/s is the i.MX 8M's 32-bit LPDDR4 at "
            "3,200 MT/s (derived), shared with the Arm cores. Runs int8 TFLite models only."
        ),
        aliases=("coral", "edge tpu", "coral dev board", "edgetpu"),
    ),
    Device(
        name="NVIDIA Jetson Orin Nano Super Developer Kit",
        kind="edge",
        year=2024,
        peak_flops={"fp32": 2.09 * T, "int8": 33.5 * T},
        memory_bandwidth_bytes_per_s=102 * G,
        tdp_watts=25,
        price_usd=249,
        source=(
            "NVIDIA Jetson Orin Nano Super Developer Kit (December 2024): 67 TOPS int8 with "
            "sparsity, 1,024-core Ampere GPU with 32 tensor cores at 1,020 MHz, 8 GB LPDDR5 at "
            "102 GB/s, up to 25 W, $249"
        ),
        notes=(
            "fp32 derived: 1,024 cores x 2 FLOP x 1.02 GHz = 2.09 TFLOP/s; int8 is the dense "
            "half of NVIDIA's 67 sparse TOPS. The 2023 Orin Nano kit ($499) ran at 625 MHz, "
            "68 GB/s and 15 W."
        ),
        aliases=("jetson", "orin nano", "jetson orin nano", "orin nano super"),
    ),
    Device(
        name="Raspberry Pi 5 (8 GB)",
        kind="board",
        year=2023,
        peak_flops={"fp64": 76.8 * G, "fp32": 153.6 * G},
        memory_bandwidth_bytes_per_s=17.07 * G,
        tdp_watts=27,
        price_usd=80,
        source=(
            "Raspberry Pi 5 product brief (2023): Broadcom BCM2712, 4 x Arm Cortex-A76 at "
            "2.4 GHz, LPDDR4X-4267, 5 V / 5 A USB-C supply, $80 (8 GB; $60 for 4 GB)"
        ),
        notes=(
            "No official TDP or FLOP/s. Peak derived: 4 cores x 2.4 GHz x 16 fp32 FLOP/cycle "
            "(two 128-bit NEON FMA pipes per Cortex-A76: 4 lanes x 2 FLOP x 2) = 153.6 GFLOP/s. "
            "Bandwidth derived: 32-bit bus x 4,267 MT/s = 17.07 GB/s. tdp_watts is the 27 W "
            "supply rating, an upper bound that includes USB devices, so FLOPS/W is a lower bound."
        ),
        aliases=("raspberry pi", "raspberry pi 5", "pi 5", "rpi5"),
    ),
    Device(
        name="Intel Core i7-6600U",
        kind="cpu",
        year=2015,
        peak_flops={"fp64": 83.2 * G, "fp32": 166.4 * G},
        memory_bandwidth_bytes_per_s=34.1 * G,
        tdp_watts=15,
        price_usd=393,
        source=(
            "Intel ARK, Core i7-6600U (Skylake, Q3 2015): 2 cores, 2.60 GHz base / 3.40 GHz "
            "turbo, 15 W TDP, 34.1 GB/s max memory bandwidth, $393 recommended customer price"
        ),
        notes=(
            "The laptop CPU in seed 002's lscpu print. Intel does not publish FLOP/s: derived as "
            "2 cores x 2.6 GHz x 32 fp32 FLOP/cycle (two 256-bit AVX2 FMA units: 8 lanes x 2 FLOP "
            "x 2) = 166.4 GFLOP/s at base clock; turbo (3.4 GHz on one core) is higher."
        ),
        aliases=("i7-6600u", "i7 6600u", "laptop cpu", "skylake laptop"),
    ),
    Device(
        name="IBM BlueGene/L",
        kind="supercomputer",
        year=2005,
        peak_flops={"fp64": 367.0 * T},
        memory_bandwidth_bytes_per_s=65536 * 5.6 * G,
        tdp_watts=1_433_000,
        price_usd=None,
        source=(
            "TOP500 list, June 2007, rank 1 (as in seed 002): 131,072 cores, Rmax 280.6 TFLOP/s, "
            "Rpeak 367.0 TFLOP/s, 1,433 kW; node memory bandwidth 5.6 GB/s from Gara et al., "
            "'Overview of the Blue Gene/L system architecture', IBM J. Res. & Dev. 49(2/3), 2005"
        ),
        notes=(
            "peak_flops is Rpeak: 65,536 nodes x 2 PowerPC 440 cores x 4 FLOP/cycle (double FPU "
            "with FMA) x 0.7 GHz = 367.0 TFLOP/s; LINPACK reached Rmax = 280.6 TFLOP/s (76 %). "
            "Bandwidth is the sum over 65,536 nodes of 5.6 GB/s each. This configuration first "
            "topped the TOP500 in November 2005 and was still first in June 2007."
        ),
        aliases=("bluegene/l", "bluegene", "blue gene/l", "bgl"),
    ),
)


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_INDEX: dict[str, Device] = {}
for _device in _CATALOG:
    for _name in (_device.name, *_device.aliases):
        if _INDEX.get(_key(_name), _device) is not _device:
            raise RuntimeError(f"catalogue name clash: {_name!r}")
        _INDEX[_key(_name)] = _device


class UnknownDeviceError(KeyError):
    """No catalogue entry has that name or alias; the message suggests close names."""

    def __str__(self) -> str:
        return str(self.args[0])


def catalog() -> list[Device]:
    """Every catalogued device, oldest first (a new list each call)."""
    return sorted(_CATALOG, key=lambda d: (d.year, d.name))


def get(name: str) -> Device:
    """The catalogue entry for ``name``: case, spaces and punctuation ignored, aliases allowed.

    ``get('k80')``, ``get('TPU v1')``, ``get('tpuv1')`` all work. An unknown name
    raises :class:`UnknownDeviceError` (a ``KeyError``) suggesting close names.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    try:
        return _INDEX[_key(name)]
    except KeyError:
        names = {d.name: d for d in _CATALOG}
        candidates = [*names, *(a for d in _CATALOG for a in d.aliases)]
        close = difflib.get_close_matches(
            name.lower(), [c.lower() for c in candidates], n=4, cutoff=0.4
        )
        by_lower = {c.lower(): c for c in candidates}
        hint = f" Did you mean: {', '.join(repr(by_lower[c]) for c in close)}?" if close else ""
        raise UnknownDeviceError(
            f"no device named {name!r} in the catalogue.{hint} "
            "catalog() lists them all (names and aliases are case-insensitive)."
        ) from None


# GPU names as TensorFlow reports them -> catalogue entry (best effort: PCIe variants differ).
_GPU_NAME_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\bk80\b", "NVIDIA Tesla K80"),
    (r"\bp40\b", "NVIDIA Tesla P40"),
    (r"\bv100\b", "NVIDIA Tesla V100 SXM2"),
    (r"\bt4\b", "NVIDIA Tesla T4"),
    (r"\b3090\b", "NVIDIA GeForce RTX 3090"),
    (r"\ba100\b", "NVIDIA A100 SXM4 80GB"),
    (r"\bh100\b", "NVIDIA H100 SXM5"),
    (r"\bh200\b", "NVIDIA H200 SXM"),
    (r"\bl4\b", "NVIDIA L4"),
)


def catalog_gpu(gpu_name: str) -> Device | None:
    """The catalogue entry for a GPU name as TensorFlow reports it, or ``None`` if not catalogued.

    Best effort: ``'NVIDIA A100-SXM4-40GB'`` maps to the A100 SXM4 80GB entry and a
    PCIe H100 to the SXM5 one, whose peaks and bandwidth are somewhat higher.
    """
    text = gpu_name.lower().replace("-", " ").replace("_", " ")
    for pattern, name in _GPU_NAME_PATTERNS:
        if re.search(pattern, text):
            return get(name)
    return None


# --------------------------------------------------------------------------- seed 002's table


@dataclass(frozen=True)
class SeedComparison:
    """One cell of seed 002's 'TPUs vs GPUs' table next to the catalogue's value (SI units)."""

    quantity: str
    device: str
    seed_text: str
    seed_value: float | None
    catalogue_value: float | None
    unit: str
    explanation: str

    @property
    def ratio(self) -> float | None:
        """catalogue / seed, or ``None`` where either is missing."""
        if self.seed_value is None or self.catalogue_value is None:
            return None
        return self.catalogue_value / self.seed_value


K80, TPU1, P40 = "NVIDIA Tesla K80", "Google TPU v1", "NVIDIA Tesla P40"
# (quantity, device, seed's text, seed's value in SI units, catalogue field, unit, why they differ)
# fmt: off
_SEED_002_ROWS: tuple[tuple[str, str, str, float | None, str | None, str, str], ...] = (
    ("year", K80, "2012", 2012, "year", "year",
     "2012 is the Kepler architecture's year; the K80 board launched in November 2014."),
    ("year", TPU1, "2015", 2015, "year", "year", "Deployed in 2015 (Jouppi et al. 2017)."),
    ("year", P40, "2016", 2016, "year", "year", "Launched September 2016."),
    ("training TOPS", K80, "6 FP32", 6 * T, "fp32", "FLOP/s",
     "6 is ~5.6 TFLOP/s at the 562 MHz base clock = 2 dies x 2.8 (Jouppi et al. 2017 "
     "Table 2); the datasheet's 8.73 is with GPU Boost."),
    ("training TOPS", TPU1, "NA", None, None, "FLOP/s", "TPU v1 does inference only (int8)."),
    ("training TOPS", P40, "12 FP32", 12 * T, "fp32", "FLOP/s", "As the datasheet."),
    ("inference TOPS", K80, "6 FP32", 6 * T, "fp32", "FLOP/s",
     "The K80 has no int8 path; same figure as for training (base clock)."),
    ("inference TOPS", TPU1, "90 INT8", 90 * T, "int8", "op/s",
     "Rounded down from 92 TOP/s (Jouppi et al. 2017)."),
    ("inference TOPS", P40, "48 INT8", 48 * T, "int8", "op/s",
     "Rounded up from the datasheet's 47 TOP/s."),
    ("on-chip memory", K80, "16MB", 16 * MiB, None, "bytes",
     "Not in the catalogue: 2 dies x 8 MiB (Jouppi et al. 2017 Table 2)."),
    ("on-chip memory", TPU1, "24 MB", 24 * MiB, None, "bytes",
     "Not in the catalogue: the 24 MiB Unified Buffer only; with the 4 MiB accumulators 28 MiB."),
    ("on-chip memory", P40, "11 MB", 11 * MiB, None, "bytes",
     "Not in the catalogue, nor in the P40 datasheet; source unknown."),
    ("power", K80, "300W", 300, "tdp_watts", "W", "Board TDP (150 W per die)."),
    ("power", TPU1, "75W", 75, "tdp_watts", "W", "TDP; measured 40 W when busy."),
    ("power", P40, "250W", 250, "tdp_watts", "W", "As the datasheet."),
    ("bandwidth", K80, "320 GB/S", 320 * G, "memory_bandwidth_bytes_per_s", "bytes/s",
     "2 dies x 160 GB/s as in Jouppi et al. 2017 Table 2; the datasheet says 2 x 240 = 480 GB/s."),
    ("bandwidth", TPU1, "34 GB/S", 34 * G, "memory_bandwidth_bytes_per_s", "bytes/s",
     "DDR3, as in Jouppi et al. 2017."),
    ("bandwidth", P40, "350 GB/S", 350 * G, "memory_bandwidth_bytes_per_s", "bytes/s",
     "Rounded up from the datasheet's 346 GB/s."),
)
# fmt: on


def _catalogue_value(device: Device, what: str) -> float:
    """A precision's peak (``'fp32'``) or a field (``'tdp_watts'``) of ``device``."""
    return device.peak(what) if what in PRECISIONS else float(getattr(device, what))


def seed_002_accelerator_table() -> list[SeedComparison]:
    """Seed 002's 'TPUs vs GPUs' table (K80 2012 / TPU 2015 / P40 2016) next to the catalogue.

    The seed's table is NVIDIA's 2017 reply to Google's TPU paper (reported by
    ExtremeTech); its K80 column doubles the per-die figures of Jouppi et al.
    2017 Table 2 and most other cells are rounded datasheet figures. Each row
    says why the two differ. Values are in SI units (FLOP/s, bytes, W, bytes/s).
    """
    rows = []
    for quantity, name, text, seed_value, what, unit, why in _SEED_002_ROWS:
        value = None if what is None else _catalogue_value(get(name), what)
        rows.append(SeedComparison(quantity, name, text, seed_value, value, unit, why))
    return rows


# --------------------------------------------------------------------------- this machine


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _cpuinfo_field(*names: str) -> str | None:
    """First non-empty value of the first of ``names`` (lower case) found in /proc/cpuinfo."""
    fields: dict[str, str] = {}
    for line in _read("/proc/cpuinfo").splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return next((fields[name] for name in names if fields.get(name)), None)


def _sysctl(name: str) -> str | None:
    if platform.system() != "Darwin":
        return None
    try:
        out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def cpu_model() -> str:
    """The CPU's marketing name (/proc/cpuinfo, or sysctl on macOS, or ``platform``)."""
    return (
        _cpuinfo_field("model name", "cpu model", "hardware", "model")
        or _sysctl("machdep.cpu.brand_string")
        or platform.processor()
        or platform.machine()
        or "unknown CPU"
    )


def physical_cores() -> int:
    """Physical CPU cores (psutil; logical CPUs if psutil cannot tell)."""
    import psutil

    return int(psutil.cpu_count(logical=False) or psutil.cpu_count() or os.cpu_count() or 1)


def _cpu_flags() -> set[str]:
    text = _cpuinfo_field("flags", "features")
    if text:
        return set(text.lower().split())
    mac = " ".join(
        filter(None, (_sysctl("machdep.cpu.features"), _sysctl("machdep.cpu.leaf7_features")))
    )
    if mac:
        return {f.replace(".", "_") for f in mac.lower().split()} | (
            {"fma"} if "fma" in mac.lower() else set()
        )
    try:  # NumPy's own run-time CPU feature detection (private, but cross-platform)
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # pragma: no cover - older NumPy
        return set()
    flags = {name.lower() for name, present in features.items() if present}
    if "fma3" in flags:
        flags.add("fma")
    return flags


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags, lower case (``'avx2'``, ``'avx512_vnni'``, ``'asimddp'``, ...)."""
    return frozenset(_cpu_flags())


def _cache_bytes() -> dict[str, int]:
    """Per-core L1d/L2 and shared L3 sizes from sysfs (Linux), e.g. {'L1d': 32768, ...}."""
    caches: dict[str, int] = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    for index in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        level = _read(f"{base}/{index}/level").strip()
        kind = _read(f"{base}/{index}/type").strip()
        size = _read(f"{base}/{index}/size").strip().upper()
        match = re.fullmatch(r"(\d+)([KMG]?)", size)
        if not level or not match or kind == "Instruction":
            continue
        scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[match.group(2)]
        caches[f"L{level}{'d' if kind == 'Data' else ''}"] = int(match.group(1)) * scale
    return caches


@dataclass(frozen=True)
class LocalMachine:
    """This machine's CPU, its theoretical fp32 peak, and its GPUs (as TensorFlow sees them).

    ``theoretical_peak_flop_per_s = physical_cores x fp32 lanes x 2 FLOP per FMA x
    fma_units x clock_hz`` (seed 002, 'CPUs': the SIMD flags of ``lscpu``). On the
    course's 2-core AMD EPYC (Zen 3) VM that is 2 x 8 x 2 x 2 x 2.445 GHz = 157 GFLOP/s,
    yet NumPy's GEMM measures about 186: the cores boost above the nominal clock
    that the VM reports, so a measured rate above "theory" is possible. Each
    assumption behind the number is listed in ``assumptions``.
    """

    cpu_model: str
    physical_cores: int
    logical_cpus: int
    simd_bits: int
    fma_units: int
    clock_hz: float
    clock_source: str
    cache_bytes: Mapping[str, int]
    memory_bytes: int
    gpus: tuple[str, ...]
    assumptions: tuple[str, ...]

    @property
    def fp32_lanes(self) -> int:
        """fp32 values per SIMD register (simd_bits / 32)."""
        return max(1, self.simd_bits // 32)

    @property
    def flop_per_cycle_per_core(self) -> int:
        """fp32 FLOP per cycle per core: lanes x 2 (an FMA is 2 FLOP) x FMA units."""
        return self.fp32_lanes * 2 * self.fma_units

    @property
    def theoretical_peak_flop_per_s(self) -> float:
        """cores x lanes x 2 x FMA units x clock, in fp32 FLOP/s."""
        return self.physical_cores * self.flop_per_cycle_per_core * self.clock_hz

    def gpu_devices(self) -> list[Device]:
        """Catalogue entries for this machine's GPUs, where catalogued (see :func:`catalog_gpu`)."""
        return [d for d in map(catalog_gpu, self.gpus) if d is not None]

    def as_device(
        self,
        memory_bandwidth_bytes_per_s: float | None = None,
        tdp_watts: float | None = None,
    ) -> Device:
        """This CPU as a catalogue-style :class:`Device` (kind ``'cpu'``, no price).

        Peaks are the theoretical ones (fp64 = half of fp32). Bandwidth, if not
        given, is measured with :func:`measure_bandwidth` (triad, about a second).
        """
        if memory_bandwidth_bytes_per_s is None:
            memory_bandwidth_bytes_per_s = measure_bandwidth(kind="triad", repeats=5).bytes_per_s
            how = "triad bandwidth measured by measure_bandwidth()"
        else:
            how = "bandwidth given by the caller"
        peak = self.theoretical_peak_flop_per_s
        import datetime

        return Device(
            name=f"this machine: {self.cpu_model} ({self.physical_cores} cores)",
            kind="cpu",
            year=datetime.date.today().year,
            peak_flops={"fp64": peak / 2, "fp32": peak},
            memory_bandwidth_bytes_per_s=memory_bandwidth_bytes_per_s,
            tdp_watts=tdp_watts,
            price_usd=None,
            source=f"hardware.local(): theoretical peak from CPU flags and clock; {how}",
            notes=" ".join(self.assumptions),
        )

    def __str__(self) -> str:
        gpus = ", ".join(self.gpus) or "none"
        return (
            f"{self.cpu_model}: {self.physical_cores} cores ({self.logical_cpus} logical), "
            f"{self.simd_bits}-bit SIMD x {self.fma_units} FMA units at {self.clock_hz / 1e9:.3f} GHz "
            f"-> theoretical {self.theoretical_peak_flop_per_s / 1e9:.0f} GFLOP/s fp32; GPUs: {gpus}"
        )


def _clock_hz() -> tuple[float, str]:
    """Nominal clock in Hz and where it came from."""
    match = re.search(r"@\s*([\d.]+)\s*GHz", cpu_model())
    if match:
        return float(match.group(1)) * 1e9, "nominal clock in the CPU's model name"
    base = _read("/sys/devices/system/cpu/cpu0/cpufreq/base_frequency").strip()
    if base.isdigit():
        return int(base) * 1e3, "cpufreq base_frequency (sysfs)"
    import psutil

    freq = None
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError, RuntimeError):
        pass
    if freq is not None and freq.max and freq.max > 0:
        return freq.max * 1e6, "psutil.cpu_freq().max (maximum, may include boost)"
    mhz = _cpuinfo_field("cpu mhz")
    if mhz:
        return float(mhz) * 1e6, "/proc/cpuinfo 'cpu MHz' (no cpufreq driver, e.g. a VM: nominal)"
    hz = _sysctl("hw.cpufrequency")
    if hz and hz.isdigit():
        return float(hz), "sysctl hw.cpufrequency"
    if freq is not None and freq.current and freq.current > 0:
        return freq.current * 1e6, "psutil.cpu_freq().current (current clock)"
    raise RuntimeError(
        "cannot read the CPU clock on this system; pass it, e.g. local(clock_hz=3.2e9), "
        "from your CPU's datasheet"
    )


def _simd(
    flags: set[str],
    machine: str,
    vendor: str = "",
    family: str | None = None,
    model: str | None = None,
    cpu_name: str = "",
) -> tuple[int, int, list[str]]:
    """(simd_bits, fma_units, assumptions) from CPU flags, architecture and x86 vendor/family/model."""
    notes: list[str] = []
    amd = "amd" in vendor.lower()
    is_arm = machine.lower() in ("arm64", "aarch64") or machine.lower().startswith("arm")
    if "avx512f" in flags:
        if amd and family == "25":
            bits = 256
            notes.append(
                "AVX-512 on AMD Zen 4 runs as two 256-bit halves: counted as 256-bit SIMD."
            )
        else:
            bits = 512
    elif "avx2" in flags or "avx" in flags:
        bits = 256
    elif is_arm and ({"asimd", "neon"} & flags or machine.lower() == "arm64"):
        bits = 128
    elif {"sse", "sse2"} & flags:
        bits = 128
    else:
        bits = 32
        notes.append("No SIMD flags found: assuming scalar fp32 (1 lane).")
    if is_arm and "apple" in cpu_name.lower():
        fma = 4
        notes.append("Apple silicon: assuming 4 FMA-capable 128-bit NEON pipes per core.")
    elif is_arm:
        fma = 2
        notes.append(
            "Arm: assuming 2 FMA-capable 128-bit NEON pipes per core (Cortex-A76/A78, "
            "Neoverse N1; Cortex-A53/A55 have 1, Apple cores 4)."
        )
    elif "fma" in flags:
        fma = 2
        notes.append(
            "x86 with FMA: assuming 2 FMA units of full SIMD width per core (true for Intel "
            "since Haswell and AMD since Zen 2; Zen 1 and Atom-class cores have less, some "
            "Xeon SKUs only 1 AVX-512 FMA unit)."
        )
        if amd and family == "23" and model is not None and model.isdigit() and int(model) < 0x30:
            fma = 1
            notes.append(
                "AMD Zen 1/Zen+: 2 x 128-bit FMA = one 256-bit FMA per cycle: counted as 1."
            )
    else:
        fma = 1
        notes.append(
            "No FMA: assuming one add and one multiply unit per core, which peak at the same "
            "2 FLOP per lane per cycle as one FMA unit."
        )
    return bits, fma, notes


def local(detect_gpus: bool = True, clock_hz: float | None = None) -> LocalMachine:
    """Describe THIS machine: CPU model, cores, SIMD width, FMA units, clock, caches, GPUs.

    The theoretical fp32 peak follows from these (see :class:`LocalMachine`);
    every assumption is stated in ``assumptions``. ``detect_gpus=True`` asks
    TensorFlow for GPU names (imports TensorFlow, ~3 s the first time).
    ``clock_hz`` overrides the clock read from the system (in Hz).
    """
    import psutil

    flags = _cpu_flags()
    bits, fma, notes = _simd(
        flags,
        platform.machine(),
        vendor=_cpuinfo_field("vendor_id") or "",
        family=_cpuinfo_field("cpu family"),
        model=_cpuinfo_field("model"),
        cpu_name=cpu_model(),
    )
    if clock_hz is None:
        clock, clock_source = _clock_hz()
    else:
        clock, clock_source = _positive("clock_hz", clock_hz), "given by the caller"
    cores = physical_cores()
    notes.insert(0, f"Clock {clock / 1e9:.3f} GHz from {clock_source}; boost clocks can be higher.")
    notes.append(
        f"Peak counts the {cores} physical core(s); SMT/hyper-threads share the FMA units."
    )
    gpus: tuple[str, ...] = ()
    if detect_gpus:
        import tensorflow as tf

        gpus = tuple(
            tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")
        )
    return LocalMachine(
        cpu_model=cpu_model(),
        physical_cores=cores,
        logical_cpus=int(psutil.cpu_count() or os.cpu_count() or cores),
        simd_bits=bits,
        fma_units=fma,
        clock_hz=clock,
        clock_source=clock_source,
        cache_bytes=MappingProxyType(_cache_bytes()),
        memory_bytes=int(psutil.virtual_memory().total),
        gpus=gpus,
        assumptions=tuple(notes),
    )


# --------------------------------------------------------------------------- GEMM probe


@dataclass(frozen=True)
class GemmProbe:
    """A measured square GEMM C = A @ B (n x n): 2 n^3 FLOP per call (n^3 multiply-adds)."""

    backend: str
    dtype: str
    n: int
    device: str
    latency: LatencyStats

    @property
    def flop(self) -> float:
        """FLOP per GEMM: 2 n^3."""
        return 2.0 * self.n**3

    @property
    def best_flop_per_s(self) -> float:
        """FLOP/s of the fastest call: the machine's capability, least disturbed by other work."""
        return self.flop / self.latency.min

    @property
    def median_flop_per_s(self) -> float:
        """FLOP/s of the median call: what a typical call gets now."""
        return self.flop / self.latency.median

    @property
    def flop_per_s(self) -> float:
        """Same as :attr:`best_flop_per_s`."""
        return self.best_flop_per_s

    @property
    def samples(self) -> np.ndarray:
        """Seconds per call."""
        return self.latency.samples_seconds

    def __str__(self) -> str:
        return (
            f"{self.backend} {self.dtype} GEMM n={self.n} on {self.device}: "
            f"{self.best_flop_per_s / 1e9:.1f} GFLOP/s best, "
            f"{self.median_flop_per_s / 1e9:.1f} median"
        )


BACKENDS = ("tensorflow", "numpy")


def measure_peak_flops(
    dtype: str = "float32",
    n: int = 2048,
    repeats: int = 10,
    backend: str = "tensorflow",
    device: str = "cpu",
    warmup: int = 2,
) -> GemmProbe:
    """Measure this machine's GEMM rate: an n x n matrix product, 2 n^3 FLOP per call.

    A large GEMM is the most compute-bound kernel there is (intensity ~ n/6
    FLOP/byte in fp32), so its rate is the practical peak to put on a roofline.
    ``backend='tensorflow'`` uses ``tf.linalg.matmul`` on ``device`` (oneDNN on
    x86 CPUs, cuBLAS on GPUs; the result is synchronised by fetching one
    element); ``backend='numpy'`` uses ``np.matmul`` into a preallocated output
    (OpenBLAS/Accelerate, CPU only). Best and median over ``repeats`` calls.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} must be one of {BACKENDS}")
    n = _check_count("n", n, 1)
    if backend == "numpy":
        try:
            np_dtype = np.dtype(dtype)
        except TypeError as err:
            raise ValueError(f"dtype={dtype!r} is not a NumPy dtype; use e.g. 'float32'") from err
        if np_dtype.kind != "f":
            raise ValueError(f"dtype={dtype!r} must be a floating-point type such as 'float32'")
        if resolve_device(device) != CPU:
            raise ValueError(
                "backend='numpy' runs on the CPU only; use backend='tensorflow' for a GPU"
            )
        rng = np.random.default_rng(0)
        a = rng.random((n, n)).astype(np_dtype)
        b = rng.random((n, n)).astype(np_dtype)
        out = np.empty((n, n), dtype=np_dtype)
        stats = measure_latency(np.matmul, a, b, out=out, warmup=warmup, repeats=repeats)
        return GemmProbe("numpy", np_dtype.name, n, CPU, stats)

    import tensorflow as tf

    try:
        tf_dtype = tf.as_dtype(dtype)
    except TypeError as err:
        raise ValueError(f"dtype={dtype!r} is not a TensorFlow dtype; use e.g. 'float32'") from err
    if not tf_dtype.is_floating:
        raise ValueError(f"dtype={dtype!r} must be a floating-point type such as 'float32'")
    placement = resolve_device(device)
    with tf.device(placement):
        a = tf.cast(tf.random.stateless_uniform((n, n), seed=(1, 2)), tf_dtype)
        b = tf.cast(tf.random.stateless_uniform((n, n), seed=(3, 4)), tf_dtype)

    def gemm() -> Any:
        with tf.device(placement):
            return tf.linalg.matmul(a, b)[0, 0]  # fetching one element waits for the whole GEMM

    stats = measure_latency(gemm, warmup=warmup, repeats=repeats)
    return GemmProbe("tensorflow", tf_dtype.name, n, placement, stats)


# --------------------------------------------------------------------------- bandwidth probe

# Arrays touched per element, counted as in McCalpin's STREAM benchmark (1995):
# copy a = b, scale a = s*b: 2 arrays; add a = b + c, triad a = b + s*c: 3 arrays.
STREAM_ARRAYS = {"copy": 2, "scale": 2, "add": 3, "triad": 3}
_TRIAD_CHUNK = 2**15  # float64 elements (256 KiB): the s*c temporary stays in cache


def _stream_kernel(kind: str, a: np.ndarray, b: np.ndarray, c: np.ndarray, tmp: np.ndarray) -> None:
    s = 3.0
    if kind == "copy":
        np.copyto(a, b)
    elif kind == "scale":
        np.multiply(b, s, out=a)
    elif kind == "add":
        np.add(b, c, out=a)
    else:  # triad, chunked so that s*c never makes a full-size temporary in memory
        for start in range(0, a.size, _TRIAD_CHUNK):
            stop = min(start + _TRIAD_CHUNK, a.size)
            t = tmp[: stop - start]
            np.multiply(c[start:stop], s, out=t)
            np.add(b[start:stop], t, out=a[start:stop])


@dataclass(frozen=True)
class BandwidthProbe:
    """A measured STREAM-style kernel: bytes read + written per second (McCalpin, STREAM)."""

    kind: str
    size_bytes: int
    threads: int
    calls_per_sample: int
    latency: LatencyStats

    @property
    def bytes_per_call(self) -> int:
        """Bytes moved by one kernel call: arrays touched x size (copy 2x, triad 3x)."""
        return STREAM_ARRAYS[self.kind] * self.size_bytes

    @property
    def best_bytes_per_s(self) -> float:
        """Bandwidth of the fastest sample in bytes/s."""
        return self.bytes_per_call * self.calls_per_sample / self.latency.min

    @property
    def median_bytes_per_s(self) -> float:
        """Bandwidth of the median sample in bytes/s."""
        return self.bytes_per_call * self.calls_per_sample / self.latency.median

    @property
    def bytes_per_s(self) -> float:
        """Same as :attr:`best_bytes_per_s`."""
        return self.best_bytes_per_s

    def __str__(self) -> str:
        return (
            f"{self.kind} on {self.size_bytes / MiB:g} MiB arrays, {self.threads} thread(s): "
            f"{self.best_bytes_per_s / 1e9:.1f} GB/s best, {self.median_bytes_per_s / 1e9:.1f} median"
        )


def measure_bandwidth(
    size_bytes: int = 256 * MiB,
    kind: str = "triad",
    repeats: int = 10,
    threads: int | None = None,
    warmup: int = 2,
    min_sample_seconds: float = 2e-3,
) -> BandwidthProbe:
    """Measure memory bandwidth with a STREAM kernel on float64 arrays of ``size_bytes`` each.

    Bytes moved count reads + writes as STREAM does: ``copy`` (a = b) and
    ``scale`` (a = s*b) move 2 x size, ``add`` (a = b + c) and ``triad``
    (a = b + s*c) 3 x size. NumPy writes into preallocated outputs; triad works
    in cache-sized chunks so ``s*c`` makes no hidden full-size temporary.
    Arrays much larger than the last-level cache measure DRAM; small ones
    measure a cache (see :func:`bandwidth_sweep`). ``threads`` (default: the
    physical cores) split the arrays; NumPy releases the GIL inside its loops.
    Small arrays are run several times per timed sample (at least
    ``min_sample_seconds``) so the timer's overhead does not count.
    """
    if kind not in STREAM_ARRAYS:
        raise ValueError(f"kind={kind!r} must be one of {tuple(STREAM_ARRAYS)}")
    size_bytes = _check_count("size_bytes", size_bytes, 1024)
    repeats = _check_count("repeats", repeats, 1)
    warmup = _check_count("warmup", warmup, 0)
    min_sample_seconds = _positive("min_sample_seconds", min_sample_seconds)
    threads = physical_cores() if threads is None else _check_count("threads", threads, 1)
    n = size_bytes // 8
    threads = min(threads, max(1, n // 1024))
    a, b, c = np.full(n, 0.0), np.full(n, 1.0), np.full(n, 2.0)
    bounds = np.linspace(0, n, threads + 1).astype(int)
    parts = [
        (a[i:j], b[i:j], c[i:j], np.empty(min(_TRIAD_CHUNK, j - i)))
        for i, j in zip(bounds, bounds[1:], strict=False)
    ]

    pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None
    try:

        def once() -> None:
            if pool is None:
                _stream_kernel(kind, *parts[0])
            else:
                for future in [pool.submit(_stream_kernel, kind, *p) for p in parts]:
                    future.result()

        for _ in range(warmup):
            once()
        calls = 1  # grow the calls per sample until one sample lasts min_sample_seconds
        while calls < 100_000:
            with Timer() as t:
                for _ in range(calls):
                    once()
            if t.seconds >= min_sample_seconds:
                break
            calls = min(
                100_000,
                math.ceil(calls * min(10.0, 1.2 * min_sample_seconds / max(t.seconds, 1e-9))),
            )

        def sample() -> None:
            for _ in range(calls):
                once()

        stats = measure_latency(sample, warmup=0, repeats=repeats)
    finally:
        if pool is not None:
            pool.shutdown()
    return BandwidthProbe(kind, n * 8, threads, calls, stats)


def bandwidth_sweep(
    sizes_bytes: Iterable[int] | None = None,
    kind: str = "triad",
    repeats: int = 5,
    threads: int = 1,
) -> list[BandwidthProbe]:
    """Bandwidth against array size: steps down at each cache level (L1, L2, L3, DRAM).

    Default sizes: 16 KiB to 256 MiB per array in steps of 4x. One thread by
    default, so each step is one core's cache; compare with ``local().cache_bytes``
    (the working set is 2 or 3 arrays, see :data:`STREAM_ARRAYS`). The smallest
    sizes read low for another reason: each NumPy call costs about a microsecond
    of Python overhead, as long as moving a few tens of KiB from L1.
    """
    sizes: Sequence[int] = (
        [16 * 2**10 * 4**i for i in range(8)] if sizes_bytes is None else list(sizes_bytes)
    )
    return [measure_bandwidth(s, kind=kind, repeats=repeats, threads=threads) for s in sizes]
