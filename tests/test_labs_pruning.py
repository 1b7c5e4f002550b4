"""Tests of course_utils.labs.pruning: masks, sparsity, gradual pruning, structured pruning,
gzip size and distillation, on tiny models with hand-checkable weights."""

import gzip
import io
import warnings
import zipfile

import numpy as np
import pytest

from course_utils.labs import pruning as cp  # before Keras: sets TensorFlow's environment knobs
from course_utils.profiler import profile

# isort: split
import h5py
import keras


def tiny_cnn(seed: int = 0, bn: bool = False) -> keras.Model:
    """8x8x1 -> Conv 4@3x3 relu -> (BN) -> AvgPool 2 -> Conv 6@3x3 relu -> Flatten -> Dense 5 relu
    -> Dense 3 softmax."""
    keras.utils.set_random_seed(seed)
    stack = [keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="c1")]
    if bn:
        stack.append(keras.layers.BatchNormalization(name="bn"))
    stack += [
        keras.layers.AveragePooling2D(2, name="pool"),
        keras.layers.Conv2D(6, 2, activation="relu", name="c2"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(5, activation="relu", name="f1"),
        keras.layers.Dense(3, activation="softmax", name="out"),
    ]
    return keras.Sequential(stack, name="tiny")


@pytest.fixture(scope="module")
def model():
    return tiny_cnn()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((96, 8, 8, 1), dtype=np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype(int)
    y[::5] = 2
    return x, y


def kernel(m, name):
    return np.asarray(m.get_layer(name).kernel)


# --------------------------------------------------------------------------- prunable weights


def test_prunable_weights_are_the_kernels_in_order(model):
    ws = cp.prunable_weights(model)
    assert [(w.layer, w.name, w.kind) for w in ws] == [
        ("c1", "kernel", "Conv2D"),
        ("c2", "kernel", "Conv2D"),
        ("f1", "kernel", "Dense"),
        ("out", "kernel", "Dense"),
    ]
    assert [w.size for w in ws] == [3 * 3 * 1 * 4, 2 * 2 * 4 * 6, 2 * 2 * 6 * 5, 5 * 3]
    assert [w.layer for w in cp.prunable_weights(model, ["f1", "c1"])] == ["c1", "f1"]


def test_prunable_weights_finds_nested_models_and_separable_kernels():
    inner = keras.Sequential(
        [keras.Input((6, 6, 2)), keras.layers.SeparableConv2D(3, 3, name="sep")], name="inner"
    )
    outer = keras.Sequential([keras.Input((6, 6, 2)), inner, keras.layers.Flatten()], name="outer")
    names = [(w.layer, w.name) for w in cp.prunable_weights(outer)]
    assert names == [("sep", "depthwise_kernel"), ("sep", "pointwise_kernel")]


def test_prunable_weights_errors(model):
    with pytest.raises(TypeError, match="keras.Model"):
        cp.prunable_weights("lenet")
    with pytest.raises(ValueError, match="pool"):
        cp.prunable_weights(model, ["pool"])


# --------------------------------------------------------------------------- masks


def test_layer_masks_prune_exactly_the_smallest_of_each_tensor(model):
    masks = cp.magnitude_masks(model, 0.5, scope="layer")
    for w in cp.prunable_weights(model):
        keep, values = masks[w.key], np.abs(np.asarray(w.variable))
        assert keep.shape == values.shape and keep.dtype == bool
        assert int((~keep).sum()) == round(0.5 * values.size)
        assert values[~keep].max() <= values[keep].min()


def test_global_masks_use_one_threshold_for_all_tensors(model):
    masks = cp.magnitude_masks(model, 0.7, scope="global")
    ws = cp.prunable_weights(model)
    pruned = np.concatenate([np.abs(np.asarray(w.variable))[~masks[w.key]] for w in ws])
    kept = np.concatenate([np.abs(np.asarray(w.variable))[masks[w.key]] for w in ws])
    total = sum(w.size for w in ws)
    assert pruned.size == round(0.7 * total)
    assert pruned.max() <= kept.min()
    per_layer = [1 - masks[w.key].mean() for w in ws]
    assert max(per_layer) - min(per_layer) > 0.05, "global pruning hits layers unevenly"


def test_masks_per_layer_mapping_and_layer_subset(model):
    masks = cp.magnitude_masks(model, {"f1": 0.9})
    sizes = {w.layer: w for w in cp.prunable_weights(model)}
    assert int((~masks[sizes["f1"].key]).sum()) == round(0.9 * 120)
    assert all(masks[sizes[n].key].all() for n in ("c1", "c2", "out"))
    subset = cp.magnitude_masks(model, 1.0, scope="global", layers=["c2"])
    assert not subset[sizes["c2"].key].any() and subset[sizes["f1"].key].all()


def test_mask_errors(model):
    with pytest.raises(ValueError, match="fraction"):
        cp.magnitude_masks(model, 1.5)
    with pytest.raises(TypeError):
        cp.magnitude_masks(model, True)
    with pytest.raises(ValueError, match="scope"):
        cp.magnitude_masks(model, 0.5, scope="row")
    with pytest.raises(ValueError, match="scope='layer'"):
        cp.magnitude_masks(model, {"f1": 0.5}, scope="global")
    with pytest.raises(ValueError, match="nope"):
        cp.magnitude_masks(model, {"nope": 0.5})


def test_apply_masks_and_measure_sparsity():
    m = tiny_cnn(1)
    masks = cp.magnitude_masks(m, 0.5, scope="layer")
    before = {w.key: np.asarray(w.variable).copy() for w in cp.prunable_weights(m)}
    cp.apply_masks(m, masks)
    for w in cp.prunable_weights(m):
        after = np.asarray(w.variable)
        assert np.all(after[~masks[w.key]] == 0)
        np.testing.assert_array_equal(after[masks[w.key]], before[w.key][masks[w.key]])
    report = cp.measure_sparsity(m)
    kernel_size = 36 + 96 + 120 + 15
    assert report.kernel_size == kernel_size
    assert report.kernel_zeros == sum(round(0.5 * s) for s in (36, 96, 120, 15))
    assert report.total_params == m.count_params()
    biases = np.concatenate(
        [np.asarray(layer.bias) for layer in m.layers if hasattr(layer, "bias")]
    )
    assert report.zero_params == report.kernel_zeros + int(np.sum(biases == 0))
    assert report.sparsity == pytest.approx(report.zero_params / report.total_params)
    text = report.table(labels={"c1": "conv1"})
    assert "conv1" in text and "all params" in text


def test_apply_masks_errors(model):
    key = cp.prunable_weights(model)[0].key
    with pytest.raises(ValueError, match="shape"):
        cp.apply_masks(model, {key: np.ones((2, 2), bool)})
    with pytest.raises(ValueError, match="another model"):
        cp.apply_masks(model, {"elsewhere/kernel": np.ones((2, 2), bool)})


def test_prune_one_shot_leaves_the_original_alone(model):
    before = [w.copy() for w in model.get_weights()]
    pruned, masks = cp.prune_one_shot(model, 0.8, scope="global")
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    report = cp.measure_sparsity(pruned)
    assert report.kernel_zeros == round(0.8 * report.kernel_size)
    assert set(masks) == {w.key for w in cp.prunable_weights(model)}
    assert not pruned.compiled


# --------------------------------------------------------------------------- schedule


def test_polynomial_sparsity_matches_zhu_and_gupta():
    # s_t = s_f + (s_i - s_f) (1 - (t - t0) / (t_end - t0))^3
    assert cp.polynomial_sparsity(0, 0.8, 10, 110) == 0.0
    assert cp.polynomial_sparsity(10, 0.8, 10, 110) == 0.0
    assert cp.polynomial_sparsity(60, 0.8, 10, 110) == pytest.approx(0.8 - 0.8 * 0.5**3)
    assert cp.polynomial_sparsity(60, 0.8, 10, 110, initial_sparsity=0.2) == pytest.approx(
        0.8 - 0.6 * 0.125
    )
    assert cp.polynomial_sparsity(110, 0.8, 10, 110) == 0.8
    # begin_step == end_step: one-shot pruning at that step
    assert cp.polynomial_sparsity(9, 0.8, 10, 10) == 0.0
    assert cp.polynomial_sparsity(10, 0.8, 10, 10) == 0.8
    assert cp.polynomial_sparsity(500, 0.8, 10, 110) == 0.8
    values = [cp.polynomial_sparsity(t, 0.9, 0, 100) for t in range(101)]
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))


