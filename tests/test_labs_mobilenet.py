"""Tests for course_utils.labs.mobilenet: separable-conv costs, the MobileNet body table
(seed 003 / Howard et al. 2017, Tables 1-4), V2 blocks, per-layer timing, the MNIST CNNs."""

import math
import warnings

import numpy as np
import pytest

from course_utils import costs, models, timing
from course_utils.labs import mobilenet as ef  # before Keras: sets TensorFlow's environment knobs
from course_utils.profiler import profile

# isort: split
import keras

L = keras.layers


@pytest.fixture(scope="module")
def v1():
    return models.mobilenet_v1()


@pytest.fixture(scope="module")
def v1_rows(v1):
    return ef.mobilenet_v1_body(v1)


# ------------------------------------------------------------ separable convolution
@pytest.mark.parametrize(
    ("fm_dim", "ch", "paper_mmacs", "paper_mparams"),
    [  # Howard et al. 2017, Table 3: D_K 3, M = N = 512, D_F 14 (then alpha 0.75, rho 0.714)
        (14, 512, 52.3, 0.27),
        (14, 384, 29.6, 0.15),
        (10, 384, 15.1, 0.15),
    ],
)
def test_separable_cost_reproduces_paper_table3(fm_dim, ch, paper_mmacs, paper_mparams):
    c = costs.separable_cost(fm_dim, ch, ch, 3)
    assert round(c.separable_macs / 1e6, 1) == paper_mmacs
    assert round(c.separable_params / 1e6, 2) == paper_mparams


def test_separable_cost_standard_row_and_ratio():
    c = costs.separable_cost(14, 512, 512, 3)
    assert c.standard_macs == 14 * 14 * 9 * 512 * 512 == 462_422_016  # Table 3: 462
    assert round(c.standard_params / 1e6, 2) == 2.36
    assert c.depthwise_macs == 14 * 14 * 9 * 512
    assert c.pointwise_macs == 14 * 14 * 512 * 512
    assert math.isclose(c.mac_ratio, costs.separable_cost_ratio(512, 3), rel_tol=1e-12)
    assert math.isclose(c.param_ratio, 1 / 512 + 1 / 9, rel_tol=1e-12)


def test_separable_ratio_is_8_to_9_times_for_mobilenet_widths():
    assert 7.8 < 1 / costs.separable_cost_ratio(64) < 7.9
    assert 8.9 < 1 / costs.separable_cost_ratio(1024) < 9.0
    assert costs.separable_cost_ratio(1, 1) == 2.0


@pytest.mark.parametrize(
    "bad, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError), ("3", TypeError)]
)
def test_separable_cost_rejects_bad_sizes(bad, error):
    with pytest.raises(error, match="in_ch"):
        costs.separable_cost(14, bad, 8)
    with pytest.raises(error, match="out_ch"):
        costs.separable_cost_ratio(bad)


def test_separable_cost_matches_profiler_on_keras_layers():
    fm, m, n = 12, 16, 24
    x = keras.Input((fm, fm, m))
    standard = keras.Model(x, L.Conv2D(n, 3, padding="same", use_bias=False)(x))
    dw = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    split = keras.Model(x, L.Conv2D(n, 1, use_bias=False)(dw))
    fused = keras.Model(x, L.SeparableConv2D(n, 3, padding="same", use_bias=False)(x))
    c = costs.separable_cost(fm, m, n, 3)
    assert profile(standard).macs == c.standard_macs
    assert profile(split).macs == profile(fused).macs == c.separable_macs
    assert profile(split).params == profile(fused).params == c.separable_params


# ------------------------------------------------------------------- body table
def test_body_table_matches_paper_except_the_7x7_stride(v1_rows):
    assert len(v1_rows) == len(ef.PAPER_BODY_TABLE) == 22
    diffs = ef.body_differences(v1_rows)
    assert len(diffs) == 1
    assert "row 18" in diffs[0] and "'Conv dw / s1' in the model" in diffs[0]
    # the paper's row 18 reads s2, yet the next row's input is still 7x7
    assert v1_rows[18].input_size == "7x7x1024"


