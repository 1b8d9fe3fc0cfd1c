"""`mlp vertex custom-job|tune`: build a Vertex AI job, print its request or submit it.

Project, region, staging bucket and image registry come from the stack's outputs
(`pulumi stack output --json -s vertex > outputs.json`) or from options.
google-cloud-aiplatform is imported inside the commands.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from facts.capacity import capacity
from facts.cli import choice, completion
from workloads.tuning.space import space_names

app = typer.Typer(no_args_is_help=True, help="Vertex AI jobs for the CIFAR-10 trainer: custom "
                  "training (one or many workers) and hyperparameter tuning.")

OutputsOpt = Annotated[Path | None, typer.Option(
    "--stack-outputs", help="`pulumi stack output --json -s vertex` saved to a file")]
ProjectOpt = Annotated[str | None, typer.Option("--project", help="default: stack output")]
RegionOpt = Annotated[str | None, typer.Option("--region", help="default: stack output")]
BucketOpt = Annotated[str | None, typer.Option(
    "--staging-bucket", help="gs://… (default: the stack's vertexStagingBucket)")]
ImageOpt = Annotated[str | None, typer.Option(
    "--image", help="trainer image (default: <registryUrl>/cifar10-trainer:<tag>, with the "
                    "-gpu suffix when the job has GPUs)")]
TagOpt = Annotated[str | None, typer.Option(
    "--tag", help="trainer image tag when --image is not given (default: defaults.yaml)")]
DryRunOpt = Annotated[bool, typer.Option(
    "--dry-run", help="print the request as JSON and send nothing")]
ArgOpt = Annotated[list[str] | None, typer.Option(
    "--arg", help="trainer flag passed through, e.g. --arg=--epochs=20 (repeatable)")]
SchedulingOpt = Annotated[choice(capacity().vertex.strategies), typer.Option(  # type: ignore[valid-type]
    "--scheduling", help="standard (on demand), spot (Spot VMs: cheaper, preemptible; the "
                         "trainer resumes from its checkpoint) or flex-start (Dynamic Workload "
                         "Scheduler: starts when all GPUs are free; L4)")]
MaxWaitOpt = Annotated[str | None, typer.Option(
    "--max-wait-hours", help="flex-start only: give up after waiting this long for the GPUs "
                             "(0: wait as long as it takes)")]
PersistentOpt = Annotated[str | None, typer.Option(
    "--persistent-resource", help="run on this persistent resource (reserved capacity), e.g. "
                                  "the stack's vertexPersistentResource output; 'stack' reads "
                                  "it from --stack-outputs")]


def _scheduling(strategy: str, max_wait: str | None, persistent: str | None,
                outputs: dict[str, Any]) -> Any:
    """The job's `Scheduling` from the options; exit 2 naming the option on bad input."""
    from facts import exports
    from facts.cli import fail
    from workloads.vertex.jobs import Scheduling

    hours = None
    if max_wait is not None:
        try:
            hours = float(max_wait)
        except ValueError:
            raise fail(f"--max-wait-hours: {max_wait!r} is not a number of hours") from None
    if persistent == "stack":
        persistent = outputs.get(exports.PERSISTENT_RESOURCE)
        if not persistent:
            raise fail(f"--persistent-resource stack: the stack outputs have no "
                       f"{exports.PERSISTENT_RESOURCE} (declare vertex.persistent_resource)")
    return Scheduling(strategy, hours, persistent)


def _where(stack_outputs: Path | None, project: str | None, region: str | None,
           bucket: str | None, image: str | None, tag: str | None, gpu: bool) -> dict[str, Any]:
    from facts import exports
    from facts.cli import fail
    from workloads.pipelines.settings import SettingsError, load_settings
    from workloads.pipelines.submit import SubmitError, read_stack_outputs

    outputs: dict[str, Any] = {}
    if stack_outputs is not None:
        try:
            outputs = read_stack_outputs(stack_outputs, required=())
        except SubmitError as err:
            raise fail(str(err)) from None
    staging_output = outputs.get(exports.bucket("vertex-staging"))
    staging = bucket or (f"gs://{staging_output}" if staging_output else None)
    registry = outputs.get(exports.REGISTRY_URL)
    if image is None and registry:
        try:
            images = load_settings().images(registry, tag)
        except SettingsError as err:
            raise fail(str(err)) from None
        image = images.trainer_gpu if gpu else images.trainer
    where = {"project": project or outputs.get(exports.PROJECT),
             "location": region or outputs.get(exports.REGION),
             "staging_bucket": staging,
             "image": image,
             "service_account": outputs.get(exports.workload_service_account("training"))}
    where["outputs"] = outputs
    missing = [k for k in ("project", "location", "staging_bucket", "image") if not where[k]]
    if missing:
        raise fail(f"missing {', '.join(missing)}: pass --stack-outputs FILE or the options "
                   "--project, --region, --staging-bucket, --image")
    return where


