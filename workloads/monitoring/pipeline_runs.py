"""Running the monitoring pipeline: here with `kfp.local`, or on Kubeflow / Vertex AI Pipelines,
once or on a schedule. The submission code is the training pipeline's (`workloads.pipelines.
submit`); only the package and its names differ."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workloads.pipelines.submit import SubmitError

MONITORING_EXPERIMENT = "cifar10-monitoring"


class RunError(SubmitError):
    """A monitoring run that cannot start as asked; one line."""


@dataclass(frozen=True)
class LocalMonitoringRun:
    """What a local run found and where its report is."""

    drifted: bool
    verdict: str
    report: Path
    run_dir: Path


def _compile(target: str, registry: str | None, tag: str | None) -> tuple[Any, Path]:
    from kfp import compiler

    from workloads.pipelines.monitoring import MONITORING_PIPELINE, build_monitoring_pipeline

    pipeline = build_monitoring_pipeline(target, registry, tag)  # type: ignore[arg-type]
    out = Path(tempfile.mkdtemp(prefix="cifar10-monitoring-")) / f"{MONITORING_PIPELINE}.yaml"
    compiler.Compiler().compile(pipeline, str(out))
    return pipeline, out


def run_monitoring_local(out_dir: Path, arguments: dict[str, Any]) -> LocalMonitoringRun:
    """Run the `local` build with `kfp.local`; the check's artifacts land under `out_dir`."""
    from kfp import local

    from facts.verbosity import verbose_enabled
    from workloads.pipelines.monitoring import MONITORING_PIPELINE, build_monitoring_pipeline
    from workloads.pipelines.submit import _output_to, cast_arguments

    pipeline = build_monitoring_pipeline("local")
    args = cast_arguments(pipeline, {k: v for k, v in arguments.items() if k != "retrain"})
    root = Path(out_dir).resolve() / time.strftime("run-%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=False)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root),
               raise_on_error=True)
    log = None if verbose_enabled() else root / "run.log"
    with _output_to(log):
        try:
            task = pipeline(**args)
        except RuntimeError as err:
            raise RunError(f"the local monitoring run failed: {str(err).splitlines()[0]}"
                           + (f"; its output is in {log}" if log else "")) from err
    (run_dir,) = [p for p in root.iterdir() if p.is_dir()
                  and p.name.startswith(MONITORING_PIPELINE)]
    (report,) = run_dir.glob("check-drift/report")
    (result,) = run_dir.glob("check-drift/executor_output.json")
    verdict = "drift" if task.output else "no drift"
    summary = (run_dir / "check-drift" / "summary").read_text(encoding="utf-8")
    if "insufficient" in summary or "needed for a verdict" in summary:
        verdict = "insufficient data"
    json.loads(result.read_text())  # written whole by kfp.local: a broken one is a failed run
    return LocalMonitoringRun(bool(task.output), verdict, report, run_dir)


def run_monitoring_kubeflow(arguments: dict[str, Any], host: str | None, registry: str | None,
                            tag: str | None, schedule: str | None,
                            client_factory: Any = None) -> str:
    """Submit one monitoring run, or a recurring one (kfp cron, six fields)."""
    from workloads.pipelines.monitoring import MONITORING_PIPELINE
    from workloads.pipelines.submit import (
        DEFAULT_KFP_HOST,
        cast_arguments,
        check_cron,
        check_kfp_host,
        kfp_refusals,
        schedule_kubeflow,
        submit_kubeflow,
    )

    if schedule:
        check_cron(schedule, fields=6)
    pipeline, package = _compile("kubeflow", registry, tag)
    args = cast_arguments(pipeline, arguments)
    url = host or DEFAULT_KFP_HOST
    if client_factory is None:
        import kfp

        check_kfp_host(url)
        client_factory = kfp.Client
    with kfp_refusals(url):
        client = client_factory(host=url)
        if schedule:
            recurring = schedule_kubeflow(package, args, client, schedule,
                                          experiment=MONITORING_EXPERIMENT,
                                          name=f"{MONITORING_PIPELINE}-recurring")
            return f"recurring monitoring run {recurring.recurring_run_id} created ({schedule})"
        run = submit_kubeflow(package, args, client, experiment=MONITORING_EXPERIMENT,
                              run_name=f"{MONITORING_PIPELINE}-{time.strftime('%Y%m%d-%H%M%S')}")
    return f"monitoring run {run.run_id} submitted to {url}"


def vertex_parameters(outputs: dict[str, Any]) -> dict[str, Any]:
    """The Vertex build's stack parameters (where a retraining run goes) from stack outputs."""
    from facts import exports
    from workloads.pipelines.submit import (
        PIPELINES_ACCOUNT,
        SERVING_ACCOUNT,
        STAGING_BUCKET,
        VERTEX_OUTPUTS,
    )

    missing = [k for k in VERTEX_OUTPUTS if not outputs.get(k)]
    if missing:
        raise RunError(f"--stack-outputs lacks {', '.join(missing)}: a vertex or both stack "
                       "exports them")
    return {"project": outputs[exports.PROJECT], "region": outputs[exports.REGION],
            "staging_bucket": outputs[STAGING_BUCKET],
            "pipelines_account": outputs[PIPELINES_ACCOUNT],
            "serving_account": outputs[SERVING_ACCOUNT],
            "endpoint_id": str(outputs[exports.ENDPOINT_ID]),
            "registry": outputs[exports.REGISTRY_URL]}


def run_monitoring_vertex(arguments: dict[str, Any], outputs: dict[str, Any], tag: str | None,
                          schedule: str | None, job_factory: Any = None) -> str:
    """Submit one monitoring PipelineJob, or a schedule of them (five-field cron)."""
    from workloads.pipelines.monitoring import MONITORING_PIPELINE
    from workloads.pipelines.submit import (
        cast_arguments,
        check_vertex_cron,
        schedule_vertex,
        submit_vertex,
        vertex_job,
        vertex_run_config,
    )

    if schedule:
        check_vertex_cron(schedule)
    parameters = vertex_parameters(outputs)
    config = vertex_run_config(outputs)
    pipeline, package = _compile("vertex", config["registry"], tag)
    config = {**config, "parameters": parameters}
    args = cast_arguments(pipeline, arguments)
    if job_factory is None:
        from google.cloud import aiplatform

        job_factory = aiplatform.PipelineJob
    job = vertex_job(package, config, args, job_factory, display_name=MONITORING_PIPELINE)
    if schedule:
        created = schedule_vertex(job, config["service_account"], schedule,
                                  name=f"{MONITORING_PIPELINE}-schedule")
        return f"monitoring schedule {created.resource_name} created ({schedule})"
    submit_vertex(job, config["service_account"])
    return f"monitoring pipeline job submitted: {job.resource_name}"
