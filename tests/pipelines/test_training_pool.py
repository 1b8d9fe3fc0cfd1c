"""The pipeline's training step on a stack's pool: a queued pool's Kueue labels, a shared pool's
sharing labels and one GPU; refused where it cannot apply. Without a pool the build is the golden
one (tests/pipelines/test_compile.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from infra.capacity import GKE_NODEPOOL_LABEL
from infra.cli import app
from infra.kueue import MAX_RUN_ANNOTATION, QUEUE_LABEL
from infra.stack_config import REPO_ROOT, read_stack_file
from workloads.pipelines.pipeline import compile_pipeline
from workloads.pipelines.settings import SettingsError
from workloads.pipelines.targets import pool_target

EXAMPLE = REPO_ROOT / "stacks" / "examples" / "Pulumi.capacity.yaml"
runner = CliRunner()


def _train(tmp_path: Path, pool: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The training executor's container resources and its Kubernetes platform spec."""
    target = pool_target(read_stack_file(EXAMPLE).platform(), pool)
    out = compile_pipeline("kubeflow", tmp_path / f"{pool}.yaml", pool=target)
    docs = [d for d in yaml.safe_load_all(out.read_text()) if d]
    container = docs[0]["deploymentSpec"]["executors"]["exec-train"]["container"]
    platform = next(d for d in docs if "platforms" in d)["platforms"]["kubernetes"]
    return container["resources"], platform["deploymentSpec"]["executors"]["exec-train"]


def test_a_queued_pool_hands_the_step_to_kueue(tmp_path):
    resources, spec = _train(tmp_path, "gpu-l4-queued")
    assert spec["podMetadata"]["labels"] == {QUEUE_LABEL: "gpu-l4-queued"}
    assert spec["podMetadata"]["annotations"] == {MAX_RUN_ANNOTATION: "86400"}
    assert spec["nodeSelector"]["labels"][GKE_NODEPOOL_LABEL] == "gpu-l4-queued"
    assert spec["nodeSelector"]["labels"]["cloud.google.com/gke-accelerator"] == "nvidia-l4"
    assert resources["accelerator"]["resourceCount"] == "1"


def test_a_shared_pool_gets_one_shared_gpu(tmp_path):
    resources, spec = _train(tmp_path, "gpu-t4-shared")
    labels = spec["nodeSelector"]["labels"]
    assert labels["cloud.google.com/gke-gpu-sharing-strategy"] == "time-sharing"
    assert labels["cloud.google.com/gke-max-shared-clients-per-gpu"] == "4"
    assert "podMetadata" not in spec  # not queued: no Kueue label
    assert resources["accelerator"]["resourceCount"] == "1"


def test_a_pool_that_is_not_a_gpu_pool_is_refused():
    with pytest.raises(SettingsError, match="'system' is not a GPU pool of this stack; GPU "
                                            "pools: gpu-l4-queued, gpu-t4-shared, gpu-l4-spot"):
        pool_target(read_stack_file(EXAMPLE).platform(), "system")


@pytest.mark.parametrize(("args", "says"), [
    (["--target", "vertex", "--training-pool", "gpu-l4-queued"], "use --target kubeflow"),
    (["--training-pool", "nope"], "'nope' is not a GPU pool"),
])
def test_cli_refusals_are_one_line(args, says, tmp_path):
    result = runner.invoke(app, ["pipeline", "compile", "--stack-file", str(EXAMPLE),
                                 "--out", str(tmp_path / "p.yaml"), *args])
    assert result.exit_code == 2 and says in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


def test_stack_options_without_a_pool_are_refused(tmp_path):
    result = runner.invoke(app, ["pipeline", "compile", "--stack", "dev",
                                 "--out", str(tmp_path / "p.yaml")])
    assert result.exit_code == 2 and "give --training-pool NAME too" in result.output
