"""Tests for course_utils.models: each builder against the table it follows."""

import numpy as np
import pytest

from course_utils import models  # before Keras: sets TensorFlow's environment knobs

# isort: split
import keras


def shapes_and_params(model):
    return [
        (layer.name, tuple(layer.output.shape[1:]), layer.count_params()) for layer in model.layers
    ]


def test_lenet5_follows_seed002_table():
    model = models.lenet5()
    got = {name: shape for name, shape, _ in shapes_and_params(model)}
    # 'Table 14-1. LeNet-5 architecture': maps and sizes per layer
    assert got["C1"] == (28, 28, 6)
    assert got["S2"] == (14, 14, 6)
    assert got["C3"] == (10, 10, 16)
    assert got["S4"] == (5, 5, 16)
    assert got["C5"] == (1, 1, 120)
    assert got["F6"] == (84,)
    assert got["output"] == (10,)
    assert model.count_params() == 156 + 2_416 + 48_120 + 10_164 + 850 == 61_706
    assert model.get_layer("C1").activation is keras.activations.tanh


def test_lenet_keras_is_seed002_summary():
    model = models.lenet_keras()
    assert [(shape, params) for _, shape, params in shapes_and_params(model)] == [
        ((30, 30, 6), 60),
        ((15, 15, 6), 0),
        ((13, 13, 16), 880),
        ((6, 6, 16), 0),
        ((576,), 0),
        ((120,), 69_240),
        ((84,), 10_164),
        ((10,), 850),
    ]
    assert model.count_params() == 81_194


def test_mlp_seed002_sweep_model():
    model = models.mlp(4096)
    assert [params for _, _, params in shapes_and_params(model)] == [
        3_215_360,
        0,
        16_781_312,
        0,
        40_970,
    ]
    assert model.count_params() == 20_037_642
    small = models.mlp(8, depth=3, dropout=0.0, input_dim=5, classes=2)
    assert [type(layer).__name__ for layer in small.layers] == ["Dense"] * 4
    assert small.count_params() == (5 * 8 + 8) + 2 * (8 * 8 + 8) + (8 * 2 + 2)


@pytest.mark.parametrize(
    ("kwargs", "error", "argument"),
    [({"width": 0}, ValueError, "width"), ({"depth": 1.5}, TypeError, "depth"),
     ({"dropout": 1.0}, ValueError, "dropout")],
)
def test_mlp_bad_arguments(kwargs, error, argument):
    with pytest.raises(error, match=argument):
        models.mlp(**{"width": 8, **kwargs})


def test_alexnet_shapes_groups_and_forward_pass():
    model = models.alexnet()
    got = {name: (shape, params) for name, shape, params in shapes_and_params(model)}
    assert got["conv1"] == ((55, 55, 96), 11 * 11 * 3 * 96 + 96)
    assert got["conv2"] == ((27, 27, 256), 5 * 5 * 48 * 256 + 256)  # 2 groups of 48 channels
    assert got["conv3"] == ((13, 13, 384), 3 * 3 * 256 * 384 + 384)  # crosses the two GPUs
    assert got["conv4"][1] == 3 * 3 * 192 * 384 + 384
    assert got["conv5"] == ((13, 13, 256), 3 * 3 * 192 * 256 + 256)
    assert got["flatten"][0] == (9216,)
    assert model.count_params() == 60_965_224
    # grouped convolutions run on the CPU too
    probabilities = model.predict(np.zeros((1, 227, 227, 3), "float32"), verbose=0)
    assert probabilities.shape == (1, 1000)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-4)


def test_darknet19_follows_the_seed002_print():
    model = models.darknet19()
    got = {name: shape for name, shape, _ in shapes_and_params(model)}
    # a few rows of the darknet print: "1 max 2 x 2 / 2 256 x 256 x 32 -> 128 x 128 x 32"
    assert got["0_conv"] == (256, 256, 32)
    assert got["1_max"] == (128, 128, 32)
    assert got["5_conv"] == (64, 64, 64)
    assert got["17_max"] == (8, 8, 512)
    assert got["22_conv"] == (8, 8, 1024)
    assert got["23_conv"] == (8, 8, 1000)
    assert got["24_avg"] == (1000,)
    assert got["25_softmax"] == (1000,)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 19
    assert [conv.use_bias for conv in convs] == [False] * 18 + [True]
    assert model.get_layer("0_leaky").negative_slope == pytest.approx(0.1)


def test_darknet19_other_input_size():
    model = models.darknet19(input_shape=(224, 224, 3), classes=10)
    assert model.get_layer("23_conv").output.shape[1:] == (7, 7, 10)


@pytest.mark.parametrize("name", ["mobilenet_v1", "mobilenet_v2", "vgg16", "resnet50"])
def test_keras_applications_build_without_download(name, monkeypatch):
    from keras.src.utils import file_utils

    def no_download(*args, **kwargs):
        raise AssertionError(f"{name} tried to download {args} {kwargs}")

    monkeypatch.setattr(file_utils, "get_file", no_download)
    model = models.build(name)
    assert isinstance(model, keras.Model) and model.built
    assert model.output.shape[1:] == (1000,)


def test_mobilenet_builders_pass_width_and_resolution():
    model = models.mobilenet_v1(alpha=0.25, resolution=128, classes=7)
    assert model.input.shape[1:] == (128, 128, 3)
    assert model.get_layer("conv1").filters == 8  # 32 * alpha
    assert model.output.shape[1:] == (7,)


def test_builders_registry():
    assert list(models.BUILDERS) == [
        "lenet5",
        "lenet_keras",
        "mlp",
        "alexnet",
        "darknet19",
        "mobilenet_v1",
        "mobilenet_v2",
        "vgg16",
        "resnet50",
    ]
    for builder in models.BUILDERS.values():
        assert "seed 00" in builder.__doc__.lower()  # each names the table it follows
    model = models.build("mlp", width=16, classes=3)
    assert model.layers[-1].output.shape[1:] == (3,)


def test_build_unknown_name_suggests_close_ones():
    with pytest.raises(
        ValueError, match=r"unknown model 'resnet5'. Did you mean 'resnet50'.*Known models"
    ):
        models.build("resnet5")
    with pytest.raises(ValueError, match="lenet5, lenet_keras"):
        models.build("transformer")