def test_polynomial_sparsity_errors():
    with pytest.raises(ValueError, match="end_step"):
        cp.polynomial_sparsity(0, 0.5, 10, 9)
    with pytest.raises(ValueError, match="initial_sparsity"):
        cp.polynomial_sparsity(0, 0.5, 0, 10, initial_sparsity=0.6)
    with pytest.raises(TypeError, match="step"):
        cp.polynomial_sparsity(1.5, 0.5, 0, 10)


# --------------------------------------------------------------------------- gradual pruning


class ZeroWatcher(keras.callbacks.Callback):
    """Records, after every execution of the train step, whether the pruned weights are zero."""

    def __init__(self, pruner):
        super().__init__()
        self.pruner = pruner
        self.checks = []

    def on_train_batch_end(self, batch, logs=None):
        if not self.pruner.masks:
            return
        ok = all(
            np.all(np.asarray(w.variable)[~self.pruner.masks[w.key]] == 0)
            for w in cp.prunable_weights(self.model)
        )
        self.checks.append(ok)


def test_pruning_callback_ramps_and_keeps_pruned_weights_at_zero(data):
    x, y = data
    m = tiny_cnn(2)
    m.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        steps_per_execution=4,
    )
    pruner = cp.PruningCallback(0.75, end_step=24, frequency=4, scope="layer")
    watcher = ZeroWatcher(pruner)
    m.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[pruner, watcher])  # 48 steps
    steps = [s for s, _ in pruner.history]
    targets = [t for _, t in pruner.history]
    assert steps[0] == 0 and targets[-1] == 0.75
    assert all(b > a for a, b in zip(targets, targets[1:], strict=False))
    # between mask updates the optimizer moved every weight 4 times; the masks held
    assert len(watcher.checks) == 12 and all(watcher.checks)
    report = cp.measure_sparsity(m)
    for row, w in zip(report.rows, cp.prunable_weights(m), strict=True):
        assert row.zeros == round(0.75 * w.size)
    assert all(w.variable.constraint is None for w in cp.prunable_weights(m))
    # the masks are gone after training: a further fit lets pruned weights move again
    m.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert cp.measure_sparsity(m).kernel_sparsity < 0.5


