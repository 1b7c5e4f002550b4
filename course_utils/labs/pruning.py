"""Model compression in Keras 3: pruning, structured pruning, size on disk, distillation.

Seed 003 (METU / EURO4SEE, Part III, 'Model Compression') lists three ways to shrink a
trained network: **pruning**, **quantization** (notebook 06, :mod:`course_utils.quantize`)
and **knowledge distillation**; seed 001 ('what is flops in deep learning', 'Optimizing
Computational Efficiency') names pruning redundant connections as a way to cut FLOPs.
This module holds what notebook 07 computes with:

* **magnitude pruning** (Han, Pool, Tran & Dally, NeurIPS 2015; Han, Mao & Dally,
  *Deep Compression*, ICLR 2016): keep the largest weights, set the rest to zero, and
  remember which with a 0/1 **mask** (:func:`magnitude_masks`, :func:`apply_masks`,
  :func:`prune_one_shot`);
* **gradual pruning during fine-tuning** (Zhu & Gupta, *To prune, or not to prune*,
  2017): a sparsity schedule that ramps up while the network trains
  (:func:`polynomial_sparsity`) and a Keras callback that follows it and keeps pruned
  weights at zero after *every* optimizer step (:class:`PruningCallback`);
* measuring sparsity (:func:`measure_sparsity`), accuracy against one-shot sparsity and
  per-layer sensitivity (:func:`one_shot_sweep`, :func:`layer_sensitivity`);
* **structured pruning**: drop whole filters / units with the smallest L1 norm (Li et al.,
  *Pruning Filters for Efficient ConvNets*, ICLR 2017), building a genuinely smaller model
  (:func:`prune_filters`, :func:`narrow`);
* the **gzip size** of a saved model (:func:`gzip_size_bytes`), a simple stand-in for the
  storage Deep Compression's Table 1 reports for its own sparse, Huffman-coded format;
* **knowledge distillation** (Hinton, Vinyals & Dean 2015) with Keras 3's own
  ``keras.distillation.Distiller``, which needs logits (:func:`logits_model`,
  :func:`student_trainer`).

Why not ``tensorflow-model-optimization``? Its pruning API rejects Keras 3 models (it needs
the legacy ``tf_keras``), so the course builds the same ideas here on Keras 3 directly.
Masks are kept on the variables as constraints, which Keras' optimizers apply after each
update; this needs the TensorFlow backend, the one the course uses.
"""

from __future__ import annotations

import gzip
import math
import numbers
import tempfile
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .. import validators as check
from ..validators import integer

__all__ = [
    "LayerSparsity",
    "MaskConstraint",
    "PrunableWeight",
    "PruningCallback",
    "SparsityReport",
    "SweepPoint",
    "apply_masks",
    "clone_with_weights",
    "evaluate_accuracy",
    "filter_l1_norms",
    "gzip_size_bytes",
    "layer_sensitivity",
    "logits_model",
    "magnitude_masks",
    "measure_sparsity",
    "narrow",
    "one_shot_sweep",
    "polynomial_sparsity",
    "prunable_weights",
    "prune_filters",
    "prune_one_shot",
    "saved_model_bytes",
    "student_trainer",
]

#: Names of the weight tensors magnitude pruning acts on: the multiply-accumulate weights.
#: Biases, BatchNorm parameters and embeddings are left dense (they are few, and a zero
#: bias saves no MAC). Han et al. 2015 prune the same tensors.
PRUNABLE = ("kernel", "depthwise_kernel", "pointwise_kernel", "recurrent_kernel")
SCOPES = ("layer", "global")

Masks = dict[str, np.ndarray]


# --------------------------------------------------------------------------- checks


def _check_model(model: Any, argument: str = "model") -> keras.Model:
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"{argument} must be a built keras.Model (e.g. models.lenet_keras()), "
            f"got {type(model).__name__}"
        )
    if not model.built:
        raise ValueError(
            f"{argument} {model.name!r} is not built: give it a keras.Input or call "
            "model.build(input_shape) first"
        )
    return model


def _check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ValueError(
            f"scope={scope!r} is not one of {SCOPES}: 'layer' prunes every tensor to the "
            "same sparsity, 'global' ranks all weights of the model together"
        )
    return scope


# --------------------------------------------------------------------------- what can be pruned


@dataclass(frozen=True)
class PrunableWeight:
    """One weight tensor that magnitude pruning acts on.

    Attributes:
        layer: the Keras layer's name (e.g. ``'dense_3'``).
        kind: the layer's class name (``'Dense'``, ``'Conv2D'``, ...).
        name: the tensor's name within its layer (``'kernel'``, ...).
        variable: the ``keras.Variable`` itself.
    """

    layer: str
    kind: str
    name: str
    variable: Any

    @property
    def key(self) -> str:
        """``'<layer>/<name>'`` (e.g. ``'dense_3/kernel'``): the key of a mask dictionary.

        Layer names survive copying a model (unlike variable paths, which may carry the
        model's name), so masks made on a model apply to its copies.
        """
        return f"{self.layer}/{self.name}"

    @property
    def size(self) -> int:
        """Number of weights in the tensor."""
        return int(np.prod(self.variable.shape))


