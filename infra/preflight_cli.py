"""`mlp preflight`: what must be true in the project before `pulumi up`, offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from facts.cli import stack_choice

STATUS_STYLE = {"ok": "green", "todo": "yellow", "warn": "yellow", "fail": "bold red"}


def preflight(
    stack: Annotated[stack_choice() | None, typer.Argument(  # type: ignore[valid-type]
        help="Stack name: stacks/Pulumi.<stack>.yaml.")] = None,
    stack_file: Annotated[Path | None, typer.Option(
        "--stack-file", help="Any Pulumi.<name>.yaml to use instead of a shipped stack.",
        dir_okay=False)] = None,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Also write the findings as JSON ('-' for stdout only).")] = None,
) -> None:
    """Quotas at the stack's maximum size, placeholders, APIs, the deploying identity's roles
    and whether each workload fits its pool. Exit 1 when something is certain to fail, 0 with
    warnings otherwise, 2 on bad input."""
    from facts.cli import fail
    from infra.cli import _run_preview, resolve_stack_file
    from infra.config import ConfigError
    from infra.preflight import preflight as run

    resolved = resolve_stack_file(stack, stack_file)
    try:
        cfg = resolved.platform()
    except ConfigError as err:
        raise fail(str(err)) from None
    report = run(cfg, resolved.name, _run_preview(resolved))
    data = json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n"
    if json_path is not None and str(json_path) == "-":
        typer.echo(data, nl=False)
    else:
        _print(report)
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