def test_pruning_callback_warns_when_training_ends_early(data):
    x, y = data
    m = tiny_cnn(3)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.warns(UserWarning, match="end_step=1000"):
        m.fit(
            x,
            y,
            batch_size=32,
            epochs=1,
            verbose=0,
            callbacks=[cp.PruningCallback(0.9, end_step=1000, frequency=1)],
        )


def test_pruning_callback_errors(data):
    x, y = data
    with pytest.raises(ValueError, match="final_sparsity"):
        cp.PruningCallback(1.2, end_step=10)
    with pytest.raises(ValueError, match="scope"):
        cp.PruningCallback(0.5, end_step=10, scope="rows")
    m = tiny_cnn(4)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="no prunable"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[cp.PruningCallback(0.5, 10, layers=[])])


# --------------------------------------------------------------------------- accuracy and sweeps


def test_evaluate_accuracy_by_hand():
    identity = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, use_bias=False)])
    identity.layers[0].kernel.assign(np.eye(3, dtype="float32"))
    x = np.eye(3, dtype="float32")[[0, 1, 2, 2, 1]]
    assert cp.evaluate_accuracy(identity, x, [0, 1, 2, 0, 0], batch_size=2) == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="labels"):
        cp.evaluate_accuracy(identity, x, [0, 1])


def test_one_shot_sweep_ends_at_a_constant_classifier(model, data):
    x, y = data
    before = [w.copy() for w in model.get_weights()]
    points = cp.one_shot_sweep(model, x, y, [0.0, 1.0], batch_size=40)
    assert points[0].accuracy == pytest.approx(cp.evaluate_accuracy(model, x, y))
    # all kernels zero: every input gets the same output, softmax(bias of 'out')
    constant = int(np.argmax(np.asarray(model.get_layer("out").bias)))
    assert points[1].accuracy == pytest.approx(np.mean(y == constant))
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_layer_sensitivity_prunes_one_layer_at_a_time(model, data):
    x, y = data
    result = cp.layer_sensitivity(model, x, y, [0.0, 1.0])
    assert list(result) == ["c1", "c2", "f1", "out"]
    dense = cp.evaluate_accuracy(model, x, y)
    for name, points in result.items():
        assert points[0].accuracy == pytest.approx(dense)
        pruned, _ = cp.prune_one_shot(model, {name: 1.0})
        assert points[1].accuracy == pytest.approx(cp.evaluate_accuracy(pruned, x, y))
    with pytest.raises(ValueError, match="empty"):
        cp.layer_sensitivity(model, x, y, [])


