"""Every policy in the pack, on a resource that passes and one that fails.

Each case names a policy, the resources it should accept, and resources it should reject with a
message containing `expect`. `test_every_policy_has_a_case` keeps the table complete.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.policies.conftest import (
    POLICIES,
    container,
    deployment,
    experiment,
    isvc,
    job,
    pod_spec,
    resource,
    run,
    tfjob,
)

CLUSTER = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
BUCKET = "gcp:storage/bucket:Bucket"
LABELS = {"cost-center": "ml", "team": "ml-platform", "env": "prod"}
NODE_CONFIG = {
    "machineType": "n1-standard-8", "serviceAccount": "nodes@p.iam.gserviceaccount.com",
    "oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"],
    "imageType": "COS_CONTAINERD", "workloadMetadataConfig": {"mode": "GKE_METADATA"},
    "shieldedInstanceConfig": {"enableSecureBoot": True, "enableIntegrityMonitoring": True},
    "resourceLabels": LABELS,
}
GOOD_CLUSTER = {
    "name": "c", "location": "us-central1", "releaseChannel": {"channel": "REGULAR"},
    "workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"},
    "privateClusterConfig": {"enablePrivateNodes": True},
    "masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "203.0.113.0/24"}]},
    "enableLegacyAbac": False,
    "masterAuth": {"clientCertificateConfig": {"issueClientCertificate": False}},
    "datapathProvider": "ADVANCED_DATAPATH",
    "binaryAuthorization": {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"},
    "databaseEncryption": {"state": "ENCRYPTED", "keyName": "projects/p/locations/l/keyRings/"
                                                            "k/cryptoKeys/gke"},
    "enableShieldedNodes": True, "removeDefaultNodePool": True, "nodeConfig": NODE_CONFIG,
    "loggingConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
    "resourceLabels": LABELS,
}
GOOD_POOL = {
    "cluster": "c", "location": "us-central1", "nodeLocations": ["us-central1-c"],
    "initialNodeCount": 0,
    "autoscaling": {"totalMinNodeCount": 0, "totalMaxNodeCount": 2},
    "management": {"autoRepair": True, "autoUpgrade": True},
    "nodeConfig": {**NODE_CONFIG, "spot": True, "labels": {"workload": "training"},
                   "guestAccelerators": [{"type": "nvidia-tesla-t4", "count": 1,
                                          "gpuDriverInstallationConfig": {
                                              "gpuDriverVersion": "DEFAULT"}}]},
}
GOOD_BUCKET = {"name": "b", "location": "US", "uniformBucketLevelAccess": True,
               "publicAccessPrevention": "enforced", "labels": LABELS}
BUDGET = {"billingAccount": "000000-000000-000000",
          "amount": {"specifiedAmount": {"currencyCode": "USD", "units": "500"}},
          "thresholdRules": [{"thresholdPercent": 0.5}, {"thresholdPercent": 1.0}]}


def patch(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy with `a.b.c` set (or deleted when value is DELETE)."""
    out = copy.deepcopy(obj)
    *head, last = path.split(".")
    target = out
    for key in head:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is DELETE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return out


DELETE = object()
# A time-shared T4 pool (4 clients per GPU) named gpu-t4-shared, and a flex-start L4 pool.
SHARED_POOL = patch(patch(GOOD_POOL, "name", "gpu-t4-shared"),
                    "nodeConfig.guestAccelerators.0.gpuSharingConfig",
                    {"gpuSharingStrategy": "TIME_SHARING", "maxSharedClientsPerGpu": 4})
WHOLE_POOL = patch(GOOD_POOL, "name", "gpu-t4")
FLEX_POOL = patch(patch(patch(GOOD_POOL, "nodeConfig.spot", False), "nodeConfig.flexStart", True),
                  "nodeConfig.maxRunDuration", "86400s")
K8S = "kubernetes:"
TFJOB, EXPERIMENT, ISVC = (f"{K8S}kubeflow.org/v1:TFJob", f"{K8S}kubeflow.org/v1beta1:Experiment",
                           f"{K8S}serving.kserve.io/v1beta1:InferenceService")
