"""Spot safety: a trainer killed mid-run resumes from its last finished epoch."""

from __future__ import annotations

import signal
import subprocess
import threading
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

EPOCHS = 8


def _kill_after_epoch(proc: subprocess.Popen, epoch: int, timeout: float = 120) -> str:
    """Read the trainer's output until it reports `epoch`, then SIGKILL it (a preemption)."""
    lines: list[str] = []
    killed = threading.Event()

    def watchdog() -> None:
        if not killed.wait(timeout):
            proc.kill()

    threading.Thread(target=watchdog, daemon=True).start()
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(f"epoch={epoch} "):
            proc.send_signal(signal.SIGKILL)
            killed.set()
            break
    lines.append(proc.stdout.read())
    proc.wait(timeout=30)
    return "".join(lines)


def test_killed_run_resumes_at_the_next_epoch(tmp_path: Path) -> None:
    args = tiny_args(tmp_path, "--epochs", str(EPOCHS), "--synthetic-train-size", "640")
    first = start_trainer(args)
    first_out = _kill_after_epoch(first, 2)
    assert first.returncode == -signal.SIGKILL, first_out
    done_before_kill = epochs_in(first_out)
    assert done_before_kill[:2] == [1, 2] and max(done_before_kill) < EPOCHS
    assert any(backup_of(tmp_path).glob("ckpt-*.index")), "no backup checkpoint after an epoch"
    assert not (export_of(tmp_path) / "saved_model.pb").exists()

    second = start_trainer(args)
    second_out, _ = second.communicate(timeout=180)
    assert second.returncode == 0, second_out
    resumed = epochs_in(second_out)
    last_reported = max(done_before_kill)
    # The checkpoint is written before the epoch line, so a kill between the two can mean one
    # finished epoch was saved but not reported; nothing already reported runs again.
    assert resumed[0] in (last_reported + 1, last_reported + 2)
    assert resumed == list(range(resumed[0], EPOCHS + 1))
    assert read_metrics(export_of(tmp_path))["resumed_at_epoch"] == resumed[0] - 1
    assert not backup_of(tmp_path).exists()


def test_workers_that_restored_different_epochs_are_a_clear_error() -> None:
    from workloads.cifar10.loop import ResumeError, check_agreed

    assert check_agreed([3, 3], "gs://b/ckpt") == 3
    with pytest.raises(ResumeError, match=r"workers restored different epochs \[3, 0\] .* from "
                                          r"'/local/ckpt'.*storage they all share"):
        check_agreed([3, 0], "/local/ckpt")
