"""Deployment after the accuracy gate: a KServe InferenceService, or a Vertex AI endpoint.

Both serve the trainer image's predictor (`python -m workloads.cifar10.serve`), so the answers
are the same on either platform and under `--local`. The request builders are pure functions;
the functions that talk to an API take the client as an argument, so tests pass fakes and
inspect what would be sent.
"""

from __future__ import annotations

from typing import Any, Protocol

from facts.versions import KSERVE_DEPLOYMENT_MODE
from workloads.cifar10 import MODEL_NAME

KSERVE_GROUP = "serving.kserve.io"
KSERVE_VERSION = "v1beta1"
KSERVE_PLURAL = "inferenceservices"
PREDICTOR_COMMAND = ["python", "-m", "workloads.cifar10.serve"]
PREDICTOR_PORT = 8080


class DeployError(ValueError):
    """Deployment arguments that cannot work; the message names the field and value."""


def inference_service(name: str, namespace: str, image: str, storage_uri: str,
                      service_account: str, min_replicas: int = 1, max_replicas: int = 2,
                      labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A KServe InferenceService running the custom predictor on the model at `storage_uri`.

    The predictor pod is the one the `cifar10-serving` chart defines (same mode, command, probes
    and security settings; a test compares the two). KServe's storage initializer copies
    `storage_uri` to `/mnt/models`, where the predictor finds the highest numbered version.
    """
    if min_replicas < 1:
        raise DeployError(f"min_replicas {min_replicas} is not allowed; use ≥ 1 (scale-to-zero "
                          "can evict a GPU pod before its node is up)")
    if max_replicas < min_replicas:
        raise DeployError(f"max_replicas {max_replicas} is below min_replicas {min_replicas}")
    if "://" not in storage_uri:
        raise DeployError(f"storage_uri {storage_uri!r} is not a URI; use gs://bucket/path")
    container = {
        "name": "kserve-container",
        "image": image,
        "command": PREDICTOR_COMMAND,
        "args": ["--model-dir=/mnt/models", f"--model-name={MODEL_NAME}", "--host=0.0.0.0",
                 f"--port={PREDICTOR_PORT}"],
        "env": [{"name": "STORAGE_URI", "value": storage_uri}],
        "ports": [{"containerPort": PREDICTOR_PORT, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"},
                      "limits": {"cpu": "2", "memory": "4Gi"}},
        "readinessProbe": {"httpGet": {"path": f"/v1/models/{MODEL_NAME}",
                                       "port": PREDICTOR_PORT},
                           "initialDelaySeconds": 5, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": PREDICTOR_PORT},
                          "initialDelaySeconds": 30, "periodSeconds": 20},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        # The predictor image writes only under /tmp (HOME, KERAS_HOME point there).
        "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": f"{KSERVE_GROUP}/{KSERVE_VERSION}",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {}),
                     "annotations": {"serving.kserve.io/deploymentMode": KSERVE_DEPLOYMENT_MODE}},
        "spec": {"predictor": {
            "serviceAccountName": service_account,
            # Workload Identity needs no mounted token: the metadata server knows the pod.
            "automountServiceAccountToken": False,
            "minReplicas": min_replicas, "maxReplicas": max_replicas,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000,
                                "fsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [container],
            "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}}]}},
    }


class CustomObjects(Protocol):
    """The two calls of `kubernetes.client.CustomObjectsApi` that `apply_custom_object` uses."""

    def create_namespaced_custom_object(self, group: str, version: str, namespace: str,
                                        plural: str, body: dict) -> Any: ...

    def patch_namespaced_custom_object(self, group: str, version: str, namespace: str,
                                       plural: str, name: str, body: dict) -> Any: ...


def apply_inference_service(api: CustomObjects, manifest: dict[str, Any]) -> str:
    """Create the InferenceService, or patch it when it exists (HTTP 409); returns the verb."""
    meta = manifest["metadata"]
    try:
        api.create_namespaced_custom_object(KSERVE_GROUP, KSERVE_VERSION, meta["namespace"],
                                            KSERVE_PLURAL, manifest)
        return "created"
    except Exception as err:
        if getattr(err, "status", None) != 409:
            raise
    api.patch_namespaced_custom_object(KSERVE_GROUP, KSERVE_VERSION, meta["namespace"],
                                       KSERVE_PLURAL, meta["name"], manifest)
    return "patched"


def vertex_upload_args(display_name: str, artifact_uri: str, image: str,
                       labels: dict[str, str] | None = None,
                       environment: dict[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments of `aiplatform.Model.upload` for the custom predictor container.

    Vertex AI copies `artifact_uri` and passes it as `AIP_STORAGE_URI`, the port as
    `AIP_HTTP_PORT`; the predictor reads both. `environment` adds variables (the feature log).
    """
    if not artifact_uri.startswith("gs://"):
        raise DeployError(f"artifact_uri {artifact_uri!r} must be a gs:// URI for Vertex AI")
    return {
        "display_name": display_name,
        "artifact_uri": artifact_uri,
        "serving_container_image_uri": image,
        "serving_container_command": PREDICTOR_COMMAND,
        "serving_container_args": ["--host", "0.0.0.0", "--model-name", MODEL_NAME],
        "serving_container_ports": [PREDICTOR_PORT],
        "serving_container_predict_route": f"/v1/models/{MODEL_NAME}:predict",
        "serving_container_health_route": f"/v1/models/{MODEL_NAME}",
        "labels": dict(labels or {}),
        **({"serving_container_environment_variables": dict(environment)}
           if environment else {}),
        "sync": True,
    }


def traffic_for_new_model(existing_split: dict[str, int] | None, percent: int) -> int:
    """The share a new deployment takes: `percent`, or 100 on an endpoint with no traffic yet."""
    if not 0 < percent <= 100:
        raise DeployError(f"traffic_percent {percent} is not allowed; use 1..100")
    if not existing_split or sum(existing_split.values()) == 0:
        return 100
    return percent


def deploy_to_vertex(aiplatform: Any, *, project: str, region: str, endpoint_id: str,
                     upload: dict[str, Any], machine_type: str, traffic_percent: int,
                     service_account: str | None = None, min_replicas: int = 1,
                     max_replicas: int = 2) -> dict[str, Any]:
    """Upload the model and deploy it to the stack's endpoint with a traffic split.

    `aiplatform` is the `google.cloud.aiplatform` module (or a fake of it in tests). The new
    model takes `traffic_percent` of requests; the models already deployed keep the rest in
    their current proportions.
    """
    aiplatform.init(project=project, location=region)
    model = aiplatform.Model.upload(**upload)
    endpoint = aiplatform.Endpoint(endpoint_name=endpoint_id)
    share = traffic_for_new_model(dict(endpoint.traffic_split or {}), traffic_percent)
    endpoint.deploy(model=model, deployed_model_display_name=upload["display_name"],
                    traffic_percentage=share, machine_type=machine_type,
                    min_replica_count=min_replicas, max_replica_count=max_replicas,
                    service_account=service_account, sync=True)
    return {"model": model.resource_name, "endpoint": endpoint.resource_name,
            "traffic_percent": share, "traffic_split": dict(endpoint.traffic_split or {})}
