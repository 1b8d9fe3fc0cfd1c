"""Workload policies on rendered Kubernetes objects (WL-*): they check the pod templates that
`policies.pods` finds inside Deployments, Jobs, TFJobs, Katib Experiments and InferenceServices.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity

from facts.capacity import GKE_NODEPOOL_LABEL, capacity
from facts.images import ALLOWED_REGISTRIES
from facts.text import number
from policies.base import (
    ADVISORY,
    MlpResourcePolicy,
    MlpStackPolicy,
    Rule,
    dig,
    is_map,
    items,
    make_rule,
    shown,
    truthy,
)
from policies.exemptions import exempt
from policies.pods import (
    LONG_RUNNING_KINDS,
    WORKLOAD_TYPES,
    Container,
    Extraction,
    PodTemplate,
    extract,
    gpu_quantity,
    kind_of,
    object_labels,
    selects_gpu_nodes,
)

SERVICE = "kubernetes:core/v1:Service"
NODE_POOL = "gcp:container/nodePool:NodePool"
GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
OUR_ACCELERATOR_LABEL = "ml-platform/accelerator"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
# Tags that move to new images: pinning to them pins nothing.
MOVING_TAGS = ("latest", "nightly", "main", "master", "stable", "edge")
DANGEROUS_CAPABILITIES = {"ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE", "NET_RAW"}
Obj = Mapping[str, Any]
WorkloadCheck = Callable[[Obj, Extraction, dict[str, Any]], Iterable[str]]


def workload_policy(rule: Rule, check: WorkloadCheck) -> MlpResourcePolicy:
    """A resource policy over every workload type, honouring the exemption list."""

    def run(props: Obj, config: dict[str, Any], args: ResourceValidationArgs) -> Iterator[str]:
        kind = kind_of(args.resource_type, props)
        exemption = exempt(rule.name, kind, props)
        if exemption is not None:
            args.not_applicable(f"exempt: {exemption.reason}")
        yield from check(props, extract(args.resource_type, props), config)

    return MlpResourcePolicy(rule, WORKLOAD_TYPES, run)


_rule = partial(make_rule, "workloads")


def _sc(c: Container) -> Any:
    return dig(c.spec, "securityContext")


def _readable(_o: Obj, found: Extraction, _c: dict) -> Iterator[str]:
    yield from found.problems


def _no_privileged(_o: Obj, found: Extraction, _c: dict) -> Iterator[str]:
    for pod in found.templates:
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if truthy(dig(pod.spec, flag)):
                yield f"{pod.path}.{flag} is true"
        for i, volume in enumerate(items(dig(pod.spec, "volumes"))):
            if dig(volume, "hostPath") is not None:
                path = dig(volume, "hostPath", "path")
                yield f"{pod.path}.volumes[{i}] mounts hostPath {shown(path)}"
        for c in pod.containers:
            if truthy(dig(_sc(c), "privileged")):
                yield f"{c.path} ({c.name}) is privileged"
            added = {str(a).upper() for a in items(dig(_sc(c), "capabilities", "add"))}
            if added & DANGEROUS_CAPABILITIES:
                risky = sorted(added & DANGEROUS_CAPABILITIES)
                yield f"{c.path} ({c.name}) adds capabilities {risky}"


def _restricted(_o: Obj, found: Extraction, _c: dict) -> Iterator[str]:
    for pod in found.templates:
        pod_sc = dig(pod.spec, "securityContext")
        for c in pod.containers:
            sc = _sc(c)
            non_root = dig(sc, "runAsNonRoot")
            if non_root is None:
                non_root = dig(pod_sc, "runAsNonRoot")
            user = number(dig(sc, "runAsUser")) or number(dig(pod_sc, "runAsUser"))
            if not (truthy(non_root) or (user is not None and user > 0)):
                yield f"{c.path} ({c.name}) may run as root: set runAsNonRoot: true"
            if dig(sc, "allowPrivilegeEscalation") is not False:
                yield f"{c.path} ({c.name}) does not set allowPrivilegeEscalation: false"
            drops = {str(d).upper() for d in items(dig(sc, "capabilities", "drop"))}
            if "ALL" not in drops:
                yield f"{c.path} ({c.name}) does not drop ALL capabilities"
            seccomp = dig(sc, "seccompProfile", "type") or dig(pod_sc, "seccompProfile", "type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                yield f"{c.path} ({c.name}) has seccompProfile {shown(seccomp)}, " \
                      "need RuntimeDefault"


def _read_only_root(_o: Obj, found: Extraction, _c: dict) -> Iterator[str]:
    for pod in found.templates:
        for c in pod.containers:
            if not truthy(dig(_sc(c), "readOnlyRootFilesystem")):
                yield f"{c.path} ({c.name}) has a writable root filesystem"


def _resources(_o: Obj, found: Extraction, _c: dict) -> Iterator[str]:
    for pod in found.templates:
        for c in pod.containers:
            missing = [f"{section}.{res}" for section, res in (
                ("requests", "cpu"), ("requests", "memory"), ("limits", "memory"))
                if dig(c.spec, "resources", section, res) is None]
            if missing:
                yield f"{c.path} ({c.name}) has no resources.{', resources.'.join(missing)}"


def _image_ref(image: str) -> tuple[str, str | None, str | None]:
    """(repository with registry host, tag, digest) of an image reference."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    repo = name[: len(name) - len(tag) - 1] if tag is not None else name
    first = repo.split("/", 1)[0]
    if "/" not in repo:
        repo = f"docker.io/library/{repo}"
    elif "." not in first and ":" not in first and first != "localhost":
        repo = f"docker.io/{repo}"
    return repo, tag, digest or None


