"""The three cost models: fixed GKE cluster, autoscaled GKE cluster, Vertex AI pay-per-use.

Each takes a scenario, a price snapshot and a number of training runs a month and returns a
`Bill` of components. All three are affine in the number of runs, which `cost.compare` relies on
(and checks) to find break-even points exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from cost.catalog import PriceCatalog, PriceNotFound
from cost.pricing import (
    Bill,
    Line,
    PricingError,
    check_attachment,
    cluster_fee_lines,
    gpu_name,
    node_lines,
    relabelled,
    shape,
)
from cost.scenario import Gpu, NodePool, Ops, Scenario, ScenarioError
from facts.hardware import catalog

MODELS: dict[str, str] = {
    "fixed": "Fixed GKE cluster",
    "autoscaled": "Autoscaled GKE cluster",
    "vertex": "Vertex AI pay-per-use",
}


def _pool_lines(prices: PriceCatalog, pool: NodePool) -> list[Line]:
    return node_lines(prices, pool.machine_type, nodes=pool.nodes, hours=pool.hours_per_month,
                      pricing=pool.pricing, gpu_type=pool.gpu.type if pool.gpu else None,
                      gpu_count=pool.gpu.count if pool.gpu else 0, disk_gb=pool.disk_gb,
                      disk_type=pool.disk_type)


def _ops_lines(ops: Ops) -> list[Line]:
    if ops.hours_per_month == 0:
        return []
    return [Line("Operations staff", ops.hours_per_month, "hours", ops.usd_per_hour,
                 ops.hours_per_month * ops.usd_per_hour)]


def training_hours(s: Scenario, runs: int) -> Decimal:
    """Hours of training work a month (runs plus tuning trials), per node or replica."""
    w = s.workload
    return runs * w.run_hours + w.tuning_jobs_per_month * w.trials_per_tuning_job * w.trial_hours


def fixed_capacity(s: Scenario) -> Decimal:
    """Node-hours a month the fixed cluster's training pool has to run trainings in."""
    pool = next(p for p in s.fixed.node_pools if p.name == s.fixed.training_pool)
    return pool.nodes * pool.hours_per_month


def autoscaled_node_hours(s: Scenario, runs: int) -> Decimal:
    """Paid node-hours of the autoscaled training pool: training plus scale-up per job."""
    a, w = s.autoscaled, s.workload
    jobs = runs + w.tuning_jobs_per_month * w.trials_per_tuning_job
    return (training_hours(s, runs) + jobs * a.scale_up_overhead_hours) * a.nodes_per_run


def fixed_bill(s: Scenario, prices: PriceCatalog, runs: int) -> Bill:
    """Every pool up its hours whatever the runs; the fee; ops. Runs only fill capacity."""
    f = s.fixed
    bill = Bill(MODELS["fixed"])
    for pool in f.node_pools:
        bill.lines += relabelled(_pool_lines(prices, pool), prefix=f"[{pool.name}] ")
    bill.lines += cluster_fee_lines(prices, regional=f.cluster.regional,
                                    free_tier=f.cluster.free_tier)
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
    for pool in a.always_on_pools:
        bill.lines += relabelled(_pool_lines(prices, pool), prefix=f"[{pool.name}] ")
    bill.lines += cluster_fee_lines(prices, regional=a.cluster.regional,
                                    free_tier=a.cluster.free_tier)
    bill.lines += _ops_lines(a.ops)
    node_hours = autoscaled_node_hours(s, runs)
    tp = a.training_pool
    for pricing, share in (("on-demand", 1 - tp.spot_share), ("spot", tp.spot_share)):
        if share == 0:
            continue
        lines = node_lines(prices, tp.machine_type, nodes=1, hours=node_hours * share,
                           pricing=pricing, gpu_type=tp.gpu.type if tp.gpu else None,
                           gpu_count=tp.gpu.count if tp.gpu else 0, disk_gb=tp.disk_gb,
                           disk_type=tp.disk_type, sustained_use=False)
        bill.lines += relabelled(lines, prefix="[training, per used node-hour] ")
    bill.notes.append(f"training pool billed per used node-hour including "
                      f"{a.scale_up_overhead_hours} h scale-up overhead per job; no sustained-use "
                      f"discount assumed on usage hours")
    return bill


def vertex_bill(s: Scenario, prices: PriceCatalog, runs: int) -> Bill:
    """Custom jobs and tuning trials per hour, pipeline fees, a deployed endpoint, batch."""
    v = s.vertex
    w = s.workload
    bill = Bill(MODELS["vertex"])
    trials = w.tuning_jobs_per_month * w.trials_per_tuning_job
    parts = [("Custom training", runs * w.run_hours), ("Tuning trials", trials * w.trial_hours)]
    for label, hours in parts:
        if hours == 0 and label == "Tuning trials":
            continue
        bill.lines += vertex_lines(prices, label, "training", v.training.machine_type,
                                    v.training.gpu, hours * v.training.replicas)
    if w.pipeline_run_per_training:
        fee = prices.vertex_pipeline_run
        bill.lines.append(Line("Pipeline run fee", Decimal(runs), "runs", fee.usd,
                               fee.usd * runs, fee))
    if v.endpoint:
        e = v.endpoint
        bill.lines += vertex_lines(prices, "Endpoint (online prediction)", "prediction",
                                    e.machine_type, e.gpu, e.hours_per_month * e.replicas)
    if v.batch_prediction and v.batch_prediction.node_hours_per_month:
        b = v.batch_prediction
        bill.lines += vertex_lines(prices, "Batch prediction", "prediction", b.machine_type,
                                    None, b.node_hours_per_month)
        bill.notes.append("batch prediction priced at the online-prediction node-hour rate")
    bill.lines += _ops_lines(v.ops)
    if not prices.vertex_sustained_use:
        bill.notes.append("no sustained-use discount on Vertex compute (none documented)")
    return bill


def vertex_lines(prices: PriceCatalog, label: str, kind: str, machine_type: str,
                 gpu: Gpu | None, node_hours: Decimal) -> list[Line]:
    """Vertex node-hours of a shape and its GPU-hours, at the training or prediction rates."""
    shape(machine_type)
    mprice = prices.vertex(f"{kind}_machine", machine_type)
    lines = [Line(f"{label} ({machine_type})", node_hours, "node-hours", mprice.usd,
                  mprice.usd * node_hours, mprice)]
    if gpu:
        name = gpu_name(gpu.type)
        check_attachment(machine_type, name, gpu.count)
        gprice = prices.vertex(f"{kind}_gpu", name)
        gpu_hours = node_hours * gpu.count
        lines.append(Line(f"{label} {catalog().accelerators[name].display_name}", gpu_hours,
                          "GPU-hours", gprice.usd, gprice.usd * gpu_hours, gprice))
    return lines


BILLS: dict[str, Callable[[Scenario, PriceCatalog, int], Bill]] = {
    "fixed": fixed_bill, "autoscaled": autoscaled_bill, "vertex": vertex_bill}


def bills(s: Scenario, prices: PriceCatalog, runs: int) -> dict[str, Bill]:
    """All three bills for one number of runs a month."""
    return {name: fn(s, prices, runs) for name, fn in BILLS.items()}


def check_priceable(s: Scenario, prices: PriceCatalog, source: str) -> None:
    """Price every model once so a bad shape, GPU or missing price fails before any output.

    Raises:
        ScenarioError: naming the model section and what could not be priced.
    """
    for name, fn in BILLS.items():
        try:
            fn(s, prices, 1)
        except (PricingError, PriceNotFound) as err:
            raise ScenarioError(f"{source}: {name}: {err}") from None
