"""Dashboards and alert policies as code: what an operator sees and is woken by.

For a stack with `monitoring.enabled`:

- **notification channels**, one per e-mail address of the stack config;
- **log-based metrics**: drift checks (`cifar10_drift_detected`, and the drift score as a
  distribution) from the monitoring step's JSON log line, and failed runs: on GKE the
  Kubernetes events `TFJobFailed` and `WorkflowFailed` (every Kubeflow Pipelines run, recurring
  ones too), on Vertex AI pipeline-job events of severity ERROR;
- **a dashboard**: GPU utilisation and memory per GPU model from GKE's managed DCGM metrics,
  serving requests/s, p50/p99 latency and error rate (the predictor's Prometheus metrics on GKE,
  the endpoint's metrics on Vertex AI), failed runs, and the drift score against its threshold;
- **alert policies**: serving error rate and p99 latency against the stack's SLOs, GPUs idle for
  `gpu_idle_hours` (GKE), drift, failed runs;
- the serving account's right to write the predictor's feature log, and nothing else, in the
  models bucket.

Metric names and event reasons are data (`infra/data/monitoring.yaml`, with sources); the
queries are built by plain functions the tests read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pulumi_gcp as gcp
import yaml

from facts.monitoring import DRIFT_LOG_EVENT, FEATURE_LOG_FOLDER
from infra.components._opts import child_opts

DATA = Path(__file__).resolve().parents[1] / "data" / "monitoring.yaml"
SERVING_NAMESPACE = "ml-serving"
PREDICT_ROUTE = 'route="predict"'
WINDOW = "5m"
"""Rate window of the serving queries and alignment of the threshold conditions."""


@cache
def facts() -> dict[str, Any]:
    """`infra/data/monitoring.yaml`."""
    return yaml.safe_load(DATA.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class MonitoringArgs:
    project: str
    stack: str
    emails: tuple[tuple[str, str | None], ...]
    """(address, display name) of each e-mail channel; at least one (the config checks it)."""
    labels: dict[str, str]
    cluster_name: str | None
    """The GKE cluster's name on a kubeflow/both stack, else None."""
    gpu: bool
    """The cluster has GPU pools (DCGM panels and the idle-GPU alert)."""
    serving_gke: bool
    """The stack serves with the KServe predictor."""
    endpoint_id: str | None
    """The Vertex AI endpoint's id on a vertex/both stack (the stack chooses it:
    `vertex.endpoint_id`)."""
    latency_p99_ms: float
    error_rate: float
    gpu_idle_hours: int
    models_bucket: pulumi.Input[str]
    serving_account: pulumi.Input[str]


def _log_metric_type(name: str) -> str:
    return f"logging.googleapis.com/user/{name}"


def metric_names(stack: str) -> dict[str, str]:
    """Names of the stack's log-based metrics (unique per stack in a shared project)."""
    base = f"mlp-{stack}"
    return {"drift_detected": f"{base}/cifar10_drift_detected",
            "drift_score": f"{base}/cifar10_drift_score",
            "failed_runs": f"{base}/failed_runs"}


def drift_filter(cluster_name: str | None) -> str:
    """Log entries of the monitoring step's drift check (see `workloads.monitoring.report`)."""
    scope = f' AND resource.labels.cluster_name="{cluster_name}"' if cluster_name else ""
    return f'jsonPayload.event="{DRIFT_LOG_EVENT}"{scope}'


def failed_runs_filter(project: str, cluster_name: str | None) -> str:
    """Failed TFJobs and pipeline runs (GKE events), or failed Vertex AI pipeline jobs."""
    if cluster_name:
        events = facts()["kubernetes_events"]
        reasons = " OR ".join(f'jsonPayload.reason="{e["reason"]}"'
                              for e in events["failed_runs"])
        return (f'logName="projects/{project}/logs/{events["log"]}" AND '
                f'resource.labels.cluster_name="{cluster_name}" AND ({reasons})')
    log = facts()["vertex"]["pipeline_job_events_log"]
    return f'logName="projects/{project}/logs/{log}" AND severity>=ERROR'


