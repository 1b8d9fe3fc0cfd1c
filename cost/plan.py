"""Plan pricing: the offline preview of a stack, priced resource by resource.

Parsing (reading a resource's wire-form inputs) is kept apart from pricing (the shared
`cost.pricing` arithmetic). Types without a pricing rule are listed as not priced with a reason,
so a new resource type in the preview never breaks pricing.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from cost.catalog import PriceCatalog, PriceNotFound
from cost.money import ZERO, plain, usd
from cost.pricing import Bill, PricingError, cluster_fee_lines, node_lines, relabelled, vertex_lines
from cost.scenario import Gpu, ScenarioError
from cost.usage import PlanUsage
from facts.node_pools import ZONE, pool_node_range, pool_zone_count
from facts.preview import SECRET, UNKNOWN, Preview, PreviewResource

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
VERTEX_ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
PERSISTENT_RESOURCE = "gcp:vertex/aiPersistentResource:AiPersistentResource"
BUDGET = "gcp:billing/budget:Budget"

FREE_TYPES: dict[str, str] = {
    "gcp:projects/service:Service": "enabling an API is free",
    "gcp:serviceaccount/account:Account": "service accounts are free",
    "gcp:compute/network:Network": "a VPC network is free",
    "gcp:compute/subnetwork:Subnetwork": "a subnetwork is free (egress is usage)",
    "gcp:compute/router:Router": "a Cloud Router used only for NAT is free",
    "gcp:billing/budget:Budget": "budgets are free",
}
"""Types that cost nothing themselves (IAM bindings are matched by name, below)."""

USAGE_BASED: dict[str, str] = {
    "gcp:storage/bucket:Bucket": "storage GB-months, operations and egress depend on use",
    "gcp:artifactregistry/repository:Repository": "image storage GB-months depend on use",
    "gcp:compute/routerNat:RouterNat": "Cloud NAT gateway hours and GB processed depend on use; "
                                       "not in the price catalog",
    "gcp:vertex/aiTensorboard:AiTensorboard": "TensorBoard storage GB-months depend on use",
}
"""Types that cost by use; listed with the reason they are not priced."""

@dataclass
class PricedResource:
    """One resource of the plan and what it costs (or why it is not priced)."""

    type: str
    name: str
    status: str  # priced | usage-based | free | not priced
    bill: Bill
    reason: str = ""


@dataclass
class PlanBill:
    """A stack's plan, priced."""

    stack: str
    project: str
    catalog: str
    region: str
    hours_per_month: Decimal
    """Hours in a month of the price snapshot used: hourly figures are monthly / this."""
    resources: list[PricedResource] = field(default_factory=list)
    budget: Decimal | None = None
    """The stack's monthly billing budget (USD) from its Budget resource; None if it has none."""
    budget_note: str = ""

    @property
    def monthly(self) -> Decimal:
        return sum((r.bill.monthly for r in self.resources), ZERO)

    @property
    def headroom(self) -> Decimal | None:
        """Budget minus the priced plan; negative when the plan alone is over budget."""
        return None if self.budget is None else self.budget - self.monthly

    def by_status(self, status: str) -> list[PricedResource]:
        return [r for r in self.resources if r.status == status]


def _known(value: Any) -> bool:
    return value not in (None, UNKNOWN, SECRET)


def _cluster(r: PreviewResource, prices: PriceCatalog, usage: PlanUsage) -> PricedResource:
    location = r.inputs.get("location")
    bill = Bill(r.name)
    if not _known(location):
        bill.notes.append("location unknown at preview: priced as regional (no free tier)")
    regional = not (_known(location) and ZONE.match(str(location)))
    bill.lines = cluster_fee_lines(prices, regional=regional, free_tier=usage.gke_free_tier)
    if not regional and usage.gke_free_tier:
        bill.notes.append("free tier assumes this is the billing account's only zonal cluster "
                          "(usage: gke_free_tier: false to drop it)")
    return PricedResource(r.type, r.name, "priced", bill)


