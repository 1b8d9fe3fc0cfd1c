"""`mlp chart render|lint`: offline rendering for users without a helm binary."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from mlp.cli import app

runner = CliRunner()


def test_render_prints_valid_objects_for_the_values_given(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"minReplicas": 2, "maxReplicas": 4}))
    result = runner.invoke(app, ["chart", "render", "cifar10-serving", "-f", str(values),
                                 "--namespace", "ml-serving"])
    assert result.exit_code == 0, result.output
    kinds = [d["kind"] for d in yaml.safe_load_all(result.output) if d]
    assert kinds == ["InferenceService", "PodDisruptionBudget"]


def test_lint_reports_clean():
    result = runner.invoke(app, ["chart", "lint", "cifar10-training"])
    assert result.exit_code == 0 and "lint clean" in result.output


def test_bad_values_exit_2_naming_the_field_and_the_rule(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("replicas: {chief: 1, worker: -1}\n")
    result = runner.invoke(app, ["chart", "render", "cifar10-training", "-f", str(values)])
    assert result.exit_code == 2
    assert "replicas.worker must be at least 0 (got -1)" in result.output


def test_unknown_chart_and_unreadable_values_exit_2(tmp_path):
    result = runner.invoke(app, ["chart", "render", "nope"])
    assert result.exit_code == 2
    assert "'nope' is not one of 'cifar10-serving', 'cifar10-training'" in result.output
    bad = tmp_path / "v.yaml"
    bad.write_text("- a list\n")
    result = runner.invoke(app, ["chart", "render", "cifar10-serving", "-f", str(bad)])
    assert result.exit_code == 2 and "must be a mapping" in result.output
