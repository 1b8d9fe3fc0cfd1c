"""Vertex AI capacity: Scheduling.strategy, the wait for flex-start and persistent resources, in
the request each job would send; refused combinations are one line naming the option."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from facts.capacity import capacity
from facts.stacks import REPO_ROOT
from mlp.cli import app
from workloads.tuning.space import load_space
from workloads.vertex.jobs import (
    MAX_WAIT_HOURS,
    JobError,
    Machine,
    Scheduling,
    custom_job,
    request,
    tuning_job,
)

IMAGE = "us-central1-docker.pkg.dev/mlp-vertex-000000/ml-platform/cifar10-trainer:0.1.0"
WHERE = {"project": "mlp-vertex-000000", "location": "us-central1",
         "staging_bucket": "gs://mlp-vertex-staging"}
T4 = Machine("n1-standard-8", "nvidia-tesla-t4", 1)
L4 = Machine("g2-standard-8", "nvidia-l4", 1)
OUTPUTS = REPO_ROOT / "stacks" / "examples" / "vertex-outputs.json"
runner = CliRunner()


def _scheduling(machine: Machine, plan: Scheduling) -> dict:
    return request(custom_job("cifar10-train", IMAGE, machine, scheduling=plan, **WHERE))[
        "job_spec"]


def test_standard_scheduling_leaves_the_request_as_before():
    spec = _scheduling(T4, Scheduling())
    assert "scheduling" not in spec and not spec.get("persistent_resource_id")


@pytest.mark.parametrize(("strategy", "machine", "enum"), [
    ("spot", T4, "SPOT"), ("spot", L4, "SPOT"), ("flex-start", L4, "FLEX_START")])
def test_the_request_carries_the_strategy(strategy, machine, enum):
    assert _scheduling(machine, Scheduling(strategy))["scheduling"]["strategy"] == enum
    assert capacity().vertex.strategies[strategy] == enum


def test_flex_start_carries_its_wait_and_submit_gets_the_same():
    plan = Scheduling("flex-start", 1.5)
    assert _scheduling(L4, plan)["scheduling"]["max_wait_duration"] == "5400s"
    kwargs = plan.run_kwargs()
    assert kwargs["max_wait_duration"] == 5400 and kwargs["scheduling_strategy"].name == \
        "FLEX_START"


def test_a_tuning_job_schedules_its_trials():
    job = tuning_job(load_space("vertex-study"), IMAGE, scheduling=Scheduling("spot"), **WHERE)
    assert request(job)["trial_job_spec"]["scheduling"]["strategy"] == "SPOT"


def test_a_job_on_a_persistent_resource_names_it():
    spec = _scheduling(T4, Scheduling(persistent_resource="cifar10-reserved"))
    assert spec["persistent_resource_id"] == "cifar10-reserved"


@pytest.mark.parametrize(("machine", "plan", "field", "says"), [
    (T4, Scheduling("flex-start"), "scheduling", "needs one of nvidia-l4"),
    (Machine("n1-standard-8"), Scheduling("flex-start"), "scheduling",
     "not no GPU on n1-standard-8"),
    (T4, Scheduling("cheap"), "scheduling", "'cheap' is not allowed"),
    (T4, Scheduling("spot", 2), "max_wait_hours", "applies only to scheduling 'flex-start'"),
    (L4, Scheduling("flex-start", -1), "max_wait_hours", "must be a number of hours from 0 to"),
    (T4, Scheduling("spot", persistent_resource="r1"), "scheduling",
     "cannot run on a persistent resource"),
    (T4, Scheduling(persistent_resource="Bad_Name"), "persistent_resource",
     "is not a resource id"),
])
def test_refused_scheduling_names_the_option(machine, plan, field, says):
    with pytest.raises(JobError) as err:
        _scheduling(machine, plan)
    message = str(err.value)
    assert message.startswith(field + " ") and says in message and "\n" not in message


@settings(max_examples=20, deadline=None)
@given(hours=st.text(max_size=8))
@example(hours="1E10").via("a wait no protobuf Duration holds")
@example(hours="87660000")
@example(hours="87660001")
def test_max_wait_hours_from_the_command_line_is_a_number_or_exit_2(hours):
    result = runner.invoke(app, [
        "vertex", "custom-job", "--stack-outputs", str(OUTPUTS), "--machine-type",
        "g2-standard-8", "--accelerator", "nvidia-l4", "--accelerator-count", "1",
        "--scheduling", "flex-start", "--max-wait-hours", hours, "--dry-run"])
    try:
        ok = 0 <= float(hours) <= MAX_WAIT_HOURS
    except ValueError:
        ok = False
    if ok:
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["job_spec"]["scheduling"]["strategy"] == "FLEX_START"
    else:
        assert result.exit_code == 2
        assert "max-wait-hours" in result.output or "max_wait_hours" in result.output


def test_cli_dry_run_with_spot_shows_the_strategy():
    result = runner.invoke(app, [
        "vertex", "custom-job", "--stack-outputs", str(OUTPUTS), "--machine-type",
        "n1-standard-8", "--accelerator", "nvidia-tesla-t4", "--accelerator-count", "1",
        "--scheduling", "spot", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["job_spec"]["scheduling"]["strategy"] == "SPOT"


def test_cli_persistent_resource_from_outputs_needs_the_output(tmp_path):
    result = runner.invoke(app, ["vertex", "custom-job", "--stack-outputs", str(OUTPUTS),
                                 "--persistent-resource", "stack", "--dry-run"])
    assert result.exit_code == 2 and "vertexPersistentResource" in result.output
    outputs = json.loads(OUTPUTS.read_text()) | {"vertexPersistentResource": "cifar10-reserved"}
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    result = runner.invoke(app, ["vertex", "custom-job", "--stack-outputs", str(path),
                                 "--persistent-resource", "stack", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["job_spec"]["persistent_resource_id"] == "cifar10-reserved"
