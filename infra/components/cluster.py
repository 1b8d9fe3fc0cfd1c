"""A private, VPC-native GKE Standard cluster with Workload Identity and no default node pool."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components._opts import child_opts
from infra.components.network import PODS_RANGE, SERVICES_RANGE

DEFAULT_POOL_INPUTS = ("initialNodeCount", "nodeConfig")
"""Inputs that describe only the default pool GKE creates and `remove_default_node_pool` deletes.

After the removal the provider reads them back from a pool that no longer exists, and both force
a new cluster on change, so a second `pulumi up` would plan to replace the cluster. They matter
at creation only (the one default node runs as the dedicated node account, not the Compute
Engine default), so the engine ignores later differences, as the provider's documentation for
separately managed node pools advises."""

# A fixed past date anchors the recurring maintenance window; only its time of day and the
# RRULE matter to GKE.
_WINDOW_ANCHOR = "2024-01-06"


@dataclass(frozen=True)
class MaintenanceArgs:
    start_time: str
    """HH:MM, UTC."""
    duration_hours: int
    days: tuple[str, ...]
    """RRULE weekday codes: MO … SU."""


@dataclass(frozen=True)
class ClusterArgs:
    project: str
    cluster_name: str
    """The GKE cluster's name, as `gcloud container clusters get-credentials` takes it."""
    location: str
    """A zone for a zonal cluster, the region for a regional one."""
    node_locations: tuple[str, ...]
    network: pulumi.Input[str]
    subnet: pulumi.Input[str]
    master_cidr: str
    private_endpoint: bool
    authorized_networks: tuple[tuple[str, str], ...]
    """(cidr, display name) pairs allowed to reach the control plane."""
    release_channel: str
    deletion_protection: bool
    maintenance: MaintenanceArgs
    node_service_account: pulumi.Input[str]
    """Used by the short-lived default pool GKE creates before it is removed."""
    labels: dict[str, str]
    secrets_key: pulumi.Input[str] | None = None
    """Cloud KMS key for application-layer Secrets encryption; None leaves it off."""
    dcgm: bool = False
    """Export GKE's managed DCGM metrics (GPU utilisation, memory) to managed Prometheus; for
    clusters with GPU pools."""


def _window(m: MaintenanceArgs) -> gcp.container.ClusterMaintenancePolicyArgs:
    hours, minutes = map(int, m.start_time.split(":"))
    end_total = hours * 60 + minutes + m.duration_hours * 60
    end_day = 6 + end_total // (24 * 60)
    end = f"2024-01-{end_day:02d}T{(end_total // 60) % 24:02d}:{end_total % 60:02d}:00Z"
    return gcp.container.ClusterMaintenancePolicyArgs(
        recurring_window=gcp.container.ClusterMaintenancePolicyRecurringWindowArgs(
            start_time=f"{_WINDOW_ANCHOR}T{m.start_time}:00Z",
            end_time=end,
            recurrence=f"FREQ=WEEKLY;BYDAY={','.join(m.days)}",
        ))


