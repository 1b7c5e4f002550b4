"""Notebook 07's machinery: magnitude masks (Han, Pool, Tran & Dally, NeurIPS 2015), per layer or
global; gradual pruning while a Keras 3 model trains (Zhu & Gupta 2017), masks held by a constraint
after every step (``tensorflow-model-optimization`` rejects Keras 3 models); structured pruning of
whole filters by L1 norm (Li, Kadav, Durdanovic, Samet & Graf, ICLR 2017); a model's saved bytes.
"""

import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..timing import compiled_predict
from ..validators import fraction, instance, integer, one_of

SCOPES = ("layer", "global")
_CONV = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_WEIGHTED = (*_CONV, keras.layers.Dense)
#: Weightless layers that act on each channel alone (filters can be removed across them).
_PER_CHANNEL = ("Pooling", "Activation", "ReLU", "Dropout", "Padding", "Cropping", "UpSampling")


def kernels(model: keras.Model) -> dict[str, Any]:
    """``{layer name: kernel variable}`` of the top-level layers with a ``kernel`` (Conv, Dense):
    the weights pruning acts on (biases stay, as in Han et al. 2015: a zero bias saves no MAC)."""
    instance("model", model, keras.Model, "a built keras.Model")
    found = {la.name: la.kernel for la in model.layers if getattr(la, "kernel", None) is not None}
    if not found:
        raise ValueError(f"model {model.name!r} has no top-level layer with a kernel to prune")
    return found


def _drop_smallest(magnitudes: np.ndarray, sparsity: float) -> np.ndarray:
    """Keep-mask without the ``round(sparsity * size)`` smallest entries (NumPy's argsort order)."""
    keep = np.ones(magnitudes.size, dtype=bool)
    keep[np.argsort(magnitudes, axis=None)[: round(sparsity * magnitudes.size)]] = False
    return keep.reshape(magnitudes.shape)


def magnitude_masks(model: keras.Model, sparsity: float, scope: str = "layer") -> dict[str, np.ndarray]:
    """Keep-masks (True = keep) without the smallest-magnitude kernel weights of ``model``.

    ``scope='layer'``: each kernel loses ``round(sparsity * size)`` of its own weights;
    ``'global'``: all kernels' weights are ranked together (one threshold), so layers with
    larger weights keep more. Returns ``{layer name: bool array}`` (see :func:`kernels`).
    """
    s, scope = fraction("sparsity", sparsity), one_of("scope", scope, SCOPES)
    values = {name: np.abs(np.asarray(k)) for name, k in kernels(model).items()}
    if scope == "layer":
        return {n: _drop_smallest(v, s) for n, v in values.items()}
    keep = _drop_smallest(np.concatenate([v.ravel() for v in values.values()]), s)
    parts = np.split(keep, np.cumsum([v.size for v in values.values()])[:-1])
    return {n: m.reshape(v.shape) for (n, v), m in zip(values.items(), parts, strict=True)}


def apply_masks(model: keras.Model, masks: Mapping[str, np.ndarray]) -> None:
    """Set the kernel weights where ``masks[layer]`` is False to +0.0, in place."""
    found = kernels(model)
    for name, mask in masks.items():
        kernel = found.get(name)
        if kernel is None:
            raise ValueError(f"a mask for {name!r}, which has no kernel in {model.name!r}")
        if np.shape(mask) != tuple(kernel.shape):
            raise ValueError(f"mask for {name!r}: shape {np.shape(mask)}, kernel {kernel.shape}")
        kernel.assign(np.where(mask, np.asarray(kernel), 0).astype(kernel.dtype))


