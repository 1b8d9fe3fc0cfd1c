"""A cluster task whose peers never come stops after --peer-timeout naming them, and SIGTERM
stops a trainer at any point, also while TensorFlow waits for the cluster to form."""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.workloads.conftest import backup_of, python_env, start_trainer, tiny_args
from workloads.cifar10.supervise import STATUS_FD_ENV, TERMINATED_EXIT, exit_status, supervise


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _child(body: str) -> list[str]:
    """A stand-in trainer: Python running `body` with `say(b"w")` to report to the supervisor."""
    prelude = (f"import os, sys, time\n"
               f"def say(b): os.write(int(os.environ[{STATUS_FD_ENV!r}]), b)\n")
    return [sys.executable, "-c", prelude + body]


def test_a_peer_that_never_answers_stops_the_task_naming_it(
        capsys: pytest.CaptureFixture) -> None:
    peer = ("worker-1", f"127.0.0.1:{_closed_port()}")
    started = time.monotonic()
    code = supervise(_child("say(b'w')\ntime.sleep(60)"), python_env(), [peer], 0.3, "r1")
    assert code == 2
    assert time.monotonic() - started < 10
    assert capsys.readouterr().err == (
        "error: run r1: the cluster did not form within --peer-timeout 0.3 s: no answer from "
        f"worker-1 at {peer[1]}\n")


def test_the_wait_starts_when_the_cluster_forms_and_ends_when_it_has_formed() -> None:
    peer = ("worker-1", f"127.0.0.1:{_closed_port()}")
    # Slow start before forming, and a long run after it: neither counts against the timeout.
    body = "time.sleep(0.6)\nsay(b'w')\nsay(b'f')\ntime.sleep(0.6)\nsys.exit(3)"
    assert supervise(_child(body), python_env(), [peer], 0.3, "r2") == 3


def test_exit_status_reads_like_a_shell() -> None:
    assert (exit_status(0), exit_status(2), exit_status(-signal.SIGTERM)) == (0, 2, 143)
    assert exit_status(-signal.SIGKILL) == 137


def _cluster_env(port: int, peer_port: int) -> dict[str, str]:
    return {"TF_CONFIG": json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}",
                                                            f"127.0.0.1:{peer_port}"]},
                                     "task": {"type": "worker", "index": 0}})}


def _alive_with(marker: str) -> list[int]:
    """Pids of processes whose command line contains `marker` (Linux /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_trainer_in_a_cluster_without_its_peer_exits_2_naming_it(tmp_path: Path) -> None:
    peer_port = _closed_port()
    proc = start_trainer(tiny_args(tmp_path, "--peer-timeout", "2"),
                         _cluster_env(_closed_port(), peer_port))
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2, out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert errors == [f"error: run test-run: the cluster did not form within --peer-timeout 2 s: "
                      f"no answer from worker-1 at 127.0.0.1:{peer_port}"]
    assert "Traceback" not in out


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc")
def test_sigterm_stops_a_trainer_waiting_for_its_cluster(tmp_path: Path) -> None:
    run_id = f"sigterm-{uuid.uuid4().hex[:8]}"
    proc = start_trainer(tiny_args(tmp_path, "--run-id", run_id),
                         _cluster_env(_closed_port(), _closed_port()))
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # the child prints this line just before it forms the cluster
        lines.append(line)
        if line.startswith(f"run {run_id} as worker-0"):
            break
    time.sleep(2)  # TensorFlow is now blocked forming the cluster, with its SIGTERM handler
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    out, _ = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert proc.returncode == TERMINATED_EXIT, "".join(lines) + out
    assert f"error: run {run_id}: stopped by SIGTERM" in out
    assert _alive_with(run_id) == []


@pytest.mark.slow
def test_sigterm_stops_a_lone_trainer_between_epochs_keeping_its_backup(tmp_path: Path) -> None:
    """A lone trainer (a pod's PID 1, where SIGTERM without a handler is ignored) handles the
    signal itself: exit 143 and one line; the backup stays for the same --run-id."""
    proc = start_trainer(tiny_args(tmp_path, "--epochs", "50", "--synthetic-train-size", "640"))
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("epoch=1 "):
            break
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == TERMINATED_EXIT, "".join(lines) + out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert errors == ["error: run test-run: stopped by SIGTERM; the last finished epoch's backup "
                      "is kept, so the same --run-id test-run resumes"]
    assert "Traceback" not in out
    assert list(backup_of(tmp_path).glob("ckpt-*.index"))
