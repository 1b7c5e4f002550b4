"""One consistent look for the course's figures, and one place they are saved.

``use_course_style()`` is called by the notebook setup cell; ``savefig`` writes
``artifacts/figures/<name>.png`` (and returns the path) so every figure a
notebook shows can also be reused on slides.
"""

from __future__ import annotations

from pathlib import Path

from . import paths
from .units import si  # noqa: F401  (re-exported: plots.si was its first home)

#: Colours by role, used across notebooks (colour-blind-safe Okabe-Ito palette).
COLORS = {
    "cpu": "#0072B2",
    "gpu": "#009E73",
    "tpu": "#D55E00",
    "edge": "#CC79A7",
    "supercomputer": "#000000",
    "board": "#E69F00",
    "measured": "#0072B2",
    "estimate": "#999999",
    "paper": "#D55E00",
    "memory_bound": "#56B4E9",
    "compute_bound": "#E69F00",
}
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def use_course_style() -> None:
    """Apply the course's matplotlib style (sizes readable on a projector, grid, palette)."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update(
        {
            "figure.figsize": (7.0, 4.2),
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 13,
            "axes.labelsize": 11,
            "legend.fontsize": 9,
            "legend.frameon": False,
            "axes.prop_cycle": cycler(color=PALETTE),
        }
    )


def savefig(fig, name: str) -> Path:
    """Save ``fig`` as ``artifacts/figures/<name>.png`` and return the path."""
    path = paths.artifacts_dir("figures") / f"{Path(name).stem}.png"
    fig.savefig(path)
    return path

