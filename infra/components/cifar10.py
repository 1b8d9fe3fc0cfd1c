"""The CIFAR-10 workloads on the Kubeflow flavour: the project's charts and their values.

The stack declares only what lives as long as the stack: the `cifar10-serving` chart installs as
a pulumi-kubernetes `helm.v4.Chart`, after the Kubeflow components whose CRDs it uses. Training
and tuning runs are one-shot: a finished TFJob is deleted by its TTL, and a stack that declared
it would launch it again on the next `pulumi up --refresh`. They are launched instead by the
pipeline, by `mlp train`, or by `helm install` of the `cifar10-training` chart with the values
`mlp chart values cifar10-training STACK` writes from the stack's training profile.

Chart values are built here from the stack config, the registry and the models bucket, by plain
functions a test can call; they take Pulumi outputs inside the program and plain strings outside.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from facts.capacity import capacity
from facts.identities import WORKLOADS
from facts.images import PREDICTOR_IMAGE, TRAINER_IMAGE, trainer_tag
from facts.monitoring import FEATURE_LOG_FOLDER
from infra import names
from infra.charts import chart_path
from infra.components._opts import child_opts
from infra.components.kubeflow import Kubeflow
from infra.components.storage import BUCKET_ROLES
from infra.config import NodePoolConfig, PlatformConfig, ServingRelease, TrainingRelease

RELEASE = "cifar10"


def _pool(cfg: PlatformConfig, pool_name: str | None) -> NodePoolConfig | None:
    return next((p for p in cfg.node_pools if p.name == pool_name), None)


def _gpu(cfg: PlatformConfig, pool_name: str | None) -> dict[str, Any]:
    """The chart's `gpu` values for a pool: its GPU type and count, or on a shared pool one
    shared GPU with the pool's sharing strategy and clients per GPU (GKE's node labels)."""
    pool = _pool(cfg, pool_name)
    if pool is None or pool.accelerator is None:
        return {"type": "", "count": 0}
    sharing = pool.accelerator.sharing
    if sharing is None:
        return {"type": pool.accelerator.type, "count": pool.accelerator.count}
    return {"type": pool.accelerator.type, "count": capacity().sharing.max_gpus_per_container,
            "sharing": {"strategy": sharing.strategy,
                        "maxClientsPerGpu": sharing.max_clients_per_gpu}}


def _queue(cfg: PlatformConfig, pool_name: str | None) -> dict[str, Any]:
    """The chart's `queue` values: a queued-provisioning pool's Kueue queue, else none."""
    pool = _pool(cfg, pool_name)
    if pool is None or not pool.queued:
        return {"name": "", "maxRunDurationSeconds": 0}
    return {"name": pool.name,
            "maxRunDurationSeconds": pool.max_run_hours * 3600 if pool.max_run_hours else 0}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) else value
    return out


def _concat(*parts: pulumi.Input[str]) -> pulumi.Input[str]:
    """Join strings now when all are known, or as a Pulumi output when one is an output."""
    if all(isinstance(p, str) for p in parts):
        return "".join(parts)  # type: ignore[arg-type]
    return pulumi.Output.concat(*parts)


def training_values(cfg: PlatformConfig, release: TrainingRelease,
                    registry_url: pulumi.Input[str],
                    buckets: Mapping[str, pulumi.Input[str]]) -> dict[str, Any]:
    """Values of the `cifar10-training` chart for a stack."""
    from workloads.tuning.space import katib_spec, load_space

    models = _concat("gs://", buckets["models"])
    gpu = _gpu(cfg, release.gpu_pool)
    values: dict[str, Any] = {
        "image": {"repository": _concat(registry_url, "/", TRAINER_IMAGE),
                  "tag": trainer_tag(release.image_tag, gpu=bool(gpu["type"]))},
        "serviceAccountName": WORKLOADS["training"].ksas[0],
        "data": {"source": "tfds",
                 "dataDir": _concat("gs://", buckets["datasets"], "/tfds")},
        # Bases under which each run and trial writes its own folder (`<run>` is the TFJob's
        # or the Katib trial's name): exports go to `<modelDir>/runs/<run>/<version>`, never to
        # `<modelDir>/<version>`, which the serving chart serves and only `mlp model promote`
        # writes.
        "output": {"modelDir": _concat(models, "/", RELEASE),
                   "checkpointDir": _concat(models, "/checkpoints/", RELEASE),
                   "tensorboardDir": _concat(models, "/tensorboard/", RELEASE)},
        "replicas": {"chief": 1, "worker": release.workers},
        "gpu": gpu,
        "queue": _queue(cfg, release.gpu_pool),
    }
    if release.search_space:
        values["katib"] = {"enabled": True, **katib_spec(load_space(release.search_space))}
    return _merge(values, release.values)


def launch_values(cfg: PlatformConfig, stack: str) -> dict[str, Any]:
    """`cifar10-training` values for a run launched on a stack's cluster (`helm install`).

    The stack's resources have names that follow from its project and name
    (`infra.names`), so the values need no stack outputs and no credentials.
    """
    buckets = {role: names.bucket_name(cfg.project, stack, role) for role in BUCKET_ROLES}
    return training_values(cfg, cfg.workloads.training,
                           names.registry_url(cfg.region, cfg.project, stack), buckets)


def serving_values(cfg: PlatformConfig, release: ServingRelease,
                   registry_url: pulumi.Input[str],
                   buckets: Mapping[str, pulumi.Input[str]]) -> dict[str, Any]:
    """Values of the `cifar10-serving` chart for a stack."""
    values: dict[str, Any] = {
        "runtime": release.runtime,
        "image": {"repository": pulumi.Output.concat(registry_url, "/", PREDICTOR_IMAGE),
                  "tag": release.image_tag},
        "storageUri": pulumi.Output.concat("gs://", buckets["models"], "/cifar10/",
                                           str(release.model_version)),
        "serviceAccountName": WORKLOADS["serving"].ksas[0],
        "minReplicas": release.min_replicas,
        "maxReplicas": release.max_replicas,
        "gpu": _gpu(cfg, release.gpu_pool),
    }
    if cfg.monitoring.enabled and release.runtime == "custom":
        values["monitoring"] = {
            "featureLog": pulumi.Output.concat("gs://", buckets["models"], "/",
                                               FEATURE_LOG_FOLDER),
            # None: the predictor's own default (workloads/monitoring/defaults.yaml).
            "sampleRate": cfg.monitoring.feature_sample_rate, "podMonitoring": True}
    return _merge(values, release.values)


@dataclass(frozen=True)
class Cifar10Args:
    provider: k8s.Provider
    config: PlatformConfig
    registry_url: pulumi.Input[str]
    buckets: Mapping[str, pulumi.Input[str]]
    """Bucket names by role (datasets, models, …)."""
    kubeflow: Kubeflow
    """The installs whose CRDs the charts use; each chart waits for its prerequisites."""


class Cifar10(pulumi.ComponentResource):
    """The stack's long-lived CIFAR-10 release: the serving chart, when enabled."""

    charts: dict[str, k8s.helm.v4.Chart]

    def __init__(self, name: str, args: Cifar10Args,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:k8s:Cifar10", name, None, opts)
        w = args.config.workloads
        self.charts = {}
        releases = (("serving", "cifar10-serving", w.serving, serving_values),)
        for kind, chart, release, build_values in releases:
            if not release.enabled:
                continue
            after = args.kubeflow.prerequisites(kind)
            self.charts[kind] = k8s.helm.v4.Chart(
                f"{name}-{kind}",
                chart=chart_path(chart),
                name=RELEASE,
                namespace=WORKLOADS[kind].namespace,
                values=build_values(args.config, release, args.registry_url, args.buckets),
                opts=pulumi.ResourceOptions.merge(
                    child_opts(self, opts, provider=args.provider),
                    pulumi.ResourceOptions(depends_on=after)),
            )
        self.register_outputs({"releases": sorted(self.charts)})
