"""Benchmarks of the CIFAR-10 workload: `python -m workloads.cifar10.bench` (part of `make bench`).

1. Training throughput, images/s, for the same model and train step fed by our input pipeline
   (`data.train_pipeline`) and by the study's (`data.study_pipeline`: map → shuffle → batch),
   both reading PNG-encoded CIFAR-10 TFRecords as tfds stores them. Also the pipelines alone.
2. Serving on loopback: requests/s and p50/p99 latency of the KServe predictor against the
   study's way of serving (a plain HTTP server calling `model.predict` per request), each in its
   own process, driven by the same client.
3. The predictor's peak memory (RSS) while it receives a body at its limit (served) and bodies
   just above it, declared and chunked (refused with 413).

Results, with the machine they ran on, go to `workloads/cifar10/benchmarks/results.yaml`.
Everything runs on synthetic data, so numbers compare pipelines and servers, not accuracy.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

RESULTS = Path(__file__).parent / "benchmarks" / "results.yaml"
REPO = Path(__file__).resolve().parents[2]


def machine_info() -> dict[str, object]:
    """What the numbers were measured on: `facts.machine.machine_info` with the workload's
    packages, plus usable CPUs, memory, GPUs and the date."""
    import tensorflow as tf

    from facts.machine import machine_info as base_info

    memory_gb = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kb = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory_gb = round(total_kb / 1024 / 1024, 1)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **base_info(("keras", "kserve")), "tensorflow": tf.__version__,
        "usable_cpus": usable, "memory_gb": memory_gb,
        "gpus": len(tf.config.list_physical_devices("GPU")),
    }


# --- training ----------------------------------------------------------------------------------

def _consume(ds, epochs: int) -> list[float]:
    """Seconds per epoch to iterate `ds` fully."""
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        for _batch in ds:
            pass
        seconds.append(time.perf_counter() - start)
    return seconds


def _rates(images: int, seconds: list[float]) -> dict[str, object]:
    steady = seconds[1:] or seconds
    return {"epoch_seconds": [round(s, 3) for s in seconds],
            "images_per_s_all_epochs": round(images * len(seconds) / sum(seconds), 1),
            "images_per_s_after_first_epoch": round(images * len(steady) / sum(steady), 1)}


def _ratio(section: dict, a: str, b: str, key: str = "after_first_epoch") -> float:
    return round(section[a][f"images_per_s_{key}"] / section[b][f"images_per_s_{key}"], 2)


def _speedups(section: dict) -> None:
    for key in ("after_first_epoch", "all_epochs"):
        section[f"speedup_{key}"] = _ratio(section, "ours", "study", key)


def _study_fit(make_ds, width: float, epochs: int) -> list[float]:
    """Seconds per epoch of the study's way: its pipeline into Keras `fit`, float32."""
    import keras

    from workloads.cifar10.model import build_vgg

    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    model = build_vgg(width=width)
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    seconds: list[float] = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: object = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            seconds.append(time.perf_counter() - self.started)

    model.fit(make_ds(), epochs=epochs, verbose=0, callbacks=[EpochTimer()])
    return seconds


def _our_trainer(make_ds, width: float, batch: int, steps: int, epochs: int, policy: str,
                 backup_dir: Path) -> list[float]:
    """Seconds per epoch of our trainer's loop (`loop.TrainingLoop`: distributed step, metrics,
    a checkpoint after each epoch) on our pipeline, under the Keras policy `policy`."""
    import keras
    import tensorflow as tf

    from workloads.cifar10.loop import TrainingLoop
    from workloads.cifar10.model import build_vgg

    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    try:
        loop = TrainingLoop(tf.distribute.get_strategy(), lambda: build_vgg(width=width),
                            lambda: keras.optimizers.SGD(0.01, momentum=0.9), batch,
                            str(backup_dir), {"benchmark": policy})
        seconds: list[float] = []
        mark = [time.perf_counter()]

        def on_epoch_end(_result: object) -> None:
            now = time.perf_counter()
            seconds.append(now - mark[0])
            mark[0] = now

        loop.run(make_ds(), steps, epochs, None, on_epoch_end)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return seconds


