"""The monitoring pipeline: its builds, its schedules, and retraining on drift."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from facts.stacks import REPO_ROOT
from tests.pipelines.test_submit import RecordingPipelineJob, fake_kfp_client
from workloads.monitoring.pipeline_runs import (
    RunError,
    run_monitoring_kubeflow,
    run_monitoring_vertex,
    vertex_parameters,
)
from workloads.monitoring.retrain import retrain_kubeflow, retrain_vertex
from workloads.monitoring.settings import load_settings
from workloads.pipelines.submit import SubmitError

OUTPUTS = json.loads((REPO_ROOT / "stacks" / "examples" / "vertex-outputs.json").read_text())
ARGS = {"reference_uri": "gs://m/cifar10/1", "features_uri": "gs://m/cifar10/monitoring/features"}


def _compiled(target: str, tmp_path: Path) -> dict[str, Any]:
    from kfp import compiler

    from workloads.pipelines.monitoring import build_monitoring_pipeline

    out = tmp_path / f"{target}.yaml"
    compiler.Compiler().compile(build_monitoring_pipeline(target), str(out))
    return yaml.safe_load(out.read_text())


@pytest.mark.parametrize("target", ["kubeflow", "vertex", "local"])
def test_each_build_checks_drift_and_only_cluster_builds_retrain(target: str,
                                                                 tmp_path: Path) -> None:
    spec = _compiled(target, tmp_path)
    executors = spec["deploymentSpec"]["executors"]
    assert "exec-check-drift" in executors
    retrain = {"kubeflow": "exec-retrain-kubeflow", "vertex": "exec-retrain-vertex"}.get(target)
    assert ({k for k in executors if k.startswith("exec-retrain")} ==
            ({retrain} if retrain else set()))
    defaults = spec["root"]["inputDefinitions"]["parameters"]
    settings = load_settings()
    assert defaults["window_hours"]["defaultValue"] == settings.window_hours
    assert defaults["retrain"]["defaultValue"] is settings.retrain
    if retrain:
        text = json.dumps(spec)
        # Retraining waits for both: drift found, and retraining allowed.
        assert "inputs.parameter_values['pipelinechannel--retrain'] == true" in text
        assert "check-drift-Output'] == true" in text


def test_kubeflow_runs_and_schedules_with_the_defaults_cron() -> None:
    client = fake_kfp_client()
    factory = lambda host: client  # noqa: E731
    message = run_monitoring_kubeflow(dict(ARGS), None, None, None,
                                      load_settings().schedule.kubeflow, factory)
    assert message.startswith("recurring monitoring run rr-1 created")
    recurring = client.create_recurring_run.call_args.kwargs
    assert recurring["cron_expression"] == load_settings().schedule.kubeflow
    assert recurring["job_name"] == "cifar10-monitoring-recurring"
    assert recurring["params"] == ARGS
    assert client.create_experiment.call_args.kwargs == {"name": "cifar10-monitoring"}
    once = run_monitoring_kubeflow({**ARGS, "retrain": True}, None, None, None, None, factory)
    assert once.startswith("monitoring run run-1 submitted")
    assert client.create_run_from_pipeline_package.call_args.kwargs["arguments"]["retrain"] \
        is True
    with pytest.raises(SubmitError, match="has 5 fields"):
        run_monitoring_kubeflow(dict(ARGS), None, None, None, "0 * * * *", factory)


def test_a_kubeflow_api_refusal_is_one_line_naming_the_host() -> None:
    from kfp_server_api.exceptions import ApiException

    client = fake_kfp_client()
    client.create_run_from_pipeline_package.side_effect = ApiException(
        status=403, reason="Forbidden\nHTTP response headers: {...}")
    with pytest.raises(SubmitError) as info:
        run_monitoring_kubeflow(dict(ARGS), "http://kfp.example:8888", None, None, None,
                                lambda host: client)
    message = str(info.value)
    assert message.startswith("Kubeflow Pipelines at http://kfp.example:8888 refused the run: ")
    assert "\n" not in message and "headers" not in message


def test_vertex_schedule_runs_as_the_pipelines_account() -> None:
    jobs: list[RecordingPipelineJob] = []

    def factory(**kwargs: Any) -> RecordingPipelineJob:
        jobs.append(RecordingPipelineJob(**kwargs))
        return jobs[-1]

    message = run_monitoring_vertex(dict(ARGS), OUTPUTS, None, "0 * * * *", factory)
    assert message.startswith("monitoring schedule projects/p/locations/r/schedules/1")
    (job,) = jobs
    (call,) = job.sent
    assert call == ("schedule", {"cron": "0 * * * *", "display_name": "cifar10-monitoring-"
                                 "schedule", "max_concurrent_run_count": 1,
                                 "service_account": OUTPUTS["pipelinesServiceAccount"]})
    values = job.job._gca_resource.runtime_config.parameter_values
    assert values["features_uri"] == ARGS["features_uri"]
    assert values["endpoint_id"] == OUTPUTS["vertexEndpointId"]
    with pytest.raises(RunError, match="lacks region"):
        vertex_parameters({k: v for k, v in OUTPUTS.items() if k != "region"})


def test_retraining_on_kubeflow_starts_one_training_run() -> None:
    client = fake_kfp_client()
    run_id = retrain_kubeflow(client, "europe-docker.pkg.dev/p/mlp-x", "1.2.3")
    assert run_id == "run-1"
    sent = client.create_run_from_pipeline_package.call_args
    assert sent.kwargs["run_name"].startswith("cifar10-retrain-on-drift-")
    package = next(yaml.safe_load_all(Path(sent.args[0]).read_text()))
    images = {e["container"]["image"] for e in package["deploymentSpec"]["executors"].values()}
    assert "europe-docker.pkg.dev/p/mlp-x/cifar10-trainer:1.2.3-gpu" in images
    assert package["pipelineInfo"]["name"] == "cifar10-pipeline"


def test_retraining_on_vertex_submits_a_labelled_pipeline_job() -> None:
    jobs: list[RecordingPipelineJob] = []

    def factory(**kwargs: Any) -> RecordingPipelineJob:
        jobs.append(RecordingPipelineJob(**kwargs))
        jobs[-1].resource_name = "projects/p/locations/r/pipelineJobs/7"
        return jobs[-1]

    assert retrain_vertex(factory, OUTPUTS, "1.2.3") == "projects/p/locations/r/pipelineJobs/7"
    (job,) = jobs
    assert job.sent == [("submit", {"service_account": OUTPUTS["pipelinesServiceAccount"]})]
    assert job.job._gca_resource.labels["trigger"] == "drift"
    values = job.job._gca_resource.runtime_config.parameter_values
    assert values["feature_log"] == (f"gs://{OUTPUTS['modelsBucket']}/cifar10/monitoring/"
                                     "features")


def test_a_local_run_cannot_be_scheduled(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlp.cli import app

    result = CliRunner().invoke(app, ["monitor", "run", "--local", "--reference", "r",
                                      "--features", "f", "--schedule", "0 * * * *",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--schedule needs --target" in result.stderr
    both = CliRunner().invoke(app, ["monitor", "run", "--target", "kubeflow"])
    assert both.exit_code == 2 and "--reference and --features" in both.stderr



def test_the_stack_decides_whether_drift_retrains(tmp_path: Path) -> None:
    """`mlp monitor run --stack-outputs` follows the stack's retrainOnDrift; --retrain or
    --no-retrain overrides it."""
    from unittest.mock import patch

    from typer.testing import CliRunner

    from mlp.cli import app

    sent = []

    def record(arguments, outputs, tag, schedule):
        sent.append(arguments.get("retrain"))
        return "ok"

    for allowed, flags, expect in ((True, [], True), (False, [], False),
                                   (True, ["--no-retrain"], False)):
        path = tmp_path / f"outputs-{allowed}-{len(flags)}.json"
        path.write_text(json.dumps({**OUTPUTS, "retrainOnDrift": allowed}))
        with patch("workloads.monitoring.pipeline_runs.run_monitoring_vertex", record):
            result = CliRunner().invoke(app, ["monitor", "run", "--target", "vertex",
                                              "--stack-outputs", str(path), *flags])
        assert result.exit_code == 0, result.output
        assert sent[-1] is expect
