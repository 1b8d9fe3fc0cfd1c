"""The comparison report: results.json, costs.csv, report.md and a self-contained report.html.

Charts are drawn with matplotlib's Agg backend and embedded as inline SVG, so the HTML opens
with no network access. All amounts are computed unrounded and rounded here, once.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from cost.catalog import CatalogError, Price, PriceCatalog, PriceNotFound, load_catalog, regions
from cost.compare import (
    all_break_evens,
    capacity_text,
    cost,
    study_figures,
    sweep,
    sweep_runs,
    utilisation,
)
from cost.models import MODELS, bills, capacity_runs, check_priceable, models_of
from cost.money import cents, plain, usd
from cost.render import bill_text
from cost.scenario import Scenario, ScenarioError

TEMPLATES = Path(__file__).parent / "templates"


def _s(value: Any) -> Any:
    """Decimals as strings rounded to the cent (JSON carries no binary floats of money)."""
    if isinstance(value, Decimal):
        return str(cents(value))
    if isinstance(value, dict):
        return {k: _s(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_s(v) for v in value]
    return value


def provenance(s: Scenario, prices: PriceCatalog) -> dict[str, Any]:
    """Counts by status for the whole snapshot, and every non-verified price the bills use.

    A reader sees which figures rest on something weaker than a first-party source, with the
    date and status of each, before trusting a total.
    """
    used: dict[str, Price] = {}
    for n in s.workload.runs_per_month:
        for bill in bills(s, prices, n).values():
            for line in bill.lines:
                if line.price is not None and line.price.status != "verified":
                    used[line.price.key] = line.price
    return {"counts": prices.status_counts(),
            "sources": {k: {"title": v.title, "url": v.url, "first_party": v.first_party}
                        for k, v in prices.sources.items()},
            "not_verified_used": [
                {"key": key, "usd": plain(p.usd), "as_of": p.as_of, "status": p.status,
                 "source": p.source, "formula": p.formula, "note": p.note}
                for key, p in sorted(used.items())]}


PER_MODEL_OPTIONS = ("GKE on-demand", "GKE spot", "Vertex on-demand", "Vertex spot")


def per_model_section(s: Scenario, prices: PriceCatalog) -> dict[str, Any]:
    """Cost per trained model, per tuning study and per million predictions for each model of
    `cost/data/throughput.yaml`, on the scenario's training shape and serving machine.

    Each figure carries the throughput it used (measured, estimated or given, and on what).
    """
    from cost.per_model import (
        PerModelError,
        load_results,
        load_throughput_data,
        per_model,
        result_json,
    )

    tp = s.autoscaled.training_pool
    serving_machine = (s.serving.machine_type if s.serving is not None else
                       s.vertex.endpoint.machine_type if s.vertex.endpoint else tp.machine_type)
    target = s.serving.target_p99_ms if s.serving is not None else None
    data, measured = load_throughput_data(), load_results()
    rows, skipped = [], []
    for key in data.models:
        try:
            rows.append(result_json(per_model(
                prices, data, measured, model=key, machine=tp.machine_type, gpu=tp.gpu,
                serving_machine=serving_machine, target_p99_ms=target)))
        except PerModelError as err:
            skipped.append(f"{key}: {err}")
    return {"machine": tp.machine_type,
            "gpu": None if tp.gpu is None else f"{tp.gpu.count} × {tp.gpu.type}",
            "serving_machine": serving_machine, "options": list(PER_MODEL_OPTIONS),
            "rows": rows, "skipped": skipped}


def region_section(s: Scenario, prices: PriceCatalog) -> list[dict[str, Any]]:
    """Every option's totals in each region priced on the scenario's date (the scenario's own
    region first); a region where the scenario cannot be priced says why."""
    out = []
    for region in regions(prices.snapshot):
        try:
            other = prices if region == prices.region else load_catalog(prices.snapshot, region)
            check_priceable(s, other, f"region {region}")
        except (ScenarioError, PriceNotFound, CatalogError) as err:
            out.append({"region": region, "reason": str(err), "totals": {}})
            continue
        out.append({"region": region, "reason": "", "counts": other.status_counts(),
                    "totals": {f"{m}@{n}": cost(s, other, m, n) for m in models_of(s)
                               for n in s.workload.runs_per_month}})
    return out


def sizing_notes(s: Scenario) -> list[str]:
    """How the scenario's serving and Kubeflow capacity was sized (empty when typed in)."""
    from cost.sizing import sized_pools

    return [f"{pool.name}: {how}" for pool, how in sized_pools(s)]


