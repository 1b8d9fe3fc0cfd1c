"""The CIFAR-10 kfp v2 pipeline: prepare data → train (GPU) → evaluate → gated deploy.

One definition, three builds:

- `kubeflow`: training requests `nvidia.com/gpu`, selects GPU nodes by
  `cloud.google.com/gke-accelerator` and tolerates the GPU taint (`kfp.kubernetes`); deploy
  applies a KServe InferenceService.
- `vertex`: training asks for the Vertex AI accelerator name of the same GPU; deploy uploads the
  model and deploys it to the stack's endpoint with a traffic split.
- `local`: no accelerator; deploy becomes a smoke check of the predictor on 127.0.0.1.

Deployment runs only when the evaluated accuracy reaches the `accuracy_threshold` parameter
(`dsl.If`). No `from __future__ import annotations`: kfp reads the pipeline's parameter
annotations as objects. Compile with `mlp pipeline compile` or
`python -m workloads.pipelines.pipeline`.
"""

import sys
from pathlib import Path
from typing import Any

from workloads.pipelines.settings import (
    PIPELINE_NAME,
    TARGETS,
    PipelineSettings,
    SettingsError,
    Target,
    load_settings,
    serving_identity,
)
from workloads.pipelines.targets import PoolTarget

GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
"""Node label GKE puts on every GPU node, naming its accelerator."""


def gpu_request(settings: PipelineSettings, target: Target) -> tuple[str, int] | None:
    """The accelerator type the training task asks for on `target`, and how many.

    The GPU comes from the hardware catalog by its GKE name; Vertex AI gets the catalog's Vertex
    name for it (e.g. `NVIDIA_TESLA_T4`); `local` asks for none.
    """
    from facts.hardware import catalog

    accelerators = catalog().accelerators
    if settings.accelerator not in accelerators:
        raise SettingsError(f"accelerator {settings.accelerator!r} is not in the hardware "
                            f"catalog; allowed: {', '.join(sorted(accelerators))}")
    accelerator = accelerators[settings.accelerator]
    if settings.accelerator_count not in accelerator.allowed_counts:
        raise SettingsError(f"accelerator_count {settings.accelerator_count} is not allowed for "
                            f"{accelerator.name}; allowed: {accelerator.allowed_counts}")
    if target == "kubeflow":
        return "nvidia.com/gpu", settings.accelerator_count
    if target == "vertex":
        return accelerator.vertex_name, settings.accelerator_count
    return None


