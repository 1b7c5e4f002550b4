"""Tests for course_utils.profiler: hand-computed costs per layer kind, the lecture tables
(seeds 002, 003, 004) and TensorFlow's own FLOP count."""

import math
import time
import warnings

import numpy as np
import pytest

from course_utils import models  # before Keras: sets TensorFlow's environment knobs
from course_utils.costs import conv_cost, fc_cost, model_size_bytes, rnn_cost
from course_utils.profiler import ACTIVATION_OPS, LayerRow, Profile, profile

# isort: split
import keras

L = keras.layers


def one_layer(layer, input_shape, dtype="float32", **kw):
    """Profile a model made of one layer on ``input_shape``; return its only row."""
    inputs = keras.Input(input_shape, dtype=dtype)
    model = keras.Model(inputs, layer(inputs))
    p = profile(model, **kw)
    assert len(p.layers) == 1, p.layers
    return p.layers[0]


# ------------------------------------------------------------------- weight layers
def test_dense_on_3d_input():
    row = one_layer(L.Dense(4), (5, 8))
    assert row.macs == 5 * 8 * 4  # one 8-long dot product per output element
    assert row.ops_breakdown == {"bias_add": 5 * 4}
    assert row.params == 8 * 4 + 4 and row.kernel_params == 32
    assert row.output_shape == (5, 4)
    assert row.flops == 2 * row.macs


def test_dense_matches_seed004_fc_formula():
    row = one_layer(L.Dense(300, use_bias=False), (784,), batch_size=16, bits=8)
    slide = fc_cost(784, 300, batch=16, bits=8)
    assert row.macs == slide.macs and row.flops == slide.ops
    assert row.weight_bytes == slide.weight_bytes
    assert row.activation_bytes == slide.activation_bytes
    assert row.arithmetic_intensity == slide.arithmetic_intensity == 32.0


def test_conv2d_same_stride1_matches_seed004_conv_formula():
    row = one_layer(L.Conv2D(16, 3, padding="same", use_bias=False), (28, 28, 8))
    slide = conv_cost(fm_dim=28, in_ch=8, out_ch=16, f_dim=3)
    assert row.macs == slide.macs == 28 * 28 * 8 * 16 * 9
    assert row.weight_bytes == slide.weight_bytes
    assert row.activation_bytes == slide.activation_bytes


