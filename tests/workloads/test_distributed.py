"""Two workers on 127.0.0.1 train together under TF_CONFIG (MultiWorkerMirroredStrategy)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.workloads.conftest import epochs_in, read_metrics, start_trainer, tiny_args


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_train_and_chief_exports(tmp_path: Path) -> None:
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    args = tiny_args(tmp_path, "--model", "resnet", "--epochs", "2")
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
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out
        assert "with 2 replica(s)" in out
        assert epochs_in(out) == [1, 2]
    assert "as worker-0" in outputs[0] and "as worker-1" in outputs[1]
    metrics = read_metrics(tmp_path / "model" / "1")
    assert metrics["workers"] == 2 and metrics["replicas"] == 2
    assert "exported SavedModel" in outputs[0] and "exported SavedModel" not in outputs[1]
