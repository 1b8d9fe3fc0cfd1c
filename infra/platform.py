"""Compose the platform's components from a validated `PlatformConfig`.

`build_platform` is what `infra/__main__.py` runs; it returns the stack outputs so the program
stays a thin composition root and tests can call it under mocks. The stack's `flavor` decides the
halves: `kubeflow` builds the GKE cluster and installs Kubeflow on it, `vertex` wires up Vertex AI
without a cluster, `both` does both. Storage, registry and identities are common to all.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from facts import exports
from facts.capacity import capacity
from facts.hardware import catalog
from infra import names
from infra.components.apis import Apis, ApisArgs
from infra.components.budget import Budget, BudgetArgs
from infra.components.cifar10 import Cifar10, Cifar10Args
from infra.components.cluster import Cluster, ClusterArgs, MaintenanceArgs
from infra.components.identity import Identity, IdentityArgs
from infra.components.kms import SecretsKey, SecretsKeyArgs
from infra.components.kubeflow import Kubeflow, KubeflowArgs
from infra.components.monitoring import Monitoring, MonitoringArgs
from infra.components.network import Network, NetworkArgs
from infra.components.node_pool import (
    AcceleratorArgs,
    FlexStartArgs,
    NodePool,
    NodePoolArgs,
)
from infra.components.storage import BUCKET_ROLES, Storage, StorageArgs
from infra.components.vertex import PersistentResourceArgs, VertexAi, VertexArgs
from infra.components.vertex import endpoint_id as vertex_endpoint_id
from infra.config import NodePoolConfig, PlatformConfig
from infra.kueue import queue_specs

COMMON_SERVICES = ("iam.googleapis.com", "artifactregistry.googleapis.com",
                   "storage.googleapis.com", "logging.googleapis.com",
                   "monitoring.googleapis.com", "cloudresourcemanager.googleapis.com")
"""Resource Manager is common: project IAM grants (node and Vertex roles) and the project-number
lookup of the KMS grant and the budget all call it."""
GKE_SERVICES = ("compute.googleapis.com", "container.googleapis.com",
                "binaryauthorization.googleapis.com")
"""The cluster enforces the project's Binary Authorization policy, which needs its API."""
KMS_SERVICES = ("cloudkms.googleapis.com",)
VERTEX_SERVICES = ("aiplatform.googleapis.com", "bigquery.googleapis.com")
"""BigQuery holds the batch predictions (the predictions dataset)."""
BUDGET_SERVICES = ("billingbudgets.googleapis.com",)

NAME = names.PREFIX
"""Prefix of the logical (Pulumi) names of the stack's resources."""


def services_for(cfg: PlatformConfig) -> tuple[str, ...]:
    """The Google APIs a configuration needs enabled."""
    kms = cfg.has_cluster and cfg.cluster.secrets_encryption
    return (COMMON_SERVICES
            + (GKE_SERVICES if cfg.has_cluster else ())
            + (KMS_SERVICES if kms else ())
            + (VERTEX_SERVICES if cfg.has_vertex else ())
            + (BUDGET_SERVICES if cfg.budget else ()))


