"""Security policies (SEC-*): GKE clusters and node pools, buckets, registries, IAM, Vertex AI."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.base import (
    ADVISORY,
    MlpResourcePolicy,
    dig,
    is_map,
    items,
    make_rule,
    shown,
    truthy,
)

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
BUCKET = "gcp:storage/bucket:Bucket"
AI_ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
SA_KEY = "gcp:serviceaccount/key:Key"
PUBLIC_IAM_TYPES = (
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:storage/bucketIAMBinding:BucketIAMBinding",
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
    "gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding",
)
PROJECT_IAM_TYPES = (
    "gcp:projects/iAMMember:IAMMember",
    "gcp:projects/iAMBinding:IAMBinding",
    "gcp:organizations/iAMMember:IAMMember",
    "gcp:organizations/iAMBinding:IAMBinding",
    "gcp:folder/iAMMember:IAMMember",
    "gcp:folder/iAMBinding:IAMBinding",
)
PUBLIC_PRINCIPALS = ("allUsers", "allAuthenticatedUsers")
BASIC_ROLES = ("roles/owner", "roles/editor", "roles/viewer")
BROAD_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",
                "https://www.googleapis.com/auth/compute")
Props = Mapping[str, Any]


def node_configs(props: Props, resource_type: str) -> Iterator[tuple[str, Props]]:
    """The node configs a cluster or node pool declares, with their property path."""
    config = dig(props, "nodeConfig")
    if is_map(config):
        yield "nodeConfig", config
    elif resource_type == NODE_POOL or not truthy(dig(props, "removeDefaultNodePool")):
        # No nodeConfig: the pool (or the cluster's default pool) gets GKE's defaults.
        yield "nodeConfig", {}


def is_default_compute_sa(account: Any) -> bool:
    """No account (GKE then uses the Compute Engine default), "default", or the default's email."""
    return (account in (None, "", "default")
            or (isinstance(account, str)
                and account.endswith("-compute@developer.gserviceaccount.com")))


