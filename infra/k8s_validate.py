"""Validate rendered Kubernetes objects offline, strictly.

- Built-in kinds (Deployment, PodDisruptionBudget, …) against the Kubernetes OpenAPI schemas that
  `kubernetes-validate` ships, in strict mode (unknown fields are errors).
- `InferenceService` and `TFJob` against the typed models of the `kserve` and `kubeflow-training`
  SDKs: every key must be a field of the model and every value of the field's type, recursing
  through the Kubernetes core models they embed.
- Katib `Experiment` against `workloads.tuning.katib_api`, a typed model of Katib's v1beta1 API
  (the Katib SDK cannot share this environment), with its TFJob trial spec checked as above.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

KUBERNETES_VERSION = "1.35.0"
"""The GKE REGULAR channel's minor version when these checks were written (see platform facts)."""

_MODEL_MODULES = ("kserve.models", "kubeflow.training.models", "kubernetes.client.models")
# (apiVersion, kind) → the SDK model of the whole object.
TYPED_MODELS = {
    ("serving.kserve.io/v1beta1", "InferenceService"): "V1beta1InferenceService",
    ("kubeflow.org/v1", "TFJob"): "KubeflowOrgV1TFJob",
}
_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\(str, (.+)\)$")


def _model_class(name: str) -> type:
    for module in _MODEL_MODULES:
        cls = getattr(importlib.import_module(module), name, None)
        if cls is not None:
            return cls
    raise LookupError(f"no model class {name} in {', '.join(_MODEL_MODULES)}")


def check_model(value: Any, type_name: str, path: str = "") -> list[str]:
    """Problems found checking `value` against an SDK model type string (e.g. 'V1Container')."""
    if (m := _LIST.match(type_name)) is not None:
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        return [p for i, v in enumerate(value) for p in check_model(v, m[1], f"{path}[{i}]")]
    if (m := _DICT.match(type_name)) is not None:
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping, got {type(value).__name__}"]
        return [p for k, v in value.items() for p in check_model(v, m[1], f"{path}.{k}")]
    if type_name == "object":
        return []
    if type_name == "str":
        # Quantities and IntOrString fields are typed str in the SDKs but accept numbers.
        ok = isinstance(value, str | int | float) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected a string, got {value!r}"]
    if type_name in ("int", "float"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected a number, got {value!r}"]
    if type_name == "bool":
        return [] if isinstance(value, bool) else [f"{path}: expected true/false, got {value!r}"]
    if type_name in ("datetime", "date"):
        return [] if isinstance(value, str) else [f"{path}: expected a timestamp, got {value!r}"]
    cls = _model_class(type_name)
    if not isinstance(value, dict):
        return [f"{path}: expected an object ({type_name}), got {type(value).__name__}"]
    by_json = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    problems = []
    for key, item in value.items():
        if key not in by_json:
            problems.append(f"{path}.{key}: unknown field of {type_name}")
        else:
            problems += check_model(item, cls.openapi_types[by_json[key]], f"{path}.{key}")
    return problems


def validate_object(obj: dict[str, Any]) -> list[str]:
    """Every problem found in one rendered object; an empty list when it is valid."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    where = f"{kind}/{obj.get('metadata', {}).get('name', '?')}"
    if (api_version, kind) in TYPED_MODELS:
        return [f"{where}{p}" for p in check_model(obj, TYPED_MODELS[(api_version, kind)])]
    if (api_version, kind) == ("kubeflow.org/v1beta1", "Experiment"):
        from pydantic import ValidationError

        from workloads.tuning.katib_api import Experiment

        try:
            experiment = Experiment.model_validate(obj)
        except ValidationError as err:
            return [f"{where}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()]
        trial = experiment.spec.trialTemplate.trialSpec
        return validate_object(trial) if trial.get("kind") else [
            f"{where}.spec.trialTemplate.trialSpec: has no kind"]
    if (api_version, kind) == ("monitoring.googleapis.com/v1", "PodMonitoring"):
        from pydantic import ValidationError

        from infra.podmonitoring import PodMonitoring

        try:
            PodMonitoring.model_validate(obj)
        except ValidationError as err:
            return [f"{where}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()]
        return []
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        return [f"{where}: {err.message} at {'.'.join(map(str, err.path))}"]
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as err:
        return [f"{where}: no schema to validate {api_version} {kind} against ({err})"]
    return []
