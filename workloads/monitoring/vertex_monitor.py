"""Vertex AI Model Monitoring for the CIFAR-10 model: a ModelMonitor and its schedule (v2 API).

Which API, and why. Vertex AI has two model-monitoring APIs:

- v1, `ModelDeploymentMonitoringJob` (`aiplatform_v1`): attached to an endpoint, it samples the
  endpoint's own request payloads and analyses their fields. Our requests are 32×32×3 pixel
  arrays, so the only "features" it could see are 3,072 raw pixel values; it cannot analyse the
  derived features (channel statistics, contrast, predicted class) that say something about
  drift.
- v2, `ModelMonitor` + `ModelMonitoringJob` (`aiplatform_v1beta1`, the SDK's
  `vertexai.resources.preview.ml_monitoring`): monitors a registered model on any tabular
  dataset in Cloud Storage (CSV, JSONL, TFRecord) or BigQuery whose columns match a declared
  schema, with a timestamp field and a window. The predictor's feature log is exactly such a
  dataset (flat JSONL records, `timestamp` field), and the trainer's `reference_features.jsonl`
  the training dataset.

So this uses v2: the same nine features, the same per-feature thresholds (`defaults.yaml`), the
same window, the predictor's sampling rate, and e-mail plus the stack's notification channels.
The distances are Vertex AI's own: Jensen-Shannon divergence for numeric features, L-infinity
for the predicted class. Requests are built as proto messages and shown as dicts, like the other
Vertex jobs (`workloads.vertex.jobs.request`); nothing is sent without a client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workloads.cifar10.features import FEATURES, TIMESTAMP
from workloads.monitoring.settings import MonitoringSettings

MONITOR_ID = "cifar10-monitor"
"""The ModelMonitor's id, the last part of its resource name
(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)."""
PREDICTION_FIELDS = ("predicted_class", "top1_probability")
"""Features that describe the model's output rather than its input."""
NUMERIC_METRIC = "jensen_shannon_divergence"
CATEGORICAL_METRIC = "l_infinity"


class MonitorError(ValueError):
    """A monitor that cannot be built as asked; one line naming the field and value."""


def _types() -> Any:
    from google.cloud.aiplatform_v1beta1 import types

    return types


def _model_name(project: str, region: str, model: str) -> str:
    if model.isdigit():
        return f"projects/{project}/locations/{region}/models/{model}"
    prefix = f"projects/{project}/locations/{region}/models/"
    if model.startswith(prefix) and model[len(prefix):].isdigit():
        return model
    raise MonitorError(f"--model {model!r} is not a Model Registry id or resource name "
                       f"({prefix}<numeric id>)")


def _window(hours: float) -> str:
    if hours != int(hours):
        raise MonitorError(f"window_hours {hours:g} is not allowed on Vertex AI; its windows are "
                           "whole hours ('24h')")
    return f"{int(hours)}h"


def _cron(cron: str) -> str:
    if len(cron.split()) != 5:
        raise MonitorError(f"schedule {cron!r} is not a five-field cron")
    return f"TZ=UTC {cron}"


def _objective(settings: MonitoringSettings) -> Any:
    t = _types()
    spec = t.ModelMonitoringObjectiveSpec

    def drift(names: Sequence[str]) -> Any:
        return spec.DataDriftSpec(
            features=list(names), numeric_metric_type=NUMERIC_METRIC,
            categorical_metric_type=CATEGORICAL_METRIC,
            feature_alert_conditions={
                n: t.ModelMonitoringAlertCondition(threshold=settings.thresholds[n])
                for n in names})

    inputs = [f.name for f in FEATURES if f.name not in PREDICTION_FIELDS]
    return spec.TabularObjective(feature_drift_spec=drift(inputs),
                                 prediction_output_drift_spec=drift(PREDICTION_FIELDS))


def _gcs_dataset(uri: str, timestamp: bool) -> Any:
    t = _types()
    dataset = t.ModelMonitoringInput.ModelMonitoringDataset
    return dataset(gcs_source=dataset.ModelMonitoringGcsSource(
        gcs_uri=uri, format_=dataset.ModelMonitoringGcsSource.DataFormat.JSONL),
        timestamp_field=TIMESTAMP if timestamp else "")


def _to_dict(message: Any) -> dict[str, Any]:
    return type(message).to_dict(message, use_integers_for_enums=False,
                                 preserving_proto_field_name=True)