# --------------------------------------------------------------------------- structured pruning


def _zero_consumers(m, removed):
    """Zero what reads the removed channels (next layer's kernel rows), so m computes what the
    structurally pruned model computes."""
    chain = list(m.layers)
    for i, layer in enumerate(chain):
        if layer.name not in removed:
            continue
        gone = removed[layer.name]
        for nxt in chain[i + 1 :]:
            if isinstance(nxt, keras.layers.Flatten):
                n_ch = nxt.input.shape[-1]
                positions = int(np.prod(nxt.input.shape[1:-1]))
                gone = (np.arange(positions)[:, None] * n_ch + np.asarray(gone)[None, :]).ravel()
            if isinstance(nxt, keras.layers.Conv2D | keras.layers.Dense):
                k = np.asarray(nxt.kernel).copy()
                k[..., gone, :] = 0
                nxt.kernel.assign(k)
                break


@pytest.mark.parametrize("bn", [False, True])
def test_prune_filters_computes_what_the_masked_original_computes(data, bn):
    x, _ = data
    m = tiny_cnn(5, bn=bn)
    if bn:  # non-trivial BatchNorm statistics
        layer = m.get_layer("bn")
        rng = np.random.default_rng(1)
        layer.set_weights(
            [rng.uniform(0.5, 2, 4), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.5, 2, 4)]
        )
    small = cp.prune_filters(m, keep={"c1": 2, "c2": 4, "f1": 3})
    assert [small.get_layer(n).kernel.shape[-1] for n in ("c1", "c2", "f1", "out")] == [2, 4, 3, 3]
    removed = {}
    for name, n in (("c1", 2), ("c2", 4), ("f1", 3)):
        norms = cp.filter_l1_norms(m.get_layer(name))
        kept = set(np.argsort(-norms, kind="stable")[:n])
        assert min(norms[list(kept)]) >= max(np.delete(norms, list(kept)))
        removed[name] = sorted(set(range(len(norms))) - kept)
    reference = cp.clone_with_weights(m)
    _zero_consumers(reference, removed)
    np.testing.assert_allclose(
        small.predict(x, verbose=0), reference.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    assert profile(small).macs < profile(m).macs
    assert small.count_params() < m.count_params()


def test_prune_filters_fraction_keeps_the_output_width(model):
    small = cp.prune_filters(model, keep=0.5)
    assert [la.kernel.shape[-1] for la in small.layers if hasattr(la, "kernel")] == [2, 3, 2, 3]
    assert small.output_shape == model.output_shape


def test_prune_filters_errors(model):
    with pytest.raises(ValueError, match="output layer 'out'"):
        cp.prune_filters(model, keep={"out": 2})
    with pytest.raises(ValueError, match="more than"):
        cp.prune_filters(model, keep={"c1": 9})
    with pytest.raises(ValueError, match="keep=0"):
        cp.prune_filters(model, keep=0.0)
    dw = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.DepthwiseConv2D(3, name="dw"),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    with pytest.raises(ValueError, match="'DepthwiseConv2D'.*'dw'"):
        cp.prune_filters(dw, keep=0.5)
    inp = keras.Input((4,))
    h = keras.layers.Dense(4, name="a")(inp)
    res = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Add()([h, inp])))
    with pytest.raises(ValueError, match="chain"):
        cp.prune_filters(res, keep=0.5)


def test_narrow_changes_widths_only(model):
    thin = cp.narrow(model, {"c1": 1, "f1": 2})
    assert [la.kernel.shape[-1] for la in thin.layers if hasattr(la, "kernel")] == [1, 6, 2, 3]
    assert thin.get_layer("c1").get_config()["activation"] == "relu"
    assert thin.input_shape == model.input_shape
    with pytest.raises(ValueError, match="pool"):
        cp.narrow(model, {"pool": 1})


