"""Run the pipeline: locally with `kfp.local`, or on Kubeflow Pipelines or Vertex AI Pipelines.

Submission and schedules take their client (`kfp.Client`, `aiplatform.PipelineJob`) through a
factory argument, so the code that builds each request is the code tests inspect, with the
network boundary replaced by a fake.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facts import exports
from facts.monitoring import FEATURE_LOG_FOLDER
from workloads.pipelines.settings import PIPELINE_NAME, PipelineSettings, load_settings

STAGING_BUCKET = exports.bucket("vertex-staging")
PIPELINES_ACCOUNT = exports.workload_service_account("pipelines")
SERVING_ACCOUNT = exports.workload_service_account("serving")
VERTEX_OUTPUTS = (exports.PROJECT, exports.REGION, STAGING_BUCKET, PIPELINES_ACCOUNT,
                  SERVING_ACCOUNT, exports.REGISTRY_URL, exports.ENDPOINT_ID)
"""Outputs of a `vertex` (or `both`) stack a Vertex AI run needs (`pulumi stack output --json`)."""
DEFAULT_KFP_HOST = "http://localhost:8080"
"""Kubeflow Pipelines after `kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80`."""
DEFAULT_EXPERIMENT = "cifar10"


class SubmitError(ValueError):
    """Arguments that cannot make a run; the message names the field, value and what is allowed."""


@contextmanager
def kfp_refusals(url: str) -> Iterator[None]:
    """Within the block, what kfp.Client raises when the API at `url` is unreachable or answers
    with an error becomes one `SubmitError` line naming the host (API errors carry headers and
    bodies after their first line)."""
    from kfp_server_api.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        yield
    except (ApiException, HTTPError, ConnectionError) as err:
        first = (str(err).strip() or type(err).__name__).splitlines()[0]
        raise SubmitError(f"Kubeflow Pipelines at {url} refused the run: {first}") from err


@dataclass(frozen=True)
class LocalRun:
    """What a local run produced: accuracy, whether the gate passed, and where the files are."""

    run_dir: Path
    accuracy: float
    threshold: float
    deployed: bool
    smoke_check: str | None
    seconds: float
    tasks: tuple[str, ...] = ()
    """The tasks that ran, in name order."""
    log: Path | None = None
    """With `quiet`, the file holding kfp.local's log and every task's output."""


def cast_arguments(pipeline: Any, arguments: Mapping[str, str]) -> dict[str, Any]:
    """Pipeline arguments given as text, checked against the pipeline's typed parameters."""
    types = {name: spec.type for name, spec in pipeline.component_spec.inputs.items()}
    casts: dict[str, Callable[[str], Any]] = {"String": str, "Integer": int, "Float": float,
                                              "Boolean": lambda v: v.lower() in ("1", "true")}
    out: dict[str, Any] = {}
    for name, text in arguments.items():
        if name not in types:
            raise SubmitError(f"pipeline parameter {name!r} does not exist; allowed: "
                              f"{', '.join(sorted(types))}")
        try:
            out[name] = casts[types[name]](text) if isinstance(text, str) else text
        except ValueError:
            raise SubmitError(f"pipeline parameter {name}={text!r} is not a valid "
                              f"{types[name].lower()}") from None
    return out


