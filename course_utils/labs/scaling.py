"""Notebook 09's machinery: data-parallel training with worker processes on this machine.

The ideas (ring all-reduce bytes, the alpha-beta fit, efficiencies, Amdahl, the projections) are
in the notebook. Here: :func:`run_workers` starts N ``MultiWorkerMirroredStrategy`` workers on
127.0.0.1 (a ``TF_CONFIG`` and a free port each, one CPU thread each), watches them, enforces a
timeout, explains a taken port or a dead worker, and always stops them all; the worker itself
(``python -m course_utils.labs.scaling INDEX RUN_DIR``) times all-reduces and trains with
:func:`make_train_step` (Keras 3's ``fit`` fails under this strategy, keras-team/keras#20585);
:func:`course_utils.hardware.interconnects` reads ``course_utils/data/interconnects.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..validators import positive_int, positive_number

HOST = "127.0.0.1"
_NOISE = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages|@progress)")  # TF start-up lines


class WorkerError(RuntimeError):
    """A worker failed, died or ran past the timeout; the message says which, why, and what to do."""


class PortInUseError(WorkerError):
    """A port meant for a worker is already taken on 127.0.0.1."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that are free on 127.0.0.1 now (the OS picks them)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in sockets]


def check_ports_free(ports: list[int]) -> None:
    """Raise :class:`PortInUseError` naming the first of ``ports`` that cannot be bound on 127.0.0.1."""
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError as err:
                raise PortInUseError(
                    f"Port {port} on {HOST} is already in use ({err.strerror}): another program, or "
                    "workers of an earlier run that are still alive, holds it. Leave ports=None to "
                    "let the course pick free ports, or pass other ports.") from None


def tf_config(ports: list[int], index: int) -> dict[str, Any]:
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of one worker per port on 127.0.0.1."""
    return {"cluster": {"worker": [f"{HOST}:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}


def _log_tail(path: Path, lines: int = 12) -> str:
    text = path.read_text(errors="replace").splitlines() if path.is_file() else []
    kept = [t for t in text if t.strip() and not _NOISE.match(t)][-lines:]
    return "\n".join("    " + t for t in kept) or "    (log empty)"


def _failure(index: int, code: int, ports: list[int], run_dir: Path) -> WorkerError:
    log = run_dir / f"worker_{index}.log"
    tail = _log_tail(log)
    if "Could not start gRPC server" in tail or "Address already in use" in tail:
        return PortInUseError(
            f"Worker {index} could not open port {ports[index]} on {HOST}: another program took it "
            f"after it was checked free. Run again (new free ports are picked) or pass other ports.\n{tail}")
    how = f"was killed by signal {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
    return WorkerError(f"Worker {index} {how}; all workers were stopped.\nIts log ({log}) ends with:\n{tail}")


def _stop(procs: list[subprocess.Popen]) -> None:
    """Terminate every worker's process group, then kill what is left; reap them all."""
    for sig, grace in ((signal.SIGTERM, 3.0), (getattr(signal, "SIGKILL", signal.SIGTERM), 5.0)):
        for p in procs:
            if p.poll() is not None:  # exited and reaped: its pid may belong to someone else now
                continue
            with contextlib.suppress(OSError):  # each worker leads its own session and group
                os.killpg(p.pid, sig) if os.name == "posix" else p.kill()
        end = time.monotonic() + grace
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.0, end - time.monotonic()))
        if all(p.poll() is not None for p in procs):
            return


