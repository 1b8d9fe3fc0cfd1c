"""Compose the platform's components from a validated `PlatformConfig`.

The one function here is what `infra/__main__.py` runs; it returns the stack outputs so the
program stays a thin composition root and tests can call it directly under mocks.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra import exports
from infra.components.apis import Apis, ApisArgs
from infra.components.cluster import Cluster, ClusterArgs, MaintenanceArgs
from infra.components.identity import Identity, IdentityArgs
from infra.components.network import Network, NetworkArgs
from infra.components.node_pool import AcceleratorArgs, NodePool, NodePoolArgs
from infra.components.storage import Storage, StorageArgs
from infra.config import PlatformConfig

GKE_SERVICES: tuple[str, ...] = (
    "compute.googleapis.com",
    "container.googleapis.com",
    "iam.googleapis.com",
    "artifactregistry.googleapis.com",
    "storage.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
)


def build_platform(cfg: PlatformConfig, stack: str) -> dict[str, Any]:
    """Declare every resource of the GKE platform and return the stack outputs."""
    name = "mlp"
    labels = cfg.labels.as_gcp()
    apis = Apis(f"{name}-apis", ApisArgs(project=cfg.project, services=GKE_SERVICES))
    after_apis = pulumi.ResourceOptions(depends_on=apis.resources)

    network = Network(f"{name}-net", NetworkArgs(
        project=cfg.project, region=cfg.region, subnet_cidr=cfg.network.subnet_cidr,
        pods_cidr=cfg.network.pods_cidr, services_cidr=cfg.network.services_cidr),
        opts=after_apis)

    s = cfg.storage
    storage = Storage(f"{name}-storage", StorageArgs(
        project=cfg.project, region=cfg.region, name_prefix=f"{cfg.project}-{stack}",
        labels=labels, protect=s.protect,
        pipeline_root_retention_days=s.pipeline_root_retention_days,
        noncurrent_versions_kept=s.noncurrent_versions_kept,
        registry_keep_recent=s.registry_keep_recent,
        registry_untagged_max_age_days=s.registry_untagged_max_age_days),
        opts=after_apis)

    identity = Identity(f"{name}-identity", IdentityArgs(
        project=cfg.project, account_prefix=f"mlp-{stack}"[:18],
        buckets=storage.buckets, registry=storage.registry), opts=after_apis)

    c = cfg.cluster
    cluster = Cluster(f"{name}-cluster", ClusterArgs(
        project=cfg.project, cluster_name=f"mlp-{stack}", location=cfg.location,
        node_locations=cfg.zones,
        network=network.network.id, subnet=network.subnet.id,
        master_cidr=cfg.network.master_cidr, private_endpoint=c.private_endpoint,
        authorized_networks=tuple((n.cidr, n.display_name) for n in c.authorized_networks),
        release_channel=c.release_channel, deletion_protection=c.deletion_protection,
        maintenance=MaintenanceArgs(c.maintenance_window.start_time,
                                    c.maintenance_window.duration_hours,
                                    c.maintenance_window.days),
        node_service_account=identity.node_sa.email, labels=labels),
        opts=pulumi.ResourceOptions(depends_on=[*apis.resources, network.nat]))

    for pool in cfg.node_pools:
        acc = pool.accelerator
        NodePool(f"{name}-{pool.name}", NodePoolArgs(
            pool_name=pool.name, project=cfg.project, cluster=cluster.name, location=cfg.location,
            node_locations=cfg.pool_zones(pool), machine_type=pool.machine_type,
            min_nodes=pool.min_nodes, max_nodes=pool.max_nodes, spot=pool.spot,
            disk_size_gb=pool.disk_size_gb, disk_type=pool.disk_type,
            service_account=identity.node_sa.email,
            labels={**pool.labels, "node-pool": pool.name},
            resource_labels={**labels, "node-pool": pool.name},
            taints=tuple((t.key, t.value, t.effect) for t in pool.taints),
            accelerator=AcceleratorArgs(acc.type, acc.count, acc.driver_version) if acc else None,
        ))

    return {
        exports.CLUSTER_NAME: cluster.name,
        exports.CLUSTER_ENDPOINT: cluster.endpoint,
        exports.KUBECONFIG: cluster.kubeconfig,
        exports.REGISTRY_URL: storage.registry_url,
        exports.NODE_SERVICE_ACCOUNT: identity.node_sa.email,
        **{exports.bucket(role): b.name for role, b in storage.buckets.items()},
        **{exports.workload_service_account(w): sa.email
           for w, sa in identity.workload_sas.items()},
    }
