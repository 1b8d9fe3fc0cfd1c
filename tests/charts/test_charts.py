"""The Helm charts, rendered by the real Helm library, linted, and validated object by object."""

from __future__ import annotations

import json

import pytest
import yaml

from infra.charts import CHARTS_DIR, ChartError, lint, notes, render
from infra.k8s_validate import validate_object
from tests.infra.conftest import preview_of
from workloads.tuning.space import katib_spec, load_space

TRAINING = CHARTS_DIR / "cifar10-training"
SERVING = CHARTS_DIR / "cifar10-serving"


def _render(chart, values=None, namespace="ml-test"):
    return render(chart, values or {}, release="cifar10", namespace=namespace)


def _valid(objects):
    for obj in objects:
        assert validate_object(obj) == [], obj["kind"]
    return objects


@pytest.mark.parametrize("chart", [TRAINING, SERVING])
def test_charts_lint_clean(chart):
    assert lint(chart) == []


@pytest.mark.parametrize(("chart", "values", "kinds"), [
    (TRAINING, {}, ["TFJob"]),
    (TRAINING, {"replicas": {"chief": 1, "worker": 3}, "gpu": {"type": "", "count": 0}},
     ["TFJob"]),
    (TRAINING, {"image": {"repository": "r/trainer", "tag": "1",
                          "digest": "sha256:" + "a" * 64}}, ["TFJob"]),
    (SERVING, {}, ["InferenceService"]),
    (SERVING, {"minReplicas": 2, "gpu": {"type": "nvidia-tesla-t4", "count": 1}},
     ["InferenceService", "PodDisruptionBudget"]),
    (SERVING, {"runtime": "tensorflow"}, ["InferenceService"]),
    (SERVING, {"deploymentMode": "Knative", "canaryTrafficPercent": 10}, ["InferenceService"]),
])
def test_renders_validate_against_schemas_and_typed_models(chart, values, kinds):
    objects = _valid(_render(chart, values))
    assert sorted(o["kind"] for o in objects) == sorted(kinds)


