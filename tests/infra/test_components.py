"""Component properties, asserted on what the program declares under Pulumi's mocks."""

from __future__ import annotations

import pytest
import yaml

from facts.hardware import GPU_TAINT_KEY
from facts.identities import WORKLOADS
from facts.preview import UNKNOWN
from facts.stacks import REPO_ROOT, stack_path
from infra.components.identity import NODE_ROLES
from infra.config import MIN_BOOT_DISK_GB
from infra.stack_config import read_stack_file
from tests.infra.conftest import preview_of

POOL = "gcp:container/nodePool:NodePool"
CLUSTER = "gcp:container/cluster:Cluster"
BUCKET = "gcp:storage/bucket:Bucket"
STACKS = ("dev", "prod")


def _gpu_pools(stack: str, mode: str = "preview"):
    return [r for r in preview_of(stack, mode).of_type(POOL)
            if r.inputs["nodeConfig"].get("guestAccelerators")]


@pytest.mark.parametrize("stack", STACKS)
def test_every_gpu_pool_is_tainted_labelled_and_installs_drivers(stack):
    pools = _gpu_pools(stack)
    assert pools
    for pool in pools:
        node = pool.inputs["nodeConfig"]
        assert {"key": GPU_TAINT_KEY, "value": "present", "effect": "NO_SCHEDULE"} in node["taints"]
        (acc,) = node["guestAccelerators"]
        assert node["labels"]["ml-platform/accelerator"] == acc["type"]
        assert acc["gpuDriverInstallationConfig"]["gpuDriverVersion"] in ("DEFAULT", "LATEST")


@pytest.mark.parametrize("stack", STACKS)
def test_gpu_pools_scale_from_zero_and_start_empty(stack):
    for pool in _gpu_pools(stack):
        assert pool.inputs["autoscaling"]["totalMinNodeCount"] == 0
        assert pool.inputs["initialNodeCount"] == 0


def test_dev_gpu_pool_is_spot_with_any_location_policy():
    (pool,) = _gpu_pools("dev")
    assert pool.inputs["nodeConfig"]["spot"] is True
    assert pool.inputs["autoscaling"] == {"totalMinNodeCount": 0, "totalMaxNodeCount": 2,
                                          "locationPolicy": "ANY"}


def test_prod_cpu_pool_is_a_production_pool_one_node_per_zone():
    (cpu,) = [p for p in preview_of("prod").of_type(POOL) if p.inputs["name"] == "cpu"]
    assert len(cpu.inputs["nodeLocations"]) == 3 and cpu.inputs["initialNodeCount"] == 1
    assert cpu.inputs["autoscaling"]["totalMinNodeCount"] == 3
    # Large enough to pull the CUDA and TensorFlow images, on a disk that pulls them quickly.
    assert cpu.inputs["nodeConfig"]["diskSizeGb"] >= MIN_BOOT_DISK_GB
    assert cpu.inputs["nodeConfig"]["diskType"] != "pd-standard"


def test_the_studys_fixed_cluster_stays_in_the_cost_scenario_not_in_prod():
    scenario = yaml.safe_load((REPO_ROOT / "cost" / "scenarios" / "study-2024.yaml").read_text())
    (pool,) = scenario["fixed"]["node_pools"]
    assert (pool["machine_type"], pool["nodes"]) == ("n1-standard-32", 3)
    assert "n1-standard-32" not in {p.inputs["nodeConfig"]["machineType"]
                                    for p in preview_of("prod").of_type(POOL)}


@pytest.mark.parametrize("stack", STACKS)
def test_pools_update_in_place_when_min_nodes_changes(stack):
    """initialNodeCount forces a new pool in the provider; it is read at creation only."""
    for pool in preview_of(stack).of_type(POOL):
        assert "initialNodeCount" in pool.ignore_changes, pool.name
        # A fixed GKE name: a replacement must delete the old pool before creating the new one.
        assert pool.inputs["name"] and pool.delete_before_replace, pool.name


@pytest.mark.parametrize("stack", STACKS)
def test_cluster_ignores_its_removed_default_pool(stack):
    for cluster in preview_of(stack).of_type("gcp:container/cluster:Cluster"):
        assert cluster.inputs["removeDefaultNodePool"] is True
        assert {"nodeConfig", "initialNodeCount"} <= set(cluster.ignore_changes)