DEPLOY, JOB = f"{K8S}apps/v1:Deployment", f"{K8S}batch/v1:Job"
PRIVILEGED = container() | {"securityContext": {"privileged": True}}
ROOT = container() | {"securityContext": {**container()["securityContext"], "runAsNonRoot": False}}
W = "spec.tfReplicaSpecs.Worker.template.spec"


def tf_container(**changes: Any) -> dict[str, Any]:
    return tfjob(pod_spec(container(gpus=1) | changes, gpu_node=True))


# (policy, good resources, bad resources, expected message fragment)
CASES: list[tuple[str, list, list, str]] = [
    ("gke-workload-identity", [(CLUSTER, GOOD_CLUSTER)],
     [(CLUSTER, patch(GOOD_CLUSTER, "workloadIdentityConfig", DELETE))], "workloadPool"),
    ("gke-metadata-server", [(POOL, GOOD_POOL)],
     [(POOL, patch(GOOD_POOL, "nodeConfig.workloadMetadataConfig.mode", "GCE_METADATA"))],
     "GKE_METADATA"),
    ("gke-private-nodes", [(CLUSTER, GOOD_CLUSTER)],
     [(CLUSTER, patch(GOOD_CLUSTER, "privateClusterConfig.enablePrivateNodes", False))],
     "enablePrivateNodes"),
    ("gke-authorized-networks", [(CLUSTER, GOOD_CLUSTER)],
     [(CLUSTER, patch(GOOD_CLUSTER, "masterAuthorizedNetworksConfig.cidrBlocks",
                      [{"cidrBlock": "0.0.0.0/0"}]))], "every address"),
    ("gke-no-legacy-auth", [(CLUSTER, GOOD_CLUSTER)],
     [(CLUSTER, patch(GOOD_CLUSTER, "enableLegacyAbac", True))], "ABAC"),
    ("gke-network-policy", [(CLUSTER, GOOD_CLUSTER)],
     [(CLUSTER, patch(GOOD_CLUSTER, "datapathProvider", "LEGACY_DATAPATH"))], "Dataplane V2"),
    ("gke-binary-authorization", [(CLUSTER, GOOD_CLUSTER)],
     [(CLUSTER, patch(GOOD_CLUSTER, "binaryAuthorization", DELETE))], "evaluationMode"),
    ("gke-shielded-nodes", [(POOL, GOOD_POOL)],
     [(POOL, patch(GOOD_POOL, "nodeConfig.shieldedInstanceConfig.enableSecureBoot", False))],
     "enableSecureBoot"),
    ("gke-cos-containerd", [(POOL, GOOD_POOL), (POOL, patch(GOOD_POOL, "nodeConfig.imageType",
                                                           DELETE))],
     [(POOL, patch(GOOD_POOL, "nodeConfig.imageType", "UBUNTU_CONTAINERD"))], "COS_CONTAINERD"),
    ("gke-no-default-node-sa", [(POOL, GOOD_POOL)],
     [(POOL, patch(GOOD_POOL, "nodeConfig.serviceAccount", DELETE)),
      (POOL, patch(GOOD_POOL, "nodeConfig.serviceAccount",
                   "123-compute@developer.gserviceaccount.com"))], "default"),
    ("gke-no-broad-scopes-default-sa", [(POOL, GOOD_POOL)],
     [(POOL, patch(GOOD_POOL, "nodeConfig.serviceAccount", "default"))], "oauthScopes"),
    ("gke-no-alpha-features", [(CLUSTER, GOOD_CLUSTER)],
     [(CLUSTER, patch(GOOD_CLUSTER, "enableKubernetesAlpha", True))], "alpha"),
    ("gke-secrets-encryption", [(CLUSTER, GOOD_CLUSTER)],
     [(CLUSTER, patch(GOOD_CLUSTER, "databaseEncryption", DELETE))], "KMS"),
    ("storage-bucket-private", [(BUCKET, GOOD_BUCKET)],
     [(BUCKET, patch(GOOD_BUCKET, "publicAccessPrevention", "inherited"))], "enforced"),
    ("no-public-iam-members",
     [("gcp:storage/bucketIAMMember:BucketIAMMember",
       {"bucket": "b", "role": "roles/storage.objectViewer", "member": "group:ml@example.com"})],
     [("gcp:storage/bucketIAMMember:BucketIAMMember",
       {"bucket": "b", "role": "roles/storage.objectViewer", "member": "allUsers"}),
      ("gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding",
       {"repository": "r", "role": "roles/artifactregistry.reader",
        "members": ["allAuthenticatedUsers"]})], "all"),
    ("iam-no-service-account-keys",
     [("gcp:serviceaccount/account:Account", {"accountId": "trainer"})],
     [("gcp:serviceaccount/key:Key", {"serviceAccountId": "trainer"})], "key"),
    ("iam-no-basic-or-admin-roles",
     [("gcp:projects/iAMMember:IAMMember",
       {"project": "p", "role": "roles/container.defaultNodeServiceAccount", "member": "x"})],
     [("gcp:projects/iAMMember:IAMMember", {"project": "p", "role": "roles/editor",
                                            "member": "x"}),
      ("gcp:projects/iAMMember:IAMMember", {"project": "p", "role": "roles/storage.admin",
                                            "member": "x"})], "role"),
    ("vertex-endpoint-private-cmek",
     [("gcp:vertex/aiEndpoint:AiEndpoint",
       {"name": "123", "network": "projects/1/global/networks/vpc",
        "encryptionSpec": {"kmsKeyName": "projects/p/locations/l/keyRings/k/cryptoKeys/v"}})],
     [("gcp:vertex/aiEndpoint:AiEndpoint", {"name": "123", "displayName": "cifar10"})],
     "public"),
    ("workload-pod-templates-readable", [(TFJOB, tfjob()), (EXPERIMENT, experiment()),
                                         (ISVC, isvc())],
     [(TFJOB, patch(tfjob(), "spec.tfReplicaSpecs", DELETE)),
      (EXPERIMENT, patch(experiment(), "spec.trialTemplate",
                         {"configMap": {"configMapName": "trial-template"}})),
      (ISVC, patch(isvc(), "spec.predictor", DELETE))], "spec"),
    ("workload-no-privileged", [(TFJOB, tfjob())],
     [(TFJOB, tfjob(pod_spec(PRIVILEGED))),
      (EXPERIMENT, experiment(tfjob(pod_spec(PRIVILEGED)))),
      (DEPLOY, patch(deployment(), "spec.template.spec.hostNetwork", True))], "spec."),
    ("workload-restricted-security-context", [(TFJOB, tfjob()), (ISVC, isvc())],
     [(TFJOB, tfjob(pod_spec(ROOT))),
      (ISVC, patch(isvc(), "spec.predictor.model.securityContext", DELETE))], "root"),
    ("workload-read-only-root-fs", [(JOB, job())],
     [(JOB, patch(job(), "spec.template.spec.containers.0.securityContext."
                         "readOnlyRootFilesystem", False))], "writable"),
    ("workload-resources", [(DEPLOY, deployment())],
     [(DEPLOY, patch(deployment(), "spec.template.spec.containers.0.resources", DELETE))],
     "requests.cpu"),
    ("workload-image-pinned",
     [(TFJOB, tf_container(image="us-docker.pkg.dev/p/r/trainer@sha256:" + "a" * 64))],
     [(TFJOB, tf_container(image="us-docker.pkg.dev/p/r/trainer:latest")),
      (TFJOB, tf_container(image="us-docker.pkg.dev/p/r/trainer"))], "not pinned"),
    ("workload-image-allowed-registry",
     [(TFJOB, tf_container(image="kserve/sklearnserver:v0.15.0"))],
     [(TFJOB, tf_container(image="evil.example.com/miner:1.0")),
      (TFJOB, tf_container(image="python:3.11"))], "allowedRegistries"),
    ("gpu-limits-valid", [(TFJOB, tfjob())],
     [(TFJOB, tf_container(resources={"limits": {"nvidia.com/gpu": "0.5"}})),
      (TFJOB, tf_container(resources={"limits": {"nvidia.com/gpu": 2},
                                      "requests": {"nvidia.com/gpu": 1}})),
      (TFJOB, tf_container(resources={"limits": {"nvidia.com/gpu": 16}}))], "nvidia.com/gpu"),
    ("gpu-node-selection-requests-gpu", [(TFJOB, tfjob())],
     [(TFJOB, tfjob(pod_spec(container(), gpu_node=True)))], "GPU nodes"),
    ("workload-namespace-and-ksa", [(DEPLOY, deployment())],
     [(DEPLOY, patch(deployment(), "metadata.namespace", "default")),
      (DEPLOY, patch(deployment(), "spec.template.spec.serviceAccountName", DELETE))],
     " is "),
    ("serving-probes-and-replicas", [(DEPLOY, deployment()), (ISVC, isvc())],
     [(DEPLOY, patch(deployment(), "spec.template.spec.containers.0.readinessProbe", DELETE)),
      (ISVC, patch(isvc(), "spec.predictor.minReplicas", 1))], "spec"),
    ("no-loadbalancer-services",
     [("kubernetes:core/v1:Service", {"metadata": {"name": "s", "annotations": {
         "networking.gke.io/load-balancer-type": "Internal"}}, "spec": {"type": "LoadBalancer"}})],
     [("kubernetes:core/v1:Service", {"metadata": {"name": "s"},
                                      "spec": {"type": "LoadBalancer"}})], "LoadBalancer"),
    ("gke-release-channel-and-observability", [(CLUSTER, GOOD_CLUSTER)],
     [(CLUSTER, patch(GOOD_CLUSTER, "releaseChannel.channel", "UNSPECIFIED")),
      (CLUSTER, patch(GOOD_CLUSTER, "loggingService", "none"))], "'"),
    ("gke-node-auto-repair-upgrade", [(POOL, GOOD_POOL)],
     [(POOL, patch(GOOD_POOL, "management.autoUpgrade", False))], "autoUpgrade"),
    ("gpu-pool-drivers", [(POOL, GOOD_POOL)],
     [(POOL, patch(GOOD_POOL, "nodeConfig.guestAccelerators.0.gpuDriverInstallationConfig",
                   DELETE))], "driver"),
    ("gke-remove-default-pool", [(CLUSTER, GOOD_CLUSTER)],
     [(CLUSTER, patch(GOOD_CLUSTER, "removeDefaultNodePool", DELETE))], "default pool"),
    ("gpu-pool-autoscale-from-zero", [(POOL, GOOD_POOL)],
     [(POOL, patch(GOOD_POOL, "autoscaling", DELETE)),
      (POOL, patch(GOOD_POOL, "autoscaling.totalMinNodeCount", 1))], "GPU pool"),
    ("node-pool-caps", [(POOL, GOOD_POOL)],
     [(POOL, patch(GOOD_POOL, "autoscaling.totalMaxNodeCount", 20)),
      (POOL, patch(patch(GOOD_POOL, "autoscaling", {"minNodeCount": 0, "maxNodeCount": 4}),
                   "nodeLocations", ["us-central1-a", "us-central1-b", "us-central1-c"]))],
     "above max"),
    ("node-pool-allowed-hardware", [(POOL, GOOD_POOL)],
     [(POOL, patch(GOOD_POOL, "nodeConfig.machineType", "a3-highgpu-8g")),
      (POOL, patch(GOOD_POOL, "nodeConfig.guestAccelerators.0.type", "nvidia-h100-80gb"))],
     "outside allowed"),
    ("gpu-training-pools-spot", [(POOL, GOOD_POOL), (POOL, FLEX_POOL)],
     [(POOL, patch(GOOD_POOL, "nodeConfig.spot", False))], "on-demand"),
    ("flex-start-run-limit", [(POOL, FLEX_POOL), (POOL, GOOD_POOL)],
     [(POOL, patch(FLEX_POOL, "nodeConfig.maxRunDuration", DELETE)),
      (POOL, patch(FLEX_POOL, "nodeConfig.maxRunDuration", "700000s")),
      (POOL, patch(FLEX_POOL, "nodeConfig.maxRunDuration", "1d"))], "maxRunDuration"),
    ("required-cost-labels", [(BUCKET, GOOD_BUCKET), (POOL, GOOD_POOL)],
     [(BUCKET, patch(GOOD_BUCKET, "labels", {"team": "x"})),
      (POOL, patch(GOOD_POOL, "nodeConfig.resourceLabels.env", ""))], "lacks"),
    ("job-run-limits", [(JOB, job()), (TFJOB, tfjob()), (EXPERIMENT, experiment()),
                        (EXPERIMENT, experiment(patch(tfjob(), "spec.runPolicy."
                                                      "ttlSecondsAfterFinished", DELETE)))],
     [(JOB, patch(job(), "spec.activeDeadlineSeconds", DELETE)),
      (TFJOB, patch(tfjob(), "spec.runPolicy.backoffLimit", 10)),
      (EXPERIMENT, experiment(patch(tfjob(), "spec.runPolicy", {}))),
      (EXPERIMENT, patch(experiment(patch(tfjob(), "spec.runPolicy.ttlSecondsAfterFinished",
                                          DELETE)), "spec.trialTemplate.retain", True))],
     "spec"),
    ("katib-trial-caps", [(EXPERIMENT, experiment())],
     [(EXPERIMENT, patch(experiment(), "spec.maxTrialCount", 500)),
      (EXPERIMENT, patch(experiment(), "spec.parallelTrialCount", DELETE))], "spec."),
    ("kserve-max-replicas", [(ISVC, isvc())],
     [(ISVC, patch(isvc(), "spec.predictor.maxReplicas", DELETE)),
      (ISVC, patch(isvc(), "spec.predictor.maxReplicas", 40))], "maxReplicas"),
]
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"
ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
CHANNELS = ["projects/p/notificationChannels/1"]
SERVING_ALERT = {"combiner": "OR", "notificationChannels": CHANNELS, "conditions": [{
    "displayName": "errors", "conditionPrometheusQueryLanguage": {
        "query": 'sum(rate(cifar10_http_requests_total{code=~"5.."}[5m])) > 0.01'}}]}