def clone_with_weights(model: keras.Model) -> keras.Model:
    """A copy of ``model`` (built from its config, so not compiled) with the same weights."""
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def evaluate_accuracy(model: keras.Model, x: Any, y: Any, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on ``x`` against integer labels ``y``, ``batch_size`` inputs per
    compiled call (:func:`course_utils.timing.compiled_predict`, on the CPU)."""
    y = np.asarray(y).reshape(-1)
    if len(y) == 0 or len(y) != len(x):
        raise ValueError(f"x has {len(x)} samples and y {len(y)} labels; they must match (> 0)")
    forward, b = compiled_predict(model), integer("batch_size", batch_size, 1)
    labels = [np.asarray(forward(np.asarray(x[i : i + b], np.float32))).argmax(-1) for i in range(0, len(y), b)]
    return float(np.mean(np.concatenate(labels) == y))


def polynomial_sparsity(step: int, final_sparsity: float, begin_step: int, end_step: int,
                        initial_sparsity: float = 0.0) -> float:
    """Zhu & Gupta's (2017) eq. (1): ``s_f + (s_i - s_f) * (1 - (t - t0) / (t_end - t0))**3``
    at optimizer step ``t`` between ``t0`` and ``t_end``; ``s_i`` before, ``s_f`` after."""
    step, begin_step = integer("step", step, 0), integer("begin_step", begin_step, 0)
    end_step = integer("end_step", end_step, begin_step)
    s_f, s_i = fraction("final_sparsity", final_sparsity), fraction("initial_sparsity", initial_sparsity)
    if s_i > s_f:
        raise ValueError(f"initial_sparsity={s_i} is above final_sparsity={s_f}")
    if step >= end_step:
        return s_f
    if step <= begin_step:
        return s_i
    return s_f + (s_i - s_f) * (1.0 - (step - begin_step) / (end_step - begin_step)) ** 3


class MaskConstraint(keras.constraints.Constraint):
    """``w -> w * mask``: the constraint that keeps pruned weights at zero (a Constraint instance,
    as Keras >= 3.13 requires of a variable's ``constraint``)."""

    def __init__(self, mask: Any) -> None:
        self.mask = mask

    def __call__(self, w: Any) -> Any:
        return keras.ops.multiply(w, keras.ops.cast(self.mask, w.dtype))


class PruningCallback(keras.callbacks.Callback):
    """Gradual magnitude pruning while a compiled model trains (Zhu & Gupta 2017).

    Every ``frequency`` optimizer steps up to ``end_step`` (counted from the fit's start) the
    masks are recomputed (:func:`magnitude_masks`) at the sparsity of :func:`polynomial_sparsity`;
    after *every* step a constraint ``w * mask`` keeps the pruned weights at zero (masks change
    only between executions of ``steps_per_execution``). ``end_step=0`` prunes at once. At the
    end the constraints go; ``masks`` holds the last masks, ``history`` ``(step, sparsity)``.
    """

    def __init__(self, final_sparsity: float, end_step: int, frequency: int = 50, scope: str = "global") -> None:
        super().__init__()
        self.final_sparsity = fraction("final_sparsity", final_sparsity)
        self.end_step = integer("end_step", end_step, 0)
        self.frequency = integer("frequency", frequency, 1)
        self.scope = one_of("scope", scope, SCOPES)
        self.masks: dict[str, np.ndarray] = {}
        self.history: list[tuple[int, float]] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._first, self.history, self._mask_vars = int(np.asarray(self.model.optimizer.iterations)), [], {}
        for name, kernel in kernels(self.model).items():
            if kernel.constraint is not None:
                raise ValueError(f"the kernel of {name!r} already has a constraint")
            mask = self._mask_vars[name] = keras.Variable(np.ones(kernel.shape, "float32"), trainable=False)
            # w -> w * mask, applied by the optimizer right after each update inside the compiled train
            # step: a pruned weight is zero again before the next step reads it
            kernel.constraint = MaskConstraint(mask)
        self.model.make_train_function(force=True)  # the train step reads constraints when traced
        self._update(0)

    def _update(self, step: int) -> None:
        target = polynomial_sparsity(step, self.final_sparsity, 0, self.end_step)
        if self.history and target <= self.history[-1][1]:
            return
        self.masks = magnitude_masks(self.model, target, self.scope)
        for name, mask in self.masks.items():
            self._mask_vars[name].assign(mask.astype("float32"))
        apply_masks(self.model, self.masks)
        self.history.append((step, target))

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        step = int(np.asarray(self.model.optimizer.iterations)) - self._first
        last_step, last_target = self.history[-1]
        if last_target < self.final_sparsity and (step - last_step >= self.frequency or step >= self.end_step):
            self._update(step)

    def on_train_end(self, logs: dict | None = None) -> None:
        apply_masks(self.model, self.masks)
        for kernel in kernels(self.model).values():
            kernel.constraint = None
        self._mask_vars.clear()
        self.model.train_function = None  # the next fit traces a step without the masks
        if self.history[-1][1] < self.final_sparsity:
            warnings.warn(f"PruningCallback: training ended before end_step={self.end_step}, at sparsity "
                          f"{self.history[-1][1]:.3f}; train longer or lower end_step", stacklevel=2)


def kept_filters(kernel: Any, n_keep: int) -> np.ndarray:
    """Indices (ascending) of the ``n_keep`` output filters/units of ``kernel`` with the largest
    L1 norm ``sum |w|`` over all axes but the last (Li et al. 2017 rank conv filters so: small
    weights, small activations; ranking Dense units the same way is this course's extension)."""
    w, n_keep = np.asarray(kernel), integer("n_keep", n_keep, 1)
    if n_keep > w.shape[-1]:
        raise ValueError(f"n_keep={n_keep} is more than the kernel's {w.shape[-1]} filters")
    norms = np.abs(w).reshape(-1, w.shape[-1]).sum(axis=0)
    return np.sort(np.argsort(-norms, kind="stable")[:n_keep])


def _chain(model: keras.Model) -> list[Any]:
    """The layers of a Sequential model, each checked to be one structured pruning can follow."""
    instance("model", model, keras.Sequential, "a keras.Sequential chain of layers")
    for layer in model.layers:
        kind = type(layer).__name__
        if isinstance(layer, _CONV) and (layer.groups != 1 or layer.data_format != "channels_last"):
            raise ValueError(f"{layer.name!r}: only channels_last convolutions without groups")
        if not (isinstance(layer, (*_WEIGHTED, keras.layers.Flatten)) or any(k in kind for k in _PER_CHANNEL)):
            raise ValueError(f"structured pruning has no rule for layer kind {kind!r} (layer {layer.name!r}); "
                             "supported: Conv1D/2D/3D, Dense, Flatten, pooling, activations, dropout, padding")
    return list(model.layers)


def narrow(model: keras.Model, widths: Mapping[str, int], name: str | None = None) -> keras.Model:
    """The same chain, freshly initialised, with ``widths`` = ``{layer: filters or units}`` for
    some Conv/Dense layers (a distillation student; :func:`prune_filters`)."""
    chain = _chain(model)
    known = {la.name for la in chain if isinstance(la, _WEIGHTED)}
    if set(widths) - known:  # a typo, or a layer without filters
        raise ValueError(f"widths names {sorted(set(widths) - known)}, not Conv/Dense layers")
    rebuilt = []
    for layer in chain:
        config = {**layer.get_config(), "trainable": True}
        if layer.name in widths:
            config["filters" if isinstance(layer, _CONV) else "units"] = integer(f"widths[{layer.name!r}]", widths[layer.name], 1)
        rebuilt.append(type(layer).from_config(config))
    return keras.Sequential([keras.Input(model.input_shape[1:]), *rebuilt], name=name or f"{model.name}_narrow")


def prune_filters(model: keras.Model, keep: float | Mapping[str, int], name: str | None = None) -> keras.Model:
    """Structured pruning: a smaller model keeping the largest-L1 filters (:func:`kept_filters`).

    ``keep``: the fraction of filters/units kept in every hidden Conv/Dense layer, or ``{layer
    name: count}``; the output layer keeps its width. A removed channel also leaves what reads
    it (the next kernel's rows; after ``Flatten``, each position). Returns a new, uncompiled model.
    """
    chain = _chain(model)
    hidden = [la for la in chain if isinstance(la, _WEIGHTED)][:-1]
    width = {la.name: la.kernel.shape[-1] for la in hidden}
    if isinstance(keep, Mapping):
        if set(keep) - set(width):
            raise ValueError(f"keep names {sorted(set(keep) - set(width))}; hidden Conv/Dense layers: "
                             f"{sorted(width)} (the output keeps its width)")
        counts = dict(keep)
    else:
        share = fraction("keep", keep, allow_zero=False)
        counts = {n: max(1, round(share * w)) for n, w in width.items()}
    kept = {la.name: kept_filters(la.kernel, counts[la.name]) for la in hidden if la.name in counts}
    small = narrow(model, {n: len(k) for n, k in kept.items()}, name or f"{model.name}_filters")
    channels = None  # kept indices along the last axis of the tensor flowing here
    for old, new in zip(chain, small.layers, strict=True):
        if isinstance(old, _WEIGHTED):
            kernel, *rest = old.get_weights()
            if channels is not None:
                kernel = np.take(kernel, channels, axis=-2)
            channels = kept.get(old.name)
            if channels is not None:
                kernel, rest = kernel[..., channels], [w[channels] for w in rest]
            new.set_weights([kernel, *rest])
        elif isinstance(old, keras.layers.Flatten) and channels is not None:
            n_ch, positions = old.input.shape[-1], int(np.prod(old.input.shape[1:-1]))
            channels = (np.arange(positions)[:, None] * n_ch + channels[None, :]).reshape(-1)
    return small


def saved_model_bytes(model: keras.Model) -> bytes:
    """``model`` saved as a ``.keras`` file for inference: architecture and weights, no optimizer
    state (Keras stores the archive's members uncompressed: about 4 bytes per fp32 weight)."""
    with tempfile.TemporaryDirectory(prefix="course-pruning-") as tmp:
        path = Path(tmp) / "model.keras"
        clone_with_weights(model).save(path)
        return path.read_bytes()
