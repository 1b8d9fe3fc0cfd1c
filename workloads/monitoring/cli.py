"""`mlp monitor check|run|vertex`: drift checks here, the monitoring pipeline, Vertex AI Model
Monitoring.

- `check` compares a folder of logged serving features with a training reference and writes the
  HTML and Markdown reports (exit 0: no drift or too little data; 1: drift; 2: bad input).
- `run` runs the monitoring pipeline with `kfp.local`, or submits or schedules it on Kubeflow
  Pipelines or Vertex AI Pipelines.
- `vertex` builds the Vertex AI Model Monitoring (v2) monitor and its schedule; `--dry-run`
  prints both requests and sends nothing.

Settings default to `workloads/monitoring/defaults.yaml`. kfp, scipy and google-cloud-aiplatform
are imported inside the commands.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from facts.monitoring import FEATURE_LOG_FOLDER
from workloads.pipelines.settings import SubmitTarget

app = typer.Typer(no_args_is_help=True, help="Model monitoring: drift of the served features "
                  "against the training reference, reports, schedules, Vertex AI Model "
                  "Monitoring.")

ThresholdOpt = Annotated[list[str] | None, typer.Option(
    "--threshold", help="per-feature distance threshold NAME=VALUE (repeatable), e.g. "
                        "--threshold contrast=0.2")]
WindowOpt = Annotated[float | None, typer.Option(
    "--window-hours", help="hours of logged features to compare (default: defaults.yaml)")]
OutputsOpt = Annotated[Path | None, typer.Option(
    "--stack-outputs", help="`pulumi stack output --json -s <stack>` saved to a file")]
DRIFT_EXIT = 1
"""`mlp monitor check`'s exit code when the window drifted (as `mlp policy check` for a
violation)."""


def _fail(message: str) -> typer.Exit:
    from facts.cli import fail

    return fail(message)


def parse_thresholds(pairs: list[str]) -> dict[str, float]:
    """`NAME=VALUE` threshold options as a dict; names and values are checked by the settings."""
    from workloads.cifar10.features import FEATURE_NAMES

    out = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or name not in FEATURE_NAMES:
            raise _fail(f"--threshold {pair!r} is not NAME=VALUE with NAME one of "
                        f"{', '.join(FEATURE_NAMES)}")
        try:
            out[name] = float(text)
        except ValueError:
            raise _fail(f"--threshold {pair!r}: {text!r} is not a number; use a distance in "
                        "(0, 1]") from None
    return out


def _settings(window_hours: float | None = None, thresholds: list[str] | None = None,
              **overrides: Any) -> Any:
    from workloads.monitoring.settings import SettingsError, load_settings

    try:
        base = load_settings()
        merged = {**base.thresholds, **parse_thresholds(thresholds or [])}
        return base.with_overrides(window_hours=window_hours, thresholds=merged, **overrides)
    except SettingsError as err:
        raise _fail(str(err)) from None


def parse_end(text: str | None) -> datetime | None:
    """`--end` as an aware UTC datetime (RFC 3339; a time without zone is refused)."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"--end {text!r} is not an RFC 3339 time such as 2026-12-01T10:00:00Z"
                    ) from None
    if when.tzinfo is None:
        raise _fail(f"--end {text!r} has no time zone; add Z (UTC) or an offset")
    return when.astimezone(UTC)