def build_platform(cfg: PlatformConfig, stack: str) -> dict[str, Any]:
    """Declare every resource of the stack and return the stack outputs."""
    labels = cfg.labels.as_gcp()
    apis = Apis(f"{NAME}-apis", ApisArgs(project=cfg.project, services=services_for(cfg)))
    after_apis = pulumi.ResourceOptions(depends_on=apis.resources)

    s = cfg.storage
    storage = Storage(f"{NAME}-storage", StorageArgs(
        project=cfg.project, region=cfg.region, name_prefix=names.bucket_prefix(cfg.project, stack),
        registry_id=names.registry_id(stack),
        labels=labels, protect=s.protect,
        pipeline_root_retention_days=s.pipeline_root_retention_days,
        noncurrent_versions_kept=s.noncurrent_versions_kept,
        registry_keep_recent=s.registry_keep_recent,
        registry_untagged_max_age_days=s.registry_untagged_max_age_days,
        roles=BUCKET_ROLES + (("vertex-staging",) if cfg.has_vertex else ())),
        opts=after_apis)

    identity = Identity(f"{NAME}-identity", IdentityArgs(
        project=cfg.project, account_prefix=names.account_prefix(stack),
        buckets=storage.buckets, registry=storage.registry,
        workload_identity=cfg.has_cluster, vertex=cfg.has_vertex), opts=after_apis)

    outputs: dict[str, Any] = {
        exports.PROJECT: cfg.project,
        exports.REGION: cfg.region,
        exports.FLAVOR: cfg.flavor,
        exports.REGISTRY_URL: storage.registry_url,
        **{exports.bucket(role): b.name for role, b in storage.buckets.items()},
        **{exports.workload_service_account(w): sa.email
           for w, sa in identity.workload_sas.items()},
    }
    if cfg.has_cluster:
        outputs |= _gke(cfg, stack, labels, apis, storage, identity)
    if cfg.has_vertex:
        vertex = VertexAi(f"{NAME}-vertex", VertexArgs(
            project=cfg.project, region=cfg.region, stack=stack,
            endpoint_display_name=cfg.vertex.endpoint_display_name,
            tensorboard_display_name=cfg.vertex.tensorboard_display_name, labels=labels,
            persistent_resource=_persistent_resource_args(cfg),
            pipelines_account=identity.workload_sas["pipelines"].email),
            opts=after_apis)
        outputs |= {exports.ENDPOINT_ID: vertex.endpoint.name,
                    exports.TENSORBOARD: vertex.tensorboard.id,
                    exports.PREDICTIONS_DATASET: vertex.predictions.dataset_id}
        if vertex.persistent_resource is not None:
            outputs[exports.PERSISTENT_RESOURCE] = vertex.persistent_resource.name
    if cfg.monitoring.enabled:
        outputs |= _monitoring(cfg, stack, labels, storage, identity, after_apis)
    if cfg.budget:
        b = cfg.budget
        Budget(f"{NAME}-budget", BudgetArgs(
            project=cfg.project, stack=stack, billing_account=b.billing_account,
            amount_usd=b.amount_usd, thresholds=b.thresholds,
            quota_project=b.quota_project or cfg.project), opts=after_apis)
    return outputs


def _monitoring(cfg: PlatformConfig, stack: str, labels: dict[str, str], storage: Storage,
                identity: Identity, opts: pulumi.ResourceOptions) -> dict[str, Any]:
    """Channels, dashboard and alert policies (`monitoring.enabled`)."""
    m = cfg.monitoring
    monitoring = Monitoring(f"{NAME}-monitoring", MonitoringArgs(
        project=cfg.project, stack=stack,
        emails=tuple((c.address, c.display_name) for c in m.notification_channels),
        labels=labels, cluster_name=names.cluster_name(stack) if cfg.has_cluster else None,
        gpu=cfg.has_cluster and any(p.is_gpu for p in cfg.node_pools),
        serving_gke=cfg.has_cluster and cfg.workloads.serving.enabled
        and cfg.workloads.serving.runtime == "custom",
        endpoint_id=vertex_endpoint_id(cfg.project, stack) if cfg.has_vertex else None,
        latency_p99_ms=m.serving_slo.latency_p99_ms, error_rate=m.serving_slo.error_rate,
        gpu_idle_hours=m.gpu_idle_hours, models_bucket=storage.buckets["models"].name,
        serving_account=identity.workload_sas["serving"].email), opts=opts)
    return {exports.ALERT_EMAILS: [c.address for c in m.notification_channels],
            exports.NOTIFICATION_CHANNELS: [c.name for c in monitoring.channels],
            exports.RETRAIN_ON_DRIFT: m.retrain_on_drift}


def _persistent_resource_args(cfg: PlatformConfig) -> PersistentResourceArgs | None:
    res = cfg.vertex.persistent_resource
    if res is None:
        return None
    gpu = catalog().accelerators[res.accelerator_type].vertex_name if res.accelerator_type \
        else None
    return PersistentResourceArgs(res.name, res.machine_type, gpu, res.accelerator_count,
                                  res.replicas, res.max_replicas)


def _accelerator_args(pool: NodePoolConfig) -> AcceleratorArgs | None:
    acc = pool.accelerator
    if acc is None:
        return None
    sharing = acc.sharing
    return AcceleratorArgs(
        acc.type, acc.count, acc.driver_version,
        sharing_strategy=capacity().sharing.strategies[sharing.strategy].api if sharing else None,
        max_clients_per_gpu=sharing.max_clients_per_gpu if sharing else 1)


def _flex_start_args(pool: NodePoolConfig) -> FlexStartArgs | None:
    if not pool.flex_start:
        return None
    queued = capacity().queued
    return FlexStartArgs(
        queued=pool.queued,
        max_run_seconds=pool.max_run_hours * 3600 if pool.max_run_hours else None,
        reservation_affinity=queued.reservation_affinity,
        location_policy=queued.location_policy)


