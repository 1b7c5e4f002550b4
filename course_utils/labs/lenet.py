"""Notebook 03's figures: learning curves, a confusion matrix, grids of digits or kernels. The notebook
computes what they show (a training run's history, the confusion counts, the learned kernels).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from ..validators import positive_int


def plot_learning_curves(history: Mapping[str, Sequence[float]]) -> Any:
    """Loss (log scale) and accuracy per epoch, training vs validation; returns the figure. Training
    metrics are averaged over each epoch while the weights still change; validation is at its end."""
    if "loss" not in history:
        raise ValueError("history needs at least 'loss' (pass TrainedLeNet.history or fit().history)")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for prefix, label, style in (("", "training", "-o"), ("val_", "validation", "-s")):
            if prefix + metric in history:
                ax.plot(epochs, history[prefix + metric], style, label=label, ms=4)
        ax.set(xlabel="epoch", ylabel=metric, xticks=epochs, title=metric.capitalize())
        ax.legend()
    axes[0].set_yscale("log")
    axes[0].set_ylabel("cross-entropy loss (log scale)")
    fig.tight_layout()
    return fig


def plot_confusion(confusion: np.ndarray, title: str = "") -> Any:
    """A confusion matrix (rows: true class, columns: predicted) as an annotated heat map; returns the
    figure. Only the errors are coloured; the diagonal (correct answers) is written in blue."""
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be a square (classes, classes) array, got {confusion.shape}")
    classes = confusion.shape[0]
    errors = np.where(np.eye(classes, dtype=bool) | (confusion == 0), np.nan, confusion.astype(float))
    vmax = max(float(np.nanmax(errors)) if np.isfinite(errors).any() else 1.0, 1.0)
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    image = ax.imshow(errors, cmap="Oranges", vmin=0, vmax=vmax)
    for (i, j), count in np.ndenumerate(confusion):
        if count:
            color = "#0072B2" if i == j else ("white" if count > 0.6 * vmax else "black")
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8, color=color,
                    fontweight="bold" if i == j else None)
    ax.set(xticks=range(classes), yticks=range(classes), xlabel="predicted", ylabel="true")
    ax.grid(False)
    n_errors = int(confusion.sum() - np.trace(confusion))
    ax.set_title(title or f"Confusion matrix ({n_errors} errors of {int(confusion.sum()):,})")
    fig.colorbar(image, ax=ax, label="errors (count)", ticks=MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def plot_images(images: Sequence[np.ndarray | None], titles: Sequence[str], columns: int = 8, title: str = "",
                signed: bool | Sequence[bool] = False) -> Any:
    """A grid of small images, each (H, W) or (H, W, 1) with a short title; None leaves a gap.

    Unsigned images (digits, feature maps after a ReLU) are drawn grey, 0 white; signed ones (kernels)
    on a red-blue scale centred on zero (red positive), each scaled to its own largest magnitude.
    ``signed`` is one flag for all or one per image.
    """
    if len(images) == 0 or len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles: give one title each")
    flags = [signed] * len(images) if isinstance(signed, bool) else list(signed)
    if len(flags) != len(images):
        raise ValueError(f"signed has {len(flags)} flags for {len(images)} images")
    columns = positive_int("columns", columns)
    rows = math.ceil(len(images) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.25 * columns, 1.45 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, text, flag in zip(axes.ravel(), images, titles, flags, strict=False):
        if image is None:
            continue
        image = np.asarray(image, dtype=float)
        image = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
        if image.ndim != 2:
            raise ValueError(f"each image must be (H, W) or (H, W, 1), got shape {image.shape}")
        if flag:
            limit = float(np.abs(image).max()) or 1.0
            ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
        else:
            ax.imshow(image, cmap="gray_r")
        ax.set_title(text, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
