"""Deployment requests: the KServe InferenceService and the Vertex AI upload + traffic split."""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any

import pytest

from workloads.pipelines.deploy import (
    DeployError,
    apply_inference_service,
    deploy_to_vertex,
    inference_service,
    traffic_for_new_model,
    vertex_upload_args,
)

IMAGE = "us-central1-docker.pkg.dev/p/ml-platform/cifar10-predictor:0.1.0"


def test_inference_service_runs_the_predictor_on_the_model() -> None:
    isvc = inference_service("cifar10", "ml-serving", IMAGE, "gs://root/run/train/model",
                             "predictor", min_replicas=1, max_replicas=3)
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    assert isvc["kind"] == "InferenceService"
    assert isvc["metadata"]["namespace"] == "ml-serving"
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    predictor = isvc["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 3)
    assert predictor["serviceAccountName"] == "predictor"
    (container,) = predictor["containers"]
    assert container["image"] == IMAGE
    assert container["command"] == ["python", "-m", "workloads.cifar10.serve"]
    assert "--model-dir=/mnt/models" in container["args"]
    assert {"name": "STORAGE_URI", "value": "gs://root/run/train/model"} in container["env"]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["resources"]["limits"]["cpu"] == "2"


def test_inference_service_matches_the_serving_chart() -> None:
    """The pipeline's predictor pod and the `cifar10-serving` chart's cannot drift apart."""
    from facts.identities import WORKLOADS
    from infra import charts
    from workloads.pipelines.settings import serving_identity

    namespace, account = serving_identity()
    assert (namespace, account) == (WORKLOADS["serving"].namespace, WORKLOADS["serving"].ksas[0])
    values = {"image": {"repository": IMAGE.rsplit(":", 1)[0], "tag": IMAGE.rsplit(":", 1)[1]},
              "storageUri": "gs://models/cifar10/1", "serviceAccountName": account}
    (chart,) = [obj for obj in charts.render(charts.CHARTS_DIR / "cifar10-serving", values,
                                             release="cifar10", namespace=namespace)
                if obj["kind"] == "InferenceService"]
    ours = inference_service("cifar10-pipeline", namespace, IMAGE, "gs://root/run/model",
                             account)

    def mode(isvc: dict[str, Any]) -> str:
        return isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"]

    assert mode(ours) == mode(chart) == "Standard"
    assert ours["metadata"]["name"] != chart["metadata"]["name"]
    assert ours["metadata"]["namespace"] == chart["metadata"]["namespace"] == namespace
    shared_pod = ("serviceAccountName", "automountServiceAccountToken", "securityContext",
                  "volumes")
    for key in shared_pod:
        assert ours["spec"]["predictor"][key] == chart["spec"]["predictor"][key], key
    (mine,), (theirs,) = ours["spec"]["predictor"]["containers"], \
        chart["spec"]["predictor"]["containers"]
    for key in ("name", "image", "command", "args", "ports", "readinessProbe", "livenessProbe",
                "securityContext", "volumeMounts"):
        assert mine[key] == theirs[key], key


def test_inference_service_is_a_valid_kserve_object() -> None:
    from infra.k8s_validate import validate_object

    isvc = inference_service("cifar10", "ml-serving", IMAGE, "gs://root/run/train/model",
                             "predictor")
    assert validate_object(isvc) == []
    isvc["spec"]["predictor"]["containers"][0]["imagePullPolcy"] = "Always"
    assert any("imagePullPolcy" in problem for problem in validate_object(isvc))


def test_inference_service_validates_before_building() -> None:
    with pytest.raises(DeployError, match="min_replicas 0"):
        inference_service("c", "ns", IMAGE, "gs://b/m", "sa", min_replicas=0)
    with pytest.raises(DeployError, match="max_replicas 1 is below min_replicas 2"):
        inference_service("c", "ns", IMAGE, "gs://b/m", "sa", min_replicas=2, max_replicas=1)
    with pytest.raises(DeployError, match="storage_uri '/tmp/m'"):
        inference_service("c", "ns", IMAGE, "/tmp/m", "sa")


class FakeCustomObjects:
    """Records calls; answers create with a 409 when the object already exists."""

    def __init__(self, exists: bool, status: int = 409) -> None:
        self.exists, self.status, self.calls = exists, status, []

    def create_namespaced_custom_object(self, group, version, namespace, plural, body):
        self.calls.append(("create", group, version, namespace, plural, body["metadata"]["name"]))
        if self.exists:
            raise type("ApiException", (Exception,), {"status": self.status})()

    def patch_namespaced_custom_object(self, group, version, namespace, plural, name, body):
        self.calls.append(("patch", group, version, namespace, plural, name))


def test_apply_creates_or_patches() -> None:
    manifest = inference_service("cifar10", "ml-serving", IMAGE, "gs://b/m", "predictor")
    fresh = FakeCustomObjects(exists=False)
    assert apply_inference_service(fresh, manifest) == "created"
    assert fresh.calls == [("create", "serving.kserve.io", "v1beta1", "ml-serving",
                            "inferenceservices", "cifar10")]
    existing = FakeCustomObjects(exists=True)
    assert apply_inference_service(existing, manifest) == "patched"
    assert [c[0] for c in existing.calls] == ["create", "patch"]
    forbidden = FakeCustomObjects(exists=True, status=403)
    with pytest.raises(Exception) as raised:
        apply_inference_service(forbidden, manifest)
    assert raised.value.status == 403
    assert [c[0] for c in forbidden.calls] == ["create"]


def test_vertex_upload_args() -> None:
    upload = vertex_upload_args("cifar10", "gs://b/run/model/1", IMAGE)
    assert upload["artifact_uri"] == "gs://b/run/model/1"
    assert upload["serving_container_image_uri"] == IMAGE
    assert upload["serving_container_predict_route"] == "/v1/models/cifar10:predict"
    assert upload["serving_container_health_route"] == "/v1/models/cifar10"
    assert upload["serving_container_ports"] == [8080]
    with pytest.raises(DeployError, match="must be a gs:// URI"):
        vertex_upload_args("cifar10", "/local/model", IMAGE)


@pytest.mark.parametrize("existing,percent,expected", [
    ({}, 20, 100), (None, 20, 100), ({"old": 100}, 20, 20), ({"a": 50, "b": 50}, 100, 100)])
def test_traffic_for_new_model(existing: dict[str, int] | None, percent: int,
                               expected: int) -> None:
    assert traffic_for_new_model(existing, percent) == expected


@pytest.mark.parametrize("percent", [0, 101, -5])
def test_traffic_percent_out_of_range(percent: int) -> None:
    with pytest.raises(DeployError, match=f"traffic_percent {percent} is not allowed"):
        traffic_for_new_model({"old": 100}, percent)


class FakeAiplatform:
    """Stands in for `google.cloud.aiplatform` at the network boundary; records every call.

    Each call is bound to the real method's signature first, so a misspelled keyword fails.
    """

    def __init__(self, existing_split: dict[str, int]) -> None:
        from google.cloud import aiplatform

        self.calls: list[tuple[str, dict[str, Any]]] = []
        fake = self

        def record(name: str, real: Any, *args: Any, **kwargs: Any) -> None:
            inspect.signature(real).bind(*args, **kwargs)
            fake.calls.append((name, kwargs))

        class Model:
            @staticmethod
            def upload(**kwargs: Any) -> Any:
                record("upload", aiplatform.Model.upload, **kwargs)
                return SimpleNamespace(resource_name="projects/p/locations/r/models/7")

        class Endpoint:
            def __init__(self, **kwargs: Any) -> None:
                record("endpoint", aiplatform.Endpoint.__init__, self, **kwargs)
                self.resource_name = f"projects/p/locations/r/endpoints/{kwargs['endpoint_name']}"
                self.traffic_split = dict(existing_split)

            def deploy(self, **kwargs: Any) -> None:
                record("deploy", aiplatform.Endpoint.deploy, self, **kwargs)

        self.Model, self.Endpoint = Model, Endpoint
        self._init = aiplatform.init

    def init(self, **kwargs: Any) -> None:
        inspect.signature(self._init).bind(**kwargs)
        self.calls.append(("init", kwargs))


def test_deploy_to_vertex_sends_the_share_model_and_account() -> None:
    fake = FakeAiplatform({"old": 100})
    upload = vertex_upload_args("cifar10", "gs://b/m/1", IMAGE)
    result = deploy_to_vertex(fake, project="p", region="us-central1", endpoint_id="1234567890",
                              upload=upload, machine_type="n1-standard-4", traffic_percent=20,
                              service_account="serving@p.iam.gserviceaccount.com")
    names = [name for name, _ in fake.calls]
    assert names == ["init", "upload", "endpoint", "deploy"]
    assert fake.calls[0][1] == {"project": "p", "location": "us-central1"}
    assert fake.calls[1][1] == upload
    assert fake.calls[2][1] == {"endpoint_name": "1234567890"}
    deploy = fake.calls[3][1]
    assert deploy["model"].resource_name == "projects/p/locations/r/models/7"
    assert deploy["traffic_percentage"] == 20
    assert deploy["machine_type"] == "n1-standard-4"
    assert deploy["service_account"] == "serving@p.iam.gserviceaccount.com"
    assert result["model"] == "projects/p/locations/r/models/7"
    assert result["traffic_percent"] == 20


def test_deploy_to_empty_endpoint_takes_all_traffic() -> None:
    fake = FakeAiplatform({})
    result = deploy_to_vertex(fake, project="p", region="r", endpoint_id="1",
                              upload=vertex_upload_args("c", "gs://b/m/1", IMAGE),
                              machine_type="n1-standard-4", traffic_percent=20)
    assert fake.calls[-1][1]["traffic_percentage"] == 100
    assert result["traffic_percent"] == 100


def test_fake_aiplatform_refuses_a_misspelled_keyword() -> None:
    with pytest.raises(TypeError, match="traffic_percent"):
        FakeAiplatform({}).Endpoint(endpoint_name="1").deploy(model=None, traffic_percent=20)


def test_inference_service_passes_the_workload_policies() -> None:
    """The dev stack's policy configuration accepts the object the deploy step applies."""
    from dataclasses import dataclass, field

    from facts.preview import PreviewResource
    from policies import gpu_cost, workloads
    from policies.runner import config_for_stack, evaluate

    @dataclass
    class Preview:
        stack: str = "dev"
        resources: list[PreviewResource] = field(default_factory=list)

    kind = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
    policies = [*workloads.POLICIES, *(p for p in gpu_cost.POLICIES if "kserve" in p.name)]

    def violations(isvc: dict[str, Any]) -> list[str]:
        found = PreviewResource(f"urn:pulumi:dev::ml-platform::{kind}::cifar10", kind,
                                "cifar10", None, isvc, [], False, True)
        report = evaluate(Preview(resources=[found]), config_for_stack("dev"), policies)
        return [v.policy for v in report.violations]

    isvc = inference_service("cifar10", "ml-serving", IMAGE, "gs://b/m", "predictor")
    assert violations(isvc) == []
    isvc["spec"]["predictor"]["containers"][0]["image"] = IMAGE.replace(":0.1.0", ":latest")
    assert "workload-image-pinned" in violations(isvc)
