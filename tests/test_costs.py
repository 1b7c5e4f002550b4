"""Tests for course_utils.costs: the seed-004 closed forms, checked against the slide's numbers."""

import math

import numpy as np
import pytest

from course_utils.costs import (
    RNN_GATES,
    LayerCost,
    conv_cost,
    fc_cost,
    model_size_bytes,
    rnn_cost,
    training_flops,
)


def test_fc_cost_formula_by_hand():
    c = fc_cost(in_features=3, out_features=4, batch=2, bits=8)
    # W = 3*4*8 bits = 12 B, A = 2*3*8 bits = 6 B, O = 2*2*3*4 = 48
    assert c == LayerCost(weight_bytes=12.0, activation_bytes=6.0, macs=24, ops=48)


@pytest.mark.parametrize(
    ("bits", "batch", "intensity"),
    [(32, 1, 0.5), (8, 1, 2.0), (8, 16, 32.0)],  # seed 004 'Fully Connected Layers' examples
)
def test_fc_arithmetic_intensity_matches_seed(bits, batch, intensity):
    assert fc_cost(4096, 4096, batch=batch, bits=bits).arithmetic_intensity == intensity


def test_conv_cost_formula_by_hand():
    # the 5x5x3 input, 2 filters of 3x3 on it ('same', stride 1): seed 004 symbols
    c = conv_cost(fm_dim=5, in_ch=3, out_ch=2, f_dim=3, batch=1, bits=32)
    assert c.weight_bytes == 3 * 2 * 9 * 4
    assert c.activation_bytes == 25 * 3 * 4
    assert c.macs == 25 * 3 * 2 * 9
    assert c.ops == 2 * c.macs


def test_conv_cost_vgg16_first_layer():
    # VGG16 conv1_1: 224x224x3 -> 64 filters 3x3 'same': 86.7 M MACs
    c = conv_cost(fm_dim=224, in_ch=3, out_ch=64, f_dim=3)
    assert c.macs == 86_704_128
    assert c.weight_bytes == 1728 * 4


def test_rnn_cost_formula_and_gate_names():
    c = rnn_cost(fm_dim=10, hid=20, gates="lstm", seq=5, dirs=2, batch=3, bits=16)
    # W = (10+20)*20*4*2*16 bits, A = 3*10*2*1*5*16 bits, O = 2*(10+20)*20*4*2*5 * 3
    assert c.weight_bytes == (10 + 20) * 20 * 4 * 2 * 2
    assert c.activation_bytes == 3 * 10 * 2 * 1 * 5 * 2
    assert c.macs == (10 + 20) * 20 * 4 * 2 * 5 * 3
    assert rnn_cost(10, 20, RNN_GATES["gru"], 5) == rnn_cost(10, 20, 3, 5)
    assert RNN_GATES == {"rnn": 1, "gru": 3, "lstm": 4}


def test_layer_cost_intensity_without_weights_is_inf():
    assert LayerCost(0.0, 10.0, 0, 0).arithmetic_intensity == math.inf


@pytest.mark.parametrize(
    ("params", "bits", "megabytes"),
    [
        # torchvision's ResNet-50 count (the slide's "25.5 M")
        (25_557_032, 1, 3.19),
        (25_557_032, 8, 25.56),
        (25_557_032, 32, 102.23),
        # Keras' ResNet50 count (adds conv biases and BN moving statistics)
        (25_636_712, 32, 102.55),
    ],
)
def test_model_size_resnet50_seed004_table(params, bits, megabytes):
    assert model_size_bytes(params, bits) / 1e6 == pytest.approx(megabytes, abs=0.005)


def test_model_size_slide_values_rounded():
    # seed 004 'Modelsize [MB] (ResNet50)': 3.2 / 25.5 / 102.5
    assert round(model_size_bytes(25_557_032, 1) / 1e6, 1) == 3.2
    assert round(model_size_bytes(25_636_712, 32) / 1e6, 1) == 102.5


def test_training_flops_is_three_times_inference():
    # seed 004 'Training overall' for ResNet-50: 7.7 GOPs x 1.2 M images x 1 epoch
    assert training_flops(7.7e9, samples=1_200_000, epochs=1) == pytest.approx(2.772e16)
    assert training_flops(10.0, samples=2, epochs=3) == 180.0


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: fc_cost(0, 4), "in_features"),
        (lambda: fc_cost(4, -1), "out_features"),

        (lambda: fc_cost(4, 4, bits=0), "bits"),
        (lambda: rnn_cost(10, 20, "transformer", 5), "gates"),
        (lambda: rnn_cost(10, 20, 4, 0), "seq"),
        (lambda: rnn_cost(10, 20, 4, 5, dirs=3), "dirs"),
        (lambda: model_size_bytes(-1, 8), "params"),
        (lambda: model_size_bytes(10, float("nan")), "bits"),
        (lambda: training_flops(1e9, samples=0, epochs=1), "samples"),
    ],
)
def test_bad_input_raises_value_error_naming_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


def test_numpy_integers_and_fractional_bits_are_accepted():
    c = fc_cost(np.int64(4), np.int32(2), bits=1.58)
    assert c.macs == 8
    assert c.weight_bytes == pytest.approx(8 * 1.58 / 8)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: fc_cost(4, 4, batch=1.5), "batch"),
        (lambda: conv_cost(5.0, 3, 2, 3), "fm_dim"),
        (lambda: conv_cost(5, 3, 2, True), "f_dim"),
        (lambda: conv_cost(5, 3, "2", 3), "out_ch"),
    ],
)
def test_wrong_type_raises_type_error_naming_argument(call, argument):
    with pytest.raises(TypeError, match=argument):
        call()
