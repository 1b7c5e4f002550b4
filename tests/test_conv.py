"""Tests of course_utils.conv: the seed-002 worked examples, and agreement with Keras and SciPy."""

import itertools

import numpy as np
import pytest
from scipy import signal

from course_utils import conv
from course_utils.conv import (
    SEED_IMAGE,
    SEED_KERNELS,
    SEED_POOL_INPUT_AVG,
    SEED_POOL_INPUT_MAX,
    SHARPEN,
)
from course_utils.labs import (
    cnn_basics as cnn,  # before TensorFlow/Keras (sets their environment knobs)
)


@pytest.fixture(scope="module")
def keras():
    import keras

    return keras


# ----------------------------------------------------------------- seed 002, convolution


def test_sharpen_first_output_is_114():
    y = conv.conv2d(SEED_IMAGE, SHARPEN, padding=1)
    assert y.shape == (5, 5)
    assert y[0, 0] == 5 * 60 - 113 - 73 == 114


def test_sharpen_whole_map_matches_scipy_and_keras():
    ours = conv.conv2d(SEED_IMAGE, SHARPEN, padding=1)
    reference = signal.correlate2d(SEED_IMAGE, SHARPEN, mode="same", boundary="fill")
    np.testing.assert_array_equal(ours, reference)
    np.testing.assert_allclose(
        cnn.keras_conv2d(SEED_IMAGE, SHARPEN, padding="same"), ours, atol=1e-3
    )


def test_slide_artefact_extra_zero_column_gives_six_columns():
    # the seed's padded figure is 7 rows x 8 columns: 5 + 1 + 2 columns -> 6 outputs, not 5
    assert conv.conv_output_size(5 + 1 + 2, 3) == 6
    assert conv.conv_output_size(5, 3, padding=1) == 5


def test_flip_kernel_symmetric_sharpen_vs_asymmetric_seed_kernels():
    np.testing.assert_array_equal(conv.flip_kernel(SHARPEN), SHARPEN)
    x = SEED_IMAGE
    for k in SEED_KERNELS:
        true_conv = conv.conv2d(x, conv.flip_kernel(k), padding=1)
        np.testing.assert_allclose(true_conv, signal.convolve2d(x, k, mode="same"), atol=1e-9)
        assert not np.allclose(true_conv, conv.conv2d(x, k, padding=1))
    k4 = np.arange(2 * 3 * 2 * 1).reshape(2, 3, 2, 1)
    np.testing.assert_array_equal(conv.flip_kernel(k4)[0, 0], k4[1, 2])


# ----------------------------------------------------------------- sizes


def test_output_size_formula_by_hand():
    assert conv.conv_output_size(32, 5) == 28  # LeNet-5 C1 (seed 002 table)
    assert conv.conv_output_size(224, 7, stride=2, padding=3) == 112  # ResNet-50 conv1
    assert conv.conv_output_size(227, 11, stride=4) == 55  # AlexNet conv1
    assert conv.conv_output_size(7, 3, stride=2) == 3
    assert conv.conv_output_size(8, 3, stride=2) == 3  # floor((8 - 3) / 2) + 1
    assert conv.conv_output_size(8, 3, stride=2, padding="same") == 4  # ceil(8 / 2)
    assert conv.conv_output_size(10, 3, dilation=2) == 6  # window spans 5
    assert conv.effective_kernel_size(3, 2) == 5
    assert conv.effective_kernel_size(3) == 3


def test_padding_amounts_same_puts_odd_zero_last():
    assert conv.padding_amounts(5, 3, padding="same") == (1, 1)
    assert conv.padding_amounts(6, 3, stride=2, padding="same") == (0, 1)
    assert conv.padding_amounts(6, 4, padding="same") == (1, 2)
    assert conv.padding_amounts(6, 3, padding="valid") == (0, 0)
    assert conv.padding_amounts(6, 3, padding=2) == (2, 2)


def test_output_size_matches_keras_shapes(keras):
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


# ----------------------------------------------------------------- channels, stride, dilation


@pytest.mark.parametrize(
    "shape, f_dim, stride, padding, dilation",
    [
        ((5, 5, 3), 3, 1, "valid", 1),  # seed 004: 3 input and 2 output channels
        ((6, 6, 3), 3, 2, "same", 1),  # asymmetric 'same' padding
        ((7, 8, 2), 2, 1, "same", 1),  # even kernel
        ((9, 9, 2), 3, 1, "same", 2),  # dilated
        ((10, 9, 1), 3, 3, "valid", 1),
    ],
)
def test_multichannel_conv_matches_keras(shape, f_dim, stride, padding, dilation):
    rng = np.random.default_rng(0)
    x = rng.integers(-5, 6, size=shape).astype(np.float32)
    w = rng.integers(-3, 4, size=(f_dim, f_dim, shape[2], 2)).astype(np.float32)
    b = np.array([0.5, -1.0], np.float32)
    expected = cnn.keras_conv2d(x, w, stride, padding, dilation, bias=b)
    direct = conv.conv2d(x, w, stride, padding, dilation, bias=b)
    lowered = conv.conv2d_im2col(x, w, stride, padding, dilation, bias=b)
    assert direct.shape == expected.shape == lowered.shape
    np.testing.assert_allclose(direct, expected, atol=1e-4)
    np.testing.assert_allclose(lowered, expected, atol=1e-4)


def test_output_channel_is_sum_over_input_channels():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 6, 3))
    w = rng.normal(size=(3, 3, 3, 2))
    y = conv.conv2d(x, w, padding=1)
    for o in range(2):
        by_channel = sum(conv.conv2d(x[:, :, c], w[:, :, c, o], padding=1) for c in range(3))
        np.testing.assert_allclose(y[:, :, o], by_channel, atol=1e-12)


