"""Hardware: a sourced device catalogue, judged by seed 002's two ratios.

Seed 002, 'Hardware for Machine Learning': mu = FLOPS / $ (:func:`flops_per_dollar`), what
the compute costs to buy, and eta = FLOPS / Watt (:func:`flops_per_watt`), what it costs to
run. The catalogue (``data/devices.json``; :func:`catalog`, :func:`get`) holds peak rates,
memory bandwidth, TDP and launch price of the devices the slides show (K80, TPU v1, P40,
V100, RTX 3090, TPU v2/v3, Coral Edge TPU, BlueGene/L) and of today's (A100, H100, H200,
T4, L4, Jetson, Raspberry Pi, a laptop CPU). Every entry names its source; where a seed's
figure differs the entry follows the primary source and its ``notes`` say why
(:func:`seed_002_accelerator_table` puts the seed's K80/TPU/P40 table next to it).

Conventions: a multiply-add counts as 2 FLOPs (seeds 001, 004); ``int8`` rates are
operations per second; tensor-core rates are **dense** (without NVIDIA's 2:4 sparsity,
which doubles the headline figure); fp16/bf16 rates use fp32 accumulation. This machine:
:func:`local`, :func:`measure_peak_flops` (re-exported from :mod:`course_utils.machine`),
and :func:`machine_device`.
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
from typing import Any

from .costs import flops_per_dollar, flops_per_watt
from .machine import LocalMachine, local, measure_bandwidth, measure_peak_flops  # noqa: F401
from .validators import positive_number

PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")
KINDS = ("cpu", "gpu", "tpu", "edge", "supercomputer", "board")
K80, TPU1, P40 = "NVIDIA Tesla K80", "Google TPU v1", "NVIDIA Tesla P40"


class UnknownPrecisionError(ValueError, KeyError):
    """A device has no catalogued peak for that precision (a ValueError and a KeyError)."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Device:
    """A device's datasheet figures (seed 002, 'Hardware for Machine Learning').

    ``peak_flops``: precision (:data:`PRECISIONS`) -> dense peak in FLOP/s (int8: op/s),
    only where known. ``memory_bandwidth_bytes_per_s``: off-chip (DRAM/HBM). ``tdp_watts``:
    the power figure ``power_basis`` names (mostly a TDP), ``price_usd`` the price
    ``price_basis`` names (``None`` if unknown or never sold); ``source`` where the numbers
    come from, ``notes`` what a student should know (derivations, where a seed differs).
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
        year = self.year
        if isinstance(year, bool) or not isinstance(year, int) or not 1940 <= year <= 2100:
            raise ValueError(f"year={self.year!r} must be a four-digit int")
        if not self.peak_flops:
            raise ValueError(f"{self.name}: peak_flops needs at least one precision")
        for precision in self.peak_flops:
            if precision not in PRECISIONS:
                raise ValueError(f"{self.name}: precision {precision!r} is not one of {PRECISIONS}")
        peaks = {p: positive_number(f"peak_flops[{p!r}]", r) for p, r in self.peak_flops.items()}
        object.__setattr__(self, "peak_flops", MappingProxyType(peaks))
        for name in ("memory_bandwidth_bytes_per_s", "tdp_watts", "price_usd"):
            value = getattr(self, name)
            if value is not None or name == "memory_bandwidth_bytes_per_s":
                object.__setattr__(self, name, positive_number(name, value))
        object.__setattr__(self, "aliases", tuple(self.aliases))
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError(f"{self.name}: source must name where the figures come from")

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


def _data(name: str) -> Any:
    """A JSON file of ``course_utils/data`` (package data: a pip install has it)."""
    return json.loads(resources.files("course_utils").joinpath("data", name).read_text("utf-8"))


_DEVICES_JSON = _data("devices.json")
_CATALOG = tuple(Device(**entry) for entry in _DEVICES_JSON["devices"])


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
        by_lower = {n.lower(): n for d in _CATALOG for n in (d.name, *d.aliases)}
        close = difflib.get_close_matches(name.lower(), list(by_lower), n=4, cutoff=0.4)
        hint = f" Did you mean: {', '.join(repr(by_lower[c]) for c in close)}?" if close else ""
        raise UnknownDeviceError(
            f"no device named {name!r} in the catalogue.{hint} "
            "catalog() lists them all (names and aliases are case-insensitive)."
        ) from None


# GPU names as TensorFlow reports them -> catalogue entry (best effort: PCIe variants differ).
_GPU_NAME_PATTERNS = {
    r"\bk80\b": K80, r"\bp40\b": P40, r"\bv100\b": "NVIDIA Tesla V100 SXM2",
    r"\bt4\b": "NVIDIA Tesla T4", r"\b3090\b": "NVIDIA GeForce RTX 3090",
    r"\ba100\b": "NVIDIA A100 SXM4 80GB", r"\bh100\b": "NVIDIA H100 SXM5",
    r"\bh200\b": "NVIDIA H200 SXM", r"\bl4\b": "NVIDIA L4",
}  # fmt: skip


def catalog_gpu(gpu_name: str) -> Device | None:
    """The catalogue entry for a GPU name as TensorFlow reports it, or ``None`` if not catalogued.

    Best effort: ``'NVIDIA A100-SXM4-40GB'`` maps to the A100 SXM4 80GB entry and a
    PCIe H100 to the SXM5 one, whose peaks and bandwidth are somewhat higher.
    """
    text = gpu_name.lower().replace("-", " ").replace("_", " ")
    return next((get(name) for pattern, name in _GPU_NAME_PATTERNS.items()
                 if re.search(pattern, text)), None)  # fmt: skip


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


def seed_002_accelerator_table() -> list[SeedComparison]:
    """Seed 002's 'TPUs vs GPUs' table (K80 2012 / TPU 2015 / P40 2016) next to the catalogue.

    The seed's table is NVIDIA's 2017 reply to Google's TPU paper (reported by ExtremeTech);
    its K80 column doubles the per-die figures of Jouppi et al. 2017 Table 2 and most other
    cells are rounded datasheet figures. Each row says why the two differ (a row differs
    wherever ``seed_value != catalogue_value``, the year 2012 -> 2014 too). Values are in SI
    units (FLOP/s, bytes, W, bytes/s); 'inferences/s <10 ms' is relative to the TPU. The
    rows live in ``data/devices.json`` (``seed_002_table``).
    """
    rows = []
    for row in _DEVICES_JSON["seed_002_table"]:
        device, value = get(row["device"]), row["catalogue_field"]
        if value is not None:  # a precision's peak, or a field of the Device
            value = device.peak(value) if value in PRECISIONS else float(getattr(device, value))
        rows.append(SeedComparison(row["quantity"], device.name, row["seed_text"],
                                   row["seed_value"], value, row["unit"], row["explanation"]))  # fmt: skip
    return rows


def machine_device(machine: LocalMachine, memory_bandwidth_bytes_per_s: float | None = None,
                   tdp_watts: float | None = None) -> Device:  # fmt: skip
    """``machine``'s CPU (:func:`local`) as a catalogue :class:`Device` (kind 'cpu', no price).

    Peaks are the theoretical ones of :class:`~course_utils.machine.LocalMachine` (fp64 =
    half of fp32). Bandwidth, if not given, is measured with
    :func:`~course_utils.machine.measure_bandwidth` (triad, about a second).
    """
    how = "bandwidth given by the caller"
    if memory_bandwidth_bytes_per_s is None:
        memory_bandwidth_bytes_per_s = measure_bandwidth(kind="triad", repeats=5).best_bytes_per_s
        how = "triad bandwidth measured by measure_bandwidth()"
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