def test_tfjob_has_a_chief_workers_gpus_and_a_run_policy():
    (job,) = _render(TRAINING, {"replicas": {"chief": 1, "worker": 2}})
    specs = job["spec"]["tfReplicaSpecs"]
    assert (specs["Chief"]["replicas"], specs["Worker"]["replicas"]) == (1, 2)
    pod = specs["Worker"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["name"] == "tensorflow"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == \
        container["resources"]["requests"]["nvidia.com/gpu"] == 1
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert job["spec"]["runPolicy"] == {"cleanPodPolicy": "Running",
                                        "ttlSecondsAfterFinished": 86400,
                                        "activeDeadlineSeconds": 43200, "backoffLimit": 3}


def test_cpu_training_requests_no_gpu_and_selects_no_gpu_node():
    (job,) = _render(TRAINING, {"gpu": {"type": "", "count": 0}})
    pod = job["spec"]["tfReplicaSpecs"]["Chief"]["template"]["spec"]
    assert "nodeSelector" not in pod
    assert "nvidia.com/gpu" not in pod["containers"][0]["resources"]["limits"]


def test_hyperparameters_in_the_schema_are_trainer_flags():
    from workloads.cifar10.config import build_parser

    schema = json.loads((TRAINING / "values.schema.json").read_text())
    flags = {opt for action in build_parser()._actions for opt in action.option_strings}
    for key in schema["properties"]["hyperparameters"]["properties"]:
        assert f"--{key}" in flags, key


def test_katib_experiment_follows_the_studys_search():
    space = katib_spec(load_space("katib-study"))
    (experiment,) = _valid(_render(TRAINING, {"katib": {"enabled": True, **space}}))
    spec = experiment["spec"]
    assert experiment["apiVersion"] == "kubeflow.org/v1beta1"
    assert spec["algorithm"] == {"algorithmName": "random"}
    assert (spec["parallelTrialCount"], spec["maxTrialCount"], spec["maxFailedTrialCount"]) == (
        3, 12, 3)
    assert spec["objective"]["objectiveMetricName"] == "Validation-accuracy"
    assert spec["objective"]["goal"] == 0.99
    assert spec["metricsCollectorSpec"] == {"collector": {"kind": "StdOut"}}
    assert spec["parameters"] == space["parameters"]
    trial = spec["trialTemplate"]
    assert trial["primaryContainerName"] == "tensorflow"
    assert trial["trialSpec"]["kind"] == "TFJob"
    args = trial["trialSpec"]["spec"]["tfReplicaSpecs"]["Chief"]["template"]["spec"][
        "containers"][0]["args"]
    tuned = args[-5:]
    assert tuned == ["--lr=${trialParameters.lr}", "--epochs=${trialParameters.epochs}",
                     "--batch-size=${trialParameters.batchSize}",
                     "--num-layers=${trialParameters.numLayers}",
                     "--optimizer=${trialParameters.optimizer}"]


def test_tuned_flags_override_fixed_ones_in_the_trainer():
    """Trial parameters come after the fixed hyperparameters, so argparse keeps the tuned value."""
    from workloads.cifar10.config import build_parser

    args = build_parser().parse_args(["--learning_rate=0.01", "--lr=0.05", "--batch_size=128",
                                      "--batch-size=32"])
    assert (args.learning_rate, args.batch_size) == (0.05, 32)


@pytest.mark.parametrize(("chart", "values", "says"), [
    (TRAINING, {"image": {"repository": "r/t", "tag": "latest"}}, "image.tag must not be `latest`"),
    (TRAINING, {"replicas": {"chief": 2, "worker": 0}}, "replicas.chief must be 1"),
    (TRAINING, {"gpu": {"type": "nvidia-tesla-t4", "count": 0}}, "gpu.count must be at least 1 (got 0)"),
    (TRAINING, {"gpu": {"type": "nvidia-h100", "count": 1}}, "gpu.type must be one of"),
    (TRAINING, {"hyperparameters": {"optimiser": "sgd"}},
     "hyperparameters has unknown key(s) 'optimiser'"),
    (TRAINING, {"runPolicy": {"backoffLimit": -1}}, "runPolicy.backoffLimit must be at least 0"),
    (TRAINING, {"katib": {"enabled": True}}, "katib.parameters is empty"),
    (SERVING, {"minReplicas": 0}, "minReplicas must be at least 1 (got 0)"),
    (SERVING, {"storageUri": "/local/path"}, "storageUri must match the pattern"),
    (SERVING, {"canaryTrafficPercent": 20}, "needs deploymentMode Knative"),
    (SERVING, {"minReplicas": 4, "maxReplicas": 2}, "must not exceed maxReplicas"),
    (SERVING, {"runtime": "onnx"}, "runtime must be one of 'custom', 'tensorflow'"),
])
def test_invalid_values_are_rejected_with_the_field(chart, values, says):
    with pytest.raises(ChartError) as info:
        _render(chart, values)
    assert says in str(info.value)
    assert "'not' failed" not in str(info.value) and "\n" not in str(info.value)


def test_schema_errors_name_each_field_once_in_a_stable_order():
    """Several refusals at once: one phrase per field, sorted, never Helm's raw wording."""
    values = {"image": {"tag": "latest"}, "minReplicas": 0, "bogus": 1, "gpu": {"type": "x"}}
    with pytest.raises(ChartError) as info:
        _render(SERVING, values)
    assert str(info.value) == (
        "cifar10-serving: values.schema.json refuses the values: gpu.count must be at least 1 "
        "(got 0); gpu.type must be one of '', "
        "'nvidia-tesla-t4', 'nvidia-tesla-p4', 'nvidia-tesla-p100', 'nvidia-tesla-v100', "
        "'nvidia-l4'; image.tag must not be `latest`; minReplicas must be at least 1 (got 0); "
        "the values file has unknown key(s) 'bogus'")


def test_notes_tell_the_user_what_to_run():
    text = notes(SERVING, {}, release="cifar10", namespace="ml-serving")
    assert "kubectl port-forward -n ml-serving svc/cifar10-predictor" in text
    assert "/v1/models/cifar10:predict" in text
    assert "kubectl get tfjob cifar10" in notes(TRAINING, {}, release="cifar10",
                                                namespace="ml-training")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_object_the_stacks_expand_from_charts_validates(stack):
    objects = [r for r in preview_of(stack).resources if ":" in r.name and r.parent
               and r.parent.endswith(("mlp-cifar10-training", "mlp-cifar10-serving"))]
    assert objects
    for r in objects:
        assert validate_object(r.inputs) == [], r.name


@pytest.mark.parametrize("chart", [TRAINING, SERVING])
def test_schema_gpu_types_are_the_hardware_catalogs(chart):
    """A JSON schema cannot read the catalog, so this keeps the two lists the same."""
    from facts.hardware import catalog

    schema = json.loads((chart / "values.schema.json").read_text())
    allowed = set(schema["properties"]["gpu"]["properties"]["type"]["enum"])
    assert allowed == {""} | set(catalog().accelerators)


def test_serving_chart_defaults_to_the_mode_kserve_is_installed_in():
    import yaml

    from facts.versions import KSERVE_DEPLOYMENT_MODE

    defaults = yaml.safe_load((SERVING / "values.yaml").read_text())
    assert defaults["deploymentMode"] == KSERVE_DEPLOYMENT_MODE


MODELS = "gs://models-bkt/cifar10"
STACK_OUTPUT = {"modelDir": MODELS, "checkpointDir": "gs://models-bkt/cifar10-checkpoints/cifar10",
                "tensorboardDir": "gs://models-bkt/cifar10-tensorboard/cifar10"}
"""Training outputs as a stack sets them (infra/components/cifar10.py): base folders."""


def _trial_args(experiment, trial_name, namespace="ml-test"):
    """The chief's trainer arguments of one trial, substituted as Katib does: each trial
    parameter is the trial's assignment of the search parameter it references, or the trial's
    metadata for a `${trialSpec.<key>}` reference."""
    template = experiment["spec"]["trialTemplate"]
    metadata = {"${trialSpec.Name}": trial_name, "${trialSpec.Namespace}": namespace}
    assignments = {}
    for p in experiment["spec"]["parameters"]:
        space = p["feasibleSpace"]
        assignments[p["name"]] = space["list"][0] if "list" in space else space["min"]
    text = json.dumps(template["trialSpec"])
    for tp in template["trialParameters"]:
        ref = tp["reference"]
        text = text.replace("${trialParameters." + tp["name"] + "}",
                            metadata[ref] if ref.startswith("${") else str(assignments[ref]))
    assert "${" not in text
    spec = json.loads(text)
    return spec["spec"]["tfReplicaSpecs"]["Chief"]["template"]["spec"]["containers"][0]["args"]


def _layout(args):
    from workloads.cifar10.config import parse_args

    cfg = parse_args(args, environ={})
    return cfg.run_id, cfg.export_dir, cfg.run_checkpoint_dir, cfg.run_tensorboard_dir


def test_every_katib_trial_writes_its_own_folders_and_none_is_served():
    space = katib_spec(load_space("katib-study"))
    (experiment,) = _render(TRAINING, {"katib": {"enabled": True, **space},
                                       "output": STACK_OUTPUT})
    (served,) = _render(SERVING, {"storageUri": f"{MODELS}/1"})
    storage = served["spec"]["predictor"]["containers"][0]["env"][0]["value"]
    assert storage == f"{MODELS}/1"
    trials = [_layout(_trial_args(experiment, name))
              for name in ("cifar10-7xk2mqpl", "cifar10-b9w4zt5c", "cifar10-q2hd8r6n")]
    assert [t[0] for t in trials] == ["cifar10-7xk2mqpl", "cifar10-b9w4zt5c", "cifar10-q2hd8r6n"]
    for column in range(1, 4):  # export, checkpoint and TensorBoard folders
        folders = [t[column] for t in trials]
        assert len(set(folders)) == len(folders), folders
    for run_id, export, checkpoint, tensorboard in trials:
        assert export == f"{MODELS}/runs/{run_id}/1"
        for folder in (export, checkpoint, tensorboard):
            assert not folder.startswith(storage.rstrip("/") + "/") and folder != storage


def test_katib_trial_name_parameter_is_reserved():
    space = katib_spec(load_space("katib-study"))
    space["trialParameters"] = [*space["trialParameters"],
                                {"name": "trialName", "reference": "lr"}]
    with pytest.raises(ChartError) as info:
        _render(TRAINING, {"katib": {"enabled": True, **space}})
    assert 'name "trialName" is reserved' in str(info.value)


def test_a_tfjob_runs_under_its_own_name_on_every_replica():
    layouts = []
    for release in ("cifar10-a", "cifar10-b"):
        (job,) = render(TRAINING, {"output": STACK_OUTPUT, "replicas": {"chief": 1, "worker": 1}},
                        release=release, namespace="ml-test")
        specs = job["spec"]["tfReplicaSpecs"]
        args = [specs[r]["template"]["spec"]["containers"][0]["args"] for r in ("Chief", "Worker")]
        assert args[0] == args[1]
        layouts.append(_layout(args[0]))
        assert layouts[-1][0] == job["metadata"]["name"] == release
    assert layouts[0][1] == f"{MODELS}/runs/cifar10-a/1"
    assert all(a != b for a, b in zip(*layouts, strict=True))
    text = notes(TRAINING, {"output": STACK_OUTPUT}, release="cifar10", namespace="ml-test")
    assert f"The run exports to {MODELS}/runs/cifar10/1/" in text
    assert f"mlp model promote --from {MODELS}/runs/<run>/1 --to {MODELS} --version N" in text


@pytest.mark.parametrize("chart", [SERVING, TRAINING], ids=lambda c: c.name)
def test_the_shipped_example_values_render_and_validate(chart):
    """The README renders these; each must pass the schema and produce valid objects."""
    values = yaml.safe_load((chart / "examples" / "values.yaml").read_text())
    objects = _render(chart, values)
    assert objects
    for obj in objects:
        assert validate_object(obj) == [], obj["kind"]
