"""Roles, TF_CONFIG validation, peer probes and strategies from the environment."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.workloads.conftest import REPO, python_env
from workloads.cifar10.distribute import (
    ClusterConfigError,
    Role,
    choose_strategy,
    parse_tf_config,
    role_from_env,
    unreachable_peers,
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
    with_chief = {"chief": ["h:3"], "worker": ["h:1", "h:2"]}
    chief = role_from_env(_tf_config(with_chief, "chief", 0))
    assert chief.is_chief and chief.num_workers == 3 and chief.tag == "chief-0"
    assert not role_from_env(_tf_config(with_chief, "worker", 0)).is_chief


def test_peers_are_every_other_task() -> None:
    role = role_from_env(_tf_config({"chief": ["c:1"], "worker": ["w:1", "w:2"]}, "worker", 0))
    assert role.peers == (("chief-0", "c:1"), ("worker-1", "w:2"))
    assert role_from_env({"TF_CONFIG": "  "}) == Role("chief", 0, 1)


def _raw(cluster: object, task: object = None) -> str:
    return json.dumps({"cluster": cluster, "task": task or {"type": "worker", "index": 0}})


@pytest.mark.parametrize(("raw", "message"), [
    ("{not json", "TF_CONFIG is not JSON (Expecting property name"),
    ("[1, 2]", "TF_CONFIG must be a JSON object with cluster and task; got [1, 2]"),
    (json.dumps({"task": {"type": "worker", "index": 0}}), "TF_CONFIG.cluster is missing"),
    (_raw("x"), 'TF_CONFIG.cluster must be a non-empty object mapping task types to host:port '
                'lists; got "x"'),
    (_raw(None), "TF_CONFIG.cluster must be a non-empty object"),
    (_raw({}), "TF_CONFIG.cluster must be a non-empty object"),
    (_raw({"worker": "ab"}), 'TF_CONFIG.cluster.worker must be a non-empty list of "host:port" '
                             'strings; got "ab"'),
    (_raw({"worker": []}), "TF_CONFIG.cluster.worker must be a non-empty list"),
    (_raw({"worker": ["h:1", 7]}), 'TF_CONFIG.cluster.worker[1] must be a "host:port" string; '
                                   "got 7"),
    (_raw({"worker": ["h"]}), "TF_CONFIG.cluster.worker[0]: 'h' is not host:port with a port in "
                              "1..65535"),
    (_raw({"worker": ["h:70000"]}), "'h:70000' is not host:port"),
    (_raw({"worker": ["h:1", "h:1"]}), "TF_CONFIG.cluster.worker[1]: 'h:1' is also "
                                       "cluster.worker[0]"),
    (_raw({"chief": ["c:1", "c:2"]}, {"type": "chief", "index": 0}),
     "TF_CONFIG.cluster.chief lists 2 addresses; allowed: one chief"),
    (_raw({"worker": ["h:1"], "ps": ["p:1"]}),
     "TF_CONFIG cluster: task type 'ps' is not supported (parameter servers need "
     "ParameterServerStrategy"),
    (_raw({"worker": ["h:1"]}, {"type": "ps", "index": 0}),
     "TF_CONFIG task.type: task type 'ps' is not supported"),
    (_raw({"worker": ["h:1"], "evaluator": ["e:1"]}), "task type 'evaluator' is not supported"),
    (json.dumps({"cluster": {"worker": ["h:1"]}}), "TF_CONFIG.task must be an object with type "
                                                   "and index; got null"),
    (_raw({"worker": ["h:1"]}, {"type": 1, "index": 0}), "TF_CONFIG.task.type must be a string"),
    (_raw({"worker": ["h:1"]}, {"type": "chief", "index": 0}),
     "TF_CONFIG.task.type 'chief' has no addresses in cluster (which lists worker)"),
    (_raw({"worker": ["h:1"]}, {"type": "worker", "index": "0"}),
     'TF_CONFIG.task.index must be an integer; got "0"'),
    (_raw({"worker": ["h:1"]}, {"type": "worker", "index": True}),
     "TF_CONFIG.task.index must be an integer; got true"),
    (_raw({"worker": ["h:1"]}, {"type": "worker", "index": 3}),
     "TF_CONFIG task worker:3 is not in its cluster, which has 1 worker address(es)"),
    ("[" * 100_000, "TF_CONFIG is not JSON"),
])
def test_bad_tf_config_is_one_line_naming_the_field(raw: str, message: str) -> None:
    with pytest.raises(ClusterConfigError) as info:
        role_from_env({"TF_CONFIG": raw})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_vertex_style_tf_config_with_extra_keys_is_accepted() -> None:
    raw = json.dumps({"cluster": {"chief": ["c:2222"], "worker": ["w:2222"]},
                      "task": {"type": "worker", "index": 0, "trial": "3"},
                      "environment": "cloud", "job": {"worker_pool_specs": []}})
    assert parse_tf_config(raw) == Role("worker", 0, 2, True, (("chief-0", "c:2222"),))


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=12)
ADDRESSES = st.lists(st.sampled_from(["h:1", "h:2", "10.0.0.1:2222", "[::1]:80", "h", "h:0",
                                      "a b:1"]) | JSON, max_size=3)
TF_CONFIGS = st.fixed_dictionaries(
    {}, optional={"cluster": st.dictionaries(st.sampled_from(["chief", "worker", "ps",
                                                             "evaluator", "x"]),
                                             ADDRESSES, max_size=3) | JSON,
                  "task": st.fixed_dictionaries({}, optional={
                      "type": st.sampled_from(["chief", "worker", "ps"]) | JSON,
                      "index": st.integers(-1, 3) | JSON}) | JSON,
                  "environment": JSON})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=TF_CONFIGS | JSON)
def test_any_tf_config_is_a_role_or_one_line_error(config: object) -> None:
    """300 generated TF_CONFIG values (near-valid clusters and arbitrary JSON): each one gives a
    role consistent with its cluster, or a one-line `ClusterConfigError`; nothing else."""
    try:
        role = parse_tf_config(json.dumps(config))
    except ClusterConfigError as err:
        assert str(err) and "\n" not in str(err)
        return
    assert isinstance(config, dict)
    cluster = config["cluster"]
    assert set(cluster) <= {"chief", "worker"}
    assert role.num_workers == sum(len(v) for v in cluster.values())
    assert len(role.peers) == role.num_workers - 1
    assert cluster[role.task_type][role.task_index] not in dict(role.peers).values()


def test_tf_config_is_checked_before_tensorflow_is_imported() -> None:
    code = ("import sys\n"
            "from workloads.cifar10.train import main\n"
            "code = main(['--data', 'synthetic'])\n"
            "print(code, 'tensorflow' in sys.modules)\n")
    env = python_env({"TF_CONFIG": _raw({"worker": ["h:1"]}, {"type": "ps", "index": 0})})
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["2", "False"], result.stderr
    assert result.stderr.startswith("error: TF_CONFIG task.type: task type 'ps' is not supported")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_peers_names_the_ones_not_listening() -> None:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        peers = [("worker-0", f"127.0.0.1:{listening.getsockname()[1]}"),
                 ("worker-1", f"127.0.0.1:{closed_port}"),
                 ("worker-2", "no-such-host.invalid:2222")]
        assert unreachable_peers(peers, timeout_s=0.5) == peers[1:]
    finally:
        listening.close()


def test_no_cluster_and_no_gpu_uses_the_default_strategy() -> None:
    tf = pytest.importorskip("tensorflow")
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    strategy = choose_strategy({})
    assert strategy.num_replicas_in_sync == 1
    assert not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def test_a_task_type_with_a_newline_is_still_one_line():
    """Found by the property test: the raw key must not reach the message unquoted."""
    with pytest.raises(ClusterConfigError) as info:
        parse_tf_config(json.dumps({"cluster": {"\n": ["a:1"]},
                                    "task": {"type": "\n", "index": 0}}))
    assert "\n" not in str(info.value)
