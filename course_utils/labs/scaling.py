"""Notebook 09's machinery: :func:`run_workers` starts N ``MultiWorkerMirroredStrategy`` workers on 127.0.0.1
(a ``TF_CONFIG``, a free port, one CPU thread each), watches them and always stops them. Each worker (``python -m
course_utils.labs.scaling INDEX RUN_DIR``) times all-reduces, then runs the notebook's own step, alternating with
worker 0 stepping alone (Keras 3's ``fit`` fails under this strategy: keras-team/keras#20585).
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..validators import instance, positive_int, positive_number

HOST = "127.0.0.1"
_NOISE = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages|@progress)")  # TF start-up lines, progress


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
                raise PortInUseError(f"Port {port} on {HOST} is already in use ({err.strerror}): another program, "
                                     "or workers of an earlier run that are still alive, holds it. Leave ports=None "
                                     "to let the course pick free ports, or pass other ports.") from None


def tf_config(ports: list[int], index: int) -> dict[str, Any]:
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of one worker per port on 127.0.0.1."""
    return {"cluster": {"worker": [f"{HOST}:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}


def _log_tail(path: Path, lines: int = 12) -> str:
    text = path.read_text(errors="replace").splitlines() if path.is_file() else []
    kept = [t for t in text if t.strip() and not _NOISE.match(t)][-lines:]
    return "\n".join("    " + t for t in kept) or "    (log empty)"


def _failure(index: int, code: int, ports: list[int], run_dir: Path) -> WorkerError:
    tail = _log_tail(log := run_dir / f"worker_{index}.log")
    if "Could not start gRPC server" in tail or "Address already in use" in tail:
        return PortInUseError(f"Worker {index} could not open port {ports[index]} on {HOST}: another program took it "
                              f"after it was checked free. Run again (new free ports are picked) or pass other ports.\n{tail}")
    how = f"was killed by signal {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
    return WorkerError(f"Worker {index} {how}; all workers were stopped.\nIts log ({log}) ends with:\n{tail}")


def run_workers(plan: dict[str, Any], num_workers: int = 2, *, step: Callable | None = None,
                ports: list[int] | None = None, timeout_seconds: float = 180.0, fail: dict[str, Any] | None = None,
                progress: bool = True, log_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Run ``num_workers`` MultiWorkerMirroredStrategy workers on 127.0.0.1; return their results in worker order.

    ``plan``: ``allreduce`` ([bytes, repeats]: all-reduced once, then timed ``repeats`` times), ``trainings``
    ([model, per_worker_batch]; "mlp" 784-512-10 or "lenet"), ``warmup_steps``, ``blocks``, ``steps_per_block``,
    ``learning_rate``, ``seed``. ``step``: the notebook's ``make_step(strategy, model, learning_rate, global_batch)
    -> (gradients, exchange)``; each worker runs its source. ``ports``: one per worker (None: free ones);
    ``timeout_seconds`` [s] for the run; ``fail={"worker": i, "at": "start" | "train"}`` makes worker i raise
    there; ``log_dir`` keeps the logs. Raises :class:`PortInUseError` (a taken port) or :class:`WorkerError`
    (a worker died or time ran out); no worker is left running.
    """
    num_workers = positive_int("num_workers", num_workers)
    timeout_seconds = positive_number("timeout_seconds", timeout_seconds)
    ports = free_ports(num_workers) if ports is None else [int(p) for p in ports]
    if len(ports) != num_workers:
        raise ValueError(f"need one port per worker: {num_workers} workers, {len(ports)} ports")
    instance("step", step, types.FunctionType, "function make_step(strategy, model, learning_rate, global_batch)")
    check_ports_free(ports)
    run_dir = Path(log_dir or tempfile.mkdtemp(prefix="course09_"))
    run_dir.mkdir(parents=True, exist_ok=True)
    source = textwrap.dedent(inspect.getsource(step))  # the workers run the step from its source
    (run_dir / "plan.json").write_text(json.dumps({**plan, "fail": fail, "deadline_seconds": timeout_seconds + 30,
                                                   "step_source": source, "step_name": step.__name__}))
    # one CPU thread each (on one GPU each would claim all its memory); this package first on the path
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parents[2]), env.get("PYTHONPATH")]))
    phases = 1 + len(plan.get("allreduce", [])) * (num_workers > 1) + (plan.get("blocks", 5) + 1) * bool(plan.get("trainings"))
    deadline, procs = time.monotonic() + timeout_seconds, []
    try:
        for i in range(num_workers):
            with open(run_dir / f"worker_{i}.log", "wb") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "course_utils.labs.scaling", str(i), str(run_dir)],
                    env={**env, "TF_CONFIG": json.dumps(tf_config(ports, i))}, stdout=log,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=os.name == "posix"))
        with tqdm(total=phases, desc=f"{num_workers} worker(s)", disable=not progress, leave=False) as bar:
            while not all(p.poll() == 0 for p in procs):
                for i, p in enumerate(procs):
                    if p.poll() not in (None, 0):
                        raise _failure(i, p.returncode, ports, run_dir)
                if time.monotonic() > deadline:
                    tails = "\n".join(f"  worker {i}:\n{_log_tail(run_dir / f'worker_{i}.log', 4)}" for i in range(num_workers))
                    raise WorkerError(f"The workers did not finish within {timeout_seconds:.0f} s and were stopped. "
                                      f"A slow or busy machine: raise timeout_seconds or measure less.\n{tails}")
                with contextlib.suppress(OSError):  # worker 0 prints a line per phase done
                    bar.update(min(phases, (run_dir / "worker_0.log").read_text(errors="replace").count("@progress")) - bar.n)
                time.sleep(0.1)
        results = [json.loads((run_dir / f"worker_{i}.json").read_text()) for i in range(num_workers)]
    finally:  # stop every worker still running (each leads its own process group), and reap it
        for p in procs:
            if p.poll() is None:  # not reaped yet, so its pid is still its own
                with contextlib.suppress(OSError):
                    os.killpg(p.pid, signal.SIGKILL) if os.name == "posix" else p.kill()
                p.wait()
    if not log_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
    return results


def _all_reduce_fn(strategy: Any, tensors: Any) -> Any:
    """A compiled all-reduce of ``tensors()``, made inside the replica (not passed in: TF 2.21 fails)."""
    import tensorflow as tf

    @tf.function
    def run() -> Any:
        out = strategy.run(lambda: tf.distribute.get_replica_context().all_reduce("sum", tensors()))
        return tf.nest.flatten(strategy.experimental_local_results(out))[0]

    return run


def _trainer(strategy: Any, build: Callable, make_step: Callable, plan: dict[str, Any], global_batch: int) -> tuple:
    """A fresh model (seeded: the same every time) and its ``step(x, y) -> (loss, compute, exchange, step [s])``."""
    import keras
    import tensorflow as tf
    keras.utils.set_random_seed(plan.get("seed", 0))
    with strategy.scope():
        model = build()
    gradients, exchange = make_step(strategy, model, plan.get("learning_rate", 0.05), global_batch)
    local = lambda v: tf.nest.flatten(strategy.experimental_local_results(v))[0]  # noqa: E731

    def step(x: Any, y: Any) -> tuple[float, float, float, float]:
        start = time.perf_counter()  # the whole step's clock includes making the shard's tensors
        x, y, begin = tf.constant(x), tf.constant(y), time.perf_counter()
        loss, grads = gradients(x, y)
        loss, middle = float(local(loss)), time.perf_counter()  # materialised before the clock stops
        local(exchange(grads)).numpy()
        end = time.perf_counter()
        return loss, middle - begin, end - middle, end - start

    return model, step


def _block(case: dict[str, Any], ks: range, n: int, index: int, barrier: Any) -> None:
    """Steps ``ks`` by all workers (worker i takes part i of global batch k), then by worker 0 alone."""
    xs, ys = case["xs"], case["ys"]  # the data in batches of the per-worker size
    barrier().numpy()
    case["two"] += [case["step2"](xs[k * n + index], ys[k * n + index]) for k in ks]
    barrier().numpy()
    cpu, wall = time.process_time(), time.perf_counter()
    case["one"] += [case["step1"](xs[k], ys[k]) for k in ks] if index == 0 else []
    barrier().numpy()  # worker 1 waits here while worker 0 steps alone: its CPU and wall seconds meanwhile
    case["wait"] = [case["wait"][0] + time.process_time() - cpu, case["wait"][1] + time.perf_counter() - wall]


def _worker_main(index: int, run_dir: Path) -> None:
    plan = json.loads((run_dir / "plan.json").read_text())
    parent, deadline = os.getppid(), time.monotonic() + plan["deadline_seconds"]

    def watchdog() -> None:  # never outlive the launcher, nor the deadline
        while os.getppid() == parent and time.monotonic() < deadline:
            time.sleep(0.5)
        os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()
    fail = plan["fail"] if (plan["fail"] or {}).get("worker") == index else {}
    if fail.get("at") == "start":
        raise RuntimeError(f"worker {index} fails on purpose at 'start' (fail={fail})")
    started = time.perf_counter()
    import keras
    import tensorflow as tf  # course_utils, this module's package, has set TF's knobs already

    from .. import data, models

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    ring = tf.distribute.experimental.CommunicationImplementation.RING  # section 1's ring all-reduce
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(implementation=ring))
    n = strategy.num_replicas_in_sync
    result: dict[str, Any] = {"index": index, "pid": os.getpid(), "num_workers": n, "allreduce": [], "steps": [],
                              "address": json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"][index],
                              "startup_seconds": time.perf_counter() - started, "bytes_all_reduced": 0}
    print("@progress strategy ready", flush=True)
    barrier = _all_reduce_fn(strategy, lambda: tf.zeros([1]))
    for nbytes, repeats in plan.get("allreduce", []) if n > 1 else []:
        length = max(1, int(nbytes) // 4)
        fn, seconds = _all_reduce_fn(strategy, lambda length=length: tf.fill([length], 1.0)), []
        fn().numpy()  # warm-up (tracing, first exchange)
        for _ in range(repeats):
            barrier().numpy()  # line the workers up, so a late peer's lag is not timed
            start = time.perf_counter()
            fn().numpy()  # results materialised before the clock stops
            seconds.append(time.perf_counter() - start)
        result["allreduce"].append({"bytes": 4 * length, "seconds": seconds})
        result["bytes_all_reduced"] += 4 * length * (repeats + 1)
        print(f"@progress all-reduce {4 * length} B", flush=True)
    warmup, size, blocks = plan.get("warmup_steps", 3), plan.get("steps_per_block", 5), plan.get("blocks", 5)
    count, cases = warmup + blocks * size, []  # steps per case
    if plan.get("trainings"):
        exec(plan["step_source"], namespace := {"tf": tf, "keras": keras, "np": np})  # the notebook's make_step
        make_step, (x_all, y_all) = namespace[plan["step_name"]], data.load_mnist()[0]
    for name, batch in plan.get("trainings", []):
        build = {"mlp": lambda: models.mlp(512, depth=1, dropout=0.0), "lenet": models.lenet_keras}[name]
        x = x_all[: count * batch * n]
        x = x.reshape(len(x), -1) / np.float32(255) if name == "mlp" else data.to_float_images(x, pad=2)
        model, step2 = _trainer(strategy, build, make_step, plan, batch * n)
        step1 = _trainer(tf.distribute.get_strategy(), build, make_step, plan, batch)[1] if index == 0 else None
        cases.append(dict(model=model, step2=step2, step1=step1, xs=np.split(x, count * n),
                          ys=np.split(y_all[: count * batch * n], count * n), two=[], one=[], wait=[0.0, 0.0]))
    for j in range(-1, blocks if cases else -1):  # block -1: the warm-up steps; every case in every block
        if j == 0 and fail.get("at") == "train":
            raise RuntimeError(f"worker {index} fails on purpose at 'train' (fail={fail})")
        for case in cases:
            _block(case, range(warmup) if j < 0 else range(warmup + j * size, warmup + (j + 1) * size), n, index, barrier)
        print(f"@progress block {j + 1}", flush=True)
    for (name, batch), case in zip(plan.get("trainings", []), cases, strict=True):  # what the steps measured
        weights, two, one = [v.numpy() for v in case["model"].trainable_variables], case["two"], case["one"]
        entry = {"model": name, "per_worker_batch": batch, "global_batch": batch * n, "params": case["model"].count_params(),
                 "gradient_bytes": sum(w.nbytes for w in weights), "gradient_tensors": len(weights),
                 "weights_sha256": hashlib.sha256(b"".join(w.tobytes() for w in weights)).hexdigest(),
                 "losses": [s[0] for s in two], "one_worker_losses": [s[0] for s in one],
                 "wait_cpu_share": case["wait"][0] / case["wait"][1] if index else None}
        for key, steps in (("", two[warmup:]), ("one_worker_", one[warmup:])):  # the timed steps
            entry |= {f"{key}{part}_seconds": [s[i] for s in steps] for i, part in enumerate(("compute", "exchange", "step"), 1)}
        result["steps"].append(entry)
        result["bytes_all_reduced"] += entry["gradient_bytes"] * count * (n > 1)
    (run_dir / f"worker_{index}.json").write_text(json.dumps(result))


if __name__ == "__main__":  # a worker: python -m course_utils.labs.scaling INDEX RUN_DIR
    _worker_main(int(sys.argv[1]), Path(sys.argv[2]))
