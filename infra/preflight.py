"""Preflight: what must be true in the project before `pulumi up`, worked out offline.

The offline preview proves a stack is well formed; it cannot see the project it will land in.
The most common first-deploy failures are outside the program: GPU quota (new projects start at
zero), APIs, the deploying identity's roles, settings still at placeholders, and workloads that
fit no node of their pool. Each finding here says what the stack needs, the `gcloud` command
that checks it and the one that fixes it. Only what is certain to fail (a workload that cannot
be scheduled on its pool) is an error; quotas and roles are warnings, since only the project
can tell.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from facts.capacity import capacity as capacity_catalog
from facts.hardware import catalog
from facts.preview import Preview
from infra.config import NodePoolConfig, PlatformConfig
from infra.placeholders import find_placeholders

TABLE = Path(__file__).parent / "data" / "preflight.yaml"

Status = Literal["ok", "todo", "warn", "fail"]
SERVICE = "gcp:projects/service:Service"


@cache
def table() -> dict[str, Any]:
    return yaml.safe_load(TABLE.read_text())


@dataclass(frozen=True)
class Finding:
    """One thing to check before deploying."""

    section: Literal["quota", "placeholder", "api", "iam", "capacity"]
    status: Status
    what: str
    need: str
    check: str = ""
    fix: str = ""


@dataclass(frozen=True)
class Preflight:
    stack: str
    project: str
    region: str
    findings: list[Finding]

    @property
    def failed(self) -> bool:
        return any(f.status == "fail" for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "project": self.project, "region": self.region,
                "failed": self.failed, "findings": [asdict(f) for f in self.findings]}


def _quota_check(project: str, region: str | None, metric: str) -> str:
    if region is None:
        return (f"gcloud compute project-info describe --project {project} --flatten=quotas "
                f"--filter='quotas.metric={metric}' --format='value(quotas.limit,quotas.usage)'")
    return (f"gcloud compute regions describe {region} --project {project} --flatten=quotas "
            f"--filter='quotas.metric={metric}' --format='value(quotas.limit,quotas.usage)'")


def _quota_fix(project: str, region: str | None, metric: str, value: int) -> str:
    scope = "per-project" if region is None else "per-project-region"
    dims = "" if region is None else f" --dimensions=region={region}"
    quota_id = f"{metric.replace('_', '-')}-{scope}"
    return (f"gcloud beta quotas preferences create --project={project} "
            f"--service=compute.googleapis.com --quota-id={quota_id}{dims} "
            f"--preferred-value={value}")


def quotas(cfg: PlatformConfig) -> list[Finding]:
    """Compute Engine quotas the stack needs with every pool at its maximum size."""
    t = table()
    need: dict[str, int] = defaultdict(int)
    gpus_all = 0
    for pool in cfg.node_pools:
        shape = catalog().machine(pool.machine_type)
        need[t["cpu_metric"][shape.family]] += pool.max_nodes * shape.vcpus
        need[t["disk_metric"][pool.disk_type]] += pool.max_nodes * pool.disk_size_gb
        gpus = _gpus_per_node(pool)
        if gpus:
            metric = t["gpu_metric"][_gpu_type(pool)]
            # Spot and flex-start capacity both count against the preemptible GPU quota.
            preemptible = pool.spot or (pool.flex_start and capacity_catalog().flex_start
                                        .preemptible_quota)
            need[("PREEMPTIBLE_" if preemptible else "") + metric] += pool.max_nodes * gpus
            gpus_all += pool.max_nodes * gpus
    findings = [Finding("quota", "warn", f"{metric} in {cfg.region}", f"≥ {value}",
                        _quota_check(cfg.project, cfg.region, metric),
                        _quota_fix(cfg.project, cfg.region, metric, value))
                for metric, value in sorted(need.items())]
    if gpus_all:
        findings.append(Finding(
            "quota", "warn", "GPUS_ALL_REGIONS (global)",
            f"≥ {gpus_all} (new projects start at 0)",
            _quota_check(cfg.project, None, "GPUS_ALL_REGIONS"),
            _quota_fix(cfg.project, None, "GPUS_ALL_REGIONS", gpus_all)))
    return findings


def _gpu_type(pool: NodePoolConfig) -> str:
    if pool.accelerator is not None:
        return pool.accelerator.type
    return "nvidia-l4"  # G2 shapes come with their L4s


def _gpus_per_node(pool: NodePoolConfig) -> int:
    if pool.accelerator is not None:
        return pool.accelerator.count
    shape = catalog().machine(pool.machine_type)
    return (catalog().families[shape.family].fixed_gpus or {}).get(shape.vcpus, 0)


def placeholders(cfg: PlatformConfig) -> list[Finding]:
    return [Finding("placeholder", "todo", p.key, f"your own value, not {p.value}",
                    fix=_set_command(p.key)) for p in find_placeholders(cfg)]


def _set_command(key: str) -> str:
    if key.startswith("gcp:"):
        return f"pulumi config set {key} <value>"
    return f"edit ml-platform:platform.{key} in the stack file"


def apis(cfg: PlatformConfig, preview: Preview) -> list[Finding]:
    """The APIs the stack enables itself, and the quota project a budget's calls need."""
    services = sorted(r.inputs["service"] for r in preview.of_type(SERVICE))
    findings = [Finding(
        "api", "ok", "APIs the stack enables", ", ".join(services),
        f"gcloud services list --enabled --project {cfg.project}",
        "nothing to do: `pulumi up` enables them (the deploying identity needs "
        "roles/serviceusage.serviceUsageAdmin)")]
    if cfg.budget:
        quota = cfg.budget.quota_project or cfg.project
        findings.append(Finding(
            "api", "ok", "quota project of the Billing Budget API", quota,
            f"gcloud services list --enabled --project {quota} --filter=billingbudgets",
            f"the identity needs serviceusage.services.use on {quota} "
            f"(roles/serviceusage.serviceUsageConsumer)"))
    return findings


