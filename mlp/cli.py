"""`mlp`: the command line of ml-platform.

Each domain owns its sub-commands (`infra`: preview, stacks, preflight, chart; `cost`; `policy`;
the workloads: train, serve, model, pipeline, vertex, monitor, predict); this module only wires
them and sets the root options. Heavy libraries (TensorFlow, kfp, the Pulumi SDK) are imported
inside commands, never at start-up, so `mlp --help` stays fast.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from facts.cli import OneLineGroup, err_console, print_error

app = typer.Typer(cls=OneLineGroup, no_args_is_help=True, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]})


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
    from facts.verbosity import configure

    configure(debug=debug, verbose=verbose)


def _register_subcommands() -> None:
    """Attach each domain's sub-commands; each module keeps its own imports lazy."""
    from infra.cli import register as register_infra

    register_infra(app)

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

    Only words before a `--` separator move, and never a word that is the value of the option
    before it (`--run-id -v` keeps `-v` as the run id); `-v` is not an option of any
    sub-command."""
    end = argv.index("--") if "--" in argv else len(argv)
    if not any(a in GLOBAL_FLAGS for a in argv[:end]):
        return argv
    values = _option_values(argv[:end])
    hoist = [i for i, a in enumerate(argv[:end]) if a in GLOBAL_FLAGS and i not in values]
    return [argv[i] for i in hoist] + [a for i, a in enumerate(argv) if i not in hoist]


def _option_values(words: list[str]) -> set[int]:
    """Positions in `words` that the parser will read as the value of the option just before
    them, following the sub-commands named on the way. Typer carries its own click, so the
    command objects are read by their attributes."""
    command: Any = typer.main.get_command(app)
    ctx = command.context_class(command)
    values: set[int] = set()
    i = 0
    while i < len(words):
        word = words[i]
        if hasattr(command, "list_commands") and not word.startswith("-"):
            sub = command.get_command(ctx, word)
            if sub is not None:
                command, ctx = sub, sub.context_class(sub, parent=ctx)
            i += 1
            continue
        option = next((p for p in command.params if p.param_type_name == "option"
                       and word in (*p.opts, *p.secondary_opts)), None)
        takes = 0 if option is None or option.is_flag or option.count else max(option.nargs, 1)
        values.update(range(i + 1, min(i + 1 + takes, len(words))))
        i += 1 + takes
    return values


def main(argv: list[str] | None = None) -> None:
    """The `mlp` entry point: an unexpected exception is one line (the traceback with --debug)."""
    from facts.verbosity import DEBUG_HINT, debug_enabled, reset

    args = hoist_global_flags(sys.argv[1:] if argv is None else list(argv))
    try:
        app(args=args, prog_name="mlp")
    except KeyboardInterrupt:
        err_console().print("interrupted", highlight=False)
        sys.exit(130)
    except Exception as err:
        if debug_enabled():
            raise
        first = (str(err).strip().splitlines() or [""])[0]
        print_error(f"{type(err).__name__}: {first} ({DEBUG_HINT})")
        sys.exit(1)
    finally:
        reset()


if __name__ == "__main__":
    sys.exit(main())
