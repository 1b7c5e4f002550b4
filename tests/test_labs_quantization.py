"""Tests of course_utils.labs.quantization: formats, affine quantization, Keras PTQ/QAT, LiteRT, energy."""

import math
import sys

import numpy as np
import pytest

from course_utils import costs, litert, numerics, timing
from course_utils.labs import quantization as q  # before Keras: sets TensorFlow's environment knobs
from course_utils.timing import LatencyStats

# isort: split
import keras
import ml_dtypes

# --------------------------------------------------------------------------- number formats


@pytest.mark.parametrize(("name", "dtype"), [("fp32", np.float32), ("fp16", np.float16)])
def test_float_formats_match_numpy_finfo(name, dtype):
    f, info = numerics.FORMATS[name], np.finfo(dtype)
    assert f.max_value == float(info.max)
    assert f.min_normal == float(info.smallest_normal)
    assert f.min_positive == float(info.smallest_subnormal)
    assert f.epsilon == float(info.eps)
    assert f.bits == info.bits


def test_bf16_matches_ml_dtypes():
    f, info = numerics.FORMATS["bf16"], ml_dtypes.finfo(ml_dtypes.bfloat16)
    assert f.max_value == float(info.max)
    assert f.min_normal == float(info.smallest_normal)
    assert f.epsilon == float(info.eps)
    # bf16 keeps fp32's exponent, so its range; fp16 has 3 more mantissa bits
    assert f.min_normal == numerics.FORMATS["fp32"].min_normal
    assert numerics.FORMATS["fp16"].epsilon == f.epsilon / 8


def test_integer_and_binary_formats():
    int8, int4, binary = numerics.FORMATS["int8"], numerics.FORMATS["int4"], numerics.FORMATS["binary"]
    assert (int8.min_value, int8.max_value, int8.levels) == (-128, 127, 256)
    assert (int4.min_value, int4.max_value, int4.levels) == (-8, 7, 16)
    assert (binary.min_value, binary.max_value, binary.levels) == (-1, 1, 2)
    # int8 has as many significant bits as bf16 (7 stored + 1 implicit): same digits
    assert int8.decimal_digits == pytest.approx(numerics.FORMATS["bf16"].decimal_digits)


def test_format_layout_is_validated():
    with pytest.raises(ValueError, match="mantissa"):
        numerics.NumberFormat("bad", 16, "float", 5, 9)
    with pytest.raises(ValueError, match="kind"):
        numerics.NumberFormat("bad", 8, "fixed")


def test_formats_table_lists_every_format():
    table = numerics.formats_table()
    for name in numerics.FORMATS:
        assert name in table
    assert "6.55e+04" in table  # fp16's largest value, 65504
    with pytest.raises(ValueError, match="unknown number format"):
        numerics.formats_table(["fp8"])


@pytest.mark.parametrize(("name", "dtype"), [("fp32", np.float32), ("fp16", np.float16)])
def test_spacing_matches_numpy(name, dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(500) * 10.0 ** rng.integers(-6, 4, 500)).astype(dtype)
    x = x[np.isfinite(x) & (np.abs(x) < np.finfo(dtype).max / 2)]
    np.testing.assert_array_equal(numerics.spacing(name, x), np.spacing(np.abs(x)).astype(np.float64))


def test_spacing_bf16_is_the_next_bit_pattern():
    x = np.array([1.0, 3.0, 1000.0, 1e-20, 2.5e30], dtype=ml_dtypes.bfloat16)
    nxt = (x.view(np.uint16) + 1).view(ml_dtypes.bfloat16)
    expected = nxt.astype(np.float64) - x.astype(np.float64)
    np.testing.assert_array_equal(numerics.spacing("bf16", x.astype(np.float64)), expected)


def test_spacing_of_integers_is_constant_and_nan_beyond_range():
    gaps = numerics.spacing("int8", [0.0, 1.0, 100.0, 200.0])
    np.testing.assert_array_equal(gaps[:3], [1.0, 1.0, 1.0])
    assert math.isnan(gaps[3])
    assert math.isnan(numerics.spacing("fp16", [70000.0])[0])


