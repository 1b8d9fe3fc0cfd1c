"""The trainer and the predictor refuse what cannot work in one line, before TensorFlow loads:
`--data tfds` without a network, and a `--model-dir` with no SavedModel."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlp.cli import app
from workloads import netcheck

runner = CliRunner()


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    import workloads.cifar10.train as train

    def never(_cfg):
        raise AssertionError("training started")

    monkeypatch.setattr(train, "_train_here", never)


@pytest.fixture
def empty_tfds_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tfds data folder with no prepared dataset."""
    folder = tmp_path / "tensorflow_datasets"
    monkeypatch.setenv("TFDS_DATA_DIR", str(folder))
    return folder


def test_tfds_offline_is_one_line_pointing_at_synthetic_and_tfrecord(
        monkeypatch: pytest.MonkeyPatch, empty_tfds_home: Path, no_training) -> None:
    asked = []
    monkeypatch.setattr(netcheck, "unreachable",
                        lambda host, port, timeout=0: asked.append((host, port))
                        or "name lookup failed")
    result = runner.invoke(app, ["train", "--data", "tfds", "--epochs", "1"])
    assert result.exit_code == 2, result.output
    assert asked == [("www.cs.toronto.edu", 443)]
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: --data tfds must download CIFAR-10 (no prepared copy in {empty_tfds_home}) and "
        "www.cs.toronto.edu is unreachable (name lookup failed); without a network train with "
        "--data synthetic, or with --data tfrecord --data-dir DIR on prepared TFRecords"]


def test_a_prepared_tfds_copy_needs_no_network(monkeypatch: pytest.MonkeyPatch,
                                               empty_tfds_home: Path) -> None:
    (empty_tfds_home / "cifar10" / "3.0.2").mkdir(parents=True)
    (empty_tfds_home / "cifar10" / "3.0.2" / "dataset_info.json").write_text("{}")

    def never(*_args, **_kwargs):
        raise AssertionError("probed the network with a prepared copy at hand")

    monkeypatch.setattr(netcheck, "unreachable", never)
    assert netcheck.tfds_offline_problem(None) is None
    assert netcheck.tfds_offline_problem("gs://bucket/tfds") is None


def test_the_probe_reports_a_refused_connect_quickly() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert netcheck.unreachable("127.0.0.1", port, timeout=2) == "connection refused"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert netcheck.unreachable("127.0.0.1", server.getsockname()[1], timeout=2) is None


def test_the_probe_gives_up_on_a_lookup_that_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    release = threading.Event()

    def hanging_lookup(*_args, **_kwargs):
        release.wait(5)
        raise socket.gaierror("released by the test")

    monkeypatch.setattr(socket, "create_connection", hanging_lookup)
    try:
        assert netcheck.unreachable("example.invalid", 443, timeout=0.2) == \
            "no answer within 0.2 s"
    finally:
        release.set()


@pytest.mark.parametrize(("url", "endpoint"), [
    ("http://localhost:8080", ("localhost", 8080)),
    ("https://kfp.example.com", ("kfp.example.com", 443)),
    ("kfp.internal", ("kfp.internal", 80)),
])
def test_url_endpoint(url: str, endpoint: tuple[str, int]) -> None:
    assert netcheck.url_endpoint(url) == endpoint


@pytest.fixture
def no_bind(monkeypatch: pytest.MonkeyPatch) -> None:
    import workloads.cifar10.serve as serve

    def never(*_args, **_kwargs):
        raise AssertionError("the server bound its port before checking the model folder")

    monkeypatch.setattr(serve, "bind", never)


def test_serve_a_missing_model_dir_is_one_line_with_what_to_run(tmp_path: Path, no_bind) -> None:
    missing = tmp_path / "model"
    result = runner.invoke(app, ["serve", "--model-dir", str(missing), "--port", "0"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: --model-dir {missing} does not exist; train and promote "
                               f"one first: mlp train --data synthetic --model-dir {missing}")


def test_serve_a_folder_without_a_saved_model_is_one_line(tmp_path: Path, no_bind) -> None:
    (tmp_path / "runs" / "first" / "1").mkdir(parents=True)  # trained, never promoted
    result = runner.invoke(app, ["serve", "--model-dir", str(tmp_path), "--port", "0"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: no SavedModel in {tmp_path}: expected "
                                    "saved_model.pb there or in a numbered version folder")
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_accepts_a_numbered_version_or_a_remote_folder(tmp_path: Path) -> None:
    from workloads.cifar10.model_folder import local_model_problem, model_dir_argument

    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "saved_model.pb").write_bytes(b"")
    assert local_model_problem(str(tmp_path)) is None
    assert local_model_problem("gs://bucket/models/cifar10") is None
    assert model_dir_argument(["--port", "0", "--model_dir=/m", "--max-batch", "4"]) == "/m"
