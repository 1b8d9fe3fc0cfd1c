"""The cost models: fixed GKE cluster, autoscaled GKE cluster, Vertex AI pay-per-use, and a Vertex
AI persistent resource (reserved training capacity, the Vertex analogue of a fixed cluster).

Each takes a scenario, a price snapshot and a number of training runs a month and returns a
`Bill` of components. All are affine in the number of runs, which `cost.compare` relies on (and
checks) to find break-even points exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import cache

from cost.catalog import PriceCatalog, PriceNotFound
from cost.per_model import load_throughput_data
from cost.pricing import (
    Bill,
    Line,
    PricingError,
    SudUse,
    cluster_fee_lines,
    gpu_name,
    node_lines,
    pooled_sud_lines,
    relabelled,
    sud_uses,
    vertex_lines,
)
from cost.scenario import (
    NodePool,
    Ops,
    Scenario,
    ScenarioError,
    fixed_max_runs,
    persistent_max_runs,
)
from cost.sizing import serving_size, sized_pools
from facts.hardware import catalog

MODELS: dict[str, str] = {
    "fixed": "Fixed GKE cluster",
    "autoscaled": "Autoscaled GKE cluster",
    "vertex": "Vertex AI pay-per-use",
    "persistent": "Vertex AI persistent resource",
}


def models_of(s: Scenario) -> list[str]:
    """The options a scenario prices: the persistent resource only where it declares one."""
    return [m for m in MODELS if m != "persistent" or s.persistent is not None]


def _pooled(s: Scenario) -> bool:
    return s.billing.sustained_use == "pooled"


def _pool_lines(s: Scenario, prices: PriceCatalog, pool: NodePool,
                uses: list[SudUse]) -> list[Line]:
    """A pool's lines; per-node mode discounts each node here, pooled mode collects its usage."""
    gpu_type = pool.gpu.type if pool.gpu else None
    gpu_count = pool.gpu.count if pool.gpu else 0
    if _pooled(s):
        uses += sud_uses(prices, pool.machine_type, nodes=pool.nodes,
                         hours=pool.hours_per_month, pricing=pool.pricing, gpu_type=gpu_type,
                         gpu_count=gpu_count)
    return node_lines(prices, pool.machine_type, nodes=pool.nodes, hours=pool.hours_per_month,
                      pricing=pool.pricing, gpu_type=gpu_type, gpu_count=gpu_count,
                      disk_gb=pool.disk_gb, disk_type=pool.disk_type,
                      sustained_use=not _pooled(s))


def _gke_pools(s: Scenario, prices: PriceCatalog, bill: Bill, pools: list[NodePool],
               uses: list[SudUse]) -> None:
    """The scenario's pools and the pools sized for Kubeflow and serving, each labelled."""
    for pool in pools:
        bill.lines += relabelled(_pool_lines(s, prices, pool, uses), prefix=f"[{pool.name}] ")
    for pool, how in sized_pools(s):
        bill.lines += relabelled(_pool_lines(s, prices, pool, uses), prefix=f"[{pool.name}] ")
        bill.notes.append(f"{pool.name} pool sized: {how}")


def _sud(prices: PriceCatalog, bill: Bill, uses: list[SudUse]) -> None:
    lines, notes = pooled_sud_lines(prices, uses)
    bill.lines += lines
    bill.notes += [f"sustained-use discount: {n}" for n in notes]


def _ops_lines(ops: Ops) -> list[Line]:
    if ops.hours_per_month == 0:
        return []
    return [Line("Operations staff", ops.hours_per_month, "hours", ops.usd_per_hour,
                 ops.hours_per_month * ops.usd_per_hour)]


def training_hours(s: Scenario, runs: int) -> Decimal:
    """Hours of training work a month (runs plus tuning trials), per node or replica."""
    w = s.workload
    return runs * w.run_hours + w.tuning_jobs_per_month * w.trials_per_tuning_job * w.trial_hours


def jobs(s: Scenario, runs: int) -> int:
    """Training jobs a month: the runs and every tuning trial."""
    w = s.workload
    return runs + w.tuning_jobs_per_month * w.trials_per_tuning_job


def fixed_capacity(s: Scenario) -> Decimal:
    """Node-hours a month the fixed cluster's training pool has to run trainings in."""
    pool = next(p for p in s.fixed.node_pools if p.name == s.fixed.training_pool)
    return pool.nodes * pool.hours_per_month


def persistent_capacity(s: Scenario) -> Decimal:
    """Replica-hours a month the persistent resource has (0 without one)."""
    p = s.persistent
    return Decimal(0) if p is None else p.replicas * p.hours_per_month


def autoscaled_node_hours(s: Scenario, runs: int) -> Decimal:
    """Paid node-hours of the autoscaled training pool: training plus scale-up per job."""
    a = s.autoscaled
    return (training_hours(s, runs) + jobs(s, runs) * a.scale_up_overhead_hours) * a.nodes_per_run


