"""`mlp predict batch`: batch prediction here, on Kubeflow, or on Vertex AI, from one command.

- `--target local` (default): stream the images through the predictor's code in batches on this
  machine, with a progress bar on a terminal and the throughput at the end.
- `--target kubeflow`: submit the one-step batch pipeline (`workloads.pipelines.batch`) to
  Kubeflow Pipelines; it does the same inside the cluster.
- `--target vertex`: a BatchPredictionJob with the predictor image, then the predictions as
  JSONL and in the stack's BigQuery dataset; `--dry-run` prints the job and load requests.

TensorFlow, kfp and google-cloud-aiplatform are imported inside the command.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from workloads.pipelines.settings import Target

app = typer.Typer(no_args_is_help=True, help="Predictions for many images at once.")


def _fail(message: str) -> typer.Exit:
    from facts.cli import fail

    return fail(message)


@app.command("batch")
def batch_cmd(
    model_dir: Annotated[str, typer.Option(
        "--model-dir", help="SavedModel folder (or its parent with numbered versions); local or "
                            "gs://")],
    input_: Annotated[str, typer.Option(
        "--input", help="folder of TFRecords or image files (local or gs://), or synthetic:N")],
    output: Annotated[str, typer.Option(
        "--output", help="local/kubeflow: the .jsonl to write; vertex: a gs:// folder for "
                         "instances, job output and predictions.jsonl")],
    target: Annotated[Target, typer.Option("--target", help="where the images are scored")
                      ] = "local",
    batch_size: Annotated[int, typer.Option("--batch-size", help="images per batch")] = 128,
    stack_outputs: Annotated[Path | None, typer.Option(
        "--stack-outputs", help="vertex: `pulumi stack output --json -s vertex` in a file")
    ] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="image tag (default: defaults.yaml)")
                   ] = None,
    registry: Annotated[str | None, typer.Option(
        "--registry", help="kubeflow: image registry (the stack's registryUrl)")] = None,
    host: Annotated[str | None, typer.Option(
        "--host", help="kubeflow: the Pipelines API (after a port-forward)")] = None,
    machine_type: Annotated[str, typer.Option(
        "--machine-type", help="vertex: machine of each prediction replica")] = "n1-standard-4",
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="vertex: print the requests and send nothing")] = False,
) -> None:
    """Score every image of --input with the model; predictions as JSONL (and BigQuery on
    Vertex AI)."""
    if dry_run and target != "vertex":
        raise _fail("--dry-run applies to --target vertex")
    if target == "local":
        _local(model_dir, input_, output, batch_size)
    elif target == "kubeflow":
        _kubeflow(model_dir, input_, output, batch_size, registry, tag, host)
    else:
        _vertex(model_dir, input_, output, batch_size, stack_outputs, tag, machine_type,
                dry_run)


def _local(model_dir: str, source: str, output: str, batch_size: int) -> None:
    from facts.verbosity import quiet_libraries, verbose_enabled
    from workloads.cifar10.batch import BatchError, predict_batch
    from workloads.quiet_tf import import_tensorflow_quietly

    if not verbose_enabled():
        quiet_libraries()
        import_tensorflow_quietly()
    try:
        result = predict_batch(model_dir, source, output, batch_size)
    except BatchError as err:
        raise _fail(str(err)) from None
    typer.echo(f"{result.images} images in {result.seconds:.2f} s: "
               f"{result.images_per_second:,.0f} images/s; predictions in {result.output}")


def _kubeflow(model_dir: str, source: str, output: str, batch_size: int,
              registry: str | None, tag: str | None, host: str | None) -> None:
    from kfp import compiler

    from workloads.pipelines.batch import BATCH_PIPELINE, build_batch_pipeline
    from workloads.pipelines.settings import SettingsError
    from workloads.pipelines.submit import (
        DEFAULT_KFP_HOST,
        SubmitError,
        check_kfp_host,
        submit_kubeflow,
    )

    for name, uri in (("--model-dir", model_dir), ("--input", source), ("--output", output)):
        if not uri.startswith("gs://"):
            raise _fail(f"{name} {uri!r}: a cluster run reads and writes gs:// URIs")
    try:
        pipeline = build_batch_pipeline("kubeflow", registry, tag)
        package = Path(f"build/{BATCH_PIPELINE}-kubeflow.yaml")
        package.parent.mkdir(parents=True, exist_ok=True)
        compiler.Compiler().compile(pipeline, str(package))
        url = host or DEFAULT_KFP_HOST
        check_kfp_host(url)
        import kfp

        run = submit_kubeflow(package, {"model_uri": model_dir, "images_uri": source,
                                        "output_uri": output, "batch_size": batch_size},
                              kfp.Client(host=url), experiment="cifar10-batch",
                              run_name=f"{BATCH_PIPELINE}-{time.strftime('%Y%m%d-%H%M%S')}")
    except (SettingsError, SubmitError) as err:
        raise _fail(str(err)) from None
    typer.echo(f"batch prediction run {run.run_id} submitted to {url}")


def vertex_requests(outputs: dict[str, Any], model_dir: str, output: str, batch_size: int,
                    tag: str | None, machine_type: str) -> dict[str, Any]:
    """The batch job and BigQuery load requests a Vertex run sends, from the stack outputs."""
    from facts import exports
    from workloads.pipelines.batch import BATCH_PIPELINE
    from workloads.pipelines.settings import load_settings
    from workloads.vertex.batch import (
        INSTANCES_FILE,
        PREDICTIONS_FILE,
        batch_job_request,
        bigquery_load_request,
        table_name,
    )

    images = load_settings().images(outputs[exports.REGISTRY_URL], tag)
    staging = output.rstrip("/")
    job = batch_job_request(
        project=outputs[exports.PROJECT], region=outputs[exports.REGION],
        display_name=BATCH_PIPELINE, model_uri=model_dir, image=images.predictor,
        instances_uri=f"{staging}/{INSTANCES_FILE}", output_prefix=f"{staging}/vertex",
        machine_type=machine_type,
        service_account=outputs.get(exports.workload_service_account("serving")),
        batch_size=batch_size)
    load = bigquery_load_request(project=outputs[exports.PROJECT],
                                 dataset=outputs[exports.PREDICTIONS_DATASET], table=table_name(),
                                 source_uri=f"{staging}/{PREDICTIONS_FILE}")
    return {"batch_prediction_job": job, "bigquery_load": load}


def _vertex(model_dir: str, source: str, output: str, batch_size: int,
            stack_outputs: Path | None, tag: str | None, machine_type: str,
            dry_run: bool) -> None:
    from facts import exports
    from workloads.pipelines.settings import SettingsError
    from workloads.pipelines.submit import SubmitError, read_stack_outputs
    from workloads.vertex.batch import BatchJobError, run_vertex_batch

    if stack_outputs is None:
        raise _fail("--target vertex needs --stack-outputs FILE (pulumi stack output --json -s "
                    "vertex > FILE)")
    try:
        outputs = read_stack_outputs(stack_outputs, required=(
            exports.PROJECT, exports.REGION, exports.REGISTRY_URL,
            exports.PREDICTIONS_DATASET))
        requests = vertex_requests(outputs, model_dir, output, batch_size, tag, machine_type)
    except (SubmitError, SettingsError, BatchJobError) as err:
        raise _fail(str(err)) from None
    if dry_run:
        typer.echo(json.dumps(requests, indent=2, sort_keys=True))
        return
    try:
        result = run_vertex_batch(requests["batch_prediction_job"], source=source,
                                  staging=output, project=outputs[exports.PROJECT],
                                  region=outputs[exports.REGION],
                                  dataset=outputs[exports.PREDICTIONS_DATASET])
    except BatchJobError as err:
        raise _fail(str(err)) from None
    typer.echo(json.dumps(result))