def iam(cfg: PlatformConfig, preview: Preview) -> list[Finding]:
    """Roles the deploying identity needs, from the resource types the stack declares."""
    roles_by_type = table()["deploy_roles"]
    roles: dict[str, set[str]] = defaultdict(set)
    unknown: set[str] = set()
    for r in preview.resources:
        if not r.custom or r.type.startswith("pulumi:"):
            continue
        key = "kubernetes" if r.type.startswith("kubernetes:") else r.type
        if key not in roles_by_type:
            unknown.add(r.type)
            continue
        for role in roles_by_type[key]:
            roles[role].add(r.type.rsplit(":", 1)[-1])
    # A type the table does not know is reported, not guessed: its roles are for a person to find.
    findings = [Finding("iam", "warn", f"roles for {t}",
                        "unknown: not in infra/data/preflight.yaml", "",
                        f"add {t} with the roles that create it to deploy_roles")
                for t in sorted(unknown)]
    for role, types in sorted(roles.items()):
        on_billing = role.startswith("billing-account:")
        role = role.removeprefix("billing-account:")
        if on_billing and cfg.budget:
            account = cfg.budget.billing_account
            check = (f"gcloud billing accounts get-iam-policy {account} "
                     f"--flatten=bindings --filter='bindings.role={role}'")
            fix = (f"gcloud billing accounts add-iam-policy-binding {account} "
                   f"--member=user:<you> --role={role}")
        else:
            check = (f"gcloud projects get-iam-policy {cfg.project} --flatten=bindings "
                     f"--filter='bindings.role={role}' --format='value(bindings.members)'")
            fix = (f"gcloud projects add-iam-policy-binding {cfg.project} "
                   f"--member=user:<you> --role={role}")
        findings.append(Finding("iam", "warn", role, "for " + ", ".join(sorted(types)),
                                check, fix))
    return findings


def allocatable(vcpus: int, memory_gib: float) -> tuple[Decimal, Decimal]:
    """CPU cores and memory (GiB) a GKE node of this size leaves to pods."""
    res = table()["reservations"]

    def reserved(total: float, bands: list[list[float]]) -> Decimal:
        out, floor = Decimal(0), 0.0
        for upto, share in bands:
            span = max(0.0, min(total, upto) - floor)
            out += Decimal(str(span)) * Decimal(str(share))
            floor = upto
        return out

    cpu = Decimal(vcpus) - reserved(vcpus, res["cpu_bands"])
    mem = (Decimal(str(memory_gib)) - reserved(memory_gib, res["memory_bands_gib"])
           - Decimal(res["eviction_mib"]) / 1024)
    return cpu, mem