def spot_rerun(s: Scenario) -> Decimal:
    """The share of spot hours run again after preemptions (scenario, else the assumption)."""
    if s.autoscaled.training_pool.spot_rerun is not None:
        return s.autoscaled.training_pool.spot_rerun
    return _assumed_spot_rerun()


@cache
def _assumed_spot_rerun() -> Decimal:
    return load_throughput_data().assumptions["spot_rerun"].value


def fixed_bill(s: Scenario, prices: PriceCatalog, runs: int) -> Bill:
    """Every pool up its hours whatever the runs; the fee; ops. Runs only fill capacity."""
    f = s.fixed
    bill = Bill(MODELS["fixed"])
    uses: list[SudUse] = []
    _gke_pools(s, prices, bill, f.node_pools, uses)
    bill.lines += cluster_fee_lines(prices, regional=f.cluster.regional,
                                    free_tier=f.cluster.free_tier)
    _sud(prices, bill, uses)
    bill.lines += _ops_lines(f.ops)
    needed = training_hours(s, runs) * f.nodes_per_run
    capacity = fixed_capacity(s)
    if needed > capacity:
        bill.notes.append(f"over capacity: {needed} node-hours of training in pool "
                          f"'{f.training_pool}', which has {capacity}")
    return bill


def autoscaled_bill(s: Scenario, prices: PriceCatalog, runs: int) -> Bill:
    """Always-on pools, the fee, ops, and training node-hours (with scale-up overhead)."""
    a = s.autoscaled
    bill = Bill(MODELS["autoscaled"])
    uses: list[SudUse] = []
    _gke_pools(s, prices, bill, a.always_on_pools, uses)
    bill.lines += cluster_fee_lines(prices, regional=a.cluster.regional,
                                    free_tier=a.cluster.free_tier)
    bill.lines += _ops_lines(a.ops)
    node_hours = autoscaled_node_hours(s, runs)
    tp = a.training_pool
    gpu_type, gpu_count = (tp.gpu.type, tp.gpu.count) if tp.gpu else (None, 0)
    rerun = spot_rerun(s) if tp.spot_share else Decimal(0)
    for pricing, hours in (("on-demand", node_hours * (1 - tp.spot_share)),
                           ("spot", node_hours * tp.spot_share * (1 + rerun))):
        if hours == 0:
            continue
        if _pooled(s):
            uses += sud_uses(prices, tp.machine_type, nodes=1, hours=hours, pricing=pricing,
                             gpu_type=gpu_type, gpu_count=gpu_count, always_on=False)
        lines = node_lines(prices, tp.machine_type, nodes=1, hours=hours, pricing=pricing,
                           gpu_type=gpu_type, gpu_count=gpu_count, disk_gb=tp.disk_gb,
                           disk_type=tp.disk_type, sustained_use=False)
        bill.lines += relabelled(lines, prefix="[training, per used node-hour] ")
    if _pooled(s):
        _sud(prices, bill, uses)
        bill.notes.append(f"training pool billed per used node-hour including "
                          f"{a.scale_up_overhead_hours} h scale-up overhead per job; its "
                          f"on-demand hours pool with the always-on nodes for the sustained-use "
                          f"discount")
    else:
        bill.notes.append(f"training pool billed per used node-hour including "
                          f"{a.scale_up_overhead_hours} h scale-up overhead per job; no "
                          f"sustained-use discount assumed on usage hours")
    if tp.spot_share:
        bill.notes.append(f"spot share {tp.spot_share} of the node-hours, billed with "
                          f"{rerun} of them again for re-runs after preemptions")
    return bill


def vertex_bill(s: Scenario, prices: PriceCatalog, runs: int) -> Bill:
    """Custom jobs and tuning trials per hour, pipeline fees, a deployed endpoint, batch."""
    v = s.vertex
    w = s.workload
    bill = Bill(MODELS["vertex"])
    trials = w.tuning_jobs_per_month * w.trials_per_tuning_job
    overhead = v.scale_up_overhead_hours
    parts = [("Custom training", runs * (w.run_hours + overhead)),
             ("Tuning trials", trials * (w.trial_hours + overhead))]
    for label, hours in parts:
        if hours == 0 and label == "Tuning trials":
            continue
        bill.lines += vertex_lines(prices, label, "training", v.training.machine_type,
                                   v.training.gpu, hours * v.training.replicas)
    if overhead:
        bill.notes.append(f"custom jobs and tuning trials billed with {overhead} h of "
                          f"provisioning per job")
    _vertex_serving(s, prices, runs, bill)
    return bill


