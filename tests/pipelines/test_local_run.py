"""The whole pipeline under kfp.local on synthetic data, as `mlp pipeline run --local` runs it.

About a minute on two cores: every step is a subprocess that imports TensorFlow.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlp.cli import app
from workloads.cifar10 import CLASS_NAMES

pytestmark = pytest.mark.slow


def test_mlp_pipeline_run_local(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["pipeline", "run", "--local", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "deploy gate passed; smoke check: ok: http://127.0.0.1:" in result.stdout
    # Quiet by default: a handful of lines, every task's output in the run's log instead.
    assert len(result.output.strip().splitlines()) <= 6, result.output
    assert "tasks: prepare-data, train, evaluate, smoke-check" in result.stdout
    for noise in ("KFP Executor", "oneDNN", "Streamed logs", "non-Python base image"):
        assert noise not in result.output
    (log,) = tmp_path.glob("run-*/run.log")
    assert "Executing task" in log.read_text()

    (run_dir,) = [p for p in tmp_path.glob("run-*/cifar10-pipeline-*") if p.is_dir()]
    assert {p.name for p in run_dir.iterdir()} == {"prepare-data", "train", "evaluate",
                                                   "smoke-check"}
    splits = json.loads((run_dir / "prepare-data" / "dataset" / "splits.json").read_text())
    assert splits == {"train": 320, "test": 160}

    model = run_dir / "train" / "model" / "1"
    assert (model / "saved_model.pb").is_file()
    trained = json.loads((model / "metrics.json").read_text())
    assert trained["hyperparameters"]["epochs"] == 1

    evaluated = json.loads((run_dir / "evaluate" / "executor_output.json").read_text())
    accuracy = evaluated["parameterValues"]["Output"]
    assert 0.15 <= accuracy <= 1.0
    assert f"test accuracy {accuracy:.4f} (threshold 0.1500)" in result.stdout
    by_name = {name: a["artifacts"][0] for name, a in evaluated["artifacts"].items()}
    assert by_name["metrics"]["metadata"]["accuracy"] == accuracy
    assert by_name["metrics"]["metadata"]["examples"] == 160
    matrix = by_name["confusion"]["metadata"]["confusionMatrix"]
    assert [c["displayName"] for c in matrix["annotationSpecs"]] == list(CLASS_NAMES)
    assert sum(sum(row["row"]) for row in matrix["rows"]) == 160
    report = Path(by_name["report"]["uri"]).read_text()
    assert f"Test accuracy **{accuracy:.4f}** on 160 images." in report

    smoke = json.loads((run_dir / "smoke-check" / "executor_output.json").read_text())
    answer = re.search(r"answered 10 probabilities summing to ([0-9.]+)",
                       smoke["parameterValues"]["Output"])
    assert answer and abs(float(answer[1]) - 1.0) < 1e-3


def test_gate_skips_deployment_below_threshold(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["-v", "pipeline", "run", "--local", "--out", str(tmp_path),
                                      "-p", "accuracy_threshold=0.99"])
    assert result.exit_code == 0, result.output
    assert "Executing task" in result.stdout  # -v: kfp.local's own log, here
    assert not list(tmp_path.glob("run-*/run.log"))
    assert "(threshold 0.9900)" in result.stdout
    assert "deploy gate not passed" in result.stdout
    (run_dir,) = [p for p in tmp_path.glob("run-*/cifar10-pipeline-*") if p.is_dir()]
    assert {p.name for p in run_dir.iterdir()} == {"prepare-data", "train", "evaluate"}
