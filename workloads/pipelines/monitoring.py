"""The monitoring pipeline (kfp v2): check drift → on drift, if allowed, launch retraining.

`check-drift` compares the features the predictor logged in the last `window_hours` with the
reference the trainer wrote (`workloads.monitoring.check.run_check`): an HTML report with one
chart per feature, a Markdown table, kfp `Metrics` (score, counts, drifted features) and one JSON
log line that the stack's log-based metric `cifar10_drift` counts. When it finds drift and
`retrain` is true, `retrain` starts the training pipeline: on Kubeflow through the Pipelines API
inside the cluster, on Vertex AI as a PipelineJob. The `local` build has no retrain step (a
local run cannot start a cluster run); it runs the check with `kfp.local`.

Scheduled as a recurring run (`mlp monitor run --target kubeflow|vertex --schedule`), by
default hourly (`workloads/monitoring/defaults.yaml`). No `from __future__ import annotations`:
kfp reads the annotations as objects.
"""

from typing import Any

from kfp import dsl
from kfp.dsl import HTML, Markdown, Metrics, Output

from workloads.pipelines.settings import SettingsError, Target

MONITORING_PIPELINE = "cifar10-monitoring"


def check_drift(reference_uri: str, features_uri: str, window_hours: float, min_samples: int,
                significance: float, thresholds: dict, end_time: str, report: Output[HTML],
                summary: Output[Markdown], metrics: Output[Metrics]) -> bool:
    """Compare the logged window with the reference; True when it drifted."""
    from datetime import datetime

    from workloads.monitoring.check import run_check
    from workloads.monitoring.settings import load_settings

    settings = load_settings().with_overrides(
        window_hours=window_hours, min_samples=min_samples, significance=significance,
        thresholds={**load_settings().thresholds, **thresholds})
    end = datetime.fromisoformat(end_time.replace("Z", "+00:00")) if end_time else None
    outcome = run_check(reference_uri, features_uri, settings, end)
    print(outcome.log_line, flush=True)
    with open(report.path, "w", encoding="utf-8") as f:
        f.write(outcome.html)
    with open(summary.path, "w", encoding="utf-8") as f:
        f.write(outcome.markdown)
    result = outcome.result
    metrics.log_metric("drift_score", result.score)
    metrics.log_metric("window_images", result.window_count)
    metrics.log_metric("reference_images", result.reference_count)
    metrics.log_metric("drifted_features", len(result.drifted_features))
    return result.drifted


def retrain_kubeflow(registry: str, tag: str, host: str) -> str:
    """Start the training pipeline on Kubeflow Pipelines (in-cluster API)."""
    import kfp

    from workloads.monitoring.retrain import retrain_kubeflow as launch

    run_id = launch(kfp.Client(host=host), registry, tag)
    return f"training run {run_id} started on {host}"


def retrain_vertex(project: str, region: str, staging_bucket: str, pipelines_account: str,
                   serving_account: str, registry: str, endpoint_id: str, tag: str) -> str:
    """Submit the training pipeline to Vertex AI Pipelines."""
    from google.cloud import aiplatform

    from facts import exports
    from workloads.monitoring.retrain import retrain_vertex as launch
    from workloads.pipelines.submit import PIPELINES_ACCOUNT, SERVING_ACCOUNT, STAGING_BUCKET

    outputs = {exports.PROJECT: project, exports.REGION: region, STAGING_BUCKET: staging_bucket,
               PIPELINES_ACCOUNT: pipelines_account, SERVING_ACCOUNT: serving_account,
               exports.REGISTRY_URL: registry, exports.ENDPOINT_ID: endpoint_id}
    return f"training pipeline job {launch(aiplatform.PipelineJob, outputs, tag)} submitted"


def build_monitoring_pipeline(target: Target, registry: str | None = None,
                              tag: str | None = None) -> Any:
    """The monitoring pipeline for `target`, running in the trainer image at `tag`."""
    from workloads.monitoring.retrain import IN_CLUSTER_KFP_HOST
    from workloads.monitoring.settings import load_settings as monitoring_settings
    from workloads.pipelines.settings import TARGETS, load_settings

    if target not in TARGETS:
        raise SettingsError(f"target {target!r} is not allowed; use one of {', '.join(TARGETS)}")
    pipeline_settings = load_settings()
    images = pipeline_settings.images(registry, tag)
    image_tag = tag or pipeline_settings.image_tag
    m = monitoring_settings()

    def wrap(func: Any) -> Any:
        return dsl.component(func, base_image=images.trainer, install_kfp_package=False)

    check, kubeflow_retrain, vertex_retrain = (wrap(check_drift), wrap(retrain_kubeflow),
                                               wrap(retrain_vertex))

    def body(p: dict[str, Any], launch: Any) -> bool:
        checked = check(reference_uri=p["reference_uri"], features_uri=p["features_uri"],
                        window_hours=p["window_hours"], min_samples=p["min_samples"],
                        significance=p["significance"], thresholds=p["thresholds"],
                        end_time=p["end_time"])
        checked.set_display_name("check drift")
        if launch is not None:
            with dsl.If(checked.outputs["Output"] == True, name="drifted"), \
                    dsl.If(p["retrain"] == True, name="retraining-allowed"):  # noqa: E712
                launch().set_display_name("retrain")
        return checked.outputs["Output"]

    description = __doc__.splitlines()[0]
    if target == "vertex":
        @dsl.pipeline(name=MONITORING_PIPELINE, description=description)
        def monitoring_vertex(reference_uri: str, features_uri: str, project: str, region: str,
                              staging_bucket: str, pipelines_account: str, serving_account: str,
                              endpoint_id: str, registry: str = images.trainer.rsplit("/", 1)[0],
                              window_hours: float = m.window_hours,
                              min_samples: int = m.min_samples,
                              significance: float = m.significance, thresholds: dict = {},  # noqa: B006
                              end_time: str = "", retrain: bool = m.retrain) -> bool:
            p = dict(locals())
            return body(p, lambda: vertex_retrain(
                project=p["project"], region=p["region"], staging_bucket=p["staging_bucket"],
                pipelines_account=p["pipelines_account"], serving_account=p["serving_account"],
                registry=p["registry"], endpoint_id=p["endpoint_id"], tag=image_tag))

        return monitoring_vertex

    @dsl.pipeline(name=MONITORING_PIPELINE, description=description)
    def monitoring(reference_uri: str, features_uri: str, window_hours: float = m.window_hours,
                   min_samples: int = m.min_samples, significance: float = m.significance,
                   thresholds: dict = {}, end_time: str = "",  # noqa: B006
                   retrain: bool = m.retrain) -> bool:
        p = dict(locals())
        launch = (lambda: kubeflow_retrain(registry=images.trainer.rsplit("/", 1)[0],
                                           tag=image_tag, host=IN_CLUSTER_KFP_HOST)) \
            if target == "kubeflow" else None
        return body(p, launch)

    return monitoring
