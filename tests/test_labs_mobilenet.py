"""Tests for course_utils.labs.mobilenet: the MobileNet body table (seed 003 / Howard et al.
2017, Tables 1, 2 and 4), the V2 block; and the separable-convolution costs notebook 05 uses."""

import math

import pytest

from course_utils import costs, machine, models
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
    "bad, error",
    [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError), ("3", TypeError)],
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
    assert len(v1_rows) == 22
    assert v1_rows[0].key == ("Conv / s2", "3x3x3x32", "224x224x3")
    assert [(r.key, r.repeat) for r in v1_rows[13:15]] == [
        (("Conv dw / s1", "3x3x512 dw", "14x14x512"), 5),
        (("Conv / s1", "1x1x512x512", "14x14x512"), 5),
    ]
    # the paper's row 18 reads s2, yet the next row's input is still 7x7
    assert v1_rows[17].key == ("Conv dw / s1", "3x3x1024 dw", "7x7x1024")
    assert v1_rows[18].input_size == "7x7x1024"
    assert [r.type_stride for r in v1_rows[-3:]] == ["Avg Pool / s1", "FC / s1", "Softmax / s1"]


def test_body_table_totals_are_569m_macs_and_4_2m_params(v1, v1_rows):
    assert sum(r.total_macs for r in v1_rows) == profile(v1).macs == 568_740_352
    # conv and FC weights (kernel and the FC bias), BatchNorm not included
    assert sum(r.params * r.repeat for r in v1_rows) == 4_210_088
    five = [r for r in v1_rows if r.repeat == 5]
    assert [r.filter_shape for r in five] == ["3x3x512 dw", "1x1x512x512"]
    assert len(five[1].layer_names) == 5 and five[1].total_macs == 5 * 51_380_224
    text = ef.body_table(v1_rows)
    assert "5x Conv / s1" in text and "568,740,352" in text and "4,210,088" in text


def test_body_table_kernel_params_give_paper_table2(v1_rows):
    fc = sum(r.kernel_params for r in v1_rows if r.type_stride.startswith("FC"))
    total = sum(r.kernel_params * r.repeat for r in v1_rows)
    assert round(100 * fc / total, 2) == 24.33  # Howard et al. 2017, Table 2


def test_body_table_uncollapsed_has_one_row_per_layer(v1):
    rows = ef.mobilenet_v1_body(v1, collapse=False)
    assert len(rows) == 30 and all(r.repeat == 1 for r in rows)
    assert rows[13].layer_names == ("conv_dw_7",)


def test_body_table_follows_width_and_resolution():
    rows = ef.mobilenet_v1_body(models.mobilenet_v1(alpha=0.5, resolution=128))
    assert rows[0].key == ("Conv / s2", "3x3x3x16", "128x128x3")
    assert rows[-3].key == ("Avg Pool / s1", "Pool 4x4", "4x4x512")


def test_body_table_reads_dense_classifiers_and_depth_multipliers():
    x = keras.Input((8, 8, 3))
    y = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x)
    y = L.Dense(5, activation="softmax")(L.GlobalAveragePooling2D()(y))
    rows = ef.mobilenet_v1_body(keras.Model(x, y))
    assert [r.key[:2] for r in rows] == [
        ("Conv dw / s1", "3x3x3x2 dw"),
        ("Avg Pool / s1", "Pool 8x8"),
        ("FC / s1", "6x5"),
    ]


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
    thin = ef.mobilenet_v1_standard_conv(alpha=0.5, resolution=128)
    assert thin.output.shape[1:] == (1000,) and thin.get_layer("conv_13").filters == 512
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
    with pytest.raises(ValueError, match="in_ch"):
        ef.inverted_residual_block(28, 0, 16)


# ------------------------------------------------------------------ roofline sweep
def test_roofline_sweep_pools_roof_layers_and_model_over_rounds():
    x = keras.Input((8, 8, 4))
    y = L.Conv2D(8, 1, name="pw")(L.DepthwiseConv2D(3, padding="same", name="dw")(x))
    model = keras.Model(x, L.Dense(3, name="fc")(L.GlobalAveragePooling2D()(y)))
    gemm, stream, layer_times, whole, overhead = ef.roofline_sweep(model, rounds=2, repeats=3, gemm_n=64,
                                                                   stream_bytes=2**20)
    assert gemm.kind == "GEMM" and gemm.flop == 2 * 64**3 and gemm.latency.n == 2 * 2
    assert stream.kind in ("triad", "add") and stream.size_bytes == 2**20 and stream.latency.n == 3
    assert stream.threads in (1, machine.physical_cores()) and stream.best_bytes_per_s > 0
    assert [t.name for t in layer_times] == ["dw", "pw", "fc"]
    assert all(t.latency.n == 2 * 3 for t in layer_times) and whole.n == 2 * 3
    assert overhead.n == 2 * 12 and 0 < overhead.median < whole.median
    assert gemm.best_flop_per_s >= gemm.flop_per_s
    with pytest.raises(ValueError, match="rounds"):
        ef.roofline_sweep(model, rounds=0)
