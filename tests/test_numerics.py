"""Tests of course_utils.numerics: number formats and affine quantization (Jacob et al. 2018)."""

import math

import ml_dtypes
import numpy as np
import pytest

from course_utils import numerics

# --------------------------------------------------------------------------- number formats


@pytest.mark.parametrize(("name", "dtype"), [("fp32", np.float32), ("fp16", np.float16)])
def test_float_formats_match_numpy_finfo(name, dtype):
    f, info = numerics.FORMATS[name], np.finfo(dtype)
    assert f.max_value == float(info.max)
    assert f.min_normal == float(info.smallest_normal)
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
    assert (int8.min_value, int8.max_value) == (-128, 127)
    assert (int4.min_value, int4.max_value) == (-8, 7)
    assert (binary.min_value, binary.max_value, binary.layout) == (-1, 1, "sign only")
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
        numerics.spacing("fp8", [1.0])


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
    assert int(p.zero_point) == -43
    codes = numerics.quantize(x, p)
    assert codes.dtype == np.int8
    np.testing.assert_array_equal(codes, [-128, -86, -43, -17, 127])
    back = numerics.dequantize(codes, p)
    assert back[2] == 0.0  # the real zero is exact
    assert np.max(np.abs(back - x)) <= float(p.scale) / 2 + 1e-6  # float32 output


def test_symmetric_params_by_hand():
    x = np.array([-0.5, 0.25, 1.27])
    p = numerics.choose_params(x, bits=8, symmetric=True)
    assert int(p.zero_point) == 0 and (p.qmin, p.qmax) == (-127, 127)
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


def test_per_channel_params_keep_small_channels():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 3, 8, 16)) * np.logspace(-3, 0, 16)  # ranges differ 1000x
    p = numerics.choose_params(w, bits=8, symmetric=True, axis=-1)
    assert p.scale.shape == (16,) and p.axis == 3
    np.testing.assert_allclose(p.scale, np.abs(w).max(axis=(0, 1, 2)) / 127)
    by_channel = numerics.fake_quantize(w, 8, axis=-1)
    by_tensor = numerics.fake_quantize(w, 8)
    small = w[..., 0]
    assert numerics.sqnr_db(small, by_channel[..., 0]) > 35  # 8-bit quality in every channel
    assert numerics.sqnr_db(small, by_tensor[..., 0]) <= 0  # one scale: all rounded to 0
    assert numerics.sqnr_db(w[..., -1], by_tensor[..., -1]) == pytest.approx(
        numerics.sqnr_db(w[..., -1], by_channel[..., -1]), abs=1.0)  # the largest: the same


def test_all_zero_channel_does_not_divide_by_zero():
    w = np.zeros((4, 3))
    w[:, 1] = [1.0, -2.0, 0.5, 0.0]
    out = numerics.fake_quantize(w, bits=8, axis=-1)
    assert np.all(np.isfinite(out)) and np.all(out[:, 0] == 0)


def test_error_falls_about_6_db_per_bit_and_is_uniform():
    x = np.random.default_rng(2).uniform(-1, 1, 100_000)
    sqnr = [numerics.sqnr_db(x, numerics.fake_quantize(x, b)) for b in range(4, 11)]
    slope = np.polyfit(range(4, 11), sqnr, 1)[0]
    assert 5.8 < slope < 6.3
    p = numerics.choose_params(x, bits=10, symmetric=True)
    err = x - numerics.dequantize(numerics.quantize(x, p), p)
    assert np.sqrt(np.mean(err**2)) == pytest.approx(float(p.scale) / math.sqrt(12), rel=0.02)


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