def results(s: Scenario, prices: PriceCatalog) -> dict[str, Any]:
    """Everything the report shows, as JSON-ready data."""
    runs = s.workload.runs_per_month
    per_runs = []
    for n in runs:
        b = bills(s, prices, n)
        per_runs.append({
            "runs": n,
            "models": {m: {"title": MODELS[m], "monthly": cents(bill.monthly),
                           "hourly": str(round(bill.monthly / prices.hours_per_month, 4)),
                           "components": [line.to_json() for line in bill.lines],
                           "notes": bill.notes} for m, bill in b.items()},
            "utilisation": [{"model": u.model, "unit": u.unit,
                             "useful_hours": plain(round(u.useful_hours, 2)),
                             "paid_hours": plain(round(u.paid_hours, 2)),
                             "share": None if u.share is None else str(round(u.share, 4)),
                             "cost_per_useful_hour": None if u.cost_per_useful_hour is None
                             else str(round(u.cost_per_useful_hour, 4))}
                            for u in utilisation(s, prices, n)],
        })
    study = [check.to_json() for check in study_figures(s, prices)]
    return _s({
        "scenario": s.name, "description": s.description, "catalog": prices.snapshot,
        "region": prices.region, "currency": prices.currency,
        "hours_per_month": str(prices.hours_per_month),
        "models": {m: MODELS[m] for m in models_of(s)},
        "sustained_use": s.billing.sustained_use,
        "workload": json.loads(s.workload.model_dump_json()),
        "sizing": sizing_notes(s),
        "per_runs": per_runs,
        "break_even": [b.to_json() for b in all_break_evens(s, prices)],
        "sweep_runs": sweep_runs(s, prices),
        "sensitivity": sweep(s, prices),
        "capacity": {"fixed_max_runs": capacity_runs(s, "fixed"),
                     "persistent_max_runs": capacity_runs(s, "persistent"),
                     "described": capacity_text(s)},
        "per_model": per_model_section(s, prices),
        "regions": region_section(s, prices),
        "study": study,
        "study_source": s.study_source.citation() if s.study_source else None,
        "provenance": provenance(s, prices),
    })


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, with SVG text kept as text (readable, testable)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    # Element ids derive from this salt instead of a random one, so the same report is the
    # same bytes on every run.
    plt.rcParams["svg.hashsalt"] = "ml-platform"
    return plt


def chart_runs(data: dict[str, Any]) -> str:
    """Cost vs runs a month for each model: break-evens, the scenario's run counts and the
    fixed cluster's capacity marked; inline SVG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    xs = [row["runs"] for row in data["sweep_runs"]]
    for model, title in data["models"].items():
        ax.plot(xs, [float(row[model]) for row in data["sweep_runs"]], label=title)
    top = ax.get_ylim()[1]
    shown = [be for be in data["break_even"]
             if be["runs"] is not None and float(be["runs"]) <= xs[-1]]
    for i, be in enumerate(sorted(shown, key=lambda b: float(b["runs"]))):
        # Staggered, so crossings at nearby run counts keep readable labels.
        ax.axvline(float(be["runs"]), color="grey", linestyle=":", linewidth=1)
        ax.annotate(f"{be['models'][0]} = {be['models'][1]}\n{be['first_run']:,} runs",
                    (float(be["runs"]), top * (0.93 - 0.09 * (i % 3))), fontsize=8,
                    ha="center")
    for entry in data["per_runs"]:
        n = entry["runs"]
        for model in data["models"]:
            ax.plot([n], [float(entry["models"][model]["monthly"])], "o", color="black",
                    markersize=3)
        ax.annotate(f"{n:,}", (n, 0), textcoords="offset points", xytext=(0, 4), fontsize=7,
                    ha="center")
    for key, name, height in (("fixed_max_runs", "fixed cluster", 0.6),
                              ("persistent_max_runs", "persistent resource", 0.4)):
        capacity = data["capacity"][key]
        if capacity is not None and capacity <= xs[-1]:
            ax.axvline(capacity, color="red", linestyle="--", linewidth=1)
            ax.annotate(f"{name} capacity\n{capacity:,} runs", (capacity, top * height),
                        fontsize=8, ha="right", color="red")
    ax.set_xlabel("training runs per month (dots: the scenario's run counts)")
    ax.set_ylabel(f"USD per month (prices {data['catalog']})")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig)


def breakdown_segments(data: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """Bar labels, and one segment series per component group with heights and bottoms.

    Charges stack upwards from zero and discounts and credits downwards from zero, so a bar's
    top is what is charged, its bottom what is taken off, and the net is the bill's total.
    """
    labels, stacks = [], []
    for entry in data["per_runs"]:
        for model in data["models"]:
            labels.append(f"{model}\n{entry['runs']} runs")
            stacks.append(entry["models"][model]["components"])
    groups = sorted({_group(c["component"]) for comps in stacks for c in comps})
    up = [0.0] * len(labels)
    down = [0.0] * len(labels)
    series = []
    for group in groups:
        heights = [sum(float(c["monthly"]) for c in comps if _group(c["component"]) == group)
                   for comps in stacks]
        bottoms = [u if h >= 0 else d for h, u, d in zip(heights, up, down, strict=True)]
        series.append({"group": group, "heights": heights, "bottoms": bottoms})
        up = [u + max(h, 0.0) for u, h in zip(up, heights, strict=True)]
        down = [d + min(h, 0.0) for d, h in zip(down, heights, strict=True)]
    return labels, series


def chart_breakdown(data: dict[str, Any]) -> str:
    """Each model's components at each scenario's runs, discounts below zero; inline SVG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    labels, series = breakdown_segments(data)
    for s in series:
        ax.bar(range(len(labels)), s["heights"], bottom=s["bottoms"], label=s["group"])
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylabel("USD per month (discounts and credits below 0)")
    ax.legend(fontsize=7, loc="upper left")
    return _svg(fig)


