"""Tests of course_utils.litert: conversion modes, the runner, the file's constant tensors."""

import logging
import sys

import numpy as np
import pytest

from course_utils import litert, numerics, timing  # before Keras: sets TensorFlow's knobs
from course_utils.timing import LatencyStats

# isort: split
import keras


@pytest.fixture(scope="module")
def mlp_and_data():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    rng = np.random.default_rng(5)  # non-zero biases (the converter drops all-zero ones)
    model.set_weights([w + 0.01 * rng.standard_normal(w.shape) for w in model.get_weights()])
    x = rng.uniform(0, 1, (300, 32)).astype(np.float32)
    return model, x


@pytest.fixture(scope="module")
def converted(mlp_and_data):
    model, x = mlp_and_data
    out = {mode: litert.to_tflite(model, mode) for mode in ("float32", "float16", "dynamic_int8")}
    out["full_int8"] = litert.to_tflite(model, "full_int8", representative_data=x[:100])
    return out


def test_to_tflite_sizes_follow_the_bits(converted, mlp_and_data):
    model, _ = mlp_and_data
    params = model.count_params()  # 32*256 + 256 + 256*10 + 10 = 11,018
    anatomy = {mode: litert.tflite_anatomy(b) for mode, b in converted.items()}
    assert anatomy["float32"].constant_bytes["float32"] == 4 * params
    assert anatomy["float16"].constant_bytes["float16"] == 2 * params
    assert anatomy["full_int8"].constant_bytes["int8"] == 32 * 256 + 256 * 10
    assert anatomy["full_int8"].constant_bytes["int32"] == 4 * (256 + 10)  # int32 biases
    for mode, a in anatomy.items():
        assert a.total_bytes == len(converted[mode]) and a.other_bytes > 0
    # per channel: a float32 scale and an int64 zero point for each of the 266 output channels
    assert anatomy["full_int8"].quant_param_bytes >= 12 * 266
    # dynamic range: tensors of >= 1,024 elements int8, the 10x256 kernel (2,560) too; biases float
    assert anatomy["dynamic_int8"].constant_bytes == {"int8": 32 * 256 + 256 * 10, "float32": 4 * 266}


def test_dynamic_range_leaves_tensors_under_1024_elements_in_float():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(40), keras.layers.Dense(8)])
    kernels = {t.shape: t.dtype for t in litert.tflite_anatomy(litert.to_tflite(model, "dynamic_int8")).constants
               if len(t.shape) == 2}
    assert kernels == {(40, 30): "int8", (8, 40): "float32"}  # 1,200 and 320 elements


def test_constants_hold_the_codes_and_scales_of_numerics(mlp_and_data, converted):
    model, _ = mlp_and_data
    kernel = np.asarray(model.layers[0].kernel)  # (32, 256), stored by LiteRT as (256, 32)
    stored = next(t for t in litert.tflite_anatomy(converted["full_int8"]).constants
                  if t.shape == (256, 32))
    p = numerics.choose_params(kernel.T, bits=8, symmetric=True, axis=0)
    assert stored.dtype == "int8" and stored.axis == 0 and stored.nbytes == 256 * 32
    np.testing.assert_allclose(stored.scale, p.scale, rtol=1e-6)
    np.testing.assert_array_equal(stored.zero_point, 0)
    np.testing.assert_array_equal(stored.values(), numerics.quantize(kernel.T, p))


def test_qat_mode_stores_4_bit_weights_two_per_byte():
    import tensorflow as tf

    kernel = np.random.default_rng(6).standard_normal((20, 6)).astype(np.float32)
    limit = float(np.abs(kernel).max())

    class FakeQuantDense(keras.layers.Layer):
        def call(self, x):
            x = tf.quantization.fake_quant_with_min_max_args(x, 0.0, 4.0, num_bits=8)
            k = tf.quantization.fake_quant_with_min_max_vars(
                tf.constant(kernel), -limit, limit, num_bits=4, narrow_range=True)
            return tf.quantization.fake_quant_with_min_max_args(tf.matmul(x, k), -20.0, 20.0)

    inputs = keras.Input((20,))
    model = keras.Model(inputs, FakeQuantDense()(inputs))
    content = litert.to_tflite(model, "qat")
    stored = next(t for t in litert.tflite_anatomy(content).constants if t.dtype == "int4")
    assert stored.shape == (6, 20) and stored.nbytes == 6 * 20 // 2
    p = numerics.choose_params(kernel.T, bits=4, symmetric=True)
    np.testing.assert_array_equal(stored.values(), numerics.quantize(kernel.T, p))
    x = np.random.default_rng(7).uniform(0, 1, (5, 20)).astype(np.float32)
    np.testing.assert_allclose(litert.LiteRTModel(content).predict(x), model.predict(x, verbose=0),
                               atol=40 / 255 + 1e-6)  # one step of the int8 output


