"""`mlp chart values cifar10-training STACK`: what `helm install` of a training run is given."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from infra.cli import app

runner = CliRunner()


def test_values_name_the_stacks_registry_and_buckets(tmp_path):
    out = tmp_path / "values" / "dev.yaml"
    result = runner.invoke(app, ["chart", "values", "cifar10-training", "dev", "--out", str(out)])
    assert result.exit_code == 0, result.output
    values = yaml.safe_load(out.read_text())
    assert values["image"]["repository"] == (
        "us-central1-docker.pkg.dev/mlp-dev-000000/mlp-dev/cifar10-trainer")
    assert values["data"]["dataDir"] == "gs://mlp-dev-000000-dev-datasets/tfds"
    bases = set(values["output"].values())
    assert all(b.startswith("gs://mlp-dev-000000-dev-models/") for b in bases)
    # Runs never write where the stack's InferenceService serves from.
    assert not any(b.startswith("gs://mlp-dev-000000-dev-models/cifar10") for b in bases)
    assert not list(out.parent.glob("*.tmp"))


def test_the_serving_chart_is_not_launched():
    result = runner.invoke(app, ["chart", "values", "cifar10-serving", "dev"])
    assert result.exit_code == 2
    assert "allowed: cifar10-training" in result.output


def test_a_stack_without_a_cluster_has_no_training_profile():
    result = runner.invoke(app, ["chart", "values", "cifar10-training", "vertex"])
    assert result.exit_code == 2
    assert "no training profile" in result.output
