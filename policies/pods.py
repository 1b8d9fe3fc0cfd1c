"""Find the pod templates inside rendered Kubernetes objects (WL-01).

Workload policies never look at a Deployment or a TFJob directly: they ask this module for the
pod specs the object will create, and check those. Covered shapes:

| kind | where the pod spec is |
|---|---|
| Pod | `spec` |
| Deployment, StatefulSet, DaemonSet, ReplicaSet, Job | `spec.template.spec` |
| CronJob | `spec.jobTemplate.spec.template.spec` |
| TFJob, PyTorchJob, ... (Training Operator) | `spec.<x>ReplicaSpecs.<role>.template.spec` |
| Katib Experiment | `spec.trialTemplate.trialSpec`, itself one of the kinds above |
| InferenceService | `spec.predictor` / `transformer` / `explainer` (pod-spec-like; `model`) |
| ServingRuntime, ClusterServingRuntime | `spec` (pod-spec-like) |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from policies.base import dig, is_map, items

POD_PARENT_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
LONG_RUNNING_KINDS = {"Deployment", "StatefulSet", "InferenceService"}
KSERVE_COMPONENTS = ("predictor", "transformer", "explainer")
# KServe framework shorthands: container-like blocks inside a component.
KSERVE_FRAMEWORKS = ("model", "tensorflow", "pytorch", "sklearn", "xgboost", "onnx", "triton",
                     "lightgbm", "pmml", "paddle", "huggingface")

WORKLOAD_TYPES = (
    "kubernetes:core/v1:Pod",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
    "kubernetes:kubeflow.org/v1:TFJob",
    "kubernetes:kubeflow.org/v1:PyTorchJob",
    "kubernetes:kubeflow.org/v1:XGBoostJob",
    "kubernetes:kubeflow.org/v1:MPIJob",
    "kubernetes:kubeflow.org/v1beta1:Experiment",
    "kubernetes:serving.kserve.io/v1beta1:InferenceService",
    "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime",
    "kubernetes:serving.kserve.io/v1alpha1:ClusterServingRuntime",
)


@dataclass(frozen=True)
class Container:
    """One container of a pod template, with its path inside the object."""

    path: str
    spec: Mapping[str, Any]
    init: bool = False
    # KServe `model`/framework blocks: the serving runtime supplies image and probes.
    runtime_managed: bool = False

    @property
    def name(self) -> str:
        return str(dig(self.spec, "name") or self.path)


@dataclass(frozen=True)
class PodTemplate:
    """A pod spec (or KServe component) found inside an object."""

    path: str
    kind: str
    spec: Mapping[str, Any]
    labels: Mapping[str, Any]
    containers: list[Container] = field(default_factory=list)


@dataclass
class Extraction:
    templates: list[PodTemplate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def kind_of(resource_type: str, obj: Mapping[str, Any]) -> str:
    """The object's kind: `kind` if the object says, else the type token's last part."""
    kind = dig(obj, "kind")
    return str(kind) if kind else resource_type.rsplit(":", 1)[-1]


def _containers(spec: Mapping[str, Any], path: str) -> list[Container]:
    found = [Container(f"{path}.initContainers[{i}]", c, init=True)
             for i, c in enumerate(items(dig(spec, "initContainers"))) if is_map(c)]
    found += [Container(f"{path}.containers[{i}]", c)
              for i, c in enumerate(items(dig(spec, "containers"))) if is_map(c)]
    return found


def _pod(out: Extraction, kind: str, spec: Any, labels: Any, path: str) -> None:
    if not is_map(spec):
        out.problems.append(f"{path} is missing: no pod spec to check")
        return
    containers = _containers(spec, path)
    if not containers:
        out.problems.append(f"{path} has no containers")
    out.templates.append(PodTemplate(path, kind, spec, labels if is_map(labels) else {},
                                     containers))


def _template(out: Extraction, kind: str, template: Any, path: str) -> None:
    _pod(out, kind, dig(template, "spec"), dig(template, "metadata", "labels"), f"{path}.spec")


def _replica_specs(out: Extraction, kind: str, spec: Any, path: str) -> None:
    keys = [k for k in (spec if is_map(spec) else {}) if str(k).endswith("ReplicaSpecs")]
    if not keys:
        out.problems.append(f"{path} has no *ReplicaSpecs")
    for key in keys:
        roles = dig(spec, key)
        for role in roles if is_map(roles) else {}:
            _template(out, kind, dig(roles, role, "template"), f"{path}.{key}.{role}.template")


def _kserve(out: Extraction, kind: str, spec: Any, path: str, labels: Any) -> None:
    components = [c for c in KSERVE_COMPONENTS if is_map(dig(spec, c))]
    if "predictor" not in components:
        out.problems.append(f"{path}.predictor is missing")
    for component in components:
        block = dig(spec, component)
        cpath = f"{path}.{component}"
        containers = _containers(block, cpath)
        containers += [Container(f"{cpath}.{fw}", dig(block, fw), runtime_managed=True)
                       for fw in KSERVE_FRAMEWORKS if is_map(dig(block, fw))]
        if not containers:
            out.problems.append(f"{cpath} has neither containers nor a model block")
        out.templates.append(PodTemplate(cpath, kind, block, labels if is_map(labels) else {},
                                         containers))


def _walk(out: Extraction, kind: str, obj: Any, path: str) -> None:
    spec = dig(obj, "spec")
    spec_path = f"{path}spec"
    labels = dig(obj, "metadata", "labels")
    if kind == "Pod":
        _pod(out, kind, spec, labels, spec_path)
    elif kind in POD_PARENT_KINDS:
        _template(out, kind, dig(spec, "template"), f"{spec_path}.template")
    elif kind == "CronJob":
        _template(out, kind, dig(spec, "jobTemplate", "spec", "template"),
                  f"{spec_path}.jobTemplate.spec.template")
    elif kind.endswith("Job"):
        _replica_specs(out, kind, spec, spec_path)
    elif kind == "Experiment":
        trial = dig(spec, "trialTemplate")
        trial_spec = dig(trial, "trialSpec")
        if is_map(trial_spec):
            _walk(out, str(dig(trial_spec, "kind") or "?"), trial_spec,
                  f"{spec_path}.trialTemplate.trialSpec.")
        elif dig(trial, "configMap") is not None:
            out.problems.append(f"{spec_path}.trialTemplate.configMap: the trial spec lives in "
                                "a ConfigMap and cannot be checked; inline it as trialSpec")
        else:
            out.problems.append(f"{spec_path}.trialTemplate.trialSpec is missing")
    elif kind == "InferenceService":
        _kserve(out, kind, spec, spec_path, labels)
    elif kind in ("ServingRuntime", "ClusterServingRuntime"):
        _pod(out, kind, spec, labels, spec_path)
    else:
        out.problems.append(f"{path or 'object'} kind {kind!r} is not a workload kind this pack "
                            "can read")


def extract(resource_type: str, obj: Mapping[str, Any]) -> Extraction:
    """Every pod template in a rendered object, and what could not be read."""
    out = Extraction()
    _walk(out, kind_of(resource_type, obj), obj, "")
    return out


def gpu_quantity(container: Container, section: str) -> Any:
    """The raw `nvidia.com/gpu` quantity in resources.limits / resources.requests, or None."""
    return dig(container.spec, "resources", section, "nvidia.com/gpu")


def selects_gpu_nodes(spec: Mapping[str, Any]) -> bool:
    """Whether a pod spec targets GPU nodes: accelerator node selector or the GPU taint."""
    selector = dig(spec, "nodeSelector")
    if is_map(selector) and any(k in selector for k in (
            "cloud.google.com/gke-accelerator", "ml-platform/accelerator")):
        return True
    return any(dig(t, "key") == "nvidia.com/gpu" for t in items(dig(spec, "tolerations")))


def object_labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    labels = dig(obj, "metadata", "labels")
    return labels if is_map(labels) else {}