def _cpu(quantity: str | int | float) -> Decimal:
    text = str(quantity)
    return Decimal(text[:-1]) / 1000 if text.endswith("m") else Decimal(text)


_MEM_UNITS = {"Ki": 2**-20, "Mi": 2**-10, "Gi": 1, "Ti": 2**10,
              "K": 1e3 / 2**30, "M": 1e6 / 2**30, "G": 1e9 / 2**30}


def _mem_gib(quantity: str | int | float) -> Decimal:
    text = str(quantity)
    for suffix, factor in _MEM_UNITS.items():
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * Decimal(str(factor))
    return Decimal(text) / Decimal(2**30)


@dataclass(frozen=True)
class Workload:
    """A pod the stack runs or launches, and the pool it must fit."""

    name: str
    pool: str
    cpu: Decimal
    memory_gib: Decimal
    gpus: int


def serving_workloads(cfg: PlatformConfig, preview: Preview) -> list[Workload]:
    """The predictors the stack declares (its InferenceServices), with their pools."""
    cpu_pools = [p.name for p in cfg.node_pools if _gpus_per_node(p) == 0]
    pool = cfg.workloads.serving.gpu_pool or (cpu_pools[0] if cpu_pools else "")
    return [_workload(f"InferenceService {r.inputs['metadata']['name']}", pool,
                      _predictor_container(r.inputs["spec"]["predictor"]))
            for r in preview.resources
            if r.type == "kubernetes:serving.kserve.io/v1beta1:InferenceService"]


def _predictor_container(predictor: dict[str, Any]) -> dict[str, Any]:
    """The predictor's serving container: our image's, or a KServe runtime's `model` block,
    which carries the resources the runtime's container gets."""
    return predictor["containers"][0] if predictor.get("containers") else predictor["model"]


def workloads(cfg: PlatformConfig, stack: str, preview: Preview) -> list[Workload]:
    """The serving predictor (declared) and a launched training run's chief, with their pools."""
    found = serving_workloads(cfg, preview)
    cpu_pools = [p.name for p in cfg.node_pools if _gpus_per_node(p) == 0]
    training = cfg.workloads.training
    if cfg.has_cluster and training.enabled:
        from infra.charts import CHARTS_DIR, render
        from infra.components.cifar10 import launch_values

        for obj in render(CHARTS_DIR / "cifar10-training", launch_values(cfg, stack),
                          release="cifar10", namespace="ml-training"):
            # A Katib Experiment runs its trials as the TFJob in its trial template.
            job = obj["spec"]["trialTemplate"]["trialSpec"] if obj["kind"] == "Experiment" \
                else obj
            chief = job["spec"]["tfReplicaSpecs"]["Chief"]["template"]["spec"]["containers"][0]
            pool = training.gpu_pool or (cpu_pools[0] if cpu_pools else "")
            found.append(_workload("TFJob chief (launched training)", pool, chief))
    return found


def _workload(name: str, pool: str, container: dict[str, Any]) -> Workload:
    requests = container.get("resources", {}).get("requests", {})
    limits = container.get("resources", {}).get("limits", {})
    gpus = int(limits.get("nvidia.com/gpu", requests.get("nvidia.com/gpu", 0)))
    return Workload(name, pool, _cpu(requests.get("cpu", 0)),
                    _mem_gib(requests.get("memory", 0)), gpus)


def capacity(cfg: PlatformConfig, stack: str, preview: Preview) -> list[Finding]:
    """Does each workload fit one node of its pool (allocatable CPU, memory and GPUs)?"""
    pools = {p.name: p for p in cfg.node_pools}
    findings = []
    for w in workloads(cfg, stack, preview):
        pool = pools.get(w.pool)
        if pool is None:
            findings.append(Finding("capacity", "fail", w.name, "a node pool to run on",
                                    fix="add a CPU node pool"))
            continue
        shape = catalog().machine(pool.machine_type)
        # Compute Engine's "GB" of machine memory are binary gigabytes.
        cpu, mem = allocatable(shape.vcpus, shape.memory_gb)
        gpus = _gpus_per_node(pool)
        short = [f"{what} {need} > {have}" for what, need, have in (
            ("cpu", w.cpu, round(cpu, 2)), ("memory GiB", round(w.memory_gib, 2), round(mem, 2)),
            ("GPUs", w.gpus, gpus)) if need > have]
        need = (f"cpu {w.cpu}, memory {round(w.memory_gib, 2)} GiB, {w.gpus} GPU(s) on one "
                f"{pool.machine_type} of pool {pool.name} (allocatable cpu {round(cpu, 2)}, "
                f"memory {round(mem, 2)} GiB, {gpus} GPU(s))")
        findings.append(Finding(
            "capacity", "fail" if short else "ok", w.name,
            need + (": does not fit: " + "; ".join(short) if short else ""),
            fix="" if not short else "a larger machine_type for the pool, or smaller requests"))
    return findings


