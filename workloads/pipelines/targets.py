"""Where the pipeline's training step runs on a stack: the pool its training profile names.

By default the step asks for `defaults.yaml`'s accelerator on any node with that GPU. Given the
training values a stack writes for its training profile (`mlp chart values cifar10-training
STACK --out FILE`, the same file `helm install` takes), the step follows that pool's capacity:
its GPU type and count; on a shared pool one shared GPU and GKE's sharing node labels; on a
queued-provisioning (flex-start) pool Kueue's queue label, so Kueue admits the step's pod
through a ProvisioningRequest, with the pool's maximum run duration for that request.

The file is read strictly and checked field by field (it is user input: `--training-values`);
this module imports neither kfp, TensorFlow, nor the Pulumi program.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facts.capacity import MAX_RUN_ANNOTATION, QUEUE_LABEL, capacity
from facts.documents import DocumentError, load_yaml
from facts.hardware import catalog
from workloads.pipelines.settings import SettingsError

OPTION = "--training-values"
_QUEUE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
MAX_BYTES = 1_000_000
"""A training values file is a few kilobytes; anything this large is not one."""


@dataclass(frozen=True)
class PoolTarget:
    """The training step's GPU, node labels, pod labels and annotations."""

    accelerator: str
    accelerator_count: int
    node_selector: dict[str, str] = field(default_factory=dict)
    pod_labels: dict[str, str] = field(default_factory=dict)
    pod_annotations: dict[str, str] = field(default_factory=dict)

    @property
    def queue(self) -> str | None:
        return self.pod_labels.get(QUEUE_LABEL)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SettingsError(f"{OPTION}: {where} is {type(value).__name__}, not a mapping")
    return value


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(f"{OPTION}: {where} {value!r} is not allowed; use a whole number "
                            f"from {low} to {high}")
    return value


def pool_target(values: Any) -> PoolTarget:
    """The target described by a stack's training values (`gpu` and `queue`).

    Raises:
        SettingsError: `--training-values: <field> ...`, one line naming what is allowed.
    """
    values = _mapping(values, "the file")
    gpu = _mapping(values.get("gpu"), "gpu")
    accelerators = catalog().accelerators
    gpu_type = gpu.get("type")
    if gpu_type not in accelerators:
        raise SettingsError(f"{OPTION}: gpu.type {gpu_type!r} is not a GPU of the hardware "
                            f"catalog ({', '.join(sorted(accelerators))}); the training "
                            "profile must name a GPU pool")
    count = _int(gpu.get("count"), "gpu.count", 1, max(accelerators[gpu_type].allowed_counts))
    selector: dict[str, str] = {}
    share = capacity().sharing
    sharing = gpu.get("sharing") or {}
    strategy = _mapping(sharing, "gpu.sharing").get("strategy") or ""
    if strategy:
        if strategy not in share.strategies:
            raise SettingsError(f"{OPTION}: gpu.sharing.strategy {strategy!r} is not allowed; "
                                f"use one of {', '.join(share.strategies)}")
        clients = _int(sharing.get("maxClientsPerGpu"), "gpu.sharing.maxClientsPerGpu",
                       share.min_clients, share.max_clients)
        count = _int(count, "gpu.count (shared)", 1, share.max_gpus_per_container)
        selector = share.node_selector(strategy, clients)
    queue = _mapping(values.get("queue") or {}, "queue")
    name = queue.get("name") or ""
    if not name:
        return PoolTarget(gpu_type, count, selector)
    if not isinstance(name, str) or not _QUEUE.match(name):
        raise SettingsError(f"{OPTION}: queue.name {name!r} is not a Kubernetes name")
    seconds = _int(queue.get("maxRunDurationSeconds", 0), "queue.maxRunDurationSeconds", 0,
                   capacity().flex_start.max_run_hours * 3600)
    annotations = {MAX_RUN_ANNOTATION: str(seconds)} if seconds else {}
    return PoolTarget(gpu_type, count, selector, {QUEUE_LABEL: name}, annotations)


def load_pool_target(path: Path) -> PoolTarget:
    """Read a training values file strictly (no duplicate keys, anchors or deep nesting)."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise SettingsError(f"{OPTION}: {path} is larger than {MAX_BYTES} bytes; it is not a "
                                "training values file")
        return pool_target(load_yaml(path.read_text(), str(path)))
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(f"{OPTION}: cannot read {path}: {err}") from None
    except DocumentError as err:
        raise SettingsError(f"{OPTION}: {err}") from None
