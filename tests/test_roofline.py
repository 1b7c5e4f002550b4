"""Tests of course_utils.roofline: the formula by hand, the ridge point, arrays, errors."""

import numpy as np
import pytest

from course_utils import hardware, roofline
from course_utils.roofline import Roof, attainable_flop_per_s, bound, ridge_point

PEAK, BW = 100e9, 10e9  # 100 GFLOP/s, 10 GB/s: ridge at 10 FLOP/byte


def test_formula_by_hand():
    assert ridge_point(PEAK, BW) == pytest.approx(10.0)
    assert attainable_flop_per_s(0, PEAK, BW) == 0.0
    assert attainable_flop_per_s(1, PEAK, BW) == pytest.approx(10e9)  # 1 FLOP/B x 10 GB/s
    assert attainable_flop_per_s(2.5, PEAK, BW) == pytest.approx(25e9)
    assert attainable_flop_per_s(10, PEAK, BW) == pytest.approx(
        100e9
    )  # at the ridge both roofs meet
    assert attainable_flop_per_s(1000, PEAK, BW) == pytest.approx(100e9)
    assert attainable_flop_per_s(float("inf"), PEAK, BW) == PEAK
    assert isinstance(attainable_flop_per_s(3, PEAK, BW), float)


def test_vectorised_over_arrays():
    intensity = np.array([[0.5, 5, 10], [20, 200, 0]])
    got = attainable_flop_per_s(intensity, PEAK, BW)
    assert isinstance(got, np.ndarray) and got.shape == intensity.shape
    np.testing.assert_allclose(got, [[5e9, 50e9, 100e9], [100e9, 100e9, 0]])
    np.testing.assert_allclose(attainable_flop_per_s([1, 2], PEAK, BW), [10e9, 20e9])
    labels = bound(intensity, PEAK, BW)
    assert labels.tolist() == [["memory", "memory", "compute"], ["compute", "compute", "memory"]]


def test_bound():
    assert bound(9.99, PEAK, BW) == "memory"
    assert bound(10, PEAK, BW) == "compute"
    assert bound(1e6, PEAK, BW) == "compute"
    assert isinstance(bound(1, PEAK, BW), str)


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((1, 0, BW), ValueError, "peak_flop_per_s"),
        ((1, -PEAK, BW), ValueError, "peak_flop_per_s"),
        ((1, float("nan"), BW), ValueError, "peak_flop_per_s"),
        ((1, PEAK, 0), ValueError, "bandwidth_bytes_per_s"),
        ((1, PEAK, -BW), ValueError, "bandwidth_bytes_per_s"),
        ((-1, PEAK, BW), ValueError, "intensity"),
        ((float("nan"), PEAK, BW), ValueError, "intensity"),
        (([1, -2], PEAK, BW), ValueError, "intensity"),
        (("high", PEAK, BW), TypeError, "intensity"),
        ((1, "100e9", BW), TypeError, "peak_flop_per_s"),
    ],
)
def test_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        attainable_flop_per_s(*args)
    with pytest.raises(error, match=match):
        bound(*args)


def test_ridge_point_errors():
    with pytest.raises(ValueError, match="bandwidth"):
        ridge_point(PEAK, 0)
    with pytest.raises(ValueError, match="peak"):
        ridge_point(-1, BW)


def test_roof():
    roof = Roof("toy", PEAK, BW)
    assert roof.ridge_point == pytest.approx(10)
    assert roof.attainable(4) == pytest.approx(40e9)
    np.testing.assert_allclose(roof.attainable(np.array([1, 100])), [10e9, 100e9])
    assert roof.bound(4) == "memory" and roof.bound(40) == "compute"
    with pytest.raises(ValueError, match="peak_flop_per_s"):
        Roof("bad", 0, BW)
    with pytest.raises(ValueError, match="bandwidth_bytes_per_s"):
        Roof("bad", PEAK, -1)


def test_roof_from_catalogue_device():
    tpu = Roof.from_device(hardware.get("tpu v1"), "int8")
    assert tpu.name == "Google TPU v1 (int8)"
    assert tpu.ridge_point == pytest.approx(92e12 / 34e9)  # ~2706 op/byte
    # Jouppi et al. 2017 count MACs per byte: their ridge is half of ours, ~1350
    assert tpu.ridge_point / 2 == pytest.approx(1353, rel=0.01)
    k80 = Roof.from_device(hardware.get("k80"))
    assert k80.peak_flop_per_s == 8.73e12 and k80.bandwidth_bytes_per_s == 480e9
    assert k80.ridge_point == pytest.approx(hardware.get("k80").ridge_point())
    with pytest.raises(hardware.UnknownPrecisionError, match="fp16"):
        Roof.from_device(hardware.get("k80"), "fp16")


def test_same_intensity_different_bound_on_different_machines():
    # a batch-1 fully connected layer in fp32: ~0.5 FLOP per byte of weights (seed 004)
    fc = 0.5
    for device in hardware.catalog():
        roof = Roof.from_device(device, next(iter(device.peak_flops)))
        assert roof.bound(fc) == "memory", device.name
    assert roofline.bound(1e5, *[hardware.get("h100").peak("bf16"), 3.35e12]) == "compute"
