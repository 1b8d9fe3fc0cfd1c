"""The pipeline's training step on the pool a stack's training profile names (the values
`mlp chart values cifar10-training` writes): a queued pool's Kueue labels, a shared pool's sharing
labels and one GPU; hostile values files are refused in one line. Without them the build is the
golden one (tests/pipelines/test_compile.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from facts.capacity import MAX_RUN_ANNOTATION, QUEUE_LABEL
from facts.stacks import REPO_ROOT
from infra.components.cifar10 import launch_values
from infra.stack_config import read_stack_file
from mlp.cli import app
from workloads.pipelines.pipeline import compile_pipeline
from workloads.pipelines.settings import SettingsError
from workloads.pipelines.targets import load_pool_target, pool_target

EXAMPLE = REPO_ROOT / "stacks" / "examples" / "Pulumi.capacity.yaml"
runner = CliRunner()


def profile(pool: str) -> dict[str, Any]:
    """The example stack's training values with its training profile on `pool`."""
    cfg = read_stack_file(EXAMPLE).platform()
    training = cfg.workloads.training.model_copy(update={"gpu_pool": pool})
    cfg = cfg.model_copy(update={"workloads": cfg.workloads.model_copy(
        update={"training": training})})
    return launch_values(cfg, "capacity")


def _train(tmp_path: Path, pool: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The training executor's container resources and its Kubernetes platform spec."""
    out = compile_pipeline("kubeflow", tmp_path / f"{pool}.yaml",
                           pool=pool_target(profile(pool)))
    docs = [d for d in yaml.safe_load_all(out.read_text()) if d]
    container = docs[0]["deploymentSpec"]["executors"]["exec-train"]["container"]
    platform = next(d for d in docs if "platforms" in d)["platforms"]["kubernetes"]
    return container["resources"], platform["deploymentSpec"]["executors"]["exec-train"]


def test_a_queued_pool_hands_the_step_to_kueue(tmp_path):
    resources, spec = _train(tmp_path, "gpu-l4-queued")
    assert spec["podMetadata"]["labels"] == {QUEUE_LABEL: "gpu-l4-queued"}
    assert spec["podMetadata"]["annotations"] == {MAX_RUN_ANNOTATION: "86400"}
    assert spec["nodeSelector"]["labels"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert resources["accelerator"]["resourceCount"] == "1"


def test_a_shared_pool_gets_one_shared_gpu(tmp_path):
    resources, spec = _train(tmp_path, "gpu-t4-shared")
    labels = spec["nodeSelector"]["labels"]
    assert labels["cloud.google.com/gke-gpu-sharing-strategy"] == "time-sharing"
    assert labels["cloud.google.com/gke-max-shared-clients-per-gpu"] == "4"
    assert "podMetadata" not in spec  # not queued: no Kueue label
    assert resources["accelerator"]["resourceCount"] == "1"


def test_cli_compiles_from_the_values_mlp_chart_values_writes(tmp_path):
    values = tmp_path / "training.yaml"
    written = runner.invoke(app, ["chart", "values", "cifar10-training", "--stack-file",
                                  str(EXAMPLE), "--out", str(values)])
    assert written.exit_code == 0, written.output
    assert load_pool_target(values).queue == "gpu-l4-queued"
    result = runner.invoke(app, ["pipeline", "compile", "--target", "kubeflow",
                                 "--training-values", str(values),
                                 "--out", str(tmp_path / "p.yaml")])
    assert result.exit_code == 0, result.output
    assert QUEUE_LABEL in (tmp_path / "p.yaml").read_text()


@pytest.mark.parametrize(("change", "says"), [
    (lambda v: v["gpu"].update(type=""), "gpu.type '' is not a GPU"),
    (lambda v: v["gpu"].update(count=2, sharing={"strategy": "time-sharing",
                                                 "maxClientsPerGpu": 4}),
     "gpu.count (shared) 2 is not allowed"),
    (lambda v: v["gpu"].update(sharing={"strategy": "slices", "maxClientsPerGpu": 4}),
     "gpu.sharing.strategy 'slices'"),
    (lambda v: v.update(queue={"name": "Not A Name"}), "queue.name 'Not A Name'"),
    (lambda v: v.update(queue={"name": "q", "maxRunDurationSeconds": 10**9}),
     "queue.maxRunDurationSeconds 1000000000"),
    (lambda v: v.update(gpu=[1, 2]), "gpu is list, not a mapping"),
])
def test_bad_values_are_refused_naming_the_field(change, says):
    values = copy.deepcopy(profile("gpu-l4-queued"))
    change(values)
    with pytest.raises(SettingsError) as err:
        pool_target(values)
    assert str(err.value).startswith("--training-values: ") and says in str(err.value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=200))
def test_any_file_is_a_target_or_one_line_exit_2(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("values") / "training.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["pipeline", "compile", "--target", "kubeflow",
                                 "--training-values", str(path),
                                 "--out", str(path.with_suffix(".out.yaml"))])
    assert result.exit_code == 2, result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


def test_training_values_need_the_kubeflow_target(tmp_path):
    values = tmp_path / "training.yaml"
    values.write_text(yaml.safe_dump(profile("gpu-l4-queued")))
    result = runner.invoke(app, ["pipeline", "compile", "--target", "vertex",
                                 "--training-values", str(values),
                                 "--out", str(tmp_path / "p.yaml")])
    assert result.exit_code == 2 and "use --target kubeflow" in result.output