def test_conv2d_stride_valid_groups():
    # 10x10x4 -> 6 filters 3x3, stride 2, valid, 2 groups: 4x4x6 outputs, each 2*9 MACs
    row = one_layer(L.Conv2D(6, 3, strides=2, groups=2), (10, 10, 4))
    assert row.output_shape == (4, 4, 6)
    assert row.macs == 4 * 4 * 6 * (4 // 2) * 9 == 1728
    assert row.params == 3 * 3 * 2 * 6 + 6


def test_conv2d_dilation_and_fused_relu():
    row = one_layer(L.Conv2D(8, 3, dilation_rate=2, padding="same", activation="relu"), (10, 10, 4))
    assert row.macs == 10 * 10 * 8 * 4 * 9
    assert row.ops_breakdown == {"bias_add": 800, "relu": 800}


def test_conv1d_stride():
    row = one_layer(L.Conv1D(5, 4, strides=2), (20, 3))
    assert row.output_shape == (9, 5)  # (20 - 4) // 2 + 1
    assert row.macs == 9 * 5 * 3 * 4


def test_conv3d_channels_first():
    row = one_layer(L.Conv3D(3, 3, padding="same", data_format="channels_first"), (2, 6, 6, 6))
    assert row.output_shape == (3, 6, 6, 6)
    assert row.macs == 6**3 * 3 * 2 * 27


def test_depthwise_conv2d_depth_multiplier():
    row = one_layer(L.DepthwiseConv2D(3, depth_multiplier=2), (8, 8, 3))
    assert row.output_shape == (6, 6, 6)
    assert row.macs == 6 * 6 * (3 * 2) * 9
    assert row.params == 9 * 3 * 2 + 6 and row.kernel_params == 54


def test_separable_conv2d_is_depthwise_plus_pointwise():
    # seed 003: k*k*M + M*N per pixel, with M = in_ch * depth_multiplier
    row = one_layer(L.SeparableConv2D(5, 3, depth_multiplier=2), (8, 8, 3))
    pixels, mid = 6 * 6, 3 * 2
    assert row.macs == pixels * mid * 9 + pixels * mid * 5 == 3024
    assert row.params == 54 + 30 + 5 and row.kernel_params == 84


def test_conv2d_transpose():
    row = one_layer(L.Conv2DTranspose(4, 3, strides=2), (5, 5, 2))
    assert row.output_shape == (11, 11, 4)
    assert row.macs == 5 * 5 * 2 * 4 * 9  # each input element through 4 * 3x3 weights
    assert row.ops_breakdown == {"bias_add": 11 * 11 * 4}


@pytest.mark.parametrize(
    ("cell", "gates", "params"),
    [
        (L.SimpleRNN, 1, 3 * 4 + 4 * 4 + 4),
        (L.LSTM, 4, 4 * (3 * 4 + 4 * 4 + 4)),
        (L.GRU, 3, 3 * (3 * 4 + 4 * 4) + 2 * 3 * 4),  # reset_after: two biases
    ],
)
def test_recurrent_layers_match_seed004_rnn_formula(cell, gates, params):
    row = one_layer(cell(4), (7, 3))
    assert row.macs == rnn_cost(fm_dim=3, hid=4, gates=gates, seq=7).macs == 7 * gates * 7 * 4
    assert row.params == params
    assert row.kernel_params == 3 * 4 * gates + 4 * 4 * gates
    assert row.ops_breakdown["rnn_add"] == 7 * gates * 4


def test_gru_reset_before_has_one_bias():
    after = one_layer(L.GRU(4), (7, 3))
    before = one_layer(L.GRU(4, reset_after=False), (7, 3))
    assert before.macs == after.macs
    assert before.params == after.params - 12
    assert before.ops_breakdown["bias_add"] == 7 * 12 == after.ops_breakdown["bias_add"] // 2


def test_lstm_other_ops_by_hand():
    row = one_layer(L.LSTM(4), (7, 3))
    # per step: 16 bias adds, 16 adds (xW + hU), 12 sigmoids, 8 tanh, 16 cell ops
    assert row.ops_breakdown == {
        "rnn_add": 7 * 16,
        "bias_add": 7 * 16,
        "sigmoid": 7 * 12,
        "tanh": 7 * 8,
        "rnn_cell": 7 * 16,
    }


def test_bidirectional_doubles_and_merges():
    row = one_layer(L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="sum"), (7, 3))
    assert row.macs == 2 * 7 * 4 * 7 * 4
    assert row.ops_breakdown["merge_sum"] == 7 * 4
    concat = one_layer(L.Bidirectional(L.GRU(4)), (7, 3))
    assert concat.macs == 2 * 7 * 3 * 7 * 4 and concat.output_shape == (8,)
    assert rnn_cost(3, 4, "gru", 7, dirs=2).macs == concat.macs


def test_time_distributed_dense():
    row = one_layer(L.TimeDistributed(L.Dense(3)), (7, 5))
    assert row.macs == 7 * 5 * 3 and row.ops_breakdown == {"bias_add": 21}


def test_embedding_is_lookups_not_macs():
    row = one_layer(L.Embedding(100, 8), (12,), dtype="int32")
    assert row.macs == 0 and row.ops_breakdown == {"lookup": 12}
    assert row.params == row.kernel_params == 800
    assert row.arithmetic_intensity == 0.0


