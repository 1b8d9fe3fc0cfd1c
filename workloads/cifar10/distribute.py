"""Cluster role, peers and distribution strategy, chosen from the environment the job runs in.

- `TF_CONFIG` naming more than one task (TFJob, Vertex multi-replica jobs) →
  `MultiWorkerMirroredStrategy`.
- Several local GPUs → `MirroredStrategy`; one GPU or none → the default strategy.
- The Keras precision policy from `--precision` (`precision.choose_policy`): by default
  `mixed_float16` on a GPU, `mixed_bfloat16` on a CPU with native bfloat16, else `float32`.

`TF_CONFIG` is validated in full by `role_from_env` without importing TensorFlow, so a malformed
one is one line and exit 2 before TensorFlow starts, never a traceback from inside it.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tensorflow as tf

SUPPORTED_TASK_TYPES = ("chief", "worker")
"""The tasks of a `MultiWorkerMirroredStrategy` cluster; the chief (or worker 0) exports."""
REFUSED_TASK_TYPES = {
    "ps": "parameter servers need ParameterServerStrategy, which this trainer does not run",
    "evaluator": "a side-car evaluator is not run; every epoch is validated by the workers",
}
"""Task types TensorFlow knows but this trainer refuses, with the reason given to the user."""
ADDRESS = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+):(?P<port>[0-9]{1,5})")
"""`host:port` or `[ipv6]:port`, as TensorFlow's gRPC server expects them."""
PROBE_TIMEOUT_S = 1.0
"""Connect timeout of one peer probe."""


class ClusterConfigError(ValueError):
    """`TF_CONFIG` that does not describe a cluster and this task; the message says why."""


@dataclass(frozen=True)
class Role:
    """Which task this process is in a cluster; `is_chief` writes the model and metrics.

    `peers` are the other tasks as (`type-index`, `host:port`) pairs.
    """

    task_type: str
    task_index: int
    num_workers: int
    cluster_has_chief: bool = True
    peers: tuple[tuple[str, str], ...] = ()

    @property
    def is_chief(self) -> bool:
        """The `chief` task, or worker 0 in a cluster without one (TF's convention)."""
        if self.task_type == "chief":
            return True
        return not self.cluster_has_chief and self.task_type == "worker" and self.task_index == 0

    @property
    def tag(self) -> str:
        return f"{self.task_type}-{self.task_index}"


def _shown(value: Any) -> str:
    """A JSON value as one short line for an error message."""
    try:
        return json.dumps(value)[:80]
    except RecursionError:
        return "(a value nested too deep to show)"


def _unsupported(task_type: str, where: str) -> ClusterConfigError:
    reason = REFUSED_TASK_TYPES.get(task_type, "unknown task type")
    return ClusterConfigError(f"TF_CONFIG {where}: task type {task_type!r} is not supported "
                              f"({reason}); allowed: {', '.join(SUPPORTED_TASK_TYPES)}")


def split_address(address: str) -> tuple[str, int]:
    """(host, port) of a `host:port` address; raises `ValueError` naming what is wrong."""
    match = ADDRESS.fullmatch(address)
    if not match or not 1 <= int(match["port"]) <= 65_535:
        raise ValueError(f"{address!r} is not host:port with a port in 1..65535")
    return match["host"].strip("[]"), int(match["port"])


def _cluster(config: dict[str, Any]) -> dict[str, list[str]]:
    """`TF_CONFIG.cluster`, checked: supported task types, each a non-empty list of distinct
    `host:port` strings, at most one chief."""
    if "cluster" not in config:
        raise ClusterConfigError("TF_CONFIG.cluster is missing; allowed: an object mapping "
                                 f"{' and '.join(SUPPORTED_TASK_TYPES)} to host:port lists")
    cluster = config["cluster"]
    if not isinstance(cluster, dict) or not cluster:
        raise ClusterConfigError(f"TF_CONFIG.cluster must be a non-empty object mapping task "
                                 f"types to host:port lists; got {_shown(cluster)}")
    seen: dict[str, str] = {}
    for task_type, addresses in cluster.items():
        if task_type not in SUPPORTED_TASK_TYPES:
            raise _unsupported(task_type, "cluster")
        if not isinstance(addresses, list) or not addresses:
            raise ClusterConfigError(f"TF_CONFIG.cluster.{task_type} must be a non-empty list of "
                                     f"\"host:port\" strings; got {_shown(addresses)}")
        for index, address in enumerate(addresses):
            where = f"cluster.{task_type}[{index}]"
            if not isinstance(address, str):
                raise ClusterConfigError(f"TF_CONFIG.{where} must be a \"host:port\" string; "
                                         f"got {_shown(address)}")
            try:
                split_address(address)
            except ValueError as err:
                raise ClusterConfigError(f"TF_CONFIG.{where}: {err}") from None
            if address in seen:
                raise ClusterConfigError(f"TF_CONFIG.{where}: {address!r} is also "
                                         f"{seen[address]}; every task needs its own address")
            seen[address] = where
    if len(cluster.get("chief", [])) > 1:
        raise ClusterConfigError(f"TF_CONFIG.cluster.chief lists {len(cluster['chief'])} "
                                 "addresses; allowed: one chief")
    return cluster


