"""Tests of course_utils.labs.quantization: weight quantization and QAT of Keras models, exercise 1."""

import numpy as np
import pytest

from course_utils import numerics
from course_utils.labs import quantization as q  # before Keras: sets TensorFlow's environment knobs

# isort: split
import keras

# --------------------------------------------------------------------------- Keras PTQ and QAT


def _small_cnn(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


def test_quantize_weights_rounds_kernels_only_and_keeps_the_original():
    model = _small_cnn()
    before = [w.copy() for w in model.get_weights()]
    quant = q.quantize_weights(model, bits=3)
    for w, w0 in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, w0)  # original untouched
    for layer in quant.layers:
        if hasattr(layer, "kernel"):
            k = np.asarray(layer.kernel).reshape(-1, layer.kernel.shape[-1])
            for channel in k.T:  # 3 bits, symmetric: at most 7 levels (-3..3) x S per channel
                assert len(np.unique(channel)) <= 7
            np.testing.assert_array_equal(np.asarray(layer.bias), 0.0)  # biases kept (zeros)


def test_quantize_weights_warns_about_layers_it_leaves_in_float():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(4), keras.layers.BatchNormalization()]
    )
    with pytest.warns(UserWarning, match="BatchNormalization"):
        q.quantize_weights(model, bits=8)


def test_fake_quant_ste_matches_numpy_and_passes_gradients_straight_through():
    import tensorflow as tf

    w = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)
    for bits in (2, 4, 8):
        np.testing.assert_allclose(
            np.asarray(q.fake_quant_ste(tf.constant(w), bits)),
            numerics.fake_quantize(w, bits, symmetric=True, axis=-1),
            rtol=1e-6,
        )
    v = tf.Variable(w)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(q.fake_quant_ste(v, 2) * 3.0)
    np.testing.assert_allclose(tape.gradient(loss, v).numpy(), 3.0)
    with pytest.raises(ValueError, match="bits >= 2"):
        q.fake_quant_ste(tf.constant(w), 1)


def test_qat_model_trains_and_strips_to_the_same_function():
    model = _small_cnn()
    qat = q.qat_model(model, bits=2)
    kinds = [type(layer).__name__ for layer in qat.layers]
    assert kinds == ["FakeQuantConv2D", "Flatten", "FakeQuantDense", "FakeQuantDense"]
    x = np.random.default_rng(4).uniform(0, 1, (64, 8, 8, 1)).astype(np.float32)
    y = np.arange(64) % 3
    qat.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    w0 = qat.get_weights()[0].copy()
    qat.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert not np.array_equal(qat.get_weights()[0], w0)  # shadow weights moved
    plain = q.strip_fake_quant(qat)
    assert [type(layer).__name__ for layer in plain.layers] == [
        "Conv2D",
        "Flatten",
        "Dense",
        "Dense",
    ]
    np.testing.assert_allclose(
        plain.predict(x, verbose=0), qat.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    # and the same as quantizing the trained weights after the fact
    direct = q.quantize_weights(plain, bits=2)
    np.testing.assert_allclose(direct.predict(x, verbose=0), plain.predict(x, verbose=0), atol=1e-6)


def test_qat_model_rejects_models_without_kernels():
    model = keras.Sequential([keras.Input((4,)), keras.layers.ReLU()])
    with pytest.raises(ValueError, match="Dense or Conv2D"):
        q.qat_model(model, bits=4)
    with pytest.raises(ValueError, match="qat_model"):
        q.strip_fake_quant(model)


# --------------------------------------------------------------------- exercise 1's references


def test_exercise_1_references_agree_with_the_integer_path():
    rng = np.random.default_rng(9)
    case = q.int8_dense_case(rng.uniform(0, 6, (5, 64)), rng.normal(0, 0.1, (64, 32)))
    q_x, z_x, s_x, q_w, s_w, s_y, z_y = case
    assert q_x.dtype == q_w.dtype == np.int8 and z_x == -128 and s_w.shape == (32,)
    acc = q.int32_accumulate_reference(q_x, z_x, q_w)
    np.testing.assert_array_equal(acc, (q_x.astype(np.int32) - z_x) @ q_w.astype(np.int32))
    integer_path = np.clip(np.round(acc * (s_x * s_w / s_y)) + z_y, -128, 127)
    reference = q.int8_dense_reference(*case)
    assert reference.dtype == np.int8 and np.abs(reference - integer_path).max() <= 1
    # 64 products of 255 x 127 overflow int16: the accumulator needs int32
    big = q.int32_accumulate_reference(np.full((1, 64), 127, np.int8), -128, np.full((64, 1), 127, np.int8))
    assert big.item() == 64 * 255 * 127 > 2**15
