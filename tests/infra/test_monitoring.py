"""Dashboards, alert policies and DCGM in the stacks' previews; the stack settings behind them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from infra.components.monitoring import (
    MonitoringArgs,
    alert_conditions,
    dashboard,
    facts,
    metric_names,
)
from infra.config import ConfigError
from infra.preview import run_preview
from infra.stack_config import read_stack_file
from mlp.cli import app
from tests.infra.conftest import preview_of, write_stack

ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
DASHBOARD = "gcp:monitoring/dashboard:Dashboard"
METRIC = "gcp:logging/metric:Metric"
runner = CliRunner()


def _policies(stack: str) -> dict[str, dict]:
    return {r.name.removeprefix("mlp-monitoring-alert-"): r.inputs
            for r in preview_of(stack, "apply").of_type(ALERT)}


def _queries(policy: dict) -> str:
    return " ".join(json.dumps(c) for c in policy["conditions"])


@pytest.mark.parametrize(("stack", "alerts"), [
    ("dev", {"serving-errors", "serving-latency", "gpu-idle", "drift", "failed-runs"}),
    ("prod", {"serving-errors", "serving-latency", "gpu-idle", "drift", "failed-runs"}),
    ("vertex", {"endpoint-errors", "endpoint-latency", "drift", "failed-runs"}),
])
def test_every_stack_alerts_its_channels(stack: str, alerts: set[str]) -> None:
    preview = preview_of(stack, "apply")
    (channel,) = preview.of_type(CHANNEL)
    cfg = read_stack_file(Path(f"stacks/Pulumi.{stack}.yaml")).platform()
    assert channel.inputs["type"] == "email"
    assert channel.inputs["labels"] == {
        "email_address": cfg.monitoring.notification_channels[0].address}
    policies = _policies(stack)
    assert set(policies) == alerts
    for policy in policies.values():
        assert policy["notificationChannels"] == [
            f"projects/{cfg.project}/notificationChannels/mlp-monitoring-email-0-id"]
        assert policy["documentation"]["content"]
    assert len(preview.of_type(DASHBOARD)) == 1 and len(preview.of_type(METRIC)) == 3


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_slo_and_idle_settings_reach_the_alert_queries(stack: str) -> None:
    cfg = read_stack_file(Path(f"stacks/Pulumi.{stack}.yaml")).platform()
    policies = _policies(stack)
    slo = cfg.monitoring.serving_slo
    errors = policies["serving-errors"]["conditions"][0]["conditionPrometheusQueryLanguage"]
    assert errors["query"].endswith(f") > {slo.error_rate}")
    assert 'code=~\\"5..\\"' in json.dumps(errors) and f'cluster="mlp-{stack}"' in errors["query"]
    latency = policies["serving-latency"]["conditions"][0]["conditionPrometheusQueryLanguage"]
    assert latency["query"].startswith("(histogram_quantile(0.99, ")
    assert latency["query"].endswith(f") > {slo.latency_p99_ms / 1000:g}")
    idle = policies["gpu-idle"]["conditions"][0]["conditionPrometheusQueryLanguage"]
    assert idle["query"] == f'DCGM_FI_DEV_GPU_UTIL{{cluster="mlp-{stack}"}} < 1'
    assert idle["duration"] == f"{cfg.monitoring.gpu_idle_hours * 3600}s"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_clusters_export_dcgm_and_the_predictor_is_scraped(stack: str) -> None:
    preview = preview_of(stack, "apply")
    (cluster,) = preview.of_type("gcp:container/cluster:Cluster")
    config = cluster.inputs["monitoringConfig"]
    assert config == {"enableComponents": ["SYSTEM_COMPONENTS", facts()["dcgm"]["component"]],
                      "managedPrometheus": {"enabled": True}}
    (scrape,) = preview.of_type("kubernetes:monitoring.googleapis.com/v1:PodMonitoring")
    assert scrape.inputs["spec"]["endpoints"] == [{"port": 8080, "path": "/metrics",
                                                   "interval": "30s"}]
    (isvc,) = preview.of_type("kubernetes:serving.kserve.io/v1beta1:InferenceService")
    env = {e["name"]: e["value"] for e in
           isvc.inputs["spec"]["predictor"]["containers"][0]["env"]}
    models = preview.outputs["modelsBucket"]
    assert env["PREDICTOR_FEATURE_LOG"] == f"gs://{models}/cifar10/monitoring/features"


def test_the_dashboard_shows_gpus_serving_runs_and_drift() -> None:
    (board,) = preview_of("prod", "apply").of_type(DASHBOARD)
    body = json.loads(board.inputs["dashboardJson"])
    titles = [t["widget"]["title"] for t in body["mosaicLayout"]["tiles"]]
    assert titles == ["GPU utilisation by GPU model (%)", "GPU memory used by GPU model (MiB)",
                      "Serving requests/s", "Serving latency (s)",
                      "Serving error rate (5xx share)", "Failed runs (TFJobs, pipeline runs)",
                      "Drift score (≥ 1: a feature over its threshold)"]
    text = json.dumps(body)
    assert "DCGM_FI_DEV_FB_USED" in text and "avg by (modelName) (DCGM_FI_DEV_GPU_UTIL" in text
    assert metric_names("prod")["drift_score"] in text
    tiles = body["mosaicLayout"]["tiles"]
    assert all(t["xPos"] + t["width"] <= body["mosaicLayout"]["columns"] for t in tiles)


def test_log_metrics_count_drift_and_failed_runs() -> None:
    metrics = {r.inputs["name"]: r.inputs for r in preview_of("dev", "apply").of_type(METRIC)}
    names = metric_names("dev")
    assert metrics[names["drift_detected"]]["filter"] == (
        'jsonPayload.event="cifar10-drift" AND resource.labels.cluster_name="mlp-dev" AND '
        "jsonPayload.drift=true")
    assert metrics[names["drift_score"]]["valueExtractor"] == "EXTRACT(jsonPayload.score)"
    failed = metrics[names["failed_runs"]]["filter"]
    assert 'jsonPayload.reason="TFJobFailed"' in failed and \
        'jsonPayload.reason="WorkflowFailed"' in failed
    vertex = {r.inputs["name"]: r.inputs for r in preview_of("vertex", "apply").of_type(METRIC)}
    assert "pipeline_job_events" in vertex[metric_names("vertex")["failed_runs"]]["filter"]


def test_a_stack_that_monitors_without_a_channel_fails_the_preview(tmp_path: Path,
                                                                    dev_config: dict) -> None:
    dev_config["ml-platform:platform"]["monitoring"]["notification_channels"] = []
    path = write_stack(tmp_path, "quiet", dev_config)
    with pytest.raises(ConfigError) as err:
        run_preview(read_stack_file(path))
    assert str(err.value).startswith(
        "stack 'quiet': ml-platform:platform.monitoring.notification_channels: [] is not valid; "
        "alert policies need at least one notification channel")
    result = runner.invoke(app, ["preview", "--stack-file", str(path)])
    assert result.exit_code == 2
    assert "notification_channels" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize(("channels", "message"), [
    ([{"address": "not-an-address"}], "must be an e-mail address"),
    ([{"type": "sms", "address": "a@acme.io"}], "Input should be 'email'"),
    ([{"address": "a@acme.io"}, {"address": "A@ACME.io"}], "each address may appear once"),
])
def test_bad_channels_are_refused(tmp_path: Path, dev_config: dict, channels: list,
                                  message: str) -> None:
    dev_config["ml-platform:platform"]["monitoring"]["notification_channels"] = channels
    with pytest.raises(ConfigError, match=message):
        read_stack_file(write_stack(tmp_path, "bad", dev_config)).platform()


def test_monitoring_off_declares_nothing(tmp_path: Path, dev_config: dict) -> None:
    dev_config["ml-platform:platform"]["monitoring"] = {"enabled": False}
    preview = run_preview(read_stack_file(write_stack(tmp_path, "off", dev_config)))
    assert not preview.of_type(ALERT) and not preview.of_type(CHANNEL)
    assert "alertEmails" not in preview.outputs


def _args(**overrides) -> MonitoringArgs:
    base = {"project": "p", "stack": "s", "emails": (("a@acme.io", None),), "labels": {},
            "cluster_name": "mlp-s", "gpu": True, "serving_gke": True, "endpoint_id": None,
            "latency_p99_ms": 500.0, "error_rate": 0.01, "gpu_idle_hours": 6,
            "models_bucket": "b", "serving_account": "sa@p.iam.gserviceaccount.com"}
    return MonitoringArgs(**{**base, **overrides})


def test_a_cluster_without_gpus_has_no_gpu_panels_or_idle_alert() -> None:
    args = _args(gpu=False)
    assert "gpu-idle" not in alert_conditions(args, None)
    assert "DCGM" not in json.dumps(dashboard(args, None))


@settings(max_examples=30, deadline=None)
@given(st.floats(1, 60_000), st.floats(0.0001, 0.99), st.integers(1, 24))
def test_alert_thresholds_are_the_stack_settings(latency: float, rate: float,
                                                 hours: int) -> None:
    conditions = alert_conditions(_args(latency_p99_ms=latency, error_rate=rate,
                                        gpu_idle_hours=hours, endpoint_id="123"), "123")
    promql = conditions["serving-errors"][1].condition_prometheus_query_language
    assert promql.query.endswith(f") > {rate}") and promql.duration == "300s"
    endpoint = conditions["endpoint-latency"][1].condition_threshold
    assert endpoint.threshold_value == latency and "endpoint_id=\"123\"" in endpoint.filter
    errors = conditions["endpoint-errors"][1].condition_threshold
    assert errors.threshold_value == rate and "prediction_count" in errors.denominator_filter
    idle = conditions["gpu-idle"][1].condition_prometheus_query_language
    assert idle.duration == f"{hours * 3600}s"