def _layers(model: keras.Model) -> Iterable[Any]:
    """The model's layers in order, descending into nested models."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer


def prunable_weights(
    model: keras.Model, layers: Sequence[str] | None = None
) -> list[PrunableWeight]:
    """The kernels of ``model`` that pruning acts on (:data:`PRUNABLE`), in layer order.

    ``layers`` restricts the list to those layer names (a ValueError names any that the
    model lacks or that have no kernel). Nested models are searched too.
    """
    _check_model(model)
    found = []
    for layer in _layers(model):
        for variable in layer.trainable_weights:
            if variable.name in PRUNABLE:
                found.append(
                    PrunableWeight(layer.name, type(layer).__name__, variable.name, variable)
                )
    if layers is not None:
        if isinstance(layers, str):
            layers = [layers]
        wanted = set(layers)
        missing = wanted - {w.layer for w in found}
        if missing:
            raise ValueError(
                f"layers {sorted(missing)} have no prunable kernel in {model.name!r}; "
                f"prunable layers: {sorted({w.layer for w in found})}"
            )
        found = [w for w in found if w.layer in wanted]
    return found


# --------------------------------------------------------------------------- sparsity


@dataclass(frozen=True)
class LayerSparsity:
    """Zeros in one prunable tensor."""

    layer: str
    kind: str
    name: str
    shape: tuple[int, ...]
    zeros: int
    size: int

    @property
    def sparsity(self) -> float:
        """Fraction of the tensor's weights that are exactly zero."""
        return self.zeros / self.size if self.size else 0.0