def run_workers(plan: dict[str, Any], num_workers: int = 2, *, ports: list[int] | None = None,
                timeout_seconds: float = 180.0, threads_per_worker: int = 1,
                fail: dict[str, Any] | None = None, progress: bool = True,
                log_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Run ``num_workers`` MultiWorkerMirroredStrategy workers on 127.0.0.1; return their results.

    ``plan``: ``allreduce_bytes`` (sizes, timed ``allreduce_repeats`` times each), ``models``
    (``"mlp"`` 784-512-10, ``"lenet"`` seed 002's LeNet-like), ``per_worker_batches``,
    ``warmup_steps``, ``steps``, ``learning_rate``, ``seed``. ``ports``: one per worker (None:
    free ones); ``timeout_seconds`` [s] for the whole run; ``threads_per_worker``: TensorFlow
    intra- and inter-op threads; ``fail={"worker": i, "at": "start" | "train"}`` makes worker i
    raise there (to see, and test, a dying worker); ``log_dir`` keeps plan, logs and results
    (default: a temporary folder, deleted after a successful run).

    Returns one dict per worker, in worker order. Raises :class:`PortInUseError` for a taken
    port, :class:`WorkerError` when a worker dies or time runs out; no worker is left running.
    """
    num_workers = positive_int("num_workers", num_workers)
    timeout_seconds = positive_number("timeout_seconds", timeout_seconds)
    ports = free_ports(num_workers) if ports is None else [int(p) for p in ports]
    if len(ports) != num_workers:
        raise ValueError(f"need one port per worker: {num_workers} workers, {len(ports)} ports")
    check_ports_free(ports)
    run_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="course09_"))
    run_dir.mkdir(parents=True, exist_ok=True)
    plan = {**plan, "threads": threads_per_worker, "fail": fail, "deadline_seconds": timeout_seconds + 30}
    (run_dir / "plan.json").write_text(json.dumps(plan))
    # CPU workers (on one GPU each would claim all its memory); this package first on the path
    env = dict(os.environ, OMP_NUM_THREADS=str(threads_per_worker), CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parents[2]), env.get("PYTHONPATH")]))
    phases = 1 + len(plan.get("allreduce_bytes", [])) * (num_workers > 1) + len(
        plan.get("models", [])) * len(plan.get("per_worker_batches", []))
    procs: list[subprocess.Popen] = []
    try:
        for i in range(num_workers):
            with open(run_dir / f"worker_{i}.log", "wb") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "course_utils.labs.scaling", str(i), str(run_dir)],
                    env={**env, "TF_CONFIG": json.dumps(tf_config(ports, i))}, stdout=log,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=os.name == "posix"))
        _watch(procs, ports, run_dir, timeout_seconds, phases, progress)
        results = [json.loads((run_dir / f"worker_{i}.json").read_text()) for i in range(num_workers)]
    finally:
        _stop(procs)
    if not log_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
    return results


def _watch(procs: list[subprocess.Popen], ports: list[int], run_dir: Path, timeout_seconds: float,
           phases: int, progress: bool) -> None:
    from tqdm.auto import tqdm

    deadline = time.monotonic() + timeout_seconds
    with tqdm(total=phases, desc=f"{len(procs)} worker(s)", disable=not progress, leave=False) as bar:
        while not all(p.poll() == 0 for p in procs):
            for i, p in enumerate(procs):
                if p.poll() not in (None, 0):
                    raise _failure(i, p.returncode, ports, run_dir)
            if time.monotonic() > deadline:
                tails = "\n".join(f"  worker {i}:\n{_log_tail(run_dir / f'worker_{i}.log', 4)}"
                                  for i in range(len(procs)))
                raise WorkerError(f"The workers did not finish within {timeout_seconds:.0f} s and were "
                                  f"stopped. A slow or busy machine: raise timeout_seconds or measure less.\n{tails}")
            with contextlib.suppress(OSError):
                bar.update(min(phases, (run_dir / "worker_0.log").read_text(errors="replace").count("@progress")) - bar.n)
            time.sleep(0.1)


def make_train_step(strategy: Any, model: Any, learning_rate: float, global_batch: int) -> Any:
    """One data-parallel SGD step, written out: each worker's gradients, summed by an all-reduce.

    Every worker runs ``step`` on its own shard of the global batch. The loss is divided by the
    *global* batch size, so the all-reduced sum of the workers' gradients is the gradient of the
    mean loss over the whole global batch: the same update one worker would make alone.
    """
    import keras
    import tensorflow as tf

    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="sum")

    def step(x: Any, y: Any) -> Any:  # runs on every worker, on its own shard
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True)) / global_batch
        grads = tape.gradient(loss, model.trainable_variables)
        grads = tf.distribute.get_replica_context().all_reduce("sum", grads)  # the exchange
        for var, grad in zip(model.trainable_variables, grads, strict=True):
            var.assign_sub(learning_rate * grad)  # identical update on every worker
        return loss  # this worker's share of the global batch's mean loss

    @tf.function
    def train_step(x: Any, y: Any) -> Any:
        return strategy.run(step, args=(x, y))

    return train_step


def _all_reduce_fn(strategy: Any, tensors: Any) -> Any:
    """A compiled all-reduce of ``tensors()``, made inside the replica (not passed in: TF 2.21 fails)."""
    import tensorflow as tf

    @tf.function
    def run() -> Any:
        out = strategy.run(lambda: tf.distribute.get_replica_context().all_reduce("sum", tensors()))
        return tf.nest.flatten(strategy.experimental_local_results(out))[0]

    return run


def _timed(fn: Any, repeats: int, barrier: Any) -> list[float]:
    fn().numpy()  # warm-up (tracing, first exchange)
    seconds = []
    for _ in range(repeats):
        barrier().numpy()  # line the workers up, so a late peer's lag is not timed
        start = time.perf_counter()
        fn().numpy()  # results materialised before the clock stops
        seconds.append(time.perf_counter() - start)
    return seconds


def _train(strategy: Any, build: Any, shards: list, plan: dict[str, Any], global_batch: int,
           fail: Any) -> tuple[Any, list[float], list[float]]:
    """A fresh model trained on ``shards`` with :func:`make_train_step`: (model, losses, seconds)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(plan.get("seed", 0))  # the same initial weights in every run
    with strategy.scope():
        model = build()
    train_step = make_train_step(strategy, model, plan.get("learning_rate", 0.05), global_batch)
    warmup, losses, seconds = plan.get("warmup_steps", 3), [], []
    for k, (x, y) in enumerate(shards):
        if k == warmup:
            fail("train")
        start = time.perf_counter()
        loss = tf.nest.flatten(strategy.experimental_local_results(train_step(x, y)))[0]
        losses.append(float(loss.numpy()))  # materialised before the clock stops
        seconds.append(time.perf_counter() - start)
    return model, losses, seconds[warmup:]


def _worker_main(index: int, run_dir: Path) -> None:
    plan = json.loads((run_dir / "plan.json").read_text())
    parent, deadline = os.getppid(), time.monotonic() + plan["deadline_seconds"]

    def watchdog() -> None:  # never outlive the launcher, nor the deadline
        while os.getppid() == parent and time.monotonic() < deadline:
            time.sleep(0.5)
        os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()

    def fail(stage: str) -> None:
        if (plan["fail"] or {}).get("worker") == index and plan["fail"].get("at") == stage:
            raise RuntimeError(f"worker {index} fails on purpose at {stage!r} (fail={plan['fail']})")

    fail("start")
    started = time.perf_counter()
    import tensorflow as tf  # course_utils, this module's package, has set TF's knobs already

    tf.config.threading.set_intra_op_parallelism_threads(plan["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(plan["threads"])
    from course_utils import data, models

    ring = tf.distribute.experimental.CommunicationImplementation.RING
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(implementation=ring))
    n = strategy.num_replicas_in_sync
    result: dict[str, Any] = {
        "index": index, "pid": os.getpid(), "num_workers": n, "threads": plan["threads"],
        "address": json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"][index],
        "startup_seconds": time.perf_counter() - started, "allreduce": [], "steps": [], "bytes_all_reduced": 0}
    print("@progress strategy ready", flush=True)
    barrier = _all_reduce_fn(strategy, lambda: tf.zeros([1]))
    for nbytes in plan.get("allreduce_bytes", []) if n > 1 else []:
        length = max(1, int(nbytes) // 4)
        seconds = _timed(_all_reduce_fn(strategy, lambda length=length: tf.fill([length], 1.0)),
                         plan.get("allreduce_repeats", 5), barrier)
        result["allreduce"].append({"bytes": 4 * length, "seconds": seconds})
        result["bytes_all_reduced"] += 4 * length * (len(seconds) + 1)
        print(f"@progress all-reduce {4 * length} B", flush=True)
    (x_all, y_all), _ = data.load_mnist()
    count = plan.get("warmup_steps", 3) + plan.get("steps", 20)
    builds = {"mlp": lambda: models.mlp(512, depth=1, dropout=0.0), "lenet": models.lenet_keras}
    for name in plan.get("models", []):
        for batch in plan.get("per_worker_batches", []):
            global_batch = batch * n  # global batch k = samples [k B, (k+1) B); worker i its i-th part
            x = x_all[: count * global_batch]
            x = data.to_float_images(x, pad=2) if name == "lenet" else x.reshape(len(x), -1) / np.float32(255)
            first = [k * global_batch + index * batch for k in range(count)]
            shards = [(tf.constant(x[i : i + batch]), tf.constant(y_all[i : i + batch])) for i in first]
            model, losses, seconds = _train(strategy, builds[name], shards, plan, global_batch, fail)
            weights = [v.numpy() for v in model.trainable_variables]
            entry = {"model": name, "per_worker_batch": batch, "global_batch": global_batch,
                     "params": model.count_params(), "gradient_bytes": sum(w.nbytes for w in weights),
                     "losses": losses, "step_seconds": seconds,
                     "weights_sha256": hashlib.sha256(b"".join(w.tobytes() for w in weights)).hexdigest()}
            result["bytes_all_reduced"] += entry["gradient_bytes"] * count
            if n > 1:  # the gradients' all-reduce alone, then the computation alone (no exchange)
                grads = _all_reduce_fn(strategy, lambda m=model: [tf.identity(v.value) for v in m.trainable_variables])
                entry["gradient_allreduce_seconds"] = _timed(grads, 10, barrier)
                result["bytes_all_reduced"] += entry["gradient_bytes"] * 11
                barrier().numpy()  # both workers compute at the same time, as in a real step
                _, _, entry["compute_seconds"] = _train(
                    tf.distribute.get_strategy(), builds[name], shards, plan, global_batch, lambda s: None)
            result["steps"].append(entry)
            print(f"@progress {name} batch {batch}", flush=True)
    (run_dir / f"worker_{index}.json").write_text(json.dumps(result))


if __name__ == "__main__":  # a worker: python -m course_utils.labs.scaling INDEX RUN_DIR
    _worker_main(int(sys.argv[1]), Path(sys.argv[2]))
