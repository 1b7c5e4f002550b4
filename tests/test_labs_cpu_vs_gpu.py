"""Tests of course_utils.labs.cpu_vs_gpu: notebook 04's benchmark, its records, and ``gpu-check``.

Besides this CPU, they play the other machines the course meets: a GPU runtime (Keras told it
sees ``gpu:0``, TensorFlow placing the work on the CPU, a fake NVML counter) and a JAX-only
machine (``KERAS_BACKEND=jax`` in a subprocess, skipped where JAX is not installed).
"""

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from course_utils import __main__ as cli
from course_utils import models, timing
from course_utils.labs import cpu_vs_gpu as bench
from course_utils.labs.cpu_vs_gpu import MLPPoint
from course_utils.profiler import profile

TINY = {"widths": (16, 512), "gemm": (16, 256), "h2d": (2**12, 2**20), "batch": (1, 256), "lenet": 1_000,
        "energy_seconds": 0.1}
ROOT = Path(__file__).resolve().parent.parent


def _point(**changes) -> MLPPoint:
    macs = 784 * 64 + 64 * 64 + 64 * 10
    values = dict(width=64, params=55_050, macs_per_sample=macs, batch_size=128, steps_timed=10,
                  step_seconds=0.002, fit_overhead_seconds=0.05)  # fmt: skip
    return MLPPoint(**{**values, **changes})