def test_litert_model_reproduces_keras(converted, mlp_and_data):
    model, x = mlp_and_data
    expected = model.predict(x, verbose=0)
    f32 = litert.LiteRTModel(converted["float32"])
    assert f32.input_dtype == np.float32 and f32.input_shape == (32,)
    np.testing.assert_allclose(f32.predict(x, batch_size=128), expected, atol=1e-5)
    int8 = litert.LiteRTModel(converted["full_int8"])
    assert int8.input_dtype == np.int8 and int8.output_dtype == np.int8
    p = numerics.choose_params(x[:100], bits=8)  # calibrated on the representative data
    assert int8.input_quantization == pytest.approx((float(p.scale), int(p.zero_point)))
    assert f32.input_quantization == (0.0, 0)
    out = int8.predict(x)
    assert out.dtype == np.float32 and out.shape == expected.shape
    assert np.max(np.abs(out - expected)) < 0.05  # int8 output step is 1/256
    labels = np.argmax(expected, axis=1)
    assert int8.accuracy(x, labels) > 0.9
    assert litert.LiteRTModel(converted["dynamic_int8"]).accuracy(x, labels) > 0.9


def test_call_is_a_batch_1_call_for_compare_latency(converted):
    models = {name: litert.LiteRTModel(converted[name]) for name in ("float32", "full_int8")}
    assert models["full_int8"].call()().shape == (1, 10)
    stats = timing.compare_latency({n: m.call() for n, m in models.items()}, rounds=3, repeats=4, warmup=1)
    assert set(stats) == {"float32", "full_int8"}
    assert all(isinstance(s, LatencyStats) and s.n == 12 for s in stats.values())


def test_execution_plan_names_the_ops_xnnpack_leaves_to_litert(converted, mlp_and_data):
    plans = {mode: litert.LiteRTModel(converted[mode]).execution_plan() for mode in ("float32", "full_int8")}
    assert plans["float32"] == [("XNNPACK", ("FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX"))]
    # XNNPACK has no int8 softmax: it runs in LiteRT's built-in kernel, after the partition
    assert plans["full_int8"] == [("XNNPACK", ("FULLY_CONNECTED", "FULLY_CONNECTED")), ("built-in", ("SOFTMAX",))]
    keras.utils.set_random_seed(2)  # a pool in the middle splits the int8 graph in two partitions
    cnn = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3), keras.layers.AveragePooling2D(2),
                            keras.layers.Conv2D(4, 3)])
    x = np.random.default_rng(8).uniform(0, 1, (20, 8, 8, 1)).astype(np.float32)
    plan = litert.LiteRTModel(litert.to_tflite(cnn, "full_int8", x)).execution_plan()
    assert plan == [("XNNPACK", ("CONV_2D",)), ("built-in", ("AVERAGE_POOL_2D",)), ("XNNPACK", ("CONV_2D",))]
    assert litert.LiteRTModel(litert.to_tflite(cnn)).execution_plan() == [
        ("XNNPACK", ("CONV_2D", "AVERAGE_POOL_2D", "CONV_2D"))]


def test_litert_model_reads_a_file(converted, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(converted["float16"])
    assert litert.LiteRTModel(path).size_bytes == len(converted["float16"])


def test_litert_model_rejects_bad_input(converted):
    with pytest.raises(TypeError, match="bytes"):
        litert.LiteRTModel(123)
    with pytest.raises(ValueError, match="TFL3"):
        litert.LiteRTModel(b"not a model at all")
    lite = litert.LiteRTModel(converted["float32"])
    with pytest.raises(ValueError, match="shape"):
        lite.predict(np.zeros((2, 31), np.float32))
    with pytest.raises(ValueError, match="labels"):
        lite.accuracy(np.zeros((2, 32), np.float32), [0])
    with pytest.raises(ValueError, match="TFL3"):
        litert.tflite_anatomy(b"0123456789")


def test_to_tflite_rejects_bad_arguments(mlp_and_data):
    model, x = mlp_and_data
    with pytest.raises(ValueError, match="mode"):
        litert.to_tflite(model, "int4")
    with pytest.raises(ValueError, match="representative_data"):
        litert.to_tflite(model, "full_int8")
    with pytest.raises(ValueError, match="shape"):
        litert.to_tflite(model, "full_int8", representative_data=np.zeros((4, 31)))
    with pytest.raises(ValueError, match="representative_data"):
        litert.to_tflite(model, "float16", representative_data=x)


def test_interpreter_falls_back_to_tf_lite(monkeypatch):
    import tensorflow as tf

    assert litert.interpreter_class().__module__.startswith("ai_edge_litert")
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # import fails
    assert litert.interpreter_class() is tf.lite.Interpreter


def test_conversion_is_quiet(mlp_and_data, capsys, caplog):
    model, _ = mlp_and_data
    tf_logger = logging.getLogger("tensorflow")
    old = tf_logger.level
    tf_logger.setLevel(logging.INFO)  # as in a notebook kernel, where the INFO lines showed
    try:
        with caplog.at_level(logging.INFO, logger="tensorflow"):
            litert.to_tflite(model, "float32")
        assert tf_logger.level == logging.INFO  # restored
    finally:
        tf_logger.setLevel(old)
    assert not [r for r in caplog.records if "Assets written" in r.getMessage()]
    out = capsys.readouterr()
    assert "Saved artifact" not in out.out and "Assets written" not in out.err