def _workload_identity(props: Props, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    if not dig(props, "workloadIdentityConfig", "workloadPool"):
        yield "workloadIdentityConfig.workloadPool is not set: pods would use the node's identity"


def _metadata_server(props: Props, _c: dict, args: ResourceValidationArgs) -> Iterator[str]:
    for path, config in node_configs(props, args.resource_type):
        mode = dig(config, "workloadMetadataConfig", "mode")
        if mode != "GKE_METADATA":
            yield f"{path}.workloadMetadataConfig.mode is {shown(mode)}, must be 'GKE_METADATA'"


def _private_nodes(props: Props, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    if not truthy(dig(props, "privateClusterConfig", "enablePrivateNodes")):
        yield "privateClusterConfig.enablePrivateNodes is not true: nodes get public IPs"


def _authorized_networks(props: Props, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    blocks = dig(props, "masterAuthorizedNetworksConfig", "cidrBlocks")
    if dig(props, "masterAuthorizedNetworksConfig") is None:
        yield "masterAuthorizedNetworksConfig is not set: the control plane accepts any address"
        return
    if truthy(dig(props, "masterAuthorizedNetworksConfig", "gcpPublicCidrsAccessEnabled")):
        yield "masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled opens the control " \
              "plane to all Google Cloud public IPs"
    for i, block in enumerate(items(blocks)):
        cidr = dig(block, "cidrBlock")
        try:
            network = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            yield f"cidrBlocks[{i}].cidrBlock {shown(cidr)} is not a CIDR range"
            continue
        if network.prefixlen == 0:
            yield f"cidrBlocks[{i}].cidrBlock {cidr} authorizes every address"


def _legacy_auth(props: Props, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    if truthy(dig(props, "enableLegacyAbac")):
        yield "enableLegacyAbac is true: legacy ABAC bypasses RBAC"
    if truthy(dig(props, "masterAuth", "clientCertificateConfig", "issueClientCertificate")):
        yield "masterAuth.clientCertificateConfig.issueClientCertificate is true"


def _network_policy(props: Props, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    dataplane_v2 = dig(props, "datapathProvider") == "ADVANCED_DATAPATH"
    calico = truthy(dig(props, "networkPolicy", "enabled"))
    if not (dataplane_v2 or calico):
        yield "neither Dataplane V2 (datapathProvider ADVANCED_DATAPATH) nor networkPolicy is " \
              "enabled: NetworkPolicy objects would not be enforced"


def _binary_authorization(props: Props, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    mode = dig(props, "binaryAuthorization", "evaluationMode")
    if mode != "PROJECT_SINGLETON_POLICY_ENFORCE":
        yield f"binaryAuthorization.evaluationMode is {shown(mode)}"


def _shielded_nodes(props: Props, _c: dict, args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == CLUSTER and dig(props, "enableShieldedNodes") is False:
        yield "enableShieldedNodes is false"
    for path, config in node_configs(props, args.resource_type):
        if not truthy(dig(config, "shieldedInstanceConfig", "enableSecureBoot")):
            yield f"{path}.shieldedInstanceConfig.enableSecureBoot is not true"
        if dig(config, "shieldedInstanceConfig", "enableIntegrityMonitoring") is False:
            yield f"{path}.shieldedInstanceConfig.enableIntegrityMonitoring is false"


def _cos_image(props: Props, _c: dict, args: ResourceValidationArgs) -> Iterator[str]:
    for path, config in node_configs(props, args.resource_type):
        image = dig(config, "imageType")
        # No imageType means GKE's default, which is COS_CONTAINERD.
        if image is not None and str(image).upper() != "COS_CONTAINERD":
            yield f"{path}.imageType is {shown(image)}, must be COS_CONTAINERD"


def _no_default_sa(props: Props, _c: dict, args: ResourceValidationArgs) -> Iterator[str]:
    for path, config in node_configs(props, args.resource_type):
        account = dig(config, "serviceAccount")
        if is_default_compute_sa(account):
            yield f"{path}.serviceAccount is {shown(account)}: nodes would run as the Compute " \
                  "Engine default service account (project Editor)"


def _broad_scopes(props: Props, _c: dict, args: ResourceValidationArgs) -> Iterator[str]:
    for path, config in node_configs(props, args.resource_type):
        broad = [s for s in items(dig(config, "oauthScopes")) if s in BROAD_SCOPES]
        # Scopes matter only with the default account; read the account only when they are broad.
        if broad and is_default_compute_sa(dig(config, "serviceAccount")):
            yield f"{path}.oauthScopes {broad} with the default compute service account"


def _no_alpha(props: Props, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    if truthy(dig(props, "enableKubernetesAlpha")):
        yield "enableKubernetesAlpha is true: alpha clusters are unsupported and expire"


def _secrets_encryption(props: Props, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    state = dig(props, "databaseEncryption", "state")
    if state != "ENCRYPTED" or not dig(props, "databaseEncryption", "keyName"):
        yield f"databaseEncryption.state is {shown(state)}: Secrets are not encrypted with a " \
              "Cloud KMS key at the application layer"


def _bucket_private(props: Props, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    if not truthy(dig(props, "uniformBucketLevelAccess")):
        yield "uniformBucketLevelAccess is not true: object ACLs could grant public access"
    prevention = dig(props, "publicAccessPrevention")
    if prevention != "enforced":
        yield f"publicAccessPrevention is {shown(prevention)}, must be 'enforced'"


def _members(props: Props) -> list[Any]:
    return [dig(props, "member")] if "member" in props else items(dig(props, "members"))


def _no_public_members(props: Props, _c: dict, args: ResourceValidationArgs) -> Iterator[str]:
    for member in _members(props):
        if member in PUBLIC_PRINCIPALS:
            kind = args.resource_type.rsplit(":", 1)[-1]
            yield f"{kind} grants {shown(dig(props, 'role'))} to {member}"


def _no_sa_keys(_p: Props, _c: dict, args: ResourceValidationArgs) -> Iterator[str]:
    yield f"service account key {args.name}: long-lived keys leak; use Workload Identity " \
          "(in GKE) or workload identity federation (in CI)"


def _no_basic_roles(props: Props, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    role = dig(props, "role")
    if role in BASIC_ROLES:
        yield f"basic role {role} granted at project/folder/organization level"
    elif isinstance(role, str) and role.lower().endswith("admin"):
        yield f"admin role {role} granted at project/folder/organization level"


def _vertex_private(props: Props, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    private = bool(dig(props, "network")) or truthy(
        dig(props, "privateServiceConnectConfig", "enablePrivateServiceConnect"))
    if not private:
        yield "endpoint is public: set network (VPC peering) or privateServiceConnectConfig"
    if not dig(props, "encryptionSpec", "kmsKeyName"):
        yield "encryptionSpec.kmsKeyName is not set: no customer-managed encryption key"


_rule = partial(make_rule, "security")


POLICIES = [
    MlpResourcePolicy(_rule(
        "SEC-01", "gke-workload-identity",
        "GKE clusters enable Workload Identity so pods get their own Google identity.",
        Severity.HIGH, "Set workload_identity_config.workload_pool = '<project>.svc.id.goog'.",
        "CIS GKE 5.2.2"), [CLUSTER], _workload_identity),
    MlpResourcePolicy(_rule(
        "SEC-02", "gke-metadata-server",
        "Node configs use the GKE metadata server (GKE_METADATA), hiding node credentials.",
        Severity.HIGH, "Set node_config.workload_metadata_config.mode = 'GKE_METADATA'.",
        "CKV_GCP_69"), [CLUSTER, NODE_POOL], _metadata_server),
    MlpResourcePolicy(_rule(
        "SEC-03", "gke-private-nodes", "GKE nodes have no public IP addresses.",
        Severity.HIGH, "Set private_cluster_config.enable_private_nodes = True and give nodes "
        "egress through Cloud NAT.", "CKV_GCP_64"), [CLUSTER], _private_nodes),
    MlpResourcePolicy(_rule(
        "SEC-04", "gke-authorized-networks",
        "The control plane accepts only listed networks, never 0.0.0.0/0.",
        Severity.CRITICAL, "List office/VPN ranges in master_authorized_networks_config; never "
        "a /0 range.", "CKV_GCP_20"), [CLUSTER], _authorized_networks),
    MlpResourcePolicy(_rule(
        "SEC-05", "gke-no-legacy-auth",
        "Legacy ABAC is off and no client certificate is issued.",
        Severity.HIGH, "Set enable_legacy_abac = False and "
        "master_auth.client_certificate_config.issue_client_certificate = False.",
        "CKV_GCP_7 / CKV_GCP_13"), [CLUSTER], _legacy_auth),
    MlpResourcePolicy(_rule(
        "SEC-06", "gke-network-policy",
        "NetworkPolicy is enforced (Dataplane V2 or the network policy add-on).",
        Severity.MEDIUM, "Set datapath_provider = 'ADVANCED_DATAPATH'."),
        [CLUSTER], _network_policy),
    MlpResourcePolicy(_rule(
        "SEC-07", "gke-binary-authorization",
        "Binary Authorization enforces the project's image policy.",
        Severity.MEDIUM, "Set binary_authorization.evaluation_mode = "
        "'PROJECT_SINGLETON_POLICY_ENFORCE' and define the project policy.",
        enforcement=ADVISORY), [CLUSTER], _binary_authorization),
    MlpResourcePolicy(_rule(
        "SEC-08", "gke-shielded-nodes",
        "Nodes are Shielded VMs with secure boot and integrity monitoring.",
        Severity.MEDIUM, "Keep enable_shielded_nodes on and set node_config."
        "shielded_instance_config(enable_secure_boot=True, enable_integrity_monitoring=True)."),
        [CLUSTER, NODE_POOL], _shielded_nodes),
    MlpResourcePolicy(_rule(
        "SEC-09", "gke-cos-containerd",
        "Nodes run Container-Optimized OS with containerd.",
        Severity.MEDIUM, "Set node_config.image_type = 'COS_CONTAINERD' (or leave it unset)."),
        [CLUSTER, NODE_POOL], _cos_image),
    MlpResourcePolicy(_rule(
        "SEC-10", "gke-no-default-node-sa",
        "Nodes run as a dedicated least-privilege service account, not the Compute default.",
        Severity.HIGH, "Create a node service account with roles/container."
        "defaultNodeServiceAccount and set node_config.service_account to its email."),
        [CLUSTER, NODE_POOL], _no_default_sa),
    MlpResourcePolicy(_rule(
        "SEC-11", "gke-no-broad-scopes-default-sa",
        "Broad OAuth scopes are never combined with the default compute service account.",
        Severity.HIGH, "Use a dedicated node service account (its IAM roles then bound the "
        "cloud-platform scope)."), [CLUSTER, NODE_POOL], _broad_scopes),
    MlpResourcePolicy(_rule(
        "SEC-12", "gke-no-alpha-features", "Clusters do not enable Kubernetes alpha features.",
        Severity.MEDIUM, "Remove enable_kubernetes_alpha."), [CLUSTER], _no_alpha),
    MlpResourcePolicy(_rule(
        "SEC-13", "gke-secrets-encryption",
        "Kubernetes Secrets are encrypted at the application layer with a Cloud KMS key.",
        Severity.MEDIUM, "Create a KMS key, grant the GKE service agent "
        "roles/cloudkms.cryptoKeyEncrypterDecrypter and set database_encryption(state="
        "'ENCRYPTED', key_name=...).", enforcement=ADVISORY), [CLUSTER], _secrets_encryption),
    MlpResourcePolicy(_rule(
        "SEC-14", "storage-bucket-private",
        "Buckets use uniform bucket-level access and enforce public access prevention.",
        Severity.HIGH, "Set uniform_bucket_level_access = True and "
        "public_access_prevention = 'enforced'."), [BUCKET], _bucket_private),
    MlpResourcePolicy(_rule(
        "SEC-15", "no-public-iam-members",
        "No allUsers / allAuthenticatedUsers on buckets or Artifact Registry repositories.",
        Severity.CRITICAL, "Grant roles to named service accounts or groups; share data with "
        "signed URLs instead of public grants."), PUBLIC_IAM_TYPES, _no_public_members),
    MlpResourcePolicy(_rule(
        "SEC-16", "iam-no-service-account-keys", "No service account keys are created.",
        Severity.HIGH, "Delete the key; use Workload Identity in GKE and workload identity "
        "federation in CI."), [SA_KEY], _no_sa_keys),
    MlpResourcePolicy(_rule(
        "SEC-17", "iam-no-basic-or-admin-roles",
        "No basic (owner/editor/viewer) or *Admin roles at project, folder or organization "
        "level.", Severity.HIGH, "Grant predefined least-privilege roles, scoped to the "
        "resource (bucket, repository) where possible."), PROJECT_IAM_TYPES, _no_basic_roles),
    MlpResourcePolicy(_rule(
        "SEC-18", "vertex-endpoint-private-cmek",
        "Vertex AI endpoints are private and encrypted with a customer-managed key.",
        Severity.MEDIUM, "Set network (or private_service_connect_config) and "
        "encryption_spec.kms_key_name.", enforcement=ADVISORY), [AI_ENDPOINT], _vertex_private),
]