def test_body_table_totals_are_569m_macs_and_4_2m_params(v1, v1_rows):
    assert sum(r.total_macs for r in v1_rows) == profile(v1).macs == 568_740_352
    # conv and FC weights (kernel and the FC bias), BatchNorm not included
    assert sum(r.total_params for r in v1_rows) == 4_210_088
    five = [r for r in v1_rows if r.repeat == 5]
    assert [r.filter_shape for r in five] == ["3x3x512 dw", "1x1x512x512"]
    assert len(five[1].layer_names) == 5 and five[1].total_macs == 5 * 51_380_224
    text = ef.body_table(v1_rows)
    assert "5x Conv / s1" in text and "568,740,352" in text


def test_body_table_uncollapsed_has_one_row_per_layer(v1):
    rows = ef.mobilenet_v1_body(v1, collapse=False)
    assert len(rows) == 30 and all(r.repeat == 1 for r in rows)


def test_body_table_follows_width_and_resolution():
    rows = ef.mobilenet_v1_body(models.mobilenet_v1(alpha=0.5, resolution=128))
    assert rows[0].key == ("Conv / s2", "3x3x3x16", "128x128x3")
    assert rows[-3].key == ("Avg Pool / s1", "Pool 4x4", "4x4x512")


def test_resources_by_layer_type_reproduce_paper_table2(v1_rows):
    shares = ef.resources_by_layer_type(v1_rows)
    assert set(shares) == {"Conv 1x1", "Conv DW 3x3", "Conv 3x3", "Fully Connected"}
    pct = {
        k: (round(100 * v["macs_share"], 2), round(100 * v["params_share"], 2))
        for k, v in shares.items()
    }
    assert pct["Conv 1x1"] == (94.86, 74.59)
    assert pct["Conv DW 3x3"] == (3.06, 1.06)
    assert pct["Fully Connected"] == (0.18, 24.33)
    # the paper prints 1.19 % for the 3x3 stem: the digits swapped (its column then sums to 99.29 %)
    assert pct["Conv 3x3"] == (1.91, 0.02)
    assert math.isclose(sum(v["macs_share"] for v in shares.values()), 1.0)


def test_body_differences_reports_changed_fields():
    rows = [ef.BodyRow(t, f, i, r) for t, f, i, r in ef.PAPER_BODY_TABLE]
    assert ef.body_differences(rows) == []
    rows[0] = ef.BodyRow("Conv / s1", "3x3x3x32", "224x224x3")
    assert ef.body_differences(rows) == [
        "row 1 (Conv / s2, 3x3x3x32): type / stride is 'Conv / s1' in the model, "
        "'Conv / s2' in the paper"
    ]
    assert "the model has 21 rows, the paper 22" in ef.body_differences(rows[:-1])


def test_body_table_errors_and_warnings():
    with pytest.raises(TypeError, match="keras.Model"):
        ef.mobilenet_v1_body("mobilenet")
    x = keras.Input((8,))
    with pytest.raises(ValueError, match="no Conv2D or DepthwiseConv2D"):
        ef.mobilenet_v1_body(keras.Model(x, L.Dense(3)(x)))
    x = keras.Input((8, 8, 3))
    y = L.LayerNormalization(name="ln")(L.Conv2D(4, 3, name="c")(x))
    with pytest.warns(UserWarning, match="'ln' \\(LayerNormalization\\)"):
        rows = ef.mobilenet_v1_body(keras.Model(x, y))
    assert [r.type_stride for r in rows] == ["Conv / s1"]


def test_conv_mobilenet_reproduces_paper_table4():
    p = profile(ef.mobilenet_v1_standard_conv())
    assert p.macs == 4_867_293_184  # paper: 4866 M (its FC layer is 1.0 M of the difference)
    assert round(p.trainable_params / 1e6, 1) == 29.3
    assert 8.5 < p.macs / 568_740_352 < 8.6
    with pytest.raises(ValueError, match="alpha"):
        ef.mobilenet_v1_standard_conv(alpha=0)