@app.command("check")
def check_cmd(
    reference: Annotated[str, typer.Option(
        "--reference", help="reference_features.jsonl, or the export folder holding it "
                            "(local or gs://)")],
    features: Annotated[str, typer.Option(
        "--features", help="the folder the predictor's --feature-log writes (local or gs://)")],
    out: Annotated[Path, typer.Option(
        "--out", help="folder for drift-report.html, .md and drift-result.json")
    ] = Path("build/monitoring"),
    window_hours: WindowOpt = None,
    end: Annotated[str | None, typer.Option(
        "--end", help="end of the window, RFC 3339 (default: now)")] = None,
    min_samples: Annotated[int | None, typer.Option(
        "--min-samples", help="fewest images for a verdict (default: defaults.yaml)")] = None,
    threshold: ThresholdOpt = None,
) -> None:
    """Compare the logged features of a window with the training reference; report."""
    from workloads.monitoring.check import run_check, write_outcome
    from workloads.monitoring.records import RecordError

    settings = _settings(window_hours, threshold, min_samples=min_samples)
    try:
        outcome = run_check(reference, features, settings, parse_end(end))
    except RecordError as err:
        raise _fail(str(err)) from None
    paths = write_outcome(outcome, out)
    result = outcome.result
    drifted = ", ".join(result.drifted_features) or "none"
    typer.echo(f"{result.verdict}: {result.window_count} images in the window, "
               f"{result.reference_count} in the reference; drifted features: {drifted}; "
               f"score {result.score:.3f}")
    typer.echo(f"report: {paths['html']} (also {paths['markdown'].name}, {paths['json'].name})")
    if result.drifted:
        raise typer.Exit(DRIFT_EXIT)


def _locations(outputs: dict[str, Any], reference: str | None, features: str | None,
               model_version: int) -> tuple[str, str]:
    from facts import exports

    models = outputs.get(exports.bucket("models"))
    reference = reference or (f"gs://{models}/cifar10/{model_version}" if models else None)
    features = features or (f"gs://{models}/{FEATURE_LOG_FOLDER}" if models else None)
    if not reference or not features:
        raise _fail("give --reference and --features, or --stack-outputs FILE with the stack's "
                    "modelsBucket")
    return reference, features


def _outputs(path: Path | None, required: tuple[str, ...] = ()) -> dict[str, Any]:
    if path is None:
        return {}
    from workloads.pipelines.submit import SubmitError, read_stack_outputs

    try:
        return read_stack_outputs(path, required=required)
    except SubmitError as err:
        raise _fail(str(err)) from None


@app.command("run")
def run_cmd(
    local: Annotated[bool, typer.Option(
        "--local", help="run the monitoring pipeline here with kfp.local")] = False,
    target: Annotated[SubmitTarget | None, typer.Option(
        "--target", help="submit there instead of --local")] = None,
    reference: Annotated[str | None, typer.Option(
        "--reference", help="reference features (default: gs://<models>/cifar10/<version>)")
    ] = None,
    features: Annotated[str | None, typer.Option(
        "--features", help=f"logged features (default: gs://<models>/{FEATURE_LOG_FOLDER})")
    ] = None,
    model_version: Annotated[int, typer.Option(
        "--model-version", help="served version whose reference is used", min=1)] = 1,
    stack_outputs: OutputsOpt = None,
    window_hours: WindowOpt = None,
    end: Annotated[str | None, typer.Option(
        "--end", help="end of the window, RFC 3339 (default: when the check runs)")] = None,
    retrain: Annotated[bool | None, typer.Option(
        "--retrain/--no-retrain", help="launch the training pipeline on drift (default: the "
                                       "stack's retrainOnDrift output, else defaults.yaml)")
    ] = None,
    schedule: Annotated[str | None, typer.Option(
        "--schedule", help="create a recurring run (cron; kubeflow 6 fields, vertex 5; "
                           "'default' takes defaults.yaml's)")] = None,
    host: Annotated[str | None, typer.Option(
        "--host", help="kubeflow: the Pipelines API (after a port-forward)")] = None,
    registry: Annotated[str | None, typer.Option("--registry", help="image registry")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="trainer image tag")] = None,
    out: Annotated[Path, typer.Option(
        "--out", help="--local: folder for run artifacts")] = Path("artifacts/monitoring"),
) -> None:
    """Run the monitoring pipeline: --local here, or --target kubeflow|vertex (or schedule it)."""
    from workloads.monitoring.pipeline_runs import (
        RunError,
        run_monitoring_kubeflow,
        run_monitoring_local,
        run_monitoring_vertex,
    )
    from workloads.pipelines.settings import SettingsError
    from workloads.pipelines.submit import SubmitError

    if local == (target is not None):
        raise _fail("give exactly one of --local or --target kubeflow|vertex")
    settings = _settings(window_hours)
    outputs = _outputs(stack_outputs)
    where = _locations(outputs, reference, features, model_version)
    arguments: dict[str, Any] = {"reference_uri": where[0], "features_uri": where[1],
                                 "window_hours": settings.window_hours}
    if end is not None:
        parse_end(end)
        arguments["end_time"] = end
    from facts import exports

    if retrain is None and exports.RETRAIN_ON_DRIFT in outputs:
        retrain = outputs[exports.RETRAIN_ON_DRIFT] is True  # the stack allows it, or not
    if retrain is not None:
        arguments["retrain"] = retrain
    try:
        if local:
            if schedule:
                raise RunError("--schedule needs --target kubeflow|vertex, not --local")
            result = run_monitoring_local(out, arguments)
            typer.echo(f"{result.verdict}: report in {result.report}")
        elif target == "kubeflow":
            cron = settings.schedule.kubeflow if schedule == "default" else schedule
            typer.echo(run_monitoring_kubeflow(arguments, host, registry, tag, cron))
        else:
            cron = settings.schedule.vertex if schedule == "default" else schedule
            typer.echo(run_monitoring_vertex(arguments, outputs, tag, cron))
    except (SubmitError, SettingsError) as err:
        raise _fail(str(err)) from None