def bench_training(n_images: int, batch: int, epochs: int, widths: Sequence[float],
                   workdir: Path) -> dict[str, object]:
    """Pipelines alone, then each trainer end to end per model width.

    The study's trainer is its pipeline (map → shuffle → batch) into Keras `fit` in float32.
    Ours is our pipeline (cached, with augmentation, prefetched) into our training loop, once in
    float32 and once in the policy `--precision auto` picks here (mixed bfloat16 on a CPU that
    has it), so the precision's effect is measured on the same model and pipeline. On a CPU
    the full-width step dominates; narrower models stand in for a fast accelerator, where the
    input pipeline decides throughput.
    """
    import tensorflow as tf

    from workloads.cifar10 import data
    from workloads.cifar10.precision import choose_policy, cpu_flags

    images, labels = data.synthetic_arrays(n_images, seed=0)
    data.write_tfrecords(images, labels, str(workdir / "records"), "train", shards=4)
    source = str(workdir / "records")
    steps = n_images // batch

    def ours(repeat: bool = False):
        return data.train_pipeline(data.load_tfrecords(source, "train"), batch, seed=0,
                                   repeat=repeat)

    def study():
        # without the ragged last batch, so both feed the step the same images per epoch
        return data.study_pipeline(data.load_tfrecords(source, "train"), batch, seed=0).take(steps)

    pipeline_only = {name: _rates(steps * batch, _consume(make(), epochs))
                     for name, make in (("study", study), ("ours", ours))}
    _speedups(pipeline_only)
    auto, why = choose_policy("auto", bool(tf.config.list_physical_devices("GPU")), cpu_flags())
    result: dict[str, object] = {
        "source": f"{n_images} synthetic images as PNG-encoded CIFAR-10 TFRecords, 4 shards",
        "batch_size": batch, "epochs": epochs, "ours_includes_augmentation": True,
        "precision_auto": f"{auto} ({why})",
        "pipeline_only": pipeline_only,
    }
    for width in widths:
        section: dict[str, object] = {
            "model": f"vgg (num_layers 3, num_units 1024, width {width})",
            "study": _rates(steps * batch, _study_fit(study, width, epochs)),
            "ours_float32": _rates(steps * batch, _our_trainer(
                lambda: ours(repeat=True), width, batch, steps, epochs, "float32",
                workdir / f"backup-{width}-float32")),
        }
        if auto == "float32":
            section["ours"] = section["ours_float32"]
        else:
            section["ours"] = _rates(steps * batch, _our_trainer(
                lambda: ours(repeat=True), width, batch, steps, epochs, auto,
                workdir / f"backup-{width}-{auto}"))
        section["ours_policy"] = auto
        _speedups(section)
        section["precision_speedup_after_first_epoch"] = _ratio(section, "ours", "ours_float32")
        result[f"end_to_end_width_{width}"] = section
    return result


PRECISION_GOAL = 1.3
"""Mixed bfloat16 should train at least this many times as many images/s as float32."""


def bench_precision_accuracy(seeds: Sequence[int], epochs: int, train_size: int,
                             workdir: Path) -> dict[str, object]:
    """Test accuracy of the trainer on the synthetic task per seed, in float32 and in mixed
    bfloat16: whether the policy changes accuracy beyond the spread between seeds."""
    from workloads.cifar10.config import parse_args
    from workloads.cifar10.train import train

    runs: dict[str, list[float]] = {}
    for policy in ("float32", "mixed_bfloat16"):
        for seed in seeds:
            run = f"{policy}-{seed}"
            cfg = parse_args(["--data", "synthetic", "--model", "vgg", "--width", "0.25",
                              "--epochs", str(epochs), "--synthetic-train-size",
                              str(train_size), "--seed", str(seed), "--precision", policy,
                              "--run-id", run, "--model-dir", str(workdir / "acc" / "model"),
                              "--checkpoint-dir", str(workdir / "acc" / "ckpt"),
                              "--tensorboard-dir", str(workdir / "acc" / "tb")], environ={})
            with contextlib.redirect_stdout(io.StringIO()):
                metrics = train(cfg, environ={})
            runs.setdefault(policy, []).append(round(float(metrics["accuracy"]), 4))
    summary = {policy: {"test_accuracy_by_seed": accs,
                        "mean": round(statistics.mean(accs), 4),
                        "stdev": round(statistics.stdev(accs), 4) if len(accs) > 1 else 0.0}
               for policy, accs in runs.items()}
    difference = summary["mixed_bfloat16"]["mean"] - summary["float32"]["mean"]
    # two standard errors of the difference of two means over the seeds
    noise = 2 * math.sqrt(sum(summary[p]["stdev"] ** 2 / len(runs[p]) for p in summary))
    return {"task": f"synthetic, {train_size} training images (10 % held out), vgg width "
                    f"0.25, {epochs} epoch(s), seeds {', '.join(map(str, seeds))}",
            **summary, "mean_difference": round(difference, 4),
            "noise": f"2 standard errors of the difference of the means: {noise:.4f}",
            "within_noise": bool(abs(difference) <= noise)}