def test_cast_to_format():
    x = np.array([0.1, 1.0 / 3, 70000.0], dtype=np.float32)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(
            numerics.cast_to_format(x, "fp16"), x.astype(np.float16).astype(np.float32)
        )
    bf = numerics.cast_to_format(x, "bf16")
    assert abs(bf[1] - x[1]) / x[1] <= numerics.FORMATS["bf16"].epsilon / 2
    assert np.isinf(numerics.cast_to_format(x, "fp16")[2]) and np.isfinite(bf[2])
    with pytest.raises(ValueError, match="fake_quantize"):
        numerics.cast_to_format(x, "int8")


# --------------------------------------------------------------------------- affine quantization


def test_int_range():
    assert numerics.int_range(8) == (-128, 127)
    assert numerics.int_range(8, narrow=True) == (-127, 127)
    assert numerics.int_range(8, signed=False) == (0, 255)
    assert numerics.int_range(2, narrow=True) == (-1, 1)  # ternary
    with pytest.raises(ValueError, match="levels"):
        numerics.int_range(1, narrow=True)
    with pytest.raises(TypeError, match="bits"):
        numerics.int_range(8.0)


def test_asymmetric_params_by_hand():
    x = np.array([-1.0, -0.5, 0.0, 0.3, 2.0])
    p = numerics.choose_params(x, bits=8)
    # S = (2 - (-1)) / 255, Z = round(-128 + 1 / S) = round(-43) = -43
    assert float(p.scale) == pytest.approx(3 / 255)
    assert int(p.zero_point) == -43 and not p.symmetric
    codes = numerics.quantize(x, p)
    assert codes.dtype == np.int8
    np.testing.assert_array_equal(codes, [-128, -86, -43, -17, 127])
    back = numerics.dequantize(codes, p)
    assert back[2] == 0.0  # the real zero is exact
    assert np.max(np.abs(back - x)) <= float(p.scale) / 2 + 1e-6  # float32 output


def test_symmetric_params_by_hand():
    x = np.array([-0.5, 0.25, 1.27])
    p = numerics.choose_params(x, bits=8, symmetric=True)
    assert p.symmetric and (p.qmin, p.qmax) == (-127, 127)
    assert float(p.scale) == pytest.approx(0.01)
    np.testing.assert_array_equal(numerics.quantize(x, p), [-50, 25, 127])


def test_range_is_stretched_to_contain_zero():
    p = numerics.choose_params(np.array([2.0, 3.0, 4.0]), bits=8)
    assert int(p.zero_point) == -128  # r_min is taken as 0
    assert numerics.dequantize(numerics.quantize(np.zeros(1), p), p)[0] == 0.0


def test_rounding_ties_go_away_from_zero_like_litert():
    p = numerics.choose_params(np.array([-4.0, 4.0]), bits=4, symmetric=True)  # S = 4/7
    s = float(p.scale)
    np.testing.assert_array_equal(numerics.quantize(np.array([0.5 * s, -0.5 * s, 2.5 * s]), p), [1, -1, 3])


def test_per_channel_params_and_error():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 3, 8, 16)) * np.logspace(-3, 0, 16)  # ranges differ 1000x
    per_tensor = numerics.quantization_error(w, bits=8)
    per_channel = numerics.quantization_error(w, bits=8, axis=-1)
    p = numerics.choose_params(w, bits=8, symmetric=True, axis=-1)
    assert p.channels == 16 and p.axis == 3
    assert per_channel.per_channel and not per_tensor.per_channel
    assert per_channel.rmse < per_tensor.rmse / 2  # the tensor-wide error: the big channels
    # channel by channel: per-channel scales keep every channel near 8-bit quality, one
    # scale for all leaves the smallest channels with a few levels
    by_channel = numerics.channel_sqnr_db(w, numerics.fake_quantize(w, 8, axis=-1))
    by_tensor = numerics.channel_sqnr_db(w, numerics.fake_quantize(w, 8))
    assert by_channel.shape == (16,) and by_channel.min() > 35
    assert by_tensor[0] <= 0 < by_channel[0] - 40  # smallest channel: all rounded to 0 (0 dB)
    assert by_tensor[-1] == pytest.approx(by_channel[-1], abs=1.0)  # the largest: the same


