"""Capacity the like-for-like options need besides training, sized from data, never typed in.

- Serving: nodes (GKE) or endpoint replicas (Vertex) = the scenario's request rate over the
  predictor's measured requests/s per node, where its measured p99 meets the scenario's target
  (`workloads/cifar10/benchmarks/results.yaml`, read through `cost.per_model`).
- Kubeflow: nodes for the requests of the installs a GKE option runs, summed from the ownership
  catalogue (`infra/data/ownership.yaml`) and set against a node's allocatable CPU and memory
  after GKE's reservations (`infra.preflight.allocatable`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from cost.per_model import Throughput, load_results, load_throughput_data, measured_serving
from cost.scenario import Kubeflow, NodePool, Scenario, ScenarioError, Serving


@dataclass(frozen=True)
class ServingSize:
    """Nodes that serve `requests_per_s` at a p99 within `target_p99_ms`."""

    replicas: int
    requests_per_s: Decimal
    target_p99_ms: Decimal
    per_node: Throughput
    machine_type: str

    def describe(self) -> str:
        return (f"{self.replicas} × {self.machine_type}: max(min_replicas, ⌈"
                f"{self.requests_per_s} requests/s / {self.per_node.value} requests/s per node⌉)"
                f"; {self.per_node.label()}")


@dataclass(frozen=True)
class KubeflowSize:
    """Nodes that hold the requests of Kubeflow's installs."""

    nodes: int
    installs: tuple[str, ...]
    cpu: Decimal
    memory_gib: Decimal
    node_cpu: Decimal
    node_memory_gib: Decimal
    unset: int
    machine_type: str

    def describe(self) -> str:
        unset = (f"; {self.unset} upstream container(s) set no requests and are not counted"
                 if self.unset else "")
        return (f"{self.nodes} × {self.machine_type} for the requests of "
                f"{', '.join(self.installs)} (cpu {self.cpu:.2f}, memory "
                f"{self.memory_gib:.2f} GiB, infra/data/ownership.yaml) against cpu "
                f"{self.node_cpu:.2f}, memory {self.node_memory_gib:.2f} GiB allocatable per "
                f"node{unset}; kube-system's own pods are not in the catalogue")


@cache
def _throughput_inputs() -> tuple:
    return load_throughput_data(), load_results()


@cache
def _serving(requests_per_s: Decimal, target: Decimal | None, min_replicas: int,
             machine_type: str) -> ServingSize:
    data, results = _throughput_inputs()
    target = data.assumptions["target_p99_ms"].value if target is None else target
    measured, why = measured_serving(results, target)
    if measured is None:
        reason = why.split("; give ")[0]  # the CLI hint does not apply to a scenario file
        raise ScenarioError(f"serving.target_p99_ms: {target} ms: {reason}; allowed: a target "
                            f"the measured p99 meets")
    replicas = max(min_replicas, math.ceil(requests_per_s / measured.value))
    return ServingSize(replicas, requests_per_s, target, measured, machine_type)


def serving_size(serving: Serving) -> ServingSize:
    """Replicas for the scenario's request rate at its latency target.

    Raises:
        ScenarioError: when no measured rate meets the target.
    """
    return _serving(serving.requests_per_s, serving.target_p99_ms, serving.min_replicas,
                    serving.machine_type)


@cache
def _kubeflow(installs: tuple[str, ...], machine_type: str) -> KubeflowSize:
    from facts.hardware import UnknownMachineType, catalog
    from infra.ownership import load_catalogue
    from infra.preflight import allocatable

    known = load_catalogue().installs
    unknown = [name for name in installs if name not in known]
    if unknown:
        raise ScenarioError(f"kubeflow.installs: '{unknown[0]}' is not an install of "
                            f"infra/data/ownership.yaml; allowed: {', '.join(sorted(known))}")
    try:
        shape = catalog().machine(machine_type)
    except UnknownMachineType as err:
        raise ScenarioError(f"kubeflow.machine_type: '{machine_type}': {err}") from None
    cpu = Decimal(sum(known[n].footprint.cpu_millicores for n in installs)) / 1000
    memory = Decimal(str(sum(known[n].footprint.memory_mib for n in installs))) / 1024
    unset = sum(len(w.containers_without_requests) for n in installs
                for w in known[n].footprint.workloads)
    node_cpu, node_memory = allocatable(shape.vcpus, shape.memory_gb)
    nodes = max(1, math.ceil(max(cpu / node_cpu, memory / node_memory)))
    return KubeflowSize(nodes, installs, cpu, memory, node_cpu, node_memory, unset, machine_type)


def kubeflow_size(kubeflow: Kubeflow) -> KubeflowSize:
    """Nodes for Kubeflow's requests.

    Raises:
        ScenarioError: for an install the catalogue does not have, or an unknown machine.
    """
    return _kubeflow(tuple(kubeflow.installs), kubeflow.machine_type)


def sized_pools(s: Scenario) -> list[tuple[NodePool, str]]:
    """The always-on pools a GKE option adds for Kubeflow and serving, each with how it was
    sized."""
    pools = []
    if s.kubeflow is not None:
        size = kubeflow_size(s.kubeflow)
        pools.append((NodePool(name="kubeflow", machine_type=s.kubeflow.machine_type,
                               nodes=size.nodes, disk_gb=s.kubeflow.disk_gb,
                               disk_type=s.kubeflow.disk_type), size.describe()))
    if s.serving is not None:
        size = serving_size(s.serving)
        pools.append((NodePool(name="serving", machine_type=s.serving.machine_type,
                               nodes=size.replicas, disk_gb=s.serving.disk_gb,
                               disk_type=s.serving.disk_type), size.describe()))
    return pools