VERTEX_ALERT = {"combiner": "OR", "notificationChannels": CHANNELS, "conditions": [{
    "displayName": "latency", "conditionThreshold": {
        "filter": 'metric.type="aiplatform.googleapis.com/prediction/online/'
                  'prediction_latencies"'}}]}
DRIFT_ALERT = {"combiner": "OR", "notificationChannels": CHANNELS, "conditions": [{
    "displayName": "drift", "conditionThreshold": {
        "filter": 'metric.type="logging.googleapis.com/user/drift"'}}]}


def _on(pool: str | None = None, gpus: int = 2,
        labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A TFJob asking for `gpus` T4s, pinned to `pool` when given, with extra node labels."""
    spec = pod_spec(container(gpus=gpus), gpu_node=True)
    if pool:
        spec["nodeSelector"]["cloud.google.com/gke-nodepool"] = pool
    spec["nodeSelector"] |= labels or {}
    return tfjob(spec)


STACK_CASES: list[tuple[str, list, list, str]] = [
    ("shared-gpu-single-device",
     [[(POOL, SHARED_POOL), (TFJOB, _on(gpus=1))],
      [(POOL, SHARED_POOL), (POOL, WHOLE_POOL), (TFJOB, _on("gpu-t4"))],
      [(POOL, WHOLE_POOL), (TFJOB, _on())]],
     [[(POOL, SHARED_POOL), (TFJOB, _on())],
      [(POOL, SHARED_POOL), (POOL, WHOLE_POOL), (TFJOB, _on("gpu-t4-shared"))],
      [(POOL, SHARED_POOL), (TFJOB, _on(labels={"cloud.google.com/gke-gpu-sharing-strategy":
                                                 "time-sharing"}))]],
     "shared"),
    ("serving-disruption-budget",
     [[(DEPLOY, deployment()), ("kubernetes:policy/v1:PodDisruptionBudget", {
         "metadata": {"name": "web", "namespace": "ml-serving"},
         "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}})],
      [(DEPLOY, deployment(replicas=1))]],
     [[(DEPLOY, deployment())],
      [(ISVC, isvc()), ("kubernetes:policy/v1:PodDisruptionBudget", {
          "metadata": {"name": "other", "namespace": "ml-serving"},
          "spec": {"selector": {"matchLabels": {"app": "other"}}}})]],
     "PodDisruptionBudget"),
    ("stack-has-billing-budget", [[("gcp:billing/budget:Budget", BUDGET)]],
     [[(BUCKET, GOOD_BUCKET)],
      [("gcp:billing/budget:Budget", patch(BUDGET, "thresholdRules", []))]], "budget"),
    # GOOD_POOL at its maximum, 2 spot n1-standard-8 + T4 nodes all month with 100 GB disks:
    # 2 × 730 h × (0.13402 + 0.14) + 2 × 100 GB × 0.10 = 420.07 USD (prices 2026-07-30).
    ("plan-within-budget-at-max-size",
     [[("gcp:billing/budget:Budget", BUDGET), (POOL, GOOD_POOL)],
      [("gcp:billing/budget:Budget", patch(BUDGET, "amount.specifiedAmount.units", "421")),
       (POOL, GOOD_POOL)],
      [(POOL, GOOD_POOL)]],
     [[("gcp:billing/budget:Budget", patch(BUDGET, "amount.specifiedAmount.units", "420")),
       (POOL, GOOD_POOL)],
      [("gcp:billing/budget:Budget", BUDGET),
       (POOL, patch(GOOD_POOL, "autoscaling.totalMaxNodeCount", 3))]],
     "maximum size costs"),
    ("serving-alert",
     [[(ISVC, isvc()), (ALERT, SERVING_ALERT)],
      [(ENDPOINT, {"name": "123", "region": "us-central1"}), (ALERT, VERTEX_ALERT)],
      [(BUCKET, GOOD_BUCKET)]],
     [[(ISVC, isvc())],
      [(ISVC, isvc()), (ALERT, patch(SERVING_ALERT, "notificationChannels", []))],
      [(ISVC, isvc()), (ALERT, DRIFT_ALERT)],
      [(ENDPOINT, {"name": "123", "region": "us-central1"}), (ALERT, DRIFT_ALERT)]],
     "no alert policy on serving"),
]


# Thresholds tighter than the pack's defaults, as a prod stack sets them.
CONFIG = {"serving-probes-and-replicas": {"serving-probes-and-replicas": {"minReplicas": 2}}}


def _resources(pairs: list) -> list:
    return [resource(t, props, name=f"r{i}") for i, (t, props) in enumerate(pairs)]


@pytest.mark.parametrize(("policy", "good", "bad", "expect"), CASES, ids=[c[0] for c in CASES])
def test_resource_policy(policy: str, good: list, bad: list, expect: str) -> None:
    for t, props in good:
        report = run(policy, _resources([(t, props)]), CONFIG.get(policy))
        assert report.violations == [], (t, report.violations)
        assert report.checks == int(POLICIES[policy].applies_to(t))
        assert not report.not_applicable
    for t, props in bad:
        report = run(policy, _resources([(t, props)]), CONFIG.get(policy))
        assert report.mandatory, (t, props)
        assert any(expect in v.message for v in report.violations), report.violations


@pytest.mark.parametrize(("policy", "goods", "bads", "expect"), STACK_CASES,
                         ids=[c[0] for c in STACK_CASES])
def test_stack_policy(policy: str, goods: list, bads: list, expect: str) -> None:
    for good in goods:
        assert run(policy, _resources(good)).violations == []
    for bad in bads:
        report = run(policy, _resources(bad))
        assert report.mandatory and any(expect in v.message for v in report.violations)


def test_every_policy_has_a_case() -> None:
    covered = {c[0] for c in CASES} | {c[0] for c in STACK_CASES}
    assert covered == set(POLICIES)


def test_caps_count_a_regional_pool_in_every_catalogued_zone_of_its_region() -> None:
    from facts.hardware import catalog

    zones = len(catalog().zones("us-central1"))
    per_zone = patch(GOOD_POOL, "autoscaling", {"minNodeCount": 0, "maxNodeCount": 3})
    regional = patch(per_zone, "nodeLocations", DELETE)
    messages = [v.message for v in run("node-pool-caps", _resources([(POOL, regional)])).violations]
    assert messages[0] == f"pool can grow to {3 * zones} nodes, above maxNodesPerPool 10"
    unknown = patch(regional, "location", "mars-north1")
    report = run("node-pool-caps", _resources([(POOL, unknown)]))
    assert report.violations == []
    [na] = report.not_applicable
    assert "zone count is unknown" in na.reason


def test_budget_at_max_size_prices_every_pool_at_its_maximum() -> None:
    # 2 × 730 h × (0.13402 + 0.14) + 2 × 100 GB × 0.10 = 420.0692; 3 nodes: 630.1038.
    budget = ("gcp:billing/budget:Budget", patch(BUDGET, "amount.specifiedAmount.units", "100"))
    for nodes, total in ((2, "420.07"), (3, "630.10")):
        pool = (POOL, patch(GOOD_POOL, "autoscaling.totalMaxNodeCount", nodes))
        [v] = run("plan-within-budget-at-max-size", _resources([budget, pool])).violations
        assert f"costs {total} USD a month" in v.message, v.message
        assert "above the budget of 100.00 USD" in v.message


# Values a user left out: each message must say so in the stack file's words, not Python's.
ABSENT_CASES = [
    ("gke-metadata-server", POOL, patch(GOOD_POOL, "nodeConfig.workloadMetadataConfig", DELETE),
     "nodeConfig.workloadMetadataConfig.mode is not set (null), must be 'GKE_METADATA'"),
    ("gke-binary-authorization", CLUSTER, patch(GOOD_CLUSTER, "binaryAuthorization", DELETE),
     "binaryAuthorization.evaluationMode is not set (null)"),
    ("gke-secrets-encryption", CLUSTER, patch(GOOD_CLUSTER, "databaseEncryption", DELETE),
     "databaseEncryption.state is not set (null): Secrets are not encrypted"),
    ("storage-bucket-private", BUCKET, patch(GOOD_BUCKET, "publicAccessPrevention", None),
     "publicAccessPrevention is not set (null), must be 'enforced'"),
    ("gke-release-channel-and-observability", CLUSTER,
     patch(GOOD_CLUSTER, "releaseChannel", DELETE), "releaseChannel.channel is not set (null)"),
    ("gpu-pool-drivers", POOL,
     patch(GOOD_POOL, "nodeConfig.guestAccelerators.0.gpuDriverInstallationConfig", DELETE),
     "('nvidia-tesla-t4') gpuDriverVersion is not set (null)"),
    ("workload-namespace-and-ksa", TFJOB,
     tfjob(pod_spec(container(gpus=1), gpu_node=True) | {"serviceAccountName": None}),
     "serviceAccountName is not set (null)"),
]


@pytest.mark.parametrize(("policy", "type_", "props", "expect"), ABSENT_CASES,
                         ids=[c[0] for c in ABSENT_CASES])
def test_messages_spell_absent_values_as_written_not_as_python(policy: str, type_: str,
                                                               props: dict, expect: str) -> None:
    messages = [v.message for v in run(policy, _resources([(type_, props)])).violations]
    assert any(expect in m for m in messages), messages
    assert not any("None" in m for m in messages), messages


def test_shown_spells_values_as_yaml_and_json_do() -> None:
    from policies.base import shown

    assert [shown(None), shown(True), shown(False), shown(""), shown("a"), shown(3)] == [
        "not set (null)", "true", "false", "''", "'a'", "3"]
    assert shown({"b": [1, None], "a": True}) == '{"a": true, "b": [1, null]}'