def serving_queries(cluster_name: str) -> dict[str, str]:
    """PromQL over the predictor's metrics (`workloads.cifar10.http_metrics`) in the cluster."""
    sel = f'cluster="{cluster_name}",namespace="{SERVING_NAMESPACE}",{PREDICT_ROUTE}'
    latency = f"cifar10_http_request_seconds_bucket{{{sel}}}"
    return {
        "requests": f"sum(rate(cifar10_http_requests_total{{{sel}}}[{WINDOW}]))",
        "p50": f"histogram_quantile(0.5, sum by (le) (rate({latency}[{WINDOW}])))",
        "p99": f"histogram_quantile(0.99, sum by (le) (rate({latency}[{WINDOW}])))",
        "error_rate": (f'sum(rate(cifar10_http_requests_total{{{sel},code=~"5.."}}[{WINDOW}]))'
                       f" / sum(rate(cifar10_http_requests_total{{{sel}}}[{WINDOW}]))"),
    }


def gpu_queries(cluster_name: str) -> dict[str, str]:
    """PromQL over GKE's managed DCGM metrics, per GPU model (one per pool here)."""
    d = facts()["dcgm"]
    sel = f'cluster="{cluster_name}"'
    return {
        "utilisation": f'avg by ({d["model_label"]}) ({d["metrics"]["utilisation"]}{{{sel}}})',
        "memory": f'sum by ({d["model_label"]}) ({d["metrics"]["memory_used"]}{{{sel}}})',
        "idle": f'{d["metrics"]["utilisation"]}{{{sel}}} < 1',
    }


def vertex_filters(endpoint_id: str) -> dict[str, str]:
    """Cloud Monitoring filters of the Vertex AI endpoint's metrics."""
    v = facts()["vertex"]
    scope = (f'resource.type="{v["endpoint_resource"]}" AND '
             f'resource.labels.endpoint_id="{endpoint_id}"')
    return {key: f'metric.type="{metric}" AND {scope}'
            for key, metric in v["endpoint_metrics"].items()}


def _promql_chart(title: str, queries: dict[str, str], unit: str = "") -> dict[str, Any]:
    return {"title": title, "xyChart": {"chartOptions": {"mode": "COLOR"}, "dataSets": [
        {"timeSeriesQuery": {"prometheusQuery": q, "unitOverride": unit},
         "plotType": "LINE", "legendTemplate": label} for label, q in queries.items()]}}


def _filter_chart(title: str, series: dict[str, tuple[str, dict[str, Any]]],
                  threshold: float | None = None) -> dict[str, Any]:
    chart: dict[str, Any] = {"dataSets": [
        {"timeSeriesQuery": {"timeSeriesFilter": {"filter": f, "aggregation": aggregation}},
         "plotType": "LINE", "legendTemplate": label}
        for label, (f, aggregation) in series.items()]}
    if threshold is not None:
        chart["thresholds"] = [{"value": threshold, "label": "threshold"}]
    return {"title": title, "xyChart": chart}


def _sum(aligner: str = "ALIGN_SUM", reducer: str = "REDUCE_SUM") -> dict[str, Any]:
    return {"alignmentPeriod": "300s", "perSeriesAligner": aligner, "crossSeriesReducer": reducer}


