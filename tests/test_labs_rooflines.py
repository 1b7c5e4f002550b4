"""Tests of course_utils.labs.rooflines: layers under a roof, measured roofs, the drawings."""

import warnings

import matplotlib
import numpy as np
import pytest

import course_utils.labs.rooflines as rp
from course_utils import hardware, machine
from course_utils.machine import BandwidthProbe
from course_utils.roofline import Roof
from course_utils.timing import LatencyStats

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
    assert rp.layer_group("LSTM") == "rnn"
    assert rp.layer_group("MaxPooling2D") == "other"
    with pytest.raises(TypeError, match="kind"):
        rp.layer_group(3)


@pytest.mark.parametrize("batch, bits", [(1, 32), (1, 8), (64, 32), (64, 8)])
def test_dense_intensity_is_16_batch_over_bits(batch, bits):
    """Seed 004: an FC layer does 16 x BATCH / BITS FLOP per weight byte (bias aside)."""
    row = profile(dense_model(), batch_size=batch, bits=bits).layers[0]
    by_hand = 2 * batch * IN * OUT / ((IN * OUT + OUT) * bits / 8)
    assert rp.layer_intensity(row, "weights") == pytest.approx(by_hand)
    assert by_hand == pytest.approx(16 * batch / bits * IN / (IN + 1))
    moved = ((IN * OUT + OUT) + batch * (IN + OUT)) * bits / 8
    assert rp.layer_intensity(row, "total") == pytest.approx(2 * batch * IN * OUT / moved)
    assert rp.layer_intensity(row, "total") < rp.layer_intensity(row, "weights")
    with pytest.raises(ValueError, match="intensity"):
        rp.layer_intensity(row, "activations")


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
    with pytest.raises(ValueError, match="not weight layers"):
        rp.place_layers(prof, ROOF, achieved_flop_per_s={"pool": 1e9})
    with pytest.raises(TypeError, match="Roof"):
        rp.place_layers(prof, (100e9, 10e9))
    with pytest.raises(ValueError, match="intensity"):
        rp.place_layers(prof, ROOF, intensity="both")


def point(flops, bound):
    return rp.LayerPoint("l", "Conv2D", "conv", flops, 1.0, 1.0, bound)


def test_memory_bound_share():
    assert rp.memory_bound_share([point(30, "memory"), point(70, "compute")]) == 0.3
    assert rp.memory_bound_share([point(5, "compute")]) == 0.0
    with pytest.raises(ValueError, match="no FLOPs"):
        rp.memory_bound_share([])


def test_roofline_seconds_by_hand():
    points = [
        rp.LayerPoint("a", "Dense", "fc", 10**9, 0.5, 5e9, "memory"),  # 0.2 s on the slope
        rp.LayerPoint("b", "Conv2D", "conv", 10**11, 50.0, 100e9, "compute"),  # 1 s at the peak
    ]
    assert rp.roofline_seconds(points) == pytest.approx(1.2)
    with pytest.raises(ValueError, match="empty"):
        rp.roofline_seconds([])
    with pytest.raises(ValueError, match="attainable"):
        rp.roofline_seconds([rp.LayerPoint("z", "Dense", "fc", 1, 0.0, 0.0, "memory")])


def test_roof_at_falls_back_to_a_catalogued_precision():
    roof, used, note = rp.roof_at(hardware.get("h100"), "fp32")
    assert (
        note == "" and used == "fp32" and roof.peak_flop_per_s == hardware.get("h100").peak("fp32")
    )
    tpu, used, note = rp.roof_at(hardware.get("tpu v1"), "fp32")
    assert used == "int8" and tpu.peak_flop_per_s == 92e12 and "int8" in note and "no fp32" in note
    assert tpu.ridge_point == pytest.approx(92e12 / 34e9)  # 2,706 op/byte (Jouppi: 1,350 MAC)
    v100, used, note = rp.roof_at(hardware.get("v100"), "int8")
    assert (
        used == "fp16"
        and v100.peak_flop_per_s == hardware.get("v100").peak("fp16")
        and "fp16" in note
    )
    with pytest.raises(ValueError, match="precision"):
        rp.roof_at(hardware.get("v100"), "int4")


def fake_probe(size_bytes, bytes_per_s, kind="triad"):
    seconds = machine.STREAM_ARRAYS[kind] * size_bytes / bytes_per_s
    return BandwidthProbe(kind, size_bytes, 1, 1, LatencyStats(np.array([seconds, 2 * seconds])))


def test_cache_level_bandwidths_assigns_working_sets_to_levels():
    caches = {"L1d": 32 * 2**10, "L2": 512 * 2**10, "L3": 32 * 2**20}
    probes = [
        fake_probe(8 * 2**10, 200e9),  # 24 KiB: L1
        fake_probe(16 * 2**10, 90e9),  # 48 KiB: L2
        fake_probe(64 * 2**10, 100e9),  # 192 KiB: L2 (best of the two)
        fake_probe(4 * 2**20, 40e9),  # 12 MiB: L3
        fake_probe(16 * 2**20, 30e9),  # 48 MiB: between L3 and DRAM, no level
        fake_probe(256 * 2**20, 10e9),  # 768 MiB: DRAM
    ]
    got = rp.cache_level_bandwidths(probes, caches)
    assert list(got) == ["L1d", "L2", "L3", "DRAM"]
    assert got["L1d"] == pytest.approx(200e9)
    assert got["L2"] == pytest.approx(100e9)
    assert got["L3"] == pytest.approx(40e9)
    assert got["DRAM"] == pytest.approx(10e9)
    with pytest.raises(ValueError, match="cache_bytes"):
        rp.cache_level_bandwidths(probes, {})
    with pytest.raises(ValueError, match="probes"):
        rp.cache_level_bandwidths([], caches)


