"""Tests of course_utils.labs.cnn_basics: the Keras references notebook 02 checks against."""

import itertools

import numpy as np
import pytest
from scipy import signal

from course_utils import conv
from course_utils.conv import SEED_IMAGE, SHARPEN
from course_utils.labs import cnn_basics as cnn  # before Keras: sets TensorFlow's knobs


@pytest.fixture(scope="module")
def keras():
    import keras

    return keras


def test_keras_conv2d_is_the_seed_example_and_scipys_correlation():
    y = cnn.keras_conv2d(SEED_IMAGE, SHARPEN, padding="same")
    assert y.shape == (5, 5) and y[0, 0] == 114
    reference = signal.correlate2d(SEED_IMAGE, SHARPEN, mode="same", boundary="fill")
    np.testing.assert_allclose(y, reference, atol=1e-3)


@pytest.mark.parametrize(
    "shape, f_dim, stride, padding, dilation",
    [
        ((6, 6, 3), 3, 2, "same", 1),  # even input, 3x3/2: 'same' pads (0, 1)
        ((8, 8, 1), 1, 2, "same", 1),  # a 1x1/2 (ResNet's shortcut) pads nothing
        ((7, 8, 2), 2, 1, "same", 1),
        ((9, 9, 2), 3, 1, "valid", 2),
    ],
)
def test_keras_conv2d_equals_im2col_times_kernels(shape, f_dim, stride, padding, dilation):
    rng = np.random.default_rng(0)
    x = rng.integers(-5, 6, size=shape).astype(np.float32)
    w = rng.integers(-3, 4, size=(f_dim, f_dim, shape[2], 2)).astype(np.float32)
    b = np.array([0.5, -1.0], np.float32)
    y = cnn.keras_conv2d(x, w, stride, padding, dilation, bias=b)
    cols = conv.im2col(x, f_dim, stride, padding, dilation)
    np.testing.assert_allclose(y.reshape(-1, 2), cols @ w.reshape(-1, 2) + b, atol=1e-4)


def test_output_size_formula_matches_keras_shapes(keras):
    for n, k, s, p, d in itertools.product(
        (7, 8, 13), (1, 2, 3, 5), (1, 2, 3), ("valid", "same"), (1, 2)
    ):
        if s > 1 and d > 1:
            continue  # Keras/TF refuse strides > 1 together with dilation > 1
        if p == "valid" and n < conv.effective_kernel_size(k, d):
            continue
        layer = keras.layers.Conv2D(1, k, strides=s, padding=p, dilation_rate=d)
        expected = layer.compute_output_shape((None, n, n, 1))[1]
        assert conv.conv_output_size(n, k, s, p, d) == expected, (n, k, s, p, d)


@pytest.mark.parametrize(
    "layers, side",
    [
        ([(3, 1)] * 3, 7),  # three 3x3 convs see what one 7x7 sees
        ([(5, 1), (2, 2), (5, 1), (2, 2), (5, 1)], 32),  # LeNet-5 C5 sees its whole input
        ([(7, 2), (3, 2)], 11),  # ResNet-50's stem: 7x7/2 conv, 3x3/2 pool
        ([(2, 2)] * 3, 8),  # pools side by side tile the input
    ],
)
def test_receptive_field_probe(layers, side):
    assert cnn.receptive_field_probe(layers, 48) == side


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: cnn.keras_conv2d(SEED_IMAGE, SHARPEN, padding=1), ValueError, "padding"),
        (lambda: cnn.keras_conv2d(np.zeros((5, 5, 3)), SHARPEN), ValueError, "do not fit"),
        (lambda: cnn.keras_conv2d(SEED_IMAGE, SHARPEN, stride=0), ValueError, "stride"),
        (lambda: cnn.receptive_field_probe([(3, 1)], 0), ValueError, "n"),
    ],
)
def test_bad_input_names_the_argument(call, error, words):
    with pytest.raises(error, match=words):
        call()
