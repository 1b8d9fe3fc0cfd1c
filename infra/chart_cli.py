"""`mlp chart`: render, validate and lint the project's Helm charts offline (no helm binary)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facts.cli import choice, stack_choice
from infra.charts import chart_names

app = typer.Typer(no_args_is_help=True, help="Render, validate and lint the charts in charts/.")

LAUNCHED_CHART = "cifar10-training"
"""The one chart launched per run with `helm install` rather than owned by a stack."""

ChartName = Annotated[choice(chart_names()), typer.Argument(  # type: ignore[valid-type]
    help="A chart of charts/.")]


def _chart_dir(name: str) -> Path:
    from facts.cli import fail
    from infra.charts import CHARTS_DIR

    path = CHARTS_DIR / name
    if not (path / "Chart.yaml").is_file():
        raise fail(f"chart '{name}' is not in {CHARTS_DIR}; charts: {', '.join(chart_names())}")
    return path


@app.command()
def render(
    name: ChartName,
    values: Annotated[Path | None, typer.Option(
        "--values", "-f", help="A YAML file of values, as `helm template -f`.")] = None,
    namespace: Annotated[str, typer.Option(help="Namespace to render into.")] = "default",
    release: Annotated[str, typer.Option(help="Release name.")] = "cifar10",
) -> None:
    """Print the chart's objects, each checked against its Kubernetes or CRD schema."""
    import yaml

    from facts.cli import fail
    from facts.documents import DocumentError, load_yaml
    from infra.charts import ChartError
    from infra.charts import render as render_chart
    from infra.k8s_validate import validate_object

    chart = _chart_dir(name)
    overrides = {}
    if values is not None:
        try:
            overrides = load_yaml(values.read_text(), f"--values {values}") or {}
        except (OSError, UnicodeDecodeError) as err:
            raise fail(f"--values {values}: cannot read it: {err}") from None
        except DocumentError as err:
            raise fail(str(err)) from None
        if not isinstance(overrides, dict):
            raise fail(f"--values {values}: must be a mapping of values")
    try:
        objects = render_chart(chart, overrides, release=release, namespace=namespace)
    except ChartError as err:
        raise fail(str(err)) from None
    problems = [p for obj in objects for p in validate_object(obj)]
    typer.echo(yaml.safe_dump_all(objects, sort_keys=False), nl=False)
    if problems:
        raise fail("rendered objects are invalid:\n  " + "\n  ".join(problems), code=1)


@app.command()
def lint(name: ChartName) -> None:
    """Run Helm's linter in strict mode; exit 1 on any warning or error."""
    from facts.cli import fail
    from infra.charts import lint as lint_chart

    findings = lint_chart(_chart_dir(name))
    if findings:
        raise fail(f"{name}: " + "; ".join(findings), code=1)
    typer.echo(f"{name}: lint clean")


@app.command()
def values(
    name: ChartName,
    stack: Annotated[stack_choice() | None, typer.Argument(  # type: ignore[valid-type]
        help="Stack name: stacks/Pulumi.<stack>.yaml.")] = None,
    stack_file: Annotated[Path | None, typer.Option(
        "--stack-file", help="Any Pulumi.<name>.yaml to use instead of a shipped stack.",
        dir_okay=False)] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the values here instead of printing them.")] = None,
) -> None:
    """Values for `helm install` of a launched chart on a stack's cluster.

    Only `cifar10-training` is launched this way: a training run is one-shot, so the stack does
    not own it. The values come from the stack's training profile (`workloads.training`) and the
    names of its registry and buckets, and are checked by rendering the chart before they are
    written.
    """
    import yaml

    from facts.cli import fail
    from infra.charts import ChartError
    from infra.charts import render as render_chart
    from infra.config import ConfigError
    from infra.sources import resolve_stack_file

    if name != LAUNCHED_CHART:
        raise fail(f"chart '{name}' is not launched with helm; allowed: {LAUNCHED_CHART} "
                   "(cifar10-serving belongs to the stack: pulumi up)")
    resolved = resolve_stack_file(stack, stack_file)
    try:
        cfg = resolved.platform()
    except ConfigError as err:
        raise fail(str(err)) from None
    if not cfg.has_cluster or not cfg.workloads.training.enabled:
        raise fail(f"stack '{resolved.name}' has no training profile: set "
                   "workloads.training.enabled: true on a kubeflow stack")
    from infra.components.cifar10 import launch_values

    chart_values = launch_values(cfg, resolved.name)
    try:
        render_chart(_chart_dir(name), chart_values, release="cifar10", namespace="ml-training")
    except ChartError as err:
        raise fail(f"stack '{resolved.name}': its training values do not render: {err}") from None
    text = yaml.safe_dump(chart_values, sort_keys=True)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    typer.echo(f"{name} values for stack '{resolved.name}' written to {out}", err=True)
