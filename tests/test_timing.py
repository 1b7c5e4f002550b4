"""Tests of course_utils.timing: timers, latency statistics, devices and model latency."""

import math
import time
from collections import namedtuple

import numpy as np
import pytest

from course_utils import machine, timing
from course_utils.timing import LatencyStats, Timer, measure_latency

# isort: split
# Keras and TensorFlow only after course_utils, which sets TensorFlow's environment knobs.
import keras
import tensorflow as tf


def _mlp(layers: int = 2, width: int = 16) -> keras.Model:
    return keras.Sequential(
        [keras.Input((8,))]
        + [keras.layers.Dense(width, activation="relu") for _ in range(layers)]
        + [keras.layers.Dense(4)]
    )


@pytest.fixture(scope="module")
def tiny_model():
    return _mlp()


# --------------------------------------------------------------------------- Timer, stats


def test_timer_measures_a_sleep():
    with Timer() as t:
        assert np.isnan(t.seconds)
        time.sleep(0.01)
    assert 0.01 <= t.seconds < 0.5


def test_timer_runs_sync_before_the_clock_stops():
    calls = []
    with Timer(sync=lambda: (calls.append(1), time.sleep(0.01))) as t:
        pass
    assert calls == [1] and t.seconds >= 0.01
    with pytest.raises(TypeError, match="sync"):
        Timer(sync=3)


def test_latency_stats_summary():
    stats = LatencyStats([0.001 * k for k in range(1, 11)])
    assert stats.n == 10
    assert stats.median == pytest.approx(0.0055)
    assert stats.p90 == pytest.approx(np.percentile(np.arange(1, 11) * 1e-3, 90))
    assert stats.min == pytest.approx(0.001) and stats.max == pytest.approx(0.010)
    assert stats.mean == pytest.approx(0.0055)
    assert stats.std == pytest.approx(np.std(np.arange(1, 11) * 1e-3))
    assert str(stats).startswith("median 5.50 ms (p90 9.10 ms, p99 ")
    assert str(stats).endswith("n=10)")
    assert stats.to_dict()["median_seconds"] == stats.median and stats.to_dict()["n"] == 10


@pytest.mark.parametrize("samples", [[], [0.1, -0.1], [float("nan")]])
def test_latency_stats_rejects_bad_samples(samples):
    with pytest.raises(ValueError, match="samples_seconds"):
        LatencyStats(samples)


def test_ms_formatting():
    assert timing.ms(0.0123) == "12.3 ms"
    assert timing.ms(0.1104) == "110 ms"
    assert timing.ms(0.00123) == "1.23 ms"
    assert timing.ms(2.5e-5) == "0.025 ms"


# --------------------------------------------------------------------------- measure_latency


def test_sleep_5ms_measures_5_to_6_5_ms():
    # The median is robust to a few slow wake-ups on a busy machine.
    stats = measure_latency(time.sleep, 0.005, warmup=2, repeats=40)
    assert 0.005 <= stats.median <= 0.0065, stats


def test_measure_latency_calls_warmup_plus_repeats_times():
    calls = []
    stats = measure_latency(lambda x, y=0: calls.append(x + y), 1, y=2, warmup=3, repeats=7)
    assert len(calls) == 10 and set(calls) == {3} and stats.n == 7


def test_measure_latency_with_progress_bar():
    assert measure_latency(lambda: None, warmup=0, repeats=3, progress=True).n == 3


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"repeats": 0}, ValueError, "repeats"),
        ({"warmup": -1}, ValueError, "warmup"),
        ({"repeats": 2.5}, TypeError, "repeats"),
        ({"warmup": True}, TypeError, "warmup"),
    ],
)
def test_measure_latency_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        measure_latency(lambda: None, **kwargs)


def test_measure_latency_needs_a_callable():
    with pytest.raises(TypeError, match="fn must be callable"):
        measure_latency(42)