@pytest.mark.parametrize("stack", STACKS)
def test_nodes_are_hardened_and_run_as_the_dedicated_node_account(stack):
    preview = preview_of(stack, "apply")
    (node_sa,) = [r for r in preview.of_type("gcp:serviceaccount/account:Account")
                  if r.inputs["accountId"].endswith("-nodes")]
    email = f"{node_sa.inputs['accountId']}@{node_sa.inputs['project']}.iam.gserviceaccount.com"
    (cluster,) = preview.of_type(CLUSTER)
    for node in [p.inputs["nodeConfig"] for p in preview.of_type(POOL)] + [
            cluster.inputs["nodeConfig"]]:
        assert node["serviceAccount"] == email
        assert "compute@developer" not in node["serviceAccount"]
        assert node["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert node["shieldedInstanceConfig"] == {"enableSecureBoot": True,
                                                  "enableIntegrityMonitoring": True}
    for pool in preview.of_type(POOL):
        assert pool.inputs["nodeConfig"]["imageType"] == "COS_CONTAINERD"
        assert pool.inputs["management"] == {"autoRepair": True, "autoUpgrade": True}


@pytest.mark.parametrize("stack", STACKS)
def test_cluster_is_private_vpc_native_with_workload_identity(stack):
    preview = preview_of(stack)
    (cluster,) = preview.of_type(CLUSTER)
    i = cluster.inputs
    assert i["workloadIdentityConfig"]["workloadPool"] == f"{i['project']}.svc.id.goog"
    assert i["privateClusterConfig"]["enablePrivateNodes"] is True
    assert i["networkingMode"] == "VPC_NATIVE"
    assert i["ipAllocationPolicy"] == {"clusterSecondaryRangeName": "pods",
                                       "servicesSecondaryRangeName": "services"}
    assert i["removeDefaultNodePool"] is True and i["enableShieldedNodes"] is True
    assert i["enableLegacyAbac"] is False
    assert i["masterAuth"]["clientCertificateConfig"]["issueClientCertificate"] is False
    assert "0.0.0.0/0" not in str(i["masterAuthorizedNetworksConfig"])
    assert set(i["loggingConfig"]["enableComponents"]) >= {"SYSTEM_COMPONENTS", "WORKLOADS"}
    assert i["maintenancePolicy"]["recurringWindow"]["recurrence"].startswith("FREQ=WEEKLY")


def test_deletion_protection_and_channel_follow_config():
    dev, prod = (preview_of(s).of_type(CLUSTER)[0].inputs for s in STACKS)
    assert (dev["deletionProtection"], prod["deletionProtection"]) == (False, True)
    assert (dev["releaseChannel"]["channel"], prod["releaseChannel"]["channel"]) == (
        "REGULAR", "STABLE")
    assert dev["location"] == "us-central1-c" and prod["location"] == "us-central1"
    assert prod["maintenancePolicy"]["recurringWindow"] == {
        "startTime": "2024-01-06T02:00:00Z", "endTime": "2024-01-06T08:00:00Z",
        "recurrence": "FREQ=WEEKLY;BYDAY=SA,SU"}


