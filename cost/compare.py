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
from cost.money import ZERO, cents, plain, usd
from cost.pricing import Bill, PricingError
from cost.scenario import Gpu, Scenario, StudyFigure, fixed_max_runs

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
    capacity_runs: int | None = None
    """The fixed cluster's most runs a month, when one of the two models is the fixed one."""

    @property
    def beyond_capacity(self) -> bool:
        """The crossing lies past what the fixed cluster can run: it never happens in practice."""
        return (self.capacity_runs is not None and self.first_run is not None
                and self.first_run > self.capacity_runs)

    def describe(self) -> str:
        """The break-even in words for screens and reports."""
        if self.first_run is None:
            return "never (n ≥ 0)"
        if self.beyond_capacity:
            return (f"{self.first_run:,} — beyond capacity (the fixed cluster runs at most "
                    f"{self.capacity_runs:,})")
        return f"{self.first_run:,}"

    def to_json(self) -> dict[str, object]:
        return {"models": list(self.models), "cheaper_below": self.cheaper_below,
                "runs": None if self.runs is None else str(round(self.runs, 4)),
                "first_run": self.first_run,
                "training_hours": None if self.training_hours is None
                else str(round(self.training_hours, 4)),
                "capacity_runs": self.capacity_runs,
                "beyond_capacity": self.beyond_capacity,
                "described": self.describe()}


def break_even(s: Scenario, prices: PriceCatalog, m1: str, m2: str) -> BreakEven:
    """The break-even of two models in runs a month (and training hours a month)."""
    a1, b1 = affine(s, prices, m1)
    a2, b2 = affine(s, prices, m2)
    cheaper = m1 if a1 < a2 else m2 if a2 < a1 else None
    capacity = fixed_max_runs(s) if "fixed" in (m1, m2) else None
    if b1 == b2 or cheaper is None:
        return BreakEven((m1, m2), cheaper, None, None, None, capacity)
    x = (a1 - a2) / (b2 - b1)
    if x < 0:
        return BreakEven((m1, m2), cheaper, None, None, None, capacity)
    first = math.ceil(x)
    return BreakEven((m1, m2), cheaper, x, first, x * s.workload.run_hours, capacity)


def all_break_evens(s: Scenario, prices: PriceCatalog) -> list[BreakEven]:
    return [break_even(s, prices, m1, m2) for m1, m2 in combinations(MODELS, 2)]


def crossover_lines(s: Scenario, prices: PriceCatalog) -> list[str]:
    """The break-evens in words, one line per pair of models, for the terminal."""
    lines = [f"Break-even (runs a month of {plain(s.workload.run_hours)} h; the fixed cluster "
             f"runs at most {fixed_max_runs(s):,}):"]
    for b in all_break_evens(s, prices):
        pair = f"{MODELS[b.models[0]]} vs {MODELS[b.models[1]]}"
        if b.cheaper_below is None:
            lines.append(f"  {pair}: equal at zero runs")
        elif b.first_run is None:
            lines.append(f"  {pair}: {MODELS[b.cheaper_below]} is cheaper at every run count")
        else:
            lines.append(f"  {pair}: {MODELS[b.cheaper_below]} is cheaper below "
                         f"{b.describe()} runs")
    return lines


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
                "break_even_fixed_vertex": bes["fixed-vertex"].describe(),
                "break_even_autoscaled_vertex": bes["autoscaled-vertex"].describe()}

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


def study_metrics(s: Scenario, prices: PriceCatalog) -> dict[str, tuple[Decimal, ...]]:
    """The figures the study states, computed our way (keys used by scenario `study.ours`).

    Each is a tuple of amounts: one for a single figure, (low, high) for a range.
    """
    month = prices.hours_per_month
    fixed = cost(s, prices, "fixed", 0)
    endpoint = _endpoint_monthly(BILLS["vertex"](s, prices, 0))
    per_run = affine(s, prices, "vertex")[1]
    runs = s.workload.runs_per_month
    return {"fixed.monthly": (fixed,), "fixed.hourly": (fixed / month,),
            "vertex.endpoint_hourly": (endpoint / month,),
            "vertex.training_hourly_range": (per_run * min(runs) / month,
                                             per_run * max(runs) / month)}


