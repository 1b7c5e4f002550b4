"""Tests of course_utils.labs.pruning: masks, the gradual-pruning callback, structured pruning and
the saved model's bytes, on tiny models with hand-checkable weights."""

import gzip
import io
import zipfile

import numpy as np
import pytest

from course_utils.labs import pruning as cp  # before Keras: sets TensorFlow's environment knobs
from course_utils.profiler import profile

# isort: split
import h5py
import keras


def tiny_cnn(seed: int = 0) -> keras.Model:
    """8x8x1 -> Conv 4@3x3 relu -> AvgPool 2 -> Conv 6@2x2 relu -> Flatten -> Dense 5 relu
    -> Dropout -> Dense 3 softmax."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
            keras.layers.AveragePooling2D(2, name="pool"),
            keras.layers.Conv2D(6, 2, activation="relu", name="c2"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(5, activation="relu", name="f1"),
            keras.layers.Dropout(0.1, name="drop"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ],
        name="tiny",
    )


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


def magnitudes(m):
    return {name: np.abs(np.asarray(k)) for name, k in cp.kernels(m).items()}


# --------------------------------------------------------------------------- masks


def test_kernels_are_the_conv_and_dense_kernels_in_order(model):
    assert {n: tuple(k.shape) for n, k in cp.kernels(model).items()} == {
        "c1": (3, 3, 1, 4), "c2": (2, 2, 4, 6), "f1": (24, 5), "out": (5, 3),
    }  # fmt: skip
    with pytest.raises(ValueError, match="no top-level layer with a kernel"):
        cp.kernels(keras.Sequential([keras.Input((3,)), keras.layers.ReLU()]))
    with pytest.raises(TypeError, match="keras.Model"):
        cp.kernels("lenet")


def test_a_3x4_kernel_by_hand():
    """The notebook's worked example: the six smallest |w| of 12 go."""
    w = np.array([[0.9, -0.05, 0.3, -0.6], [0.02, -0.8, 0.1, 0.45], [-0.25, 0.07, -0.7, 0.15]])
    toy = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, use_bias=False, name="toy")])
    toy.get_layer("toy").kernel.assign(w.astype("float32"))
    masks = cp.magnitude_masks(toy, 0.5)
    np.testing.assert_array_equal(masks["toy"], np.abs(w) >= 0.3)
    cp.apply_masks(toy, masks)
    kernel = np.asarray(toy.get_layer("toy").kernel)
    assert np.all(np.signbit(kernel[~masks["toy"]]) == 0), "pruned weights are +0.0, not -0.0"


def test_layer_masks_prune_exactly_the_smallest_of_each_tensor(model):
    masks, values = cp.magnitude_masks(model, 0.5, scope="layer"), magnitudes(model)
    for name, v in values.items():
        keep = masks[name]
        assert keep.shape == v.shape and keep.dtype == bool
        assert int((~keep).sum()) == round(0.5 * v.size)
        assert v[~keep].max() <= v[keep].min()


def test_global_masks_use_one_threshold_for_all_tensors(model):
    masks, values = cp.magnitude_masks(model, 0.7, scope="global"), magnitudes(model)
    pruned = np.concatenate([v[~masks[n]] for n, v in values.items()])
    kept = np.concatenate([v[masks[n]] for n, v in values.items()])
    assert pruned.size == round(0.7 * sum(v.size for v in values.values()))
    assert pruned.max() <= kept.min()
    per_layer = [1 - m.mean() for m in masks.values()]
    assert max(per_layer) - min(per_layer) > 0.05, "global pruning hits layers unevenly"


def test_mask_errors(model):
    with pytest.raises(ValueError, match="fraction"):
        cp.magnitude_masks(model, 1.5)
    with pytest.raises(TypeError):
        cp.magnitude_masks(model, "0.5")
    with pytest.raises(ValueError, match="scope"):
        cp.magnitude_masks(model, 0.5, scope="row")


def test_apply_masks_zeroes_the_pruned_and_keeps_the_rest():
    m = tiny_cnn(1)
    masks = cp.magnitude_masks(m, 0.5, scope="layer")
    before = {n: np.asarray(k).copy() for n, k in cp.kernels(m).items()}
    biases = [w.copy() for w in m.get_weights()[1::2]]
    cp.apply_masks(m, masks)
    for name, kernel in cp.kernels(m).items():
        after = np.asarray(kernel)
        assert np.all(after[~masks[name]] == 0)
        np.testing.assert_array_equal(after[masks[name]], before[name][masks[name]])
    for a, b in zip(biases, m.get_weights()[1::2], strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="shape"):
        cp.apply_masks(m, {"c1": np.ones((2, 2), bool)})
    with pytest.raises(ValueError, match="no kernel"):
        cp.apply_masks(m, {"pool": np.ones((2, 2), bool)})


