"""The predictor as a process under faults: slow and idle clients, clients that go away, SIGTERM
with a request in flight, a port in use. One subprocess with short timeouts serves them all."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")
httpx = pytest.importorskip("httpx")

from tests.workloads.conftest import REPO, TrainedRun, python_env  # noqa: E402
from tests.workloads.test_serve import IMAGE, V1  # noqa: E402

TIMEOUTS = {"--header-timeout": "1", "--request-timeout": "2", "--idle-timeout": "1",
            "--drain-timeout": "10"}


@dataclass
class Served:
    """A predictor subprocess, its base URL and where its log goes."""

    proc: subprocess.Popen
    url: str
    log: Path

    def address(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").split(":")
        return host, int(port)

    def log_text(self) -> str:
        return self.log.read_text()


@pytest.fixture(scope="module")
def served(trained: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    log = tmp_path_factory.mktemp("predictor") / "predictor.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workloads.cifar10.serve", "--model-dir",
             str(trained.export_dir.parent), "--port", "0", "--max-batch", "8",
             *[part for pair in TIMEOUTS.items() for part in pair]],
            cwd=REPO, env=python_env({"KSERVE_LOGLEVEL": "DEBUG"}), stdout=subprocess.PIPE,
            stderr=sink, text=True)
    first = proc.stdout.readline()
    found = re.search(r"on (http://127\.0\.0\.1:\d+)", first)
    assert found, f"no serving line: {first!r}\n{log.read_text()[-2000:]}"
    server = Served(proc, found.group(1), log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{server.url}/v2/health/live", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    yield server
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)


def _read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_headers_that_never_finish_get_408_after_the_header_timeout(served: Served) -> None:
    with socket.create_connection(served.address(), timeout=10) as sock:
        start = time.monotonic()
        sock.sendall(b"POST /v1/models/cifar10:predict HTTP/1.1\r\nhost: x\r\n")
        for _ in range(3):  # a byte now and then must not extend the deadline
            time.sleep(0.3)
            sock.sendall(b"x")
        answer = _read_until_closed(sock)
        waited = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"request headers not received within 1 s"' in answer
    assert 0.9 < waited < 3


def test_a_connection_that_sends_nothing_is_closed(served: Served) -> None:
    with socket.create_connection(served.address(), timeout=10) as sock:
        start = time.monotonic()
        assert _read_until_closed(sock).startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - start < 3


def test_a_body_that_never_finishes_gets_408_after_the_request_timeout(served: Served) -> None:
    with socket.create_connection(served.address(), timeout=10) as sock:
        start = time.monotonic()
        sock.sendall(b"POST /v1/models/cifar10:predict HTTP/1.1\r\nhost: x\r\ncontent-type: "
                     b"application/json\r\ncontent-length: 1000\r\n\r\n{\"instances\": ")
        answer = _read_until_closed(sock)
        waited = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"request body not received within 2 s"' in answer
    assert 1.9 < waited < 4


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(served: Served) -> None:
    body = json.dumps({"instances": [IMAGE]}).encode()
    with socket.create_connection(served.address(), timeout=10) as sock:
        sock.sendall(b"POST /v1/models/cifar10:predict HTTP/1.1\r\nhost: x\r\ncontent-type: "
                     b"application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        start = time.monotonic()
        answer = _read_until_closed(sock)
        waited = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert waited < 4  # the response, then at most the 1 s idle timeout


def test_a_client_that_goes_away_mid_body_is_one_debug_line(served: Served) -> None:
    before = len(served.log_text())
    with socket.create_connection(served.address(), timeout=10) as sock:
        sock.sendall(b"POST /v1/models/cifar10:predict HTTP/1.1\r\nhost: x\r\nx-request-id: "
                     b"gone-1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{")
        time.sleep(0.3)
    time.sleep(0.5)
    assert httpx.post(f"{served.url}{V1}", json={"instances": [IMAGE]}).status_code == 200
    new = served.log_text()[before:]
    assert new.count("client went away before request gone-1 was read") == 1
    assert "Traceback" not in new and " ERROR " not in new


def test_a_refused_request_is_one_warning_line_with_its_id(served: Served) -> None:
    before = len(served.log_text())
    response = httpx.post(f"{served.url}{V1}", json={"instances": []},
                          headers={"x-request-id": "refused-7"})
    assert response.status_code == 400 and response.headers["x-request-id"] == "refused-7"
    new = served.log_text()[before:]
    lines = [line for line in new.splitlines() if "refused-7" in line]
    assert len(lines) == 1 and " WARNING " in lines[0]
    assert "400 instances is empty; send 1 to 8 images" in lines[0]
    assert "Traceback" not in new


def test_sigterm_lets_the_request_in_flight_finish_and_exits_0(served: Served) -> None:
    """Runs last in this module: it stops the shared server."""
    body = json.dumps({"instances": [IMAGE]}).encode()
    with socket.create_connection(served.address(), timeout=20) as sock:
        sock.sendall(b"POST /v1/models/cifar10:predict HTTP/1.1\r\nhost: x\r\ncontent-type: "
                     b"application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body[:10]))
        time.sleep(0.3)
        served.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        sock.sendall(body[10:])
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert len(json.loads(answer.partition(b"\r\n\r\n")[2])["predictions"][0]) == 10
    assert served.proc.wait(timeout=30) == 0
    log = served.log_text()
    assert "received SIGTERM: finishing 1 in-flight request(s)" in log
    assert "Traceback" not in log
    with pytest.raises(OSError):
        socket.create_connection(served.address(), timeout=2).close()


def test_mlp_serve_on_a_port_in_use_is_one_line_and_exit_2(trained: TrainedRun) -> None:
    from typer.testing import CliRunner

    from mlp.cli import app

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--model-dir", str(trained.export_dir),
                                          "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use; stop what holds it "
        "or choose another --port"]


@pytest.mark.parametrize(("args", "message"), [
    (["--max-body-bytes", "0"], "--max-body-bytes 0 is not allowed; use an integer ≥ 1"),
    (["--header-timeout", "nan"], "--header-timeout nan is not allowed"),
    (["--drain-timeout", "-1"], "--drain-timeout -1.0 is not allowed"),
])
def test_bad_limits_exit_2_naming_the_flag(args: list[str], message: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from workloads.cifar10.serve import main

    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
