"""Stopping a training run: SIGTERM at any point, and a cluster whose peers never come.

A lone process handles SIGTERM itself (`stop_on_sigterm`): the signal raises `Terminated` in the
main thread, the entry point prints one line and exits 143; the backup of the last finished epoch
is kept, so the same `--run-id` resumes.

A cluster task cannot: while `MultiWorkerMirroredStrategy` forms the cluster, TensorFlow blocks
in C++ holding the GIL (no Python thread runs) until every peer has connected, and it installs
its own SIGTERM handler (its preemption notifier), which only records the signal. So a cluster
task runs training in a child process and `supervise` stays outside TensorFlow: it starts the
`--peer-timeout` clock when the child reports that it is forming the cluster, probes the peers
and stops the child with exit 2 naming the missing ones when the cluster has not formed in time,
and on SIGTERM stops the child (killing it if it cannot handle the signal) and exits 143.
The child reports over a pipe whose descriptor it finds in `STATUS_FD_ENV`.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import Any

from facts.cli import print_error
from workloads.cifar10.distribute import unreachable_peers

STATUS_FD_ENV = "CIFAR10_TRAINER_STATUS_FD"
"""Set on a supervised child: the pipe it reports `FORMING` and `FORMED` on."""
FORMING = b"w"
FORMED = b"f"
TERMINATED_EXIT = 128 + signal.SIGTERM
"""Exit status after SIGTERM, as a shell reports a process the signal ended."""
TERM_GRACE_S = 10.0
"""How long a formed child may take to stop after SIGTERM before it is killed."""
POLL_S = 0.1


class Terminated(BaseException):
    """SIGTERM arrived; a BaseException so that no `except Exception` swallows it."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def stop_on_sigterm() -> Any:
    """Make SIGTERM raise `Terminated` in the main thread; returns the previous handler."""
    return signal.signal(signal.SIGTERM, _raise_terminated)


def reclaim_sigterm() -> None:
    """Install `stop_on_sigterm`'s handler again if it was installed: TensorFlow's preemption
    notifier replaces it when a multi-worker cluster forms, and then swallows SIGTERM."""
    if signal.getsignal(signal.SIGTERM) is _raise_terminated:
        signal.signal(signal.SIGTERM, _raise_terminated)


def report(status: bytes, environ: Mapping[str, str]) -> None:
    """Tell the supervising process `status` (no-op when not supervised)."""
    fd = environ.get(STATUS_FD_ENV)
    if fd:
        # A supervisor that has gone cannot be told; the run goes on.
        with contextlib.suppress(OSError, ValueError):
            os.write(int(fd), status)


def exit_status(returncode: int) -> int:
    """A child's exit status as a shell shows it (128 + signal for a signal)."""
    return 128 - returncode if returncode < 0 else returncode


def _peer_message(peers: Sequence[tuple[str, str]], timeout_s: float, run_id: str) -> str:
    missing = unreachable_peers(peers)
    if missing:
        named = ", ".join(f"{tag} at {address}" for tag, address in missing)
        return (f"run {run_id}: the cluster did not form within --peer-timeout "
                f"{timeout_s:g} s: no answer from {named}")
    return (f"run {run_id}: the cluster did not form within --peer-timeout "
            f"{timeout_s:g} s although every peer accepts connections; check that all tasks "
            "run this trainer with the same TF_CONFIG cluster")


def _stop(child: subprocess.Popen, formed: bool) -> None:
    """End the child: SIGTERM and a grace period once it handles signals, else SIGKILL."""
    if formed:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(TERM_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            pass
    child.kill()
    child.wait()


def supervise(command: Sequence[str], environ: Mapping[str, str],
              peers: Sequence[tuple[str, str]], peer_timeout_s: float, run_id: str) -> int:
    """Run `command` (the trainer) as a child and return the exit status to exit with.

    Must run in the main thread (it handles SIGTERM while the child runs).
    """
    read_fd, write_fd = os.pipe()
    terminated: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: terminated.append(signum))
    try:
        child = subprocess.Popen(list(command), env={**environ, STATUS_FD_ENV: str(write_fd)},
                                 pass_fds=(write_fd,))
    finally:
        os.close(write_fd)
    deadline: float | None = None
    formed = False
    reading = True
    try:
        while child.poll() is None:
            if terminated:
                _stop(child, formed)
                print_error(f"run {run_id}: stopped by SIGTERM; the last finished epoch's "
                            f"backup is kept, so the same --run-id {run_id} resumes")
                return TERMINATED_EXIT
            if deadline is not None and time.monotonic() > deadline:
                _stop(child, formed=False)
                print_error(_peer_message(peers, peer_timeout_s, run_id))
                return 2
            if not reading:
                time.sleep(POLL_S)
                continue
            ready, _, _ = select.select([read_fd], [], [], POLL_S)
            if not ready:
                continue
            data = os.read(read_fd, 64)
            reading = bool(data)
            if FORMING in data and not formed:
                deadline = time.monotonic() + peer_timeout_s
            if FORMED in data:
                formed, deadline = True, None
        return exit_status(child.returncode)
    finally:
        signal.signal(signal.SIGTERM, previous)
        os.close(read_fd)
        if child.poll() is None:
            child.kill()
            child.wait()