PRECISION_GOAL_SECTION = "end_to_end_width_0.25"
"""The model the precision goal is judged on: the VGG at width 0.25, the benchmark's model. At
width 0.0625 a step is too small to be bound by arithmetic, so its ratio is shown, not judged."""


def precision_goal(training: dict[str, object]) -> dict[str, object]:
    """The bfloat16 throughput goal, judged on `PRECISION_GOAL_SECTION`."""
    section = training.get(PRECISION_GOAL_SECTION)
    goal = (f"mixed bfloat16 ≥ {PRECISION_GOAL:g}× float32 images/s, same model (VGG, width "
            f"0.25) and pipeline, after the first epoch")
    if not isinstance(section, dict) or section.get("ours_policy") != "mixed_bfloat16":
        return {"goal": goal, "met": None,
                "why": "this CPU has no native bfloat16: not measured"}
    ratio = section["precision_speedup_after_first_epoch"]
    others = {key: value["precision_speedup_after_first_epoch"]
              for key, value in training.items()
              if key.startswith("end_to_end_") and key != PRECISION_GOAL_SECTION
              and isinstance(value, dict) and value.get("ours_policy") == "mixed_bfloat16"}
    return {"goal": goal, "ratio": ratio, "other_widths": others,
            "met": bool(ratio >= PRECISION_GOAL)}


# --- serving -----------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    import httpx

    body = {"instances": [[[[0] * 3] * 32] * 32]}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.post(url, json=body, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server at {url} not ready after {timeout}s")


def _bodies(images_per_request: int, count: int = 8) -> list[bytes]:
    """`count` V1 bodies of `images_per_request` synthetic images each, encoded once."""
    from workloads.cifar10.data import synthetic_arrays

    images = synthetic_arrays(images_per_request * count, seed=9)[0]
    return [json.dumps({"instances": images[i * images_per_request:
                                            (i + 1) * images_per_request].tolist()}).encode()
            for i in range(count)]


def _cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU seconds process `pid` has used so far (Linux), else None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load(url: str, seconds: float, concurrency: int, images_per_request: int,
          warmup: int = 3, pid: int | None = None) -> dict[str, object]:
    """`concurrency` keep-alive clients each sending V1 predicts back to back for `seconds`
    (after `warmup` requests each); requests/s, images/s and latency percentiles, and with the
    server's `pid` the CPU it used per request and on average (cores).

    Bodies are encoded before the clock starts and sent with `http.client`, so the clients,
    which share the machine with the server, spend as little CPU as a client can.
    """
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    bodies = _bodies(images_per_request)
    headers = {"content-type": "application/json"}
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    warmed = threading.Barrier(concurrency + 1, timeout=300)
    go = threading.Event()
    stop_at = [0.0]

    def client(index: int) -> None:
        nonlocal errors
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        connection.connect()
        # As curl and most HTTP clients do: a request's last packet leaves without waiting
        # for the server to acknowledge the one before.
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mine: list[float] = []
        failed = 0

        def post(body: bytes) -> bool:
            connection.request("POST", parts.path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status == 200

        try:
            try:
                for i in range(warmup):
                    post(bodies[(index + i) % len(bodies)])
            except BaseException:
                warmed.abort()  # the others, and the caller, stop waiting for this client
                raise
            warmed.wait()
            go.wait()
            i = 0
            while time.perf_counter() < stop_at[0]:
                began = time.perf_counter()
                ok = post(bodies[(index + i) % len(bodies)])
                mine.append(time.perf_counter() - began)
                failed += not ok
                i += 1
        finally:
            connection.close()
            with lock:
                latencies.extend(mine)
                errors += failed

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    warmed.wait()
    cpu_before = _cpu_seconds(pid)
    start = time.perf_counter()
    stop_at[0] = start + seconds
    go.set()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    cpu_after = _cpu_seconds(pid)
    ms = sorted(1000 * x for x in latencies)
    row: dict[str, object] = {
        "requests": len(ms), "errors": errors, "requests_per_s": round(len(ms) / wall, 1),
        "images_per_s": round(len(ms) * images_per_request / wall, 1),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 2)}
    if cpu_before is not None and cpu_after is not None and ms:
        used = cpu_after - cpu_before
        row["server_cpu_ms_per_request"] = round(1000 * used / len(ms), 3)
        row["server_cores"] = round(used / wall, 2)
    return row


def _export(width: float, workdir: Path) -> None:
    """The benchmark's untrained VGG as SavedModel `workdir/model/1` and `model.keras`, once."""
    if (workdir / "model.keras").exists():
        return
    import keras

    from workloads.cifar10.export import export_saved_model
    from workloads.cifar10.model import build_vgg

    keras.utils.set_random_seed(0)
    model = build_vgg(width=width)
    export_saved_model(model, str(workdir / "model" / "1"))
    model.save(workdir / "model.keras")


def _server_env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}


