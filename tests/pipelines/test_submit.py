"""Submission and schedules on Kubeflow Pipelines and Vertex AI, with clients faked at the
network boundary; the Vertex request is a real `aiplatform.PipelineJob` that never sends."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import create_autospec

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform

from workloads.pipelines.pipeline import build_pipeline, compile_pipeline
from workloads.pipelines.submit import (
    SubmitError,
    cast_arguments,
    check_cron,
    parse_arguments,
    read_stack_outputs,
    schedule_kubeflow,
    schedule_vertex,
    submit_kubeflow,
    submit_vertex,
    vertex_job,
    vertex_run_config,
)

OUTPUTS = {"project": "mlp-vertex-000000", "region": "us-central1",
           "vertexStagingBucket": "mlp-vertex-staging", "registryUrl":
           "us-central1-docker.pkg.dev/mlp-vertex-000000/ml-platform",
           "pipelinesServiceAccount": "pipelines@mlp-vertex-000000.iam.gserviceaccount.com",
           "servingServiceAccount": "serving@mlp-vertex-000000.iam.gserviceaccount.com",
           "vertexEndpointId": "1234567890"}


def fake_kfp_client() -> Any:
    """A `kfp.Client` with the real method signatures (a misspelled keyword fails) and canned
    answers; nothing is sent."""
    import kfp

    client = create_autospec(kfp.Client, instance=True)
    client.create_run_from_pipeline_package.return_value = SimpleNamespace(run_id="run-1")
    client.create_experiment.return_value = SimpleNamespace(experiment_id="exp-9")
    client.create_recurring_run.return_value = SimpleNamespace(recurring_run_id="rr-1")
    return client


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("packages")
    return {t: compile_pipeline(t, root / f"{t}.yaml") for t in ("kubeflow", "vertex")}


def test_parse_and_cast_arguments() -> None:
    pipeline = build_pipeline("kubeflow")
    args = cast_arguments(pipeline, parse_arguments(["epochs=5", "learning_rate=0.1",
                                                     "optimizer=adam"]))
    assert args == {"epochs": 5, "learning_rate": 0.1, "optimizer": "adam"}
    with pytest.raises(SubmitError, match=r"'epoch' does not exist; allowed: .*epochs"):
        cast_arguments(pipeline, {"epoch": "5"})
    with pytest.raises(SubmitError, match="epochs='five' is not a valid integer"):
        cast_arguments(pipeline, {"epochs": "five"})
    with pytest.raises(SubmitError, match="'epochs' is not NAME=VALUE"):
        parse_arguments(["epochs"])


def test_kubeflow_run(packages: dict[str, Path]) -> None:
    client = fake_kfp_client()
    run = submit_kubeflow(packages["kubeflow"], {"epochs": 5}, client, run_name="r1")
    assert run.run_id == "run-1"
    client.create_run_from_pipeline_package.assert_called_once()
    call = client.create_run_from_pipeline_package.call_args
    assert call.args == (str(packages["kubeflow"]),)
    assert call.kwargs["arguments"] == {"epochs": 5}
    assert call.kwargs["experiment_name"] == "cifar10" and call.kwargs["run_name"] == "r1"
    assert client.create_recurring_run.call_count == 0


def test_fake_kfp_client_refuses_a_misspelled_keyword() -> None:
    with pytest.raises(TypeError):
        fake_kfp_client().create_recurring_run(experiment_id="e", cron="0 0 3 * * *")


def test_kubeflow_recurring_run(packages: dict[str, Path]) -> None:
    client = fake_kfp_client()
    schedule_kubeflow(packages["kubeflow"], {"epochs": 5}, client, "0 0 3 * * *")
    assert client.create_experiment.call_args.kwargs == {"name": "cifar10"}
    client.create_recurring_run.assert_called_once()
    recurring = client.create_recurring_run.call_args.kwargs
    assert recurring["experiment_id"] == "exp-9"
    assert recurring["cron_expression"] == "0 0 3 * * *"
    assert recurring["pipeline_package_path"] == str(packages["kubeflow"])
    assert recurring["params"] == {"epochs": 5}
    assert recurring["max_concurrency"] == 1 and recurring["no_catchup"] is True
    with pytest.raises(SubmitError, match=r"has 5 fields; Kubeflow Pipelines .* expects 6"):
        schedule_kubeflow(packages["kubeflow"], {}, fake_kfp_client(), "0 3 * * *")


def test_stack_outputs(tmp_path: Path) -> None:
    good = tmp_path / "outputs.json"
    good.write_text(json.dumps(OUTPUTS))
    config = vertex_run_config(read_stack_outputs(good))
    assert config["pipeline_root"] == "gs://mlp-vertex-staging/pipeline-root"
    assert config["parameters"]["endpoint_id"] == "1234567890"
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({k: v for k, v in OUTPUTS.items() if k != "region"}))
    with pytest.raises(SubmitError, match="missing region"):
        read_stack_outputs(partial)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(SubmitError, match="cannot read JSON"):
        read_stack_outputs(broken)


class RecordingPipelineJob:
    """A real PipelineJob request whose two network calls are checked against the real
    signatures and recorded instead of sent."""

    def __init__(self, **kwargs: Any) -> None:
        self.job = aiplatform.PipelineJob(credentials=AnonymousCredentials(), **kwargs)
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def submit(self, **kwargs: Any) -> None:
        inspect.signature(aiplatform.PipelineJob.submit).bind(self.job, **kwargs)
        self.sent.append(("submit", kwargs))

    def create_schedule(self, **kwargs: Any) -> Any:
        inspect.signature(aiplatform.PipelineJob.create_schedule).bind(self.job, **kwargs)
        self.sent.append(("schedule", kwargs))
        return SimpleNamespace(resource_name="projects/p/locations/r/schedules/1")


def _vertex_job(package: Path) -> RecordingPipelineJob:
    config = vertex_run_config(OUTPUTS)
    return vertex_job(package, config, {"epochs": 3}, RecordingPipelineJob)


def test_vertex_pipeline_job_request(packages: dict[str, Path]) -> None:
    job = _vertex_job(packages["vertex"])
    resource = job.job._gca_resource
    request = type(resource).to_dict(resource)
    assert request["display_name"] == "cifar10-pipeline"
    runtime = request["runtime_config"]
    assert runtime["gcs_output_directory"] == "gs://mlp-vertex-staging/pipeline-root"
    values = runtime["parameter_values"]
    assert values["project"] == "mlp-vertex-000000" and values["region"] == "us-central1"
    assert values["endpoint_id"] == "1234567890" and values["epochs"] == 3
    # The run acts as the pipelines account; the model it deploys serves as the serving account.
    assert values["serving_service_account"] == OUTPUTS["servingServiceAccount"]
    assert "service_account" not in values
    assert request["pipeline_spec"]["pipelineInfo"]["name"] == "cifar10-pipeline"
    assert job.job.project == "mlp-vertex-000000" and job.job.location == "us-central1"
    submit_vertex(job, OUTPUTS["pipelinesServiceAccount"])
    assert job.sent == [("submit", {"service_account": OUTPUTS["pipelinesServiceAccount"]})]


def test_vertex_schedule(packages: dict[str, Path]) -> None:
    job = _vertex_job(packages["vertex"])
    schedule_vertex(job, "sa@p.iam.gserviceaccount.com", "TZ=Europe/Paris 0 3 * * 1")
    (name, call), = job.sent
    assert name == "schedule"
    assert call["cron"] == "TZ=Europe/Paris 0 3 * * 1"
    assert call["service_account"] == "sa@p.iam.gserviceaccount.com"
    assert call["max_concurrent_run_count"] == 1
    with pytest.raises(SubmitError, match="has 6 fields; Vertex AI expects 5"):
        schedule_vertex(job, "sa", "0 0 3 * * *")
    with pytest.raises(TypeError):
        job.submit(service_acount="sa")


def test_check_cron() -> None:
    check_cron("0 3 * * *", 5)
    with pytest.raises(SubmitError, match="'daily' has 1 fields"):
        check_cron("daily", 5)
