"""`mlp policy ...`: check stacks against the policy pack offline, and generate its table.

Imports of the Pulumi SDK and pulumi-policy stay inside the commands so `mlp --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from facts.cli import choice
from facts.stacks import stack_names
from policies import CONFIG_DIR

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="CrossGuard policy pack: offline checks and the policy table.")

JsonOpt = Annotated[Path | None, typer.Option(
    "--json", help="Write the report as JSON to FILE ('-' for stdout).")]
SarifOpt = Annotated[Path | None, typer.Option(
    "--sarif", help="Write a SARIF 2.1.0 log to FILE for CI annotations.", dir_okay=False)]
PreviewOpt = Annotated[Path | None, typer.Option(
    "--preview", help="Check a saved preview JSON (from `mlp preview --json`) instead of "
                      "running the program; name the stack whose policy config applies, or "
                      "give --config.", dir_okay=False)]
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="Policy-pack config JSON (default: policies/config/<stack>.json).",
    dir_okay=False)]

CheckedStack = choice(sorted({*stack_names(), *(p.stem for p in CONFIG_DIR.glob("*.json"))}))
"""Stacks `check` knows: a shipped stack file or a shipped policy config names each."""

SOURCES = ("give a stack name or --stack-file PATH to preview and check, or --preview FILE "
           "with the stack name whose policy config applies (or --config FILE)")
"""The one message for a `check` given no preview source, several, or a preview file alone."""


def _artifact(path: Path) -> str:
    """A stack file as SARIF names it: relative to the repository root when inside it."""
    from facts.stacks import REPO_ROOT

    full = path.resolve()
    return full.relative_to(REPO_ROOT).as_posix() if full.is_relative_to(REPO_ROOT) else str(path)


def _config(stack: str | None, config_file: Path | None, shipped_only: bool = True):
    """The caller's choice of policy config: `--config FILE`, else the named stack's (see
    `config_for_stack`)."""
    from facts.cli import fail
    from policies.runner import PolicyConfigError, config_for_stack, load_config

    try:
        if config_file is not None:
            return load_config(config_file)
        return config_for_stack(str(stack), shipped_only)
    except PolicyConfigError as err:
        raise fail(str(err)) from None


@app.command()
def check(
    stack: Annotated[CheckedStack | None, typer.Argument(
        help="Stack name: stacks/Pulumi.<stack>.yaml, or policies/config/<stack>.json.")] = None,
    stack_file: Annotated[Path | None, typer.Option(
        "--stack-file", help="Any Pulumi.<name>.yaml to use instead of a shipped stack.",
        dir_okay=False)] = None,
    preview_file: PreviewOpt = None,
    config_file: ConfigOpt = None,
    json_path: JsonOpt = None,
    sarif_path: SarifOpt = None,
) -> None:
    """Evaluate the pack against a stack's offline preview. Exit 0 with no mandatory
    violation, 1 with one or more, 2 on bad input.

    The policy config is the caller's choice (the stack named here, or `--config`), never
    something a preview file says about itself: a saved preview is data to check, not a source
    of its own enforcement levels.
    """
    from rich.console import Console

    from facts.cli import fail
    from infra.cli import preview_from
    from policies.pack import all_policies
    from policies.render import render_report, to_sarif, write_json
    from policies.runner import evaluate

    if preview_file is not None and (stack_file is not None
                                     or (stack is None and config_file is None)):
        raise fail(SOURCES)
    if preview_file is None and (stack is None) == (stack_file is None):
        raise fail(SOURCES)
    # Checked before anything is read or previewed, so bad input costs nothing.
    config = _config(stack, config_file) if stack is not None or config_file else None
    if preview_file is not None:
        preview, _ = preview_from(None, None, preview_file)
        artifact = str(preview_file)
    else:
        # As CrossGuard does during `pulumi up`: on the values an apply gives the resources
        # (service-account emails, ids), so checks that read them evaluate instead of
        # reporting "not applicable".
        preview, resolved = preview_from(stack, stack_file, None, mode="apply")
        artifact = _artifact(resolved.path)
        config = config or _config(resolved.name, None, shipped_only=False)

    report = evaluate(preview, config)
    to_stdout = json_path is not None and str(json_path) == "-"
    render_report(report, Console(stderr=to_stdout))
    if json_path is not None:
        if to_stdout:
            sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
        else:
            write_json(json_path, report.to_json())
    if sarif_path is not None:
        write_json(sarif_path, to_sarif(report, all_policies(), artifact))
    raise typer.Exit(0 if report.passed else 1)


@app.command()
def table(
    write: Annotated[Path | None, typer.Option(
        "--write", help="Replace the table between the markers in this Markdown file.",
        dir_okay=False)] = None,
) -> None:
    """Print the policy table (id, name, severity, enforcement per stack, anchor)."""
    from facts.cli import fail
    from policies.pack import all_policies
    from policies.render import policy_table, replace_table

    text = policy_table(all_policies())
    if write is None:
        typer.echo(text)
        return
    try:
        updated = replace_table(write.read_text(), text)
    except (OSError, ValueError) as err:
        raise fail(f"{write}: {err}") from None
    write.write_text(updated)
    typer.echo(f"policy table written to {write}")


@app.command()
def bundle(
    out: Annotated[Path, typer.Argument(
        help="A new or empty folder for the pack: publish it with `pulumi policy publish`.",
        file_okay=False)],
) -> None:
    """Write the policy pack as one self-contained folder, for `pulumi policy publish`."""
    from facts.cli import fail
    from policies.bundle import BundleError, write_bundle

    try:
        entries = write_bundle(out)
    except (BundleError, OSError) as err:
        raise fail(str(err)) from None
    typer.echo(f"policy pack written to {out}: {', '.join(p.name for p in entries)}")