def test_clone_with_weights_is_an_uncompiled_copy(model):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    copy = cp.clone_with_weights(model)
    assert not copy.compiled and copy is not model
    for a, b in zip(model.get_weights(), copy.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    cp.apply_masks(copy, cp.magnitude_masks(copy, 1.0))
    assert np.abs(np.asarray(model.get_layer("c1").kernel)).min() > 0, "the original is untouched"


def test_evaluate_accuracy_by_hand():
    identity = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, use_bias=False)])
    identity.layers[0].kernel.assign(np.eye(3, dtype="float32"))
    x = np.eye(3, dtype="float32")[[0, 1, 2, 2, 1]]
    assert cp.evaluate_accuracy(identity, x, [0, 1, 2, 0, 0], batch_size=2) == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="labels"):
        cp.evaluate_accuracy(identity, x, [0, 1])


# --------------------------------------------------------------------------- gradual pruning


def test_polynomial_sparsity_matches_zhu_and_gupta():
    # s_t = s_f + (s_i - s_f) (1 - (t - t0) / (t_end - t0))^3
    assert cp.polynomial_sparsity(0, 0.8, 10, 110) == 0.0
    assert cp.polynomial_sparsity(10, 0.8, 10, 110) == 0.0
    assert cp.polynomial_sparsity(60, 0.8, 10, 110) == pytest.approx(0.8 - 0.8 * 0.5**3)
    assert cp.polynomial_sparsity(60, 0.8, 10, 110, 0.2) == pytest.approx(0.8 - 0.6 * 0.125)
    assert cp.polynomial_sparsity(110, 0.8, 10, 110) == cp.polynomial_sparsity(500, 0.8, 10, 110)
    assert cp.polynomial_sparsity(9, 0.8, 10, 10) == 0.0  # begin == end: one-shot at that step
    assert cp.polynomial_sparsity(10, 0.8, 10, 10) == 0.8
    values = [cp.polynomial_sparsity(t, 0.9, 0, 100) for t in range(101)]
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    with pytest.raises(ValueError, match="end_step"):
        cp.polynomial_sparsity(0, 0.5, 10, 9)
    with pytest.raises(ValueError, match="initial_sparsity"):
        cp.polynomial_sparsity(0, 0.5, 0, 10, initial_sparsity=0.6)
    with pytest.raises(TypeError, match="step"):
        cp.polynomial_sparsity(1.5, 0.5, 0, 10)


class ZeroWatcher(keras.callbacks.Callback):
    """Records, after every execution of the train step, whether the pruned weights are zero."""

    def __init__(self, pruner):
        super().__init__()
        self.pruner, self.checks = pruner, []

    def on_train_batch_end(self, batch, logs=None):
        kernels = cp.kernels(self.model)
        masks = self.pruner.masks
        self.checks.append(all(np.all(np.asarray(kernels[n])[~m] == 0) for n, m in masks.items()))


def test_pruning_callback_ramps_and_keeps_pruned_weights_at_zero(data):
    x, y = data
    m = tiny_cnn(2)
    m.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
              steps_per_execution=4)  # fmt: skip
    pruner = cp.PruningCallback(0.75, end_step=24, frequency=4, scope="layer")
    watcher = ZeroWatcher(pruner)
    m.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[pruner, watcher])  # 48 steps
    steps, targets = zip(*pruner.history, strict=True)
    assert steps[0] == 0 and targets[-1] == 0.75 and steps[-1] <= 24
    assert all(b > a for a, b in zip(targets, targets[1:], strict=False))
    # between mask updates the optimizer moved every weight 4 times; the masks held
    assert len(watcher.checks) == 12 and all(watcher.checks)
    for kernel in cp.kernels(m).values():
        assert int(np.sum(np.asarray(kernel) == 0)) == round(0.75 * np.prod(kernel.shape))
        assert kernel.constraint is None
    # the constraints are gone after training: a further fit lets pruned weights move again
    m.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.mean(np.asarray(cp.kernels(m)["f1"]) == 0) < 0.5


def test_pruning_callback_end_step_zero_prunes_at_once_globally(data):
    x, y = data
    m = tiny_cnn(6)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    pruner = cp.PruningCallback(0.6, end_step=0)
    m.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[pruner])
    assert pruner.history == [(0, 0.6)]
    zeros = sum(int(np.sum(np.asarray(k) == 0)) for k in cp.kernels(m).values())
    assert zeros == round(0.6 * sum(v.size for v in magnitudes(m).values()))