SERVERS = {
    "study_model_predict": "the study's server: Keras model.predict per request",
    "direct_serving_function": "plain HTTP server calling the SavedModel's serving_default "
                               "per request, batch as sent",
    "ours_unbatched": "the KServe predictor with --batch-max-size 1 (each request alone)",
    "ours_kserve": "the KServe predictor as shipped (adaptive batching, default settings, "
                   "the model on every CPU but one)",
}
"""The servers the benchmark compares, by the key their results are stored under."""
CONCURRENCY = (1, 4, 16)
BUSY_CLIENTS = 16
"""The concurrency the throughput goal is judged at."""
IMAGES_PER_REQUEST = (1, 32)
GOALS = {"requests_per_s_ratio_at_16_clients": 3.0, "p50_ratio_at_1_client": 1.10}
"""Serving goals: at 16 one-image clients, ours ≥ 3× the direct server's requests/s with a p99
no worse; at 1 client, our p50 within 10 % of its."""


def _server_command(name: str, workdir: Path, batching: Sequence[str] = ()) -> list[str]:
    if name == "study_model_predict":
        return [sys.executable, "-m", "workloads.cifar10.naive_server",
                "--model", str(workdir / "model.keras")]
    if name == "direct_serving_function":
        return [sys.executable, "-m", "workloads.cifar10.naive_server",
                "--saved-model", str(workdir / "model" / "1")]
    extra = ["--batch-max-size", "1"] if name == "ours_unbatched" else list(batching)
    return [sys.executable, "-m", "workloads.cifar10.serve", "--model-dir",
            str(workdir / "model"), "--host", "127.0.0.1", *extra]