class Cluster(pulumi.ComponentResource):
    """The GKE control plane.

    GKE insists on creating a default pool; `remove_default_node_pool` deletes it once the cluster
    is up, and its one node still runs as the dedicated node account rather than the Compute
    Engine default. Node pools are separate `NodePool` components so they can change without
    touching the cluster.
    """

    cluster: gcp.container.Cluster
    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gke:Cluster", name, None, opts)
        self.cluster = gcp.container.Cluster(
            f"{name}-gke",
            name=args.cluster_name,
            project=args.project,
            location=args.location,
            node_locations=list(args.node_locations) if len(args.node_locations) > 1 else None,
            network=args.network,
            subnetwork=args.subnet,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=PODS_RANGE,
                services_secondary_range_name=SERVICES_RANGE,
            ),
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True,
                enable_private_endpoint=args.private_endpoint,
                master_ipv4_cidr_block=args.master_cidr,
            ),
            master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[
                    gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                        cidr_block=cidr, display_name=display)
                    for cidr, display in args.authorized_networks
                ],
            ),
            master_auth=gcp.container.ClusterMasterAuthArgs(
                client_certificate_config=gcp.container.ClusterMasterAuthClientCertificateConfigArgs(
                    issue_client_certificate=False)),
            enable_legacy_abac=False,
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{args.project}.svc.id.goog"),
            enable_shielded_nodes=True,
            # Dataplane V2 enforces NetworkPolicy without the Calico add-on.
            datapath_provider="ADVANCED_DATAPATH",
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=args.release_channel),
            logging_config=gcp.container.ClusterLoggingConfigArgs(
                enable_components=["SYSTEM_COMPONENTS", "WORKLOADS"]),
            monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                enable_components=["SYSTEM_COMPONENTS", *(["DCGM"] if args.dcgm else [])],
                managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(
                    enabled=True)),
            addons_config=gcp.container.ClusterAddonsConfigArgs(
                gce_persistent_disk_csi_driver_config=gcp.container
                .ClusterAddonsConfigGcePersistentDiskCsiDriverConfigArgs(enabled=True),
                gcs_fuse_csi_driver_config=gcp.container
                .ClusterAddonsConfigGcsFuseCsiDriverConfigArgs(enabled=True),
            ),
            binary_authorization=gcp.container.ClusterBinaryAuthorizationArgs(
                evaluation_mode="PROJECT_SINGLETON_POLICY_ENFORCE"),
            security_posture_config=gcp.container.ClusterSecurityPostureConfigArgs(
                mode="BASIC", vulnerability_mode="VULNERABILITY_BASIC"),
            vertical_pod_autoscaling=gcp.container.ClusterVerticalPodAutoscalingArgs(enabled=True),
            maintenance_policy=_window(args.maintenance),
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=args.node_service_account,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True),
                workload_metadata_config=gcp.container
                .ClusterNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
            ),
            database_encryption=gcp.container.ClusterDatabaseEncryptionArgs(
                state="ENCRYPTED", key_name=args.secrets_key) if args.secrets_key else None,
            resource_labels=args.labels,
            deletion_protection=args.deletion_protection,
            opts=child_opts(self, opts, ignore_changes=list(DEFAULT_POOL_INPUTS)),
        )
        self.name = self.cluster.name
        self.endpoint = self.cluster.endpoint
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(
            self.cluster.name, self.cluster.endpoint, self.cluster.master_auth,
        ).apply(lambda a: kubeconfig(a[0], a[1], (a[2] or {}).get("cluster_ca_certificate", ""))))
        self.register_outputs({
            "name": self.name, "endpoint": self.endpoint, "kubeconfig": self.kubeconfig,
        })


def kubeconfig(cluster_name: str, endpoint: str, ca_certificate: str) -> str:
    """A kubeconfig that authenticates through `gke-gcloud-auth-plugin`.

    The plugin gets short-lived tokens from the caller's gcloud credentials, so the file itself
    holds no secret beyond the cluster CA; it is still exported as a secret so the endpoint does
    not show in plain stack output.
    """
    context = f"gke_{cluster_name}"
    return "\n".join([
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        f"- name: {context}",
        "  cluster:",
        f"    certificate-authority-data: {ca_certificate}",
        f"    server: https://{endpoint}",
        "contexts:",
        f"- name: {context}",
        "  context:",
        f"    cluster: {context}",
        f"    user: {context}",
        f"current-context: {context}",
        "users:",
        f"- name: {context}",
        "  user:",
        "    exec:",
        "      apiVersion: client.authentication.k8s.io/v1beta1",
        "      command: gke-gcloud-auth-plugin",
        "      installHint: Install gke-gcloud-auth-plugin: "
        "gcloud components install gke-gcloud-auth-plugin",
        "      provideClusterInfo: true",
        "",
    ])