def test_network_has_secondary_ranges_and_nat():
    preview = preview_of("dev")
    (subnet,) = preview.of_type("gcp:compute/subnetwork:Subnetwork")
    ranges = {r["rangeName"]: r["ipCidrRange"] for r in subnet.inputs["secondaryIpRanges"]}
    assert ranges == {"pods": "10.16.0.0/14", "services": "10.20.0.0/20"}
    assert subnet.inputs["privateIpGoogleAccess"] is True
    (nat,) = preview.of_type("gcp:compute/routerNat:RouterNat")
    assert nat.inputs["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    (cluster,) = preview.of_type(CLUSTER)
    assert nat.urn in cluster.depends_on


@pytest.mark.parametrize(("stack", "protected"), [("dev", False), ("prod", True)])
def test_buckets_are_private_versioned_and_protected_in_prod(stack, protected):
    preview = preview_of(stack)
    buckets = {r.inputs["labels"]["data-role"]: r for r in preview.of_type(BUCKET)}
    assert set(buckets) == {"datasets", "models", "pipeline-root"}
    for role, b in buckets.items():
        assert b.inputs["uniformBucketLevelAccess"] is True
        assert b.inputs["publicAccessPrevention"] == "enforced"
        assert b.inputs["forceDestroy"] is False
        assert b.inputs["versioning"]["enabled"] is (role != "pipeline-root")
        assert b.protect is protected
        assert b.inputs["labels"]["env"] == stack
    ages = [r["condition"].get("age") for r in buckets["pipeline-root"].inputs["lifecycleRules"]]
    assert ages == [7 if stack == "dev" else 30]
    (registry,) = preview.of_type("gcp:artifactregistry/repository:Repository")
    assert registry.protect is protected
    assert {p["id"] for p in registry.inputs["cleanupPolicies"]} == {"keep-recent",
                                                                     "delete-old-untagged"}


def test_workload_identity_bindings_match_the_workload_table():
    preview = preview_of("dev", "apply")
    project = preview_of("dev").of_type(CLUSTER)[0].inputs["project"]
    bindings = {r.inputs["member"]: r for r in
                preview.of_type("gcp:serviceaccount/iAMMember:IAMMember")}
    assert len(bindings) == sum(len(w.ksas) for w in WORKLOADS.values())
    for name, w in WORKLOADS.items():
        for ksa in w.ksas:
            binding = bindings[f"serviceAccount:{project}.svc.id.goog[{w.namespace}/{ksa}]"]
            assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
            assert f"mlp-dev-{name}@" in binding.inputs["serviceAccountId"]


def test_workloads_get_bucket_roles_only_and_nodes_only_the_minimal_role():
    preview = preview_of("dev", "apply")
    project_roles = {r.inputs["role"] for r in preview.of_type("gcp:projects/iAMMember:IAMMember")}
    assert project_roles == set(NODE_ROLES)
    role_of = {b.inputs["name"]: b.inputs["labels"]["data-role"] for b in preview.of_type(BUCKET)}
    members = preview.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    grants = {(r.inputs["member"].split(":")[1].split("@")[0], role_of[r.inputs["bucket"]],
               r.inputs["role"])
              for r in members if "condition" not in r.inputs}
    assert ("mlp-dev-serving", "models", "roles/storage.objectViewer") in grants
    assert not any(who == "mlp-dev-serving" and role != "roles/storage.objectViewer"
                   for who, _, role in grants)
    assert not any("admin" in role.lower() and who == "mlp-dev-serving" for who, _, role in grants)
    # The one conditional grant: the predictor may create objects under its feature log only.
    (log_writer,) = [r for r in members if "condition" in r.inputs]
    assert log_writer.inputs["member"].startswith("serviceAccount:mlp-dev-serving@")
    assert log_writer.inputs["role"] == "roles/storage.objectCreator"
    assert log_writer.inputs["condition"]["expression"] == (
        f'resource.name.startsWith("projects/_/buckets/{log_writer.inputs["bucket"]}/objects/'
        'cifar10/monitoring/features/")')
    # dev has no Vertex staging bucket, so grants on it are not declared.
    assert len(grants) == sum(len(set(w.bucket_roles) & set(role_of.values()))
                              for w in WORKLOADS.values())


def test_computed_values_stay_unknown_in_preview_mode():
    (pool, *_) = preview_of("dev").of_type(POOL)
    assert pool.inputs["nodeConfig"]["serviceAccount"] == UNKNOWN
    assert preview_of("dev").outputs["clusterEndpoint"] == UNKNOWN


def test_prod_encrypts_secrets_with_a_protected_kms_key_usable_by_gke_only():
    preview = preview_of("prod", "apply")
    (key,) = preview.of_type("gcp:kms/cryptoKey:CryptoKey")
    (ring,) = preview.of_type("gcp:kms/keyRing:KeyRing")
    (grant,) = preview.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    assert key.protect and ring.protect
    assert key.inputs["rotationPeriod"] == "7776000s"
    assert grant.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert grant.inputs["member"].endswith("@container-engine-robot.iam.gserviceaccount.com")
    (cluster,) = preview.of_type(CLUSTER)
    assert cluster.inputs["databaseEncryption"] == {"state": "ENCRYPTED",
                                                    "keyName": grant.inputs["cryptoKeyId"]}
    assert grant.urn in cluster.depends_on


def test_dev_opts_out_of_kms_and_enables_no_kms_api():
    preview = preview_of("dev")
    assert not preview.of_type("gcp:kms/keyRing:KeyRing")
    assert "databaseEncryption" not in preview.of_type(CLUSTER)[0].inputs
    services = {r.inputs["service"] for r in preview.of_type("gcp:projects/service:Service")}
    assert "cloudkms.googleapis.com" not in services


@pytest.mark.parametrize("stack", STACKS)
def test_budget_calls_carry_a_quota_project(stack):
    """With user credentials the Billing Budget API refuses calls that name no quota project."""
    preview = preview_of(stack)
    (budget,) = preview.of_type("gcp:billing/budget:Budget")
    (provider,) = [r for r in preview.resources if r.type == "pulumi:providers:gcp"]
    assert provider.parent == budget.parent
    assert provider.inputs["billingProject"] == provider.inputs["project"] == \
        read_stack_file(stack_path(stack)).platform().project
    assert provider.inputs["userProjectOverride"] == "true"
