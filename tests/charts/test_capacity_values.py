"""The charts on shared and queued pools: GKE's sharing labels with one GPU, Kueue's queue label
and the ProvisioningRequest's run limit; refused values name the key."""

from __future__ import annotations

import pytest

from facts.capacity import capacity
from infra.charts import CHARTS_DIR, ChartError, render
from infra.k8s_validate import validate_object
from facts.capacity import MAX_RUN_ANNOTATION, QUEUE_LABEL
from workloads.tuning.space import katib_spec, load_space

TRAINING = CHARTS_DIR / "cifar10-training"
SERVING = CHARTS_DIR / "cifar10-serving"
SHARED = {"type": "nvidia-tesla-t4", "count": 1,
          "sharing": {"strategy": "time-sharing", "maxClientsPerGpu": 4}}


def _render(chart, values):
    return render(chart, values, release="cifar10", namespace="ml-test")


def _pods(obj):
    if obj["kind"] == "InferenceService":
        return [obj["spec"]["predictor"]]
    specs = obj["spec"]["tfReplicaSpecs"] if obj["kind"] == "TFJob" else \
        obj["spec"]["trialTemplate"]["trialSpec"]["spec"]["tfReplicaSpecs"]
    return [r["template"]["spec"] for r in specs.values()]


@pytest.mark.parametrize(("chart", "values"), [
    (TRAINING, {"gpu": SHARED}),
    (TRAINING, {"gpu": SHARED, "replicas": {"chief": 1, "worker": 2}}),
    (SERVING, {"gpu": SHARED, "runtime": "tensorflow"}),
])
def test_shared_gpus_select_gke_sharing_labels(chart, values):
    (obj,) = _render(chart, values)
    expected = capacity().sharing.node_selector("time-sharing", 4)
    for pod in _pods(obj):
        assert pod["nodeSelector"].items() >= expected.items()
    assert validate_object(obj) == []


def test_a_gpu_tf_serving_predictor_asks_for_the_cuda_build():
    (isvc,) = _render(SERVING, {"gpu": SHARED, "runtime": "tensorflow"})
    assert isvc["spec"]["predictor"]["model"]["runtimeVersion"] == "2.6.2-gpu"
    (cpu,) = _render(SERVING, {"runtime": "tensorflow"})
    assert "runtimeVersion" not in cpu["spec"]["predictor"]["model"]


@pytest.mark.parametrize(("chart", "values", "says"), [
    (TRAINING, {"gpu": {**SHARED, "count": 2}}, "gpu.count must be 1"),
    (SERVING, {"gpu": {**SHARED, "count": 2}}, "gpu.count must be 1"),
    (TRAINING, {"gpu": {**SHARED, "sharing": {"strategy": "time-sharing",
                                              "maxClientsPerGpu": 1}}},
     "maxClientsPerGpu must be at least 2"),
    (TRAINING, {"gpu": {**SHARED, "sharing": {"strategy": "slicing", "maxClientsPerGpu": 4}}},
     "gpu.sharing.strategy must be one of"),
    (TRAINING, {"queue": {"name": "Bad Queue"}}, "queue.name must match the pattern"),
    (TRAINING, {"queue": {"name": "q", "maxRunDurationSeconds": 10**7}},
     "queue.maxRunDurationSeconds must be at most 604,800"),
])
def test_values_a_shared_or_queued_pool_cannot_take_are_refused(chart, values, says):
    with pytest.raises(ChartError) as err:
        _render(chart, values)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_queued_runs_and_trials_carry_kueue_metadata():
    queue = {"name": "gpu-l4-queued", "maxRunDurationSeconds": 3600}
    (tfjob,) = _render(TRAINING, {"queue": queue})
    assert tfjob["metadata"]["labels"][QUEUE_LABEL] == "gpu-l4-queued"
    assert tfjob["metadata"]["annotations"] == {MAX_RUN_ANNOTATION: "3600"}
    katib = {"enabled": True, **katib_spec(load_space("katib-study"))}
    (experiment,) = _render(TRAINING, {"queue": queue, "katib": katib})
    trial = experiment["spec"]["trialTemplate"]["trialSpec"]
    assert trial["metadata"]["labels"] == {QUEUE_LABEL: "gpu-l4-queued"}
    assert trial["metadata"]["annotations"] == {MAX_RUN_ANNOTATION: "3600"}
    (plain,) = _render(TRAINING, {})
    assert QUEUE_LABEL not in plain["metadata"]["labels"]
    assert "annotations" not in plain["metadata"]
