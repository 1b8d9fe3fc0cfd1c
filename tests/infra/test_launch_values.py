"""`mlp chart values cifar10-training STACK`: what `helm install` of a training run is given."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from mlp.cli import app

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
    # The serving root: versions are served from <modelDir>/<N>, runs export to <modelDir>/runs.
    assert values["output"]["modelDir"] == "gs://mlp-dev-000000-dev-models/cifar10"
    assert not list(out.parent.glob("*.tmp"))


def test_the_serving_chart_is_not_launched():
    result = runner.invoke(app, ["chart", "values", "cifar10-serving", "dev"])
    assert result.exit_code == 2
    assert "allowed: cifar10-training" in result.output


def test_a_stack_without_a_cluster_has_no_training_profile():
    result = runner.invoke(app, ["chart", "values", "cifar10-training", "vertex"])
    assert result.exit_code == 2
    assert "no training profile" in result.output


def test_the_stacks_katib_trials_never_write_what_the_stack_serves():
    """dev's training profile is the study's Katib search: every trial gets its own export,
    checkpoint and TensorBoard folder, and none is under the version the stack serves."""
    from facts.stacks import stack_path
    from infra.charts import CHARTS_DIR, render
    from infra.components.cifar10 import launch_values
    from infra.stack_config import read_stack_file
    from tests.charts.test_charts import _layout, _trial_args
    from tests.infra.conftest import preview_of

    (experiment,) = render(CHARTS_DIR / "cifar10-training",
                           launch_values(read_stack_file(stack_path("dev")).platform(), "dev"),
                           release="cifar10", namespace="ml-training")
    (isvc,) = preview_of("dev").of_type("kubernetes:serving.kserve.io/v1beta1:InferenceService")
    served = isvc.inputs["spec"]["predictor"]["containers"][0]["env"][0]["value"]
    assert served.startswith("gs://mlp-dev-000000-dev-models/cifar10/")
    trials = [_layout(_trial_args(experiment, n)) for n in ("cifar10-aaaa", "cifar10-bbbb")]
    for column in (1, 2, 3):
        assert trials[0][column] != trials[1][column]
    for _, *folders in trials:
        for folder in folders:
            assert folder != served and not folder.startswith(served.rstrip("/") + "/")
