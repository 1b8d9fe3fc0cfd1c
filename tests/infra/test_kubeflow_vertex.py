"""The Kubeflow install and the Vertex AI flavour, as the offline preview records them."""

from __future__ import annotations

import pytest
import yaml

from facts.identities import WORKLOADS
from facts.preview import Preview
from facts.stacks import REPO_ROOT, stack_path
from facts.versions import KSERVE_DEPLOYMENT_MODE, pins
from infra.components.kubeflow import KUBEFLOW_NAMESPACE, WI_ANNOTATION, install_directory
from infra.components.vertex import endpoint_id
from infra.config import PLATFORM_KEY, ConfigError, parse_platform
from infra.preview import run_preview
from infra.stack_config import read_stack_file
from tests.infra.conftest import preview_of, write_stack

CHART = "kubernetes:helm.sh/v4:Chart"
DIRECTORY = "kubernetes:kustomize/v2:Directory"
ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"


def _installs(preview: Preview) -> dict[str, object]:
    return {r.name.removeprefix("mlp-kubeflow-"): r for r in preview.resources
            if r.type in (CHART, DIRECTORY) and r.name.startswith("mlp-kubeflow-")}


def _edges(preview: Preview) -> set[tuple[str, str]]:
    """(dependency, dependant) name pairs between Kubernetes resources."""
    by_urn = preview.by_urn()
    return {(by_urn[d].name, r.name) for r in preview.resources for d in r.depends_on
            if r.type.startswith("kubernetes:")}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_component_is_installed_at_its_pinned_version(stack):
    installs = _installs(preview_of(stack))
    assert set(installs) == {"cert-manager", "pipelines-cluster-scoped", "pipelines",
                             "training-operator", "katib", "kserve-crd", "kserve-resources"}
    for name, r in installs.items():
        pin = pins()[name.replace("-", "_")]
        if r.type == CHART:
            assert (r.inputs["chart"], r.inputs["version"]) == (pin.chart, pin.version)
        else:
            assert r.inputs["directory"] == install_directory(pin)
            assert pin.directory.endswith(f"?ref={pin.version}")
    assert preview_of(stack).outputs["kubeflowVersions"]["katib"] == "v0.19.0"


def test_pins_match_the_versions_the_platform_targets():
    p = pins()
    assert p["training_operator"].version.startswith("v1.9.")
    assert p["katib"].version.startswith("v0.19.")
    assert p["kserve_crd"].version == p["kserve_resources"].version
    assert p["kserve_crd"].version.startswith("v0.20.")
    assert p["pipelines"].version == p["pipelines_cluster_scoped"].version
    assert p["pipelines"].version.split(".")[:2] in (["2", "16"], ["2", "17"])
    assert all(pin.source.startswith("https://") for pin in p.values())


def test_crds_and_cert_manager_come_before_what_needs_them():
    edges = _edges(preview_of("dev"))
    assert ("mlp-kubeflow-kserve-crd", "mlp-kubeflow-kserve-resources") in edges
    assert ("mlp-kubeflow-cert-manager", "mlp-kubeflow-kserve-resources") in edges
    assert ("mlp-kubeflow-pipelines-cluster-scoped", "mlp-kubeflow-pipelines") in edges
    assert ("mlp-kubeflow-training-operator", "mlp-kubeflow-katib") in edges
    assert ("mlp-kubeflow-pipelines", "mlp-kubeflow-kfp-launcher") in edges
    assert ("mlp-kubeflow-pipelines-cluster-scoped", "mlp-kubeflow-katib") in edges
    assert ("mlp-kubeflow-ns-cert-manager", "mlp-kubeflow-cert-manager") in edges


def test_kubeflow_waits_for_node_pools():
    preview = preview_of("prod")
    pools = {r.urn for r in preview.of_type("gcp:container/nodePool:NodePool")}
    for install in _installs(preview).values():
        assert pools <= set(install.depends_on), install.name


def test_kserve_runs_in_standard_mode_and_cert_manager_installs_its_crds():
    installs = _installs(preview_of("dev"))
    values = installs["kserve-resources"].inputs["values"]
    assert values["kserve"]["controller"]["deploymentMode"] == KSERVE_DEPLOYMENT_MODE
    assert installs["cert-manager"].inputs["values"] == {"crds": {"enabled": True}}
    assert installs["cert-manager"].inputs["repositoryOpts"]["repo"] == pins()[
        "cert_manager"].repository


def test_service_accounts_carry_workload_identity_annotations():
    preview = preview_of("dev", "apply")
    emails = {w: f"mlp-dev-{w}@mlp-dev-000000.iam.gserviceaccount.com" for w in WORKLOADS}
    annotated = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]):
                 r.inputs["metadata"]["annotations"][WI_ANNOTATION]
                 for r in preview.resources
                 if r.type in ("kubernetes:core/v1:ServiceAccount",
                               "kubernetes:core/v1:ServiceAccountPatch")}
    expected = {(w.namespace, ksa): emails[name]
                for name, w in WORKLOADS.items() for ksa in w.ksas}
    assert annotated == expected


