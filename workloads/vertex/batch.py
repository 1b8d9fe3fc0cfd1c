"""Batch prediction on Vertex AI: a BatchPredictionJob running the predictor image, then the
predictions as JSONL and in BigQuery.

1. `prepare_instances` writes the input images (TFRecords, image files, or `synthetic:N`, read
   as `workloads.cifar10.batch` reads them) as a JSONL file of instances, one 32×32×3 list per
   line, with the image ids in a sidecar file: the format a custom container's batch job reads.
2. `batch_job_request`: a `BatchPredictionJob` with an *unmanaged container model*, the
   predictor image (`python -m workloads.cifar10.serve`) on the model folder, so no Model
   Registry entry is needed; JSONL predictions go to GCS.
3. `collect` turns Vertex AI's output lines (`{"instance": ..., "prediction": ...}`) into the
   same flat records `mlp predict batch --target local` writes (id, label, probabilities,
   monitored features), one `predictions.jsonl`, and `bigquery_load_request` loads that file
   into the stack's predictions dataset (a BigQuery table per run).

A BatchPredictionJob has one destination (GCS or BigQuery). Vertex AI's own BigQuery output
would carry each instance, a nested array BigQuery cannot store, so the table is loaded from the
flat records instead. Builders make no network call; `submit` takes its clients as arguments.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from workloads.cifar10 import MODEL_NAME
from workloads.pipelines.deploy import PREDICTOR_COMMAND, PREDICTOR_PORT

INSTANCES_FILE = "instances.jsonl"
IDS_FILE = "ids.txt"
PREDICTIONS_FILE = "predictions.jsonl"
TABLE_PREFIX = "cifar10_predictions"
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")


class BatchJobError(ValueError):
    """A batch job that cannot be built as asked; one line naming the field and value."""


def _types() -> Any:
    from google.cloud.aiplatform_v1 import types

    return types


def batch_job_request(*, project: str, region: str, display_name: str, model_uri: str,
                      image: str, instances_uri: str, output_prefix: str, machine_type: str,
                      service_account: str | None, batch_size: int = 64,
                      replicas: tuple[int, int] = (1, 2),
                      labels: dict[str, str] | None = None) -> dict[str, Any]:
    """The `CreateBatchPredictionJob` request body (a dict) for the predictor image."""
    for name, uri in (("model_uri", model_uri), ("instances_uri", instances_uri),
                      ("output_prefix", output_prefix)):
        if not uri.startswith("gs://"):
            raise BatchJobError(f"{name} {uri!r} must be a gs:// URI: Vertex AI reads it")
    if not 1 <= replicas[0] <= replicas[1]:
        raise BatchJobError(f"replicas {replicas} must be 1 <= starting <= max")
    t = _types()
    job = t.BatchPredictionJob(
        display_name=display_name,
        unmanaged_container_model=t.UnmanagedContainerModel(
            artifact_uri=model_uri,
            container_spec=t.ModelContainerSpec(
                image_uri=image, command=PREDICTOR_COMMAND,
                args=["--host", "0.0.0.0", "--model-name", MODEL_NAME,
                      "--max-batch", str(batch_size)],
                ports=[t.Port(container_port=PREDICTOR_PORT)],
                predict_route=f"/v1/models/{MODEL_NAME}:predict",
                health_route=f"/v1/models/{MODEL_NAME}")),
        input_config=t.BatchPredictionJob.InputConfig(
            instances_format="jsonl", gcs_source=t.GcsSource(uris=[instances_uri])),
        output_config=t.BatchPredictionJob.OutputConfig(
            predictions_format="jsonl",
            gcs_destination=t.GcsDestination(output_uri_prefix=output_prefix)),
        dedicated_resources=t.BatchDedicatedResources(
            machine_spec=t.MachineSpec(machine_type=machine_type),
            starting_replica_count=replicas[0], max_replica_count=replicas[1]),
        manual_batch_tuning_parameters=t.ManualBatchTuningParameters(batch_size=batch_size),
        service_account=service_account or "",
        labels=dict(labels or {"app": "cifar10", "managed-by": "ml-platform"}))
    request = t.CreateBatchPredictionJobRequest(
        parent=f"projects/{project}/locations/{region}", batch_prediction_job=job)
    return type(request).to_dict(request, use_integers_for_enums=False,
                                 preserving_proto_field_name=True)


def bigquery_load_request(*, project: str, dataset: str, table: str,
                          source_uri: str) -> dict[str, Any]:
    """A BigQuery load job (REST `jobs.insert` body) of the flat predictions JSONL into
    `project.dataset.table`, schema given explicitly (no autodetection surprises)."""
    from workloads.cifar10.features import FEATURES

    if not _TABLE.match(table) or not _TABLE.match(dataset):
        raise BatchJobError(f"BigQuery dataset {dataset!r} / table {table!r}: use letters, "
                            "digits and underscores, starting with a letter or underscore")
    schema = [{"name": "id", "type": "STRING", "mode": "REQUIRED"},
              {"name": "label", "type": "STRING", "mode": "REQUIRED"},
              {"name": "probabilities", "type": "FLOAT64", "mode": "REPEATED"}]
    schema += [{"name": f.name, "type": "FLOAT64" if f.kind == "numeric" else "STRING",
                "mode": "REQUIRED"} for f in FEATURES]
    return {"configuration": {"load": {
        "sourceUris": [source_uri], "sourceFormat": "NEWLINE_DELIMITED_JSON",
        "destinationTable": {"projectId": project, "datasetId": dataset, "tableId": table},
        "schema": {"fields": schema}, "writeDisposition": "WRITE_TRUNCATE",
        "createDisposition": "CREATE_IF_NEEDED"}}}


def collect(prediction_lines: Iterable[str], instance_lines: Iterable[str],
            ids: Sequence[str]) -> str:
    """Vertex AI's output lines as the flat records of `workloads.cifar10.batch`, in input order.

    Vertex AI writes a job's output lines in no promised order, each with its instance; the
    instance's pixels find its position in the input (`instances.jsonl`), and so its id."""
    from collections import defaultdict, deque

    from workloads.cifar10.batch import output_lines

    positions: dict[bytes, deque[int]] = defaultdict(deque)
    count = 0
    for count, line in enumerate((ln for ln in instance_lines if ln.strip()), start=1):
        positions[np.asarray(json.loads(line), dtype=np.float32).tobytes()].append(count - 1)
    if count != len(ids):
        raise BatchJobError(f"{count} instances for {len(ids)} ids; instances.jsonl and ids.txt "
                            "come from one prepare_instances call")
    placed: list[tuple[np.ndarray, np.ndarray] | None] = [None] * count
    for number, line in enumerate(prediction_lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            image = np.asarray(row["instance"], dtype=np.float32)
            probs = np.asarray(row["prediction"], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as err:
            raise BatchJobError(f"prediction line {number}: not a Vertex AI batch output line "
                                f"({type(err).__name__}: {str(err)[:80]})") from None
        if image.shape != (32, 32, 3) or probs.shape != (10,):
            raise BatchJobError(f"prediction line {number}: instance {list(image.shape)} and "
                                f"prediction {list(probs.shape)}; expected [32, 32, 3] and [10]")
        slots = positions.get(image.tobytes())
        if not slots:
            raise BatchJobError(f"prediction line {number}: its instance is not in the input "
                                "(or was predicted twice)")
        placed[slots.popleft()] = (image, probs)
    missing = [ids[i] for i, pair in enumerate(placed) if pair is None]
    if missing:
        raise BatchJobError(f"{len(missing)} of {count} images have no prediction (first: "
                            f"{missing[0]}); the job had partial failures, see its error files")
    done = [pair for pair in placed if pair is not None]
    return output_lines(list(ids), np.stack([i for i, _ in done]), np.stack([p for _, p in done]))


def prepare_instances(source: str, folder: str, batch_size: int = 512) -> int:
    """Write `source`'s images as `{folder}/instances.jsonl` (one image per line) and their ids
    as `{folder}/ids.txt`; returns the number of images."""
    from workloads.cifar10.batch import batches
    from workloads.cifar10.features import write_text

    instances, ids = [], []
    for batch_ids, images in batches(source, batch_size):
        ids += batch_ids
        instances += [json.dumps(image.tolist(), separators=(",", ":")) + "\n"
                      for image in images]
    write_text(f"{folder.rstrip('/')}/{INSTANCES_FILE}", "".join(instances))
    write_text(f"{folder.rstrip('/')}/{IDS_FILE}", "\n".join(ids) + "\n")
    return len(ids)


def table_name(now: float | None = None) -> str:
    """A table per run: `cifar10_predictions_YYYYmmdd_HHMMSS` (UTC)."""
    return f"{TABLE_PREFIX}_{time.strftime('%Y%m%d_%H%M%S', time.gmtime(now))}"


def submit(request: dict[str, Any], region: str, job_client: Any = None) -> Any:
    """Create the batch prediction job; `job_client` is a JobServiceClient (or a fake)."""
    t = _types()
    if job_client is None:
        from google.api_core.client_options import ClientOptions
        from google.cloud import aiplatform_v1

        job_client = aiplatform_v1.JobServiceClient(client_options=ClientOptions(
            api_endpoint=f"{region}-aiplatform.googleapis.com"))
    return job_client.create_batch_prediction_job(
        request=t.CreateBatchPredictionJobRequest(request))


def run_vertex_batch(request: dict[str, Any], *, source: str, staging: str, project: str,
                     region: str, dataset: str, job_client: Any = None,
                     bigquery_client: Any = None, poll_seconds: float = 30.0,
                     timeout_seconds: float = 6 * 3600) -> dict[str, Any]:
    """Run the whole Vertex flavour: instances, job, flat JSONL, BigQuery table.

    `request` is `batch_job_request`'s, whose input is `{staging}/instances.jsonl`. Clients are
    a JobServiceClient and a `google.cloud.bigquery.Client` (fakes in tests)."""
    import tensorflow as tf

    from workloads.cifar10.features import write_text

    t = _types()
    count = prepare_instances(source, staging)
    job = submit(request, region, job_client)
    client = job_client
    deadline = time.monotonic() + timeout_seconds
    done = {t.JobState.JOB_STATE_SUCCEEDED, t.JobState.JOB_STATE_FAILED,
            t.JobState.JOB_STATE_CANCELLED, t.JobState.JOB_STATE_EXPIRED}
    while job.state not in done:
        if time.monotonic() > deadline:
            raise BatchJobError(f"batch job {job.name} still {job.state.name} after "
                                f"{timeout_seconds:g} s")
        time.sleep(poll_seconds)
        job = client.get_batch_prediction_job(name=job.name)
    if job.state != t.JobState.JOB_STATE_SUCCEEDED:
        raise BatchJobError(f"batch job {job.name} ended {job.state.name}: "
                            f"{job.error.message or 'no message'}")
    out_dir = job.output_info.gcs_output_directory
    lines: list[str] = []
    for path in sorted(tf.io.gfile.glob(f"{out_dir}/prediction.results-*")):
        with tf.io.gfile.GFile(path) as f:
            lines += f.read().splitlines()
    with tf.io.gfile.GFile(f"{staging.rstrip('/')}/{INSTANCES_FILE}") as f:
        instance_lines = f.read().splitlines()
    with tf.io.gfile.GFile(f"{staging.rstrip('/')}/{IDS_FILE}") as f:
        ids = [i for i in f.read().splitlines() if i]
    predictions = f"{staging.rstrip('/')}/{PREDICTIONS_FILE}"
    write_text(predictions, collect(lines, instance_lines, ids))
    table = table_name()
    load = bigquery_load_request(project=project, dataset=dataset, table=table,
                                 source_uri=predictions)
    if bigquery_client is None:
        from google.cloud import bigquery

        bigquery_client = bigquery.Client(project=project)
    from google.cloud.bigquery import LoadJobConfig

    config = load["configuration"]["load"]
    loaded = bigquery_client.load_table_from_uri(
        predictions, f"{project}.{dataset}.{table}",
        job_config=LoadJobConfig.from_api_repr({"load": {
            k: v for k, v in config.items() if k not in ("sourceUris", "destinationTable")}}))
    loaded.result()
    return {"images": count, "job": job.name, "predictions": predictions,
            "table": f"{project}.{dataset}.{table}"}
