"""`mlp train`, `mlp serve` and `mlp model promote`: the CIFAR-10 workload's sub-commands.

`train` and `serve` forward their arguments to the workload's own entry points
(`workloads.cifar10.train` and `workloads.cifar10.serve`), so the CLI, the containers and the
Katib/Vertex specs share one argument contract. `model promote` is the deliberate step that makes
a training run's export a served version (`workloads.cifar10.promote`). TensorFlow is imported
only when a command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

_FORWARD = {"allow_extra_args": True, "ignore_unknown_options": True}


def _run(entry: str, args: list[str]) -> None:
    """Run an entry point's `main(args)`; argparse's exit 2 and its stderr message pass through."""
    if entry == "train":
        from workloads.cifar10.train import main
    else:
        from workloads.cifar10.serve import main
    code = main(args, prog=f"mlp {entry}")
    if code:
        raise typer.Exit(code)


model_app = typer.Typer(no_args_is_help=True,
                        help="Served model versions: promote a training run's export.")


@model_app.command("promote")
def promote(
    source: Annotated[str, typer.Option(
        "--from", help="a run's export: <model-dir>/runs/<run>/<version> (local or gs://)")],
    to: Annotated[str, typer.Option(
        "--to", help="the served model folder, <model-dir>; the version goes to <to>/<version>")],
    version: Annotated[str, typer.Option("--version", help="the served version number, ≥ 1")],
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="replace the version if it exists (default: refuse)")] = False,
) -> None:
    """Copy a checked run export (complete SavedModel and metrics.json) to <to>/<version>."""
    from facts.cli import fail

    if not version.isdigit() or int(version) < 1:
        raise fail(f"--version {version!r} is not allowed; use a positive integer")
    from workloads.cifar10.promote import PromotionError
    from workloads.cifar10.promote import promote as run

    try:
        target, metrics = run(source, to, int(version), overwrite=overwrite)
    except PromotionError as err:
        raise fail(str(err)) from None
    typer.echo(f"promoted {source} to {target} (test accuracy {metrics['accuracy']:.4f})")


def register(app: typer.Typer) -> None:
    """Add `train`, `serve` and `model` to the `mlp` app."""
    app.add_typer(model_app, name="model")

    @app.command("train", context_settings=_FORWARD, add_help_option=False)
    def train(ctx: typer.Context) -> None:
        """Train CIFAR-10 (all arguments as `python -m workloads.cifar10.train`; try --help)."""
        _run("train", list(ctx.args))

    @app.command("serve", context_settings=_FORWARD, add_help_option=False)
    def serve(ctx: typer.Context) -> None:
        """Serve a CIFAR-10 SavedModel over KServe V1/V2 (--model-dir DIR --port N; try --help)."""
        args = list(ctx.args)
        if not {"-h", "--help"} & set(args):
            from facts.cli import fail
            from workloads.cifar10.model_folder import local_model_problem, model_dir_argument

            # Before the server's imports: a wrong folder is one line at once, not seconds later.
            problem = local_model_problem(model_dir_argument(args))
            if problem:
                raise fail(problem)
        _run("serve", args)
