"""Vertex AI jobs: the request each would send, inspected from its proto; nothing is sent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facts.hardware import catalog
from mlp.cli import app
from workloads.tuning.space import NotExpressible, load_space
from workloads.vertex.jobs import JobError, Machine, custom_job, request, tuning_job

IMAGE = "us-central1-docker.pkg.dev/mlp-vertex-000000/ml-platform/cifar10-trainer:0.1.0"
WHERE = {"project": "mlp-vertex-000000", "location": "us-central1",
         "staging_bucket": "gs://mlp-vertex-staging"}
T4 = catalog().accelerators["nvidia-tesla-t4"].vertex_name


def test_single_worker_custom_job() -> None:
    job = custom_job("cifar10-train", IMAGE, Machine("n1-standard-8", "nvidia-tesla-t4", 1),
                     args=["--epochs=20"], **WHERE)
    body = request(job)
    (pool,) = body["job_spec"]["worker_pool_specs"]
    assert pool["machine_spec"]["machine_type"] == "n1-standard-8"
    assert pool["machine_spec"]["accelerator_type"] == T4 == "NVIDIA_TESLA_T4"
    assert pool["machine_spec"]["accelerator_count"] == 1
    assert int(pool["replica_count"]) == 1
    assert pool["container_spec"]["image_uri"] == IMAGE
    assert pool["container_spec"]["command"] == ["python", "-m", "workloads.cifar10.train"]
    assert pool["container_spec"]["args"] == ["--epochs=20"]
    assert body["job_spec"]["base_output_directory"]["output_uri_prefix"] == (
        "gs://mlp-vertex-staging/cifar10-train")
    assert body["labels"] == {"app": "cifar10", "managed-by": "ml-platform"}


def test_multi_worker_custom_job_has_chief_and_workers() -> None:
    job = custom_job("cifar10-mwms", IMAGE, Machine("n1-standard-4", "nvidia-tesla-t4", 1),
                     replicas=4, **WHERE)
    chief, workers = request(job)["job_spec"]["worker_pool_specs"]
    assert (int(chief["replica_count"]), int(workers["replica_count"])) == (1, 3)
    assert chief["machine_spec"] == workers["machine_spec"]
    assert workers["container_spec"]["image_uri"] == IMAGE


def test_g2_job_declares_its_built_in_gpu() -> None:
    (pool,) = request(custom_job("c", IMAGE, Machine("g2-standard-8", "nvidia-l4", 1), **WHERE))[
        "job_spec"]["worker_pool_specs"]
    assert pool["machine_spec"]["accelerator_type"] == "NVIDIA_L4"
    assert pool["machine_spec"]["accelerator_count"] == 1


def test_cpu_only_job_has_no_accelerator() -> None:
    (pool,) = request(custom_job("c", IMAGE, Machine("e2-standard-4"), **WHERE))[
        "job_spec"]["worker_pool_specs"]
    assert pool["machine_spec"]["accelerator_type"] == "ACCELERATOR_TYPE_UNSPECIFIED"
    assert pool["machine_spec"]["accelerator_count"] == 0


@pytest.mark.parametrize("machine,message", [
    (Machine("n1-standard-5"), r"machine_type 'n1-standard-5': .*not 5"),
    (Machine("e2-standard-4", "nvidia-tesla-t4", 1),
     r"accelerator 'nvidia-tesla-t4': .*attaches only to n1 machines, not e2-standard-4"),
    (Machine("n1-standard-4", "nvidia-tesla-t4", 3),
     r"accelerator_count 3: nvidia-tesla-t4 attaches in counts of 1, 2, 4"),
    (Machine("n1-standard-96", "nvidia-tesla-t4", 1),
     r"machine_type 'n1-standard-96': 1 x nvidia-tesla-t4 allows at most 48 vCPUs"),
    (Machine("n1-standard-4", "nvidia-h9000", 1),
     r"accelerator 'nvidia-h9000': known GPUs: .*nvidia-tesla-t4"),
    (Machine("n1-standard-4", None, 2), r"accelerator_count 2: .*need an accelerator type"),
    (Machine("g2-standard-8"), r"accelerator None: g2-standard-8 comes with 1 GPU"),
    (Machine("g2-standard-8", "nvidia-l4", 2),
     r"accelerator_count 2: g2-standard-8 comes with exactly 1"),
])
def test_bad_machines_are_refused(machine: Machine, message: str) -> None:
    with pytest.raises(JobError, match=message):
        custom_job("c", IMAGE, machine, **WHERE)


def test_bad_replicas_and_bucket() -> None:
    with pytest.raises(JobError, match="replicas 0"):
        custom_job("c", IMAGE, Machine("n1-standard-4"), replicas=0, **WHERE)
    with pytest.raises(JobError, match="staging_bucket 'bucket'"):
        custom_job("c", IMAGE, Machine("n1-standard-4"), project="p", location="r",
                   staging_bucket="bucket")


def test_study_tuning_job_field_by_field() -> None:
    job = tuning_job(load_space("vertex-study"), IMAGE, fixed_args=["--epochs=10"], **WHERE)
    body = request(job)
    assert body["display_name"] == "cifar10-vertex-study"
    assert body["max_trial_count"] == 10
    assert body["parallel_trial_count"] == 3
    assert body["max_failed_trial_count"] == 3
    study = body["study_spec"]
    assert study["metrics"] == [{"metric_id": "accuracy", "goal": "MAXIMIZE"}]
    assert study["algorithm"] == "ALGORITHM_UNSPECIFIED"  # Vertex AI's default Bayesian search
    params = {p["parameter_id"]: p for p in study["parameters"]}
    assert set(params) == {"learning_rate", "momentum", "num_units"}
    assert params["learning_rate"]["double_value_spec"] == {"min_value": 0.001, "max_value": 1.0}
    assert params["learning_rate"]["scale_type"] == "UNIT_LOG_SCALE"
    assert params["momentum"]["double_value_spec"] == {"min_value": 0.0, "max_value": 1.0}
    assert params["momentum"]["scale_type"] == "UNIT_LINEAR_SCALE"
    assert params["num_units"]["discrete_value_spec"] == {"values": [64.0, 128.0, 512.0]}
    (pool,) = body["trial_job_spec"]["worker_pool_specs"]
    assert pool["machine_spec"]["machine_type"] == "n1-standard-4"
    assert pool["machine_spec"]["accelerator_type"] == T4
    assert pool["machine_spec"]["accelerator_count"] == 1
    assert int(pool["replica_count"]) == 1
    assert pool["container_spec"]["args"] == ["--epochs=10", "--hypertune-metric=accuracy"]


def test_space_vertex_cannot_express_is_refused() -> None:
    with pytest.raises(NotExpressible, match=r"objective.target 0.99"):
        tuning_job(load_space("katib-study"), IMAGE, **WHERE)


runner = CliRunner()


def _outputs(tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"project": WHERE["project"], "region": WHERE["location"],
                                "vertexStagingBucket": "mlp-vertex-staging",
                                "registryUrl": IMAGE.rsplit("/", 1)[0]}))
    return path


def test_cli_tune_dry_run_prints_the_request(tmp_path: Path) -> None:
    result = runner.invoke(app, ["vertex", "tune", "--dry-run",
                                 "--stack-outputs", str(_outputs(tmp_path))])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["max_trial_count"] == 10
    pool = body["trial_job_spec"]["worker_pool_specs"][0]
    assert pool["container_spec"]["image_uri"] == IMAGE + "-gpu"  # the space's trials get a T4


def test_cli_custom_job_dry_run_multi_worker(tmp_path: Path) -> None:
    result = runner.invoke(app, ["vertex", "custom-job", "--dry-run", "--replicas", "3",
                                 "--machine-type", "n1-standard-8", "--accelerator",
                                 "nvidia-tesla-t4", "--accelerator-count", "2",
                                 "--arg=--epochs=5", "--stack-outputs",
                                 str(_outputs(tmp_path))])
    assert result.exit_code == 0, result.output
    pools = json.loads(result.stdout)["job_spec"]["worker_pool_specs"]
    assert [int(p["replica_count"]) for p in pools] == [1, 2]
    assert pools[0]["machine_spec"]["accelerator_count"] == 2
    assert pools[0]["container_spec"]["args"] == ["--epochs=5"]
    assert pools[0]["container_spec"]["image_uri"] == IMAGE + "-gpu"
    out_dir = json.loads(result.stdout)["job_spec"]["base_output_directory"]["output_uri_prefix"]
    assert re.fullmatch(r"gs://mlp-vertex-staging/cifar10-train/\d{8}-\d{6}", out_dir)
    cpu = runner.invoke(app, ["vertex", "custom-job", "--dry-run", "--machine-type",
                              "e2-standard-8", "--tag", "2.0.0", "--stack-outputs",
                              str(_outputs(tmp_path))])
    assert cpu.exit_code == 0, cpu.output
    (pool,) = json.loads(cpu.stdout)["job_spec"]["worker_pool_specs"]
    assert pool["container_spec"]["image_uri"] == IMAGE.replace(":0.1.0", ":2.0.0")


def test_cli_bad_input_exits_2_with_message(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["vertex", "tune", "--dry-run"])
    assert missing.exit_code == 2
    assert "missing project, location, staging_bucket, image" in missing.stderr
    bad = runner.invoke(app, ["vertex", "custom-job", "--dry-run", "--machine-type",
                              "n1-standard-5", "--stack-outputs", str(_outputs(tmp_path))])
    assert bad.exit_code == 2
    assert "n1-standard-5" in bad.stderr and "Traceback" not in bad.output
    katib = runner.invoke(app, ["vertex", "tune", "--dry-run", "--space", "katib-study",
                                "--stack-outputs", str(_outputs(tmp_path))])
    assert katib.exit_code == 2 and "objective.target" in katib.stderr


def test_the_example_stack_outputs_are_the_vertex_stacks_own() -> None:
    """stacks/examples/vertex-outputs.json is what `pulumi stack output --json -s vertex` gives,
    as the offline preview computes it on apply; the README's dry runs read it."""
    import json

    from facts.stacks import REPO_ROOT, stack_path
    from infra.preview import run_preview
    from infra.stack_config import read_stack_file
    from workloads.pipelines.submit import VERTEX_OUTPUTS

    example = json.loads((REPO_ROOT / "stacks" / "examples" / "vertex-outputs.json").read_text())
    applied = run_preview(read_stack_file(stack_path("vertex")), mode="apply")
    assert example == applied.outputs
    assert set(VERTEX_OUTPUTS) <= set(example)


@pytest.mark.parametrize(("command", "spec"), [("custom-job", "job_spec"),
                                               ("tune", "trial_job_spec")])
def test_dry_runs_show_the_account_the_job_runs_as(tmp_path: Path, command: str,
                                                   spec: str) -> None:
    """A real submit passes the training account; the dry run's request says so too."""
    outputs = json.loads(_outputs(tmp_path).read_text())
    account = "mlp-vertex-training@mlp-vertex-000000.iam.gserviceaccount.com"
    path = tmp_path / "with-account.json"
    path.write_text(json.dumps({**outputs, "trainingServiceAccount": account}))
    result = runner.invoke(app, ["vertex", command, "--dry-run", "--stack-outputs", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[spec]["service_account"] == account