def _endpoint_monthly(bill: Bill) -> Decimal:
    return sum((line.monthly for line in bill.lines if line.component.startswith("Endpoint")),
               ZERO)


def _lines_sum(bill: Bill) -> str:
    """A bill's lines as 'component q × unit price = amount', joined, then its total."""
    terms = [f"{line.component}: {plain(round(line.quantity, 4))} × {plain(line.unit_price)} "
             f"= {usd(line.monthly)}" for line in bill.lines]
    return "; ".join(terms) + f" → {usd(bill.monthly)}"


def _explain(key: str, s: Scenario, prices: PriceCatalog, ours: tuple[Decimal, ...],
             stated: tuple[Decimal, ...]) -> str:
    """The arithmetic behind one of our figures, every number taken from the computation."""
    month = prices.hours_per_month
    if key == "fixed.monthly":
        return _lines_sum(BILLS["fixed"](s, prices, 0))
    if key == "fixed.hourly":
        monthly = cost(s, prices, "fixed", 0)
        gap = stated[0] * month - monthly
        return (f"{usd(monthly)} / {plain(month)} h = {plain(round(ours[0], 4))} $/h; the stated "
                f"{plain(stated[0])} $/h × {plain(month)} h = {usd(stated[0] * month)}, "
                f"{usd(abs(gap))} {'more' if gap > 0 else 'less'} a month than ours")
    if key == "vertex.endpoint_hourly":
        bill = BILLS["vertex"](s, prices, 0)
        lines = [line for line in bill.lines if line.component.startswith("Endpoint")]
        gap = stated[0] * month - _endpoint_monthly(bill)
        return ("; ".join(f"{line.component}: {plain(round(line.quantity, 4))} × "
                          f"{plain(line.unit_price)} = {usd(line.monthly)}" for line in lines)
                + f" → {plain(round(ours[0], 4))} $/h; the stated {plain(stated[0])} $/h × "
                  f"{plain(month)} h is {usd(abs(gap))} {'more' if gap > 0 else 'less'} a month")
    if key == "vertex.training_hourly_range":
        per_run = affine(s, prices, "vertex")[1]
        low, high = min(s.workload.runs_per_month), max(s.workload.runs_per_month)
        implied = stated[-1] * month / high
        return (f"{plain(round(per_run, 4))} $ per run × {low:,} runs / {plain(month)} h = "
                f"{plain(round(ours[0], 4))}; × {high:,} runs = {plain(round(ours[-1], 4))}; "
                f"the stated {plain(stated[-1])} at {high:,} runs implies "
                f"{plain(round(implied, 4))} $ per run")
    raise KeyError(key)


@dataclass(frozen=True)
class FigureCheck:
    """A stated figure beside ours: reproduced means equal to the cent, end by end."""

    figure: StudyFigure
    ours: tuple[Decimal, ...]
    reproduced: bool
    explanation: str

    def to_json(self) -> dict[str, object]:
        return {"label": self.figure.label, "stated": self.figure.stated,
                "unit": self.figure.unit, "ours": self.figure.ours,
                "ours_value": "–".join(str(cents(v)) for v in self.ours),
                "reproduced": self.reproduced, "explanation": self.explanation,
                "context": self.figure.context}


def study_figures(s: Scenario, prices: PriceCatalog) -> list[FigureCheck]:
    """Each stated figure checked against ours, with the computed arithmetic behind ours.

    Raises:
        KeyError: for a `study.ours` key that names no metric (the message lists them).
    """
    metrics = study_metrics(s, prices)
    out = []
    for fig in s.study:
        if fig.ours not in metrics:
            raise KeyError(f"study: ours '{fig.ours}' is not one of {', '.join(metrics)}")
        ours = metrics[fig.ours]
        stated = tuple(Decimal(p.strip()) for p in fig.stated.split("–"))
        same = len(ours) == len(stated) and all(
            cents(o) == cents(st) for o, st in zip(ours, stated, strict=True))
        out.append(FigureCheck(fig, ours, same, _explain(fig.ours, s, prices, ours, stated)))
    return out
