"""`mlp pipeline run --target kubeflow` with nothing listening: one line, fast, with the fix."""

from __future__ import annotations

import socket
import time

import pytest
from typer.testing import CliRunner

from mlp.cli import app

runner = CliRunner()


def _closed_port() -> int:
    """A loopback port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def no_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """kfp.Client must never be built when the probe already knows the host is down."""
    import kfp

    def never(*_args, **_kwargs):
        raise AssertionError("kfp.Client was built; its retries take a minute")

    monkeypatch.setattr(kfp, "Client", never)


def test_nothing_listening_is_one_line_naming_the_port_forward(no_client) -> None:
    host = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    result = runner.invoke(app, ["pipeline", "run", "--target", "kubeflow", "--host", host])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: no Kubeflow Pipelines API at {host} (connection refused)")
    assert "run `kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80`" in lines[0]
    assert "Traceback" not in result.output
    assert time.monotonic() - started < 30


def test_debug_shows_the_traceback(no_client) -> None:
    host = f"http://127.0.0.1:{_closed_port()}"
    result = runner.invoke(app, ["--debug", "pipeline", "run", "--target", "kubeflow",
                                 "--host", host])
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "SubmitError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: no Kubeflow Pipelines API")


def test_an_api_error_after_the_probe_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Something answers the connect but the API call fails: still one line, no traceback."""
    import kfp
    from urllib3.exceptions import MaxRetryError

    import workloads.pipelines.submit as submit

    class Refusing:
        def __init__(self, host: str) -> None:
            raise MaxRetryError(None, host, "Max retries exceeded\nwith url: /apis/v2beta1")

    monkeypatch.setattr(kfp, "Client", Refusing)
    monkeypatch.setattr(submit, "check_kfp_host", lambda host: None)
    result = runner.invoke(app, ["pipeline", "run", "--target", "kubeflow"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: Kubeflow Pipelines at http://localhost:8080 refused the "
                               "run: ")