def test_dtype_and_shapes():
    x32 = np.ones((4, 4, 1), np.float32)
    assert conv.conv2d(x32, np.ones((3, 3, 1, 1), np.float32)).dtype == np.float32
    assert conv.conv2d_im2col(x32, np.ones((3, 3, 1, 1), np.float32)).dtype == np.float32
    assert conv.conv2d(SEED_IMAGE, SHARPEN).dtype == np.float64
    assert conv.conv2d(x32, SHARPEN).shape == (2, 2, 1)  # 3-D in, 3-D out


# ----------------------------------------------------------------- im2col


def test_im2col_shape_rows_and_product():
    cols = conv.im2col(SEED_IMAGE, 3, padding=1)
    assert cols.shape == (25, 9)
    np.testing.assert_array_equal(cols[0], [0, 0, 0, 0, 60, 113, 0, 73, 121])
    np.testing.assert_array_equal(
        (cols @ SHARPEN.reshape(-1)).reshape(5, 5), conv.conv2d(SEED_IMAGE, SHARPEN, padding=1)
    )
    x = np.arange(5 * 5 * 3).reshape(5, 5, 3)
    cols3 = conv.im2col(x, 3)
    assert cols3.shape == (9, 27)
    np.testing.assert_array_equal(cols3[4], x[1:4, 1:4, :].reshape(-1))


def test_im2col_1d_flipped_is_toeplitz():
    x = np.arange(1, 8)[None, :]  # one row: a 1-D signal
    cols = conv.im2col(x, (1, 3))[:, ::-1]  # flipped kernel order: entries x[i - u]
    for i in range(1, cols.shape[0]):
        np.testing.assert_array_equal(cols[i, 1:], cols[i - 1, :-1])  # constant diagonals


def test_im2col_expansion():
    assert conv.im2col_expansion(28, 3, padding="same") == 9.0
    assert conv.im2col_expansion(28, 3, stride=2, padding="same") == pytest.approx(9 / 4)
    assert conv.im2col_expansion(28, 1) == 1.0
    x = np.zeros((28, 28, 16))
    cols = conv.im2col(x, 3, padding="same")
    assert cols.size / x.size == conv.im2col_expansion(28, 3, padding="same")


# ----------------------------------------------------------------- pooling


def test_seed_pooling_tables():
    np.testing.assert_array_equal(conv.max_pool2d(SEED_POOL_INPUT_MAX), [[100, 184], [12, 45]])
    np.testing.assert_array_equal(conv.avg_pool2d(SEED_POOL_INPUT_AVG), [[36.5, 80], [12, 15]])
    # the slide's 36 is what the max-pooling slide's input (29 in the corner) gives
    assert conv.avg_pool2d(SEED_POOL_INPUT_MAX)[0, 0] == 36.0


def test_pooling_matches_keras():
    np.testing.assert_array_equal(cnn.keras_pool2d(SEED_POOL_INPUT_MAX), [[100, 184], [12, 45]])
    np.testing.assert_array_equal(cnn.keras_pool2d(SEED_POOL_INPUT_AVG, op="avg")[0, 0], 36.5)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(7, 6, 3)).astype(np.float32)
    for pool, stride in [(2, None), (3, 1), (2, 3)]:
        for op in ("max", "avg"):
            expected = cnn.keras_pool2d(x, pool, stride, op)
            np.testing.assert_allclose(conv.pool2d(x, pool, stride, op), expected, atol=1e-6)


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: conv.conv_output_size(5, 3, stride=0), ValueError, "stride"),
        (lambda: conv.conv_output_size(5, 3, padding=-1), ValueError, "padding"),
        (lambda: conv.conv_output_size(5, 3, padding="full"), ValueError, "padding"),
        (lambda: conv.conv_output_size(5, 3, padding=1.5), TypeError, "padding"),
        (lambda: conv.conv_output_size(2, 3), ValueError, "does not fit"),
        (lambda: conv.conv_output_size(5, 0), ValueError, "f_dim"),
        (lambda: conv.conv_output_size(5, 3.0), TypeError, "f_dim"),
        (lambda: conv.conv_output_size(5, 3, dilation=0), ValueError, "dilation"),
        (lambda: conv.conv2d(np.zeros((2, 5, 5, 1)), SHARPEN), ValueError, "(H, W)"),
        (lambda: conv.conv2d(np.zeros((5, 5, 3)), SHARPEN), ValueError, "in_ch"),
        (lambda: conv.conv2d(np.zeros((5, 5, 3)), np.zeros((3, 3, 2, 1))), ValueError, "in_ch"),
        (lambda: conv.conv2d(np.zeros((5, 5)), np.zeros((3, 3, 1))), ValueError, "kernel"),
        (lambda: conv.conv2d(np.array([["a"]]), SHARPEN), TypeError, "numeric"),
        (lambda: conv.conv2d(SEED_IMAGE, SHARPEN, bias=[1, 2]), ValueError, "bias"),
        (lambda: conv.pool2d(SEED_IMAGE, op="min"), ValueError, "op"),
        (lambda: conv.pool2d(SEED_IMAGE, pool_size=0), ValueError, "pool_size"),
        (lambda: conv.im2col(SEED_IMAGE, (3, 3, 3)), ValueError, "f_dim"),
        (lambda: conv.flip_kernel(np.zeros(3)), ValueError, "kernel"),
        (lambda: cnn.keras_conv2d(SEED_IMAGE, SHARPEN, padding=1), ValueError, "padding"),
        (lambda: cnn.keras_pool2d(SEED_IMAGE, op="sum"), ValueError, "op"),
    ],
)
def test_bad_input_names_the_argument(call, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()
