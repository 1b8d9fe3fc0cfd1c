"""Comparison of the three models: totals, break-even points, sensitivity sweeps, utilisation.

Every model's monthly cost is affine in runs a month, C(n) = a + b·n, so two models cross at
n* = (a₁ − a₂) / (b₂ − b₁). `affine` measures a and b from the bills themselves and checks the
model really is affine, so a future non-linear term cannot make break-even silently wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from itertools import combinations

from cost.catalog import PriceCatalog
from cost.models import (
    BILLS,
    MODELS,
    autoscaled_node_hours,
    bills,
    fixed_capacity,
    training_hours,
)
from cost.money import ZERO, cents
from cost.pricing import PricingError
from cost.scenario import Gpu, Scenario

SWEEP_RUN_HOURS = (Decimal("0.25"), Decimal("0.5"), Decimal(1), Decimal(2), Decimal(4))
SWEEP_SPOT_SHARES = (Decimal(0), Decimal("0.25"), Decimal("0.5"), Decimal("0.75"), Decimal(1))


AFFINE_TOLERANCE = Decimal("1e-9")


class NotAffine(AssertionError):
    """A model whose cost is not affine in runs; break-even by formula would be wrong."""


def cost(s: Scenario, prices: PriceCatalog, model: str, runs: int) -> Decimal:
    """Unrounded monthly cost of one model at `runs` a month."""
    return BILLS[model](s, prices, runs).monthly


def affine(s: Scenario, prices: PriceCatalog, model: str) -> tuple[Decimal, Decimal]:
    """(cost at zero runs, cost per extra run) for a model, checked at a third point."""
    a = cost(s, prices, model, 0)
    b = cost(s, prices, model, 1) - a
    # Divisions (GB-months, hours/730) round at Decimal's 28 digits, hence the tolerance.
    if abs(cost(s, prices, model, 1000) - (a + 1000 * b)) > AFFINE_TOLERANCE:
        raise NotAffine(f"{model} is not affine in runs a month")
    return a, b


@dataclass(frozen=True)
class BreakEven:
    """Where two models cost the same.

    `runs` is the exact crossing (None if they never cross at n ≥ 0); `first_run` the smallest
    whole number of runs at which `cheaper_below` is no longer strictly cheaper.
    """

    models: tuple[str, str]
    cheaper_below: str | None
    runs: Decimal | None
    first_run: int | None
    training_hours: Decimal | None

    def to_json(self) -> dict[str, object]:
        return {"models": list(self.models), "cheaper_below": self.cheaper_below,
                "runs": None if self.runs is None else str(round(self.runs, 4)),
                "first_run": self.first_run,
                "training_hours": None if self.training_hours is None
                else str(round(self.training_hours, 4))}


def break_even(s: Scenario, prices: PriceCatalog, m1: str, m2: str) -> BreakEven:
    """The break-even of two models in runs a month (and training hours a month)."""
    a1, b1 = affine(s, prices, m1)
    a2, b2 = affine(s, prices, m2)
    cheaper = m1 if a1 < a2 else m2 if a2 < a1 else None
    if b1 == b2 or cheaper is None:
        return BreakEven((m1, m2), cheaper, None, None, None)
    x = (a1 - a2) / (b2 - b1)
    if x < 0:
        return BreakEven((m1, m2), cheaper, None, None, None)
    first = math.ceil(x)
    return BreakEven((m1, m2), cheaper, x, first, x * s.workload.run_hours)


def all_break_evens(s: Scenario, prices: PriceCatalog) -> list[BreakEven]:
    return [break_even(s, prices, m1, m2) for m1, m2 in combinations(MODELS, 2)]


@dataclass(frozen=True)
class Utilisation:
    """Useful training hours against paid capacity, and the all-in cost per useful hour."""

    model: str
    runs: int
    unit: str
    useful_hours: Decimal
    paid_hours: Decimal
    cost_per_useful_hour: Decimal | None

    @property
    def share(self) -> Decimal | None:
        return None if self.paid_hours == 0 else self.useful_hours / self.paid_hours


def utilisation(s: Scenario, prices: PriceCatalog, runs: int) -> list[Utilisation]:
    """Per model: useful GPU-hours (node-hours where no GPU) and what each cost all-in."""
    out = []
    hours = training_hours(s, runs)
    fixed_pool = next(p for p in s.fixed.node_pools if p.name == s.fixed.training_pool)
    a = s.autoscaled
    specs = {
        "fixed": (fixed_pool.gpu, hours * s.fixed.nodes_per_run, fixed_capacity(s)),
        "autoscaled": (a.training_pool.gpu, hours * a.nodes_per_run,
                       autoscaled_node_hours(s, runs)),
        "vertex": (s.vertex.training.gpu, hours * s.vertex.training.replicas,
                   hours * s.vertex.training.replicas),
    }
    totals = {m: b.monthly for m, b in bills(s, prices, runs).items()}
    for model, (gpu, useful, paid) in specs.items():
        per = gpu.count if gpu else 1
        useful, paid = useful * per, paid * per
        out.append(Utilisation(model, runs, "GPU-hour" if gpu else "node-hour", useful, paid,
                               totals[model] / useful if useful else None))
    return out


def _with_gpu(s: Scenario, gpu_type: str) -> Scenario:
    v, a = s.vertex, s.autoscaled
    count = v.training.gpu.count if v.training.gpu else 1
    training = v.training.model_copy(update={"gpu": Gpu(type=gpu_type, count=count)})
    pool = a.training_pool.model_copy(update={"gpu": Gpu(type=gpu_type, count=count)})
    return s.model_copy(update={"vertex": v.model_copy(update={"training": training}),
                                "autoscaled": a.model_copy(update={"training_pool": pool})})


def with_run_hours(s: Scenario, hours: Decimal) -> Scenario:
    return s.model_copy(update={"workload": s.workload.model_copy(update={"run_hours": hours})})


def with_spot_share(s: Scenario, share: Decimal) -> Scenario:
    pool = s.autoscaled.training_pool.model_copy(update={"spot_share": share})
    return s.model_copy(update={"autoscaled": s.autoscaled.model_copy(
        update={"training_pool": pool})})


def sweep_runs(s: Scenario, prices: PriceCatalog, points: int = 41) -> list[dict[str, object]]:
    """Cost of each model from 0 runs to 1.5 × the largest scenario (or past break-even)."""
    crossings = [b.first_run for b in all_break_evens(s, prices) if b.first_run is not None]
    top = max([*s.workload.runs_per_month, *crossings, 1])
    top = math.ceil(top * 1.5)
    grid = sorted({round(top * i / (points - 1)) for i in range(points)})
    return [{"runs": n, **{m: cost(s, prices, m, n) for m in MODELS}} for n in grid]


def sweep(s: Scenario, prices: PriceCatalog) -> dict[str, list[dict[str, object]]]:
    """Sensitivity of totals and break-evens to run length, GPU type and spot share."""
    runs = s.workload.runs_per_month

    def row(label: str, variant: Scenario) -> dict[str, object]:
        bes = {f"{b.models[0]}-{b.models[1]}": b for b in all_break_evens(variant, prices)}
        return {"value": label,
                **{f"{m}@{n}": cost(variant, prices, m, n) for m in MODELS for n in runs},
                "break_even_fixed_vertex": bes["fixed-vertex"].first_run,
                "break_even_autoscaled_vertex": bes["autoscaled-vertex"].first_run}

    gpu_rows = []
    for gpu in sorted(set(prices.gpus) & set(prices.vertex_training_gpu)):
        try:
            gpu_rows.append(row(gpu, _with_gpu(s, gpu)))
        except PricingError:
            continue  # does not attach to this shape: nothing to compare
    return {
        "run_hours": [row(str(h), with_run_hours(s, h)) for h in SWEEP_RUN_HOURS],
        "gpu_type": gpu_rows,
        "spot_share": [row(str(x), with_spot_share(s, x)) for x in SWEEP_SPOT_SHARES],
    }


def study_metrics(s: Scenario, prices: PriceCatalog) -> dict[str, Decimal | str]:
    """The figures the study states, computed our way (keys used by scenario `study.ours`)."""
    month = prices.hours_per_month
    fixed = cost(s, prices, "fixed", 0)
    endpoint = ZERO
    vb = BILLS["vertex"](s, prices, 0)
    for line in vb.lines:
        if line.component.startswith("Endpoint"):
            endpoint += line.monthly
    per_run = affine(s, prices, "vertex")[1]
    runs = s.workload.runs_per_month
    low, high = per_run * min(runs) / month, per_run * max(runs) / month
    return {"fixed.monthly": fixed, "fixed.hourly": fixed / month,
            "vertex.endpoint_hourly": endpoint / month,
            "vertex.training_hourly_range": f"{cents(low)}–{cents(high)}"}
