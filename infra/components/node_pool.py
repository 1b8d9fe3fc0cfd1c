"""GKE node pools: CPU pools and GPU pools built by one parameterised component."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from facts.hardware import GPU_TAINT_KEY
from infra.components._opts import child_opts

CREATE_ONLY_INPUTS = ("initialNodeCount",)
"""Inputs read only when a pool is created; the provider would replace the pool on any change.
See the provider's note on `initial_node_count` (google_container_node_pool)."""

ACCELERATOR_LABEL = "ml-platform/accelerator"
"""Our own node label; GKE adds ``cloud.google.com/gke-accelerator`` by itself."""


@dataclass(frozen=True)
class AcceleratorArgs:
    type: str
    """GKE accelerator type, e.g. ``nvidia-tesla-t4``."""
    count: int
    driver_version: str
    """DEFAULT or LATEST: GKE installs the driver; never INSTALLATION_DISABLED here."""
    sharing_strategy: str | None = None
    """The GKE API's gpu_sharing_strategy (TIME_SHARING, MPS), or None for whole GPUs."""
    max_clients_per_gpu: int = 1


@dataclass(frozen=True)
class FlexStartArgs:
    """Dynamic Workload Scheduler flex-start, with or without queued provisioning."""

    queued: bool
    """Nodes only through a ProvisioningRequest (Kueue's admission check creates it)."""
    max_run_seconds: int | None
    """GKE removes a node after this long; None keeps GKE's default (seven days)."""
    reservation_affinity: str
    """Flex-start capacity never comes from a reservation (NO_RESERVATION)."""
    location_policy: str


@dataclass(frozen=True)
class NodePoolArgs:
    pool_name: str
    """The GKE pool name; nodes carry it as ``cloud.google.com/gke-nodepool``."""
    project: str
    cluster: pulumi.Input[str]
    location: str
    node_locations: tuple[str, ...]
    machine_type: str
    min_nodes: int
    """Total across zones. 0 lets a GPU pool cost nothing while idle."""
    max_nodes: int
    spot: bool
    disk_size_gb: int
    disk_type: str
    service_account: pulumi.Input[str]
    labels: dict[str, str]
    resource_labels: dict[str, str]
    taints: tuple[tuple[str, str, str], ...] = ()
    """(key, value, effect) in the GKE API's spelling, e.g. NO_SCHEDULE."""
    accelerator: AcceleratorArgs | None = None
    flex_start: FlexStartArgs | None = None


def initial_nodes_per_zone(min_nodes: int, zones: int) -> int:
    """Nodes per zone a new pool starts with: enough for `min_nodes` in all, none for 0."""
    return math.ceil(min_nodes / max(zones, 1))


class NodePool(pulumi.ComponentResource):
    """One autoscaled node pool on COS with containerd, shielded nodes and GKE metadata server.

    A GPU pool additionally gets its guest accelerators with GKE-managed driver installation, the
    ``nvidia.com/gpu=present:NoSchedule`` taint (so only pods that request GPUs land there) and an
    accelerator label for node selectors, and with sharing, GKE's time-sharing or MPS setting
    (GKE then labels the nodes with the strategy and the clients per GPU). Spot and flex-start
    pools use the ANY location policy so the autoscaler takes whichever zone has capacity;
    flex-start pools get the Dynamic Workload Scheduler provisioning model, their maximum run
    duration and, when queued, nodes only through a ProvisioningRequest.
    """

    pool: gcp.container.NodePool

    def __init__(self, name: str, args: NodePoolArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gke:NodePool", name, None, opts)
        acc = args.accelerator
        taints = list(args.taints)
        labels = dict(args.labels)
        accelerators = None
        flex = args.flex_start
        if acc is not None:
            if not any(key == GPU_TAINT_KEY for key, _, _ in taints):
                taints.append((GPU_TAINT_KEY, "present", "NO_SCHEDULE"))
            labels[ACCELERATOR_LABEL] = acc.type
            accelerators = [gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                type=acc.type,
                count=acc.count,
                gpu_driver_installation_config=gcp.container
                .NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                    gpu_driver_version=acc.driver_version),
                gpu_sharing_config=gcp.container
                .NodePoolNodeConfigGuestAcceleratorGpuSharingConfigArgs(
                    gpu_sharing_strategy=acc.sharing_strategy,
                    max_shared_clients_per_gpu=acc.max_clients_per_gpu)
                if acc.sharing_strategy else None,
            )]
        self.pool = gcp.container.NodePool(
            f"{name}-pool",
            name=args.pool_name,
            project=args.project,
            cluster=args.cluster,
            location=args.location,
            node_locations=list(args.node_locations),
            # Per zone. Explicit, so a pool that scales from 0 starts with no (GPU) node at all.
            # The provider replaces a pool whose initial_node_count changes; it matters only at
            # creation, so later changes of min_nodes are ignored here and reach the autoscaler.
            initial_node_count=initial_nodes_per_zone(args.min_nodes, len(args.node_locations)),
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=args.min_nodes,
                total_max_node_count=args.max_nodes,
                location_policy=flex.location_policy if flex
                else "ANY" if args.spot else "BALANCED",
            ),
            queued_provisioning=gcp.container.NodePoolQueuedProvisioningArgs(enabled=True)
            if flex and flex.queued else None,
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(
                strategy="SURGE", max_surge=1, max_unavailable=0),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=args.machine_type,
                image_type="COS_CONTAINERD",
                disk_size_gb=args.disk_size_gb,
                disk_type=args.disk_type,
                spot=args.spot,
                flex_start=True if flex else None,
                max_run_duration=f"{flex.max_run_seconds}s"
                if flex and flex.max_run_seconds else None,
                reservation_affinity=gcp.container.NodePoolNodeConfigReservationAffinityArgs(
                    consume_reservation_type=flex.reservation_affinity) if flex else None,
                service_account=args.service_account,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                labels=labels,
                resource_labels=args.resource_labels,
                taints=[gcp.container.NodePoolNodeConfigTaintArgs(key=k, value=v, effect=e)
                        for k, v, e in taints],
                guest_accelerators=accelerators,
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True),
                workload_metadata_config=gcp.container
                .NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
                metadata={"disable-legacy-endpoints": "true"},
            ),
            opts=child_opts(
                self, opts,
                ignore_changes=list(CREATE_ONLY_INPUTS),
                # The pool's name is fixed (node selectors and the cost report use it): a
                # replacement cannot create the new pool beside the old one.
                delete_before_replace=True),
        )
        self.register_outputs({"name": self.pool.name, "instance_groups":
                               self.pool.managed_instance_group_urls})