def _images(found: Extraction) -> Iterator[tuple[Container, str | None]]:
    for pod in found.templates:
        for c in pod.containers:
            image = dig(c.spec, "image")
            if image is None and c.runtime_managed:
                continue  # the ServingRuntime's image; checked on the runtime object itself
            yield c, image


def _pinned(_o: Obj, found: Extraction, _c: dict) -> Iterator[str]:
    for c, image in _images(found):
        if not image:
            yield f"{c.path} ({c.name}) has no image"
            continue
        _, tag, digest = _image_ref(str(image))
        moving = tag is None or tag.split("-", 1)[0] in MOVING_TAGS
        if digest is None and moving:
            yield f"{c.path} ({c.name}) image {shown(image)} is not pinned: use a version tag or " \
                  "a @sha256 digest"


def _allowed_registry(_o: Obj, found: Extraction, config: dict) -> Iterator[str]:
    allowed = list(config["allowedRegistries"])
    for c, image in _images(found):
        if not image:
            continue
        repo, _, _ = _image_ref(str(image))
        if not any(fnmatch.fnmatchcase(repo, pattern) for pattern in allowed):
            yield f"{c.path} ({c.name}) image {shown(image)} is from a registry outside " \
                  f"allowedRegistries"


def _gpu_limits(_o: Obj, found: Extraction, config: dict) -> Iterator[str]:
    cap = config["maxGpusPerContainer"]
    for pod in found.templates:
        for c in pod.containers:
            limit, request = gpu_quantity(c, "limits"), gpu_quantity(c, "requests")
            if limit is None and request is None:
                continue
            if limit is None:
                yield f"{c.path} ({c.name}) requests nvidia.com/gpu without a limit"
                continue
            value = number(limit)
            if value is None or not value.is_integer() or value < 0:
                yield f"{c.path} ({c.name}) nvidia.com/gpu limit {shown(limit)} is not a " \
                      "whole number"
                continue
            if request is not None and number(request) != value:
                yield f"{c.path} ({c.name}) nvidia.com/gpu request {shown(request)} differs from " \
                      f"limit {shown(limit)}"
            if value > cap:
                yield f"{c.path} ({c.name}) asks for {value:g} nvidia.com/gpu, above " \
                      f"maxGpusPerContainer {cap}"


