"""The pipeline's kfp v2 components, built for one set of images.

Each function below is a lightweight Python component: kfp ships its source to the container, so
it imports what it needs inside its body, and the work itself lives in `steps` and `deploy`.
`make_components(image, train_image)` sets `base_image` to the trainer image (the training step
to its GPU variant when it gets a GPU), which contains this repository and kfp, so
`install_kfp_package=False` everywhere (the same setting lets `kfp.local` run them in this
environment, which has no pip).

No `from __future__ import annotations` here: kfp reads the parameter annotations as objects.
"""


from dataclasses import dataclass
from typing import Any

from kfp import dsl
from kfp.dsl import (
    ClassificationMetrics,
    Dataset,
    Input,
    Markdown,
    Metrics,
    Model,
    Output,
)


def prepare_data(source: str, train_size: int, test_size: int, seed: int,
                 dataset: Output[Dataset]) -> None:
    """Write train and test TFRecords (synthetic sizes apply to synthetic data only)."""
    from workloads.pipelines.steps import prepare_data as run

    counts = run(source, dataset.path, train_size, test_size, seed)
    dataset.metadata.update({"source": source, **{f"{k}_examples": v for k, v in counts.items()}})


def train(dataset: Input[Dataset], model_arch: str, epochs: int, batch_size: int,
          learning_rate: float, momentum: float, optimizer: str, num_layers: int,
          num_units: int, width: float, seed: int, model: Output[Model]) -> float:
    """Train on the prepared data; exports `{model}/1` and returns the trainer's test accuracy."""
    import os

    from workloads.pipelines.steps import MODEL_VERSION, train_model

    hyperparameters = {"model": model_arch, "epochs": epochs, "batch_size": batch_size,
                       "learning_rate": learning_rate, "momentum": momentum,
                       "optimizer": optimizer, "num_layers": num_layers,
                       "num_units": num_units, "width": width, "seed": seed}
    work_dir = os.path.join(os.path.dirname(model.path.rstrip("/")), "work")
    metrics = train_model(dataset.path, model.path, work_dir, hyperparameters)
    model.metadata.update({"framework": "tensorflow", "version": MODEL_VERSION,
                           "accuracy": metrics["accuracy"], **hyperparameters})
    return float(metrics["accuracy"])


def evaluate(dataset: Input[Dataset], model: Input[Model], accuracy_threshold: float,
             metrics: Output[Metrics], confusion: Output[ClassificationMetrics],
             report: Output[Markdown]) -> float:
    """Score the export on the test split: Metrics, a confusion matrix and a Markdown report."""
    from workloads.cifar10 import CLASS_NAMES
    from workloads.pipelines.steps import evaluate_model, markdown_report

    result = evaluate_model(dataset.path, model.path)
    metrics.log_metric("accuracy", result["accuracy"])
    metrics.log_metric("examples", result["examples"])
    metrics.log_metric("accuracy_threshold", accuracy_threshold)
    confusion.log_confusion_matrix(list(CLASS_NAMES), result["confusion_matrix"])
    with open(report.path, "w") as f:
        f.write(markdown_report(result, accuracy_threshold))
    return float(result["accuracy"])


def deploy_kserve(model: Input[Model], name: str, namespace: str, image: str,
                  service_account: str, min_replicas: int, max_replicas: int) -> str:
    """Create or update the KServe InferenceService serving this model (in-cluster)."""
    from kubernetes import client, config

    from workloads.pipelines.deploy import apply_inference_service, inference_service

    manifest = inference_service(name, namespace, image, model.uri, service_account,
                                 min_replicas, max_replicas,
                                 labels={"app.kubernetes.io/part-of": "cifar10-pipeline"})
    config.load_incluster_config()
    verb = apply_inference_service(client.CustomObjectsApi(), manifest)
    return f"{verb} InferenceService {namespace}/{name} from {model.uri}"


def deploy_vertex(model: Input[Model], project: str, region: str, endpoint_id: str,
                  image: str, display_name: str, machine_type: str, traffic_percent: int,
                  service_account: str, feature_log: str) -> str:
    """Upload the model to Vertex AI and deploy it to the endpoint with a traffic split; the
    deployed model runs as `service_account` (the stack's serving account) and, with
    `feature_log`, logs the monitored features of sampled requests there."""
    import json

    from google.cloud import aiplatform

    from workloads.pipelines.deploy import deploy_to_vertex, vertex_upload_args
    from workloads.pipelines.steps import MODEL_VERSION

    environment = {}
    if feature_log:
        from workloads.cifar10.features import FEATURE_LOG_ENV, FEATURE_RATE_ENV
        from workloads.monitoring.settings import load_settings

        environment = {FEATURE_LOG_ENV: feature_log,
                       FEATURE_RATE_ENV: str(load_settings().sample_rate)}
    upload = vertex_upload_args(display_name, f"{model.uri.rstrip('/')}/{MODEL_VERSION}", image,
                                environment=environment)
    result = deploy_to_vertex(aiplatform, project=project, region=region,
                              endpoint_id=endpoint_id, upload=upload,
                              machine_type=machine_type, traffic_percent=traffic_percent,
                              service_account=service_account or None)
    return json.dumps(result)


def smoke_check(model: Input[Model], report: Output[Markdown]) -> str:
    """Local stand-in for deployment: serve the model on 127.0.0.1, send one V1 request."""
    from workloads.pipelines.steps import MODEL_VERSION
    from workloads.pipelines.steps import smoke_check as run

    result = run(f"{model.path.rstrip('/')}/{MODEL_VERSION}")
    probabilities = ", ".join(f"{p:.3f}" for p in result["predictions"][0])
    with open(report.path, "w") as f:
        f.write(f"# Local smoke check\n\n`POST {result['url']}/v1/models/cifar10:predict` "
                f"answered {result['status']}: 10 probabilities summing to "
                f"{result['sums'][0]:.6f} ({probabilities}).\n")
    return f"ok: {result['url']} answered 10 probabilities summing to {result['sums'][0]:.6f}"


@dataclass(frozen=True)
class Components:
    """The components of one build."""

    prepare_data: Any
    train: Any
    evaluate: Any
    deploy_kserve: Any
    deploy_vertex: Any
    smoke_check: Any


def make_components(image: str, train_image: str | None = None) -> Components:
    """Wrap every step as a kfp component running in `image` (training in `train_image`),
    without installing kfp."""

    def wrap(func: Any, base_image: str = image) -> Any:
        return dsl.component(func, base_image=base_image, install_kfp_package=False)

    return Components(prepare_data=wrap(prepare_data), train=wrap(train, train_image or image),
                      evaluate=wrap(evaluate), deploy_kserve=wrap(deploy_kserve),
                      deploy_vertex=wrap(deploy_vertex), smoke_check=wrap(smoke_check))