# ------------------------------------------------------------- layers without MACs
@pytest.mark.parametrize(
    ("layer", "shape", "ops"),
    [
        (L.MaxPooling2D(2), (6, 6, 3), {"max_pool": 27 * 3}),  # 3 comparisons per output
        (L.AveragePooling2D(2), (6, 6, 3), {"avg_pool": 27 * 4}),  # 3 adds + 1 divide
        (L.AveragePooling1D(3), (9, 2), {"avg_pool": 6 * 3}),
        (L.MaxPooling1D(2, strides=1), (5, 2), {"max_pool": 4 * 2}),
        (L.GlobalAveragePooling2D(), (4, 4, 3), {"avg_pool": 48}),
        (L.GlobalMaxPooling2D(), (4, 4, 3), {"max_pool": 45}),
        (L.GlobalAveragePooling1D(), (5, 2), {"avg_pool": 10}),
        (L.BatchNormalization(), (4, 4, 3), {"batch_norm": 96}),
        (L.LayerNormalization(), (5, 8), {"layer_norm": 7 * 40}),
        (L.LayerNormalization(center=False, scale=False), (5, 8), {"layer_norm": 5 * 40}),
        (L.Activation("relu"), (10,), {"relu": 10}),
        (L.Activation("tanh"), (10,), {"tanh": 10}),
        (L.ReLU(), (10,), {"relu": 10}),
        (L.ReLU(max_value=6.0), (10,), {"relu": 20}),
        (L.LeakyReLU(), (10,), {"leaky_relu": 20}),
        (L.PReLU(), (10,), {"leaky_relu": 20}),
        (L.ELU(), (10,), {"elu": 20}),
        (L.Softmax(), (10,), {"softmax": 50}),
        (L.Rescaling(1 / 255), (4, 4, 1), {"rescaling": 16}),
        (L.Rescaling(1 / 127.5, offset=-1), (4, 4, 1), {"rescaling": 32}),
        (L.Normalization(mean=0.5, variance=0.25), (6,), {"normalization": 12}),
        (L.Flatten(), (4, 4, 2), {}),
        (L.Reshape((8, 4)), (4, 4, 2), {}),
        (L.Dropout(0.5), (10,), {}),
        (L.ZeroPadding2D(1), (4, 4, 2), {}),
        (L.Permute((2, 1)), (3, 5), {}),
        (L.UpSampling2D(2), (4, 4, 2), {}),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, L.Layer) else None,
)
def test_layers_without_macs(layer, shape, ops):
    row = one_layer(layer, shape)
    assert row.macs == 0
    assert row.ops_breakdown == ops
    assert row.other_ops == sum(ops.values())
    assert row.note == ""


@pytest.mark.parametrize(
    ("merge", "n_inputs", "ops"),
    [
        (L.Add, 3, {"add": 2 * 4}),
        (L.Subtract, 2, {"subtract": 4}),
        (L.Multiply, 2, {"multiply": 4}),
        (L.Maximum, 2, {"maximum": 4}),
        (L.Average, 2, {"average": 2 * 4}),
        (L.Concatenate, 2, {}),
    ],
)
def test_merge_layers(merge, n_inputs, ops):
    inputs = [keras.Input((4,)) for _ in range(n_inputs)]
    p = profile(keras.Model(inputs, merge()(inputs)))
    (row,) = p.layers
    assert row.macs == 0 and row.ops_breakdown == ops
    assert row.activation_bytes == n_inputs * 4 * 4  # all inputs are read


def test_keras_ops_in_functional_code():
    a, b = keras.Input((6,)), keras.Input((6,))
    p = profile(keras.Model([a, b], a + b * 2.0))
    assert p.ops_breakdown() == {"add": 6, "multiply": 6}
    assert p.unknown == []


# --------------------------------------------------------- rows, totals, structure
def test_layer_row_derived_fields():
    row = LayerRow("d", "Dense", (4,), 12, 10, {"relu": 4}, 48.0, 16.0, 16.0)
    assert row.flops == 20 and row.other_ops == 4
    assert row.arithmetic_intensity == 20 / 48
    assert row.total_intensity == 20 / 80
    no_weights = LayerRow("p", "MaxPooling2D", (2,), 0, 0, {}, 0.0, 0.0, 0.0)
    assert no_weights.arithmetic_intensity is None and no_weights.total_intensity is None


def test_batch_and_bits_scaling():
    model = models.lenet_keras()
    p1, p8 = profile(model), profile(model, batch_size=8, bits=8)
    assert p8.macs == 8 * p1.macs and p8.other_ops == 8 * p1.other_ops
    assert p8.weight_bytes == p1.weight_bytes / 4
    assert p8.activation_bytes == p1.activation_bytes * 8 / 4
    assert p8.arithmetic_intensity == pytest.approx(32 * p1.arithmetic_intensity)


