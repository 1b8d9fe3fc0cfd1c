"""`mlp preflight`: what must be true in the project before `pulumi up`, offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from facts.stack_selection import AllOpt, StacksArg

STATUS_STYLE = {"ok": "green", "todo": "yellow", "warn": "yellow", "fail": "bold red"}


def preflight(
    stacks: StacksArg = None,
    all_stacks: AllOpt = False,
    stack_file: Annotated[Path | None, typer.Option(
        "--stack-file", help="Any Pulumi.<name>.yaml to use instead of a shipped stack.",
        dir_okay=False)] = None,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Also write the findings as JSON ('-' for stdout only; {stack} becomes "
                       "each stack's name).")] = None,
) -> None:
    """Quotas at the stack's maximum size, placeholders, APIs, the deploying identity's roles
    and whether each workload fits its pool. Exit 1 when something is certain to fail, 0 with
    warnings otherwise, 2 on bad input. Several stacks (or --all) run in one process."""
    from facts.cli import fail
    from facts.stack_selection import check_templates, chosen_stacks, for_each_stack
    from infra.sources import STACK_SOURCES, resolve_stack_file

    names = chosen_stacks(stacks, all_stacks)
    if (not names) == (stack_file is None):
        raise fail(STACK_SOURCES)
    several = len(names) > 1
    if several and json_path is not None and str(json_path) == "-":
        raise fail("--json -: several stacks cannot share stdout; write each to a file with "
                   "{stack} in its path")
    check_templates(several, json=json_path)
    if stack_file is not None:
        _preflight_one(resolve_stack_file(None, stack_file), json_path, several)
        return
    for_each_stack(names, lambda name: _preflight_one(resolve_stack_file(name, None),
                                                      json_path, several))


def _preflight_one(resolved, json_path: Path | None, several: bool) -> None:
    """`mlp preflight` for one read stack file."""
    from facts.cli import fail
    from facts.stack_selection import stack_file_path
    from infra.config import ConfigError
    from infra.preflight import preflight as run
    from infra.sources import run_stack_preview

    try:
        cfg = resolved.platform()
    except ConfigError as err:
        raise fail(str(err)) from None
    report = run(cfg, resolved.name, run_stack_preview(resolved))
    data = json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n"
    if json_path is not None and str(json_path) == "-":
        typer.echo(data, nl=False)
    else:
        _print(report)
        json_path = stack_file_path(json_path, resolved.name, several, "--json")
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(data)
    if report.failed:
        raise typer.Exit(1)


def _print(report) -> None:
    """One block per finding: status, what and what it needs, then the commands."""
    console = Console(soft_wrap=True, highlight=False)
    counts = {s: sum(f.status == s for f in report.findings) for s in STATUS_STYLE}
    console.print(f"preflight {report.stack} ({report.project}, {report.region}): "
                  + ", ".join(f"{n} {s}" for s, n in counts.items()))
    for f in report.findings:
        console.print(f"[{STATUS_STYLE[f.status]}]{f.status:<4}[/] {f.section:<11} "
                      f"{f.what}: {f.need}", markup=True)
        if f.check:
            console.print(f"                 check: {f.check}", markup=False)
        if f.fix:
            console.print(f"                 fix:   {f.fix}", markup=False)
