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
import datetime as dt
import json
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


def _make_step(model):
    """A compiled SGD step with its own optimizer, as `fit` would build it."""
    import keras
    import tensorflow as tf

    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    @tf.function
    def step(images: tf.Tensor, labels: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

    return step


def _train_epochs(ds, step, epochs: int) -> list[float]:
    """Seconds per epoch of running `step` over every batch of `ds`."""
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        for images, labels in ds:
            step(images, labels)
        seconds.append(time.perf_counter() - start)
    return seconds


def _rates(images: int, seconds: list[float]) -> dict[str, object]:
    steady = seconds[1:] or seconds
    return {"epoch_seconds": [round(s, 3) for s in seconds],
            "images_per_s_all_epochs": round(images * len(seconds) / sum(seconds), 1),
            "images_per_s_after_first_epoch": round(images * len(steady) / sum(steady), 1)}


def _speedups(section: dict) -> None:
    for key in ("after_first_epoch", "all_epochs"):
        section[f"speedup_{key}"] = round(section["ours"][f"images_per_s_{key}"]
                                          / section["study"][f"images_per_s_{key}"], 2)


def bench_training(n_images: int, batch: int, epochs: int, widths: Sequence[float],
                   workdir: Path) -> dict[str, object]:
    """Pipelines alone, then pipeline + train step per model width, for ours and the study's.

    On a CPU the full-width step dominates; narrower models stand in for a fast accelerator,
    where the input pipeline decides throughput.
    """
    import keras

    from workloads.cifar10 import data
    from workloads.cifar10.model import build_vgg

    images, labels = data.synthetic_arrays(n_images, seed=0)
    data.write_tfrecords(images, labels, str(workdir / "records"), "train", shards=4)
    source = str(workdir / "records")
    steps = n_images // batch

    def ours():
        return data.train_pipeline(data.load_tfrecords(source, "train"), batch, seed=0)

    def study():
        # without the ragged last batch, so both feed the step the same images per epoch
        return data.study_pipeline(data.load_tfrecords(source, "train"), batch, seed=0).take(steps)

    pipelines = (("study", study), ("ours", ours))
    pipeline_only = {name: _rates(steps * batch, _consume(make(), epochs))
                     for name, make in pipelines}
    _speedups(pipeline_only)
    result: dict[str, object] = {
        "source": f"{n_images} synthetic images as PNG-encoded CIFAR-10 TFRecords, 4 shards",
        "batch_size": batch, "epochs": epochs, "ours_includes_augmentation": True,
        "pipeline_only": pipeline_only,
    }
    for width in widths:
        keras.utils.set_random_seed(0)
        model = build_vgg(width=width)
        section: dict[str, object] = {"model": f"vgg (num_layers 3, num_units 1024, "
                                               f"width {width})"}
        for name, make in pipelines:
            step = _make_step(model)
            _train_epochs(make().take(2), step, 1)  # trace the step outside the timing
            section[name] = _rates(steps * batch, _train_epochs(make(), step, epochs))
        _speedups(section)
        result[f"pipeline_plus_step_width_{width}"] = section
    return result


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


def _load(url: str, requests: int, concurrency: int, images_per_request: int) -> dict[str, object]:
    """Send `requests` V1 predicts from `concurrency` keep-alive clients; latency percentiles."""
    import httpx

    from workloads.cifar10.data import synthetic_arrays

    images = synthetic_arrays(images_per_request * 8, seed=9)[0]
    bodies = [{"instances": images[i * images_per_request:(i + 1) * images_per_request].tolist()}
              for i in range(8)]
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    per_client = requests // concurrency

    def client(index: int) -> None:
        nonlocal errors
        with httpx.Client(timeout=60) as http:
            for i in range(per_client):
                start = time.perf_counter()
                response = http.post(url, json=bodies[(index + i) % len(bodies)])
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    errors += response.status_code != 200

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    ms = sorted(1000 * x for x in latencies)
    return {"requests": len(ms), "errors": errors, "requests_per_s": round(len(ms) / wall, 1),
            "p50_ms": round(statistics.median(ms), 2),
            "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 2)}


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


def bench_serving(width: float, requests: int, concurrency: int, images_per_request: int,
                  workdir: Path) -> dict[str, object]:
    """The KServe predictor vs per-request `model.predict`, each in its own process."""
    _export(width, workdir)
    env = _server_env()
    commands = {
        "study_model_predict": [sys.executable, "-m", "workloads.cifar10.naive_server",
                                "--model", str(workdir / "model.keras")],
        "ours_kserve": [sys.executable, "-m", "workloads.cifar10.serve",
                        "--model-dir", str(workdir / "model"), "--host", "127.0.0.1"],
    }
    result: dict[str, object] = {
        "model": f"vgg (num_layers 3, num_units 1024, width {width}), untrained weights",
        "client": f"{concurrency} keep-alive httpx clients, {images_per_request} image(s) per "
                  f"V1 request, after 20 warm-up requests",
    }
    for name, command in commands.items():
        port = _free_port()
        proc = subprocess.Popen([*command, "--port", str(port)], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/v1/models/cifar10:predict"
        try:
            _wait_ready(url, proc)
            _load(url, 20, 1, images_per_request)
            result[name] = _load(url, requests, concurrency, images_per_request)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    ours, study = result["ours_kserve"], result["study_model_predict"]
    result["speedup_requests_per_s"] = round(ours["requests_per_s"] / study["requests_per_s"], 2)
    result["p50_ratio_study_over_ours"] = round(study["p50_ms"] / ours["p50_ms"], 2)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run both benchmarks and write the results file (`--quick` for a smoke run)."""
    parser = argparse.ArgumentParser(prog="python -m workloads.cifar10.bench")
    parser.add_argument("--quick", action="store_true", help="tiny sizes; do not write results")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", choices=["body-limit"],
                        help="measure only this and replace its section of the results file")
    args = parser.parse_args(argv)
    if args.only:
        return _update_body_limit(args.out)
    quick = args.quick
    sizes = dict(n_images=256 if quick else 4096, batch=64 if quick else 128,
                 epochs=2 if quick else 3, widths=(0.25, 0.0625))
    with tempfile.TemporaryDirectory(prefix="cifar10-bench-") as tmp:
        workdir = Path(tmp)
        results = {
            "machine": machine_info(),
            "training": bench_training(workdir=workdir, **sizes),
            "serving": bench_serving(width=0.25, requests=40 if quick else 400, concurrency=4,
                                     images_per_request=1, workdir=workdir),
            "predictor_memory_at_body_limit": bench_body_limit(width=0.25, workdir=workdir),
        }
    text = yaml.safe_dump(results, sort_keys=False)
    print(text)
    if not quick:
        _write(args.out, text)
    return 0


def _update_body_limit(out: Path) -> int:
    """Re-measure the body-limit section alone, with its own date, keeping the other results."""
    results = yaml.safe_load(out.read_text()) if out.exists() else {}
    with tempfile.TemporaryDirectory(prefix="cifar10-bench-") as tmp:
        section = bench_body_limit(width=0.25, workdir=Path(tmp))
    section["date"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    results["predictor_memory_at_body_limit"] = section
    text = yaml.safe_dump(results, sort_keys=False)
    print(yaml.safe_dump(section, sort_keys=False))
    _write(out, text)
    return 0


def _write(out: Path, text: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    header = ("# Measured by `python -m workloads.cifar10.bench` (make bench); regenerate, "
              "do not edit.\n")
    out.write_text(header + text)
    print(f"results written to {out}")


if __name__ == "__main__":
    sys.exit(main())