def test_nested_models_are_walked():
    inner_in = keras.Input((8,))
    inner = keras.Model(inner_in, L.Dense(4, name="d1")(inner_in), name="inner")
    outer = keras.Sequential([keras.Input((8,)), inner, L.Dense(2, name="d2")], name="outer")
    p = profile(outer)
    assert [r.name for r in p.layers] == ["inner/d1", "d2"]
    assert p.macs == 8 * 4 + 4 * 2
    assert p.params == outer.count_params()


def test_keras_application_inside_sequential():
    base = keras.applications.MobileNet(
        input_shape=(128, 128, 3), alpha=0.25, include_top=False, weights=None
    )
    model = keras.Sequential(
        [keras.Input((128, 128, 3)), base, L.GlobalAveragePooling2D(), L.Dense(10)]
    )
    p = profile(model)
    base_p = profile(base)
    assert p.layers[0].name.startswith(base.name + "/")
    assert p.macs == base_p.macs + 256 * 10
    assert p.params == model.count_params()
    assert p.unknown == []


def test_shared_layer_costs_per_call_params_once():
    shared = L.Dense(4, name="shared")
    a, b = keras.Input((8,)), keras.Input((8,))
    model = keras.Model([a, b], L.Add()([shared(a), shared(b)]))
    p = profile(model)
    rows = {r.name: r for r in p.layers}
    assert rows["shared"].macs == rows["shared (call 2)"].macs == 32
    assert rows["shared"].params == 36 and rows["shared (call 2)"].params == 0
    assert p.params == model.count_params() == 36
    assert p.macs == 64


class Doubler(L.Layer):
    def call(self, x):
        return 2 * x


def test_unknown_layer_warns_once_per_kind_and_is_listed():
    inputs = keras.Input((4,))
    x = Doubler(name="dbl_a")(inputs)
    x = Doubler(name="dbl_b")(x)
    x = L.Lambda(lambda t: t + 1, name="plus_one")(x)
    x = L.Dense(3)(x)
    with pytest.warns(UserWarning) as record:
        p = profile(keras.Model(inputs, x))
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert "no cost rule for layer kind 'Doubler' (layer 'dbl_a')" in messages[0]
    assert "NOT counted" in messages[0]
    assert "'Lambda'" in messages[1]
    assert p.unknown == ["Doubler", "Lambda"]
    assert [r.note for r in p.layers] == ["no cost rule"] * 3 + [""]
    assert p.macs == 12  # the Dense layer still counts
    assert "NOT COUNTED" in p.table() and "unknown=" in repr(p)


def test_unknown_activation_function_is_reported():
    with pytest.warns(UserWarning, match="activation function 'my_act'"):
        row = one_layer(L.Dense(3, activation=lambda_act()), (4,))
    assert row.macs == 12 and row.note.startswith("not counted")


def lambda_act():
    def my_act(x):
        return x

    return my_act


def test_unknown_dimension_is_reported_not_zeroed():
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, L.Conv2D(4, 3)(inputs))
    with pytest.warns(UserWarning, match="unknown dimension.*keras.Input"):
        p = profile(model)
    assert p.unknown == ["Conv2D: unknown dimension"]


def test_every_covered_kind_has_a_rule_and_activation_table_is_sane():
    assert ACTIVATION_OPS["linear"] == 0 and ACTIVATION_OPS["softmax"] == 5
    for name in ACTIVATION_OPS:
        keras.activations.get(name)  # all are real Keras activations


@pytest.mark.parametrize("bad", [L.Dense(3), np.zeros((2, 2)), "resnet50", None])
def test_non_model_raises_type_error(bad):
    with pytest.raises(TypeError, match="built keras.Model"):
        profile(bad)


def test_unbuilt_model_raises_value_error_with_howto():
    with pytest.raises(ValueError, match=r"not built.*keras.Input"):
        profile(keras.Sequential([L.Dense(3)]))


def test_subclassed_model_raises_value_error():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = L.Dense(2)

        def call(self, x):
            return self.d(x)

    model = Sub()
    model(np.zeros((1, 3), "float32"))  # built by calling it on data
    with pytest.raises(ValueError, match="no layer graph"):
        profile(model)


