"""Comparison of the options: totals, break-even points, sensitivity sweeps, utilisation.

A model's monthly cost is affine in runs a month, C(n) = a + b·n, or, where usage hours earn a
pooled sustained-use discount, piecewise affine: its slope changes where the usage hours cross a
tier boundary (`kinks`). Two affine models cross at n* = (a₁ − a₂) / (b₂ − b₁); piecewise ones
are walked kink by kink and solved exactly on the segment where their order flips. `affine` and
the segment walk measure the costs from the bills themselves and check linearity between kinks,
so a future non-linear term cannot make break-even silently wrong.
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
    capacity_runs,
    fixed_capacity,
    jobs,
    models_of,
    persistent_capacity,
    training_hours,
)
from cost.money import ZERO, cents, plain, usd
from cost.pricing import Bill, PricingError
from cost.scenario import MONTH_HOURS, Gpu, Scenario, StudyFigure

MONTH_QUARTER = MONTH_HOURS / 4
"""The sustained-use tiers change every quarter of a month (the snapshots' four tiers)."""

SWEEP_RUN_HOURS = (Decimal("0.25"), Decimal("0.5"), Decimal(1), Decimal(2), Decimal(4))
SWEEP_SPOT_SHARES = (Decimal(0), Decimal("0.25"), Decimal("0.5"), Decimal("0.75"), Decimal(1))


AFFINE_TOLERANCE = Decimal("1e-9")
HORIZON_FACTOR = 10
"""Piecewise models are searched for a crossing up to this many times the scenario's largest
run count (or capacity); beyond it the order is reported as unknown, not guessed."""


CAPACITY_NAMES = {"fixed": "fixed cluster", "persistent": "persistent resource"}
"""How break-evens and the terminal name a capacity-bound option."""


class NotAffine(AssertionError):
    """A model whose cost is not affine in runs; break-even by formula would be wrong."""


def cost(s: Scenario, prices: PriceCatalog, model: str, runs: int | Decimal) -> Decimal:
    """Unrounded monthly cost of one model at `runs` a month (a real number of runs is allowed:
    break-evens are solved between whole numbers)."""
    return BILLS[model](s, prices, runs).monthly  # type: ignore[arg-type]


def kinks(s: Scenario, model: str, horizon: Decimal) -> list[Decimal]:
    """Run counts in (0, horizon] where a model's cost changes slope.

    Only the autoscaled cluster under pooled billing has any: its on-demand usage hours, affine
    in runs, cross a sustained-use tier boundary every quarter of a month.
    """
    if model != "autoscaled" or s.billing.sustained_use != "pooled":
        return []
    share = 1 - s.autoscaled.training_pool.spot_share
    h0 = autoscaled_node_hours(s, 0) * share
    h1 = autoscaled_node_hours(s, 1) * share - h0
    if h1 <= 0:
        return []
    quarter = MONTH_QUARTER
    k = math.floor(h0 / quarter) + 1
    out = []
    while (n := (k * quarter - h0) / h1) <= horizon:
        out.append(n)
        k += 1
    return out


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
    """The most runs a month of the capacity-bound model of the two (the fixed cluster, the
    persistent resource; the smaller where both are)."""
    capacity_model: str | None = None
    horizon: Decimal | None = None
    """Set when piecewise costs were searched up to this many runs without crossing."""

    @property
    def beyond_capacity(self) -> bool:
        """The crossing lies past what a capacity-bound model can run: it never happens."""
        return (self.capacity_runs is not None and self.first_run is not None
                and self.first_run > self.capacity_runs)

    def describe(self) -> str:
        """The break-even in words for screens and reports."""
        if self.first_run is None and self.horizon is not None:
            return f"not within {self.horizon:,.0f} runs"
        if self.first_run is None:
            return "never (n ≥ 0)"
        if self.beyond_capacity:
            return (f"{self.first_run:,} — beyond capacity (the "
                    f"{CAPACITY_NAMES[self.capacity_model or 'fixed']} runs at most "
                    f"{self.capacity_runs:,})")
        return f"{self.first_run:,}"

    def to_json(self) -> dict[str, object]:
        return {"models": list(self.models), "cheaper_below": self.cheaper_below,
                "runs": None if self.runs is None else str(round(self.runs, 4)),
                "first_run": self.first_run,
                "training_hours": None if self.training_hours is None
                else str(round(self.training_hours, 4)),
                "capacity_runs": self.capacity_runs,
                "capacity_model": self.capacity_model,
                "beyond_capacity": self.beyond_capacity,
                "described": self.describe()}


def break_even(s: Scenario, prices: PriceCatalog, m1: str, m2: str) -> BreakEven:
    """The break-even of two models in runs a month (and training hours a month)."""
    bound = [(c, m) for m in (m1, m2) if (c := capacity_runs(s, m)) is not None]
    capacity, capacity_model = min(bound) if bound else (None, None)
    horizon = Decimal(HORIZON_FACTOR * max([*s.workload.runs_per_month, *(c for c, _ in bound),
                                            1]))
    points = sorted({*kinks(s, m1, horizon), *kinks(s, m2, horizon)})
    if not points:
        return _affine_break_even(s, prices, m1, m2, capacity, capacity_model)
    d0 = cost(s, prices, m1, 0) - cost(s, prices, m2, 0)
    cheaper = m1 if d0 < 0 else m2 if d0 > 0 else None
    if cheaper is None:
        return BreakEven((m1, m2), None, None, None, None, capacity, capacity_model)
    x0, dx0 = Decimal(0), d0
    for x in [*points, horizon]:
        dx = cost(s, prices, m1, x) - cost(s, prices, m2, x)
        _check_linear(s, prices, (m1, m2), x0, dx0, x, dx)
        if (dx >= 0) if d0 < 0 else (dx <= 0):
            crossing = x0 + dx0 / (dx0 - dx) * (x - x0)
            return BreakEven((m1, m2), cheaper, crossing, math.ceil(crossing),
                             crossing * s.workload.run_hours, capacity, capacity_model)
        x0, dx0 = x, dx
    return BreakEven((m1, m2), cheaper, None, None, None, capacity, capacity_model, horizon)


def _check_linear(s: Scenario, prices: PriceCatalog, pair: tuple[str, str], a: Decimal,
                  da: Decimal, b: Decimal, db: Decimal) -> None:
    """Between two kinks the difference of two costs must be a straight line."""
    mid = (a + b) / 2
    dm = cost(s, prices, pair[0], mid) - cost(s, prices, pair[1], mid)
    if abs(dm - (da + db) / 2) > AFFINE_TOLERANCE * max(1, abs(da) + abs(db)):
        raise NotAffine(f"{pair[0]} − {pair[1]} is not linear between {a} and {b} runs")


def _affine_break_even(s: Scenario, prices: PriceCatalog, m1: str, m2: str,
                       capacity: int | None, capacity_model: str | None) -> BreakEven:
    a1, b1 = affine(s, prices, m1)
    a2, b2 = affine(s, prices, m2)
    cheaper = m1 if a1 < a2 else m2 if a2 < a1 else None
    if b1 == b2 or cheaper is None:
        return BreakEven((m1, m2), cheaper, None, None, None, capacity, capacity_model)
    x = (a1 - a2) / (b2 - b1)
    if x < 0:
        return BreakEven((m1, m2), cheaper, None, None, None, capacity, capacity_model)
    first = math.ceil(x)
    return BreakEven((m1, m2), cheaper, x, first, x * s.workload.run_hours, capacity,
                     capacity_model)


def all_break_evens(s: Scenario, prices: PriceCatalog) -> list[BreakEven]:
    return [break_even(s, prices, m1, m2) for m1, m2 in combinations(models_of(s), 2)]


def capacity_text(s: Scenario) -> str:
    """'the fixed cluster runs at most N' (and the persistent resource's), for headings."""
    return "; ".join(f"the {CAPACITY_NAMES[m]} runs at most {capacity_runs(s, m):,}"
                     for m in models_of(s) if capacity_runs(s, m) is not None)


def crossover_lines(s: Scenario, prices: PriceCatalog) -> list[str]:
    """The break-evens in words, one line per pair of models, for the terminal."""
    lines = [f"Break-even (runs a month of {plain(s.workload.run_hours)} h; "
             f"{capacity_text(s)}):"]
    for b in all_break_evens(s, prices):
        pair = f"{MODELS[b.models[0]]} vs {MODELS[b.models[1]]}"
        if b.cheaper_below is None:
            lines.append(f"  {pair}: equal at zero runs")
        elif b.first_run is None and b.horizon is not None:
            lines.append(f"  {pair}: {MODELS[b.cheaper_below]} is cheaper at every run count "
                         f"up to {b.horizon:,.0f}")
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
    a, v = s.autoscaled, s.vertex
    vertex_paid = (hours + jobs(s, runs) * v.scale_up_overhead_hours) * v.training.replicas
    specs = {
        "fixed": (fixed_pool.gpu, hours * s.fixed.nodes_per_run, fixed_capacity(s)),
        "autoscaled": (a.training_pool.gpu, hours * a.nodes_per_run,
                       autoscaled_node_hours(s, runs)),
        "vertex": (v.training.gpu, hours * v.training.replicas, vertex_paid),
    }
    if s.persistent is not None:
        specs["persistent"] = (s.persistent.gpu, hours, persistent_capacity(s))
    totals = {m: b.monthly for m, b in bills(s, prices, runs).items()}
    for model, (gpu, useful, paid) in specs.items():
        per = gpu.count if gpu else 1
        useful, paid = useful * per, paid * per
        out.append(Utilisation(model, runs, "GPU-hour" if gpu else "node-hour", useful, paid,
                               totals[model] / useful if useful else None))
    return out


def _with_gpu(s: Scenario, gpu_type: str) -> Scenario:
    """Every training GPU of the scenario swapped for `gpu_type` (CPU-only training stays)."""
    v, a, f = s.vertex, s.autoscaled, s.fixed
    count = v.training.gpu.count if v.training.gpu else 1
    gpu = Gpu(type=gpu_type, count=count)
    training = v.training.model_copy(update={"gpu": gpu})
    pool = a.training_pool.model_copy(update={"gpu": gpu})
    fixed_pools = [p.model_copy(update={"gpu": Gpu(type=gpu_type, count=p.gpu.count)})
                   if p.name == f.training_pool and p.gpu else p for p in f.node_pools]
    update: dict[str, object] = {
        "vertex": v.model_copy(update={"training": training}),
        "autoscaled": a.model_copy(update={"training_pool": pool}),
        "fixed": f.model_copy(update={"node_pools": fixed_pools})}
    if s.persistent is not None and s.persistent.gpu is not None:
        update["persistent"] = s.persistent.model_copy(
            update={"gpu": Gpu(type=gpu_type, count=s.persistent.gpu.count)})
    return s.model_copy(update=update)


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
    return [{"runs": n, **{m: cost(s, prices, m, n) for m in models_of(s)}} for n in grid]


def sweep(s: Scenario, prices: PriceCatalog) -> dict[str, list[dict[str, object]]]:
    """Sensitivity of totals and break-evens to run length, GPU type and spot share.

    Each row holds every option's total at each of the scenario's run counts (`model@runs`)
    and every pair's break-even in words (`break_even`, keyed `model-model`).
    """
    runs = s.workload.runs_per_month

    def row(label: str, variant: Scenario) -> dict[str, object]:
        return {"value": label,
                **{f"{m}@{n}": cost(variant, prices, m, n) for m in models_of(s) for n in runs},
                "break_even": {f"{b.models[0]}-{b.models[1]}": b.describe()
                               for b in all_break_evens(variant, prices)}}

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
