"""`mlp train` / `mlp serve`: argument forwarding, exit codes, and a TensorFlow-free start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlp.cli import app
from tests.workloads.conftest import REPO, python_env


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=python_env(),
                          capture_output=True, text=True, timeout=60)


def test_help_and_bad_arguments_do_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from mlp.cli import app\n"
        "r = CliRunner().invoke(app, ['train', '--help'])\n"
        "assert r.exit_code == 0 and '--learning_rate' in r.output and 'mlp train' in r.output\n"
        "r = CliRunner().invoke(app, ['serve', '--help'])\n"
        "assert r.exit_code == 0 and '--model-dir' in r.output, r.output\n"
        "r = CliRunner().invoke(app, ['train', '--epochs', '0'])\n"
        "assert r.exit_code == 2, r.output\n"
        "print('tensorflow' in sys.modules)\n"
    )
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_mlp_train_bad_value_exits_2_with_message_and_no_traceback() -> None:
    result = subprocess.run([sys.executable, "-m", "mlp", "train", "--optimizer", "lamb"],
                            cwd=REPO, env=python_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "argument --optimizer: invalid choice: 'lamb'" in result.stderr
    assert "Traceback" not in result.stderr


def test_mlp_train_unreadable_data_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("tensorflow")
    result = CliRunner().invoke(app, ["train", "--data", "tfrecord", "--data-dir", str(tmp_path),
                                      "--model-dir", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert f"no train TFRecords in '{tmp_path}'" in result.output + capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_mlp_train_bad_tf_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tensorflow")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}}')
    result = CliRunner().invoke(app, ["train", "--data", "synthetic",
                                      "--model-dir", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "TF_CONFIG.task must be an object with type and index; got null" in (
        result.output + capsys.readouterr().err)
    assert not (tmp_path / "m").exists()
