"""Helpers for policy tests: run named policies over hand-written resources through the same
offline runner `mlp policy check` uses, and build compliant Kubernetes objects to break."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from facts.preview import PreviewResource
from policies.pack import all_policies
from policies.runner import Report, evaluate, resolve_config

POLICIES = {p.name: p for p in all_policies()}


@dataclass
class FakePreview:
    stack: str = "test"
    resources: list[PreviewResource] = field(default_factory=list)


def resource(type_: str, inputs: dict[str, Any], name: str = "r") -> PreviewResource:
    urn = f"urn:pulumi:test::ml-platform::{type_}::{name}"
    return PreviewResource(urn, type_, name, None, copy.deepcopy(inputs), [], False, True)


def run(names: list[str] | str, resources: list[PreviewResource],
        config: dict[str, Any] | None = None) -> Report:
    """Evaluate only the named policies, each at mandatory unless `config` says otherwise."""
    names = [names] if isinstance(names, str) else names
    chosen = [POLICIES[n] for n in names]
    raw = {"all": "mandatory", **(config or {})}
    return evaluate(FakePreview(resources=resources), resolve_config(raw, "test", chosen), chosen)


def container(name: str = "main", image: str = "us-docker.pkg.dev/p/r/trainer:1.4.0",
              gpus: int | None = None) -> dict[str, Any]:
    """A container every workload policy accepts."""
    limits: dict[str, Any] = {"memory": "4Gi"}
    if gpus is not None:
        limits["nvidia.com/gpu"] = gpus
    return {
        "name": name, "image": image,
        "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": limits},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
    }


def pod_spec(*containers: dict[str, Any], gpu_node: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"serviceAccountName": "trainer",
                            "containers": list(containers) or [container()],
                            "volumes": [{"name": "tmp", "emptyDir": {}}]}
    if gpu_node:
        spec["nodeSelector"] = {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists",
                                "effect": "NoSchedule"}]
    return spec


def run_limits() -> dict[str, Any]:
    return {"activeDeadlineSeconds": 7200, "backoffLimit": 2, "ttlSecondsAfterFinished": 3600}


def tfjob(spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v1", "kind": "TFJob",
            "metadata": {"name": "cifar10", "namespace": "ml-training"},
            "spec": {"runPolicy": run_limits(), "tfReplicaSpecs": {"Worker": {
                "replicas": 1, "restartPolicy": "OnFailure",
                "template": {"spec": spec or pod_spec(container(gpus=1), gpu_node=True)}}}}}


def experiment(trial: dict[str, Any] | None = None) -> dict[str, Any]:
    trial = trial or tfjob()
    trial = {k: v for k, v in trial.items() if k != "metadata"}
    return {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment",
            "metadata": {"name": "cifar10-hpo", "namespace": "ml-training"},
            "spec": {"maxTrialCount": 12, "parallelTrialCount": 3, "maxFailedTrialCount": 3,
                     "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
                     "trialTemplate": {"primaryContainerName": "main", "trialSpec": trial}}}


def isvc(predictor: dict[str, Any] | None = None) -> dict[str, Any]:
    if predictor is None:
        model = {k: v for k, v in container(gpus=1).items()
                 if k not in ("image", "name", "readinessProbe", "livenessProbe")}
        predictor = {"serviceAccountName": "predictor", "minReplicas": 2, "maxReplicas": 4,
                     "model": {"modelFormat": {"name": "tensorflow"},
                               "storageUri": "gs://models/cifar10", **model}}
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "cifar10", "namespace": "ml-serving"},
            "spec": {"predictor": predictor}}


def deployment(replicas: int = 2, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ml-serving"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": spec or pod_spec()}}}


def job(spec_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "prep", "namespace": "ml-training"},
            "spec": {**run_limits(), **(spec_extra or {}),
                     "template": {"spec": {**pod_spec(), "restartPolicy": "Never"}}}}
