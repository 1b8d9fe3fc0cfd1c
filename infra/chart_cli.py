"""`mlp chart`: render, validate and lint the project's Helm charts offline (no helm binary)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Render, validate and lint the charts in charts/.")

ChartName = Annotated[str, typer.Argument(help="A chart of charts/, e.g. cifar10-serving.")]


def _chart_dir(name: str) -> Path:
    from infra.charts import CHARTS_DIR
    from infra.cli import fail

    path = CHARTS_DIR / name
    if not (path / "Chart.yaml").is_file():
        known = sorted(p.name for p in CHARTS_DIR.iterdir() if (p / "Chart.yaml").is_file())
        raise fail(f"chart '{name}' is not in {CHARTS_DIR}; charts: {', '.join(known)}")
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

    from infra.charts import ChartError
    from infra.charts import render as render_chart
    from infra.cli import fail
    from infra.documents import DocumentError, load_yaml
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
    from infra.charts import lint as lint_chart
    from infra.cli import fail

    findings = lint_chart(_chart_dir(name))
    if findings:
        raise fail(f"{name}: " + "; ".join(findings), code=1)
    typer.echo(f"{name}: lint clean")