def monitor_requests(*, project: str, region: str, model: str, model_version_id: str,
                     reference_uri: str, features_uri: str, settings: MonitoringSettings,
                     emails: Sequence[str], channels: Sequence[str],
                     output_uri: str | None = None) -> dict[str, Any]:
    """The `CreateModelMonitor` and `CreateSchedule` requests, as dicts (see the module doc).

    `features_uri` is the predictor's `--feature-log` folder; every hour folder under it is read
    (`<folder>/*/*/*.jsonl`) and the window selected by the records' timestamp. Vertex AI writes
    its results beside it (`<parent of features_uri>/vertex`) unless `output_uri` says where.
    """
    for where, uri in (("reference", reference_uri), ("features", features_uri)):
        if not uri.startswith("gs://"):
            raise MonitorError(f"{where} {uri!r} must be a gs:// URI: Vertex AI reads it")
    if not emails and not channels:
        raise MonitorError("no one to notify: give --email ADDRESS or a stack whose monitoring "
                           "config names notification channels")
    t = _types()
    schema = t.ModelMonitoringSchema(
        feature_fields=[t.ModelMonitoringSchema.FieldSchema(
            name=f.name, data_type="float" if f.kind == "numeric" else "categorical")
            for f in FEATURES if f.name not in PREDICTION_FIELDS],
        prediction_fields=[t.ModelMonitoringSchema.FieldSchema(
            name=f.name, data_type="float" if f.kind == "numeric" else "categorical")
            for f in FEATURES if f.name in PREDICTION_FIELDS])
    notification = t.ModelMonitoringNotificationSpec(
        email_config=t.ModelMonitoringNotificationSpec.EmailConfig(user_emails=list(emails)),
        enable_cloud_logging=True,
        notification_channel_configs=[
            t.ModelMonitoringNotificationSpec.NotificationChannelConfig(notification_channel=c)
            for c in channels])
    output = t.ModelMonitoringOutputSpec(gcs_base_directory=t.GcsDestination(
        output_uri_prefix=output_uri or f"{features_uri.rstrip('/').rsplit('/', 1)[0]}/vertex"))
    training = t.ModelMonitoringInput(columnized_dataset=_gcs_dataset(reference_uri, False))
    parent = f"projects/{project}/locations/{region}"
    monitor = t.ModelMonitor(
        display_name=MONITOR_ID,
        model_monitoring_target=t.ModelMonitor.ModelMonitoringTarget(
            vertex_model=t.ModelMonitor.ModelMonitoringTarget.VertexModelSource(
                model=_model_name(project, region, model), model_version_id=model_version_id)),
        training_dataset=training, notification_spec=notification, output_spec=output,
        model_monitoring_schema=schema, tabular_objective=_objective(settings))
    target = t.ModelMonitoringInput(
        columnized_dataset=_gcs_dataset(f"{features_uri.rstrip('/')}/*/*/*.jsonl", True),
        time_offset=t.ModelMonitoringInput.TimeOffset(offset="0h",
                                                      window=_window(settings.window_hours)))
    job = t.ModelMonitoringJob(
        display_name=f"{MONITOR_ID}-job",
        model_monitoring_spec=t.ModelMonitoringSpec(
            objective_spec=t.ModelMonitoringObjectiveSpec(
                tabular_objective=_objective(settings), baseline_dataset=training,
                target_dataset=target),
            notification_spec=notification, output_spec=output))
    schedule = t.Schedule(
        display_name=f"{MONITOR_ID}-schedule", cron=_cron(settings.schedule.vertex),
        max_concurrent_run_count=1,
        create_model_monitoring_job_request=t.CreateModelMonitoringJobRequest(
            parent=f"{parent}/modelMonitors/{MONITOR_ID}", model_monitoring_job=job))
    return {
        "create_model_monitor": _to_dict(t.CreateModelMonitorRequest(
            parent=parent, model_monitor=monitor, model_monitor_id=MONITOR_ID)),
        "create_schedule": _to_dict(t.CreateScheduleRequest(parent=parent, schedule=schedule)),
        "sampling": {"predictor_feature_sample_rate": settings.sample_rate,
                     "note": "requests are sampled by the predictor (--feature-sample-rate) "
                             "before their features are logged; Vertex AI reads every logged "
                             "record"},
    }


def create_monitor(requests: dict[str, Any], region: str, clients: Any = None) -> str:
    """Send both requests (the monitor first, then its schedule); `clients` is a pair of
    (ModelMonitoringServiceClient, ScheduleServiceClient) or None for the real ones."""
    t = _types()
    if clients is None:
        from google.api_core.client_options import ClientOptions
        from google.cloud import aiplatform_v1beta1

        options = ClientOptions(api_endpoint=f"{region}-aiplatform.googleapis.com")
        clients = (aiplatform_v1beta1.ModelMonitoringServiceClient(client_options=options),
                   aiplatform_v1beta1.ScheduleServiceClient(client_options=options))
    monitors, schedules = clients
    operation = monitors.create_model_monitor(
        request=t.CreateModelMonitorRequest(requests["create_model_monitor"]))
    monitor = operation.result()
    schedule = schedules.create_schedule(
        request=t.CreateScheduleRequest(requests["create_schedule"]))
    return f"created {monitor.name} and schedule {schedule.name}"
