"""Distribution strategy and precision, chosen from the environment the job runs in.

- `TF_CONFIG` naming more than one task (TFJob, Vertex multi-replica jobs) →
  `MultiWorkerMirroredStrategy`.
- Several local GPUs → `MirroredStrategy`; one GPU or none → the default strategy.
- Any GPU → the `mixed_float16` Keras policy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

import tensorflow as tf


class ClusterConfigError(ValueError):
    """`TF_CONFIG` that does not describe a cluster and this task; the message says why."""


@dataclass(frozen=True)
class Role:
    """Which task this process is in a cluster; `is_chief` writes the model and metrics."""

    task_type: str
    task_index: int
    num_workers: int
    cluster_has_chief: bool = True

    @property
    def is_chief(self) -> bool:
        """The `chief` task, or worker 0 in a cluster without one (TF's convention)."""
        if self.task_type == "chief":
            return True
        return not self.cluster_has_chief and self.task_type == "worker" and self.task_index == 0

    @property
    def tag(self) -> str:
        return f"{self.task_type}-{self.task_index}"


def role_from_env(environ: Mapping[str, str] | None = None) -> Role:
    """This process's role from `TF_CONFIG` (a lone process is `chief`, index 0)."""
    env = os.environ if environ is None else environ
    raw = env.get("TF_CONFIG")
    if not raw:
        return Role("chief", 0, 1)
    try:
        config = json.loads(raw)
        cluster = config.get("cluster", {})
        task = config.get("task", {})
        task_type, task_index = str(task["type"]), int(task.get("index", 0))
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ClusterConfigError(f"TF_CONFIG must be JSON with cluster and task.type "
                                 f"({type(err).__name__}: {err}); got {raw[:200]!r}") from None
    workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    members = cluster.get(task_type, [])
    if task_type in ("chief", "worker") and not 0 <= task_index < len(members):
        raise ClusterConfigError(f"TF_CONFIG task {task_type}:{task_index} is not in its cluster, "
                                 f"which has {len(members)} {task_type} address(es)")
    return Role(task_type, task_index, max(workers, 1),
                cluster_has_chief="chief" in cluster)


def choose_strategy(environ: Mapping[str, str] | None = None) -> tf.distribute.Strategy:
    """Pick the strategy (see module docstring) and set mixed precision on GPU machines."""
    import keras

    role = role_from_env(environ)
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
    if role.num_workers > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