def _node_pool(r: PreviewResource, prices: PriceCatalog, usage: PlanUsage,
               at_max: bool = False) -> PricedResource:
    cfg = r.inputs.get("nodeConfig") or {}
    machine = cfg.get("machineType") if isinstance(cfg, dict) else UNKNOWN
    bill = Bill(r.name)
    if not _known(machine):
        return PricedResource(r.type, r.name, "not priced", bill,
                              "machine type unknown at preview")
    accelerators = cfg.get("guestAccelerators") or []
    if not isinstance(accelerators, list):
        return PricedResource(r.type, r.name, "not priced", bill,
                              "accelerators unknown at preview")
    pricing = ("spot" if cfg.get("spot") or cfg.get("preemptible")
               else "flex-start" if cfg.get("flexStart") else "on-demand")
    gpus = [g for g in accelerators if _known(g.get("type"))]
    gpu_type = gpus[0]["type"] if gpus else None
    gpu_count = (1 if gpus[0].get("count") is None else gpus[0]["count"]) if gpus else 0
    if not _known(gpu_count):
        return PricedResource(r.type, r.name, "not priced", bill,
                              "accelerator count unknown at preview")
    disk_gb = int(cfg.get("diskSizeGb", 100)) if _known(cfg.get("diskSizeGb", 100)) else 100
    disk_type = str(cfg.get("diskType", "pd-balanced"))
    counts = pool_node_range(r.inputs)
    if counts is None:
        return PricedResource(r.type, r.name, "not priced", bill,
                              f"zone count unknown: location {r.inputs.get('location')!r} is "
                              f"not a catalogued zone or region and nodeLocations is not set")
    low, high = counts
    if at_max:
        low = high
    zones = pool_zone_count(r.inputs)
    common = {"pricing": pricing, "gpu_type": gpu_type, "gpu_count": gpu_count,
              "disk_gb": disk_gb, "disk_type": disk_type}
    month = prices.hours_per_month
    if low:
        bill.lines += relabelled(node_lines(prices, machine, nodes=low, hours=month, **common),
                                 suffix=f" [always on, {low} node{'s' if low != 1 else ''}]")
    pool_name = str(r.inputs.get("name", r.name))
    pool_usage = next((usage.node_pools[k] for k in pool_keys(r) if k in usage.node_pools), None)
    extra = pool_usage.node_hours_per_month if pool_usage else ZERO
    if extra > (high - low) * month:
        raise ScenarioError(f"usage: node_pools.{pool_name}.node_hours_per_month: {extra} is "
                            f"more than the pool can run above its minimum "
                            f"({high - low} nodes × {month} h)")
    if extra:
        bill.lines += relabelled(node_lines(prices, machine, nodes=1, hours=extra,
                                            sustained_use=False, **common),
                                 suffix=" [usage, per node-hour]")
    bill.notes += _sharing_notes(prices, gpus[0] if gpus else None, pricing, bill.lines)
    if high > low and not extra:
        bill.notes.append(f"scales {low}–{high} nodes over {zones} zone(s): node-hours above the "
                          f"minimum are usage-based (usage: node_pools.{pool_name}."
                          f"node_hours_per_month)")
    elif high > low:
        bill.notes.append(f"usage node-hours priced without sustained-use discount; "
                          f"scales {low}–{high} nodes over {zones} zone(s)")
    return PricedResource(r.type, r.name, "priced" if bill.lines else "usage-based", bill,
                          "" if bill.lines else "no always-on nodes and no usage given")


def _sharing_notes(prices: PriceCatalog, gpu: dict[str, Any] | None, pricing: str,
                   lines: list[Any]) -> list[str]:
    """On a pool whose GPUs are shared, what one client's share of a GPU-hour costs, and of
    the pool's GPU lines this month."""
    sharing = gpu.get("gpuSharingConfig") if isinstance(gpu, dict) else None
    if not isinstance(sharing, dict) or not _known(sharing.get("maxSharedClientsPerGpu")):
        return []
    clients = int(sharing["maxSharedClientsPerGpu"])
    share = shared_gpu_hour(prices, str(gpu["type"]), pricing, clients)
    if share is None:
        return []
    hourly, per_client = share
    monthly = sum((line.monthly for line in lines if line.unit == "GPU-hours"), ZERO)
    month = (f"; the pool's GPU-hours this month, {usd(monthly)} USD, are "
             f"{usd(monthly / clients)} USD per client" if monthly else "")
    return [f"GPUs shared ({sharing.get('gpuSharingStrategy')}) by up to {clients} clients: "
            f"{plain(hourly)} USD per GPU-hour is {plain(round(per_client, 6))} USD per client "
            f"GPU-hour when all {clients} are in use{month}"]