@pytest.mark.parametrize(("kw", "arg"), [({"batch_size": 0}, "batch_size"), ({"bits": -8}, "bits")])
def test_bad_batch_or_bits(kw, arg):
    with pytest.raises(ValueError, match=arg):
        profile(models.lenet_keras(), **kw)


# -------------------------------------------------- seed 002: the Keras LeNet-like
@pytest.fixture(scope="module")
def lenet_profile():
    return profile(models.lenet_keras())


def test_lenet_keras_seed002_numbers(lenet_profile):
    p = lenet_profile
    assert p.params == 81_194 == p.trainable_params
    assert [r.params for r in p.layers if r.params] == [60, 880, 69_240, 10_164, 850]
    assert p.macs == 274_656
    assert p.ops_breakdown() == {"bias_add": 8_318, "relu": 8_308, "avg_pool": 7_704, "softmax": 50}


def test_table_repr_and_totals_by_kind(lenet_profile):
    p = lenet_profile
    text = p.table()
    assert text == str(p)
    assert "81,194 params" in text and "274,656 MACs" in text
    assert "30x30x6" in text and "AveragePooling2D" in text
    short = p.table(max_rows=3)
    assert "5 more layers" in short and "274,656 MACs" in short
    assert repr(p).startswith("Profile('lenet_keras', batch=1, bits=32: 8 layers, 81,194 params")
    assert p.layers[0].kind == "Conv2D" and p.layers[0].macs == 30 * 30 * 6 * 9
    kinds = p.by_kind()
    assert kinds["Dense"]["layers"] == 3 and kinds["Dense"]["macs"] == 120 * 576 + 84 * 120 + 840
    assert kinds["AveragePooling2D"]["other_ops"] == 7_704
    with pytest.raises(ValueError, match="max_rows"):
        p.table(max_rows=0)