def test_all_zero_channel_does_not_divide_by_zero():
    w = np.zeros((4, 3))
    w[:, 1] = [1.0, -2.0, 0.5, 0.0]
    out = numerics.fake_quantize(w, bits=8, axis=-1)
    assert np.all(np.isfinite(out)) and np.all(out[:, 0] == 0)


def test_error_falls_about_6_db_per_bit():
    x = np.random.default_rng(2).uniform(-1, 1, 100_000)
    errs = [numerics.quantization_error(x, bits=b) for b in range(4, 11)]
    assert all(a.rmse > b.rmse for a, b in zip(errs, errs[1:], strict=False))
    slope = np.polyfit(range(4, 11), [e.sqnr_db for e in errs], 1)[0]
    assert 5.8 < slope < 6.3
    # uniform noise: rmse = S / sqrt(12)
    assert errs[-1].rmse == pytest.approx(errs[-1].mean_scale / math.sqrt(12), rel=0.02)


def test_quantize_picks_the_smallest_integer_type():
    x = np.linspace(-1, 1, 11)
    assert numerics.quantize(x, numerics.choose_params(x, bits=4)).dtype == np.int8
    assert numerics.quantize(x, numerics.choose_params(x, bits=12)).dtype == np.int16
    assert numerics.quantize(x, numerics.choose_params(x, bits=8, signed=False)).dtype == np.uint8


def test_choose_params_rejects_bad_input():
    with pytest.raises(ValueError, match="finite"):
        numerics.choose_params(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="axis"):
        numerics.choose_params(np.ones((2, 2)), axis=2)
    with pytest.raises(ValueError, match="signed"):
        numerics.choose_params(np.ones(3), symmetric=True, signed=False)


def test_sqnr_db():
    assert numerics.sqnr_db([1.0, 2.0], [1.0, 2.0]) == math.inf
    assert numerics.sqnr_db([3.0, 4.0], [3.0, 3.0]) == pytest.approx(10 * math.log10(25 / 1))


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


# --------------------------------------------------------------------------- LiteRT


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
    out["full_int8_per_tensor"] = litert.to_tflite(
        model, "full_int8", representative_data=x[:100], per_channel=False
    )
    return out


def test_to_tflite_sizes_follow_the_bits(converted, mlp_and_data):
    model, _ = mlp_and_data
    params = model.count_params()  # 32*256 + 256 + 256*10 + 10 = 11,018
    anatomy = {mode: litert.tflite_anatomy(b) for mode, b in converted.items()}
    assert anatomy["float32"].constant_bytes["float32"] == 4 * params
    assert anatomy["float16"].constant_bytes["float16"] == 2 * params
    assert anatomy["full_int8"].constant_bytes["int8"] == 32 * 256 + 256 * 10
    assert anatomy["full_int8"].constant_bytes["int32"] == 4 * (256 + 10)  # int32 biases
    assert anatomy["full_int8"].ops == {"FULLY_CONNECTED": 2, "SOFTMAX": 1}
    for mode, a in anatomy.items():
        assert a.total_bytes == len(converted[mode]) and a.other_bytes > 0
    sizes = {mode: len(b) for mode, b in converted.items()}
    assert sizes["float16"] < 0.55 * sizes["float32"]
    assert sizes["dynamic_int8"] < 0.4 * sizes["float32"]
    # dynamic range: int8 weights, float32 biases
    assert anatomy["dynamic_int8"].constant_bytes == {
        "int8": 32 * 256 + 256 * 10,
        "float32": 4 * 266,
    }
    # per-channel: a scale (4 B) and zero point (8 B) per output channel, per tensor
    assert (
        anatomy["full_int8"].quant_param_bytes > anatomy["full_int8_per_tensor"].quant_param_bytes
    )
    assert sizes["full_int8_per_tensor"] < sizes["full_int8"]


