"""course_utils.labs.scaling: workers are launched, run the notebook's step, are watched and always cleaned up.

Most tests start real worker processes (TensorFlow's MultiWorkerMirroredStrategy on loopback),
so they take a few seconds each. After every run, passed or failed, no process that belongs to
the run (its run folder is on the worker's command line) may be left.
"""

import json
import signal
import socket
import threading
import time

import keras
import psutil
import pytest
import tensorflow as tf

from course_utils import hardware
from course_utils.labs import scaling

TINY = {  # one small all-reduce and a few MLP steps: the cheapest real run
    "allreduce": [[4096, 2]],
    "trainings": [["mlp", 16], ["mlp", 32]],
    "warmup_steps": 1,
    "blocks": 1,
    "steps_per_block": 2,
}
STEPS = TINY["warmup_steps"] + TINY["blocks"] * TINY["steps_per_block"]


def make_step(strategy, model, learning_rate, global_batch):
    """Notebook 09's data-parallel SGD step (the workers run this source): gradients, then exchange."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="sum")

    def local_gradients(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True)) / global_batch
        return loss, tape.gradient(loss, model.trainable_variables)

    def all_reduce_and_apply(grads):
        summed = tf.distribute.get_replica_context().all_reduce("sum", [tf.identity(g) for g in grads])
        for var, grad in zip(model.trainable_variables, summed, strict=True):
            var.assign_sub(learning_rate * grad)
        return summed

    gradients = tf.function(lambda x, y: strategy.run(local_gradients, args=(x, y)))
    exchange = tf.function(lambda grads: strategy.run(all_reduce_and_apply, args=(grads,)))
    return gradients, exchange


def broken_step(strategy, model, learning_rate, global_batch):
    raise ValueError("this step is broken on purpose")


def _survivors(run_dir) -> list[psutil.Process]:
    """Processes whose command line names this run's folder (the workers), still alive."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if str(run_dir) in " ".join(p.info["cmdline"] or []) and p.info["status"] != "zombie":
                found.append(p)
        except psutil.Error:
            pass
    return found


def _gone(pids) -> bool:
    return not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in pids)


def test_free_ports_are_distinct_and_bindable():
    ports = scaling.free_ports(3)
    assert len(set(ports)) == 3
    scaling.check_ports_free(ports)  # raises if any is taken


def test_tf_config_names_every_worker_and_the_task():
    cfg = scaling.tf_config([1111, 2222], 1)
    assert cfg == {
        "cluster": {"worker": ["127.0.0.1:1111", "127.0.0.1:2222"]},
        "task": {"type": "worker", "index": 1},
    }