def test_pipelines_store_artifacts_in_the_pipeline_root_bucket():
    (launcher,) = [r for r in preview_of("dev").resources if r.name == "mlp-kubeflow-kfp-launcher"]
    # Pipelines ships kfp-launcher with the field set: a forced server-side-apply patch, not a
    # second declaration of the ConfigMap.
    assert launcher.type == "kubernetes:core/v1:ConfigMapPatch"
    assert launcher.inputs["metadata"]["annotations"] == {"pulumi.com/patchForce": "true"}
    assert launcher.inputs["data"] == {
        "defaultPipelineRoot": "gs://mlp-dev-000000-dev-pipeline-root/"}
    assert launcher.inputs["metadata"]["namespace"] == WORKLOADS["pipelines"].namespace


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_upstream_objects_are_not_declared_a_second_time(stack):
    """kfp-launcher ships with Pipelines and Namespace kubeflow with its cluster-scoped install."""
    declared = {(r.type.rsplit(":", 1)[-1], r.inputs["metadata"]["name"])
                for r in preview_of(stack).resources
                if r.type.startswith("kubernetes:core/v1:") and "metadata" in r.inputs}
    assert ("ConfigMap", "kfp-launcher") not in declared
    assert ("Namespace", KUBEFLOW_NAMESPACE) not in declared


def test_katib_installs_without_its_own_kubeflow_namespace():
    pin = pins()["katib"]
    overlay = yaml.safe_load((REPO_ROOT / pin.overlay / "kustomization.yaml").read_text())
    assert overlay["resources"] == [pin.directory]
    (patch,) = overlay["patches"]
    assert patch["target"] == {"version": "v1", "kind": "Namespace", "name": KUBEFLOW_NAMESPACE}
    body = yaml.safe_load(patch["patch"])
    assert body["$patch"] == "delete" and body["metadata"]["name"] == KUBEFLOW_NAMESPACE


def test_katib_without_pipelines_gets_a_namespace_kept_on_delete(tmp_path, dev_config):
    dev_config["ml-platform:platform"]["kubeflow"]["pipelines"] = False
    preview = run_preview(read_stack_file(write_stack(tmp_path, "katib", dev_config)))
    (ns,) = [r for r in preview.of_type("kubernetes:core/v1:Namespace")
             if r.inputs["metadata"]["name"] == KUBEFLOW_NAMESPACE]
    assert ns.retain_on_delete
    (katib,) = [r for r in preview.resources if r.name == "mlp-kubeflow-katib"]
    assert ns.urn in katib.depends_on


def test_kserve_runtimes_install_only_for_a_kserve_runtime(tmp_path, dev_config):
    assert "kserve-runtime-configs" not in _installs(preview_of("dev"))
    dev_config["ml-platform:platform"]["workloads"]["serving"]["runtime"] = "tensorflow"
    preview = run_preview(read_stack_file(write_stack(tmp_path, "tfserving", dev_config)))
    runtimes = _installs(preview)["kserve-runtime-configs"]
    pin = pins()["kserve_runtime_configs"]
    assert (runtimes.inputs["chart"], runtimes.inputs["version"]) == (pin.chart, pin.version)
    assert runtimes.inputs["values"] == {"kserve": {"servingruntime": {"enabled": True}}}
    serving = [r for r in preview.resources if r.name == "mlp-cifar10-serving"]
    assert runtimes.urn in serving[0].depends_on


def test_training_namespace_gets_katib_metrics_collection():
    namespaces = {r.inputs["metadata"]["name"]: r.inputs["metadata"].get("labels", {})
                  for r in preview_of("dev").of_type("kubernetes:core/v1:Namespace")}
    assert namespaces["ml-training"]["katib.kubeflow.org/metrics-collector-injection"] == \
        "enabled"
    assert "katib.kubeflow.org/metrics-collector-injection" not in namespaces["ml-serving"]


def test_vertex_stack_has_no_gke_or_kubernetes_resources():
    preview = preview_of("vertex")
    assert not [r.type for r in preview.resources
                if r.type.startswith(("gcp:container/", "gcp:compute/", "kubernetes:",
                                      "pulumi:providers:kubernetes"))]
    assert len(preview.of_type(ENDPOINT)) == 1
    assert len(preview.of_type("gcp:vertex/aiTensorboard:AiTensorboard")) == 1
    # The region's `default` store exists once Vertex AI has been used there; declaring it would
    # fail to create, and adopting it would delete the region's lineage on `pulumi destroy`.
    assert preview.of_type("gcp:vertex/aiMetadataStore:AiMetadataStore") == []
    assert "clusterName" not in preview.outputs and "nodeServiceAccount" not in preview.outputs


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_kubeflow_stacks_have_no_vertex_endpoint(stack):
    assert preview_of(stack).of_type(ENDPOINT) == []


