"""`mlp pipeline compile|run`: compile the CIFAR-10 pipeline, run it locally or submit it.

kfp, TensorFlow and google-cloud-aiplatform are imported inside the commands.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from facts.cli import OneLineGroup
from workloads.pipelines.settings import SubmitTarget, Target

app = typer.Typer(cls=OneLineGroup, no_args_is_help=True,
                  help="The CIFAR-10 kfp v2 pipeline: compile it, run it offline with "
                       "kfp.local, or submit it to Kubeflow Pipelines or Vertex AI.")

RegistryOpt = Annotated[str | None, typer.Option(
    "--registry", help="image registry, the stack's registryUrl (default: defaults.yaml)")]
TagOpt = Annotated[str | None, typer.Option(
    "--tag", help="tag of the pushed trainer/predictor images (default: defaults.yaml)")]
ParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="pipeline parameter NAME=VALUE (repeatable), e.g. -p epochs=50")]
TrainingValuesOpt = Annotated[Path | None, typer.Option(
    "--training-values", help="kubeflow: train on the pool a stack's training profile names: "
    "the file `mlp chart values cifar10-training STACK --out FILE` writes (a shared pool: one "
    "shared GPU; a queued pool: admitted by Kueue)", dir_okay=False)]


def _pool(training_values: Path | None):
    """The training step's `PoolTarget` from `--training-values`, or None without it."""
    if training_values is None:
        return None
    from workloads.pipelines.settings import SettingsError
    from workloads.pipelines.targets import load_pool_target

    try:
        return load_pool_target(training_values)
    except SettingsError as err:
        raise _fail(str(err)) from None


def _fail(message: str) -> typer.Exit:
    from facts.cli import fail

    return fail(message)


@app.command("compile")
def compile_cmd(
    target: Annotated[Target, typer.Option(
        "--target", help="where the compiled pipeline runs")] = "kubeflow",
    out: Annotated[Path | None, typer.Option(
        "--out", help="IR YAML to write (default: build/cifar10-pipeline-<target>.yaml)")] = None,
    registry: RegistryOpt = None,
    tag: TagOpt = None,
    training_values: TrainingValuesOpt = None,
) -> None:
    """Compile the pipeline for one target to kfp IR YAML."""
    from workloads.pipelines.pipeline import compile_pipeline
    from workloads.pipelines.settings import SettingsError

    pool = _pool(training_values)
    path = out or Path("build") / f"cifar10-pipeline-{target}.yaml"
    try:
        compile_pipeline(target, path, registry, tag, pool=pool)  # type: ignore[arg-type]
    except SettingsError as err:
        raise _fail(str(err)) from None
    typer.echo(f"compiled {target} pipeline to {path}")


@app.command("run")
def run_cmd(
    local: Annotated[bool, typer.Option(
        "--local", help="run every step here with kfp.local on synthetic data")] = False,
    target: Annotated[SubmitTarget | None, typer.Option(
        "--target", help="submit there instead of --local")] = None,
    param: ParamOpt = None,
    out: Annotated[Path, typer.Option(
        "--out", help="--local: folder for run artifacts")] = Path("artifacts/pipeline"),
    host: Annotated[str | None, typer.Option(
        "--host", help="kubeflow: Pipelines API (after kubectl port-forward -n kubeflow "
                       "svc/ml-pipeline-ui 8080:80)")] = None,
    registry: Annotated[str | None, typer.Option(
        "--registry", help="kubeflow: the stack's registryUrl (vertex: read from the stack "
                           "outputs)")] = None,
    tag: TagOpt = None,
    stack_outputs: Annotated[Path | None, typer.Option(
        "--stack-outputs", help="vertex: `pulumi stack output --json -s vertex` saved to a "
                                "file")] = None,
    schedule: Annotated[str | None, typer.Option(
        "--schedule", help="create a recurring run instead (cron; kubeflow: 6 fields with "
                           "seconds, vertex: 5 fields)")] = None,
    training_values: TrainingValuesOpt = None,
) -> None:
    """Run the pipeline: --local here, or --target kubeflow|vertex to submit (or schedule) it."""
    from workloads.pipelines.settings import SettingsError, check_parameters
    from workloads.pipelines.submit import SubmitError, parse_arguments

    if local == (target is not None):
        raise _fail("give exactly one of --local or --target kubeflow|vertex")
    pool = _pool(training_values)
    if pool is not None and target != "kubeflow":
        raise _fail("--training-values place the training step on a node pool of a cluster: "
                    "use --target kubeflow")
    try:
        arguments = parse_arguments(param or [])
        # Before anything is built, submitted or trained: a bad value costs nothing.
        check_parameters(arguments, "local" if local else target)  # type: ignore[arg-type]
        if local:
            if schedule:
                raise SubmitError("--schedule needs --target kubeflow|vertex, not --local")
            _run_local(out, arguments)
        elif target == "kubeflow":
            _run_kubeflow(arguments, host, registry, tag, schedule, pool)
        else:
            if stack_outputs is None:
                raise SubmitError("--target vertex needs --stack-outputs FILE (pulumi stack "
                                  "output --json -s vertex > FILE)")
            _run_vertex(arguments, stack_outputs, tag, schedule)
    except (SubmitError, SettingsError) as err:
        raise _fail(str(err)) from None