@dataclass(frozen=True)
class SparsityReport:
    """How sparse a model is (:func:`measure_sparsity`).

    ``rows`` covers the prunable kernels; ``zero_params``/``total_params`` count every
    parameter of the model (biases and other weights too), the way Deep Compression's
    Table 1 counts a model's weights.
    """

    rows: tuple[LayerSparsity, ...]
    zero_params: int
    total_params: int

    @property
    def kernel_zeros(self) -> int:
        """Zeros in the prunable kernels."""
        return sum(r.zeros for r in self.rows)

    @property
    def kernel_size(self) -> int:
        """Weights in the prunable kernels."""
        return sum(r.size for r in self.rows)

    @property
    def kernel_sparsity(self) -> float:
        """Fraction of the prunable kernels' weights that are zero."""
        return self.kernel_zeros / self.kernel_size if self.kernel_size else 0.0

    @property
    def sparsity(self) -> float:
        """Fraction of *all* the model's parameters that are zero (biases included)."""
        return self.zero_params / self.total_params if self.total_params else 0.0

    def table(self, labels: Mapping[str, str] | None = None) -> str:
        """A printable per-tensor table; ``labels`` renames layers (e.g. ``{'dense_3': 'fc1'}``)."""
        labels = labels or {}
        head = (
            f"{'layer':12s} {'kind':8s} {'shape':>16} {'weights':>9} {'zeros':>9} {'sparsity':>9}"
        )
        lines = [head, "-" * len(head)]
        for r in self.rows:
            shape = "x".join(map(str, r.shape))
            lines.append(
                f"{labels.get(r.layer, r.layer):12s} {r.kind:8s} {shape:>16} {r.size:9,} "
                f"{r.zeros:9,} {r.sparsity:9.1%}"
            )
        lines.append("-" * len(head))
        lines.append(
            f"{'kernels':12s} {'':8s} {'':>16} {self.kernel_size:9,} {self.kernel_zeros:9,} "
            f"{self.kernel_sparsity:9.1%}"
        )
        lines.append(
            f"{'all params':12s} {'':8s} {'':>16} {self.total_params:9,} {self.zero_params:9,} "
            f"{self.sparsity:9.1%}"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def measure_sparsity(model: keras.Model) -> SparsityReport:
    """Count the exact zeros in ``model``: per prunable kernel and over all its parameters."""
    rows = []
    for w in prunable_weights(model):
        values = np.asarray(w.variable)
        rows.append(
            LayerSparsity(
                w.layer, w.kind, w.name, tuple(values.shape), int(np.sum(values == 0)), values.size
            )
        )
    all_weights = [np.asarray(v) for v in model.weights]
    return SparsityReport(
        tuple(rows),
        zero_params=int(sum(np.sum(v == 0) for v in all_weights)),
        total_params=int(sum(v.size for v in all_weights)),
    )


# --------------------------------------------------------------------------- magnitude masks


def _smallest_mask(magnitudes: np.ndarray, n_prune: int) -> np.ndarray:
    """Boolean keep-mask that drops exactly the ``n_prune`` smallest entries (ties: any)."""
    keep = np.ones(magnitudes.size, dtype=bool)
    if n_prune >= magnitudes.size:
        keep[:] = False
    elif n_prune > 0:
        keep[np.argpartition(magnitudes.reshape(-1), n_prune - 1)[:n_prune]] = False
    return keep.reshape(magnitudes.shape)


def magnitude_masks(
    model: keras.Model,
    sparsity: float | Mapping[str, float],
    scope: str = "layer",
    layers: Sequence[str] | None = None,
) -> Masks:
    """Keep-masks (True = keep) that zero the smallest-magnitude weights of ``model``.

    Magnitude pruning (Han et al. 2015; seed 003, 'Pruning'): a weight near zero
    contributes little to any output, so the ``sparsity`` fraction with the smallest
    absolute values are dropped. ``round(sparsity * n)`` weights are pruned exactly, so
    the achieved sparsity is what was asked for (ties broken arbitrarily).

    Args:
        model: a built Keras model.
        sparsity: a fraction in [0, 1] for every prunable tensor, or ``{layer name:
            fraction}`` (layers not named stay dense; needs ``scope='layer'``).
        scope: ``'layer'`` prunes each tensor to ``sparsity`` on its own; ``'global'``
            ranks the weights of all tensors together against one threshold, so layers
            with larger weights keep more of them.
        layers: restrict pruning to these layer names (the others get all-True masks).

    Returns ``{'<layer>/<weight>' key: bool array}`` for every prunable tensor of the model.
    """
    _check_scope(scope)
    everything = prunable_weights(model)
    chosen = {w.key for w in prunable_weights(model, layers)} if layers is not None else None
    targets = [w for w in everything if chosen is None or w.key in chosen]
    masks: Masks = {w.key: np.ones(w.variable.shape, dtype=bool) for w in everything}
    if isinstance(sparsity, Mapping):
        if scope != "layer":
            raise ValueError("a per-layer sparsity mapping needs scope='layer'")
        unknown = set(sparsity) - {w.layer for w in everything}
        if unknown:
            raise ValueError(
                f"sparsity names layers {sorted(unknown)} without a prunable kernel; "
                f"prunable layers: {sorted({w.layer for w in everything})}"
            )
        per_layer = {k: check.fraction(f"sparsity[{k!r}]", v) for k, v in sparsity.items()}
        for w in targets:
            if w.layer in per_layer:
                values = np.abs(np.asarray(w.variable))
                masks[w.key] = _smallest_mask(values, round(per_layer[w.layer] * values.size))
        return masks
    fraction = check.fraction("sparsity", sparsity)
    if scope == "layer":
        for w in targets:
            values = np.abs(np.asarray(w.variable))
            masks[w.key] = _smallest_mask(values, round(fraction * values.size))
        return masks
    flat = [np.abs(np.asarray(w.variable)).reshape(-1) for w in targets]
    if not flat:
        return masks
    joined = np.concatenate(flat)
    keep = _smallest_mask(joined, round(fraction * joined.size))
    start = 0
    for w, values in zip(targets, flat, strict=True):
        masks[w.key] = keep[start : start + values.size].reshape(w.variable.shape)
        start += values.size
    return masks


def apply_masks(model: keras.Model, masks: Mapping[str, np.ndarray]) -> None:
    """Multiply each prunable tensor of ``model`` by its mask, in place (pruned -> 0.0).

    ``masks`` maps ``'<layer>/<weight>'`` keys (:attr:`PrunableWeight.key`) to arrays of the tensor's
    shape, e.g. from :func:`magnitude_masks`; tensors without a mask are left alone.
    """
    by_key = {w.key: w for w in prunable_weights(model)}
    unknown = set(masks) - set(by_key)
    if unknown:
        raise ValueError(
            f"masks for {sorted(unknown)}, which are not prunable tensors of {model.name!r} "
            f"(it has {sorted(by_key)}); were the masks made for another model?"
        )
    for key, mask in masks.items():
        variable = by_key[key].variable
        mask = np.asarray(mask)
        if mask.shape != tuple(variable.shape):
            raise ValueError(
                f"mask for {key!r} has shape {mask.shape}, the tensor {tuple(variable.shape)}"
            )
        # where(), not multiply: a pruned negative weight becomes +0.0, not -0.0 (same value,
        # but a different bit pattern, which a compressor would have to encode)
        variable.assign(np.where(mask.astype(bool), np.asarray(variable), 0).astype(variable.dtype))


def clone_with_weights(model: keras.Model) -> keras.Model:
    """A fresh copy of ``model``'s architecture with the same weights and no optimizer."""
    _check_model(model)
    # from_config, not keras.models.clone_model: a clone of a compiled model is compiled
    # too, and its optimizer's variables would then be saved with it.
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def prune_one_shot(
    model: keras.Model,
    sparsity: float | Mapping[str, float],
    scope: str = "layer",
    layers: Sequence[str] | None = None,
) -> tuple[keras.Model, Masks]:
    """Prune a *copy* of ``model`` once, without retraining; returns ``(pruned, masks)``.

    The masks are :func:`magnitude_masks` of the original's weights. One-shot pruning is
    step 1 of Han et al.'s three (train, prune, retrain); without step 3 accuracy falls
    quickly beyond moderate sparsity.
    """
    masks = magnitude_masks(model, sparsity, scope, layers)
    pruned = clone_with_weights(model)
    apply_masks(pruned, masks)
    return pruned, masks


# --------------------------------------------------------------------------- gradual pruning


def polynomial_sparsity(
    step: int,
    final_sparsity: float,
    begin_step: int,
    end_step: int,
    initial_sparsity: float = 0.0,
    power: float = 3.0,
) -> float:
    """Target sparsity at optimizer ``step``: Zhu & Gupta's (2017) schedule, their eq. (1).

    .. math:: s_t = s_f + (s_i - s_f) \\left(1 - \\frac{t - t_0}{t_{end} - t_0}\\right)^3

    for :math:`t_0 \\le t \\le t_{end}`; :math:`s_i` before :math:`t_0`, :math:`s_f` from
    :math:`t_{end}` on (``begin_step == end_step`` prunes to :math:`s_f` at once: one-shot
    pruning followed by fine-tuning with the masks fixed). The cube prunes fast while there are many redundant weights and
    slowly near the end, when every weight counts and the network needs steps to adapt.
    """
    step = integer("step", step, 0)
    begin_step = integer("begin_step", begin_step, 0)
    end_step = integer("end_step", end_step, begin_step)
    s_f = check.fraction("final_sparsity", final_sparsity)
    s_i = check.fraction("initial_sparsity", initial_sparsity)
    if s_i > s_f:
        raise ValueError(f"initial_sparsity={s_i} is above final_sparsity={s_f}")
    if not (isinstance(power, numbers.Real) and power > 0):
        raise ValueError(f"power must be a positive number, got {power!r}")
    if step >= end_step:
        return s_f
    if step <= begin_step:
        return s_i
    progress = (step - begin_step) / (end_step - begin_step)
    return s_f + (s_i - s_f) * (1.0 - progress) ** power


class MaskConstraint(keras.constraints.Constraint):
    """A Keras constraint ``w -> w * mask`` (times an optional earlier constraint).

    Keras' optimizers apply a variable's constraint right after every update, inside the
    compiled training step, so a pruned weight that a gradient moved is set back to zero
    before the next step reads it. ``mask`` is a non-trainable ``keras.Variable`` the
    :class:`PruningCallback` updates while training.
    """

    def __init__(self, mask: Any, inner: Callable[[Any], Any] | None = None) -> None:
        self.mask = mask
        self.inner = inner

    def __call__(self, w: Any) -> Any:
        if self.inner is not None:
            w = self.inner(w)
        return keras.ops.multiply(w, keras.ops.cast(self.mask, w.dtype))


class PruningCallback(keras.callbacks.Callback):
    """Gradual magnitude pruning while a model trains (Zhu & Gupta 2017), Keras 3-native.

    Use it with ``model.fit(..., callbacks=[PruningCallback(0.9, end_step=...)])`` on a
    trained, compiled model (the fit is then fine-tuning). While training:

    * every ``frequency`` optimizer steps between ``begin_step`` and ``end_step`` the
      target sparsity rises along :func:`polynomial_sparsity` and the masks are
      recomputed from the current weights' magnitudes (:func:`magnitude_masks`;
      weights pruned before, being zero, stay pruned);
    * after *every* optimizer step the masks are re-applied: each kernel carries a
      :class:`MaskConstraint`, which the optimizer applies in the compiled train step
      (so this holds with ``steps_per_execution > 1`` too; the masks themselves can then
      change only between executions, i.e. every ``steps_per_execution`` steps).

    When training ends the masks are applied a last time, the constraints removed (the
    model saves and converts like any other) and ``masks`` holds them as NumPy arrays.
    ``history`` lists ``(step, target sparsity)`` at every mask update.

    Args:
        final_sparsity: fraction of the pruned tensors' weights at zero at the end.
        end_step: optimizer step at which ``final_sparsity`` is reached (counted from
            the start of this fit); leave steps after it for the network to recover.
        begin_step: step at which pruning starts.
        frequency: optimizer steps between mask updates.
        initial_sparsity: sparsity at ``begin_step``.
        scope: ``'global'`` (default; one magnitude ranking over all tensors) or
            ``'layer'``.
        layers: prune only these layer names (default every prunable kernel).
        power: exponent of the schedule (3 in the paper).
    """

    def __init__(
        self,
        final_sparsity: float,
        end_step: int,
        begin_step: int = 0,
        frequency: int = 50,
        initial_sparsity: float = 0.0,
        scope: str = "global",
        layers: Sequence[str] | None = None,
        power: float = 3.0,
    ) -> None:
        super().__init__()
        self.final_sparsity = check.fraction("final_sparsity", final_sparsity)
        self.begin_step = integer("begin_step", begin_step, 0)
        self.end_step = integer("end_step", end_step, self.begin_step)
        self.frequency = integer("frequency", frequency, 1)
        self.initial_sparsity = check.fraction("initial_sparsity", initial_sparsity)
        self.scope = _check_scope(scope)
        self.layers = list(layers) if layers is not None else None
        self.power = power
        polynomial_sparsity(0, final_sparsity, begin_step, end_step, initial_sparsity, power)
        self.masks: Masks = {}
        self.history: list[tuple[int, float]] = []
        self._mask_vars: dict[str, Any] = {}
        self._saved_constraints: dict[str, Any] = {}
        self._weights: list[PrunableWeight] = []
        self._first_iteration = 0
        self._last_update: int | None = None
        self._target = 0.0

    def _step(self) -> int:
        return int(np.asarray(self.model.optimizer.iterations)) - self._first_iteration

    def on_train_begin(self, logs: dict | None = None) -> None:
        model = self.model
        if getattr(model, "optimizer", None) is None:
            raise ValueError(
                "PruningCallback needs a compiled model: call model.compile(...) first"
            )
        self._weights = prunable_weights(model, self.layers)
        if not self._weights:
            raise ValueError(f"{model.name!r} has no prunable kernels ({', '.join(PRUNABLE)})")
        self._first_iteration = int(np.asarray(model.optimizer.iterations))
        self._last_update, self._target, self.history = None, 0.0, []
        for w in self._weights:
            keep = np.ones(w.variable.shape, dtype="float32")
            self._mask_vars[w.key] = keras.Variable(keep, trainable=False, name="prune_mask")
            self._saved_constraints[w.key] = w.variable.constraint
            w.variable.constraint = MaskConstraint(self._mask_vars[w.key], w.variable.constraint)
        # The train step reads the constraints when it is traced: trace it anew.
        model.make_train_function(force=True)
        self._update(0)

    def _update(self, step: int) -> None:
        target = polynomial_sparsity(
            step,
            self.final_sparsity,
            self.begin_step,
            self.end_step,
            self.initial_sparsity,
            self.power,
        )
        if self._last_update is not None and target <= self._target:
            return
        masks = magnitude_masks(self.model, target, self.scope, self.layers)
        for w in self._weights:
            self._mask_vars[w.key].assign(masks[w.key].astype("float32"))
            self.masks[w.key] = masks[w.key]
        apply_masks(self.model, {w.key: masks[w.key] for w in self._weights})
        self._target, self._last_update = target, step
        self.history.append((step, target))

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        step = self._step()
        if step < self.begin_step or self._target >= self.final_sparsity:
            return
        due = self._last_update is None or step - self._last_update >= self.frequency
        if due or step >= self.end_step:
            self._update(step)

    def on_train_end(self, logs: dict | None = None) -> None:
        apply_masks(self.model, {w.key: self.masks[w.key] for w in self._weights})
        for w in self._weights:
            w.variable.constraint = self._saved_constraints.pop(w.key)
        self._mask_vars.clear()
        self.model.train_function = None  # the next fit traces a step without the masks
        if self._target < self.final_sparsity:
            warnings.warn(
                f"PruningCallback: training stopped at step {self._step()} before end_step="
                f"{self.end_step}; sparsity reached {self._target:.3f}, not final_sparsity="
                f"{self.final_sparsity}. Train longer or lower end_step.",
                stacklevel=2,
            )


# --------------------------------------------------------------------------- sweeps


def evaluate_accuracy(model: keras.Model, x: Any, y: Any, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on ``x`` (N, ...) against integer labels ``y`` (N,).

    Runs the model as one ``tf.function`` (:func:`course_utils.timing.compiled_predict`),
    ``batch_size`` inputs at a time: faster than ``model.evaluate`` for repeated calls.
    """
    from ..timing import compiled_predict

    _check_model(model)
    batch_size = integer("batch_size", batch_size, 1)
    y = np.asarray(y).reshape(-1)
    if len(y) != len(x) or len(y) == 0:
        raise ValueError(f"x has {len(x)} samples and y {len(y)} labels; they must match (> 0)")
    forward = compiled_predict(model)
    return _accuracy(forward, x, y, batch_size)


def _accuracy(forward: Callable[[Any], Any], x: Any, y: np.ndarray, batch_size: int) -> float:
    correct = 0
    for start in range(0, len(y), batch_size):
        out = np.asarray(forward(np.asarray(x[start : start + batch_size], dtype=np.float32)))
        correct += int(np.sum(np.argmax(out, axis=-1) == y[start : start + batch_size]))
    return correct / len(y)


@dataclass(frozen=True)
class SweepPoint:
    """Accuracy of a model pruned to ``sparsity`` (of the tensors that were pruned)."""

    sparsity: float
    accuracy: float


def _sweep_sparsities(sparsities: Iterable[float]) -> list[float]:
    values = [check.fraction("sparsities entries", s) for s in sparsities]
    if not values:
        raise ValueError("sparsities is empty; pass e.g. [0.5, 0.8, 0.9]")
    return values


def one_shot_sweep(
    model: keras.Model,
    x: Any,
    y: Any,
    sparsities: Iterable[float],
    scope: str = "global",
    batch_size: int = 1000,
) -> list[SweepPoint]:
    """Accuracy after one-shot magnitude pruning to each sparsity, without retraining.

    Works on a copy (``model`` is not changed): for each sparsity the original weights
    are restored and pruned again, then evaluated on ``x``, ``y`` (use held-out data).
    """
    from ..timing import compiled_predict

    values = _sweep_sparsities(sparsities)
    _check_scope(scope)
    work = clone_with_weights(model)
    original = work.get_weights()
    forward = compiled_predict(work)
    y = np.asarray(y).reshape(-1)
    points = []
    for s in values:
        work.set_weights(original)
        apply_masks(work, magnitude_masks(work, s, scope))
        points.append(SweepPoint(s, _accuracy(forward, x, y, batch_size)))
    return points


def layer_sensitivity(
    model: keras.Model,
    x: Any,
    y: Any,
    sparsities: Iterable[float],
    layers: Sequence[str] | None = None,
    batch_size: int = 1000,
) -> dict[str, list[SweepPoint]]:
    """Per-layer pruning sensitivity: prune *one* layer at a time, one-shot, and evaluate.

    The analysis of Han et al. 2015 (Fig. 5) and Li et al. 2017 (Fig. 2): a layer whose
    accuracy holds up at high sparsity has many redundant weights; a sensitive one
    should be pruned less. Returns ``{layer name: [SweepPoint, ...]}`` in layer order.
    ``model`` is not changed (a copy is pruned).
    """
    from ..timing import compiled_predict

    values = _sweep_sparsities(sparsities)
    work = clone_with_weights(model)
    names = list(dict.fromkeys(w.layer for w in prunable_weights(work, layers)))
    original = work.get_weights()
    forward = compiled_predict(work)
    y = np.asarray(y).reshape(-1)
    result: dict[str, list[SweepPoint]] = {}
    for name in names:
        points = []
        for s in values:
            work.set_weights(original)
            apply_masks(work, magnitude_masks(work, {name: s}, "layer"))
            points.append(SweepPoint(s, _accuracy(forward, x, y, batch_size)))
        result[name] = points
    work.set_weights(original)
    return result


# --------------------------------------------------------------------------- structured pruning

_CONV = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
#: Weightless layers that act on each channel separately: filters can be removed across them.
_PER_CHANNEL = (
    "Activation ReLU LeakyReLU ELU Softmax Dropout SpatialDropout1D SpatialDropout2D "
    "SpatialDropout3D GaussianNoise GaussianDropout AlphaDropout "
    "MaxPooling1D MaxPooling2D MaxPooling3D AveragePooling1D AveragePooling2D AveragePooling3D "
    "GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D GlobalMaxPooling1D "
    "GlobalMaxPooling2D GlobalMaxPooling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D "
    "Cropping1D Cropping2D Cropping3D UpSampling1D UpSampling2D UpSampling3D"
).split()


def _is_weight_layer(layer: Any) -> bool:
    return isinstance(layer, (*_CONV, keras.layers.Dense))


def _chain(model: keras.Model) -> list[Any]:
    """The layers of a model that is a plain chain (one input, each layer feeds the next)."""
    _check_model(model)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if isinstance(model, keras.Sequential):
        return layers
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"{model.name!r} has several inputs or outputs; only chains are supported")
    previous = model.inputs[0]
    for layer in layers:
        try:
            feeds = layer.input
        except (AttributeError, ValueError):
            feeds = None
        if feeds is not previous:
            raise ValueError(
                f"{model.name!r} is not a simple chain of layers at {layer.name!r} (branches, "
                "residual connections or shared layers): structured pruning here supports "
                "Sequential-like models only"
            )
        previous = layer.output
    return layers


def _check_chain_layer(layer: Any) -> None:
    kind = type(layer).__name__
    if isinstance(layer, _CONV):
        if getattr(layer, "groups", 1) != 1:
            raise ValueError(f"{layer.name!r}: grouped convolutions (groups>1) are not supported")
        if layer.data_format != "channels_last":
            raise ValueError(f"{layer.name!r}: only data_format='channels_last' is supported")
    elif isinstance(layer, keras.layers.BatchNormalization):
        if layer.axis not in (-1, len(layer.input.shape) - 1):
            raise ValueError(f"{layer.name!r}: BatchNormalization must normalise the last axis")
    elif isinstance(layer, keras.layers.Flatten):
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise ValueError(f"{layer.name!r}: only data_format='channels_last' is supported")
    elif not isinstance(layer, keras.layers.Dense) and kind not in _PER_CHANNEL:
        raise ValueError(
            f"structured pruning has no rule for layer kind {kind!r} (layer {layer.name!r}); "
            "supported: Conv1D/2D/3D, Dense, BatchNormalization, Flatten and per-channel "
            "layers (pooling, activations, dropout, padding)"
        )


def _resolve_widths(chain: list[Any], keep: float | Mapping[str, int]) -> dict[str, int]:
    """``{layer name: filters/units to keep}`` for the hidden weight layers."""
    weight_layers = [layer for layer in chain if _is_weight_layer(layer)]
    hidden = weight_layers[:-1]  # the last one produces the model's outputs: never narrowed
    if isinstance(keep, Mapping):
        names = {layer.name: layer for layer in hidden}
        unknown = set(keep) - set(names)
        if unknown:
            last = weight_layers[-1].name if weight_layers else None
            raise ValueError(
                f"keep names {sorted(unknown)}, which are not hidden Conv/Dense layers "
                f"(these are {sorted(names)}; the output layer {last!r} keeps its width)"
            )
        widths = {}
        for name, n in keep.items():
            full = _width(names[name])
            widths[name] = integer(f"keep[{name!r}]", n, 1)
            if widths[name] > full:
                raise ValueError(f"keep[{name!r}]={n} is more than the layer's {full}")
        return widths
    fraction = check.fraction("keep", keep)
    if fraction == 0:
        raise ValueError("keep=0 would remove every filter; pass a fraction in (0, 1]")
    return {layer.name: max(1, round(fraction * _width(layer))) for layer in hidden}


def _width(layer: Any) -> int:
    return int(layer.filters if isinstance(layer, _CONV) else layer.units)


def narrow(model: keras.Model, widths: Mapping[str, int], name: str | None = None) -> keras.Model:
    """The same chain of layers with fewer filters/units, freshly initialised.

    ``widths`` maps hidden Conv/Dense layer names to their new number of filters or
    units; every other setting of every layer is kept. Used to build a smaller student
    for distillation, and by :func:`prune_filters`, which then copies the kept weights.
    """
    chain = _chain(model)
    for layer in chain:
        _check_chain_layer(layer)
    known = {layer.name for layer in chain if _is_weight_layer(layer)}
    unknown = set(widths) - known
    if unknown:
        raise ValueError(f"widths names {sorted(unknown)}, not Conv/Dense layers of {model.name!r}")
    rebuilt = []
    for layer in chain:
        config = {**layer.get_config(), "trainable": True}  # fresh layers, to be trained
        if layer.name in widths:
            config["filters" if isinstance(layer, _CONV) else "units"] = integer(f"widths[{layer.name!r}]",
                widths[layer.name], 1
            )
        rebuilt.append(type(layer).from_config(config))
    return keras.Sequential(
        [keras.Input(tuple(model.input_shape[1:])), *rebuilt], name=name or f"{model.name}_narrow"
    )


def filter_l1_norms(layer: Any) -> np.ndarray:
    """L1 norm of each output filter (Conv) or unit (Dense): ``sum |kernel|`` over its inputs.

    Li et al. 2017 rank filters by this norm: a filter with small weights produces small
    activations, so removing it changes the next layer's input least.
    """
    if not _is_weight_layer(layer):
        raise TypeError(f"filter_l1_norms needs a Conv or Dense layer, got {type(layer).__name__}")
    kernel = np.asarray(layer.kernel)
    return np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)


def prune_filters(
    model: keras.Model, keep: float | Mapping[str, int], name: str | None = None
) -> keras.Model:
    """Structured pruning: a genuinely smaller model without the weakest filters and units.

    For every hidden Conv/Dense layer the filters (units) with the largest L1 norm are
    kept (:func:`filter_l1_norms`; Li et al. 2017): ``keep`` is the fraction to keep in
    every such layer, or ``{layer name: count}``. The output layer keeps its width. The
    removed channels also disappear from what reads them: the next layer's kernel rows,
    BatchNorm's per-channel parameters and, after a ``Flatten``, every position of those
    channels in the flattened vector. Unlike zeros in a dense tensor, this shrinks the
    matrix multiplies themselves: fewer MACs on any hardware.

    Supports chains (Sequential-like models) of Conv1D/2D/3D, Dense, BatchNormalization,
    Flatten and per-channel layers; anything else raises a ValueError naming the layer.
    Returns a new, uncompiled model (fine-tune it to recover accuracy).
    """
    chain = _chain(model)
    for layer in chain:
        _check_chain_layer(layer)
    widths = _resolve_widths(chain, keep)
    kept = {
        layer.name: np.sort(
            np.argsort(-filter_l1_norms(layer), kind="stable")[: widths[layer.name]]
        )
        for layer in chain
        if layer.name in widths
    }
    small = narrow(model, widths, name=name or f"{model.name}_filters_pruned")
    channels: np.ndarray | None = None  # kept indices along the current tensor's last axis
    for old, new in zip(chain, small.layers, strict=True):
        if _is_weight_layer(old):
            weights = old.get_weights()
            kernel = weights[0] if channels is None else np.take(weights[0], channels, axis=-2)
            out = kept.get(old.name)
            if out is not None:
                kernel = kernel[..., out]
            rest = [w if out is None else w[out] for w in weights[1:]]
            new.set_weights([kernel, *rest])
            channels = out
        elif isinstance(old, keras.layers.BatchNormalization):
            weights = old.get_weights()
            new.set_weights(weights if channels is None else [w[channels] for w in weights])
        elif isinstance(old, keras.layers.Flatten) and channels is not None:
            shape = tuple(old.input.shape[1:])
            n_ch, positions = shape[-1], int(np.prod(shape[:-1]))
            channels = (np.arange(positions)[:, None] * n_ch + channels[None, :]).reshape(-1)
    return small


# --------------------------------------------------------------------------- size on disk


def saved_model_bytes(model: keras.Model) -> bytes:
    """The bytes of ``model`` saved as a ``.keras`` file for inference.

    Architecture and weights, without the optimizer's state (Adam keeps two more
    numbers per weight, which inference does not need). Keras stores the archive's
    members uncompressed, so the file is about 4 bytes per fp32 parameter plus the
    configuration.
    """
    copy = clone_with_weights(model)
    with tempfile.TemporaryDirectory(prefix="course-compress-") as tmp:
        path = Path(tmp) / f"{model.name}.keras"
        copy.save(path)
        return path.read_bytes()


def gzip_size_bytes(obj: keras.Model | bytes | str | Path, level: int = 9) -> int:
    """Size in bytes of ``obj`` after gzip: a Keras model (its :func:`saved_model_bytes`),
    raw bytes (e.g. a ``.tflite`` from :func:`course_utils.quantize.to_tflite`) or a file.

    A general-purpose compressor cannot shrink random-looking fp32 weights much, but it
    stores long runs of zeros in a few bits: the gzip'd size is how far unstructured
    sparsity shrinks a model file without a sparse format. The TensorFlow Model
    Optimization pruning guide measures pruned models this way; Han et al. (Deep
    Compression) store their own sparse format and Huffman-code it instead.
    """
    level = integer("level", level, 1)
    if level > 9:
        raise ValueError(f"level must be 1..9 (gzip compression level), got {level}")
    if isinstance(obj, keras.Model):
        data = saved_model_bytes(obj)
    elif isinstance(obj, bytes | bytearray):
        data = bytes(obj)
    elif isinstance(obj, str | Path):
        path = Path(obj)
        if not path.is_file():
            raise FileNotFoundError(f"gzip_size_bytes: no file {path}")
        data = path.read_bytes()
    else:
        raise TypeError(
            f"gzip_size_bytes takes a keras.Model, bytes or a file path, got {type(obj).__name__}"
        )
    return len(gzip.compress(data, compresslevel=level, mtime=0))


# --------------------------------------------------------------------------- distillation


def logits_model(model: keras.Model, name: str | None = None) -> keras.Model:
    """A copy of a classifier whose last layer ends in softmax, returning the logits instead.

    ``keras.distillation.LogitsDistillation`` divides the teacher's and the student's
    outputs by the temperature T *before* its own softmax, so both must output logits
    :math:`z`, not probabilities. The copy has the same weights; only the last layer's
    ``activation`` becomes linear (its argmax, hence accuracy, is unchanged).
    """
    _check_model(model)
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    if activation is None or keras.activations.serialize(activation) not in ("softmax",):
        raise ValueError(
            f"the last layer of {model.name!r} ({last.name!r}) does not end in softmax; "
            "it may already output logits"
        )

    config = model.get_config()
    for entry in config.get("layers", []):
        if entry.get("config", {}).get("name") == last.name:
            entry["config"]["activation"] = "linear"
    config["name"] = name or f"{model.name}_logits"
    copy = type(model).from_config(config)
    copy.set_weights(model.get_weights())
    if copy.layers[-1].activation is activation:
        raise ValueError(f"could not rebuild {model.name!r} without its softmax (not a chain?)")
    return copy


def student_trainer(
    student: keras.Model,
    teacher: keras.Model | None = None,
    temperature: float = 4.0,
    student_loss_weight: float = 0.1,
    learning_rate: float = 3e-3,
    total_steps: int = 1000,
    steps_per_execution: int = 32,
) -> keras.Model:
    """A compiled model that trains ``student`` (which outputs logits) on labels alone
    or, given a ``teacher`` (also logits), by knowledge distillation.

    Distillation (Hinton, Vinyals & Dean 2015; seed 003, 'Knowledge Distillation') trains
    the student on a mix of two losses:

    .. math:: L = w \\cdot CE(y, \\sigma(z_s)) + (1 - w) \\cdot T^2 \\cdot
              KL\\big(\\sigma(z_t / T) \\,\\|\\, \\sigma(z_s / T)\\big)

    The soft targets :math:`\\sigma(z_t/T)` tell the student which wrong classes the
    teacher finds *almost* right (a 7 that looks like a 1): more information per example
    than the label alone. :math:`T^2` keeps the soft term's gradients at the size of the
    hard term's. This returns Keras 3's own ``keras.distillation.Distiller`` with
    ``LogitsDistillation(T)`` and ``student_loss_weight`` = :math:`w`; without a teacher,
    the student itself compiled with the same optimizer: Adam with a cosine-decayed
    learning rate over ``total_steps`` (notebook 03's recipe), so both runs differ only
    in the loss. The trained student is ``student`` either way (``trainer.student``).
    ``steps_per_execution`` optimizer steps run per call into TensorFlow (faster for
    small models; results are unchanged).

    The KL term is given to ``LogitsDistillation`` as a ``keras.losses.KLDivergence()``
    *instance*: with its default, the string ``'kl_divergence'``, Keras 3.15 skips the
    softmax (it tests ``isinstance(loss, KLDivergence)``) and applies the KL to the scaled
    logits themselves, clipped to [1e-7, 1]; students then do not learn.
    """
    _check_model(student, "student")
    total_steps = integer("total_steps", total_steps, 1)
    steps_per_execution = integer("steps_per_execution", steps_per_execution, 1)
    if not (isinstance(learning_rate, numbers.Real) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    schedule = keras.optimizers.schedules.CosineDecay(float(learning_rate), total_steps)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if teacher is None:
        student.compile(
            optimizer=keras.optimizers.Adam(schedule),
            loss=loss,
            metrics=["accuracy"],
            steps_per_execution=steps_per_execution,
        )
        return student
    _check_model(teacher, "teacher")
    if not (
        isinstance(temperature, numbers.Real) and temperature > 0 and math.isfinite(temperature)
    ):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    weight = check.fraction("student_loss_weight", student_loss_weight)
    distiller = keras.distillation.Distiller(
        teacher=teacher,
        student=student,
        distillation_losses=keras.distillation.LogitsDistillation(
            temperature=float(temperature), loss=keras.losses.KLDivergence()
        ),
        student_loss_weight=weight,
    )
    distiller.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=loss,
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return distiller
