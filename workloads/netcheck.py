"""Fast reachability probes, run before a library that would retry for minutes.

kfp.Client retries a refused connection through urllib3 for about a minute and tfds retries a
download for several; both end in a long traceback. One TCP connect with a short timeout (the
name lookup included, which `socket` cannot time out on its own) tells the same thing in about a
second, so a command can stop early with one line saying what to do.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

PROBE_TIMEOUT_S = 3.0
"""Longest wait for a name lookup plus a TCP connect."""

CIFAR10_DOWNLOAD_HOST = "www.cs.toronto.edu"
"""Where tfds's `cifar10` builder downloads the binary release from (its `_DATA_URL`)."""


def unreachable(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why `host:port` cannot be connected to within `timeout` seconds, or None if it can.

    The lookup and connect run in a daemon thread, because `getaddrinfo` ignores socket
    timeouts: without a network it can block far longer than the connect would."""
    outcome: list[str | None] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(None)
        except OSError as err:
            outcome.append(_reason(err))

    worker = threading.Thread(target=attempt, name=f"probe-{host}:{port}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return f"no answer within {timeout:g} s"
    return outcome[0]


def _reason(err: OSError) -> str:
    """A short reason for a failed connect: 'connection refused', 'name lookup failed', ..."""
    if isinstance(err, socket.gaierror):
        return "name lookup failed"
    if isinstance(err, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    return (err.strerror or str(err)).lower()


def url_endpoint(url: str) -> tuple[str, int]:
    """The host and port a URL connects to (the scheme's default port when none is given)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname or "localhost", parts.port or default


def tfds_data_dir(data_dir: str | None) -> str:
    """The folder tfds reads and writes: `data_dir`, $TFDS_DATA_DIR or ~/tensorflow_datasets."""
    return data_dir or os.environ.get("TFDS_DATA_DIR") or str(
        Path.home() / "tensorflow_datasets")


def cifar10_prepared(data_dir: str | None) -> bool:
    """Whether tfds has prepared `cifar10` in the local data folder (no download needed).

    A remote folder (gs://...) counts as prepared: it is checked by tfds itself, and probing it
    would need credentials."""
    folder = tfds_data_dir(data_dir)
    if "://" in folder:
        return True
    return any(Path(folder, "cifar10").glob("*/dataset_info.json"))


def tfds_offline_problem(data_dir: str | None,
                         timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why `--data tfds` cannot work here, or None: no prepared copy and no way to download."""
    if cifar10_prepared(data_dir):
        return None
    reason = unreachable(CIFAR10_DOWNLOAD_HOST, 443, timeout)
    if reason is None:
        return None
    return (f"--data tfds must download CIFAR-10 (no prepared copy in "
            f"{tfds_data_dir(data_dir)}) and {CIFAR10_DOWNLOAD_HOST} is unreachable ({reason}); "
            "without a network train with --data synthetic, or with --data tfrecord "
            "--data-dir DIR on prepared TFRecords")
