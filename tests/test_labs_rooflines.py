"""Tests of course_utils.labs.rooflines: layers under a roof, measured roofs, the drawings."""

import warnings

import matplotlib
import numpy as np
import pytest

import course_utils.labs.rooflines as rp
from course_utils.roofline import Roof

matplotlib.use("Agg")
import keras  # noqa: E402  (after course_utils)
import matplotlib.pyplot as plt  # noqa: E402

from course_utils.profiler import profile  # noqa: E402

ROOF = Roof("toy", 100e9, 10e9)  # ridge at 10 FLOP/byte
IN, OUT = 256, 64


def dense_model():
    return keras.Sequential(
        [keras.Input((IN,)), keras.layers.Dense(OUT, name="fc"), keras.layers.ReLU(name="relu")],
        name="dense_model",
    )


def small_cnn():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flat")(x)
    outputs = keras.layers.Dense(4, name="fc")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def test_layer_group():
    assert rp.layer_group("DepthwiseConv2D") == "depthwise"
    assert rp.layer_group("Conv2D") == rp.layer_group("SeparableConv2D") == "conv"
    assert rp.layer_group("Dense") == "fc"
    assert rp.layer_group("LSTM") == "other"
    assert rp.layer_group("MaxPooling2D") == "other"
    with pytest.raises(TypeError, match="kind"):
        rp.layer_group(3)


@pytest.mark.parametrize("batch, bits", [(1, 32), (1, 8), (64, 32), (64, 8)])
def test_dense_intensity_is_16_batch_over_bits(batch, bits):
    """Seed 004: an FC layer does 16 x BATCH / BITS FLOP per weight byte (bias aside)."""
    prof = profile(dense_model(), batch_size=batch, bits=bits)
    (weights,) = rp.place_layers(prof, ROOF, intensity="weights")
    (total,) = rp.place_layers(prof, ROOF)
    by_hand = 2 * batch * IN * OUT / ((IN * OUT + OUT) * bits / 8)
    assert weights.intensity_flop_per_byte == pytest.approx(by_hand)
    assert by_hand == pytest.approx(16 * batch / bits * IN / (IN + 1))
    moved = ((IN * OUT + OUT) + batch * (IN + OUT)) * bits / 8
    assert total.intensity_flop_per_byte == pytest.approx(2 * batch * IN * OUT / moved)
    assert total.intensity_flop_per_byte < weights.intensity_flop_per_byte


def test_model_intensity_by_hand():
    prof = profile(small_cnn(), batch_size=2, bits=32)
    moved = sum(r.weight_bytes + r.activation_bytes + r.output_bytes for r in prof.layers)
    assert rp.model_intensity(prof) == pytest.approx(prof.flops / moved)
    assert rp.model_intensity(prof, "weights") == pytest.approx(prof.flops / prof.weight_bytes)
    empty = profile(keras.Sequential([keras.Input((4,)), keras.layers.Flatten()]), 1, 32)
    with pytest.raises(ValueError, match="moves no bytes"):
        rp.model_intensity(empty, "weights")


def test_place_layers_keeps_weight_layers_on_their_roof():
    prof = profile(small_cnn(), batch_size=1, bits=32)
    points = rp.place_layers(prof, ROOF, achieved_flop_per_s={"dw": 1e9})
    assert [p.name for p in points] == ["conv", "dw", "fc"]
    assert [p.group for p in points] == ["conv", "depthwise", "fc"]
    for p, row in zip(points, [r for r in prof.layers if r.macs], strict=True):
        assert p.flops == row.flops == 2 * row.macs
        assert p.intensity_flop_per_byte == pytest.approx(row.total_intensity)
        x = p.intensity_flop_per_byte
        assert p.attainable_flop_per_s == pytest.approx(min(100e9, x * 10e9))
        assert p.bound == ("memory" if x < 10 else "compute")
    dw = points[1]
    assert dw.achieved_flop_per_s == 1e9
    assert dw.fraction_of_roof == pytest.approx(1e9 / dw.attainable_flop_per_s)
    assert points[0].achieved_flop_per_s is None and points[0].fraction_of_roof is None


