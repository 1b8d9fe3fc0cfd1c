"""`mlp policy ...`: check stacks against the policy pack offline, and generate its table.

Imports of the Pulumi SDK and pulumi-policy stay inside the commands so `mlp --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from facts.stack_selection import AllOpt, stacks_argument
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

def checked_stacks() -> list[str]:
    """Stacks `check` knows: a shipped stack file or a shipped policy config names each."""
    return sorted({*stack_names(), *(p.stem for p in CONFIG_DIR.glob("*.json"))})


CheckedStacks = stacks_argument(checked_stacks,
                                "stacks/Pulumi.<stack>.yaml, or policies/config/<stack>.json")

SOURCES = ("give a stack name or --stack-file PATH to preview and check (or several stack "
           "names, or --all), or --preview FILE with the stack name whose policy config applies "
           "(or --config FILE)")
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
    stacks: CheckedStacks = None,
    all_stacks: AllOpt = False,
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

    Several stacks (or --all) are checked in one process, one preview each; file options then
    take {stack}, and the exit code is the highest any stack got. The policy config is the
    caller's choice (the stack named here, or `--config`), never something a preview file says
    about itself: a saved preview is data to check, not a source of its own enforcement levels.
    """
    from facts.cli import fail
    from facts.stack_selection import check_templates, chosen_stacks, for_each_stack

    # With --preview a name only chooses the policy config: it needs no stack file.
    names = chosen_stacks(stacks, all_stacks, need_file=preview_file is None)
    if preview_file is not None and (stack_file is not None
                                     or (not names and config_file is None)):
        raise fail(SOURCES)
    if preview_file is None and (not names) == (stack_file is None):
        raise fail(SOURCES)
    several = len(names) > 1
    if several and json_path is not None and str(json_path) == "-":
        raise fail("--json -: several stacks cannot share stdout; write each to a file with "
                   "{stack} in its path")
    check_templates(several, json=json_path, sarif=sarif_path)
    if not names:
        _check_one(None, stack_file, preview_file, config_file, json_path, sarif_path, False)
        return
    for_each_stack(names, lambda name: _check_one(
        name, None, preview_file, config_file, json_path, sarif_path, several))


def _check_one(stack: str | None, stack_file: Path | None, preview_file: Path | None,
               config_file: Path | None, json_path: Path | None, sarif_path: Path | None,
               several: bool) -> None:
    """`mlp policy check` for one stack, one stack file or one saved preview."""
    from rich.console import Console

    from facts.stack_selection import stack_file_path
    from infra.sources import preview_from
    from policies.pack import all_policies
    from policies.render import render_report, to_sarif, write_json
    from policies.runner import evaluate

    name = stack or (stack_file.stem.removeprefix("Pulumi.") if stack_file else "")
    preview_file = stack_file_path(preview_file, name, several, "--preview", output=False)
    config_file = stack_file_path(config_file, name, several, "--config", output=False)
    if json_path is not None and str(json_path) != "-":
        json_path = stack_file_path(json_path, name, several, "--json")
    sarif_path = stack_file_path(sarif_path, name, several, "--sarif")
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