# ------------------------------------------------------------------ MobileNet V2
def test_inverted_residual_block_equals_keras_mobilenetv2_block():
    block = profile(ef.inverted_residual_block(56, 24, 24, expansion=6))
    v2 = profile(models.mobilenet_v2())
    keras_block = [r for r in v2.layers if r.name.startswith("block_2_")]
    assert block.macs == sum(r.macs for r in keras_block) == 25_740_288
    assert block.params == sum(r.params for r in keras_block)
    # the linear bottleneck: BatchNorm then the skip addition, no activation in between
    kinds = [r.kind for r in block.layers]
    assert kinds[-2:] == ["BatchNormalization", "Add"]
    assert block.layers[0].output_shape == (56, 56, 144)


def test_inverted_residual_block_without_skip_and_errors():
    m = ef.inverted_residual_block(28, 16, 24, stride=2)
    assert m.output.shape[1:] == (14, 14, 24)
    assert not any(isinstance(layer, L.Add) for layer in m.layers)
    with pytest.raises(ValueError, match="stride"):
        ef.inverted_residual_block(28, 16, 16, stride=3)


def test_bottleneck_residual_block_costs_by_hand():
    p = profile(ef.bottleneck_residual_block(56, 256, 64))
    pixels = 56 * 56
    assert p.macs == pixels * (256 * 64 + 9 * 64 * 64 + 64 * 256)
    assert p.layers[-1].kind == "ReLU"  # ResNet's ReLU after the addition


def test_relu_roundtrip_loses_information_only_in_few_dimensions():
    t = np.linspace(0, 4 * np.pi, 300)
    x = np.c_[t * np.cos(t), t * np.sin(t)] / (4 * np.pi)

    def error(dim):
        return np.median(
            [
                np.linalg.norm(ef.relu_roundtrip(x, dim, seed=s) - x, axis=1).mean()
                / np.linalg.norm(x, axis=1).mean()
                for s in range(5)
            ]
        )

    assert error(2) > 0.3
    assert error(30) < 0.01
    assert error(2) > error(5) > error(30)
    with pytest.raises(ValueError, match="shape"):
        ef.relu_roundtrip(np.zeros((5, 3)), 4)
    with pytest.raises(ValueError, match="dim"):
        ef.relu_roundtrip(x, 1)


# --------------------------------------------------------------- per-layer timing
def test_time_layers_times_the_chosen_kinds():
    x = keras.Input((16, 16, 8))
    y = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    y = L.ReLU(name="relu")(y)
    y = L.Conv2D(16, 1, name="pw")(y)
    model = keras.Model(x, y)
    timings = ef.time_layers(model, batch_size=2, warmup=1, repeats=3)
    assert [t.name for t in timings] == ["dw", "pw"]
    p = {r.name: r for r in profile(model, batch_size=2).layers}
    overhead = timings[0].overhead_seconds
    assert overhead > 0 and all(t.overhead_seconds == overhead for t in timings)
    for t in timings:
        assert t.macs == p[t.name].macs and t.latency.n == 3
        assert t.seconds == t.latency.median > 0
        assert t.net_seconds == pytest.approx(t.seconds - overhead)
        if t.net_seconds > 0:
            assert t.flop_per_s == pytest.approx(t.flops / t.net_seconds)
        else:
            assert math.isnan(t.flop_per_s)
        row = p[t.name]
        moved = row.weight_bytes + row.activation_bytes + row.output_bytes
        assert t.intensity_flop_per_byte == pytest.approx(2 * row.macs / moved)
    # a depthwise layer does 9 MACs per output, the 1x1 conv 8: similar work, but the
    # depthwise layer's outputs need 9 inputs each from its own channel, not reused 16 times
    assert timings[0].intensity_flop_per_byte < timings[1].intensity_flop_per_byte
    only = ef.time_layers(model, kinds="Conv2D", warmup=0, repeats=1, subtract_overhead=False)
    assert [t.name for t in only] == ["pw"]
    assert only[0].overhead_seconds == 0.0 and only[0].net_seconds == only[0].seconds