def _gpu_selection(_o: Obj, found: Extraction, _c: dict) -> Iterator[str]:
    for pod in found.templates:
        if selects_gpu_nodes(pod.spec) and not any(
                (number(gpu_quantity(c, "limits")) or 0) > 0 for c in pod.containers):
            yield f"{pod.path} targets GPU nodes but no container has an nvidia.com/gpu limit: " \
                  "it would hold a GPU node without using the GPU"


def _namespace_ksa(obj: Obj, found: Extraction, _c: dict) -> Iterator[str]:
    namespace = dig(obj, "metadata", "namespace")
    if namespace in (None, "", "default"):
        yield f"metadata.namespace is {shown(namespace)}: put workloads in their own namespace"
    for pod in found.templates:
        account = dig(pod.spec, "serviceAccountName")
        if account in (None, "", "default"):
            yield f"{pod.path}.serviceAccountName is {shown(account)}: give the workload its own " \
                  "Kubernetes service account (bound to a Google one through Workload Identity)"
        elif truthy(dig(pod.spec, "automountServiceAccountToken")) and account == "default":
            yield f"{pod.path} mounts the default service account token"


def _replicas(obj: Obj, pod: PodTemplate) -> float:
    if pod.kind == "InferenceService":
        return number(dig(pod.spec, "minReplicas")) or 1.0
    value = number(dig(obj, "spec", "replicas"))
    return 1.0 if value is None else value


def _probes_replicas(obj: Obj, found: Extraction, config: dict) -> Iterator[str]:
    for pod in found.templates:
        if pod.kind not in LONG_RUNNING_KINDS:
            continue
        for c in pod.containers:
            if c.init or c.runtime_managed:
                continue
            for probe in ("readinessProbe", "livenessProbe"):
                if dig(c.spec, probe) is None:
                    yield f"{c.path} ({c.name}) has no {probe}"
        replicas = _replicas(obj, pod)
        if replicas < config["minReplicas"]:
            field = "minReplicas" if pod.kind == "InferenceService" else "spec.replicas"
            yield f"{pod.path}: {field} {replicas:g} is below minReplicas {config['minReplicas']}"