def test_materialize_tf_tensors_and_containers():
    Pair = namedtuple("Pair", "a b")
    out = timing.materialize(
        {
            "t": tf.ones(2),
            "v": tf.Variable([1.0]),
            "nest": [tf.zeros(1), (3, "x")],
            "p": Pair(tf.ones(1), None),
        }
    )
    assert isinstance(out["t"], np.ndarray) and out["t"].tolist() == [1.0, 1.0]
    assert isinstance(out["v"], np.ndarray)
    assert isinstance(out["nest"], list) and isinstance(out["nest"][0], np.ndarray)
    assert out["nest"][1] == (3, "x")
    assert isinstance(out["p"], Pair) and isinstance(out["p"].a, np.ndarray) and out["p"].b is None
    arr = np.arange(3)
    assert timing.materialize(arr) is arr


# --------------------------------------------------------------------------- devices


def test_device_names():
    for name in ("cpu", "CPU", "/CPU:0", "/device:CPU:0", " cpu:0 "):
        assert timing.device_name(name) == "/CPU:0"
    for bad in ("tpu", "cpu:1", "gpu0x", ""):
        with pytest.raises(ValueError, match="device"):
            timing.device_name(bad)
    with pytest.raises(TypeError, match="device"):
        timing.device_name(0)


@pytest.mark.skipif(timing.gpu_available(), reason="this machine has a GPU")
def test_gpu_request_without_gpu_raises_and_explains():
    assert timing.device_name("auto") == "/CPU:0"
    with pytest.raises(timing.GPUUnavailableError) as info:
        timing.device_name("gpu")
    message = str(info.value)
    assert "Colab" in message and "pip install -e .[gpu]" in message and "'cpu'" in message
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(timing.GPUUnavailableError):
        timing.resolve_device("/GPU:0")
    with pytest.warns(RuntimeWarning, match="Falling back to the CPU"):
        assert timing.resolve_device("gpu", fallback=True) == "/CPU:0"
    with pytest.raises(timing.GPUUnavailableError):
        timing.measure_model_latency(_mlp(), device="gpu")


@pytest.mark.skipif(not timing.gpu_available(), reason="needs a GPU")
def test_gpu_is_named_and_described():  # pragma: no cover - runs on GPU machines only
    assert timing.device_name("gpu") == "/GPU:0"
    assert machine.describe_device("gpu").startswith("GPU: ")


def test_describe_cpu():
    text = machine.describe_device("cpu")
    assert text.startswith("CPU: ") and machine.cpu_model() in text and "core" in text


# --------------------------------------------------------------------------- models


def test_compiled_predict_matches_eager_and_does_not_retrace(tiny_model):
    forward = timing.compiled_predict(tiny_model)
    for batch in (1, 2, 3, 5, 8):
        x = tf.random.stateless_uniform((batch, 8), seed=(batch, 0))
        np.testing.assert_allclose(
            forward(x).numpy(), tiny_model(x, training=False).numpy(), rtol=1e-5, atol=1e-6
        )
    assert forward.experimental_get_tracing_count() <= 2


def test_measure_model_latency(tiny_model):
    stats = timing.measure_model_latency(tiny_model, batch_size=4, warmup=1, repeats=5)
    assert stats.n == 5 and 0 < stats.min <= stats.median <= stats.max < 5.0


def test_compiled_call_beats_eager_on_a_deep_narrow_model():
    # 16 layers: eager mode pays Python overhead per layer, the tf.function once.
    model = _mlp(layers=16, width=16)
    x = tf.random.stateless_uniform((1, 8), seed=(0, 0))
    fast = timing.measure_latency(timing.compiled_predict(model), x, warmup=3, repeats=20)
    slow = timing.measure_latency(lambda: model(x, training=False), warmup=3, repeats=20)
    assert fast.min < slow.min, (fast, slow)


def test_measure_model_latency_bad_arguments(tiny_model):
    with pytest.raises(ValueError, match="batch_size"):
        timing.measure_model_latency(tiny_model, batch_size=0)
    with pytest.raises(ValueError, match="input_shape"):
        timing.measure_model_latency(tiny_model, input_shape=(None, 8))