def _task(config: dict[str, Any], cluster: dict[str, list[str]]) -> tuple[str, int]:
    """`TF_CONFIG.task`, checked against the cluster: a listed type and an index in range."""
    task = config.get("task")
    if not isinstance(task, dict):
        raise ClusterConfigError(f"TF_CONFIG.task must be an object with type and index; got "
                                 f"{_shown(task)}")
    task_type, index = task.get("type"), task.get("index")
    if not isinstance(task_type, str):
        raise ClusterConfigError(f"TF_CONFIG.task.type must be a string; got {_shown(task_type)}")
    if task_type not in SUPPORTED_TASK_TYPES:
        raise _unsupported(task_type, "task.type")
    if task_type not in cluster:
        raise ClusterConfigError(f"TF_CONFIG.task.type {task_type!r} has no addresses in "
                                 f"cluster (which lists {', '.join(cluster)})")
    if isinstance(index, bool) or not isinstance(index, int):
        raise ClusterConfigError(f"TF_CONFIG.task.index must be an integer; got {_shown(index)}")
    members = cluster[task_type]
    if not 0 <= index < len(members):
        raise ClusterConfigError(f"TF_CONFIG task {task_type}:{index} is not in its cluster, "
                                 f"which has {len(members)} {task_type} address(es)")
    return task_type, index


def parse_tf_config(raw: str) -> Role:
    """This task's role and peers from a `TF_CONFIG` JSON text, validated in full.

    Other top-level keys (`environment`, `job`, `rpc_layer`, which Vertex AI and TensorFlow use)
    pass through unchecked. Raises `ClusterConfigError` naming the field and the bad value.
    """
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise ClusterConfigError(f"TF_CONFIG is not JSON ({err}); got {raw[:200]!r}") from None
    if not isinstance(config, dict):
        raise ClusterConfigError(f"TF_CONFIG must be a JSON object with cluster and task; got "
                                 f"{_shown(config)}")
    cluster = _cluster(config)
    task_type, index = _task(config, cluster)
    peers = tuple((f"{kind}-{i}", address) for kind in SUPPORTED_TASK_TYPES
                  for i, address in enumerate(cluster.get(kind, []))
                  if (kind, i) != (task_type, index))
    workers = sum(len(cluster.get(kind, [])) for kind in SUPPORTED_TASK_TYPES)
    return Role(task_type, index, workers, cluster_has_chief="chief" in cluster, peers=peers)


def role_from_env(environ: Mapping[str, str] | None = None) -> Role:
    """This process's role from `TF_CONFIG` (unset or blank: a lone `chief`, index 0)."""
    env = os.environ if environ is None else environ
    raw = env.get("TF_CONFIG", "")
    if not raw.strip():
        return Role("chief", 0, 1)
    return parse_tf_config(raw)


def unreachable_peers(peers: Sequence[tuple[str, str]],
                      timeout_s: float = PROBE_TIMEOUT_S) -> list[tuple[str, str]]:
    """The peers whose address accepts no TCP connection (or does not resolve) right now."""
    missing = []
    for tag, address in peers:
        host, port = split_address(address)
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                pass
        except OSError:
            missing.append((tag, address))
    return missing


def choose_strategy(environ: Mapping[str, str] | None = None,
                    precision: str = "auto") -> tf.distribute.Strategy:
    """Pick the strategy (see module docstring) and set the precision policy `precision`
    asks for on this hardware (see `precision.choose_policy`)."""
    import keras
    import tensorflow as tf

    from workloads.cifar10.precision import choose_policy, cpu_flags

    role = role_from_env(environ)
    gpus = tf.config.list_physical_devices("GPU")
    policy, _why = choose_policy(precision, bool(gpus), cpu_flags())
    keras.mixed_precision.set_global_policy(policy)
    if role.num_workers > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
