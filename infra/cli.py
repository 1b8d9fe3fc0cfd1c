"""`mlp preview`, `mlp stacks`, `mlp preflight` and `mlp chart`: the Pulumi program's commands.

How they name a stack, and how other domains get a stack's preview, is `infra.sources`. The
Pulumi SDK is imported inside commands, never at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from facts.cli import fail, print_error
from facts.stack_selection import AllOpt, StacksArg
from infra.sources import STACK_SOURCES, StackFileOpt, resolve_stack_file, run_stack_preview


def preview(
    stacks: StacksArg = None,
    all_stacks: AllOpt = False,
    stack_file: StackFileOpt = None,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Also write the preview JSON (the contract policies and cost read); "
                       "{stack} in the path becomes each stack's name.",
    )] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the counts.")] = False,
    against: Annotated[Path | None, typer.Option(
        "--against", dir_okay=False,
        help="A previous preview JSON: show what applying this one over it would do.",
    )] = None,
    diff_json: Annotated[Path | None, typer.Option(
        "--diff-json", help="With --against: also write the plan diff as JSON.")] = None,
    diff_md: Annotated[Path | None, typer.Option(
        "--diff-md", help="With --against: also write the plan diff as Markdown (PR comment).",
    )] = None,
) -> None:
    """Show every resource a stack would create, offline, under Pulumi's mocks.

    Several stacks (or --all) are previewed in one process. With --against, show instead what
    applying it over an earlier preview would do to each resource (create, update, replace,
    delete); exit 1 when a protected resource would be replaced or deleted, or a fixed-name
    resource replaced into a name collision."""
    from facts.stack_selection import check_templates, chosen_stacks, for_each_stack

    if against is None and (diff_json or diff_md):
        raise fail("--diff-json and --diff-md need --against OLD.json")
    names = chosen_stacks(stacks, all_stacks)
    if (not names) == (stack_file is None):
        raise fail(STACK_SOURCES)
    if len(names) > 1 and against is not None:
        raise fail(f"--against compares one stack's preview; name one stack, not "
                   f"{len(names)}")
    check_templates(len(names) > 1, json=json_path)
    options = dict(json_path=json_path, quiet=quiet, against=against, diff_json=diff_json,
                   diff_md=diff_md, several=len(names) > 1)
    if stack_file is not None:
        _preview_one(resolve_stack_file(None, stack_file), **options)
        return
    for_each_stack(names, lambda name: _preview_one(resolve_stack_file(name, None), **options))


def _preview_one(resolved: Any, json_path: Path | None, quiet: bool, against: Path | None,
                 diff_json: Path | None, diff_md: Path | None, several: bool) -> None:
    """`mlp preview` for one read stack file."""
    from facts.stack_selection import stack_file_path
    from infra.placeholders import find_placeholders
    from infra.render import render_counts, render_outputs, render_tree

    result = run_stack_preview(resolved)
    if against is not None:
        _plan_diff(against, result, diff_json, diff_md)
        return
    console = Console()
    if not quiet:
        render_tree(result, console)
        render_outputs(result, console)
    render_counts(result, console)
    found = find_placeholders(resolved.platform())
    if found:
        console.print(f"offline preview with {len(found)} placeholder value(s); a real "
                      "`pulumi up` stops until they are set: " + "; ".join(map(str, found)),
                      soft_wrap=True)
    path = stack_file_path(json_path, resolved.name, several, "--json")
    if path:
        result.write(path)
        console.print(f"preview JSON written to {path}")
    _check_ownership(result)


def _check_ownership(result: Any) -> None:
    """Exit 1, naming each object and its owners, when an object has two owners."""
    from infra.ownership import OwnershipError, find_conflicts

    try:
        conflicts = find_conflicts(result)
    except OwnershipError as err:
        raise fail(str(err), code=1) from None
    for conflict in conflicts:
        print_error(str(conflict))
    if conflicts:
        raise typer.Exit(1)


def _plan_diff(against: Path, result: Any, diff_json: Path | None,
               diff_md: Path | None) -> None:
    """Print (and write) the plan diff of `result` over the preview file `against`."""
    import json

    from facts.preview import PreviewFileError, load_preview
    from infra.plan_diff import diff, render_markdown, render_text

    try:
        old = load_preview(against)
    except PreviewFileError as err:
        raise fail(str(err)) from None
    if old.stack != result.stack:
        raise fail(f"--against {against}: a preview of stack '{old.stack}', not "
                   f"'{result.stack}'")
    plan = diff(old, result)
    typer.echo(render_text(plan), nl=False)
    for path, text in ((diff_json, json.dumps(plan.to_json(), indent=2, sort_keys=True) + "\n"),
                       (diff_md, render_markdown(plan))):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if plan.dangers:
        raise typer.Exit(1)


def list_stacks() -> None:
    """List the shipped stacks."""
    from facts.stacks import stack_names

    for name in stack_names():
        typer.echo(name)


def register(app: typer.Typer) -> None:
    """Add `preview`, `stacks`, `preflight` and `chart` to the `mlp` app."""
    from infra.chart_cli import app as chart_app
    from infra.preflight_cli import preflight

    app.command("preview")(preview)
    app.command("stacks")(list_stacks)
    app.add_typer(chart_app, name="chart")
    app.command("preflight")(preflight)