class _Server:
    """A server process on a free port, started at once; `ready()` waits until it answers."""

    def __init__(self, command: list[str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1/models/cifar10:predict"
        self.proc = subprocess.Popen([*command, "--port", str(self.port)], cwd=REPO,
                                     env=_server_env(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def ready(self) -> _Server:
        _wait_ready(self.url, self.proc)
        return self

    def __enter__(self) -> _Server:
        try:
            return self.ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _start_all(stack: contextlib.ExitStack, commands: dict) -> dict:
    """Every server of `commands` started together (their start-ups overlap), stopped when
    `stack` closes, and ready."""
    servers = {key: _Server(command) for key, command in commands.items()}
    for server in servers.values():
        stack.callback(server.stop)
    return {key: server.ready() for key, server in servers.items()}


def model_call_rates(width: float, workdir: Path, sizes: Sequence[int],
                     seconds: float) -> dict[int, float]:
    """Images/s of the exported model's serving function called in-process, per batch size:
    what batching can gain before any HTTP or JSON work."""
    import numpy as np

    from workloads.cifar10.export import LoadedClassifier

    _export(width, workdir)
    classifier = LoadedClassifier(str(workdir / "model" / "1"))
    rng = np.random.default_rng(0)
    rates = {}
    for size in sizes:
        images = rng.uniform(0, 255, (size, 32, 32, 3)).astype(np.float32)
        classifier(images)
        calls, start = 0, time.perf_counter()
        while calls < 3 or time.perf_counter() - start < seconds:
            classifier(images).numpy()
            calls += 1
        rates[size] = round(size * calls / (time.perf_counter() - start), 1)
    return rates


def _median_row(runs: list[dict[str, object]]) -> dict[str, object]:
    """One cell from its repeated runs: the median of each figure, and how many runs."""
    keys = ("requests_per_s", "images_per_s", "p50_ms", "p99_ms", "server_cpu_ms_per_request",
            "server_cores")
    row: dict[str, object] = {key: round(statistics.median(r[key] for r in runs), 3)
                              for key in keys if all(key in r for r in runs)}
    row["requests"] = sum(int(r["requests"]) for r in runs)
    row["errors"] = sum(int(r["errors"]) for r in runs)
    row["runs"] = len(runs)
    return row


def bench_serving(width: float, seconds: float, workdir: Path, repeats: int = 3,
                  concurrency: Sequence[int] = CONCURRENCY,
                  images_per_request: Sequence[int] = IMAGES_PER_REQUEST,
                  servers: Sequence[str] = tuple(SERVERS)) -> dict[str, object]:
    """Each of `servers` (keys of `SERVERS`) under every load of the matrix.

    Each server runs in its own process, all of them started first and idle while another is
    measured. Each cell runs `repeats` times, the servers taking turns within a repeat, and
    keeps the median of each figure: on a shared machine a slow moment then falls on one
    server's run and not on one server's whole column.
    """
    from workloads.cifar10.batching import DEFAULT_MAX_SIZE, DEFAULT_MAX_WAIT_MS
    from workloads.cifar10.model_threads import default_threads, usable_cpus

    _export(width, workdir)
    matrix: dict[str, dict[str, dict[str, object]]] = {}
    with contextlib.ExitStack() as stack:
        running = _start_all(stack, {name: _server_command(name, workdir) for name in servers})
        for n in images_per_request:
            row = matrix.setdefault(f"{n}_image{'s' if n > 1 else ''}_per_request", {})
            for c in concurrency:
                runs: dict[str, list[dict[str, object]]] = {name: [] for name in running}
                for _ in range(repeats):
                    for name, server in running.items():
                        runs[name].append(_load(server.url, seconds, c, n,
                                                pid=server.proc.pid))
                row[f"{c}_clients"] = {name: _median_row(r) for name, r in runs.items()}
    alone = model_call_rates(width, workdir, sorted({1, *concurrency}), seconds / 2)
    return {
        "model": f"vgg (num_layers 3, num_units 1024, width {width}), untrained weights",
        "client": f"keep-alive http.client connections, one per client, each sending V1 "
                  f"requests back to back for {seconds:g} s after 3 warm-up requests; bodies "
                  f"encoded beforehand; clients and servers share the machine",
        "cells": f"each cell the median of {repeats} runs, the servers taking turns",
        "servers": {name: SERVERS[name] for name in servers},
        "ours_batching": {"max_size": DEFAULT_MAX_SIZE, "max_wait_ms": DEFAULT_MAX_WAIT_MS},
        "ours_model_threads": default_threads(usable_cpus()),
        "matrix": matrix,
        "model_alone_images_per_s_by_batch_size": alone,
    }


def serving_goals(matrix: dict[str, dict[str, dict[str, dict]]],
                  model_alone: dict[int, float] | None = None) -> dict[str, object]:
    """The serving goals of `GOALS`, each with its figures and whether it is met.

    With `model_alone` (images/s of the model called in-process, by batch size), the throughput
    goal also gets its ceiling: the model alone on batches of one image per client, over the
    direct server's requests/s. No server that batches those requests can pass it, whatever
    its HTTP and JSON cost, since on one machine they only take time from the model.
    """
    one = matrix.get("1_image_per_request", {})
    goals: dict[str, object] = {}
    busy, lone = one.get(f"{BUSY_CLIENTS}_clients"), one.get("1_clients")
    pair = ("ours_kserve", "direct_serving_function")
    busy = busy if busy and all(name in busy for name in pair) else None
    lone = lone if lone and all(name in lone for name in pair) else None
    if busy:
        ours, base = busy["ours_kserve"], busy["direct_serving_function"]
        ratio = round(ours["requests_per_s"] / base["requests_per_s"], 2)
        target = GOALS["requests_per_s_ratio_at_16_clients"]
        goals["16_clients_1_image"] = {
            "goal": f"requests/s ≥ {target:g}× the direct server's, p99 no worse",
            "ours_requests_per_s": ours["requests_per_s"],
            "direct_requests_per_s": base["requests_per_s"], "ratio": ratio,
            "ours_p99_ms": ours["p99_ms"], "direct_p99_ms": base["p99_ms"],
            "met": bool(ours["requests_per_s"] >= target * base["requests_per_s"]
                        and ours["p99_ms"] <= base["p99_ms"])}
        if model_alone and BUSY_CLIENTS in model_alone:
            ceiling = round(model_alone[BUSY_CLIENTS] / base["requests_per_s"], 2)
            goals["16_clients_1_image"].update(
                model_alone_images_per_s=model_alone[BUSY_CLIENTS], ceiling_ratio=ceiling,
                ceiling_above_goal=bool(
                    model_alone[BUSY_CLIENTS] >= target * base["requests_per_s"]))
    if lone:
        ours, base = lone["ours_kserve"], lone["direct_serving_function"]
        ratio = round(ours["p50_ms"] / base["p50_ms"], 2)
        target = GOALS["p50_ratio_at_1_client"]
        goals["1_client_1_image"] = {
            "goal": f"p50 within {round((target - 1) * 100):d} % of the direct server's",
            "ours_p50_ms": ours["p50_ms"], "direct_p50_ms": base["p50_ms"], "ratio": ratio,
            "met": bool(ours["p50_ms"] <= target * base["p50_ms"])}
    return goals


def bench_batch_settings(width: float, seconds: float, workdir: Path, sizes: Sequence[int],
                         waits: Sequence[float], clients: int = 16,
                         repeats: int = 3) -> dict[str, object]:
    """Our predictor at `clients` one-image clients per batching setting: each max size at the
    default wait, each wait at the default size, every server started first and taking turns,
    the median of `repeats` runs each. The defaults come from here."""
    from workloads.cifar10.batching import DEFAULT_MAX_SIZE, DEFAULT_MAX_WAIT_MS

    _export(width, workdir)
    settings = [(size, DEFAULT_MAX_WAIT_MS) for size in sizes]
    settings += [(DEFAULT_MAX_SIZE, wait) for wait in waits
                 if (DEFAULT_MAX_SIZE, wait) not in settings]
    runs: dict[tuple[int, float], list[dict[str, object]]] = {key: [] for key in settings}
    with contextlib.ExitStack() as stack:
        servers = _start_all(stack, {(size, wait): _server_command(
            "ours_kserve", workdir, ["--batch-max-size", str(size),
                                     "--batch-max-wait-ms", f"{wait:g}"])
            for size, wait in settings})
        for _ in range(repeats):
            for key, server in servers.items():
                runs[key].append(_load(server.url, seconds, clients, 1))
    return {"clients": clients, "images_per_request": 1,
            "cells": f"each the median of {repeats} runs, the servers taking turns",
            "model_call_images_per_s_by_batch_size": model_call_rates(
                width, workdir, sorted({1, 4, *sizes, 128}), seconds / 2),
            "runs": [{"max_size": size, "max_wait_ms": wait, **_median_row(runs[(size, wait)])}
                     for size, wait in settings]}


def bench_feature_log(width: float, workdir: Path, seconds: float = 3.0, rounds: int = 3,
                      concurrency: int = 4) -> dict[str, object]:
    """The predictor with and without its feature log (every request logged), alternating
    `rounds` times so both variants see the same machine; medians per variant, and the spread
    of the rounds as the noise any difference is read against."""
    _export(width, workdir)
    runs: dict[str, list[dict[str, object]]] = {"without_feature_log": [],
                                                 "with_feature_log": []}
    logged = 0
    for round_ in range(rounds):
        for name in runs:
            log = workdir / f"feature-log-{round_}"
            extra = ["--feature-log", str(log), "--feature-sample-rate", "1"] \
                if name == "with_feature_log" else []
            port = _free_port()
            proc = subprocess.Popen(
                [sys.executable, "-m", "workloads.cifar10.serve", "--model-dir",
                 str(workdir / "model"), "--host", "127.0.0.1", "--port", str(port), *extra],
                cwd=REPO, env=_server_env(), stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            url = f"http://127.0.0.1:{port}/v1/models/cifar10:predict"
            try:
                _wait_ready(url, proc)
                runs[name].append(_load(url, seconds, concurrency, 1))
            finally:
                proc.terminate()  # SIGTERM: the server drains and the log writes what it holds
                proc.wait(timeout=60)
            logged += sum(len(f.read_text().splitlines()) for f in log.rglob("*.jsonl"))
    result: dict[str, object] = {
        "model": f"vgg (num_layers 3, num_units 1024, width {width}), untrained weights",
        "client": f"{concurrency} keep-alive clients, 1 image per V1 request, {seconds:g} s "
                  f"per round after 3 warm-up requests each, {rounds} rounds alternating the "
                  "two servers",
        "records_logged": logged}
    for name, rounds_of in runs.items():
        result[name] = {key: statistics.median(float(r[key]) for r in rounds_of)
                        for key in ("requests_per_s", "p50_ms", "p99_ms")}
        result[name]["p50_ms_rounds"] = [r["p50_ms"] for r in rounds_of]
    off, on = result["without_feature_log"], result["with_feature_log"]
    noise = max(max(v["p50_ms_rounds"]) - min(v["p50_ms_rounds"]) for v in (off, on))
    difference = on["p50_ms"] - off["p50_ms"]
    result["p50_difference_ms"] = round(difference, 2)
    result["p50_spread_between_rounds_ms"] = round(noise, 2)
    result["difference_within_noise"] = abs(difference) <= noise
    return result


def _rss_mb(pid: int, field: str) -> float:
    """`VmRSS` (now) or `VmHWM` (peak since the last reset) of a process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return round(int(status.split(f"{field}:")[1].split()[0]) / 1024, 1)


def _reset_peak(pid: int) -> None:
    """Restart the process's peak RSS (`VmHWM`) from its current RSS (Linux ≥ 4.0)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _post_counted(url: str, content, headers: dict[str, str]) -> str:
    """POST and return the status, or how the connection ended when the server cut it."""
    import httpx

    try:
        return str(httpx.post(url, content=content, headers=headers, timeout=120).status_code)
    except httpx.HTTPError as err:
        return f"connection closed ({type(err).__name__})"


def bench_body_limit(width: float, workdir: Path) -> dict[str, object]:
    """Peak RSS of the predictor (default --max-batch and body limit) per body received."""
    from workloads.cifar10.serve import DEFAULT_MAX_BATCH, LONGEST_PIXEL, default_max_body_bytes

    _export(width, workdir)
    limit = default_max_body_bytes(DEFAULT_MAX_BATCH)
    image = [[[LONGEST_PIXEL] * 3] * 32] * 32
    verbose = json.dumps({"instances": [image] * DEFAULT_MAX_BATCH}).encode()
    at_limit = verbose + b" " * (limit - len(verbose))
    json_headers = {"content-type": "application/json"}

    def chunked():
        for start in range(0, limit + 1, 1 << 20):
            yield b" " * min(1 << 20, limit + 1 - start)

    cases = {  # refused first, so that the served body's memory does not inflate them
        "above_limit_declared": (at_limit + b" ", json_headers),
        "above_limit_chunked": (chunked, json_headers),
        "at_limit_v1_json": (at_limit, json_headers),
    }
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "workloads.cifar10.serve", "--model-dir",
                             str(workdir / "model"), "--port", str(port)], cwd=REPO,
                            env=_server_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1/models/cifar10:predict"
    result: dict[str, object] = {
        "model": f"vgg (num_layers 3, num_units 1024, width {width}), untrained weights",
        "max_batch": DEFAULT_MAX_BATCH, "body_limit_bytes": limit,
        "body_at_limit": f"{DEFAULT_MAX_BATCH} images as V1 JSON, every value the longest "
                         f"float text ({len(verbose)} bytes), padded with spaces to the limit",
    }
    try:
        _wait_ready(url, proc)
        result["rss_mb_when_ready"] = _rss_mb(proc.pid, "VmRSS")
        for name, (content, headers) in cases.items():
            _reset_peak(proc.pid)
            before = _rss_mb(proc.pid, "VmRSS")
            status = _post_counted(url, content() if callable(content) else content, headers)
            result[name] = {"status": status, "bytes_sent": len(content) if isinstance(
                content, bytes) else limit + 1, "rss_mb_before": before,
                "peak_rss_mb": _rss_mb(proc.pid, "VmHWM")}
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return result


SECTIONS = ("training", "precision", "serving", "batch-settings", "body-limit",
            "feature-log")
"""What `--only` can re-measure alone; each is a top-level key of the results file."""


def _load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (Linux): how busy the machine was around a run."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def measure(section: str, workdir: Path, quick: bool) -> dict[str, object]:
    """One section of the results, at full size or (`quick`) as a smoke run."""
    if section == "training":
        return bench_training(n_images=256 if quick else 4096, batch=64 if quick else 128,
                              epochs=2 if quick else 3, widths=(0.25, 0.0625),
                              workdir=workdir)
    if section == "precision":
        return bench_precision_accuracy(seeds=(0, 1) if quick else (0, 1, 2, 3, 4),
                                        epochs=1 if quick else 2,
                                        train_size=256 if quick else 2048, workdir=workdir)
    if section == "serving":
        return bench_serving(width=0.25, seconds=0.3 if quick else 3.0,
                             repeats=1 if quick else 3, workdir=workdir,
                             concurrency=(1, 4) if quick else CONCURRENCY,
                             images_per_request=(1,) if quick else IMAGES_PER_REQUEST)
    if section == "batch-settings":
        return bench_batch_settings(width=0.25, seconds=0.3 if quick else 3.0,
                                    workdir=workdir, sizes=(8,) if quick else (8, 16, 32, 64),
                                    waits=(0.0,) if quick else (0.0, 1.0, 2.0, 5.0))
    if section == "feature-log":
        return bench_feature_log(width=0.25, workdir=workdir, seconds=0.3 if quick else 3.0,
                                 rounds=1 if quick else 3)
    return bench_body_limit(width=0.25, workdir=workdir)


RESULT_KEYS = {"training": "training", "precision": "precision_accuracy",
               "serving": "serving", "batch-settings": "serving_batch_settings",
               "body-limit": "predictor_memory_at_body_limit",
               "feature-log": "serving_feature_log"}
"""The results file's key of each section."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and write the results file (`--quick`: a smoke run, nothing
    written unless `--out` is given; `--only`: one section, the others kept)."""
    parser = argparse.ArgumentParser(prog="python -m workloads.cifar10.bench")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes; write results only to an explicit --out")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"results file (default {RESULTS.relative_to(REPO)})")
    parser.add_argument("--only", choices=SECTIONS, action="append",
                        help="measure only this section (repeatable) and replace it in the "
                             "results file, keeping the others")
    args = parser.parse_args(argv)
    out = args.out or (None if args.quick else RESULTS)
    sections = args.only or list(SECTIONS)
    results: dict[str, object] = {}
    if args.only and out is not None and out.exists():
        results = yaml.safe_load(out.read_text()) or {}
    results["machine"] = machine_info()
    with tempfile.TemporaryDirectory(prefix="cifar10-bench-") as tmp:
        for section in sections:
            before = _load_average()
            measured = measure(section, Path(tmp), args.quick)
            measured["measured"] = {"date": dt.datetime.now(dt.UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"), "load_average_before": before,
                "load_average_after": _load_average()}
            results[RESULT_KEYS[section]] = measured
    results["goals"] = goals(results)
    text = yaml.safe_dump(results, sort_keys=False, allow_unicode=True)
    print(text)
    if out is not None:
        _write(out, text)
    return 0


def goals(results: dict[str, object]) -> dict[str, object]:
    """Every goal the results can judge, each with its figures and `met`."""
    found: dict[str, object] = {}
    training = results.get("training")
    if isinstance(training, dict):
        found["training_mixed_bfloat16"] = precision_goal(training)
    accuracy = results.get("precision_accuracy")
    if isinstance(accuracy, dict):
        found["accuracy_unchanged_by_bfloat16"] = {
            "goal": "test accuracy in mixed bfloat16 within the noise between seeds of "
                    "float32's", "difference": accuracy["mean_difference"],
            "met": accuracy["within_noise"]}
    serving = results.get("serving")
    if isinstance(serving, dict):
        found.update({f"serving_{key}": value for key, value in serving_goals(
            serving["matrix"], serving.get("model_alone_images_per_s_by_batch_size")).items()})
    return found


def _write(out: Path, text: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    header = ("# Measured by `python -m workloads.cifar10.bench` (make bench); regenerate, "
              "do not edit.\n")
    out.write_text(header + text)
    print(f"results written to {out}")


if __name__ == "__main__":
    sys.exit(main())