def persistent_bill(s: Scenario, prices: PriceCatalog, runs: int) -> Bill:
    """Reserved training replicas billed for every hour they exist; serving as pay-per-use."""
    from cost.rules import load_rules

    p = s.persistent
    if p is None:
        raise ScenarioError("persistent: the scenario declares no persistent resource")
    rules = load_rules().persistent_resource
    bill = Bill(MODELS["persistent"])
    bill.lines += vertex_lines(prices, "Persistent resource (reserved training)",
                               rules.rate_table, p.machine_type, p.gpu,
                               p.replicas * p.hours_per_month)
    bill.notes.append(f"persistent resource billed for all {p.hours_per_month} h it runs, jobs "
                      f"on it not charged apart ({load_rules().cite(rules.source)}); "
                      f"{rules.rate_note}")
    _vertex_serving(s, prices, runs, bill)
    needed = training_hours(s, runs)
    if needed > persistent_capacity(s):
        bill.notes.append(f"over capacity: {needed} replica-hours of training on "
                          f"{persistent_capacity(s)}")
    return bill


def _vertex_serving(s: Scenario, prices: PriceCatalog, runs: int, bill: Bill) -> None:
    """What both Vertex options pay besides training: pipelines, the endpoint, batch, ops."""
    v = s.vertex
    if s.workload.pipeline_run_per_training:
        fee = prices.vertex_pipeline_run
        bill.lines.append(Line("Pipeline run fee", Decimal(runs), "runs", fee.usd,
                               fee.usd * runs, fee))
    if v.endpoint:
        e = v.endpoint
        bill.lines += vertex_lines(prices, "Endpoint (online prediction)", "prediction",
                                   e.machine_type, e.gpu, e.hours_per_month * e.replicas)
    elif s.serving is not None:
        size = serving_size(s.serving)
        bill.lines += vertex_lines(prices, "Endpoint (online prediction)", "prediction",
                                   s.serving.machine_type, None,
                                   prices.hours_per_month * size.replicas)
        bill.notes.append(f"endpoint sized: {size.describe()}")
    if v.batch_prediction and v.batch_prediction.node_hours_per_month:
        b = v.batch_prediction
        bill.lines += vertex_lines(prices, "Batch prediction", "prediction", b.machine_type,
                                   None, b.node_hours_per_month)
        bill.notes.append("batch prediction priced at the online-prediction node-hour rate")
    bill.lines += _ops_lines(v.ops)
    if not prices.vertex_sustained_use:
        bill.notes.append("no sustained-use discount on Vertex compute (none documented)")


BILLS: dict[str, Callable[[Scenario, PriceCatalog, int], Bill]] = {
    "fixed": fixed_bill, "autoscaled": autoscaled_bill, "vertex": vertex_bill,
    "persistent": persistent_bill}


def bills(s: Scenario, prices: PriceCatalog, runs: int) -> dict[str, Bill]:
    """Every option's bill for one number of runs a month."""
    return {name: BILLS[name](s, prices, runs) for name in models_of(s)}


def capacity_runs(s: Scenario, model: str) -> int | None:
    """The most runs a month an option holds, for options with fixed capacity; else None."""
    if model == "fixed":
        return fixed_max_runs(s)
    if model == "persistent" and s.persistent is not None:
        return persistent_max_runs(s)
    return None


def scenario_gpus(s: Scenario) -> list[tuple[str, str]]:
    """(field path, GPU type) of every GPU the scenario asks for."""
    out = [(f"fixed.node_pools.{i}.gpu.type", p.gpu.type)
           for i, p in enumerate(s.fixed.node_pools) if p.gpu]
    out += [(f"autoscaled.always_on_pools.{i}.gpu.type", p.gpu.type)
            for i, p in enumerate(s.autoscaled.always_on_pools) if p.gpu]
    for where, gpu in (("autoscaled.training_pool.gpu.type", s.autoscaled.training_pool.gpu),
                       ("vertex.training.gpu.type", s.vertex.training.gpu),
                       ("vertex.endpoint.gpu.type", s.vertex.endpoint.gpu
                        if s.vertex.endpoint else None),
                       ("persistent.gpu.type", s.persistent.gpu if s.persistent else None)):
        if gpu is not None:
            out.append((where, gpu.type))
    return out


def check_priceable(s: Scenario, prices: PriceCatalog, source: str) -> None:
    """Price every option once so a bad shape, GPU or missing price fails before any output,
    and refuse a GPU that no zone of the snapshot's region offers.

    Raises:
        ScenarioError: naming the section and what could not be priced.
    """
    regions = catalog().regions
    if prices.region in regions:
        for where, gpu in scenario_gpus(s):
            try:
                name = gpu_name(gpu)
            except PricingError as err:
                raise ScenarioError(f"{source}: {where}: {err}") from None
            if not catalog().zones_offering(prices.region, name):
                offering = [r for r in regions if catalog().zones_offering(r, name)]
                raise ScenarioError(f"{source}: {where}: '{gpu}' is offered in no zone of "
                                    f"{prices.region}; regions that offer it: "
                                    f"{', '.join(offering)}")
    for name in models_of(s):
        try:
            BILLS[name](s, prices, 1)
        except (PricingError, PriceNotFound) as err:
            raise ScenarioError(f"{source}: {name}: {err}") from None
        except ScenarioError as err:  # sizing: the message names the scenario field
            raise ScenarioError(f"{source}: {err}") from None
