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

from facts.cli import completion
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
    missing = [k for k in ("project", "location", "staging_bucket", "image") if not where[k]]
    if missing:
        raise fail(f"missing {', '.join(missing)}: pass --stack-outputs FILE or the options "
                   "--project, --region, --staging-bucket, --image")
    return where


def _finish(job: Any, dry_run: bool, service_account: str | None) -> None:
    from workloads.vertex.jobs import request

    if dry_run:
        body = request(job)
        # The SDK adds the account at submit time; show the request as it will be sent.
        spec = body.get("trial_job_spec") or body.get("job_spec")
        if service_account and spec is not None:
            spec["service_account"] = service_account
        typer.echo(json.dumps(body, indent=2))
        return
    job.submit(service_account=service_account)
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
    arg: ArgOpt = None, dry_run: DryRunOpt = False,
) -> None:
    """A CustomJob running the trainer on one or several machines."""
    from facts.cli import fail
    from workloads.vertex.jobs import JobError, Machine, custom_job

    where = _where(stack_outputs, project, region, staging_bucket, image, tag,
                   gpu=accelerator is not None)
    try:
        job = custom_job("cifar10-train", where["image"],
                         Machine(machine_type, accelerator, accelerator_count),
                         project=where["project"], location=where["location"],
                         staging_bucket=where["staging_bucket"], args=arg or [],
                         replicas=replicas, credentials=_credentials(dry_run),
                         base_output_dir=(f"{where['staging_bucket'].rstrip('/')}/cifar10-train/"
                                          f"{time.strftime('%Y%m%d-%H%M%S')}"))
    except JobError as err:
        raise fail(str(err)) from None
    _finish(job, dry_run, where["service_account"])


@app.command("tune")
def tune_cmd(
    space: Annotated[str, typer.Option(
        "--space", help=f"a search space of workloads/tuning/spaces ({', '.join(space_names())}) "
                        "or a YAML path", metavar="NAME|PATH",
        autocompletion=completion(space_names))] = "vertex-study",
    stack_outputs: OutputsOpt = None, project: ProjectOpt = None, region: RegionOpt = None,
    staging_bucket: BucketOpt = None, image: ImageOpt = None, tag: TagOpt = None,
    arg: ArgOpt = None, dry_run: DryRunOpt = False,
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
    try:
        job = tuning_job(search, where["image"], project=where["project"],
                         location=where["location"], staging_bucket=where["staging_bucket"],
                         fixed_args=arg or [], credentials=_credentials(dry_run))
    except (JobError, NotExpressible) as err:
        raise fail(str(err)) from None
    _finish(job, dry_run, where["service_account"])
