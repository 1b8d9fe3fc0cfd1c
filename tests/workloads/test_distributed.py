"""Two workers on 127.0.0.1 train together under TF_CONFIG (MultiWorkerMirroredStrategy)."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from tests.workloads.conftest import (
    backup_of,
    epochs_in,
    export_of,
    read_metrics,
    start_trainer,
    tiny_args,
)


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def _run_two_workers(args: list[str]) -> tuple[list[subprocess.Popen], list[str]]:
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    procs = [start_trainer(args, {"TF_CONFIG": json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})})
        for index in range(2)]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=240)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return procs, outputs


@pytest.mark.slow
def test_two_workers_train_and_chief_exports(tmp_path: Path) -> None:
    args = tiny_args(tmp_path, "--model", "resnet", "--epochs", "2")
    procs, outputs = _run_two_workers(args)
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out
        assert "with 2 replica(s)" in out
        assert epochs_in(out) == [1, 2]
    assert "as worker-0" in outputs[0] and "as worker-1" in outputs[1]
    metrics = read_metrics(export_of(tmp_path))
    assert metrics["workers"] == 2 and metrics["replicas"] == 2
    assert "exported SavedModel" in outputs[0] and "exported SavedModel" not in outputs[1]


def _backup_after_one_epoch(args: list[str]) -> None:
    """What a preempted chief leaves: a backup of epoch 1 in --checkpoint-dir."""
    import tensorflow as tf

    from workloads.cifar10.config import parse_args
    from workloads.cifar10.loop import TrainingLoop
    from workloads.cifar10.model import build_model
    from workloads.cifar10.train import _optimizer, fingerprint

    cfg = parse_args(args, environ={})
    loop = TrainingLoop(tf.distribute.get_strategy(),
                        lambda: build_model(cfg.model, cfg.num_layers, cfg.num_units, cfg.width),
                        lambda: _optimizer(cfg), cfg.batch_size, cfg.run_checkpoint_dir,
                        fingerprint(cfg, "float32"))
    batch = (tf.zeros([cfg.batch_size, 32, 32, 3]), tf.zeros([cfg.batch_size], tf.int64))
    loop.run(tf.data.Dataset.from_tensors(batch).repeat(), 1, 1, None, lambda result: None)


@pytest.mark.slow
def test_every_worker_resumes_from_the_chiefs_backup(tmp_path: Path) -> None:
    args = tiny_args(tmp_path, "--model", "resnet", "--epochs", "2")
    _backup_after_one_epoch(args)
    assert list(backup_of(tmp_path).glob("ckpt-1.index"))
    procs, outputs = _run_two_workers(args)
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out
        assert epochs_in(out) == [2], out
    assert read_metrics(export_of(tmp_path))["resumed_at_epoch"] == 1
    assert not backup_of(tmp_path).exists()
