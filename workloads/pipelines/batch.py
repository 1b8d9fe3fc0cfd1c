"""Batch prediction as one kfp component, and the one-step pipeline that runs it.

`batch_predict` is the same component on every platform: on Kubeflow (and `kfp.local`) it
streams the images through the predictor's code in batches inside the trainer image
(`workloads.cifar10.batch`); on Vertex AI it runs a BatchPredictionJob with the predictor image
and loads the flat predictions into BigQuery (`workloads.vertex.batch`). Both write the same
`predictions.jsonl` records. No `from __future__ import annotations`: kfp reads the annotations.
"""

from typing import Any

from kfp import dsl

from workloads.pipelines.settings import SettingsError, Target

BATCH_PIPELINE = "cifar10-batch-prediction"


def batch_predict(platform: str, model_uri: str, images_uri: str, output_uri: str,
                  batch_size: int, project: str, region: str, predictor_image: str,
                  machine_type: str, service_account: str, dataset: str) -> str:
    """Score every image under `images_uri`; predictions as JSONL (and on Vertex AI in
    BigQuery)."""
    import json

    if platform == "vertex":
        from workloads.vertex.batch import batch_job_request, run_vertex_batch

        staging = output_uri.rstrip("/")
        request = batch_job_request(
            project=project, region=region, display_name=BATCH_PIPELINE, model_uri=model_uri,
            image=predictor_image, instances_uri=f"{staging}/instances.jsonl",
            output_prefix=f"{staging}/vertex", machine_type=machine_type,
            service_account=service_account or None, batch_size=batch_size)
        return json.dumps(run_vertex_batch(request, source=images_uri, staging=staging,
                                           project=project, region=region, dataset=dataset))
    from workloads.cifar10.batch import predict_batch

    target = output_uri if output_uri.endswith(".jsonl") else \
        f"{output_uri.rstrip('/')}/predictions.jsonl"
    result = predict_batch(model_uri, images_uri, target, batch_size, progress=False)
    return (f"{result.images} images in {result.seconds:.1f} s "
            f"({result.images_per_second:,.0f} images/s) to {result.output}")


def build_batch_pipeline(target: Target, registry: str | None = None,
                         tag: str | None = None) -> Any:
    """The one-step batch prediction pipeline for `target`."""
    from workloads.pipelines.settings import TARGETS, load_settings

    if target not in TARGETS:
        raise SettingsError(f"target {target!r} is not allowed; use one of {', '.join(TARGETS)}")
    settings = load_settings()
    images = settings.images(registry, tag)
    component = dsl.component(batch_predict, base_image=images.trainer,
                              install_kfp_package=False)
    platform = "vertex" if target == "vertex" else "kubeflow"

    @dsl.pipeline(name=BATCH_PIPELINE, description=__doc__.splitlines()[0])
    def batch(model_uri: str, images_uri: str, output_uri: str, batch_size: int = 128,
              project: str = "", region: str = "", machine_type: str = "n1-standard-4",
              service_account: str = "", dataset: str = "") -> str:
        step = component(platform=platform, model_uri=model_uri, images_uri=images_uri,
                         output_uri=output_uri, batch_size=batch_size, project=project,
                         region=region, predictor_image=images.predictor,
                         machine_type=machine_type, service_account=service_account,
                         dataset=dataset)
        step.set_display_name("batch predict")
        return step.output

    return batch