def test_measure_machine_roof_small():
    m = rp.measure_machine_roof(
        n=128,
        min_rounds=1,
        max_rounds=2,
        repeats=2,
        bandwidth_size_bytes=2**22,
        bandwidth_repeats=2,
    )
    assert set(m.gemm) == {"tensorflow", "numpy"} and 1 <= m.rounds <= 2
    assert m.peak_flop_per_s == m.gemm["tensorflow"].best_flop_per_s > 0
    assert m.bandwidth_bytes_per_s == m.bandwidth.best_bytes_per_s > 0
    assert m.backend_ratio == pytest.approx(
        m.gemm["tensorflow"].best_flop_per_s / m.gemm["numpy"].best_flop_per_s
    )
    assert m.roof.ridge_point == pytest.approx(m.peak_flop_per_s / m.bandwidth_bytes_per_s)
    assert m.others_cpu_percent >= 0 and isinstance(m.busy, bool)
    with pytest.raises(ValueError, match="max_rounds"):
        rp.measure_machine_roof(min_rounds=3, max_rounds=2)
    with pytest.raises(ValueError, match="agree_within"):
        rp.measure_machine_roof(agree_within=1.5)


def test_measure_layer_flop_per_s():
    model = small_cnn()
    timings = rp.measure_layer_flop_per_s(model, batch_size=2, repeats=2)
    prof = profile(model, batch_size=2, bits=32)
    assert list(timings) == ["conv", "dw", "fc"]
    for row in prof.layers:
        if row.macs:
            t = timings[row.name]
            assert t.flops == row.flops and t.batch_size == 2 and t.kind == row.kind
            assert t.latency.n == 2
            assert t.best_flop_per_s == pytest.approx(t.flops / t.latency.min)
            assert t.best_flop_per_s >= t.median_flop_per_s > 0
    only_big = rp.measure_layer_flop_per_s(model, repeats=1, min_flops=prof.layers[0].flops // 2)
    assert list(only_big) == ["conv"]
    with pytest.raises(ValueError, match="batch_size"):
        rp.measure_layer_flop_per_s(model, batch_size=0)


def test_measure_layer_flop_per_s_warns_about_nested_layers():
    inner = small_cnn()
    outer = keras.Sequential([keras.Input((16, 16, 3)), inner], name="outer")
    with pytest.warns(UserWarning, match="top-level"):
        assert rp.measure_layer_flop_per_s(outer, repeats=1) == {}


def test_drawing():
    ax = rp.roofline_axes(title="toy")
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "FLOP per byte" in ax.get_xlabel() and "FLOP/s" in ax.get_ylabel()
    rp.plot_roof(ax, ROOF, color="black")
    x, y = ax.lines[0].get_data()
    np.testing.assert_allclose(y, ROOF.attainable(np.asarray(x)))
    assert 10 in x  # the line bends at the ridge point
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "ridge 10 FLOP/B" in texts and "100 GFLOP/s" in texts and "10 GB/s" in texts
    prof = profile(small_cnn(), batch_size=1, bits=32)
    points = rp.place_layers(prof, ROOF, achieved_flop_per_s={"conv": 1e9})
    rp.plot_layers(ax, points)
    assert len(ax.collections) == 3  # one scatter per group: conv, depthwise, fc
    rp.plot_layers(ax, points, y="achieved", marker="x")
    assert len(ax.collections) == 4  # only the measured layer
    assert ax.collections[-1].get_offsets()[0][1] == 1e9
    with pytest.raises(ValueError, match="achieved"):
        rp.plot_layers(ax, points, y="measured")
    with pytest.raises(TypeError, match="Roof"):
        rp.plot_roof(ax, "toy")
    with pytest.raises(ValueError, match="bandwidth_label"):
        rp.plot_roof(ax, ROOF, bandwidth_label="left")
    plt.close(ax.figure)


def test_plot_bandwidth_sweep():
    probes = [fake_probe(2**k, 1e10 * (1 + k % 3)) for k in (12, 16, 20)]
    ax = rp.plot_bandwidth_sweep(probes, {"L1d": 32768, "L2": 2**19})
    x, y = ax.lines[0].get_data()
    assert list(x) == [3 * 2**12, 3 * 2**16, 3 * 2**20]
    np.testing.assert_allclose(y, [p.best_bytes_per_s for p in probes])
    assert {t.get_text().strip() for t in ax.texts} == {"L1d", "L2"}
    with pytest.raises(ValueError, match="probes"):
        rp.plot_bandwidth_sweep([])
    plt.close(ax.figure)


def test_no_stray_warnings_from_placing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        points = rp.place_layers(profile(dense_model(), 1, 32), ROOF)
    assert [p.name for p in points] == ["fc"]
