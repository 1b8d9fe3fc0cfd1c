"""`mlp pipeline`: compile, and every bad-input path of `run` (exit 2, message, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mlp.cli import app

runner = CliRunner()


def test_compile_writes_ir(tmp_path: Path) -> None:
    out = tmp_path / "kfp" / "pipeline.yaml"
    result = runner.invoke(app, ["pipeline", "compile", "--target", "kubeflow", "--out",
                                 str(out), "--registry", "r.example/p/repo", "--tag", "1.2.3"])
    assert result.exit_code == 0, result.output
    first = next(yaml.safe_load_all(out.read_text()))
    images = {e["container"]["image"] for e in first["deploymentSpec"]["executors"].values()}
    assert images == {"r.example/p/repo/cifar10-trainer:1.2.3",
                      "r.example/p/repo/cifar10-trainer:1.2.3-gpu"}


@pytest.mark.parametrize("argv,message", [
    (["pipeline", "compile", "--target", "sagemaker"],
     "'--target': 'sagemaker' is not one of 'kubeflow', 'vertex', 'local'"),
    (["pipeline", "compile", "--tag", "latest"], "image tag 'latest' is not allowed"),
    (["pipeline", "run"], "exactly one of --local or --target"),
    (["pipeline", "run", "--local", "--target", "vertex"], "exactly one of --local"),
    (["pipeline", "run", "--target", "local"], "'local' is not one of 'kubeflow', 'vertex'"),
    (["pipeline", "run", "--target", "vertex"], "--target vertex needs --stack-outputs"),
    (["pipeline", "run", "--local", "--schedule", "0 3 * * *"], "--schedule needs --target"),
    (["pipeline", "run", "--local", "-p", "epochs"], "'epochs' is not NAME=VALUE"),
    (["pipeline", "run", "--local", "-p", "epochz=1"], "'epochz' does not exist"),
    (["pipeline", "run", "--target", "kubeflow", "--schedule", "0 3 * * *"],
     "--schedule '0 3 * * *' has 5 fields; Kubeflow Pipelines"),
])
def test_bad_input_exits_2(argv: list[str], message: str) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_vertex_outputs_checked_before_anything_is_built(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"project": "p", "region": "us-central1"}))
    result = runner.invoke(app, ["pipeline", "run", "--target", "vertex",
                                 "--stack-outputs", str(outputs)])
    assert result.exit_code == 2
    assert "missing vertexStagingBucket, pipelinesServiceAccount, servingServiceAccount, " \
           "registryUrl, vertexEndpointId" in result.stderr


@pytest.mark.parametrize(("param", "says"), [
    ("accuracy_threshold=2", "-p accuracy_threshold=2 is not allowed: Input should be less "
                             "than or equal to 1"),
    ("accuracy_threshold=-0.1", "greater than or equal to 0"),
    ("accuracy_threshold=nan", "-p accuracy_threshold=nan is not allowed"),
    ("epochs=0", "-p epochs=0 is not allowed: argument --epochs: 0 is out of range; allowed: "
                 "an integer in [1, 10000]"),
    ("epochs=1.5", "-p epochs=1.5 is not allowed: Input should be a valid integer"),
    ("learning_rate=inf", "allowed: a float in (0, 10]"),
    ("model_arch=bert", "-p model_arch=bert is not allowed: Input should be 'vgg' or 'resnet'"),
    ("train_size=-3", "--synthetic-train-size: -3 is out of range"),
    ("traffic_percent=101", "less than or equal to 100"),
])
@pytest.mark.parametrize("target", [["--local"], ["--target", "kubeflow"]])
def test_bad_parameters_exit_2_before_the_run_starts(monkeypatch, target: list[str],
                                                     param: str, says: str) -> None:
    """Checked against the trainer's parser and defaults.yaml before anything is built: a run
    that would start must not be reached."""
    import workloads.pipelines.cli as cli

    def never(*_args, **_kwargs):
        raise AssertionError("the run started")

    monkeypatch.setattr(cli, "_run_local", never)
    monkeypatch.setattr(cli, "_run_kubeflow", never)
    result = runner.invoke(app, ["pipeline", "run", *target, "-p", param])
    assert result.exit_code == 2, result.output
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_good_parameters_reach_the_run(monkeypatch) -> None:
    import workloads.pipelines.cli as cli

    seen = {}
    monkeypatch.setattr(cli, "_run_local", lambda out, arguments: seen.update(arguments))
    result = runner.invoke(app, ["pipeline", "run", "--local", "-p", "epochs=2",
                                 "-p", "accuracy_threshold=0.5"])
    assert result.exit_code == 0, result.output
    assert seen == {"epochs": "2", "accuracy_threshold": "0.5"}
