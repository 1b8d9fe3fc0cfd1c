"""Compiled IR: golden files per target, and the GPU, gate and image settings inside them.

Golden files are the compiled YAML with the volatile `sdkVersion` removed. Regenerate them after
an intended change with `UPDATE_GOLDEN=1 uv run pytest tests/pipelines/test_compile.py`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from facts.hardware import catalog
from workloads.pipelines.pipeline import GKE_ACCELERATOR_LABEL, compile_pipeline, gpu_request
from workloads.pipelines.settings import SettingsError, load_settings

GOLDEN = Path(__file__).parent / "golden"
VOLATILE = ("sdkVersion",)


def compiled(target: str, tmp_path: Path, registry: str | None = None,
             tag: str | None = None) -> list[dict[str, Any]]:
    """Compile `target` and return its YAML documents with volatile fields dropped."""
    out = compile_pipeline(target, tmp_path / f"{target}.yaml", registry, tag)  # type: ignore[arg-type]
    docs = [doc for doc in yaml.safe_load_all(out.read_text()) if doc is not None]
    for doc in docs:
        for key in VOLATILE:
            doc.pop(key, None)
    return docs


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("compiled")
    return {t: compiled(t, root) for t in ("kubeflow", "vertex", "local")}


@pytest.mark.parametrize("target", ["kubeflow", "vertex", "local"])
def test_matches_golden(builds: dict[str, list[dict[str, Any]]], target: str) -> None:
    golden = GOLDEN / f"cifar10-pipeline-{target}.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(yaml.safe_dump_all(builds[target], sort_keys=True))
    assert golden.exists(), f"{golden} missing; create it with UPDATE_GOLDEN=1"
    assert list(yaml.safe_load_all(golden.read_text())) == builds[target]


def _executor(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["deploymentSpec"]["executors"][f"exec-{name}"]["container"]


def test_train_asks_for_the_catalog_gpu(builds: dict[str, list[dict[str, Any]]]) -> None:
    settings = load_settings()
    t4 = catalog().accelerators[settings.accelerator]
    kubeflow = _executor(builds["kubeflow"][0], "train")["resources"]
    vertex = _executor(builds["vertex"][0], "train")["resources"]
    assert kubeflow["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert vertex["accelerator"]["resourceType"] == t4.vertex_name == "NVIDIA_TESLA_T4"
    for resources in (kubeflow, vertex):
        assert resources["accelerator"]["resourceCount"] == str(settings.accelerator_count)
        assert resources["resourceCpuLimit"] == settings.cpu_limit
        assert resources["resourceMemoryLimit"] == settings.memory_limit
    assert "resources" not in _executor(builds["local"][0], "train")


def test_kubeflow_train_selects_and_tolerates_gpu_nodes(
        builds: dict[str, list[dict[str, Any]]]) -> None:
    platform = builds["kubeflow"][1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(platform) == {"exec-train"}
    train = platform["exec-train"]
    assert train["nodeSelector"]["labels"] == {GKE_ACCELERATOR_LABEL: "nvidia-tesla-t4"}
    assert train["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert len(builds["vertex"]) == 1 and len(builds["local"]) == 1


@pytest.mark.parametrize("target,deploy", [("kubeflow", "deploy-kserve"),
                                           ("vertex", "deploy-vertex"),
                                           ("local", "smoke-check")])
def test_deploy_only_behind_the_accuracy_gate(builds: dict[str, list[dict[str, Any]]],
                                              target: str, deploy: str) -> None:
    doc = builds[target][0]
    root_tasks = doc["root"]["dag"]["tasks"]
    assert set(root_tasks) == {"prepare-data", "train", "evaluate", "condition-1"}
    gate = root_tasks["condition-1"]
    assert gate["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--evaluate-Output'] >= "
        "inputs.parameter_values['pipelinechannel--accuracy_threshold']")
    inner = doc["components"]["comp-condition-1"]["dag"]["tasks"]
    assert list(inner) == [deploy]
    executors = {name.removeprefix("exec-") for name in doc["deploymentSpec"]["executors"]}
    assert executors == {"prepare-data", "train", "evaluate", deploy}


@pytest.mark.parametrize("target,train,deploy", [
    ("kubeflow", "cifar10-trainer:9.9.9-gpu", "deploy-kserve"),
    ("vertex", "cifar10-trainer:9.9.9-gpu", "deploy-vertex"),
    ("local", "cifar10-trainer:9.9.9", "smoke-check")])
def test_steps_run_in_the_trainer_image_without_pip(tmp_path: Path, target: str, train: str,
                                                     deploy: str) -> None:
    registry = "europe-west4-docker.pkg.dev/p/ml-platform"
    doc = compiled(target, tmp_path, registry, "9.9.9")[0]
    executors = doc["deploymentSpec"]["executors"]
    images = {name.removeprefix("exec-"): spec["container"]["image"]
              for name, spec in executors.items()}
    assert images == {"prepare-data": f"{registry}/cifar10-trainer:9.9.9",
                      "train": f"{registry}/{train}",
                      "evaluate": f"{registry}/cifar10-trainer:9.9.9",
                      deploy: f"{registry}/cifar10-trainer:9.9.9"}
    for name, spec in executors.items():
        assert "pip install" not in " ".join(spec["container"]["command"]), name
    if target != "local":
        inner = doc["root"]["dag"]["tasks"]["condition-1"]
        assert inner["componentRef"]["name"] == "comp-condition-1"
        deploy_inputs = doc["components"]["comp-condition-1"]["dag"]["tasks"][deploy]["inputs"]
        assert deploy_inputs["parameters"]["image"]["runtimeValue"]["constant"] == (
            f"{registry}/cifar10-predictor:9.9.9")


def test_kubeflow_deploys_as_the_stack_serving_identity(
        builds: dict[str, list[dict[str, Any]]]) -> None:
    """Namespace and account are the stack's; the name is not the chart release's."""
    from facts.identities import WORKLOADS
    from infra.components.cifar10 import RELEASE

    doc = builds["kubeflow"][0]
    inputs = doc["components"]["comp-condition-1"]["dag"]["tasks"]["deploy-kserve"]["inputs"]
    constants = {k: v["runtimeValue"]["constant"] for k, v in inputs["parameters"].items()
                 if "runtimeValue" in v}
    assert constants["namespace"] == WORKLOADS["serving"].namespace
    assert constants["service_account"] == WORKLOADS["serving"].ksas[0]
    assert constants["name"] == load_settings().serving.name != RELEASE


@pytest.mark.parametrize("tag", ["latest", "bad tag", "-x"])
def test_moving_or_invalid_tags_are_refused(tmp_path: Path, tag: str) -> None:
    with pytest.raises(SettingsError, match=f"image tag '{tag}' is not allowed"):
        compiled("kubeflow", tmp_path, None, tag)


def test_evaluate_logs_metrics_confusion_matrix_and_report(
        builds: dict[str, list[dict[str, Any]]]) -> None:
    outputs = builds["kubeflow"][0]["components"]["comp-evaluate"]["outputDefinitions"]
    kinds = {name: spec["artifactType"]["schemaTitle"]
             for name, spec in outputs["artifacts"].items()}
    assert kinds == {"metrics": "system.Metrics", "confusion": "system.ClassificationMetrics",
                     "report": "system.Markdown"}
    assert outputs["parameters"]["Output"]["parameterType"] == "NUMBER_DOUBLE"


def test_parameters_default_from_settings(builds: dict[str, list[dict[str, Any]]]) -> None:
    settings = load_settings()
    cluster = builds["kubeflow"][0]["root"]["inputDefinitions"]["parameters"]
    local = builds["local"][0]["root"]["inputDefinitions"]["parameters"]
    assert cluster["epochs"]["defaultValue"] == settings.train.epochs
    assert cluster["data_source"]["defaultValue"] == "tfds"
    assert cluster["accuracy_threshold"]["defaultValue"] == settings.accuracy_threshold
    assert local["data_source"]["defaultValue"] == "synthetic"
    assert local["epochs"]["defaultValue"] == 1
    assert local["accuracy_threshold"]["defaultValue"] == settings.local.accuracy_threshold
    vertex = builds["vertex"][0]["root"]["inputDefinitions"]["parameters"]
    for required in ("project", "region", "endpoint_id"):
        assert "defaultValue" not in vertex[required]
    assert vertex["traffic_percent"]["defaultValue"] == settings.serving.traffic_percent


def test_unknown_accelerator_is_refused() -> None:
    settings = load_settings().model_copy(update={"accelerator": "nvidia-h9000"})
    with pytest.raises(SettingsError, match=r"nvidia-h9000.*allowed: .*nvidia-tesla-t4"):
        gpu_request(settings, "kubeflow")
    bad_count = load_settings().model_copy(update={"accelerator_count": 3})
    with pytest.raises(SettingsError, match="accelerator_count 3"):
        gpu_request(bad_count, "vertex")
    assert gpu_request(load_settings(), "local") is None


def test_compile_hook_is_the_cli_compile(tmp_path: Path) -> None:
    """`python -m workloads.pipelines.pipeline` runs `mlp pipeline compile`, checks included."""
    import subprocess
    import sys

    out = tmp_path / "p.yaml"
    hook = [sys.executable, "-m", "workloads.pipelines.pipeline"]
    done = subprocess.run([*hook, "--target", "vertex", "--out", str(out)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert next(yaml.safe_load_all(out.read_text()))["pipelineInfo"]["name"] == (
        "cifar10-pipeline")
    bad = subprocess.run([*hook, "--target", "sagemaker"], capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == [
        "error: python -m workloads.pipelines.pipeline compile: Invalid value for '--target': "
        "'sagemaker' is not one of 'kubeflow', 'vertex', 'local'."]
