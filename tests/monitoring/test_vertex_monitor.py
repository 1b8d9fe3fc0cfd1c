"""Vertex AI Model Monitoring (v2): the requests `mlp monitor vertex --dry-run` prints."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from facts.stacks import REPO_ROOT
from mlp.cli import app
from workloads.cifar10.features import FEATURE_NAMES
from workloads.monitoring.settings import load_settings
from workloads.monitoring.vertex_monitor import MonitorError, create_monitor, monitor_requests

OUTPUTS = REPO_ROOT / "stacks" / "examples" / "vertex-outputs.json"
runner = CliRunner()


def _requests(**overrides):
    args = {"project": "p-000000", "region": "us-central1", "model": "42",
            "model_version_id": "3", "reference_uri": "gs://m/cifar10/3/reference.jsonl",
            "features_uri": "gs://m/cifar10/monitoring/features", "settings": load_settings(),
            "emails": ["oncall@acme.io"], "channels": ["projects/p/notificationChannels/7"]}
    return monitor_requests(**{**args, **overrides})


def test_the_monitor_watches_the_same_features_with_the_same_thresholds() -> None:
    settings = load_settings()
    body = _requests()["create_model_monitor"]
    monitor = body["model_monitor"]
    assert body["parent"] == "projects/p-000000/locations/us-central1"
    assert body["model_monitor_id"] == "cifar10-monitor"
    assert monitor["model_monitoring_target"]["vertex_model"] == {
        "model": "projects/p-000000/locations/us-central1/models/42", "model_version_id": "3"}
    schema = monitor["model_monitoring_schema"]
    fields = {f["name"]: f["data_type"] for f in
              schema["feature_fields"] + schema["prediction_fields"]}
    assert set(fields) == set(FEATURE_NAMES) and fields["predicted_class"] == "categorical"
    objective = monitor["tabular_objective"]
    conditions = {**objective["feature_drift_spec"]["feature_alert_conditions"],
                  **objective["prediction_output_drift_spec"]["feature_alert_conditions"]}
    assert {k: v["threshold"] for k, v in conditions.items()} == settings.thresholds
    assert objective["feature_drift_spec"]["numeric_metric_type"] == "jensen_shannon_divergence"
    assert monitor["training_dataset"]["columnized_dataset"]["gcs_source"] == {
        "gcs_uri": "gs://m/cifar10/3/reference.jsonl", "format_": "JSONL"}
    notify = monitor["notification_spec"]
    assert notify["email_config"]["user_emails"] == ["oncall@acme.io"]
    assert notify["notification_channel_configs"] == [
        {"notification_channel": "projects/p/notificationChannels/7"}]


def test_the_schedule_reads_the_feature_log_over_the_window() -> None:
    settings = load_settings()
    schedule = _requests()["create_schedule"]["schedule"]
    assert schedule["cron"] == f"TZ=UTC {settings.schedule.vertex}"
    job = schedule["create_model_monitoring_job_request"]
    assert job["parent"].endswith("/modelMonitors/cifar10-monitor")
    target = job["model_monitoring_job"]["model_monitoring_spec"]["objective_spec"][
        "target_dataset"]
    assert target["columnized_dataset"] == {
        "gcs_source": {"gcs_uri": "gs://m/cifar10/monitoring/features/*/*/*.jsonl",
                       "format_": "JSONL"}, "timestamp_field": "timestamp"}
    assert target["time_offset"] == {"offset": "0h", "window": f"{settings.window_hours:g}h"}


@pytest.mark.parametrize(("overrides", "message"), [
    ({"emails": [], "channels": []}, "no one to notify"),
    ({"features_uri": "/tmp/features"}, "must be a gs:// URI"),
    ({"model": "cifar10"}, "is not a Model Registry id"),
    ({"settings": load_settings().with_overrides(window_hours=1.5)}, "whole hours"),
])
def test_requests_that_cannot_work_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(MonitorError, match=message):
        _requests(**overrides)


def test_dry_run_from_the_stack_outputs_sends_nothing() -> None:
    result = runner.invoke(app, ["monitor", "vertex", "--stack-outputs", str(OUTPUTS),
                                 "--model", "42", "--dry-run"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    outputs = json.loads(OUTPUTS.read_text())
    monitor = body["create_model_monitor"]["model_monitor"]
    assert monitor["training_dataset"]["columnized_dataset"]["gcs_source"]["gcs_uri"] == (
        f"gs://{outputs['modelsBucket']}/cifar10/1/reference_features.jsonl")
    assert monitor["notification_spec"]["email_config"]["user_emails"] == outputs["alertEmails"]
    assert [c["notification_channel"] for c in
            monitor["notification_spec"]["notification_channel_configs"]] == \
        outputs["notificationChannels"]
    assert body["sampling"]["predictor_feature_sample_rate"] == load_settings().sample_rate


def test_a_real_submit_creates_the_monitor_before_its_schedule() -> None:
    calls = []

    class Monitors:
        def create_model_monitor(self, request):
            calls.append(("monitor", request.model_monitor_id))
            return SimpleNamespace(result=lambda: SimpleNamespace(
                name="projects/p/locations/l/modelMonitors/cifar10-monitor"))

    class Schedules:
        def create_schedule(self, request):
            calls.append(("schedule", request.schedule.display_name))
            return SimpleNamespace(name="projects/p/locations/l/schedules/9")

    message = create_monitor(_requests(), "us-central1", (Monitors(), Schedules()))
    assert calls == [("monitor", "cifar10-monitor"), ("schedule", "cifar10-monitor-schedule")]
    assert message.endswith("schedule projects/p/locations/l/schedules/9")


def test_missing_outputs_are_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"project": "p"}))
    result = runner.invoke(app, ["monitor", "vertex", "--stack-outputs", str(path), "--model",
                                 "42", "--dry-run"])
    assert result.exit_code == 2 and "missing region, modelsBucket" in result.stderr
