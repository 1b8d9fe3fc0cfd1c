"""Roles and strategies from the environment."""

from __future__ import annotations

import json

import pytest

tf = pytest.importorskip("tensorflow")

from workloads.cifar10.distribute import (  # noqa: E402
    ClusterConfigError,
    Role,
    choose_strategy,
    role_from_env,
)


def _tf_config(cluster: dict, task_type: str, index: int) -> dict[str, str]:
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type,
                                                                  "index": index}})}


def test_a_lone_process_is_the_chief() -> None:
    assert role_from_env({}) == Role("chief", 0, 1)
    assert role_from_env({}).is_chief


def test_worker_zero_is_chief_only_without_a_chief_task() -> None:
    workers = {"worker": ["h:1", "h:2"]}
    assert role_from_env(_tf_config(workers, "worker", 0)).is_chief
    assert not role_from_env(_tf_config(workers, "worker", 1)).is_chief
    with_chief = {"chief": ["h:0"], "worker": ["h:1", "h:2"]}
    chief = role_from_env(_tf_config(with_chief, "chief", 0))
    assert chief.is_chief and chief.num_workers == 3 and chief.tag == "chief-0"
    assert not role_from_env(_tf_config(with_chief, "worker", 0)).is_chief


@pytest.mark.parametrize(("raw", "message"), [
    ("{not json", "TF_CONFIG must be JSON with cluster and task.type"),
    (json.dumps({"cluster": {"worker": ["h:1"]}}), "KeyError"),
    (json.dumps({"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 3}}),
     "TF_CONFIG task worker:3 is not in its cluster, which has 1 worker address(es)"),
])
def test_bad_tf_config_is_named(raw: str, message: str) -> None:
    with pytest.raises(ClusterConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        role_from_env({"TF_CONFIG": raw})


def test_no_cluster_and_no_gpu_uses_the_default_strategy() -> None:
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    strategy = choose_strategy({})
    assert strategy.num_replicas_in_sync == 1
    assert not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