def build_pipeline(target: Target, registry: str | None = None, tag: str | None = None,
                   settings: PipelineSettings | None = None, pool: PoolTarget | None = None
                   ) -> Any:
    """The pipeline for `target` with images from `registry` at `tag` (defaults: settings).

    Steps run in the trainer image, training on a GPU in its `-gpu` variant; deployments serve
    the predictor image. With `pool` (kubeflow only) training runs on the pool a stack's
    training profile names: its GPU, a shared GPU's node labels, a queued pool's Kueue queue
    (`targets.pool_target`).
    """
    from kfp import dsl, kubernetes

    from facts.hardware import GPU_TAINT_KEY
    from workloads.pipelines.components import make_components

    if target not in TARGETS:
        raise SettingsError(f"target {target!r} is not allowed; use one of {', '.join(TARGETS)}")
    settings = settings or load_settings()
    if pool is not None:
        if target != "kubeflow":
            raise SettingsError("--training-values place the training step on a node pool of "
                                "a cluster: use --target kubeflow")
        settings = settings.model_copy(update={"accelerator": pool.accelerator,
                                               "accelerator_count": pool.accelerator_count})
    images = settings.images(registry, tag)
    gpu = gpu_request(settings, target)
    c = make_components(images.trainer,
                        train_image=images.trainer_gpu if gpu else images.trainer)
    hp = settings.local.train if target == "local" else settings.train
    threshold = (settings.local.accuracy_threshold if target == "local"
                 else settings.accuracy_threshold)
    serving = settings.serving
    serving_namespace, serving_account = (serving_identity() if target == "kubeflow"
                                          else ("", ""))

    def body(p: dict[str, Any], vertex: dict[str, Any] | None = None) -> Any:
        data = c.prepare_data(source=p["data_source"], train_size=p["train_size"],
                              test_size=p["test_size"], seed=p["seed"])
        data.set_display_name("prepare data")
        trained = c.train(dataset=data.outputs["dataset"],
                          **{k: p[k] for k in ("model_arch", "epochs", "batch_size",
                                               "learning_rate", "momentum", "optimizer",
                                               "num_layers", "num_units", "width", "seed")})
        trained.set_display_name("train")
        if gpu is not None:
            trained.set_cpu_limit(settings.cpu_limit).set_memory_limit(settings.memory_limit)
            trained.set_accelerator_type(gpu[0]).set_accelerator_limit(gpu[1])
        if target == "kubeflow":
            kubernetes.add_node_selector(trained, GKE_ACCELERATOR_LABEL, settings.accelerator)
            kubernetes.add_toleration(trained, key=GPU_TAINT_KEY, operator="Exists",
                                      effect="NoSchedule")
            for key, value in sorted((pool.node_selector if pool else {}).items()):
                kubernetes.add_node_selector(trained, key, value)
            for key, value in sorted((pool.pod_labels if pool else {}).items()):
                kubernetes.add_pod_label(trained, key, value)
            for key, value in sorted((pool.pod_annotations if pool else {}).items()):
                kubernetes.add_pod_annotation(trained, key, value)
        scored = c.evaluate(dataset=data.outputs["dataset"], model=trained.outputs["model"],
                            accuracy_threshold=p["accuracy_threshold"])
        scored.set_display_name("evaluate")
        model = trained.outputs["model"]
        # A single float output named "Output" is what kfp.local's condition evaluator resolves.
        with dsl.If(scored.outputs["Output"] >= p["accuracy_threshold"], name="accuracy-gate"):
            if target == "local":
                c.smoke_check(model=model).set_display_name("local model-server smoke check")
            elif target == "kubeflow":
                c.deploy_kserve(model=model, name=serving.name, namespace=serving_namespace,
                                image=images.predictor, service_account=serving_account,
                                min_replicas=serving.min_replicas,
                                max_replicas=serving.max_replicas
                                ).set_display_name("deploy to KServe")
            else:
                c.deploy_vertex(model=model, image=images.predictor, display_name=serving.name,
                                machine_type=serving.vertex_machine_type, **(vertex or {})
                                ).set_display_name("deploy to Vertex AI endpoint")
        return scored.outputs["Output"]

    if target == "vertex":
        @dsl.pipeline(name=PIPELINE_NAME, description=__doc__.splitlines()[0])
        def cifar10_vertex(project: str, region: str, endpoint_id: str,
                           serving_service_account: str = "", feature_log: str = "",
                           data_source: str = hp.data,
                           train_size: int = hp.synthetic_train_size,
                           test_size: int = hp.synthetic_test_size,
                           model_arch: str = hp.model, epochs: int = hp.epochs,
                           batch_size: int = hp.batch_size,
                           learning_rate: float = hp.learning_rate,
                           momentum: float = hp.momentum, optimizer: str = hp.optimizer,
                           num_layers: int = hp.num_layers, num_units: int = hp.num_units,
                           width: float = hp.width, seed: int = hp.seed,
                           accuracy_threshold: float = threshold,
                           traffic_percent: int = serving.traffic_percent) -> float:
            p = dict(locals())
            vertex = {k: p.pop(k) for k in ("project", "region", "endpoint_id",
                                             "traffic_percent", "feature_log")}
            vertex["service_account"] = p.pop("serving_service_account")
            return body(p, vertex)

        return cifar10_vertex

    @dsl.pipeline(name=PIPELINE_NAME, description=__doc__.splitlines()[0])
    def cifar10(data_source: str = hp.data, train_size: int = hp.synthetic_train_size,
                test_size: int = hp.synthetic_test_size, model_arch: str = hp.model,
                epochs: int = hp.epochs, batch_size: int = hp.batch_size,
                learning_rate: float = hp.learning_rate, momentum: float = hp.momentum,
                optimizer: str = hp.optimizer, num_layers: int = hp.num_layers,
                num_units: int = hp.num_units, width: float = hp.width, seed: int = hp.seed,
                accuracy_threshold: float = threshold) -> float:
        return body(dict(locals()))

    return cifar10


def compile_pipeline(target: Target, out: Path, registry: str | None = None,
                     tag: str | None = None, settings: PipelineSettings | None = None,
                     pool: PoolTarget | None = None) -> Path:
    """Compile the `target` build to IR YAML at `out` (parent folders are created)."""
    from kfp import compiler

    pipeline = build_pipeline(target, registry, tag, settings, pool)
    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline, str(out))
    return out



if __name__ == "__main__":
    # The same command as `mlp pipeline compile`: same options, checks and exit codes.
    from workloads.pipelines.cli import app

    app(["compile", *sys.argv[1:]], prog_name="python -m workloads.pipelines.pipeline")
