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

import datetime
import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from .costs import flops_per_dollar, flops_per_watt  # noqa: F401  (mu and eta; re-exported)
from .machine import (  # noqa: F401  (this machine: re-exported where the course first had it)
    LocalMachine,
    cpu_model,
    describe_device,
    local,
    measure_bandwidth,
    measure_peak_flops,
    physical_cores,
)
from .validators import positive_number

PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")
KINDS = ("cpu", "gpu", "tpu", "edge", "supercomputer", "board")
MiB = 2**20


# --------------------------------------------------------------------------- mu and eta


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
    is the off-chip (DRAM/HBM) bandwidth, ``tdp_watts`` the power figure that
    ``power_basis`` names (a TDP for most; a supply rating, a listed system power
    or one chip's power for a few; ``None`` if unknown), ``price_usd`` the price that
    ``price_basis`` names (``None`` if never sold or not public), ``source`` where the
    numbers come from, ``notes`` anything a student should know (derivations, where a
    seed differs).
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
    power_basis: str = "TDP"
    price_basis: str = "launch"

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
            peaks[precision] = positive_number(f"peak_flops[{precision!r}]", rate)
        object.__setattr__(self, "peak_flops", MappingProxyType(peaks))
        object.__setattr__(
            self,
            "memory_bandwidth_bytes_per_s",
            positive_number("memory_bandwidth_bytes_per_s", self.memory_bandwidth_bytes_per_s),
        )
        if self.tdp_watts is not None:
            object.__setattr__(self, "tdp_watts", positive_number("tdp_watts", self.tdp_watts))
        if self.price_usd is not None:
            object.__setattr__(self, "price_usd", positive_number("price_usd", self.price_usd))
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


def _load_catalog() -> tuple[Device, ...]:
    """Read the catalogue from ``course_utils/data/devices.json`` (package data: a pip install has it)."""
    text = resources.files("course_utils").joinpath("data", "devices.json").read_text("utf-8")
    entries = json.loads(text)["devices"]
    return tuple(
        Device(**{**entry, "aliases": tuple(entry.get("aliases", ()))}) for entry in entries
    )


_CATALOG: tuple[Device, ...] = _load_catalog()


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


T, G, MiB = 1e12, 1e9, 2**20
K80, TPU1, P40 = "NVIDIA Tesla K80", "Google TPU v1", "NVIDIA Tesla P40"
# (quantity, device, seed's text, seed's value in SI units, catalogue field, unit, why they differ)
# fmt: off
_SEED_002_ROWS: tuple[tuple[str, str, str, float | None, str | None, str, str], ...] = (
    ("year", K80, "2012", 2012, "year", "year",
     "2012 is the Kepler architecture's year; the K80 board launched in November 2014."),
    ("year", TPU1, "2015", 2015, "year", "year", "Deployed in 2015 (Jouppi et al. 2017)."),
    ("year", P40, "2016", 2016, "year", "year", "Launched September 2016."),
    ("inferences/s <10 ms", K80, "1/13 TH", 1 / 13, None, "x TPU",
     "NVIDIA's relative figure: throughput while the 99th-percentile latency stays under "
     "10 ms, TPU = 1 (Jouppi et al. 2017 measure it per die with a 7 ms limit). A "
     "measurement, not a datasheet figure: not in the catalogue."),
    ("inferences/s <10 ms", TPU1, "1X", 1.0, None, "x TPU", "The reference of this row."),
    ("inferences/s <10 ms", P40, "2X", 2.0, None, "x TPU",
     "NVIDIA's own claim for the P40 in int8 (2017); not an independent measurement."),
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
     "Not in the catalogue: 2 dies x 8 MiB, Jouppi et al. 2017 Table 2, who count register "
     "files + L2 (per GK210 die 13 SMX x 512 KiB + 1.5 MiB = 8 MiB)."),
    ("on-chip memory", TPU1, "24 MB", 24 * MiB, None, "bytes",
     "Not in the catalogue: the 24 MiB Unified Buffer only; with the 4 MiB accumulators 28 MiB."),
    ("on-chip memory", P40, "11 MB", 11 * MiB, None, "bytes",
     "Not in the catalogue: Jouppi's K80 accounting (register files + L2) applied to the "
     "P40's GP102: 30 SMs x 256 KiB + 3 MiB = 10.5 MiB, rounded to 11."),
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
    says why the two differ; a row differs wherever ``seed_value != catalogue_value``
    (the year 2012 -> 2014 too). Values are in SI units (FLOP/s, bytes, W, bytes/s);
    the 'inferences/s <10 ms' row is relative to the TPU.
    """
    rows = []
    for quantity, name, text, seed_value, what, unit, why in _SEED_002_ROWS:
        value = None if what is None else _catalogue_value(get(name), what)
        rows.append(SeedComparison(quantity, name, text, seed_value, value, unit, why))
    return rows


# --------------------------------------------------------------------------- this machine


# --------------------------------------------------------------------------- GEMM probe


# --------------------------------------------------------------------------- bandwidth probe


# --------------------------------------------------------------------------- this machine as a Device


def machine_gpus(machine: LocalMachine) -> list[Device]:
    """Catalogue entries for ``machine``'s GPUs, where catalogued (see :func:`catalog_gpu`)."""
    return [d for d in map(catalog_gpu, machine.gpus) if d is not None]


def machine_device(
    machine: LocalMachine,
    memory_bandwidth_bytes_per_s: float | None = None,
    tdp_watts: float | None = None,
) -> Device:
    """``machine``'s CPU as a catalogue-style :class:`Device` (kind ``'cpu'``, no price).

    Peaks are the theoretical ones of :class:`~course_utils.machine.LocalMachine`
    (fp64 = half of fp32). Bandwidth, if not given, is measured with
    :func:`~course_utils.machine.measure_bandwidth` (triad, about a second).
    """
    if memory_bandwidth_bytes_per_s is None:
        memory_bandwidth_bytes_per_s = measure_bandwidth(kind="triad", repeats=5).best_bytes_per_s
        how = "triad bandwidth measured by measure_bandwidth()"
    else:
        how = "bandwidth given by the caller"
    peak = machine.theoretical_peak_flop_per_s
    return Device(
        name=f"this machine: {machine.cpu_model} ({machine.physical_cores} cores)",
        kind="cpu",
        year=datetime.date.today().year,
        peak_flops={"fp64": peak / 2, "fp32": peak},
        memory_bandwidth_bytes_per_s=memory_bandwidth_bytes_per_s,
        tdp_watts=tdp_watts,
        price_usd=None,
        source=f"machine.local(): theoretical peak from CPU flags and clock; {how}",
        notes=" ".join(machine.assumptions),
    )


@dataclass(frozen=True)
class Interconnect:
    """A link between devices: bandwidth per direction [B/s], latency [s] where sourced."""

    name: str
    kind: str
    bytes_per_s: float
    latency_seconds: float | None
    source: str
    url: str
    notes: str = ""


def interconnects(path: str | Path | None = None) -> dict[str, Interconnect]:
    """The sourced interconnect catalogue (``course_utils/data/interconnects.json``) by name.

    Raises ValueError naming the file and the entry that lacks a positive bandwidth or a source.
    """
    source = Path(path) if path else resources.files("course_utils").joinpath("data", "interconnects.json")
    links = {}
    for e in json.loads(source.read_text("utf-8"))["interconnects"]:
        bandwidth, latency = e.get("bytes_per_s_per_direction"), e.get("latency_seconds")
        if (not isinstance(bandwidth, int | float) or bandwidth <= 0 or not e.get("source")
                or not (latency is None or isinstance(latency, int | float) and latency > 0)):
            raise ValueError(f"{source}: entry {e.get('name')!r} needs a positive bytes_per_s_per_direction, "
                             "a source, and a latency_seconds > 0 or null")
        links[e["name"]] = Interconnect(e["name"], e["kind"], float(bandwidth), latency, e["source"],
                                        e.get("url", ""), e.get("notes", ""))
    return links