def dashboard(args: MonitoringArgs, endpoint_id: str | None) -> dict[str, Any]:
    """The dashboard's JSON (Cloud Monitoring's `Dashboard` with a mosaic layout)."""
    names = metric_names(args.stack)
    widgets: list[dict[str, Any]] = []
    if args.cluster_name and args.gpu:
        gpu = gpu_queries(args.cluster_name)
        widgets += [_promql_chart("GPU utilisation by GPU model (%)",
                                  {"{{modelName}}": gpu["utilisation"]}, "%"),
                    _promql_chart("GPU memory used by GPU model (MiB)",
                                  {"{{modelName}}": gpu["memory"]}, "MiBy")]
    if args.cluster_name and args.serving_gke:
        q = serving_queries(args.cluster_name)
        widgets += [_promql_chart("Serving requests/s", {"requests/s": q["requests"]}, "1/s"),
                    _promql_chart("Serving latency (s)", {"p50": q["p50"], "p99": q["p99"]},
                                  "s"),
                    _promql_chart("Serving error rate (5xx share)",
                                  {"error rate": q["error_rate"]}, "1")]
    if endpoint_id is not None:
        f = vertex_filters(endpoint_id)
        widgets += [_filter_chart("Vertex AI endpoint requests/s",
                                  {"requests/s": (f["requests"], _sum("ALIGN_RATE"))}),
                    _filter_chart("Vertex AI endpoint latency (ms)", {
                        "p50": (f["latency"], _sum("ALIGN_PERCENTILE_50", "REDUCE_MEAN")),
                        "p99": (f["latency"], _sum("ALIGN_PERCENTILE_99", "REDUCE_MAX"))},
                        threshold=args.latency_p99_ms),
                    _filter_chart("Vertex AI endpoint errors/s",
                                  {"errors/s": (f["errors"], _sum("ALIGN_RATE"))})]
    widgets += [
        _filter_chart("Failed runs (TFJobs, pipeline runs)", {
            "failed": (f'metric.type="{_log_metric_type(names["failed_runs"])}"', _sum())}),
        _filter_chart("Drift score (≥ 1: a feature over its threshold)", {
            "score": (f'metric.type="{_log_metric_type(names["drift_score"])}"',
                      _sum("ALIGN_PERCENTILE_99", "REDUCE_MAX"))}, threshold=1.0)]
    columns = 2
    tiles = [{"xPos": (i % columns) * 24, "yPos": (i // columns) * 16, "width": 24,
              "height": 16, "widget": w} for i, w in enumerate(widgets)]
    return {"displayName": f"ml-platform {args.stack}: CIFAR-10 serving, GPUs, drift",
            "mosaicLayout": {"columns": 48, "tiles": tiles}}


def _promql_condition(title: str, query: str, duration_s: int) -> Any:
    return gcp.monitoring.AlertPolicyConditionArgs(
        display_name=title,
        condition_prometheus_query_language=gcp.monitoring
        .AlertPolicyConditionConditionPrometheusQueryLanguageArgs(
            query=query, duration=f"{duration_s}s", evaluation_interval="60s"))


def _threshold_condition(title: str, metric_filter: str, threshold: float,
                         aggregation: dict[str, Any], duration_s: int = 0,
                         denominator: str | None = None) -> Any:
    def agg(cls: Any) -> Any:
        return cls(alignment_period=aggregation["alignmentPeriod"],
                   per_series_aligner=aggregation["perSeriesAligner"],
                   cross_series_reducer=aggregation["crossSeriesReducer"])

    return gcp.monitoring.AlertPolicyConditionArgs(
        display_name=title,
        condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
            filter=metric_filter, comparison="COMPARISON_GT", threshold_value=threshold,
            duration=f"{duration_s}s",
            aggregations=[agg(gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs)],
            denominator_filter=denominator,
            denominator_aggregations=[agg(gcp.monitoring
                                          .AlertPolicyConditionConditionThresholdDenominatorAggregationArgs)]
            if denominator else None))


def alert_conditions(args: MonitoringArgs, endpoint_id: str | None) -> dict[str, tuple[str, Any]]:
    """Alert name → (signal, condition). Signals: serving, gpu-idle, drift, failed-runs."""
    names = metric_names(args.stack)
    out: dict[str, tuple[str, Any]] = {}
    if args.cluster_name and args.serving_gke:
        q = serving_queries(args.cluster_name)
        out["serving-errors"] = ("serving", _promql_condition(
            f"Serving error rate above {args.error_rate:g}",
            f"({q['error_rate']}) > {args.error_rate}", 300))
        out["serving-latency"] = ("serving", _promql_condition(
            f"Serving p99 latency above {args.latency_p99_ms:g} ms",
            f"({q['p99']}) > {args.latency_p99_ms / 1000:g}", 300))
    if endpoint_id is not None:
        f = vertex_filters(endpoint_id)
        out["endpoint-errors"] = ("serving", _threshold_condition(
            f"Vertex AI endpoint error rate above {args.error_rate:g}", f["errors"],
            args.error_rate, _sum("ALIGN_RATE"), 300, denominator=f["requests"]))
        out["endpoint-latency"] = ("serving", _threshold_condition(
            f"Vertex AI endpoint p99 latency above {args.latency_p99_ms:g} ms", f["latency"],
            args.latency_p99_ms, _sum("ALIGN_PERCENTILE_99", "REDUCE_MAX"), 300))
    if args.cluster_name and args.gpu:
        out["gpu-idle"] = ("gpu-idle", _promql_condition(
            f"GPU idle for {args.gpu_idle_hours} h (paid for, unused)",
            gpu_queries(args.cluster_name)["idle"], args.gpu_idle_hours * 3600))
    out["drift"] = ("drift", _threshold_condition(
        "Drift: served features moved away from the training data",
        f'metric.type="{_log_metric_type(names["drift_detected"])}"', 0, _sum()))
    out["failed-runs"] = ("failed-runs", _threshold_condition(
        "Failed training or pipeline runs (scheduled ones included)",
        f'metric.type="{_log_metric_type(names["failed_runs"])}"', 0, _sum()))
    return out


