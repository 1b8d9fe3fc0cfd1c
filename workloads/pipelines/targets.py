"""Which node pool of a stack the pipeline's training step runs on, and what that asks of it.

By default the step asks for `defaults.yaml`'s accelerator on any node with that GPU. Aimed at a
pool of a stack (`mlp pipeline compile|run --target kubeflow --stack-file F --training-pool P`),
it selects that pool by name and follows its capacity: on a shared pool it asks for one shared
GPU and selects GKE's sharing labels; on a queued-provisioning (flex-start) pool it carries
Kueue's queue label, so Kueue admits the step's pod through a ProvisioningRequest, and the pool's
maximum run duration for that request. This module imports neither kfp nor TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.capacity import GKE_NODEPOOL_LABEL, capacity
from infra.config import PlatformConfig
from infra.kueue import job_metadata
from workloads.pipelines.settings import SettingsError


@dataclass(frozen=True)
class PoolTarget:
    """The training step's node pool: its GPU, node labels, pod labels and annotations."""

    pool: str
    accelerator: str
    accelerator_count: int
    node_selector: dict[str, str]
    pod_labels: dict[str, str] = field(default_factory=dict)
    pod_annotations: dict[str, str] = field(default_factory=dict)


def pool_target(cfg: PlatformConfig, name: str) -> PoolTarget:
    """The target for the GPU pool `name` of a validated stack config.

    Raises:
        SettingsError: `--training-pool: ...` when the stack has no GPU pool of that name or no
            cluster.
    """
    gpu_pools = [p for p in cfg.node_pools if p.is_gpu]
    pool = next((p for p in gpu_pools if p.name == name), None)
    if not cfg.has_cluster or pool is None or pool.accelerator is None:
        raise SettingsError(f"--training-pool: {name!r} is not a GPU pool of this stack; GPU "
                            f"pools: {', '.join(p.name for p in gpu_pools) or 'none'}")
    acc = pool.accelerator
    selector = {GKE_NODEPOOL_LABEL: pool.name}
    count = acc.count
    if acc.sharing is not None:
        sharing = capacity().sharing
        selector |= sharing.node_selector(acc.sharing.strategy, acc.sharing.max_clients_per_gpu)
        count = sharing.max_gpus_per_container
    meta = job_metadata(pool)
    return PoolTarget(pool.name, acc.type, count, selector, meta["labels"], meta["annotations"])