@pytest.fixture(scope="module")
def cpu_record():
    """A small real CPU recording (a few seconds): two widths, two GEMMs, two batch sizes."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bench, "QUICK", TINY)
        return bench.record(["cpu"], quick=True, repeats=1, command="test", log=lambda line: None)


# --------------------------------------------------------------------------- the MLP point


def test_mlp_point_extrapolates_one_epoch():
    p = _point(step_seconds=0.002, fit_overhead_seconds=0.05)
    assert p.epoch_seconds == pytest.approx(0.05 + 469 * 0.002)  # ceil(60,000 / 128) = 469 steps
    # forward + weight gradients + input gradients, but no gradient for the 784 input pixels
    assert p.flop_per_step == 2 * 128 * (3 * p.macs_per_sample - 784 * 64)
    assert p.flop_per_step < 3 * 128 * 2 * p.macs_per_sample  # seed 004's 'training = 3 x inference' bounds it
    assert p.train_flop_per_s == pytest.approx(p.flop_per_step / 0.002)
    assert "n=   64" in str(p) and "s/epoch" in str(p)


@pytest.mark.parametrize("changes", [{"step_seconds": 0.0}, {"step_seconds": float("nan")},
                                     {"fit_overhead_seconds": -1.0}, {"batch_size": 0}])  # fmt: skip
def test_mlp_point_rejects_bad_values(changes):
    with pytest.raises(ValueError, match="step_seconds > 0"):
        _point(**changes)


def test_time_mlp_training_counts_what_the_profiler_counts():
    p = bench.time_mlp_training(32, repeats=1, min_seconds=0.0)
    model = models.mlp(32)
    assert p.params == model.count_params() and p.macs_per_sample == profile(model).macs
    assert p.step_seconds > 0 and p.steps_timed >= 1
    with pytest.raises(ValueError, match="min_seconds"):
        bench.time_mlp_training(16, min_seconds=-1)


# --------------------------------------------------------------------------- devices, any backend


def test_device_names_and_the_jit_setting():
    assert bench.keras_device("cpu") == bench.keras_device("/CPU:0") == "cpu:0"
    assert bench.device_label("cpu").startswith("CPU: ")
    assert bench.backend() == "tensorflow" and bench.jit_setting() is False  # the course's setting
    assert bench.jit_setting(True) is True
    with pytest.raises(ValueError, match="'gpu:N'"):
        bench.keras_device("tpu")


@pytest.mark.skipif(bool(bench.gpu_devices()), reason="this machine has a GPU")
def test_asking_for_a_missing_gpu_says_what_to_do():
    with pytest.raises(timing.GPUUnavailableError, match="Colab"):
        bench.keras_device("gpu")


def test_importing_the_lab_loads_neither_keras_nor_tensorflow():
    code = "import sys, course_utils.labs.cpu_vs_gpu; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.stdout.split() == ["False", "False"], done.stderr


# --------------------------------------------------------------------------- real measurements on this CPU


def test_cpu_record_shows_overhead_and_scaling(cpu_record, tmp_path):
    rec = bench.load(bench.save(cpu_record, tmp_path / "cpu.json"))
    run = rec.run("cpu")
    assert rec.run("gpu") is None and run.h2d is None and run.lenet is None
    small, large = run.mlp
    assert large.flop_per_step / small.flop_per_step > 50
    # far more work per step, far less extra time: the small model is mostly overhead
    assert large.train_flop_per_s > 3 * small.train_flop_per_s
    tiny, big = run.gemm.values()
    assert isinstance(big, timing.TimedFlops) and big.flop == 2 * 256**3 and big.device == "cpu:0"
    assert big.best_flop_per_s > 20 * tiny.best_flop_per_s  # a 16 x 16 product is all overhead
    assert 256 / run.batch[256].median > 5 * 1 / run.batch[1].median  # batching raises throughput
    assert cpu_record["backend"] == "tensorflow" and cpu_record["xla"] is False
    assert any("no GPU visible" in s for s in cpu_record["skipped"])
    machine, settings = cpu_record["machine"], cpu_record["settings"]
    if hasattr(os, "getloadavg"):  # the load before the run and after it: was the machine busy?
        assert len(machine["load_average_at_start_1_5_15_min"]) == len(machine["load_average_1_5_15_min"]) == 3
    assert settings["fp32_matmul"] == bench.matmul_precision() and settings["h2d_copies_per_sample"] == bench.H2D_COPIES
    if not bench.energy_counter("cpu"):  # RAPL unreadable (a VM, or root-only): said, not estimated
        assert run.energy is None and any("energy on cpu:0" in s for s in cpu_record["skipped"])


def test_h2d_sweep_times_a_copy_rounded_to_whole_floats():
    copies = bench.h2d_sweep([4099, 2**16], device="cpu", repeats=3, copies=4)  # on a CPU: host to host
    assert list(copies) == [4096, 2**16] and all(s.min > 0 and s.n == 3 for s in copies.values())
    with pytest.raises(ValueError, match="copies"):
        bench.h2d_sweep([4096], device="cpu", copies=0)


def test_h2d_sweep_reports_seconds_per_copy(monkeypatch):
    """One sample is one burst of copies and one wait: its seconds are shared among the copies."""
    waits = []
    monkeypatch.setattr(bench, "wait", lambda tensors: waits.append(len(tensors)))

    def burst_takes_80_ms(fn, warmup, repeats):
        fn()
        return timing.LatencyStats(np.full(repeats, 0.08))

    monkeypatch.setattr(bench, "measure_latency", burst_takes_80_ms)
    found = bench.h2d_sweep([4096], device="cpu", repeats=5, copies=8)
    assert waits == [8] and found[4096].median == pytest.approx(0.01) and found[4096].n == 5


def test_the_fp32_matmul_setting_is_read_not_assumed():
    import tensorflow as tf

    was = tf.config.experimental.tensor_float_32_execution_enabled()
    try:
        for on in (False, True):
            tf.config.experimental.enable_tensor_float_32_execution(on)
            assert bench.matmul_precision() == {
                "setting": f"tf.config.experimental.tensor_float_32_execution_enabled()={on}", "tf32_allowed": on}
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(was)


# --------------------------------------------------------------------------- a GPU runtime, played


class FakeNVML(types.ModuleType):
    """pynvml with one Volta-or-newer GPU whose energy counter rises 500 mJ per reading."""

    def __init__(self):
        super().__init__("pynvml")
        self.millijoules = 0

    def nvmlInit(self): ...  # noqa: N802
    def nvmlShutdown(self): ...  # noqa: N802
    def nvmlDeviceGetCount(self): return 1  # noqa: N802, E704
    def nvmlDeviceGetHandleByIndex(self, i): return i  # noqa: N802, E704
    def nvmlDeviceGetName(self, handle): return b"Fake GPU"  # noqa: N802, E704

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):  # noqa: N802
        self.millijoules += 500
        return self.millijoules


def test_a_gpu_runtime_runs_every_gpu_path(monkeypatch, tmp_path):
    """Keras says it sees gpu:0 (TensorFlow soft-places the work on the CPU), NVML is fake."""
    monkeypatch.setattr(bench, "gpu_devices", lambda: ("gpu:0",))
    monkeypatch.setattr(bench, "device_label", lambda d: "GPU: Fake T4" if "gpu" in d else "CPU: this one")
    monkeypatch.setitem(sys.modules, "pynvml", FakeNVML())
    monkeypatch.setattr(bench, "QUICK", TINY)
    data = bench.record(["gpu"], quick=True, repeats=1, log=lambda line: None)
    assert data["skipped"] == [] and data["machine"]["gpus"] == ["GPU: Fake T4"]
    rec = bench.load(bench.save(data, tmp_path / "gpu.json"))
    run = rec.run("gpu")
    assert run.device == "gpu:0" and list(run.h2d) == [2**12, 2**20]
    assert all(len(p.step_seconds_samples) == 5 for p in run.mlp)  # a GPU's millisecond steps: more repeats
    assert all(t.latency.n == 50 for t in run.gemm.values()) and all(s.n == 30 for s in run.batch.values())
    assert run.energy["joules"] > 0 and run.energy["flop"] > 0 and "NVML" in run.energy["source"]
    assert len(run.lenet["epoch_seconds"]) == 2 and run.lenet["energy"]["joules"] > 0
    assert 0 <= run.lenet["test_accuracy"] <= 1
    assert "GPU: Fake T4, recorded" in rec.label("gpu") and "XLA off" in rec.label("gpu")


def test_measure_energy_without_nvml_says_why(monkeypatch):
    monkeypatch.setattr(bench, "gpu_devices", lambda: ("gpu:0",))
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml fails
    assert not bench.energy_counter("gpu")
    with pytest.raises(ValueError, match="nvidia-ml-py"):
        bench.measure_energy(lambda: None, "gpu")


# --------------------------------------------------------------------------- records


def test_record_round_trip_and_label(cpu_record, tmp_path):
    rec = bench.load(bench.save(cpu_record, tmp_path / "ref.json"))
    assert rec.source == str(tmp_path / "ref.json") and rec.data == json.loads(json.dumps(cpu_record))
    run = rec.run("cpu")
    assert [p.width for p in run.mlp] == [16, 512] and list(run.gemm) == [16, 256]
    assert run.mlp[0].epoch_seconds == MLPPoint(**cpu_record["runs"][0]["mlp"][0]).epoch_seconds
    label = rec.label("cpu")
    assert label.startswith("CPU: ") and cpu_record["created_utc"][:10] in label
    assert "tensorflow" in label and "XLA off" in label
    with pytest.raises(ValueError, match=".json"):
        bench.save(cpu_record, tmp_path / "ref.txt")


def _write(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_load_explains_bad_files(cpu_record, tmp_path):
    with pytest.raises(FileNotFoundError, match="gpu-check --out"):
        bench.load(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="not valid JSON"):
        bench.load(_write(tmp_path / "a.json", "{not json"))
    with pytest.raises(ValueError, match="schema"):
        bench.load(_write(tmp_path / "b.json", {**cpu_record, "schema": "course_utils.bench/cpu-vs-gpu/1"}))
    broken = json.loads(json.dumps(cpu_record))
    del broken["runs"][0]["mlp"][0]["step_seconds"]
    with pytest.raises(ValueError, match="damaged"):
        bench.load(_write(tmp_path / "c.json", broken))
    fake = json.loads(json.dumps(cpu_record))
    fake["runs"][0]["kind"] = "gpu"  # a CPU run relabelled as a GPU one is refused
    with pytest.raises(ValueError, match="is not a 'gpu' run"):
        bench.load(_write(tmp_path / "d.json", fake))
    unlabelled = {k: v for k, v in cpu_record.items() if k != "xla"}
    with pytest.raises(ValueError, match="damaged"):
        bench.load(_write(tmp_path / "e.json", unlabelled))


def test_references_lists_records_newest_first_and_skips_bad_files(cpu_record, tmp_path):
    bench.save({**cpu_record, "created_utc": "2020-01-01T00:00:00Z"}, tmp_path / "old.json")
    bench.save(cpu_record, tmp_path / "new.json")
    _write(tmp_path / "junk.json", "[]")
    with pytest.warns(UserWarning, match="skipping junk.json"):
        found = bench.references(tmp_path)
    assert [Path(r.source).name for r in found] == ["new.json", "old.json"]
    assert bench.references(tmp_path / "nowhere") == []


def test_committed_reference_records_are_valid_and_labelled():
    for path in sorted((ROOT / "datasets" / "reference").glob("*.json")):
        record = bench.load(path)  # raises on a damaged or mislabelled file (schema 2 or 3)
        assert record.data["schema"] in bench.READABLE
        assert record.data["backend"] and record.data["versions"]["keras"], record.source
        for run in record.runs:
            assert run.mlp and run.gemm and run.batch, f"{record.source}: {run.kind} run without sweeps"
            assert (run.h2d is None) == (run.kind == "cpu"), f"{record.source}: copies only on GPUs"


# --------------------------------------------------------------------------- the command line


@pytest.mark.parametrize(("argv", "message"), [(["--out", "ref.txt"], ".json"), (["--repeats", "0"], "--repeats")])
def test_gpu_check_usage_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["gpu-check", *argv]) == 2
    assert message in capsys.readouterr().err


def test_gpu_check_on_this_machine(capsys, tmp_path, monkeypatch):
    """On a CPU-only machine: a quick run of the CPU paths, and what it skipped."""
    monkeypatch.setattr(bench, "QUICK", TINY)
    out = tmp_path / "check.json"
    assert cli.main(["gpu-check", "--out", str(out), "--repeats", "1", "--note", "a test"]) == 0
    printed = capsys.readouterr().out
    assert "on tensorflow, jit_compile=False" in printed and f"written: {out}" in printed
    record = bench.load(out)
    if not bench.gpu_devices():
        assert "skipped: no GPU visible to Keras" in printed and record.run("gpu") is None
        assert [p.width for p in record.run("cpu").mlp] == list(TINY["widths"]) and record.data["quick"]
    assert record.data["note"] == "a test"
    assert cli.main(["gpu-check", "--out", str(out)]) == 2  # exists: needs --force
    assert "--force" in capsys.readouterr().err


def test_gpu_check_runs_on_jax_without_tensorflow(tmp_path):
    """The GPU machine has JAX and no TensorFlow: the same command with KERAS_BACKEND=jax."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    probe = subprocess.run([sys.executable, "-c", "import jax"], env=env, capture_output=True, timeout=120)
    if probe.returncode:
        pytest.skip("JAX is not installed here (pip install 'jax[cpu]' in a separate environment to run this)")
    out = tmp_path / "jax.json"
    code = (f"import sys; from course_utils.labs import cpu_vs_gpu as b; b.QUICK = {TINY!r}; "
            f"from course_utils.__main__ import main; rc = main(['gpu-check', '--out', {str(out)!r}, '--repeats', '1']); "
            "print('rc', rc, 'tensorflow' in sys.modules)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.stdout.strip().endswith("rc 0 False"), done.stdout + done.stderr
    record = bench.load(out)
    assert record.data["backend"] == "jax" and record.data["jit_compile"] is True and record.data["xla"] is True
    assert "XLA on" in record.label("cpu") and np.isfinite(record.run("cpu").mlp[0].step_seconds)