def shared_gpu_hour(prices: PriceCatalog, gpu_type: str, pricing: str,
                    clients: int) -> tuple[Decimal, Decimal] | None:
    """(price of one GPU-hour, its share per client) for a GPU shared by `clients` containers;
    None when the GPU has no price under `pricing`."""
    try:
        price = prices.gpu(gpu_type, pricing).usd
    except PriceNotFound:
        return None
    return price, price / clients


def _persistent_resource(r: PreviewResource, prices: PriceCatalog,
                         usage: PlanUsage) -> PricedResource:
    """Reserved Vertex AI training capacity: its replicas billed at custom-training rates all
    month, whether jobs run or not (autoscaled pools: at their minimum, the rest is usage)."""
    bill = Bill(r.name)
    pools = r.inputs.get("resourcePools")
    if not isinstance(pools, list):
        return PricedResource(r.type, r.name, "not priced", bill, "resource pools unknown")
    for i, pool in enumerate(pools):
        spec = pool.get("machineSpec") or {}
        machine = spec.get("machineType")
        scaling = pool.get("autoscalingSpec") or {}
        replicas = scaling.get("minReplicaCount", pool.get("replicaCount", 1))
        if not _known(machine) or not _known(replicas):
            return PricedResource(r.type, r.name, "not priced", bill,
                                  f"resourcePools[{i}]: machine or replicas unknown at preview")
        gpu = (Gpu(type=str(spec["acceleratorType"]), count=int(spec.get("acceleratorCount") or 1))
               if _known(spec.get("acceleratorType")) and spec.get("acceleratorType") else None)
        bill.lines += vertex_lines(prices, "Persistent resource, custom training", "training",
                                   str(machine), gpu,
                                   prices.hours_per_month * Decimal(str(replicas)))
        if scaling.get("maxReplicaCount") not in (None, replicas):
            bill.notes.append(f"resourcePools[{i}] scales up to {scaling['maxReplicaCount']} "
                              f"replicas; replicas above {replicas} are billed as jobs use them")
    bill.notes.append("billed while the resource exists at the custom-training rates, whether "
                      "jobs run or not")
    return PricedResource(r.type, r.name, "priced", bill)


def pool_keys(r: PreviewResource) -> list[str]:
    """The usage keys that name a node pool: its `name` input, then its resource name."""
    name = r.inputs.get("name")
    return [*([str(name)] if _known(name) else []), r.name]


def endpoint_keys(r: PreviewResource) -> list[str]:
    """The usage keys that name a Vertex endpoint: resource name, displayName, name."""
    return [r.name, *(str(r.inputs[k]) for k in ("displayName", "name")
                      if _known(r.inputs.get(k)))]


def _endpoint(r: PreviewResource, prices: PriceCatalog, usage: PlanUsage) -> PricedResource:
    keys = endpoint_keys(r)
    key = next((k for k in keys if k in usage.vertex_endpoints), None)
    bill = Bill(r.name)
    if key is None:
        return PricedResource(r.type, r.name, "usage-based", bill,
                              f"the deployed model's machine is an SDK call, not in the plan "
                              f"(usage: vertex_endpoints.{r.name})")
    spec = usage.vertex_endpoints[key]
    try:
        bill.lines = vertex_lines(prices, "Online prediction", "prediction", spec.machine_type,
                                  spec.gpu, spec.hours_per_month * spec.replicas)
    except (PricingError, PriceNotFound) as err:
        raise ScenarioError(f"usage: vertex_endpoints.{key}: {err}") from None
    return PricedResource(r.type, r.name, "priced", bill)


PRICERS = {CLUSTER: _cluster, NODE_POOL: _node_pool, VERTEX_ENDPOINT: _endpoint,
           PERSISTENT_RESOURCE: _persistent_resource}


def price_resource(r: PreviewResource, prices: PriceCatalog,
                   usage: PlanUsage, at_max: bool = False) -> PricedResource:
    """Price one resource; never raises for a type it does not know.

    `at_max` prices every node pool at its maximum size all month (the most the plan can cost).
    """
    if r.type in PRICERS:
        try:
            if r.type == NODE_POOL:
                return _node_pool(r, prices, usage, at_max)
            return PRICERS[r.type](r, prices, usage)
        except (PricingError, PriceNotFound) as err:
            return PricedResource(r.type, r.name, "not priced", Bill(r.name), str(err))
    if r.type in FREE_TYPES:
        return PricedResource(r.type, r.name, "free", Bill(r.name), FREE_TYPES[r.type])
    if "iam" in r.type.lower().split(":")[-1].lower() or r.type.lower().endswith("iammember"):
        return PricedResource(r.type, r.name, "free", Bill(r.name), "IAM bindings are free")
    if r.type.startswith("kubernetes:"):
        return PricedResource(r.type, r.name, "free", Bill(r.name),
                              "runs on the cluster's nodes, which are priced with their pools")
    if r.type in USAGE_BASED:
        return PricedResource(r.type, r.name, "usage-based", Bill(r.name), USAGE_BASED[r.type])
    return PricedResource(r.type, r.name, "not priced", Bill(r.name),
                          "no pricing rule for this resource type")