def test_input_shape_for_a_model_without_one():
    class Doubler(keras.Model):
        def call(self, x):
            return 2.0 * x

    with pytest.raises(ValueError, match="input_shape"):
        timing.measure_model_latency(Doubler(), repeats=1)
    stats = timing.measure_model_latency(Doubler(), input_shape=(3,), warmup=0, repeats=2)
    assert stats.n == 2


def test_measure_throughput(tiny_model):
    points = timing.measure_throughput(tiny_model, [1, 8], warmup=1, repeats=5)
    assert [p.batch_size for p in points] == [1, 8]
    for p in points:
        assert p.samples_per_second == pytest.approx(p.batch_size / p.latency.median)
        assert str(p).startswith(f"batch {p.batch_size}: ")
    with pytest.raises(ValueError, match="batch_sizes"):
        timing.measure_throughput(tiny_model, [])
    with pytest.raises(ValueError, match="batch_sizes"):
        timing.measure_throughput(tiny_model, [4, 0])


# --------------------------------------------------------------------------- one record, one timer, one comparison


def _tiny_model():
    import keras

    with timing.on_device("cpu"):
        return keras.Sequential(
            [keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, name="conv"), keras.layers.Flatten(),
             keras.layers.Dense(10, name="fc")],
            name="tiny",
        )  # fmt: skip


def test_timed_flops_rule():
    stats = LatencyStats([0.002, 0.001, 0.003])
    t = timing.TimedFlops("gemm", 4e9, stats, bytes_moved=1e9, kind="GEMM")
    assert t.seconds == 0.002 and t.flop_per_s == 2e12 and t.best_flop_per_s == 4e12
    assert t.intensity_flop_per_byte == 4.0 and "GFLOP/s" in str(t)
    assert math.isnan(timing.TimedFlops("x", 1.0, stats).intensity_flop_per_byte)


def test_time_layers_uses_the_profiler_and_the_median():
    model = _tiny_model()
    rows = timing.time_layers(model, batch_size=2, warmup=1, repeats=3)
    assert [r.name for r in rows] == ["conv", "fc"]
    conv = rows[0]
    assert conv.flop == 2 * 2 * 6 * 6 * 4 * 9 and conv.kind == "Conv2D" and conv.device == "/CPU:0"
    assert conv.flop_per_s == conv.flop / conv.latency.median
    assert timing.time_layers(model, kinds=("Dense",), warmup=0, repeats=1)[0].name == "fc"
    with pytest.raises(ValueError, match="no top-level layer"):
        timing.time_layers(model, kinds=("LSTM",))
    assert timing.call_overhead(repeats=5).n == 5


def test_compare_latency_interleaves_and_validates():
    calls = {"a": lambda: sum(range(100)), "b": lambda: sum(range(1000))}
    stats = timing.compare_latency(calls, rounds=3, repeats={"a": 2, "b": 1}, warmup=1)
    assert stats["a"].n == 6 and stats["b"].n == 3
    with pytest.raises(ValueError, match="empty"):
        timing.compare_latency({})
    with pytest.raises(TypeError, match="callable"):
        timing.compare_latency({"x": 3})
    with pytest.raises(ValueError, match="repeats has no entry"):
        timing.compare_latency(calls, repeats={"a": 1})
    model = _tiny_model()
    out = timing.compare_latency({"tiny": timing.model_call(model, batch_size=4)}, rounds=1, repeats=2)
    assert out["tiny"].n == 2


def test_weights_must_live_where_the_timing_runs(monkeypatch):
    """On a GPU runtime a model built outside a device scope keeps its weights on the GPU."""
    model = _tiny_model()
    assert timing.weights_device(model) == "/CPU:0"
    monkeypatch.setattr(timing, "weights_device", lambda m: "/GPU:0")
    with pytest.raises(ValueError, match="on_device"):
        timing.measure_model_latency(model, device="cpu", warmup=0, repeats=1)
    with pytest.raises(ValueError, match="copy the weights"):
        timing.model_call(model, device="cpu")
