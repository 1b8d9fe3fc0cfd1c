"""`mlp`: the command line of ml-platform.

Each domain owns its sub-commands (`cost`, `policy`, workloads); this module only wires them and
hosts `preview`. Heavy libraries (TensorFlow, kfp, the Pulumi SDK) are imported inside commands,
never at start-up, so `mlp --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

BAD_INPUT = 2
"""Exit code for invalid configuration or arguments, as for a usage error."""

err_console = Console(stderr=True)


def fail(message: str, code: int = BAD_INPUT) -> typer.Exit:
    """Print a clear error to stderr and return the Exit to raise.

    Called while an exception is handled, and with --debug (or MLP_DEBUG=1), the traceback
    behind the message prints first."""
    from infra.verbosity import print_traceback_if_debug

    print_traceback_if_debug()
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show the traceback behind an error (or set MLP_DEBUG=1).")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Let TensorFlow, kfp and FastAPI log and warn as they do by "
                                "default (or set MLP_VERBOSE=1).")] = False,
) -> None:
    """GPU ML platform on Google Cloud: preview stacks, price them, check policies, train and
    serve CIFAR-10."""
    from infra.verbosity import configure

    configure(debug=debug, verbose=verbose)


StackArg = Annotated[str | None, typer.Argument(help="Stack name: stacks/Pulumi.<stack>.yaml.")]
StackFileOpt = Annotated[Path | None, typer.Option(
    "--stack-file", help="Any Pulumi.<name>.yaml to use instead of a shipped stack.",
    exists=False, dir_okay=False)]


def resolve_stack_file(stack: str | None, stack_file: Path | None):
    """The `StackFile` named by a stack argument or `--stack-file` (exactly one of them)."""
    from infra.stack_config import StackFileError, read_stack_file, stack_path

    if (stack is None) == (stack_file is None):
        raise fail("give a stack name or --stack-file PATH (exactly one)")
    try:
        return read_stack_file(stack_file if stack_file else stack_path(stack))
    except StackFileError as err:
        raise fail(str(err)) from None


def _run_preview(resolved, mode: str = "preview"):
    """Run the offline preview of a read stack file; exit 2 on bad config.

    `mode="apply"` fills the values only the cloud computes with the deterministic values an
    apply would give them (see `infra.preview.run_preview`)."""
    from infra.config import ConfigError
    from infra.preview import run_preview

    try:
        return run_preview(resolved, mode=mode)
    except ConfigError as err:
        raise fail(str(err)) from None


def preview_for(stack: str | None, stack_file: Path | None):
    """Run the offline preview for a stack; exit 2 with the validation message on bad config."""
    return _run_preview(resolve_stack_file(stack, stack_file))


PREVIEW_SOURCES = "give exactly one of: a stack name, --stack-file PATH, --preview FILE"
"""The one message for commands that take a preview from a stack or from a saved file."""


def preview_from(stack: str | None, stack_file: Path | None, preview_file: Path | None,
                 mode: str = "preview"):
    """The preview named by a stack, `--stack-file` or `--preview FILE` (exactly one).

    A stack file is read once and previewed offline; a preview file is loaded and its shape
    checked. Bad input (none or several sources, an unreadable file, invalid config) exits 2.

    Returns:
        ``(preview, stack_file)``: the `StackFile` is None when the preview came from a file.
    """
    from infra.preview import PreviewFileError, load_preview

    if sum(x is not None for x in (stack, stack_file, preview_file)) != 1:
        raise fail(PREVIEW_SOURCES)
    if preview_file is not None:
        try:
            return load_preview(preview_file), None
        except PreviewFileError as err:
            raise fail(str(err)) from None
    resolved = resolve_stack_file(stack, stack_file)
    return _run_preview(resolved, mode), resolved


@app.command()
def preview(
    stack: StackArg = None,
    stack_file: StackFileOpt = None,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Also write the preview JSON (the contract policies and cost read).",
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

    With --against, show instead what applying it over an earlier preview would do to each
    resource (create, update, replace, delete); exit 1 when a protected resource would be
    replaced or deleted, or a fixed-name resource replaced into a name collision."""
    from infra.placeholders import find_placeholders
    from infra.render import render_counts, render_outputs, render_tree

    if against is None and (diff_json or diff_md):
        raise fail("--diff-json and --diff-md need --against OLD.json")
    resolved = resolve_stack_file(stack, stack_file)
    result = _run_preview(resolved)
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
    if json_path:
        result.write(json_path)
        console.print(f"preview JSON written to {json_path}")
    _check_ownership(result)