def test_taken_port_is_refused_with_a_clear_message(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(scaling.PortInUseError, match=rf"Port {port} on 127\.0\.0\.1 is already in use.*ports=None"):
            scaling.run_workers(TINY, 2, step=make_step, ports=[port, scaling.free_ports(1)[0]], log_dir=tmp_path, progress=False)
    assert not list(tmp_path.glob("worker_*.log")), "no worker may start when a port is taken"


def test_port_taken_after_the_check_is_reported_by_the_worker(tmp_path, monkeypatch):
    # the race the check cannot close: TensorFlow's gRPC server itself fails to bind
    monkeypatch.setattr(scaling, "check_ports_free", lambda ports: None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(scaling.PortInUseError, match=rf"Worker 0 could not open port {port}"):
            scaling.run_workers(TINY, 2, step=make_step, ports=[port, scaling.free_ports(1)[0]], log_dir=tmp_path,
                                timeout_seconds=120, progress=False)
    assert not _survivors(tmp_path)


def test_two_workers_run_the_given_step_and_leave_nothing_behind(tmp_path):
    workers = scaling.run_workers(TINY, 2, step=make_step, log_dir=tmp_path, timeout_seconds=120, progress=False)
    assert [w["index"] for w in workers] == [0, 1] and {w["num_workers"] for w in workers} == {2}
    assert workers[0]["address"] != workers[1]["address"]
    (a16, a32), (b16, _) = workers[0]["steps"], workers[1]["steps"]
    assert a16["weights_sha256"] == b16["weights_sha256"], "the all-reduce keeps the copies identical"
    assert a16["losses"] != b16["losses"], "each worker trains on its own shard"
    # worker 0's one-worker run at 32 sees the same global batches as the two workers at 16 each
    assert a32["one_worker_losses"] == pytest.approx([x + y for x, y in zip(a16["losses"], b16["losses"], strict=True)], rel=1e-4)
    assert a16["gradient_bytes"] == 4 * a16["params"] == 4 * (784 * 512 + 512 + 512 * 10 + 10)
    assert a16["gradient_tensors"] == 4 and a16["global_batch"] == 32
    assert workers[0]["bytes_all_reduced"] == 4096 * 3 + 2 * a16["gradient_bytes"] * STEPS
    timed = TINY["blocks"] * TINY["steps_per_block"]
    for part in ("compute", "exchange", "step"):
        assert len(a16[f"{part}_seconds"]) == len(a16[f"one_worker_{part}_seconds"]) == timed
        assert b16[f"one_worker_{part}_seconds"] == [], "only worker 0 runs the one-worker baseline"
    for s in (a16, b16):  # the step's clock holds both halves
        assert all(c + e <= t + 1e-6 for c, e, t in zip(s["compute_seconds"], s["exchange_seconds"], s["step_seconds"], strict=True))
    assert b16["wait_cpu_share"] < 0.5, "worker 1 leaves the core to worker 0 while it waits"
    assert workers[0]["allreduce"][0]["bytes"] == 4096 and len(workers[0]["allreduce"][0]["seconds"]) == 2
    assert _gone([w["pid"] for w in workers]) and not _survivors(tmp_path)


def test_the_workers_run_the_step_they_are_given(tmp_path):
    with pytest.raises(scaling.WorkerError, match=r"(?s)exited with code 1.*this step is broken on purpose"):
        scaling.run_workers(TINY, 2, step=broken_step, log_dir=tmp_path, timeout_seconds=120, progress=False)
    assert not _survivors(tmp_path)


def test_a_worker_that_raises_stops_all_workers(tmp_path):
    with pytest.raises(scaling.WorkerError, match=r"(?s)Worker 1 exited with code 1.*fails on purpose at 'train'") as err:
        scaling.run_workers(TINY, 2, step=make_step, fail={"worker": 1, "at": "train"}, log_dir=tmp_path,
                            timeout_seconds=120, progress=False)
    assert "all workers were stopped" in str(err.value)
    assert not _survivors(tmp_path), "worker 0 was waiting in a collective: it must have been killed"


def test_a_worker_killed_from_outside_stops_all_workers(tmp_path):
    def kill_worker_1():
        log = tmp_path / "worker_1.log"
        end = time.monotonic() + 60
        while time.monotonic() < end:  # wait until its strategy is up, then kill it hard
            if log.is_file() and "@progress strategy ready" in log.read_text(errors="replace"):
                for p in _survivors(tmp_path):
                    if p.cmdline()[-2] == "1":
                        p.send_signal(signal.SIGKILL)
                        return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_worker_1)
    killer.start()
    plan = {**TINY, "allreduce": [[4096, 2]] * 40}  # long enough to be killed in the middle
    with pytest.raises(scaling.WorkerError, match="Worker 1 was killed by signal SIGKILL"):
        scaling.run_workers(plan, 2, step=make_step, log_dir=tmp_path, timeout_seconds=120, progress=False)
    killer.join()
    assert not _survivors(tmp_path)


def test_timeout_stops_the_workers(tmp_path):
    with pytest.raises(scaling.WorkerError, match=r"did not finish within 2 s"):
        scaling.run_workers(TINY, 2, step=make_step, log_dir=tmp_path, timeout_seconds=2, progress=False)
    assert not _survivors(tmp_path)


def test_failure_at_start_is_quick_and_quotes_the_log(tmp_path):
    start = time.monotonic()
    with pytest.raises(scaling.WorkerError, match=r"(?s)Worker 0 exited with code 1.*RuntimeError: worker 0 fails"):
        scaling.run_workers(TINY, 2, step=make_step, fail={"worker": 0, "at": "start"}, log_dir=tmp_path, progress=False)
    assert time.monotonic() - start < 30 and not _survivors(tmp_path)


def test_run_workers_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_workers"):
        scaling.run_workers(TINY, 0, step=make_step)
    with pytest.raises(ValueError, match="one port per worker"):
        scaling.run_workers(TINY, 2, step=make_step, ports=[scaling.free_ports(1)[0]])
    with pytest.raises(ValueError, match="timeout_seconds"):
        scaling.run_workers(TINY, 2, step=make_step, timeout_seconds=-1)
    with pytest.raises(TypeError, match=r"step must be a function make_step\(strategy, model"):
        scaling.run_workers(TINY, 2)


def test_interconnect_catalogue_is_sourced():
    links = hardware.interconnects()
    for name in ("PCIe 4.0 x16", "PCIe 5.0 x16", "NVLink 3 (A100)", "NVLink 4 (H100 SXM5)",
                 "InfiniBand HDR (4x)", "InfiniBand NDR (4x)", "10 GbE", "100 GbE", "TPU v5p ICI"):
        assert name in links
    for link in links.values():
        assert link.bytes_per_s > 0 and link.source and link.url.startswith("https://")
    assert links["PCIe 4.0 x16"].bytes_per_s == pytest.approx(16 * 16e9 * 128 / 130 / 8, rel=1e-3)
    assert links["NVLink 4 (H100 SXM5)"].bytes_per_s == 2 * links["NVLink 3 (A100)"].bytes_per_s * 0.75
    assert links["100 GbE"].bytes_per_s == 10 * links["10 GbE"].bytes_per_s


def test_interconnect_catalogue_rejects_an_unsourced_entry(tmp_path):
    bad = tmp_path / "links.json"
    bad.write_text(json.dumps({"interconnects": [{"name": "wire", "kind": "network", "bytes_per_s_per_direction": 1e9}]}))
    with pytest.raises(ValueError, match=r"'wire' needs a positive bytes_per_s_per_direction, a source"):
        hardware.interconnects(bad)
