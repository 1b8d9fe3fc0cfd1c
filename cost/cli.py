"""`mlp cost ...`: compare stacks, price a stack's plan, quote a machine.

Imports of the pricing code happen inside each command so `mlp --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Cost: compare GKE and Vertex AI, price plans.")

CatalogOpt = Annotated[str | None, typer.Option(
    "--catalog", help="Price snapshot date (cost/data/prices/<date>.yaml); default the newest.")]


def _catalog(date: str | None):
    from cost.catalog import CatalogError, PriceNotFound, load_catalog
    from infra.cli import fail

    try:
        return load_catalog(date)
    except (CatalogError, PriceNotFound) as err:
        raise fail(f"--catalog: {err}") from None


@app.command()
def compare(
    out: Annotated[Path, typer.Option("--out", help="Directory for the report files.")],
    scenario: Annotated[Path | None, typer.Option(
        "--scenario", help="Scenario YAML (default: the study's, cost/scenarios/study-2024.yaml)."
    )] = None,
) -> None:
    """Fixed vs autoscaled GKE vs Vertex AI: totals, break-even, report (md, html, json, csv)."""
    from rich.console import Console

    from cost.catalog import load_catalog
    from cost.models import bills, check_priceable
    from cost.render import bills_table
    from cost.report import write_report
    from cost.scenario import STUDY_SCENARIO, ScenarioError, load_scenario
    from infra.cli import fail

    path = scenario or STUDY_SCENARIO
    try:
        s = load_scenario(path)
        prices = load_catalog(s.catalog)
        check_priceable(s, prices, str(path))
    except ScenarioError as err:
        raise fail(str(err)) from None
    console = Console()
    for n in s.workload.runs_per_month:
        console.print(bills_table(f"{s.name}: {n} runs a month (prices {prices.snapshot})",
                                  bills(s, prices, n), prices.hours_per_month))
    paths = write_report(s, prices, out)
    console.print("written: " + ", ".join(str(p) for p in paths.values()))


@app.command()
def stack(
    stack_name: Annotated[str | None, typer.Argument(
        metavar="STACK", help="Stack name: stacks/Pulumi.<stack>.yaml.")] = None,
    stack_file: Annotated[Path | None, typer.Option(
        "--stack-file", help="Any Pulumi.<name>.yaml instead of a shipped stack.",
        dir_okay=False)] = None,
    preview_file: Annotated[Path | None, typer.Option(
        "--preview", help="A preview JSON written by `mlp preview --json`.",
        dir_okay=False)] = None,
    usage_file: Annotated[Path | None, typer.Option(
        "--usage", help="Usage YAML for usage-based parts (pool node-hours, Vertex endpoints).",
        dir_okay=False)] = None,
    catalog: CatalogOpt = None,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Also write the priced plan as JSON.")] = None,
    text_path: Annotated[Path | None, typer.Option(
        "--text", help="Also write the plan as a text bill.")] = None,
) -> None:
    """Price a stack's offline preview per resource and component (hourly and monthly)."""
    from rich.console import Console

    from cost.plan import price_preview
    from cost.render import plan_json, plan_text, print_plan
    from cost.scenario import ScenarioError
    from cost.usage import load_usage
    from infra.cli import fail, preview_for
    from infra.preview import PreviewFileError, load_preview

    try:
        usage = load_usage(usage_file)
    except ScenarioError as err:
        raise fail(str(err)) from None
    prices = _catalog(catalog or usage.catalog)
    if preview_file is not None:
        if stack_name or stack_file:
            raise fail("give a stack name, --stack-file or --preview (exactly one)")
        try:
            preview = load_preview(preview_file)
        except PreviewFileError as err:
            raise fail(str(err)) from None
    else:
        preview = preview_for(stack_name, stack_file)
    try:
        plan = price_preview(preview, prices, usage)
    except ScenarioError as err:
        raise fail(str(err)) from None
    print_plan(plan, Console())
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(plan_json(plan), indent=2, ensure_ascii=False) + "\n")
    if text_path:
        text_path.parent.mkdir(parents=True, exist_ok=True)
        text_path.write_text(plan_text(plan))


@app.command()
def machine(
    machine_type: Annotated[str, typer.Argument(metavar="MACHINE", help="e.g. n1-standard-8")],
    gpu: Annotated[str | None, typer.Option("--gpu", help="TYPE:COUNT, e.g. nvidia-tesla-t4:1")
                   ] = None,
    hours: Annotated[float, typer.Option("--hours", help="Hours a month the node is up.")
                     ] = 730.0,
    pricing: Annotated[str, typer.Option(
        "--pricing", help="on-demand, spot, cud-1y or cud-3y (GKE node only).")] = "on-demand",
    catalog: CatalogOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")
                       ] = False,
) -> None:
    """Monthly price of one node on GKE and of the same shape on Vertex training and prediction."""
    from rich.console import Console

    from cost.quote import QuoteError, quote, quote_json
    from cost.render import bills_table
    from infra.cli import fail

    prices = _catalog(catalog)
    try:
        bills = quote(prices, machine_type, gpu, str(hours), pricing)
    except QuoteError as err:
        raise fail(str(err)) from None
    if as_json:
        typer.echo(json.dumps(quote_json(prices, bills), indent=2, ensure_ascii=False))
        return
    Console().print(bills_table(f"{machine_type} for {hours:g} h (prices {prices.snapshot})",
                                bills, prices.hours_per_month))