def _check_ownership(result: Any) -> None:
    """Exit 1, naming each object and its owners, when an object has two owners."""
    from rich.markup import escape

    from infra.ownership import OwnershipError, find_conflicts

    try:
        conflicts = find_conflicts(result)
    except OwnershipError as err:
        raise fail(escape(str(err)), code=1) from None
    for conflict in conflicts:
        err_console.print(f"[bold red]error:[/] {escape(str(conflict))}", highlight=False,
                          soft_wrap=True)
    if conflicts:
        raise typer.Exit(1)


def _plan_diff(against: Path, result: Any, diff_json: Path | None,
               diff_md: Path | None) -> None:
    """Print (and write) the plan diff of `result` over the preview file `against`."""
    import json

    from infra.plan_diff import diff, render_markdown, render_text
    from infra.preview import PreviewFileError, load_preview

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


@app.command("stacks")
def list_stacks() -> None:
    """List the shipped stacks."""
    from infra.stack_config import stack_names

    for name in stack_names():
        typer.echo(name)


def _register_subcommands() -> None:
    """Attach each domain's sub-commands; each module keeps its own imports lazy."""
    from infra.chart_cli import app as chart_app

    app.add_typer(chart_app, name="chart")

    from infra.preflight_cli import preflight

    app.command("preflight")(preflight)

    from workloads.cli import register as register_workloads

    register_workloads(app)

    from cost.cli import app as cost_app

    app.add_typer(cost_app, name="cost")

    from policies.cli import app as policy_app

    app.add_typer(policy_app, name="policy")

    from workloads.pipelines.cli import app as pipeline_app

    app.add_typer(pipeline_app, name="pipeline")

    from workloads.vertex.cli import app as vertex_app

    app.add_typer(vertex_app, name="vertex")

    from workloads.monitoring.cli import app as monitor_app

    app.add_typer(monitor_app, name="monitor")

    from workloads.predict_cli import app as predict_app

    app.add_typer(predict_app, name="predict")


_register_subcommands()


GLOBAL_FLAGS = ("--debug", "--verbose", "-v")
"""Root options a user may also write after the sub-command (`mlp train ... --debug`)."""


def hoist_global_flags(argv: list[str]) -> list[str]:
    """`argv` with the root options moved before the sub-command, where click reads them.

    Only words before a `--` separator move; `-v` is not an option of any sub-command."""
    end = argv.index("--") if "--" in argv else len(argv)
    flags = [a for a in argv[:end] if a in GLOBAL_FLAGS]
    rest = [a for i, a in enumerate(argv) if i >= end or a not in GLOBAL_FLAGS]
    return flags + rest


def main(argv: list[str] | None = None) -> None:
    """The `mlp` entry point: an unexpected exception is one line (the traceback with --debug)."""
    from infra.verbosity import DEBUG_HINT, debug_enabled, reset

    args = hoist_global_flags(sys.argv[1:] if argv is None else list(argv))
    try:
        app(args=args, prog_name="mlp")
    except KeyboardInterrupt:
        err_console.print("interrupted", highlight=False)
        sys.exit(130)
    except Exception as err:
        if debug_enabled():
            raise
        first = (str(err).strip().splitlines() or [""])[0]
        err_console.print(f"[bold red]error:[/] {type(err).__name__}: {first} ({DEBUG_HINT})",
                          highlight=False, soft_wrap=True)
        sys.exit(1)
    finally:
        reset()


if __name__ == "__main__":
    sys.exit(main())