def parse_arguments(pairs: list[str]) -> dict[str, str]:
    """`NAME=VALUE` strings from the command line as a dict."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SubmitError(f"--param {pair!r} is not NAME=VALUE")
        out[name.strip()] = value
    return out


def run_local(out_dir: Path, arguments: Mapping[str, str] | None = None,
              settings: PipelineSettings | None = None, quiet: bool = False) -> LocalRun:
    """Run the `local` build with `kfp.local` in this Python environment; artifacts in `out_dir`.

    Every task runs as a subprocess of this interpreter (`SubprocessRunner(use_venv=False)`);
    a failing task raises with its logs shown.
    """
    from kfp import local

    from workloads.pipelines.pipeline import build_pipeline

    settings = settings or load_settings()
    pipeline = build_pipeline("local", settings=settings)
    args = cast_arguments(pipeline, arguments or {})
    root = Path(out_dir).resolve() / time.strftime("run-%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=False)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root),
               raise_on_error=True)
    log = root / "run.log" if quiet else None
    started = time.perf_counter()
    with _output_to(log):
        try:
            task = pipeline(**args)
        except RuntimeError as err:
            if log is None:
                raise
            raise SubmitError(f"the local run failed: {str(err).splitlines()[0]}; every "
                              f"task's output is in {log}") from err
    seconds = time.perf_counter() - started
    (run_dir,) = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PIPELINE_NAME)]
    tasks = {}
    for output in sorted(run_dir.glob("*/executor_output.json")):
        tasks[output.parent.name] = json.loads(output.read_text()).get("parameterValues", {})
    threshold = float(args.get("accuracy_threshold", settings.local.accuracy_threshold))
    smoke = tasks.get("smoke-check", {}).get("Output")
    return LocalRun(run_dir=run_dir, accuracy=float(task.output), threshold=threshold,
                    deployed=smoke is not None, smoke_check=smoke, seconds=seconds,
                    tasks=tuple(sorted(tasks, key=lambda name: (run_dir / name).stat().st_mtime)),
                    log=log)


@contextmanager
def _output_to(log: Path | None) -> Iterator[None]:
    """Send what kfp.local prints (its INFO log, every task's streamed output) to `log`.

    kfp.local logs through the root logger to the stdout of the moment and prints each task's
    output line by line: hundreds of lines per run. With a file, both go there instead."""
    if log is None:
        yield
        return
    with log.open("w") as out, redirect_stdout(out):
        yield


def read_stack_outputs(path: Path, required: tuple[str, ...] = VERTEX_OUTPUTS) -> dict[str, Any]:
    """Stack outputs saved with `pulumi stack output --json -s <stack> > FILE`."""
    try:
        outputs = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SubmitError(f"--stack-outputs {path}: cannot read JSON: {err}") from None
    if not isinstance(outputs, dict):
        raise SubmitError(f"--stack-outputs {path}: expected a JSON object of outputs")
    missing = [key for key in required if not outputs.get(key)]
    if missing:
        raise SubmitError(f"--stack-outputs {path}: missing {', '.join(missing)}; a vertex or "
                          f"both stack exports {', '.join(required)}")
    return outputs


def vertex_run_config(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Project, region, pipeline root, service account, image registry and the pipeline's
    Vertex parameters, from the stack outputs.

    The run executes as the pipelines account; the model it deploys serves as the serving
    account (the stack lets the pipelines account act as it).
    """
    project, region = outputs[exports.PROJECT], outputs[exports.REGION]
    models = outputs.get(exports.bucket("models"))
    feature_log = f"gs://{models}/{FEATURE_LOG_FOLDER}" if models else ""
    return {
        "project": project,
        "location": region,
        "pipeline_root": f"gs://{outputs[STAGING_BUCKET]}/pipeline-root",
        "service_account": outputs[PIPELINES_ACCOUNT],
        "registry": outputs[exports.REGISTRY_URL],
        "parameters": {"project": project, "region": region,
                       "endpoint_id": str(outputs[exports.ENDPOINT_ID]),
                       "serving_service_account": outputs[SERVING_ACCOUNT],
                       "feature_log": feature_log},
    }


PORT_FORWARD = "kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80"
"""The command that makes the Pipelines API answer on DEFAULT_KFP_HOST."""


def check_kfp_host(host: str, timeout: float | None = None) -> None:
    """SubmitError naming the port-forward to run when nothing answers at `host`.

    kfp.Client retries a refused connection for about a minute and ends in urllib3's
    MaxRetryError; one short TCP connect says the same in a second."""
    from workloads.netcheck import PROBE_TIMEOUT_S, unreachable, url_endpoint

    name, port = url_endpoint(host)
    reason = unreachable(name, port, PROBE_TIMEOUT_S if timeout is None else timeout)
    if reason is not None:
        raise SubmitError(f"no Kubeflow Pipelines API at {host} ({reason}); run `{PORT_FORWARD}` "
                          "in another terminal (after gcloud container clusters get-credentials), "
                          "or point --host at the API")


def submit_kubeflow(package: Path, arguments: Mapping[str, Any], client: Any,
                    experiment: str = DEFAULT_EXPERIMENT, run_name: str | None = None,
                    service_account: str | None = None) -> Any:
    """Start one run of a compiled package on Kubeflow Pipelines with `client` (`kfp.Client`)."""
    return client.create_run_from_pipeline_package(
        str(package), arguments=dict(arguments), experiment_name=experiment,
        run_name=run_name or f"{PIPELINE_NAME}-{time.strftime('%Y%m%d-%H%M%S')}",
        service_account=service_account, enable_caching=False)


def schedule_kubeflow(package: Path, arguments: Mapping[str, Any], client: Any, cron: str,
                      experiment: str = DEFAULT_EXPERIMENT, name: str | None = None,
                      max_concurrency: int = 1) -> Any:
    """Create a recurring run (kfp cron: six fields, seconds first) on Kubeflow Pipelines."""
    check_cron(cron, fields=6)
    found = client.create_experiment(name=experiment)
    return client.create_recurring_run(
        experiment_id=found.experiment_id, job_name=name or f"{PIPELINE_NAME}-recurring",
        cron_expression=cron, max_concurrency=max_concurrency, no_catchup=True,
        params=dict(arguments), pipeline_package_path=str(package), enabled=True)


def vertex_job(package: Path, config: Mapping[str, Any], arguments: Mapping[str, Any],
               job_factory: Callable[..., Any], labels: Mapping[str, str] | None = None,
               display_name: str = PIPELINE_NAME) -> Any:
    """An `aiplatform.PipelineJob` for the compiled Vertex package (not yet submitted)."""
    return job_factory(
        display_name=display_name, template_path=str(package),
        pipeline_root=config["pipeline_root"],
        parameter_values={**config["parameters"], **arguments},
        project=config["project"], location=config["location"], enable_caching=False,
        labels=dict(labels or {"app": "cifar10", "managed-by": "ml-platform"}))


def submit_vertex(job: Any, service_account: str) -> Any:
    """Submit a built PipelineJob as the pipelines service account; returns the job."""
    job.submit(service_account=service_account)
    return job


def schedule_vertex(job: Any, service_account: str, cron: str,
                    name: str | None = None, max_concurrent: int = 1) -> Any:
    """Create a Vertex AI pipeline schedule (standard five-field cron, optional `TZ=` prefix)."""
    check_vertex_cron(cron)
    return job.create_schedule(cron=cron, display_name=name or f"{PIPELINE_NAME}-schedule",
                               max_concurrent_run_count=max_concurrent,
                               service_account=service_account)


def check_vertex_cron(cron: str) -> None:
    """Vertex AI cron: five fields, optionally after a `TZ=<zone>` or `CRON_TZ=<zone>` prefix."""
    check_cron(cron.split(" ", 1)[1] if cron.startswith(("TZ=", "CRON_TZ=")) and " " in cron
               else cron, fields=5)


def check_cron(cron: str, fields: int) -> None:
    """Refuse a cron expression with the wrong number of fields for the target."""
    count = len(cron.split())
    if count != fields:
        example = "0 0 3 * * *" if fields == 6 else "0 3 * * *"
        where = "Kubeflow Pipelines (seconds first)" if fields == 6 else "Vertex AI"
        raise SubmitError(f"--schedule {cron!r} has {count} fields; {where} expects {fields}, "
                          f"e.g. {example!r} for 03:00 daily")
