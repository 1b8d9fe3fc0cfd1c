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

from cost.catalog import Price, PriceCatalog
from cost.compare import (
    all_break_evens,
    study_figures,
    sweep,
    sweep_runs,
    utilisation,
)
from cost.models import MODELS, bills
from cost.money import cents, plain, usd
from cost.render import bill_text
from cost.scenario import Scenario

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
                             "useful_hours": plain(u.useful_hours),
                             "paid_hours": plain(u.paid_hours),
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
        "workload": json.loads(s.workload.model_dump_json()),
        "per_runs": per_runs,
        "break_even": [b.to_json() for b in all_break_evens(s, prices)],
        "sweep_runs": sweep_runs(s, prices),
        "sensitivity": sweep(s, prices),
        "study": study,
        "study_source": s.study_source.citation() if s.study_source else None,
        "provenance": provenance(s, prices),
    })


def chart_runs(data: dict[str, Any]) -> str:
    """Cost vs runs a month for each model, break-evens marked; inline SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    xs = [row["runs"] for row in data["sweep_runs"]]
    for model, title in MODELS.items():
        ax.plot(xs, [float(row[model]) for row in data["sweep_runs"]], label=title)
    for be in data["break_even"]:
        if be["runs"] is not None and float(be["runs"]) <= xs[-1]:
            ax.axvline(float(be["runs"]), color="grey", linestyle=":", linewidth=1)
            ax.annotate(f"{be['models'][0]} = {be['models'][1]}\n{float(be['runs']):,.0f} runs",
                        (float(be["runs"]), ax.get_ylim()[1] * 0.9), fontsize=8, ha="center")
    ax.set_xlabel("training runs per month")
    ax.set_ylabel(f"USD per month (prices {data['catalog']})")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig)


def chart_breakdown(data: dict[str, Any]) -> str:
    """Stacked bars of each model's components at each scenario's runs; inline SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    labels, stacks = [], []
    for entry in data["per_runs"]:
        for model in MODELS:
            labels.append(f"{model}\n{entry['runs']} runs")
            stacks.append(entry["models"][model]["components"])
    groups = sorted({_group(c["component"]) for comps in stacks for c in comps})
    bottoms = [0.0] * len(labels)
    for group in groups:
        heights = [sum(float(c["monthly"]) for c in comps if _group(c["component"]) == group)
                   for comps in stacks]
        ax.bar(range(len(labels)), heights, bottom=bottoms, label=group)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylabel("USD per month")
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
    context = {"d": data, "models": MODELS}
    paths["report.md"].write_text(env.get_template("report.md.j2").render(**context))
    paths["report.html"].write_text(env.get_template("report.html.j2").render(
        **context, chart_runs=chart_runs(data), chart_breakdown=chart_breakdown(data)))
    paths["bills.txt"].write_text(bills_text(s, prices))
    return paths
