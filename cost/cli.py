"""`mlp cost ...`: compare stacks, price a stack's plan, quote a machine.

Imports of the pricing code happen inside each command so `mlp --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cost.catalog import Pricing, snapshots
from facts.cli import choice
from facts.stack_selection import AllOpt, StacksArg

app = typer.Typer(no_args_is_help=True, help="Cost: compare GKE and Vertex AI, price plans.")

CatalogOpt = Annotated[choice(snapshots()) | None, typer.Option(  # type: ignore[valid-type]
    "--catalog", help="Price snapshot date (cost/data/prices/<date>.yaml); default the newest.")]


def _catalog(date: str | None, where: str = "--catalog", region: str | None = None):
    """The price snapshot of `date` (newest if None) in `region` (the date's default if None);
    exit 2 naming `where` if it cannot load."""
    from cost.catalog import CatalogError, PriceNotFound, load_catalog
    from facts.cli import fail

    try:
        return load_catalog(date, region)
    except (CatalogError, PriceNotFound) as err:
        raise fail(f"{where}: {err}") from None


@app.command()
def compare(
    out: Annotated[Path, typer.Option("--out", help="Directory for the report files.")],
    scenario: Annotated[str | None, typer.Option(
        "--scenario", help="A shipped scenario by name (like-for-like, study-2024) or a scenario "
        "YAML file; default like-for-like.")] = None,
    region: Annotated[str | None, typer.Option(
        "--region", help="Price the scenario in this region's snapshot of its date (default: "
        "the scenario's region).")] = None,
) -> None:
    """Fixed and autoscaled GKE, Vertex AI pay-per-use and persistent resource: totals,
    break-even, cost per model, report (md, html, json, csv)."""
    from rich.console import Console

    from cost.compare import crossover_lines
    from cost.models import bills, check_priceable
    from cost.render import bills_table
    from cost.report import write_report
    from cost.scenario import DEFAULT_SCENARIO, ScenarioError, load_scenario, scenario_path
    from facts.cli import fail

    try:
        path = scenario_path(scenario) if scenario is not None else DEFAULT_SCENARIO
        s = load_scenario(path)
    except ScenarioError as err:
        raise fail(str(err)) from None
    where = "--region" if region else f"{path}: catalog"
    prices = _catalog(s.catalog, where, region or s.region)
    try:
        check_priceable(s, prices, str(path))
    except ScenarioError as err:
        raise fail(str(err)) from None
    console = Console()
    for n in s.workload.runs_per_month:
        console.print(bills_table(f"{s.name}: {n} runs a month (prices {prices.snapshot}, "
                                  f"{prices.region})", bills(s, prices, n)))
    for line in crossover_lines(s, prices):
        console.print(line, highlight=False, soft_wrap=True)
    paths = write_report(s, prices, out)
    console.print("written: " + ", ".join(str(p) for p in paths.values()))


@app.command()
def stack(
    stacks: StacksArg = None,
    all_stacks: AllOpt = False,
    stack_file: Annotated[Path | None, typer.Option(
        "--stack-file", help="Any Pulumi.<name>.yaml instead of a shipped stack.",
        dir_okay=False)] = None,
    preview_file: Annotated[Path | None, typer.Option(
        "--preview", help="A preview JSON written by `mlp preview --json` ({stack} becomes "
                          "each named stack).", dir_okay=False)] = None,
    usage_file: Annotated[Path | None, typer.Option(
        "--usage", help="Usage YAML for usage-based parts (pool node-hours, Vertex endpoints).",
        dir_okay=False)] = None,
    catalog: CatalogOpt = None,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Also write the priced plan as JSON.")] = None,
    text_path: Annotated[Path | None, typer.Option(
        "--text", help="Also write the plan as a text bill.")] = None,
) -> None:
    """Price a stack's offline preview per resource and component (hourly and monthly).

    Several stacks (or --all) are priced in one process; file options then take {stack}."""
    from facts.cli import fail
    from facts.stack_selection import (
        STACK_FIELD,
        check_templates,
        chosen_stacks,
        for_each_stack,
    )
    from infra.sources import PREVIEW_SOURCES

    names = chosen_stacks(stacks, all_stacks)
    several = len(names) > 1
    # Stack names with --preview name saved previews by a {stack} path; a fixed path would
    # stand for a preview of one stack priced as another.
    if names and (stack_file is not None
                  or (preview_file is not None and STACK_FIELD not in str(preview_file))):
        raise fail(f"{PREVIEW_SOURCES} (or stack names with --preview PATH holding {STACK_FIELD})")
    check_templates(several, json=json_path, text=text_path)
    options = dict(usage_file=usage_file, catalog=catalog, json_path=json_path,
                   text_path=text_path, several=several)
    if not names:
        _price_stack(None, stack_file, preview_file, **options)
        return
    for_each_stack(names, lambda name: _price_stack(
        None if preview_file else name, None, preview_file, **options, name=name))


def _price_stack(stack_name: str | None, stack_file: Path | None, preview_file: Path | None,
                 usage_file: Path | None, catalog: str | None, json_path: Path | None,
                 text_path: Path | None, several: bool, name: str | None = None) -> None:
    """`mlp cost stack` for one stack, stack file or saved preview; `name` fills {stack}."""
    from rich.console import Console

    from cost.plan import plan_region, price_preview
    from cost.render import plan_json, plan_text, print_plan
    from cost.scenario import ScenarioError
    from cost.usage import load_usage
    from facts.cli import fail
    from facts.stack_selection import stack_file_path
    from infra.sources import preview_from

    if name is not None:
        preview_file = stack_file_path(preview_file, name, several, "--preview", output=False)
        usage_file = stack_file_path(usage_file, name, several, "--usage", output=False)
        json_path = stack_file_path(json_path, name, several, "--json")
        text_path = stack_file_path(text_path, name, several, "--text")
    try:
        usage = load_usage(usage_file)
    except ScenarioError as err:
        raise fail(str(err)) from None
    preview, _ = preview_from(stack_name, stack_file, preview_file)
    region = plan_region(preview)  # priced where the stack runs
    prices = _catalog(catalog or usage.catalog,
                      "--catalog" if region is None else f"stack region {region}", region)
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
    hours: Annotated[float | None, typer.Option(
        "--hours", help="Hours a month the node is up (default: the whole month of the price "
        "snapshot).")] = None,
    pricing: Annotated[Pricing, typer.Option(
        "--pricing", help="GKE node pricing (Vertex AI has on-demand only).")] = "on-demand",
    catalog: CatalogOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")
                       ] = False,
) -> None:
    """Monthly price of one node on GKE and of the same shape on Vertex training and prediction."""
    from rich.console import Console

    from cost.quote import QuoteError, quote, quote_json
    from cost.render import bills_table
    from facts.cli import fail

    prices = _catalog(catalog)
    try:
        hours_text = f"{hours:g}" if hours is not None else str(prices.hours_per_month)
        bills = quote(prices, machine_type, gpu, hours_text, pricing)
    except QuoteError as err:
        raise fail(str(err)) from None
    if as_json:
        typer.echo(json.dumps(quote_json(prices, bills), indent=2, ensure_ascii=False))
        return
    Console().print(bills_table(f"{machine_type} for {hours_text} h (prices {prices.snapshot})",
                                bills))


@app.command()
def gpus(
    write: Annotated[Path | None, typer.Option(
        "--write", help="Replace the block between the getting-gpus markers in this Markdown "
        "file (README.md).", dir_okay=False)] = None,
    catalog: CatalogOpt = None,
) -> None:
    """Ways to obtain GPUs side by side, priced from the catalog (README "Getting GPUs")."""
    from cost.gpu_options import markdown, replace_block
    from facts.cli import fail

    text = markdown(_catalog(catalog))
    if write is None:
        typer.echo(text)
        return
    try:
        updated = replace_block(write.read_text(), text)
    except (OSError, ValueError) as err:
        raise fail(f"{write}: {err}") from None
    write.write_text(updated)
    typer.echo(f"getting-gpus block written to {write}")


@app.command("per-model")
def per_model_cmd(
    model: Annotated[str, typer.Option("--model", help="Model key of cost/data/throughput.yaml "
                                       "(vgg, vgg-width-0.25, resnet).")] = "vgg",
    machine: Annotated[str, typer.Option("--machine", help="Training machine type.")
                       ] = "n1-standard-8",
    gpu: Annotated[str | None, typer.Option(
        "--gpu", help="TYPE:COUNT, e.g. nvidia-tesla-t4:1; 'none' for CPU only.")
    ] = "nvidia-tesla-t4:1",
    serving_machine: Annotated[str, typer.Option(
        "--serving-machine", help="Machine of one serving node.")] = "n1-standard-4",
    epochs: Annotated[int | None, typer.Option("--epochs", help="Epochs per trained model.")
                      ] = None,
    trials: Annotated[int | None, typer.Option("--trials", help="Trials per tuning study.")
                      ] = None,
    throughput: Annotated[str | None, typer.Option(
        "--throughput", help="Training images/s; overrides the measured or estimated rate.")
    ] = None,
    requests_per_s: Annotated[str | None, typer.Option(
        "--requests-per-s", help="Predictor requests/s per node; overrides the measured rate.")
    ] = None,
    utilisation: Annotated[str | None, typer.Option(
        "--utilisation", help="Share of the GPU's peak FLOP/s an estimate assumes.")] = None,
    overhead_hours: Annotated[str | None, typer.Option(
        "--overhead-hours", help="Hours added to every training job (start, scale-up).")
    ] = None,
    spot_rerun: Annotated[str | None, typer.Option(
        "--spot-rerun", help="Share of a spot job's hours run again after preemptions.")
    ] = None,
    p99_ms: Annotated[str | None, typer.Option(
        "--p99-ms", help="Serving latency target: the measured rate counts only if its p99 "
        "meets it.")] = None,
    catalog: CatalogOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")
                       ] = False,
) -> None:
    """Hours and USD per trained model, per tuning study and per million predictions."""
    from cost.per_model import (
        GPU_RESULTS_FILE,
        PerModelError,
        load_results,
        load_throughput_data,
        parse_number,
        per_model,
        result_json,
        result_lines,
    )
    from cost.quote import QuoteError, parse_gpu
    from facts.cli import fail

    prices = _catalog(catalog)
    try:
        gpu_spec = None if gpu in (None, "", "none") else parse_gpu(gpu)
        result = per_model(
            prices, load_throughput_data(), load_results(), model=model, machine=machine,
            gpu=gpu_spec, serving_machine=serving_machine,
            gpu_results=load_results(GPU_RESULTS_FILE), epochs=epochs, trials=trials,
            throughput=parse_number(throughput, "--throughput"),
            requests_per_s=parse_number(requests_per_s, "--requests-per-s"),
            utilisation=parse_number(utilisation, "--utilisation"),
            overhead_hours=parse_number(overhead_hours, "--overhead-hours", zero=True),
            spot_rerun=parse_number(spot_rerun, "--spot-rerun", zero=True),
            target_p99_ms=parse_number(p99_ms, "--p99-ms"))
    except (PerModelError, QuoteError) as err:
        raise fail(str(err)) from None
    if as_json:
        typer.echo(json.dumps(result_json(result), indent=2, ensure_ascii=False))
        return
    for line in result_lines(result):
        typer.echo(line)


@app.command("refresh-prices")
def refresh_prices(
    day: Annotated[str | None, typer.Option(
        "--date", help="Snapshot date YYYY-MM-DD (default today); prices in effect that day.")
    ] = None,
    from_fixtures: Annotated[Path | None, typer.Option(
        "--from-fixtures", help="Read recorded list_skus responses from this directory instead "
        "of calling the API.", file_okay=False)] = None,
    prices_dir: Annotated[Path | None, typer.Option(
        "--prices-dir", help="Snapshot directory (default cost/data/prices).", file_okay=False)
    ] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an existing snapshot of the same date.")] = False,
    record: Annotated[Path | None, typer.Option(
        "--record", help="Also save every list_skus page read, in the --from-fixtures form.",
        file_okay=False)] = None,
) -> None:
    """Build a new dated price snapshot from the Cloud Billing Catalog API."""
    from datetime import date

    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError

    from cost.billing import (
        BillingError,
        fetch_skus,
        live_client,
        load_rules,
        recorded_client,
        select_rates,
    )
    from cost.catalog import PRICES_DIR, CatalogError, load_catalog_file
    from cost.refresh import RefreshError, base_snapshot, build_snapshot, write_snapshot
    from facts.cli import fail

    today = date.today()
    try:
        when = date.fromisoformat(day) if day else today
    except ValueError:
        raise fail(f"--date: '{day}' is not a YYYY-MM-DD date") from None
    if when > today:
        raise fail(f"--date: {when} is in the future; the API has prices up to today ({today})")
    directory = prices_dir or PRICES_DIR
    target = directory / f"{when.isoformat()}.yaml"
    if target.exists() and not force:
        raise fail(f"--date: snapshot {target} exists; use --force to replace it")
    if from_fixtures is not None and not from_fixtures.is_dir():
        raise fail(f"--from-fixtures: '{from_fixtures}' is not a directory")
    try:
        base_path = base_snapshot(directory, when)
        base = load_catalog_file(base_path)
        rules = load_rules()
        if from_fixtures is not None:
            client = recorded_client(from_fixtures)
            origin = f"recorded in {from_fixtures}"
        else:
            client = live_client()
            origin = "from cloudbilling.googleapis.com"
        skus = {name: fetch_skus(client, service, when, today, record)
                for name, service in rules.services.items()}
        selection = select_rates(skus, base.region, when, base.currency, rules)
        refreshed = build_snapshot(selection, base_path, when, origin)
        path = write_snapshot(refreshed, directory, force)
    except (BillingError, RefreshError, CatalogError) as err:
        raise fail(str(err)) from None
    except (GoogleAPIError, GoogleAuthError) as err:
        raise fail(f"Cloud Billing Catalog API: {type(err).__name__}: {err}; check "
                   "credentials and network, or use --from-fixtures DIR") from None
    counts = {s: sum(1 for _, _, st in refreshed.updated if st == s)
              for s in ("verified", "derived")}
    typer.echo(f"written: {path}")
    typer.echo(f"from {sum(len(v) for v in skus.values())} SKUs ({origin}): "
               f"{counts['verified']} prices read, {counts['derived']} derived")
    typer.echo(f"ignored {len(selection.ignored)} matching SKUs (other regions, multi-region, "
               f"not yet priced on {when})")
    typer.echo(f"carried over from {refreshed.base} ({len(refreshed.carried)}):")
    for key, entry in refreshed.carried:
        usd = f" {entry['usd']}" if "usd" in entry else ""
        typer.echo(f"  {key}{usd} as_of {entry['as_of']} source {entry['source']} "
                   f"status {entry['status']}")