# --------------------------------------------------------------------------- size


def test_saved_model_bytes_has_no_optimizer_state(model):
    trained = cp.clone_with_weights(model)
    trained.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    trained.optimizer.build(trained.trainable_variables)  # Adam's two moments per weight
    archive = zipfile.ZipFile(io.BytesIO(cp.saved_model_bytes(trained)))
    assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}
    with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as h5:
        assert "optimizer" not in h5 or not list(h5["optimizer"].get("vars", {}))


def test_gzip_size_shrinks_with_zeros(model, tmp_path):
    dense = cp.gzip_size_bytes(model)
    pruned, _ = cp.prune_one_shot(model, 0.95, scope="global")
    assert cp.gzip_size_bytes(pruned) < dense
    blob = bytes(10_000)
    assert cp.gzip_size_bytes(blob) == len(gzip.compress(blob, compresslevel=9, mtime=0))
    path = tmp_path / "x.bin"
    path.write_bytes(blob)
    assert cp.gzip_size_bytes(path) == cp.gzip_size_bytes(blob)
    with pytest.raises(FileNotFoundError):
        cp.gzip_size_bytes(tmp_path / "missing.tflite")
    with pytest.raises(TypeError, match="keras.Model, bytes or a file path"):
        cp.gzip_size_bytes(3.0)
    with pytest.raises(ValueError, match="level"):
        cp.gzip_size_bytes(blob, level=10)


def test_big_random_weights_barely_compress_but_zeros_do():
    """The premise of the gzip measure, on a 100k-weight layer."""
    m = keras.Sequential([keras.Input((400,)), keras.layers.Dense(250)], name="wide")
    raw = len(cp.saved_model_bytes(m))
    assert cp.gzip_size_bytes(m) > 0.75 * raw
    pruned, _ = cp.prune_one_shot(m, 0.9)
    assert cp.gzip_size_bytes(pruned) < 0.33 * cp.gzip_size_bytes(m)


# --------------------------------------------------------------------------- distillation


def test_logits_model_is_the_softmax_input(model, data):
    x, _ = data
    logits = cp.logits_model(model)
    z = logits.predict(x, verbose=0)
    np.testing.assert_allclose(
        keras.ops.softmax(z).numpy(), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    assert model.layers[-1].get_config()["activation"] == "softmax"
    with pytest.raises(ValueError, match="softmax"):
        cp.logits_model(logits)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_student_trainer_distillation_loss_by_hand(model, data):
    x, y = data
    teacher = cp.logits_model(model)
    student = cp.narrow(teacher, {"c1": 2, "c2": 3, "f1": 4}, name="student")
    t, w = 3.0, 0.25
    trainer = cp.student_trainer(
        student, teacher, temperature=t, student_loss_weight=w, total_steps=10
    )
    assert isinstance(trainer, keras.distillation.Distiller) and trainer.student is student
    zt, zs = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    loss = float(trainer.compute_loss(x=x, y=y, y_pred=zs, training=False))
    ce = -np.mean(np.log(_softmax(zs.astype(np.float64))[np.arange(len(y)), y]))
    p, q = _softmax(zt / t), _softmax(zs / t)
    kl = np.mean(np.sum(p * np.log(p / q), axis=-1))
    assert loss == pytest.approx(w * ce + (1 - w) * t**2 * kl, rel=1e-4)
    before = [v.copy() for v in teacher.get_weights()]
    trainer.fit(x, y, batch_size=32, epochs=1, verbose=0)
    for a, b in zip(before, teacher.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_student_trainer_alone_compiles_the_student(model, data):
    x, y = data
    student = cp.narrow(cp.logits_model(model), {"c1": 2}, name="alone")
    trainer = cp.student_trainer(student, None, total_steps=5)
    assert trainer is student
    history = trainer.fit(x, y, batch_size=32, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0]) and "accuracy" in history
    with pytest.raises(ValueError, match="temperature"):
        cp.student_trainer(student, model, temperature=0)
    with pytest.raises(ValueError, match="learning_rate"):
        cp.student_trainer(student, learning_rate=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cp.student_trainer(student, total_steps=1)