def test_layer_timing_net_time_and_rate():
    stats = timing.LatencyStats(np.array([2e-3, 3e-3, 4e-3]))
    t = ef.LayerTiming(
        "conv", "Conv2D", macs=1_000_000, bytes_moved=4e5, latency=stats, overhead_seconds=1e-3
    )
    assert t.seconds == 3e-3 and t.net_seconds == pytest.approx(2e-3)
    assert t.flop_per_s == pytest.approx(2e6 / 2e-3)
    assert t.intensity_flop_per_byte == pytest.approx(5.0)
    busy = ef.LayerTiming("dw", "DepthwiseConv2D", 10, 100.0, stats, overhead_seconds=5e-3)
    assert busy.net_seconds < 0 and math.isnan(busy.flop_per_s)


def test_time_layers_errors():
    x = keras.Input((4,))
    model = keras.Model(x, L.Dense(2)(x))
    with pytest.raises(ValueError, match="no layer of kinds"):
        ef.time_layers(model, kinds=("Conv2D",))
    with pytest.raises(TypeError, match="keras.Model"):
        ef.time_layers(lambda v: v)
    with pytest.raises(ValueError, match="batch_size"):
        ef.time_layers(model, batch_size=0)


def test_interleaved_latency_times_every_model_in_rounds():
    small = ef.mnist_cnn(True, widths=(4, 4, 4))
    x = keras.Input((8,))
    dense = keras.Model(x, L.Dense(3)(x))
    stats = ef.interleaved_latency(
        {"cnn": small, "dense": dense},
        batch_size=2,
        rounds=3,
        repeats={"cnn": 2, "dense": 4},
        warmup=1,
    )
    assert list(stats) == ["cnn", "dense"]
    assert stats["cnn"].n == 6 and stats["dense"].n == 12
    assert all(s.median > 0 for s in stats.values())
    same = ef.interleaved_latency({"dense": dense}, rounds=2, repeats=3, warmup=0)
    assert same["dense"].n == 6


def test_interleaved_latency_errors():
    x = keras.Input((8,))
    dense = keras.Model(x, L.Dense(3)(x))
    with pytest.raises(ValueError, match="empty"):
        ef.interleaved_latency({})
    with pytest.raises(ValueError, match="no entry for"):
        ef.interleaved_latency({"a": dense}, repeats={"b": 3})
    with pytest.raises(TypeError, match="keras.Model"):
        ef.interleaved_latency({"a": "model"})
    with pytest.raises(ValueError, match="rounds"):
        ef.interleaved_latency({"a": dense}, rounds=0)
    y = keras.Input((None, 3))
    with pytest.raises(ValueError, match="unknown input dimension"):
        ef.interleaved_latency({"seq": keras.Model(y, L.Dense(2)(y))})


# ------------------------------------------------------------------- MNIST CNNs
def test_mnist_cnn_standard_and_separable_costs():
    standard, separable = ef.mnist_cnn(False), ef.mnist_cnn(True)
    assert standard.output.shape[1:] == separable.output.shape[1:] == (10,)
    stem = 28 * 28 * 9 * 16
    assert profile(standard).macs == stem + 14 * 14 * 9 * 16 * 32 + 7 * 7 * 9 * 32 * 64 + 64 * 10
    b1 = costs.separable_cost(14, 16, 32)
    b2 = costs.separable_cost(7, 32, 64)
    assert profile(separable).macs == stem + b1.separable_macs + b2.separable_macs + 64 * 10
    assert sum(isinstance(layer, L.DepthwiseConv2D) for layer in separable.layers) == 2
    assert not any(isinstance(layer, L.DepthwiseConv2D) for layer in standard.layers)
    with pytest.raises(ValueError, match="3 entries"):
        ef.mnist_cnn(widths=(8, 16))


def test_mnist_cnn_learns_a_little_in_a_few_steps():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((128, 12, 12, 1), dtype=np.float32)
    y = (x[:, :6].mean(axis=(1, 2, 3)) > x[:, 6:].mean(axis=(1, 2, 3))).astype(int)
    model = ef.mnist_cnn(True, widths=(4, 4, 4), input_shape=(12, 12, 1), classes=2)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(x, y, epochs=4, batch_size=128, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