def _group(component: str) -> str:
    text = component.split("] ", 1)[-1]
    for word in ("Sustained-use", "GPU Sustained-use"):
        if text.startswith(word):
            return "Sustained-use discount"
    if "NVIDIA" in text:
        return "GPUs"
    return text.split(" (")[0]


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _num(value: Any, places: int = 1) -> str:
    """A quantity for people: thousands separators, `places` decimals; '—' for none."""
    if value is None or value == "":
        return "—"
    return f"{Decimal(str(value)):,.{places}f}"


def bills_text(s: Scenario, prices: PriceCatalog) -> str:
    """Every model's bill at each scenario's runs, as golden-file text."""
    out = [f" Scenario: {s.name}   Prices: {prices.snapshot} ({prices.region}, USD)"]
    for n in s.workload.runs_per_month:
        out += ["", f" == {n} runs a month × {plain(s.workload.run_hours)} h"]
        for bill in bills(s, prices, n).values():
            out += bill_text(bill)
            out.append(f" {'total':>104} {usd(bill.monthly):>12}")
    return "\n".join(out) + "\n"


def write_report(s: Scenario, prices: PriceCatalog, out: Path) -> dict[str, Path]:
    """Write results.json, costs.csv, report.md and report.html under `out`."""
    data = results(s, prices)
    out.mkdir(parents=True, exist_ok=True)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["usd"] = lambda v: usd(Decimal(v)) if v is not None else "—"
    env.filters["num"] = _num
    env.filters["pct"] = lambda v: "—" if v is None else f"{Decimal(v) * 100:,.1f} %"
    paths = {name: out / name for name in ("results.json", "costs.csv", "report.md",
                                           "report.html", "bills.txt")}
    paths["results.json"].write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    with paths["costs.csv"].open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["runs_per_month", "model", "component", "quantity", "unit",
                         "unit_price", "monthly_usd"])
        for entry in data["per_runs"]:
            for model, info in entry["models"].items():
                for c in info["components"]:
                    writer.writerow([entry["runs"], model, c["component"], c["quantity"],
                                     c["unit"], c["unit_price"], c["monthly"]])
                writer.writerow([entry["runs"], model, "TOTAL", "", "", "", info["monthly"]])
    context = {"d": data, "models": data["models"]}
    paths["report.md"].write_text(env.get_template("report.md.j2").render(**context))
    paths["report.html"].write_text(env.get_template("report.html.j2").render(
        **context, chart_runs=chart_runs(data), chart_breakdown=chart_breakdown(data)))
    paths["bills.txt"].write_text(bills_text(s, prices))
    return paths