def test_litert_model_reproduces_keras(converted, mlp_and_data):
    model, x = mlp_and_data
    expected = model.predict(x, verbose=0)
    f32 = litert.LiteRTModel(converted["float32"])
    assert f32.input_dtype == np.float32 and f32.input_shape == (32,)
    np.testing.assert_allclose(f32.predict(x, batch_size=128), expected, atol=1e-5)
    int8 = litert.LiteRTModel(converted["full_int8"])
    assert int8.input_dtype == np.int8 and int8.output_dtype == np.int8
    out = int8.predict(x)
    assert out.dtype == np.float32 and out.shape == expected.shape
    assert np.max(np.abs(out - expected)) < 0.05  # int8 output step is 1/256
    labels = np.argmax(expected, axis=1)
    assert int8.accuracy(x, labels) > 0.9
    assert litert.LiteRTModel(converted["dynamic_int8"]).accuracy(x, labels) > 0.9


def test_litert_latency(converted):
    lite = litert.LiteRTModel(converted["full_int8"])
    stats = lite.latency(warmup=2, repeats=7)
    assert isinstance(stats, LatencyStats) and stats.n == 7 and stats.median > 0
    assert "bytes" in repr(lite)


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
    with pytest.raises(ValueError, match="only used by"):
        litert.to_tflite(model, "float16", representative_data=x)


def test_interpreter_falls_back_to_tf_lite(monkeypatch):
    import tensorflow as tf

    assert litert.interpreter_class().__module__.startswith("ai_edge_litert")
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # import fails
    assert litert.interpreter_class() is tf.lite.Interpreter


# --------------------------------------------------------------------------- energy


def test_energy_table_is_horowitz_2014():
    # Horowitz ISSCC 2014 (45 nm), as Dally quotes it (seed 004 'Reducing Precision
    # Inherently Saves Power'); the 32-bit reads are half of Horowitz's 64-bit figures
    expected = {
        ("add", "int", 8): 0.03,
        ("add", "int", 32): 0.1,
        ("add", "float", 16): 0.4,
        ("add", "float", 32): 0.9,
        ("mult", "int", 8): 0.2,
        ("mult", "int", 32): 3.1,
        ("mult", "float", 16): 1.1,
        ("mult", "float", 32): 3.7,
        ("read", "SRAM 8 KB", 32): 5.0,
        ("read", "DRAM", 32): 640.0,
    }
    for key, pj in expected.items():
        assert costs.op_energy_pj(*key) == pj
    assert "8-bit int add" in [row.label for row in costs.ENERGY_45NM]
    with pytest.raises(ValueError, match="no energy"):
        costs.op_energy_pj("mult", "int", 4)


def test_mac_energy():
    assert costs.mac_energy_pj("fp32") == pytest.approx(4.6)
    assert costs.mac_energy_pj("int8") == pytest.approx(0.3)
    assert costs.mac_energy_pj("fp32") / costs.mac_energy_pj("int8") == pytest.approx(15.33, rel=1e-3)
    with pytest.raises(ValueError, match="fmt"):
        costs.mac_energy_pj("int4")


def test_inference_energy_by_hand():
    e = costs.inference_energy(macs=1000, weights=100, fmt="fp32")
    assert e.compute_joules == pytest.approx(1000 * 4.6e-12)
    assert e.weight_read_joules == pytest.approx(100 * 640e-12)
    assert e.joules == pytest.approx(e.compute_joules + e.weight_read_joules)
    e8 = costs.inference_energy(macs=1000, weights=100, fmt="int8", memory="SRAM 8 KB", batch_size=2)
    assert e8.weight_read_joules == pytest.approx(100 * 5e-12 / 4 / 2)
    assert 0 < e8.memory_share < 1
    with pytest.raises(ValueError, match="fmt"):
        costs.inference_energy(1, 1, fmt="bf16")
    with pytest.raises(ValueError, match="no energy"):
        costs.inference_energy(1, 1, memory="HBM")


def test_compare_latency_interleaves_models(converted):
    models = {name: litert.LiteRTModel(converted[name]) for name in ("float32", "full_int8")}
    stats = timing.compare_latency(
        {name: m.call() for name, m in models.items()}, rounds=3, repeats=4, warmup=1
    )
    assert set(stats) == {"float32", "full_int8"}
    assert all(isinstance(s, LatencyStats) and s.n == 12 for s in stats.values())
    with pytest.raises(ValueError, match="empty"):
        timing.compare_latency({})
    with pytest.raises(TypeError, match="callable"):
        timing.compare_latency({"raw": converted["float32"]})


def test_conversion_is_quiet(mlp_and_data, capsys, caplog):
    import logging

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