def _finish(job: Any, dry_run: bool, service_account: str | None,
            scheduling: Any = None) -> None:
    from workloads.vertex.jobs import request

    if dry_run:
        body = request(job)
        # The SDK adds the account at submit time; show the request as it will be sent.
        spec = body.get("trial_job_spec") or body.get("job_spec")
        if service_account and spec is not None:
            spec["service_account"] = service_account
        typer.echo(json.dumps(body, indent=2))
        return
    run_kwargs = scheduling.run_kwargs() if scheduling is not None else {}
    if hasattr(job, "submit"):
        job.submit(service_account=service_account, **run_kwargs)
    else:  # a HyperparameterTuningJob submits through run(); sync=False returns at once
        job.run(service_account=service_account, sync=False, **run_kwargs)
        job.wait_for_resource_creation()
    typer.echo(f"submitted {job.resource_name}")


def _credentials(dry_run: bool) -> Any:
    if dry_run:
        return None
    import google.auth

    return google.auth.default()[0]


@app.command("custom-job")
def custom_job_cmd(
    stack_outputs: OutputsOpt = None, project: ProjectOpt = None, region: RegionOpt = None,
    staging_bucket: BucketOpt = None, image: ImageOpt = None, tag: TagOpt = None,
    machine_type: Annotated[str, typer.Option("--machine-type")] = "n1-standard-8",
    accelerator: Annotated[str | None, typer.Option(
        "--accelerator", help="GKE name from the hardware catalog, e.g. nvidia-tesla-t4")] = None,
    accelerator_count: Annotated[int, typer.Option("--accelerator-count")] = 0,
    replicas: Annotated[int, typer.Option(
        "--replicas", help="1: single worker; N > 1: a chief and N-1 workers")] = 1,
    arg: ArgOpt = None, scheduling: SchedulingOpt = "standard",
    max_wait_hours: MaxWaitOpt = None, persistent_resource: PersistentOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """A CustomJob running the trainer on one or several machines."""
    from facts.cli import fail
    from workloads.vertex.jobs import JobError, Machine, custom_job

    where = _where(stack_outputs, project, region, staging_bucket, image, tag,
                   gpu=accelerator is not None)
    plan = _scheduling(scheduling, max_wait_hours, persistent_resource, where["outputs"])
    try:
        job = custom_job("cifar10-train", where["image"],
                         Machine(machine_type, accelerator, accelerator_count),
                         project=where["project"], location=where["location"],
                         staging_bucket=where["staging_bucket"], args=arg or [],
                         replicas=replicas, credentials=_credentials(dry_run),
                         base_output_dir=(f"{where['staging_bucket'].rstrip('/')}/cifar10-train/"
                                          f"{time.strftime('%Y%m%d-%H%M%S')}"),
                         scheduling=plan)
    except JobError as err:
        raise fail(str(err)) from None
    _finish(job, dry_run, where["service_account"], plan)


@app.command("tune")
def tune_cmd(
    space: Annotated[str, typer.Option(
        "--space", help=f"a search space of workloads/tuning/spaces ({', '.join(space_names())}) "
                        "or a YAML path", metavar="NAME|PATH",
        autocompletion=completion(space_names))] = "vertex-study",
    stack_outputs: OutputsOpt = None, project: ProjectOpt = None, region: RegionOpt = None,
    staging_bucket: BucketOpt = None, image: ImageOpt = None, tag: TagOpt = None,
    arg: ArgOpt = None, scheduling: SchedulingOpt = "standard",
    max_wait_hours: MaxWaitOpt = None, persistent_resource: PersistentOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """A HyperparameterTuningJob from a search-space file (default: the study's Vertex search)."""
    from facts.cli import fail
    from workloads.tuning.space import NotExpressible, SearchSpaceError, load_space
    from workloads.vertex.jobs import JobError, tuning_job

    try:
        search = load_space(space)
    except SearchSpaceError as err:
        raise fail(str(err)) from None
    gpu = search.machine is not None and search.machine.accelerator_type is not None
    where = _where(stack_outputs, project, region, staging_bucket, image, tag, gpu)
    plan = _scheduling(scheduling, max_wait_hours, persistent_resource, where["outputs"])
    try:
        job = tuning_job(search, where["image"], project=where["project"],
                         location=where["location"], staging_bucket=where["staging_bucket"],
                         fixed_args=arg or [], credentials=_credentials(dry_run),
                         scheduling=plan)
    except (JobError, NotExpressible) as err:
        raise fail(str(err)) from None
    _finish(job, dry_run, where["service_account"], plan)