INSTALL_TYPES = ("kubernetes:helm.sh/v4:Chart", "kubernetes:kustomize/v2:Directory")
INSTALL_PREFIX = "mlp-kubeflow-"


def system_capacity(cfg: PlatformConfig, preview: Preview) -> list[Finding]:
    """Can the CPU pools hold Kubeflow's own pods and the serving replicas?

    Kubeflow's requests are the footprints of the installs the stack declares, from the
    ownership catalogue (`infra/data/ownership.yaml`); containers upstream ships without requests
    are counted and named, not guessed. Fails only when the pools at their maximum size cannot
    hold the requests; short at minimum size is a warning (the autoscaler adds nodes).
    """
    from infra.ownership import load_catalogue

    installs = load_catalogue().installs
    declared = [r.name.removeprefix(INSTALL_PREFIX) for r in preview.resources
                if r.type in INSTALL_TYPES and r.name.startswith(INSTALL_PREFIX)]
    if not declared:
        return []
    cpu_m = sum(installs[name].footprint.cpu_millicores for name in declared if name in installs)
    mem_mib = sum(installs[name].footprint.memory_mib for name in declared if name in installs)
    unset = sum(len(w.containers_without_requests) for name in declared if name in installs
                for w in installs[name].footprint.workloads)
    serving = cfg.workloads.serving
    extra = ""
    if serving.enabled and not serving.gpu_pool:
        (predictor,) = serving_workloads(cfg, preview) or [None]
        if predictor is not None:
            cpu_m += int(predictor.cpu * 1000) * serving.min_replicas
            mem_mib += float(predictor.memory_gib) * 1024 * serving.min_replicas
            extra = f" and {serving.min_replicas} predictor replica(s)"
    pools = [p for p in cfg.node_pools if _gpus_per_node(p) == 0]
    at_min, at_max = Decimal(0), Decimal(0)
    mem_min, mem_max = Decimal(0), Decimal(0)
    for pool in pools:
        shape = catalog().machine(pool.machine_type)
        cpu, mem = allocatable(shape.vcpus, shape.memory_gb)
        at_min += cpu * pool.min_nodes
        at_max += cpu * pool.max_nodes
        mem_min += mem * pool.min_nodes
        mem_max += mem * pool.max_nodes
    need_cpu, need_mem = Decimal(cpu_m) / 1000, Decimal(str(mem_mib)) / 1024
    status: Status = "ok"
    if need_cpu > at_max or need_mem > mem_max:
        status = "fail"
    elif need_cpu > at_min or need_mem > mem_min:
        status = "warn"
    need = (f"cpu {need_cpu:.2f}, memory {need_mem:.2f} GiB for {', '.join(sorted(declared))}"
            f"{extra}; CPU pools allocate cpu {at_min:.2f}, memory {mem_min:.2f} GiB at minimum "
            f"size, cpu {at_max:.2f}, memory {mem_max:.2f} GiB at maximum"
            + (f"; {unset} upstream container(s) set no requests and are not counted"
               if unset else ""))
    return [Finding("capacity", status, "Kubeflow and serving on the CPU pools", need,
                    fix="" if status == "ok" else "raise the CPU pools' min_nodes or max_nodes")]


def preflight(cfg: PlatformConfig, stack: str, preview: Preview) -> Preflight:
    """Every finding for a stack, in the order a first deploy meets them."""
    findings = [*placeholders(cfg), *apis(cfg, preview), *iam(cfg, preview)]
    if cfg.has_cluster:
        findings += [*quotas(cfg), *system_capacity(cfg, preview),
                     *capacity(cfg, stack, preview)]
    return Preflight(stack, cfg.project, cfg.region, findings)
