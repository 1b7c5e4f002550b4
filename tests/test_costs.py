"""Tests for course_utils.costs: the seed-004 closed forms, checked against the slide's numbers."""

import math

import numpy as np
import pytest

from course_utils import costs
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


# --------------------------------------------------------------------------- energy per operation


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
        ("read", "SRAM 1 MB", 32): 50.0,
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


@pytest.mark.parametrize(
    ("weight_bytes", "memory"),
    [(0, "SRAM 8 KB"), (8 * 1024, "SRAM 8 KB"), (8 * 1024 + 1, "SRAM 32 KB"),
     (81_194, "SRAM 1 MB"), (324_776, "SRAM 1 MB"), (2**20 + 1, "DRAM"), (80e6, "DRAM")],
)
def test_memory_for_picks_the_smallest_memory_that_holds_the_weights(weight_bytes, memory):
    assert costs.memory_for(weight_bytes) == memory


def test_inference_energy_by_hand():
    e = costs.inference_energy(macs=1000, weights=100, fmt="fp32", memory="DRAM")
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


def test_inference_energy_charges_the_memory_the_weights_fit_in():
    # LeNet: 81,194 weights, 274,656 MACs. 325 kB in fp32 and 81 kB in int8 both fit the
    # 1 MB SRAM, not the 8 KB one: int8 on chip vs fp32 in DRAM is about 49x, not 289x
    fp32_dram = costs.inference_energy(274_656, 81_194, "fp32", memory="DRAM")
    int8_chip = costs.inference_energy(274_656, 81_194, "int8")
    assert int8_chip.memory == "SRAM 1 MB"
    assert fp32_dram.joules / int8_chip.joules == pytest.approx(48.5, abs=0.5)
    assert costs.inference_energy(10, 2_000_000, "fp32").memory == "DRAM"