def test_lenet_matches_tensorflow_profiler_term_by_term(lenet_profile):
    """TF's float_ops = 2 x MACs + bias adds + average pooling + softmax (no ReLU):
    565,384 for the LeNet-like model (NOTES-stack.md)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    model = models.lenet_keras()
    fn = tf.function(lambda x: model(x, training=False))
    frozen = convert_variables_to_constants_v2(
        fn.get_concrete_function(tf.TensorSpec([1, 32, 32, 1], tf.float32))
    )
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    tf_total = tf.compat.v1.profiler.profile(frozen.graph, options=options).total_float_ops

    p, ops = lenet_profile, lenet_profile.ops_breakdown()
    assert tf_total == 565_384
    assert tf_total == p.flops + ops["bias_add"] + ops["avg_pool"] + ops["softmax"]
    assert p.other_ops - ops["relu"] == tf_total - p.flops  # TF does not count ReLU


# ---------------------------------------------------------- seed 004: ResNet-50
@pytest.fixture(scope="module")
def resnet50():
    return models.resnet50()


def test_resnet50_seed004_tables(resnet50):
    start = time.perf_counter()
    p = profile(resnet50)
    assert time.perf_counter() - start < 1.0  # no tracing: milliseconds in practice
    cat = p.by_category()
    assert cat["conv"]["kernel_params"] == 23_454_912  # 'CONV WEIGHTS (M) 23.454912'
    assert cat["fc"]["kernel_params"] == 2_048_000  # 'FC WEIGHTS (M) 2.048'
    assert round(cat["conv"]["flops"] / 1e9, 3) == 7.712  # 'CONV [GOPS] 7.712'
    assert round(cat["fc"]["flops"] / 1e9, 3) == 0.004  # 'FC [GOPS] 0.004'
    assert p.params == resnet50.count_params() == 25_636_712
    assert p.unknown == []


def test_resnet50_seed004_inference_example(resnet50):
    # "7.7 Billion operations, 25.5 MBytes of weight storage, 10.1 MBytes for activations
    # (int8)": the 10.1 MB are the conv layers' input activations, sum of A_i
    p = profile(resnet50, bits=8)
    assert round(p.flops / 1e9, 1) == 7.7
    assert round(p.by_category()["conv"]["activation_bytes"] / 1e6, 1) == 10.1


def test_resnet50_model_size_seed004_table(resnet50):
    p = profile(resnet50)
    cat = p.by_category()
    conv_biases = cat["conv"]["params"] - cat["conv"]["kernel_params"]
    torchvision_count = p.trainable_params - conv_biases  # no conv biases, no BN statistics
    assert torchvision_count == 25_557_032
    sizes = [model_size_bytes(torchvision_count, bits) / 1e6 for bits in (1, 8, 32)]
    assert sizes == pytest.approx([3.19, 25.56, 102.23], abs=0.005)
    assert model_size_bytes(p.params, 32) / 1e6 == pytest.approx(102.55, abs=0.005)


# ------------------------------------------------------------ VGG16 and AlexNet
def test_vgg16_seed004_tables():
    cat = profile(models.vgg16()).by_category()
    assert cat["conv"]["kernel_params"] == 14_710_464
    assert cat["fc"]["kernel_params"] == 123_633_664
    assert round(cat["conv"]["flops"] / 1e9, 3) == 30.693
    assert round(cat["fc"]["flops"] / 1e9, 3) == 0.247


def test_alexnet_seed004_tables():
    cat = profile(models.alexnet()).by_category()
    assert cat["conv"]["kernel_params"] == 2_332_704
    assert cat["fc"]["kernel_params"] == 58_621_952
    assert cat["conv"]["macs"] == 665_784_864
    assert round(cat["conv"]["flops"] / 1e9, 3) == 1.332
    # the slide's 'FC [GOPS] 0.044' is not reproducible: 2 x 58.6 M MACs = 0.117
    assert round(cat["fc"]["flops"] / 1e9, 3) == 0.117


# -------------------------------------------------------- seed 003: MobileNets
@pytest.mark.parametrize(
    ("alpha", "resolution", "paper_mmacs", "paper_mparams"),
    [
        (1.0, 224, 569, 4.2),  # Table 6 / 7 of Howard et al.
        (0.75, 224, 325, 2.6),
        (0.5, 224, 149, 1.3),
        (0.25, 224, 41, 0.5),
        (1.0, 192, 418, 4.2),
        (1.0, 160, 291, 4.2),
        (1.0, 128, 186, 4.2),
    ],
)
def test_mobilenet_v1_paper_tables(alpha, resolution, paper_mmacs, paper_mparams):
    p = profile(models.mobilenet_v1(alpha=alpha, resolution=resolution))
    assert p.macs / 1e6 == pytest.approx(paper_mmacs, rel=0.005)
    assert round(p.trainable_params / 1e6, 1) == paper_mparams  # the paper has no BN statistics
    if (alpha, resolution) == (1.0, 224):
        assert p.params == 4_253_864
        assert p.macs == 568_740_352


def test_mobilenet_v2():
    p = profile(models.mobilenet_v2())
    assert p.macs / 1e6 == pytest.approx(300, rel=0.005)
    assert p.params == 3_538_984
    assert 3.4e6 <= p.trainable_params <= 3.55e6


# ------------------------------------------------------ seed 002: Darknet-19
DARKNET_BFLOPS = {  # the print's last column, per conv layer index
    0: 0.113, 2: 0.604, 4: 0.604, 5: 0.067, 6: 0.604, 8: 0.604, 9: 0.067, 10: 0.604,
    12: 0.604, 13: 0.067, 14: 0.604, 15: 0.067, 16: 0.604, 18: 0.604, 19: 0.067,
    20: 0.604, 21: 0.067, 22: 0.604, 23: 0.131,
}  # fmt: skip


def test_darknet19_every_conv_row_of_the_print():
    p = profile(models.darknet19())
    convs = {int(r.name.split("_")[0]): r for r in p.layers if r.kind == "Conv2D"}
    assert {i: round(r.flops / 1e9, 3) for i, r in convs.items()} == DARKNET_BFLOPS
    assert convs[23].output_shape == (8, 8, 1000)
    assert math.isclose(sum(DARKNET_BFLOPS.values()), p.flops / 1e9, abs_tol=0.01)
    assert p.unknown == []


def test_profile_type_is_exported():
    assert isinstance(profile(models.lenet_keras()), Profile)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        profile(models.lenet5())  # a fully covered model warns nothing
