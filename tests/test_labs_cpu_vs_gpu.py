"""Tests of course_utils.labs.cpu_vs_gpu: the CPU vs GPU benchmark of notebook 04 and its reference files."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from course_utils import __main__ as cli
from course_utils import hardware, models, timing
from course_utils.labs import cpu_vs_gpu as bench
from course_utils.labs.cpu_vs_gpu import GPUEstimate, MLPPoint, TransferPoint
from course_utils.profiler import profile

HAVE_GPU = timing.gpu_available()


def _point(**changes) -> MLPPoint:
    values = dict(
        width=64, params=bench.mlp_params(64), macs_per_sample=bench.mlp_macs_per_sample(64),
        batch_size=128, steps_timed=10, step_seconds=0.002, fit_overhead_seconds=0.05,
    )  # fmt: skip
    values.update(changes)
    return MLPPoint(**values)


@pytest.fixture(scope="module")
def record():
    """A small real CPU recording: two widths, two GEMM sizes (a few seconds)."""
    return bench.run_cpu_vs_gpu(
        devices="cpu", widths=(16, 512), gemm_sizes=(16, 256), repeats=1, min_seconds=0.05,
        command="test",
    )  # fmt: skip


# --------------------------------------------------------------------------- formulas


@pytest.mark.parametrize("width", [16, 100, 4096])
def test_mlp_formulas_match_the_model_and_the_profiler(width):
    model = models.mlp(width)
    assert bench.mlp_params(width) == model.count_params()
    assert bench.mlp_macs_per_sample(width) == profile(model).macs
    assert bench.mlp_params(width) == width**2 + 796 * width + 10


def test_mlp_params_reproduces_the_slide():
    # seed 002, 'i=12, n=4096': 3,215,360 + 16,781,312 + 40,970
    assert bench.mlp_params(4096) == 20_037_642 == 3_215_360 + 16_781_312 + 40_970


def test_train_flop_per_step_is_three_forward_passes():
    macs = bench.mlp_macs_per_sample(1024)
    assert bench.train_flop_per_step(macs, 128) == 3 * 2 * macs * 128
    with pytest.raises(ValueError, match="batch_size"):
        bench.train_flop_per_step(macs, 0)


def test_mlp_formulas_reject_bad_widths():
    for bad, error in ((0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="width"):
            bench.mlp_params(bad)


# --------------------------------------------------------------------------- MLPPoint


def test_mlp_point_extrapolates_one_epoch():
    p = _point(step_seconds=0.002, fit_overhead_seconds=0.05)
    assert p.steps_per_epoch == 469  # ceil(60,000 / 128)
    assert p.epoch_seconds == pytest.approx(0.05 + 469 * 0.002)
    assert p.flop_per_step == 6 * 128 * p.macs_per_sample
    assert p.train_flop_per_s == pytest.approx(p.flop_per_step / 0.002)
    assert p.input_bytes_per_step == 128 * (784 * 4 + 1)
    assert "n=   64" in str(p) and "s/epoch" in str(p)


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"step_seconds": 0.0}, "step_seconds"),
        ({"step_seconds": float("nan")}, "step_seconds"),
        ({"fit_overhead_seconds": -1.0}, "fit_overhead_seconds"),
        ({"steps_timed": 0}, "steps_timed"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_mlp_point_rejects_bad_values(changes, name):
    with pytest.raises(ValueError, match=name):
        _point(**changes)


# --------------------------------------------------------------------------- time = overhead + work / rate


def test_fit_affine_recovers_overhead_and_rate():
    work = np.geomspace(1e6, 1e11, 8)
    seconds = 2e-3 + work / 5e10
    overhead, rate = bench.fit_affine(work, seconds)
    assert overhead == pytest.approx(2e-3, rel=1e-6) and rate == pytest.approx(5e10, rel=1e-6)
    noisy = seconds * (1 + 0.05 * np.sin(np.arange(8)))  # +-5 % noise
    overhead, rate = bench.fit_affine(work, noisy)
    assert overhead == pytest.approx(2e-3, rel=0.15) and rate == pytest.approx(5e10, rel=0.15)


def test_fit_affine_keeps_the_overhead_non_negative():
    work = np.array([1.0, 2.0, 4.0])
    overhead, rate = bench.fit_affine(work, [0.9, 2.0, 4.2])  # free fit: intercept < 0
    assert overhead == 0.0 and rate == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize(
    ("work", "seconds", "message"),
    [
        ([1.0], [1.0], "at least 2"),
        ([1.0, 1.0], [1.0, 2.0], "different amounts of work"),
        ([1.0, 2.0], [1.0, 0.0], "seconds > 0"),
        ([1.0, 100.0], [2.0, 1.0], "does not grow"),
    ],
)
def test_fit_affine_errors(work, seconds, message):
    with pytest.raises(ValueError, match=message):
        bench.fit_affine(work, seconds)


def test_step_and_transfer_models():
    points = [_point(width=w, macs_per_sample=bench.mlp_macs_per_sample(w)) for w in (16, 4096)]
    points = [
        _point(width=p.width, macs_per_sample=p.macs_per_sample, step_seconds=1e-3 + p.flop_per_step / 1e11)
        for p in points
    ]  # fmt: skip
    model = bench.fit_step_model(points)
    assert model.overhead_seconds == pytest.approx(1e-3) and model.flop_per_s == pytest.approx(1e11)
    assert model.step_seconds(1e11) == pytest.approx(1.001)
    copies = [TransferPoint(s, 1e-5 + s / 1e10, 2e-5 + s / 1e10, 5) for s in (2**12, 2**20, 2**26)]
    link = bench.fit_transfer(copies)
    assert link.latency_seconds == pytest.approx(1e-5) and link.bytes_per_s == pytest.approx(1e10)
    assert link.seconds(1e10) == pytest.approx(1.00001)
    with pytest.raises(ValueError, match="two"):
        bench.fit_step_model(points[:1])


def test_crossover_interpolates_on_log_axes():
    params = [1e3, 1e5]
    cpu = [1.0, 100.0]  # grows 100x
    gpu = [10.0, 10.0]  # flat: equal where cpu = 10, i.e. halfway in log space
    assert bench.crossover(params, cpu, gpu) == pytest.approx(1e4)
    assert bench.crossover([3.0, 1.0], [1.0, 1.0], [0.5, 0.5]) == 1.0  # GPU faster from the start
    assert bench.crossover([1.0, 2.0], [1.0, 1.0], [2.0, 2.0]) is None  # never
    with pytest.raises(ValueError, match="equal length"):
        bench.crossover([1.0], [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="> 0"):
        bench.crossover([0.0, 1.0], [1.0, 1.0], [1.0, 1.0])


# --------------------------------------------------------------------------- the GPU estimate


def test_gpu_estimate_by_hand():
    t4 = hardware.get("T4")
    est = GPUEstimate(t4, host_overhead_seconds=1e-3, ops_per_step=100, utilization=0.5)
    p = _point(width=1024, macs_per_sample=bench.mlp_macs_per_sample(1024))
    link = 0.75 * 16 * 8e9 * (128 / 130) / 8  # 75 % of PCIe 3.0 x16
    by_hand = (
        1e-3  # host work
        + 100 * 5e-6  # kernel launches
        + 10e-6
        + p.input_bytes_per_step / link  # the batch over PCIe
        + p.flop_per_step / (0.5 * 8.1e12)  # arithmetic at 50 % of the T4's peak
    )
    assert est.step_seconds(p.flop_per_step, p.input_bytes_per_step) == pytest.approx(by_hand)
    assert est.epoch_seconds(p) == pytest.approx(p.fit_overhead_seconds + 469 * by_hand)
    assert est.fixed_step_seconds == pytest.approx(1.5e-3)
    big = est.gemm_flop_per_s(8192, call_overhead_seconds=50e-6)
    assert 0.7 * 8.1e12 < big < 0.8 * 8.1e12  # approaches gemm_utilization x peak
    assert est.gemm_flop_per_s(16, 50e-6) < 1e9  # tiny products: all overhead
    lines = est.assumptions()
    assert any("8.1 TFLOP/s" in line for line in lines)
    assert any("100 operations" in line and "5 us" in line for line in lines)
    assert any("11.8 GB/s" in line for line in lines)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"utilization": 0.0}, "utilization"),
        ({"gemm_utilization": 1.5}, "gemm_utilization"),
        ({"launch_seconds": -1e-6}, "launch_seconds"),
        ({"ops_per_step": 0}, "ops_per_step"),
        ({"link_bytes_per_s": 0.0}, "link_bytes_per_s"),
        ({"precision": "int4"}, "known"),
    ],
)
def test_gpu_estimate_rejects_bad_assumptions(changes, message):
    values = dict(device=hardware.get("T4"), host_overhead_seconds=1e-3, ops_per_step=10)
    values.update(changes)
    with pytest.raises(ValueError, match=message):
        GPUEstimate(**values)


def test_count_train_step_ops_counts_kernels_not_width():
    counts = []
    for width in (16, 256):
        model = models.mlp(width)
        model.compile(
            optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        counts.append(bench.count_train_step_ops(model))
    assert counts[0] == counts[1]  # the same graph, only the shapes differ
    assert 50 < counts[0] < 1000  # forward, backward, RMSprop updates, metrics: many small ops
    with pytest.raises(TypeError, match="compile"):
        bench.count_train_step_ops(models.mlp(16))


# --------------------------------------------------------------------------- real measurements


def test_recorded_sweeps_show_overhead_and_scaling(record):
    (run,) = record.runs
    assert run.kind == "cpu" and run.device == "/CPU:0" and run.name.startswith("CPU:")
    small, large = run.mlp
    assert (small.width, large.width) == (16, 512)
    assert small.params == bench.mlp_params(16) and large.params == bench.mlp_params(512)
    assert large.flop_per_step / small.flop_per_step > 40
    # 50x the work per step, but far less than 50x the time: the small model is mostly overhead
    assert small.step_seconds < large.step_seconds < 50 * small.step_seconds
    assert large.train_flop_per_s > 2 * small.train_flop_per_s
    assert small.steps_timed >= 1
    assert small.epoch_seconds == small.fit_overhead_seconds + 469 * small.step_seconds
    tiny, big = run.gemm
    assert (tiny.n, big.n) == (16, 256)
    assert big.best_flop_per_s > 20 * tiny.best_flop_per_s  # a 16x16 product is all overhead
    assert run.h2d is None and "N/A" in run.h2d_note


def test_time_mlp_training_validates_arguments():
    with pytest.raises(ValueError, match="repeats"):
        bench.time_mlp_training(16, repeats=0)
    with pytest.raises(ValueError, match="min_seconds"):
        bench.time_mlp_training(16, min_seconds=-1)
    with pytest.raises(ValueError, match="widths"):
        bench.mlp_sweep([])
    with pytest.raises(ValueError, match="sizes"):
        bench.gemm_sweep([])


def test_host_to_device_copies_on_this_machine():
    if HAVE_GPU:
        point = bench.measure_h2d(2**22, device="gpu", repeats=5)
        assert point.size_bytes == 2**22 and 1e8 < point.bytes_per_s < 1e12
    else:
        with pytest.raises(ValueError, match="N/A"):
            bench.measure_h2d(2**20, device="cpu")
        with pytest.raises(timing.GPUUnavailableError):
            bench.h2d_sweep([2**20], device="gpu")


@pytest.mark.skipif(not HAVE_GPU, reason="needs a GPU visible to TensorFlow (runs on GPU CI/Colab)")
def test_gpu_record_where_a_gpu_exists(tmp_path):
    record = bench.run_cpu_vs_gpu(
        devices="gpu", widths=(16, 1024), gemm_sizes=(64, 2048), h2d_sizes_bytes=(2**12, 2**24),
        repeats=1, min_seconds=0.05,
    )  # fmt: skip
    (run,) = record.runs
    assert run.kind == "gpu" and run.device == "/GPU:0" and run.name.startswith("GPU:")
    assert run.gemm[1].best_flop_per_s > 10 * run.gemm[0].best_flop_per_s
    assert run.h2d is not None and run.h2d[1].bytes_per_s > run.h2d[0].bytes_per_s
    assert bench.load(bench.save(record, tmp_path / "gpu.json")) == record


# --------------------------------------------------------------------------- reference files


def test_record_round_trip(record, tmp_path):
    path = bench.save(record, tmp_path / "ref.json")
    loaded = bench.load(path)
    assert loaded == record and loaded.source == str(path)
    data = json.loads(path.read_text())
    assert data["schema"] == bench.SCHEMA and data["settings"]["command"] == "test"
    load = data["settings"]["load_average_1_5_15_min_at_start"]
    assert load is None or (len(load) == 3 and min(load) >= 0)
    assert data["runs"][0]["mlp"][0]["epoch_seconds"] == pytest.approx(
        record.runs[0].mlp[0].epoch_seconds
    )
    assert loaded.run("gpu") is None and loaded.run("cpu") == record.run("cpu")
    label = loaded.label("cpu")
    assert (
        label.startswith("CPU:")
        and loaded.date in label
        and f"TF {loaded.versions['tensorflow']}" in label
    )
    with pytest.raises(KeyError, match="gpu"):
        loaded.label("gpu")
    with pytest.raises(ValueError, match=".json"):
        bench.save(record, tmp_path / "ref.txt")


def _write(path, data):
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_load_explains_bad_files(record, tmp_path):
    good = record.to_dict()
    with pytest.raises(FileNotFoundError, match="bench cpu-vs-gpu --out"):
        bench.load(tmp_path / "missing.json")
    with pytest.raises(bench.ReferenceFileError, match="not valid JSON"):
        bench.load(_write(tmp_path / "a.json", "{not json"))
    with pytest.raises(bench.ReferenceFileError, match="schema"):
        bench.load(_write(tmp_path / "b.json", {**good, "schema": "something/else"}))
    broken = json.loads(json.dumps(good))
    del broken["runs"][0]["mlp"][0]["step_seconds"]
    with pytest.raises(bench.ReferenceFileError, match="damaged"):
        bench.load(_write(tmp_path / "c.json", broken))
    # a CPU run relabelled as a GPU one is refused: device and name must say GPU
    fake = json.loads(json.dumps(good))
    fake["runs"][0]["kind"] = "gpu"
    with pytest.raises(bench.ReferenceFileError, match="does not match kind"):
        bench.load(_write(tmp_path / "d.json", fake))
    fake["runs"][0]["device"] = "/GPU:0"
    with pytest.raises(bench.ReferenceFileError, match="must start with 'GPU'"):
        bench.load(_write(tmp_path / "e.json", fake))


def test_references_lists_records_and_skips_bad_files(record, tmp_path):
    bench.save(record, tmp_path / "cpu.json")
    _write(tmp_path / "junk.json", "[]")
    with pytest.warns(UserWarning, match="skipping junk.json"):
        found = bench.references(directory=tmp_path)
    assert [r.source for r in found] == [str(tmp_path / "cpu.json")]
    with pytest.warns(UserWarning):
        assert bench.references("gpu", directory=tmp_path) == []
    assert bench.references(directory=tmp_path / "nowhere") == []
    with pytest.raises(ValueError, match="kind"):
        bench.references("tpu", directory=tmp_path)


def test_committed_reference_files_are_valid_and_labelled():
    folder = bench.reference_dir()
    files = sorted(folder.glob("*.json")) if folder and folder.is_dir() else []
    for path in files:
        record = bench.load(path)  # raises on a damaged or mislabelled file
        for run in record.runs:
            assert run.mlp and run.gemm, f"{path.name}: {run.kind} run without sweeps"
            assert run.name.startswith(f"{run.kind.upper()}:")
            assert (run.h2d is None) == (run.kind == "cpu"), f"{path.name}: H2D only on GPUs"
        assert record.versions["tensorflow"] and record.created_utc


# --------------------------------------------------------------------------- command line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cpu-vs-gpu", "--out", "ref.txt"], ".json"),
        (["cpu-vs-gpu", "--out", "ref.json", "--repeats", "0"], "--repeats"),
        ([], "name a benchmark"),
    ],
)
def test_cli_usage_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert bench.main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(HAVE_GPU, reason="this machine has a GPU, so --device gpu is valid here")
def test_cli_device_gpu_without_one_fails_with_help(tmp_path, capsys):
    assert bench.main(["cpu-vs-gpu", "--out", str(tmp_path / "g.json"), "--device", "gpu"]) == 2
    err = capsys.readouterr().err
    assert "no such GPU" in err and "Colab" in err
    assert not (tmp_path / "g.json").exists()


def test_cli_bad_width_list_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["cpu-vs-gpu", "--out", "x.json", "--widths", "16,a"])
    assert exc.value.code == 2 and "positive integers" in capsys.readouterr().err


def test_cli_records_a_cpu_reference(tmp_path, capsys, monkeypatch):
    """As __main__.py registers it: `python -m course_utils bench cpu-vs-gpu ...`."""
    monkeypatch.setitem(
        cli.SUBCOMMANDS, "bench", cli.Subcommand(bench.HELP, bench.configure, bench.run)
    )
    out = tmp_path / "ref.json"
    args = ["cpu-vs-gpu", "--out", str(out), "--device", "cpu", "--widths", "16",
            "--gemm-sizes", "16,64", "--repeats", "1", "--note", "a test"]  # fmt: skip
    assert cli.main(["bench", *args]) == 0
    printed = capsys.readouterr().out
    assert "CPU:" in printed and "n=   16" in printed and f"written: {out}" in printed
    loaded = bench.load(out)
    assert [p.width for p in loaded.run("cpu").mlp] == [16] and loaded.run("gpu") is None
    assert loaded.settings["command"].startswith("python -m course_utils bench cpu-vs-gpu")
    assert "--widths 16" in loaded.settings["command"] and loaded.settings["note"] == "a test"
    assert bench.main(args) == 2  # the module's own parser; the file exists: needs --force
    assert "--force" in capsys.readouterr().err
    assert cli.main(["bench"]) == 2
    assert "name a benchmark" in capsys.readouterr().err


def test_add_cli_builds_a_bench_parser():
    import argparse

    parser = argparse.ArgumentParser()
    bench.add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "cpu-vs-gpu", "--out", "r.json", "--quick"])
    assert args.command == "bench" and args.quick and args.bench_run is bench.main_cpu_vs_gpu


def test_module_help_runs_without_tensorflow():
    done = subprocess.run(
        [sys.executable, "-m", "course_utils.labs.cpu_vs_gpu", "cpu-vs-gpu", "--help"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0 and "--out" in done.stdout and "--quick" in done.stdout


def test_quick_defaults_are_small():
    assert max(bench.QUICK_WIDTHS) <= 1024 and len(bench.QUICK_GEMM_SIZES) <= 3
    assert bench.DEFAULT_WIDTHS[-1] == 4096  # the slide's largest model
    assert math.isclose(bench.PCIE3_X16_BYTES_PER_S, 15.75e9, rel_tol=1e-3)
