"""Tests of course_utils.conv: the seed-002 examples, output sizes, 'same' padding, im2col."""

import numpy as np
import pytest
from scipy import signal

from course_utils import conv
from course_utils.conv import SEED_IMAGE, SEED_POOL_INPUT_AVG, SEED_POOL_INPUT_MAX, SHARPEN


def direct_conv(x, w, stride=1, dilation=1):
    """Cross-correlation of an already padded (H, W, C) image with (k, k, C, O) kernels."""
    k, span = w.shape[0], dilation * (w.shape[0] - 1) + 1
    out_h, out_w = ((side - span) // stride + 1 for side in x.shape[:2])
    y = np.zeros((out_h, out_w, w.shape[3]))
    for i in range(out_h):
        for j in range(out_w):
            window = x[
                i * stride : i * stride + span : dilation, j * stride : j * stride + span : dilation
            ]
            y[i, j] = np.einsum("uvc,uvco->o", window, w)
    assert window.shape[:2] == (k, k)
    return y


# ----------------------------------------------------------------- seed 002


def test_seed_sharpen_example_via_im2col_is_scipys_correlation():
    cols = conv.im2col(SEED_IMAGE, 3, padding=1)
    y = (cols @ SHARPEN.ravel()).reshape(5, 5)
    assert y[0, 0] == 5 * 60 - 113 - 73 == 114
    reference = signal.correlate2d(SEED_IMAGE, SHARPEN, mode="same", boundary="fill")
    np.testing.assert_array_equal(y, reference)


def test_seed_pooling_tables_hold_the_slides_slip():
    # the average-pooling slide prints 36; its window (31, 15, 0, 100) averages 36.5, and the
    # max-pooling slide's window (29 in the corner) averages exactly 36
    assert SEED_POOL_INPUT_AVG[:2, :2].mean() == 36.5
    assert SEED_POOL_INPUT_MAX[:2, :2].mean() == 36.0
    assert (SEED_POOL_INPUT_AVG != SEED_POOL_INPUT_MAX).sum() == 1


# ----------------------------------------------------------------- sizes


def test_output_size_formula_by_hand():
    assert conv.conv_output_size(32, 5) == 28  # LeNet-5 C1 (seed 002 table)
    assert conv.conv_output_size(224, 7, stride=2, padding=3) == 112  # ResNet-50 conv1
    assert conv.conv_output_size(227, 11, stride=4) == 55  # AlexNet conv1
    assert conv.conv_output_size(5 + 1 + 2, 3) == 6  # the seed's figure: one zero column too many
    assert conv.conv_output_size(8, 3, stride=2) == 3  # floor((8 - 3) / 2) + 1
    assert conv.conv_output_size(8, 3, stride=2, padding="same") == 4  # ceil(8 / 2)
    assert conv.conv_output_size(10, 3, dilation=2) == 6  # window spans 5
    assert conv.effective_kernel_size(3, 2) == 5
    assert conv.effective_kernel_size(3) == 3


def test_same_padding_puts_the_odd_zero_last():
    assert conv.padding_amounts(5, 3, padding="same") == (1, 1)
    assert conv.padding_amounts(8, 3, stride=2, padding="same") == (0, 1)
    assert conv.padding_amounts(5, 3, stride=2, padding="same") == (1, 1)
    assert conv.padding_amounts(6, 4, padding="same") == (1, 2)
    assert conv.padding_amounts(8, 1, stride=2, padding="same") == (0, 0)  # never negative
    assert conv.padding_amounts(6, 3, padding="valid") == (0, 0)
    assert conv.padding_amounts(6, 3, padding=2) == (2, 2)


# ----------------------------------------------------------------- im2col


@pytest.mark.parametrize(
    "shape, f_dim, stride, padding, dilation",
    [
        ((5, 5, 3), 3, 1, "valid", 1),  # seed 004: 3 input and 2 output channels
        ((8, 8, 2), 3, 2, "same", 1),  # asymmetric 'same' padding (0, 1)
        ((7, 8, 2), 2, 1, "same", 1),  # even kernel
        ((9, 9, 2), 3, 1, "same", 2),  # dilated
        ((10, 9, 1), 3, 3, 1, 1),  # integer padding
    ],
)
def test_im2col_times_kernels_is_the_convolution(shape, f_dim, stride, padding, dilation):
    rng = np.random.default_rng(0)
    x = rng.integers(-5, 6, size=shape).astype(np.float64)
    w = rng.integers(-3, 4, size=(f_dim, f_dim, shape[2], 2)).astype(np.float64)
    pads = [conv.padding_amounts(n, f_dim, stride, padding, dilation) for n in shape[:2]]
    expected = direct_conv(np.pad(x, (*pads, (0, 0))), w, stride, dilation)
    cols = conv.im2col(x, f_dim, stride, padding, dilation)
    assert cols.shape == (expected.shape[0] * expected.shape[1], f_dim * f_dim * shape[2])
    assert cols.dtype == x.dtype
    np.testing.assert_array_equal((cols @ w.reshape(-1, 2)).reshape(expected.shape), expected)


def test_im2col_rows_are_flattened_windows():
    x = np.arange(5 * 5 * 3).reshape(5, 5, 3)
    cols = conv.im2col(x, 3)
    assert cols.shape == (9, 27)
    np.testing.assert_array_equal(cols[4], x[1:4, 1:4, :].reshape(-1))
    cols = conv.im2col(SEED_IMAGE, 3, padding=1)
    np.testing.assert_array_equal(cols[0], [0, 0, 0, 0, 60, 113, 0, 73, 121])


def test_im2col_memory_is_about_k_squared_times_the_input():
    x = np.zeros((28, 28, 16), np.float32)
    assert conv.im2col(x, 3, padding="same").size == 9 * x.size
    assert conv.im2col(x, 3, 2, "same").size == 9 * x.size // 4
    assert conv.im2col(x, 1).size == x.size  # a 1x1 conv needs no lowering


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
        (lambda: conv.im2col(np.zeros((2, 5, 5, 1)), 3), ValueError, "(H, W)"),
        (lambda: conv.im2col(np.array([["a"]]), 1), TypeError, "numeric"),
        (lambda: conv.im2col(SEED_IMAGE, (3, 3)), TypeError, "f_dim"),
    ],
)
def test_bad_input_names_the_argument(call, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()
