"""`mlp train` and `mlp serve`: the CIFAR-10 workload's sub-commands.

Both forward their arguments to the workload's own entry points (`workloads.cifar10.train` and
`workloads.cifar10.serve`), so the CLI, the containers and the Katib/Vertex specs share one
argument contract. TensorFlow is imported only when a command runs.
"""

from __future__ import annotations

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


def register(app: typer.Typer) -> None:
    """Add `train` and `serve` to the `mlp` app."""

    @app.command("train", context_settings=_FORWARD, add_help_option=False)
    def train(ctx: typer.Context) -> None:
        """Train CIFAR-10 (all arguments as `python -m workloads.cifar10.train`; try --help)."""
        _run("train", list(ctx.args))

    @app.command("serve", context_settings=_FORWARD, add_help_option=False)
    def serve(ctx: typer.Context) -> None:
        """Serve a CIFAR-10 SavedModel over KServe V1/V2 (--model-dir DIR --port N; try --help)."""
        _run("serve", list(ctx.args))