def check_usage_keys(preview: Preview, usage: PlanUsage) -> None:
    """Every usage key must name a node pool or endpoint of the plan.

    A misspelt key would otherwise price at nothing and pass silently.

    Raises:
        ScenarioError: one line naming the key and the keys the plan has.
    """
    kinds = (("node_pools", usage.node_pools, NODE_POOL, pool_keys, "node pool"),
             ("vertex_endpoints", usage.vertex_endpoints, VERTEX_ENDPOINT, endpoint_keys,
              "Vertex endpoint"))
    for section, given, type_, keys_of, what in kinds:
        known: list[str] = []
        for r in preview.resources:
            if r.type == type_ and r.custom:
                known += [k for k in keys_of(r) if k not in known]
        for key in given:
            if key in known:
                continue
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ScenarioError(f"usage: {section}.{key}: matches no {what} of stack "
                                f"'{preview.stack}'; candidates: "
                                f"{', '.join(known) or f'none (the plan has no {what})'}{hint}")


def plan_budget(preview: Preview) -> tuple[Decimal | None, str]:
    """The monthly budget amount of the preview's Budget resources, and a note on reading it.

    Several budgets on one stack are added up (each alerts on its own scope; the sum is the most
    the stack has been allowed). A budget whose amount is unknown at preview gives None.
    """
    amounts: list[Decimal] = []
    for r in preview.resources:
        if r.type != BUDGET or not r.custom:
            continue
        spec = (r.inputs.get("amount") or {}).get("specifiedAmount") or {}
        units, currency = spec.get("units"), spec.get("currencyCode", "USD")
        if not _known(units):
            return None, f"budget {r.name}: amount unknown at preview"
        if currency != "USD":
            return None, f"budget {r.name}: amount in {currency}, prices are in USD"
        try:
            amounts.append(Decimal(str(units)) + Decimal(int(spec.get("nanos") or 0)) / 10**9)
        except (InvalidOperation, ValueError):
            return None, f"budget {r.name}: amount '{units}' is not a number"
    if not amounts:
        return None, "no billing budget in the plan"
    return sum(amounts, ZERO), ""


PROVIDER_PREFIX = "pulumi:providers:"


def price_preview(preview: Preview, prices: PriceCatalog, usage: PlanUsage,
                  at_max: bool = False) -> PlanBill:
    """Price every custom resource of a preview (components are groupings, not resources).

    With `at_max`, every node pool is priced at its maximum node count for the whole month
    (sustained-use discount included), as the budget policy needs.

    Raises:
        ScenarioError: for a usage key that names nothing in the plan, usage beyond a pool's
            capacity, or an endpoint machine the snapshot does not price.
    """
    check_usage_keys(preview, usage)
    budget, note = plan_budget(preview)
    plan = PlanBill(preview.stack, preview.project, prices.snapshot, prices.region,
                    prices.hours_per_month, budget=budget, budget_note=note)
    for r in sorted(preview.resources, key=lambda r: (r.type, r.name)):
        # Providers are configuration the engine registers, not billed resources.
        if r.custom and not r.type.startswith(PROVIDER_PREFIX):
            plan.resources.append(price_resource(r, prices, usage, at_max))
    return plan


_PLACE = re.compile(r"([a-z]+-[a-z]+[0-9]{1,2})(-[a-z])?")
"""A region, or a zone whose region is the first group."""


def plan_region(preview: Preview) -> str | None:
    """The region a plan's compute runs in, so it is priced there: its cluster's or node pools'
    location (a zone's region), else its Vertex endpoint's region; None when the preview does
    not say."""
    for type_ in (CLUSTER, NODE_POOL, VERTEX_ENDPOINT):
        for r in preview.of_type(type_):
            for key in ("location", "region"):
                value = r.inputs.get(key)
                if _known(value) and (found := _PLACE.fullmatch(str(value))):
                    return found.group(1)
    return None