def _run_local(out: Path, arguments: dict[str, str]) -> None:
    from facts.verbosity import verbose_enabled
    from workloads.pipelines.submit import run_local

    with _watch_tasks(out):
        result = run_local(out, arguments, quiet=not verbose_enabled())
    typer.echo(f"local run finished in {result.seconds:.1f} s; artifacts in {result.run_dir}")
    typer.echo(f"tasks: {', '.join(result.tasks)}"
               + (f" (their output: {result.log}; -v shows it here)" if result.log else ""))
    typer.echo(f"test accuracy {result.accuracy:.4f} (threshold {result.threshold:.4f})")
    if result.deployed:
        typer.echo(f"deploy gate passed; smoke check: {result.smoke_check}")
    else:
        typer.echo("deploy gate not passed: accuracy below threshold, nothing deployed")


LOCAL_TASKS = 4
"""prepare-data, train, evaluate and, past the gate, smoke-check."""


@contextmanager
def _watch_tasks(out: Path) -> Iterator[None]:
    """Count the local run's finished tasks on a terminal (each writes executor_output.json)."""
    from facts.progress import StepProgress

    with StepProgress("pipeline tasks", LOCAL_TASKS) as bar:
        if not bar.active:
            yield
            return
        stop = threading.Event()
        pattern = "run-*/*/*/executor_output.json"
        earlier = set(out.glob(pattern))  # runs before this one, in the same folder

        def watch() -> None:
            seen = set(earlier)
            while not stop.wait(0.5):
                for done in out.glob(pattern):
                    if done not in seen:
                        seen.add(done)
                        bar.advance(done.parent.name)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()


def _compiled(target: str, registry: str | None, tag: str | None, pool: Any = None) -> Path:
    from workloads.pipelines.pipeline import compile_pipeline

    out = Path(tempfile.mkdtemp(prefix="cifar10-pipeline-")) / f"cifar10-pipeline-{target}.yaml"
    return compile_pipeline(target, out, registry, tag, pool=pool)  # type: ignore[arg-type]


def _run_kubeflow(arguments: dict[str, str], host: str | None, registry: str | None,
                  tag: str | None, schedule: str | None, pool: Any = None) -> None:
    import kfp

    from workloads.pipelines.pipeline import build_pipeline
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
    url = host or DEFAULT_KFP_HOST
    args = cast_arguments(build_pipeline("kubeflow", registry, tag, pool=pool), arguments)
    check_kfp_host(url)
    package = _compiled("kubeflow", registry, tag, pool)
    with kfp_refusals(url):
        client = kfp.Client(host=url)
        if schedule:
            recurring = schedule_kubeflow(package, args, client, schedule)
            typer.echo(f"recurring run {recurring.recurring_run_id} created ({schedule})")
        else:
            run = submit_kubeflow(package, args, client)
            typer.echo(f"run {run.run_id} submitted to {url}")


def _run_vertex(arguments: dict[str, str], stack_outputs: Path, tag: str | None,
                schedule: str | None) -> None:
    from google.cloud import aiplatform

    from workloads.pipelines.pipeline import build_pipeline
    from workloads.pipelines.submit import (
        cast_arguments,
        check_vertex_cron,
        read_stack_outputs,
        schedule_vertex,
        submit_vertex,
        vertex_job,
        vertex_run_config,
    )

    config = vertex_run_config(read_stack_outputs(stack_outputs))
    if schedule:
        check_vertex_cron(schedule)
    args = cast_arguments(build_pipeline("vertex", config["registry"], tag), arguments)
    package = _compiled("vertex", config["registry"], tag)
    job = vertex_job(package, config, args, aiplatform.PipelineJob)
    if schedule:
        created = schedule_vertex(job, config["service_account"], schedule)
        typer.echo(f"schedule {created.resource_name} created ({schedule})")
    else:
        submit_vertex(job, config["service_account"])
        typer.echo(f"pipeline job submitted: {job.resource_name}")
