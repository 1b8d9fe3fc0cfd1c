"""Kueue on the cluster: how it is installed, and the queues of queued-provisioning pools.

For every pool with `provisioning: queued` the platform declares one queue chain, all named after
the pool:

- a ResourceFlavor whose node labels pin admitted pods to the pool (`cloud.google.com/gke-nodepool`)
  and whose tolerations let them onto its nodes (GKE taints queued-provisioning nodes);
- a ProvisioningRequestConfig (class `queued-provisioning.gke.io`, managing `nvidia.com/gpu`) and
  the AdmissionCheck that uses it: Kueue creates a ProvisioningRequest for each job it reserves
  quota for, and admits the job only when GKE has provisioned all of its nodes at once;
- a ClusterQueue with the pool's capacity at its maximum size as quota (vCPUs, memory, GPUs from
  the hardware catalog) and that admission check;
- a LocalQueue in each namespace jobs are launched from (training runs and Katib trials in
  `ml-training`, pipeline steps in `kubeflow`).

A job reaches the pool by carrying the label `kueue.x-k8s.io/queue-name: <pool>`; the training
chart and the pipeline's training step set it (with the pool's maximum run duration as the
ProvisioningRequest's `maxRunDurationSeconds`). Objects are plain dicts here, so tests and the
docs can read them without Pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from facts.capacity import GKE_NODEPOOL_LABEL, MAX_RUN_ANNOTATION, QUEUE_LABEL, capacity
from facts.hardware import GPU_TAINT_KEY, catalog
from infra.config import NodePoolConfig, PlatformConfig

KUEUE_NAMESPACE = "kueue-system"
API_VERSION = "kueue.x-k8s.io/v1beta2"
"""The storage version of Kueue's CRDs at the pinned v0.19.2."""
PROVISIONING_CONTROLLER = "kueue.x-k8s.io/provisioning-request"
GPU_RESOURCE = "nvidia.com/gpu"
MANAGER_CONFIG_PATH = Path(__file__).parent / "data" / "kueue-manager-config.yaml"
QUEUE_NAMESPACES = ("ml-training", "kubeflow")
"""Where queued jobs are created: training runs and Katib trials, and pipeline steps."""


@cache
def chart_values() -> dict[str, Any]:
    """Values of the Kueue chart: the controller configuration with the TFJob integration on.

    The same mapping is what `infra.ownership` renders the chart with, so the catalogue entry
    matches the install."""
    config = yaml.safe_load(MANAGER_CONFIG_PATH.read_text())
    return {"managerConfig": {"controllerManagerConfigYaml": yaml.safe_dump(config,
                                                                            sort_keys=False)}}


def integrations() -> tuple[str, ...]:
    """The job kinds the installed Kueue admits (`integrations.frameworks`)."""
    config = yaml.safe_load(MANAGER_CONFIG_PATH.read_text())
    return tuple(config["integrations"]["frameworks"])


@dataclass(frozen=True)
class QueueSpec:
    """One queued-provisioning pool's queue chain: its name and its quota at maximum size."""

    pool: str
    cpu: int
    memory_gib: float
    gpus: int
    max_run_seconds: int | None
    namespaces: tuple[str, ...] = QUEUE_NAMESPACES
    """Namespaces that get a LocalQueue (those of QUEUE_NAMESPACES the stack has)."""

    @property
    def name(self) -> str:
        return self.pool


def queue_spec(pool: NodePoolConfig, namespaces: tuple[str, ...] = QUEUE_NAMESPACES
               ) -> QueueSpec:
    """The quota of a queued pool: its machine shape times its maximum node count."""
    shape = catalog().machine(pool.machine_type)
    gpus = pool.accelerator.count if pool.accelerator else 0
    return QueueSpec(pool.name, shape.vcpus * pool.max_nodes,
                     round(shape.memory_gb * pool.max_nodes, 2), gpus * pool.max_nodes,
                     pool.max_run_hours * 3600 if pool.max_run_hours else None, namespaces)


def queue_specs(cfg: PlatformConfig) -> list[QueueSpec]:
    """Queue chains of a stack: one per queued-provisioning pool, in pool order. Pipeline steps
    get a LocalQueue only where Pipelines runs."""
    namespaces = tuple(ns for ns in QUEUE_NAMESPACES
                       if ns != "kubeflow" or cfg.kubeflow.pipelines)
    return [queue_spec(p, namespaces) for p in cfg.node_pools if p.queued]


def queue_objects(spec: QueueSpec) -> list[dict[str, Any]]:
    """The Kueue objects for one queued pool, in the order they must be created."""
    queued = capacity().queued
    taint = queued.node_taint

    def obj(kind: str, spec_: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": spec.name,
                                "labels": {"app.kubernetes.io/part-of": "ml-platform",
                                           "ml-platform/node-pool": spec.pool}}
        if namespace:
            meta["namespace"] = namespace
        return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec_}

    return [
        obj("ResourceFlavor", {
            "nodeLabels": {GKE_NODEPOOL_LABEL: spec.pool},
            "tolerations": [
                {"key": taint["key"], "operator": "Equal", "value": taint["value"],
                 "effect": taint["effect"]},
                {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]}),
        obj("ProvisioningRequestConfig", {
            "provisioningClassName": queued.provisioning_class,
            "managedResources": [GPU_RESOURCE]}),
        obj("AdmissionCheck", {
            "controllerName": PROVISIONING_CONTROLLER,
            "parameters": {"apiGroup": API_VERSION.split("/")[0],
                           "kind": "ProvisioningRequestConfig", "name": spec.name}}),
        obj("ClusterQueue", {
            "namespaceSelector": {"matchExpressions": [{
                "key": "kubernetes.io/metadata.name", "operator": "In",
                "values": list(spec.namespaces)}]},
            "resourceGroups": [{
                "coveredResources": ["cpu", "memory", GPU_RESOURCE],
                "flavors": [{"name": spec.name, "resources": [
                    {"name": "cpu", "nominalQuota": spec.cpu},
                    {"name": "memory", "nominalQuota": f"{spec.memory_gib:g}Gi"},
                    {"name": GPU_RESOURCE, "nominalQuota": spec.gpus}]}]}],
            "admissionChecksStrategy": {"admissionChecks": [{"name": spec.name}]}}),
        *(obj("LocalQueue", {"clusterQueue": spec.name}, namespace=ns)
          for ns in spec.namespaces),
    ]


def job_metadata(pool: NodePoolConfig) -> dict[str, dict[str, str]]:
    """Labels and annotations a job needs to be admitted into a queued pool (empty otherwise)."""
    if not pool.queued:
        return {"labels": {}, "annotations": {}}
    annotations = ({MAX_RUN_ANNOTATION: str(pool.max_run_hours * 3600)}
                   if pool.max_run_hours else {})
    return {"labels": {QUEUE_LABEL: pool.name}, "annotations": annotations}