def test_pruning_callback_warns_and_refuses(data):
    x, y = data
    m = tiny_cnn(3)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.warns(UserWarning, match="end_step=1000"):
        pruner = cp.PruningCallback(0.9, end_step=1000, frequency=1)
        m.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[pruner])
    with pytest.raises(ValueError, match="final_sparsity"):
        cp.PruningCallback(1.2, end_step=10)
    with pytest.raises(ValueError, match="scope"):
        cp.PruningCallback(0.5, end_step=10, scope="rows")


# --------------------------------------------------------------------------- structured pruning


def test_kept_filters_rank_by_l1_norm():
    kernel = np.zeros((3, 3, 2, 4), "float32")
    kernel[..., 0], kernel[..., 1], kernel[..., 2], kernel[..., 3] = 1.0, -3.0, 0.5, 2.0
    kernel[0, 0, 0, 2] = -40.0  # one large weight makes filter 2's L1 norm the largest
    np.testing.assert_array_equal(cp.kept_filters(kernel, 2), [1, 2])
    np.testing.assert_array_equal(cp.kept_filters(kernel[0, 0], 3), [1, 2, 3])  # a Dense kernel
    with pytest.raises(ValueError, match="more than"):
        cp.kept_filters(kernel, 5)


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


def test_prune_filters_computes_what_the_masked_original_computes(data):
    x, _ = data
    m = tiny_cnn(5)
    small = cp.prune_filters(m, keep={"c1": 2, "c2": 4, "f1": 3})
    assert [small.get_layer(n).kernel.shape[-1] for n in ("c1", "c2", "f1", "out")] == [2, 4, 3, 3]
    removed = {}
    for name, n in (("c1", 2), ("c2", 4), ("f1", 3)):
        kernel = np.asarray(m.get_layer(name).kernel)
        kept = cp.kept_filters(kernel, n)
        norms = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
        assert norms[kept].min() >= np.delete(norms, kept).max()
        removed[name] = sorted(set(range(len(norms))) - set(kept))
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
    assert small.name == "tiny_filters"


def test_prune_filters_errors(model):
    with pytest.raises(ValueError, match="the output keeps its width"):
        cp.prune_filters(model, keep={"out": 2})
    with pytest.raises(ValueError, match="more than"):
        cp.prune_filters(model, keep={"c1": 9})
    with pytest.raises(ValueError, match="keep must be a fraction"):
        cp.prune_filters(model, keep=0.0)
    dw = keras.Sequential(
        [keras.Input((6, 6, 2)), keras.layers.DepthwiseConv2D(3, name="dw"),
         keras.layers.Flatten(), keras.layers.Dense(2)]
    )  # fmt: skip
    with pytest.raises(ValueError, match="'DepthwiseConv2D'.*'dw'"):
        cp.prune_filters(dw, keep=0.5)
    inp = keras.Input((4,))
    res = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Add()([keras.layers.Dense(4)(inp), inp])))
    with pytest.raises(TypeError, match="Sequential"):
        cp.prune_filters(res, keep=0.5)


def test_narrow_changes_widths_only(model):
    thin = cp.narrow(model, {"c1": 1, "f1": 2}, name="thin")
    assert [la.kernel.shape[-1] for la in thin.layers if hasattr(la, "kernel")] == [1, 6, 2, 3]
    assert thin.get_layer("c1").get_config()["activation"] == "relu"
    assert thin.input_shape == model.input_shape and thin.name == "thin"
    with pytest.raises(ValueError, match="pool"):
        cp.narrow(model, {"pool": 1})


# --------------------------------------------------------------------------- bytes


def test_saved_model_bytes_has_no_optimizer_state(model):
    trained = cp.clone_with_weights(model)
    trained.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    trained.optimizer.build(trained.trainable_variables)  # Adam's two moments per weight
    archive = zipfile.ZipFile(io.BytesIO(cp.saved_model_bytes(trained)))
    assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}
    with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as h5:
        assert "optimizer" not in h5 or not list(h5["optimizer"].get("vars", {}))


def test_random_weights_barely_compress_but_zeros_do():
    """The premise of the notebook's gzip measure, on a 100k-weight layer."""
    m = keras.Sequential([keras.Input((400,)), keras.layers.Dense(250)], name="wide")
    dense = cp.saved_model_bytes(m)
    assert len(gzip.compress(dense)) > 0.75 * len(dense)
    cp.apply_masks(m, cp.magnitude_masks(m, 0.9))
    assert len(gzip.compress(cp.saved_model_bytes(m))) < 0.33 * len(gzip.compress(dense))