def _no_load_balancer(props: Obj, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    annotations = dig(props, "metadata", "annotations")
    internal = is_map(annotations) and str(
        annotations.get("networking.gke.io/load-balancer-type", "")).lower() == "internal"
    if dig(props, "spec", "type") == "LoadBalancer" and not internal:
        yield "Service type LoadBalancer exposes the workload on a public IP; use ClusterIP " \
              "behind the ingress gateway, or an internal load balancer"


def _pod_labels(r: PolicyResource, pod: PodTemplate) -> dict[str, Any]:
    labels = dict(pod.labels)
    if pod.kind == "InferenceService":
        labels["serving.kserve.io/inferenceservice"] = dig(r.props, "metadata", "name")
    return labels


def _disruption_budgets(resources: Sequence[PolicyResource], config: dict
                        ) -> Iterator[tuple[str, str | None]]:
    budgets = [(dig(r.props, "metadata", "namespace"),
                dig(r.props, "spec", "selector", "matchLabels"))
               for r in resources if r.resource_type == PDB]
    for r in resources:
        if r.resource_type not in WORKLOAD_TYPES:
            continue
        kind = kind_of(r.resource_type, r.props)
        if exempt("serving-disruption-budget", kind, r.props):
            continue
        namespace = dig(r.props, "metadata", "namespace")
        for pod in extract(r.resource_type, r.props).templates:
            if pod.kind not in LONG_RUNNING_KINDS or _replicas(r.props, pod) < 2:
                continue
            labels = _pod_labels(r, pod) | dict(object_labels(r.props))
            covered = any(ns == namespace and is_map(sel) and sel
                          and all(labels.get(k) == v for k, v in sel.items())
                          for ns, sel in budgets)
            if not covered:
                yield (f"{kind} {dig(r.props, 'metadata', 'name')} runs {_replicas(r.props, pod):g}"
                       " replicas without a PodDisruptionBudget selecting its pods", r.urn)


def _shared_pools(resources: Sequence[PolicyResource]) -> list[tuple[str, str, str]]:
    """(pool name, GPU type, sharing strategy) of every node pool whose GPUs are shared."""
    pools = []
    for r in resources:
        if r.resource_type != NODE_POOL:
            continue
        for acc in items(dig(r.props, "nodeConfig", "guestAccelerators")):
            strategy = dig(acc, "gpuSharingConfig", "gpuSharingStrategy")
            if strategy:
                pools.append((str(dig(r.props, "name") or r.name), str(dig(acc, "type")),
                              str(strategy)))
    return pools


def _may_land_on(selector: Any, pool: tuple[str, str, str]) -> bool:
    """Whether a pod with this node selector can be scheduled onto the shared pool."""
    selector = selector if is_map(selector) else {}
    if capacity().sharing.strategy_label in selector:
        return True
    name, gpu, _ = pool
    if GKE_NODEPOOL_LABEL in selector and selector[GKE_NODEPOOL_LABEL] != name:
        return False
    return all(selector.get(label, gpu) == gpu
               for label in (GKE_ACCELERATOR_LABEL, OUR_ACCELERATOR_LABEL))


def _pod_gpus(pod: PodTemplate) -> float:
    return max((number(gpu_quantity(c, "limits")) or number(gpu_quantity(c, "requests")) or 0
                for c in pod.containers), default=0)


def _shared_gpu_requests(resources: Sequence[PolicyResource], config: dict
                         ) -> Iterator[tuple[str, str | None]]:
    pools = _shared_pools(resources)
    if not pools:
        return
    limit = config["maxGpusOnSharedPool"]
    for r in resources:
        if r.resource_type not in WORKLOAD_TYPES:
            continue
        for pod in extract(r.resource_type, r.props).templates:
            gpus = _pod_gpus(pod)
            if gpus <= limit:
                continue
            for pool in pools:
                if _may_land_on(dig(pod.spec, "nodeSelector"), pool):
                    kind = kind_of(r.resource_type, r.props)
                    yield (f"{kind} {dig(r.props, 'metadata', 'name')}: {pod.path} asks for "
                           f"{gpus:g} nvidia.com/gpu and may land on pool {pool[0]}, whose "
                           f"{pool[1]} GPUs are shared ({pool[2]}); a container there gets at "
                           f"most {limit} (GKE refuses the pod)", r.urn)


POLICIES = [
    workload_policy(_rule(
        "WL-01", "workload-pod-templates-readable",
        "Every workload object has pod templates the pack can find and check (TFJob "
        "tfReplicaSpecs, Katib trialSpec, KServe predictor).", Severity.HIGH,
        "Declare pod templates inline (Katib: trialTemplate.trialSpec, not a ConfigMap); give "
        "every template at least one container."), _readable),
    workload_policy(_rule(
        "WL-02", "workload-no-privileged",
        "No privileged containers, host namespaces, hostPath volumes or dangerous capabilities.",
        Severity.CRITICAL, "Remove privileged/hostNetwork/hostPID/hostIPC and hostPath; mount "
        "data from GCS (gcsfuse CSI) or a PVC instead."), _no_privileged),
    workload_policy(_rule(
        "WL-03", "workload-restricted-security-context",
        "Containers run as non-root, without privilege escalation, drop ALL capabilities and "
        "use the RuntimeDefault seccomp profile.", Severity.HIGH,
        "Set securityContext: runAsNonRoot: true, allowPrivilegeEscalation: false, "
        "capabilities.drop: [ALL], seccompProfile.type: RuntimeDefault."),
        _restricted),
    workload_policy(_rule(
        "WL-04", "workload-read-only-root-fs", "Containers have a read-only root filesystem.",
        Severity.MEDIUM, "Set readOnlyRootFilesystem: true and mount emptyDir volumes for /tmp "
        "and checkpoint scratch space.", enforcement=ADVISORY), _read_only_root),
    workload_policy(_rule(
        "WL-05", "workload-resources", "Containers declare CPU and memory requests and a "
        "memory limit.", Severity.MEDIUM, "Set resources.requests.cpu, resources.requests."
        "memory and resources.limits.memory on every container."), _resources),
    workload_policy(_rule(
        "WL-06", "workload-image-pinned", "Images are pinned to a version tag or digest, never "
        "latest or untagged.", Severity.HIGH, "Reference images as repo:1.2.3 or "
        "repo@sha256:<digest> (CI can resolve tags to digests)."), _pinned),
    workload_policy(_rule(
        "WL-07", "workload-image-allowed-registry", "Images come from allowed registries.",
        Severity.HIGH, "Mirror the image into the platform's Artifact Registry or add its "
        "registry to allowedRegistries in the stack's policy config.",
        config={"allowedRegistries": {
            "type": "array", "items": {"type": "string"},
            "description": "Glob patterns for image repositories (registry host included; "
                           "Docker Hub names are expanded to docker.io/...).",
            "default": list(ALLOWED_REGISTRIES)}}), _allowed_registry),
    workload_policy(_rule(
        "WL-08", "gpu-limits-valid", "nvidia.com/gpu is a whole-number limit, equal to any "
        "request, and at most maxGpusPerContainer.", Severity.HIGH,
        "Set resources.limits['nvidia.com/gpu'] to an integer (requests default to it).",
        config={"maxGpusPerContainer": {"type": "integer", "minimum": 1, "default": 4,
                                        "description": "Most GPUs one container may ask for."}}),
        _gpu_limits),
    workload_policy(_rule(
        "WL-09", "gpu-node-selection-requests-gpu", "Pods that target GPU nodes (accelerator "
        "node selector or GPU toleration) request a GPU.", Severity.MEDIUM,
        "Add an nvidia.com/gpu limit, or drop the GPU node selector and toleration so the pod "
        "runs on CPU nodes."), _gpu_selection),
    workload_policy(_rule(
        "WL-10", "workload-namespace-and-ksa", "Workloads run in their own namespace with their "
        "own Kubernetes service account.", Severity.MEDIUM,
        "Set metadata.namespace and serviceAccountName (the KSA bound to a Google service "
        "account with Workload Identity)."), _namespace_ksa),
    workload_policy(_rule(
        "WL-11", "serving-probes-and-replicas", "Long-running services have readiness and "
        "liveness probes and at least minReplicas replicas.", Severity.MEDIUM,
        "Add readinessProbe/livenessProbe; raise replicas (InferenceService: minReplicas).",
        config={"minReplicas": {"type": "integer", "minimum": 1, "default": 1,
                                "description": "Fewest replicas of a Deployment, StatefulSet "
                                               "or InferenceService."}}), _probes_replicas),
    MlpStackPolicy(_rule(
        "WL-12", "serving-disruption-budget", "Services with two or more replicas have a "
        "PodDisruptionBudget selecting their pods.", Severity.MEDIUM,
        "Add a policy/v1 PodDisruptionBudget (minAvailable: 1) in the same namespace whose "
        "selector matches the pod labels."), _disruption_budgets),
    MlpStackPolicy(_rule(
        "WL-14", "shared-gpu-single-device", "A workload that asks for more than one GPU per "
        "container never lands on a node pool whose GPUs are shared (time-sharing or MPS).",
        Severity.HIGH, "Select a pool without GPU sharing (nodeSelector "
        "cloud.google.com/gke-nodepool), or ask for one nvidia.com/gpu on the shared pool.",
        config={"maxGpusOnSharedPool": {
            "type": "integer", "minimum": 1,
            "default": capacity().sharing.max_gpus_per_container,
            "description": "Most nvidia.com/gpu one container may ask for on a shared GPU "
                           "node (GKE: 1)."}}), _shared_gpu_requests),
    MlpResourcePolicy(_rule(
        "WL-13", "no-loadbalancer-services", "No Service of type LoadBalancer on a public IP.",
        Severity.HIGH, "Use ClusterIP behind the ingress gateway, or annotate "
        "networking.gke.io/load-balancer-type: Internal."), [SERVICE], _no_load_balancer),
]