@app.command("vertex")
def vertex_cmd(
    stack_outputs: Annotated[Path, typer.Option(
        "--stack-outputs", help="`pulumi stack output --json -s vertex` saved to a file")],
    model: Annotated[str, typer.Option(
        "--model", help="the monitored model: a Model Registry resource name or numeric id")],
    model_version: Annotated[str, typer.Option(
        "--model-version-id", help="version of that model in the registry")] = "1",
    reference: Annotated[str | None, typer.Option(
        "--reference", help="reference features JSONL (default: gs://<models>/cifar10/1/"
                            "reference_features.jsonl)")] = None,
    features: Annotated[str | None, typer.Option(
        "--features", help=f"logged features (default: gs://<models>/{FEATURE_LOG_FOLDER})")
    ] = None,
    window_hours: WindowOpt = None,
    threshold: ThresholdOpt = None,
    email: Annotated[list[str] | None, typer.Option(
        "--email", help="address to alert (repeatable; default: the stack's alertEmails)")
    ] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="print the two requests as JSON and send nothing")] = False,
) -> None:
    """Vertex AI Model Monitoring (v2) for the endpoint's model: a ModelMonitor and its
    schedule, on the features the predictor logs."""
    from facts import exports
    from workloads.monitoring.vertex_monitor import (
        MonitorError,
        create_monitor,
        monitor_requests,
    )

    settings = _settings(window_hours, threshold)
    outputs = _outputs(stack_outputs, required=(exports.PROJECT, exports.REGION,
                                                exports.bucket("models")))
    ref, feats = _locations(outputs, reference, features, 1)
    if not ref.endswith(".jsonl"):
        from workloads.cifar10.features import REFERENCE_FILE

        ref = f"{ref}/{REFERENCE_FILE}"
    emails = list(email or outputs.get(exports.ALERT_EMAILS) or [])
    try:
        requests = monitor_requests(
            project=outputs[exports.PROJECT], region=outputs[exports.REGION], model=model,
            model_version_id=model_version, reference_uri=ref, features_uri=feats,
            settings=settings, emails=emails,
            channels=list(outputs.get(exports.NOTIFICATION_CHANNELS) or []))
    except MonitorError as err:
        raise _fail(str(err)) from None
    if dry_run:
        typer.echo(json.dumps(requests, indent=2, sort_keys=True))
        return
    typer.echo(create_monitor(requests, outputs[exports.REGION]))