def test_vertex_exports_what_jobs_need():
    outputs = preview_of("vertex").outputs
    assert outputs["project"] == "mlp-vertex-000000" and outputs["region"] == "us-central1"
    assert outputs["vertexEndpointId"] == endpoint_id("mlp-vertex-000000", "vertex")
    assert outputs["vertexStagingBucket"] == "mlp-vertex-000000-vertex-vertex-staging"
    assert {"trainingServiceAccount", "pipelinesServiceAccount", "servingServiceAccount",
            "registryUrl"} <= set(outputs)


def test_endpoint_id_is_numeric_stable_and_per_stack():
    a = endpoint_id("p-000000", "dev")
    assert a.isdigit() and len(a) <= 10 and a == endpoint_id("p-000000", "dev")
    assert a != endpoint_id("p-000000", "prod")


def test_vertex_roles_are_minimal_and_pipelines_act_as_training_and_serving():
    preview = preview_of("vertex", "apply")
    roles = {r.inputs["role"] for r in preview.of_type("gcp:projects/iAMMember:IAMMember")}
    assert roles == {role for w in WORKLOADS.values() for role in w.vertex_roles}
    assert not any(r.endswith(("/owner", "/editor", ".admin")) for r in roles)
    grants = preview.of_type("gcp:serviceaccount/iAMMember:IAMMember")
    assert {r.inputs["role"] for r in grants} == {"roles/iam.serviceAccountUser"}
    assert all(r.inputs["member"].startswith("serviceAccount:mlp-vertex-pipelines@")
               for r in grants)
    targets = sorted(r.inputs["serviceAccountId"].split("/")[-1].split("@")[0] for r in grants)
    assert targets == ["mlp-vertex-serving", "mlp-vertex-training"]


def test_budget_alerts_at_each_threshold_for_this_project_only():
    (budget,) = preview_of("vertex").of_type("gcp:billing/budget:Budget")
    assert budget.inputs["amount"]["specifiedAmount"] == {"currencyCode": "USD", "units": "1000"}
    assert [t["thresholdPercent"] for t in budget.inputs["thresholdRules"]] == [0.5, 0.9, 1]
    assert budget.inputs["budgetFilter"]["projects"] == ["projects/000000000000"]


def test_both_flavour_builds_the_two_halves(tmp_path, dev_config):
    dev_config[PLATFORM_KEY]["flavor"] = "both"
    preview = run_preview(read_stack_file(write_stack(tmp_path, "both", dev_config)))
    assert len(preview.of_type(ENDPOINT)) == 1
    assert len(preview.of_type("gcp:container/cluster:Cluster")) == 1
    assert _installs(preview)


def test_components_can_be_switched_off(tmp_path, dev_config):
    dev_config[PLATFORM_KEY]["kubeflow"] = {"katib": False, "kserve": False}
    dev_config[PLATFORM_KEY]["workloads"] = {}
    preview = run_preview(read_stack_file(write_stack(tmp_path, "lean", dev_config)))
    assert set(_installs(preview)) == {"cert-manager", "pipelines-cluster-scoped", "pipelines",
                                       "training-operator"}


@pytest.mark.parametrize(("kubeflow", "field", "says"), [
    ({"cert_manager": False}, "kubeflow.cert_manager", "KServe's webhooks"),
    ({"training_operator": False}, "kubeflow.training_operator", "Katib trials run as TFJobs"),
])
def test_component_dependencies_are_enforced(dev_config, kubeflow, field, says):
    dev_config[PLATFORM_KEY]["kubeflow"] = kubeflow
    dev_config[PLATFORM_KEY]["workloads"] = {}
    with pytest.raises(ConfigError) as info:
        parse_platform("x", dev_config)
    (p,) = info.value.problems
    assert p.path == f"ml-platform:platform.{field}" and says in p.allowed


def test_vertex_flavour_refuses_node_pools(dev_config):
    dev_config[PLATFORM_KEY]["flavor"] = "vertex"
    with pytest.raises(ConfigError) as info:
        parse_platform("x", dev_config)
    assert [p.path for p in info.value.problems] == ["ml-platform:platform.zones",
                                                     "ml-platform:platform.node_pools"]


def test_bad_budget_is_named(dev_config):
    dev_config[PLATFORM_KEY]["budget"] = {"billing_account": "abc", "amount_usd": 10,
                                          "thresholds": [0.9, 0.5]}
    with pytest.raises(ConfigError) as info:
        parse_platform("x", dev_config)
    assert {p.path for p in info.value.problems} == {
        "ml-platform:platform.budget.billing_account", "ml-platform:platform.budget.thresholds"}