def test_place_layers_bad_input():
    prof = profile(small_cnn(), batch_size=1, bits=32)
    with pytest.raises(ValueError, match="not weight layers of 'small_cnn'"):
        rp.place_layers(prof, ROOF, achieved_flop_per_s={"pool": 1e9})
    with pytest.raises(TypeError, match="Roof"):
        rp.place_layers(prof, (100e9, 10e9))
    with pytest.raises(ValueError, match="intensity"):
        rp.place_layers(prof, ROOF, intensity="both")


def test_roofline_seconds_by_hand():
    points = [
        rp.LayerPoint("a", "Dense", "fc", 10**9, 0.5, 5e9, "memory"),  # 0.2 s on the slope
        rp.LayerPoint("b", "Conv2D", "conv", 10**11, 50.0, 100e9, "compute"),  # 1 s at the peak
    ]
    assert rp.roofline_seconds(points) == pytest.approx(1.2)
    with pytest.raises(ValueError, match="intensity > 0"):
        rp.roofline_seconds([])
    with pytest.raises(ValueError, match="intensity > 0"):
        rp.roofline_seconds([rp.LayerPoint("z", "Dense", "fc", 1, 0.0, 0.0, "memory")])


def test_gemm_libraries_name_each_backend(monkeypatch):
    libs = rp.gemm_libraries()
    assert set(libs) == {"numpy", "tensorflow"} and libs["numpy"]
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    assert rp.gemm_libraries()["tensorflow"] == "oneDNN"
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert rp.gemm_libraries()["tensorflow"] == "Eigen"
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")  # e.g. Apple silicon: the build decides
    assert "default" in rp.gemm_libraries()["tensorflow"]
    # Apple silicon: NumPy's wheels are built against Accelerate
    accelerate = {"Build Dependencies": {"blas": {"name": "accelerate", "version": "unknown"}}}
    monkeypatch.setattr(np, "show_config", lambda mode="stdout": accelerate)
    assert rp.gemm_libraries()["numpy"] == "accelerate unknown"
    monkeypatch.setattr(np, "show_config", lambda mode="stdout": None)  # an older NumPy
    assert rp.gemm_libraries()["numpy"] == "unknown BLAS"


def test_drawing():
    ax = rp.roofline_axes(title="toy")
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "FLOP per byte" in ax.get_xlabel() and "FLOP/s" in ax.get_ylabel()
    rp.plot_roof(ax, ROOF, color="black")  # keyword arguments go to the line
    x, y = ax.lines[0].get_data()
    np.testing.assert_allclose(y, ROOF.attainable(np.asarray(x)))
    assert 10 in x  # the line bends at the ridge point
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "ridge 10 FLOP/B" in texts and "100 GFLOP/s" in texts and "10 GB/s" in texts
    prof = profile(small_cnn(), batch_size=1, bits=32)
    points = rp.place_layers(prof, ROOF, achieved_flop_per_s={"conv": 1e9})
    rp.plot_layers(ax, points)
    assert len(ax.collections) == 3  # one scatter per group: conv, depthwise, fc
    rp.plot_layers(ax, points, y="achieved", marker="x", label="timed")
    assert len(ax.collections) == 4  # only the measured layer
    assert ax.collections[-1].get_offsets()[0][1] == 1e9
    assert ax.collections[-1].get_label() == "timed: conv"
    with pytest.raises(ValueError, match="achieved"):
        rp.plot_layers(ax, points, y="measured")
    with pytest.raises(TypeError, match="Roof"):
        rp.plot_roof(ax, "toy")
    plt.close(ax.figure)


def test_no_stray_warnings_from_placing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        points = rp.place_layers(profile(dense_model(), 1, 32), ROOF)
    assert [p.name for p in points] == ["fc"]