RUNBOOK = {
    "serving": "The CIFAR-10 predictor misses its SLO. Check the predictor pods' logs "
               "(refusals are WARNING lines with the request id), the serving dashboard, and "
               "recent model promotions; roll back with `mlp model promote` of the last good "
               "version.",
    "gpu-idle": "A GPU node has done nothing for hours and is still billed. Find the pod that "
                "holds it (`kubectl get pods -A -o wide`), or let the pool scale to zero.",
    "drift": "Served images no longer look like the training data. Read the monitoring run's "
             "drift report (HTML artifact), then retrain (`mlp pipeline run`), or enable "
             "retraining on drift.",
    "failed-runs": "A TFJob or pipeline run failed. Open the run in the Pipelines UI "
                   "(or `kubectl describe tfjob`) for the failed step's logs.",
}


class Monitoring(pulumi.ComponentResource):
    """Notification channels, log-based metrics, a dashboard and alert policies for a stack."""

    channels: list[gcp.monitoring.NotificationChannel]
    policies: dict[str, gcp.monitoring.AlertPolicy]
    dashboard: gcp.monitoring.Dashboard

    def __init__(self, name: str, args: MonitoringArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:Monitoring", name, None, opts)
        child = child_opts(self, opts)
        self.channels = [gcp.monitoring.NotificationChannel(
            f"{name}-email-{i}", project=args.project, type="email",
            display_name=display or f"ml-platform {args.stack}: {address}",
            labels={"email_address": address}, user_labels=args.labels, opts=child)
            for i, (address, display) in enumerate(args.emails)]
        names = metric_names(args.stack)
        counter = gcp.logging.MetricMetricDescriptorArgs(metric_kind="DELTA",
                                                         value_type="INT64", unit="1")
        metrics = [
            gcp.logging.Metric(f"{name}-drift-detected", project=args.project,
                               name=names["drift_detected"],
                               description="Monitoring checks that found drift",
                               filter=f"{drift_filter(args.cluster_name)} AND "
                                      "jsonPayload.drift=true",
                               metric_descriptor=counter, opts=child),
            gcp.logging.Metric(
                f"{name}-drift-score", project=args.project, name=names["drift_score"],
                description="Drift score of each check: largest distance over threshold",
                filter=drift_filter(args.cluster_name),
                value_extractor="EXTRACT(jsonPayload.score)",
                metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                    metric_kind="DELTA", value_type="DISTRIBUTION", unit="1"),
                bucket_options=gcp.logging.MetricBucketOptionsArgs(
                    linear_buckets=gcp.logging.MetricBucketOptionsLinearBucketsArgs(
                        num_finite_buckets=40, width=0.125, offset=0)),
                opts=child),
            gcp.logging.Metric(f"{name}-failed-runs", project=args.project,
                               name=names["failed_runs"],
                               description="Failed training and pipeline runs",
                               filter=failed_runs_filter(args.project, args.cluster_name),
                               metric_descriptor=counter, opts=child),
        ]
        after_metrics = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(depends_on=metrics))
        self.dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard", project=args.project,
            dashboard_json=json.dumps(dashboard(args, args.endpoint_id), sort_keys=True),
            opts=after_metrics)
        self.policies = {}
        channel_names = [c.name for c in self.channels]
        for key, (signal, condition) in alert_conditions(args, args.endpoint_id).items():
            self.policies[key] = gcp.monitoring.AlertPolicy(
                f"{name}-alert-{key}", project=args.project,
                display_name=f"ml-platform {args.stack}: {key.replace('-', ' ')}",
                combiner="OR", conditions=[condition], notification_channels=channel_names,
                severity="ERROR" if signal in ("serving", "failed-runs") else "WARNING",
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    content=RUNBOOK[signal], mime_type="text/markdown"),
                user_labels={**args.labels, "signal": signal}, opts=after_metrics)
        bucket = pulumi.Output.from_input(args.models_bucket)
        gcp.storage.BucketIAMMember(
            f"{name}-feature-log-writer", bucket=bucket, role="roles/storage.objectCreator",
            member=pulumi.Output.from_input(args.serving_account).apply(
                lambda e: f"serviceAccount:{e}"),
            condition=gcp.storage.BucketIAMMemberConditionArgs(
                title="feature log only",
                description="The predictor writes its monitored features here, nothing else",
                expression=bucket.apply(
                    lambda b: f'resource.name.startsWith("projects/_/buckets/{b}/objects/'
                              f'{FEATURE_LOG_FOLDER}/")')),
            opts=child)
        self.register_outputs({"channels": channel_names,
                               "policies": sorted(self.policies),
                               "dashboard": self.dashboard.id})