@pytest.mark.parametrize(("change", "path", "says"), [
    ({"kubeflow": {"kserve": False, "cert_manager": True}}, "workloads.serving.enabled",
     "needs kubeflow.kserve"),
    ({"workloads": {"training": {"enabled": True, "gpu_pool": "system"}}},
     "workloads.training.gpu_pool", "GPU pools of this stack: gpu-t4-spot"),
    ({"workloads": {"training": {"enabled": True, "search_space": "nope"}}},
     "workloads.training.search_space", "shipped search spaces: katib-study, vertex-study"),
    ({"workloads": {"training": {"enabled": True, "image_tag": "latest"}}},
     "workloads.training.image_tag", "pinned image tag"),
    ({"workloads": {"serving": {"enabled": True, "min_replicas": 4, "max_replicas": 2}}},
     "workloads.serving.min_replicas", "at most max_replicas"),
    ({"workloads": {"serving": {"enabled": True, "gpu_pool": "gpu-t4-spot"}}},
     "workloads.serving.gpu_pool", "CPU build"),
])
def test_bad_workload_settings_are_named(dev_config, change, path, says):
    dev_config[PLATFORM_KEY].update(change)
    with pytest.raises(ConfigError) as info:
        parse_platform("x", dev_config)
    problems = {p.path: p for p in info.value.problems}
    assert f"ml-platform:platform.{path}" in problems
    assert says in problems[f"ml-platform:platform.{path}"].allowed


def test_serving_chart_deploys_after_the_crds_it_uses():
    preview = preview_of("prod")
    by_name = {r.name: r for r in preview.resources}
    isvc = by_name["mlp-cifar10-serving:ml-serving/cifar10"]
    assert isvc.type == "kubernetes:serving.kserve.io/v1beta1:InferenceService"
    assert by_name["mlp-kubeflow-kserve-resources"].urn in isvc.depends_on
    assert isvc.parent == by_name["mlp-cifar10-serving"].urn


ONE_SHOT = ("kubernetes:kubeflow.org/v1:TFJob", "kubernetes:kubeflow.org/v1beta1:Experiment",
            "kubernetes:batch/v1:Job")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stacks_declare_no_one_shot_run(stack):
    """A finished TFJob is deleted by its TTL; a stack owning it would relaunch it (prod: 50
    epochs on a V100) on the next `pulumi up --refresh`. Runs are launched, not declared."""
    preview = preview_of(stack)
    assert [r.name for r in preview.resources if r.type in ONE_SHOT] == []
    assert "mlp-cifar10-training" not in {r.name for r in preview.resources}


def test_launched_training_uses_the_trainers_cuda_image_on_its_gpu_pool():
    from infra.charts import CHARTS_DIR, render
    from infra.components.cifar10 import launch_values

    values = launch_values(read_stack_file(stack_path("prod")).platform(), "prod")
    (tfjob,) = render(CHARTS_DIR / "cifar10-training", values, release="cifar10",
                      namespace="ml-training")
    pod = tfjob["spec"]["tfReplicaSpecs"]["Chief"]["template"]["spec"]
    assert pod["containers"][0]["image"] == (
        "us-central1-docker.pkg.dev/mlp-prod-000000/mlp-prod/cifar10-trainer:0.1.0-gpu")
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-v100"}


def test_cpu_serving_uses_the_predictor():
    by_name = {r.name: r for r in preview_of("prod").resources}
    isvc = by_name["mlp-cifar10-serving:ml-serving/cifar10"].inputs["spec"]["predictor"]
    assert isvc["containers"][0]["image"].endswith("/mlp-prod/cifar10-predictor:0.1.0")
    assert "nodeSelector" not in isvc and isvc["minReplicas"] == 2


def test_pipeline_runs_may_deploy_inference_services_in_the_serving_namespace_only():
    preview = preview_of("dev")
    (role,) = preview.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role")
    (binding,) = preview.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    assert role.inputs["metadata"]["namespace"] == WORKLOADS["serving"].namespace
    (rule,) = role.inputs["rules"]
    assert rule["resources"] == ["inferenceservices"] and "delete" not in rule["verbs"]
    assert binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": "pipeline-runner",
                                           "namespace": "kubeflow"}]
    assert binding.inputs["roleRef"]["name"] == role.inputs["metadata"]["name"]


def test_predictors_can_read_models_that_pipelines_deploy_from_the_pipeline_root():
    assert WORKLOADS["serving"].bucket_roles["pipeline-root"] == "roles/storage.objectViewer"
    assert all(role.endswith("objectViewer") for role in WORKLOADS["serving"].bucket_roles.values())