def _gke(cfg: PlatformConfig, stack: str, labels: dict[str, str], apis: Apis,
         storage: Storage, identity: Identity) -> dict[str, Any]:
    """The GKE half: network, cluster, node pools and, on top, Kubeflow."""
    assert identity.node_sa is not None
    network = Network(f"{NAME}-net", NetworkArgs(
        project=cfg.project, region=cfg.region, subnet_cidr=cfg.network.subnet_cidr,
        pods_cidr=cfg.network.pods_cidr, services_cidr=cfg.network.services_cidr),
        opts=pulumi.ResourceOptions(depends_on=apis.resources))

    c = cfg.cluster
    secrets_key = SecretsKey(f"{NAME}-kms", SecretsKeyArgs(
        project=cfg.project, region=cfg.region, key_ring_name=names.key_ring_name(stack)),
        opts=pulumi.ResourceOptions(depends_on=apis.resources)) if c.secrets_encryption else None
    cluster = Cluster(f"{NAME}-cluster", ClusterArgs(
        project=cfg.project, cluster_name=names.cluster_name(stack), location=cfg.location,
        node_locations=cfg.zones,
        network=network.network.id, subnet=network.subnet.id,
        master_cidr=cfg.network.master_cidr, private_endpoint=c.private_endpoint,
        authorized_networks=tuple((n.cidr, n.display_name) for n in c.authorized_networks),
        release_channel=c.release_channel, deletion_protection=c.deletion_protection,
        maintenance=MaintenanceArgs(c.maintenance_window.start_time,
                                    c.maintenance_window.duration_hours,
                                    c.maintenance_window.days),
        node_service_account=identity.node_sa.email, labels=labels,
        secrets_key=secrets_key.key.id if secrets_key else None,
        dcgm=any(p.is_gpu for p in cfg.node_pools)),
        # GKE checks at creation that its service agent may use the key.
        opts=pulumi.ResourceOptions(depends_on=[*apis.resources, network.nat,
                                                *([secrets_key.grant] if secrets_key else [])]))

    pools = []
    for pool in cfg.node_pools:
        pools.append(NodePool(f"{NAME}-{pool.name}", NodePoolArgs(
            pool_name=pool.name, project=cfg.project, cluster=cluster.name,
            location=cfg.location, node_locations=cfg.pool_zones(pool),
            machine_type=pool.machine_type, min_nodes=pool.min_nodes, max_nodes=pool.max_nodes,
            spot=pool.spot, disk_size_gb=pool.disk_size_gb, disk_type=pool.disk_type,
            service_account=identity.node_sa.email,
            labels={**pool.labels, "node-pool": pool.name},
            resource_labels={**labels, "node-pool": pool.name},
            taints=tuple((t.key, t.value, t.effect) for t in pool.taints),
            accelerator=_accelerator_args(pool),
            flex_start=_flex_start_args(pool),
        )))

    outputs: dict[str, Any] = {
        exports.CLUSTER_NAME: cluster.name,
        exports.CLUSTER_ENDPOINT: cluster.endpoint,
        exports.KUBECONFIG: cluster.kubeconfig,
        exports.NODE_SERVICE_ACCOUNT: identity.node_sa.email,
    }
    kf = cfg.kubeflow
    if any(kf.model_dump().values()):
        provider = k8s.Provider(f"{NAME}-k8s", kubeconfig=cluster.kubeconfig,
                                enable_server_side_apply=True)
        kubeflow = Kubeflow(f"{NAME}-kubeflow", KubeflowArgs(
            provider=provider, cert_manager=kf.cert_manager, pipelines=kf.pipelines,
            training_operator=kf.training_operator, katib=kf.katib, kserve=kf.kserve,
            kserve_runtimes=cfg.workloads.serving.enabled
            and cfg.workloads.serving.runtime == "tensorflow",
            workload_service_accounts={w: sa.email for w, sa in identity.workload_sas.items()},
            pipeline_root=storage.buckets["pipeline-root"].name.apply(lambda b: f"gs://{b}/"),
            kueue=kf.kueue, queues=tuple(queue_specs(cfg))),
            # Upstream controllers need nodes to run on before their installs count as ready.
            opts=pulumi.ResourceOptions(depends_on=pools))
        outputs[exports.KUBEFLOW_VERSIONS] = kubeflow.versions
        # Training runs are launched (pipeline, `mlp`, `helm install`), not declared: a stack
        # owns only what should exist for as long as the stack does.
        if cfg.workloads.serving.enabled:
            Cifar10(f"{NAME}-cifar10", Cifar10Args(
                provider=provider, config=cfg, registry_url=storage.registry_url,
                buckets={role: b.name for role, b in storage.buckets.items()},
                kubeflow=kubeflow))
    return outputs
