"""How GPUs are obtained: flex-start, queued provisioning, sharing and Vertex scheduling, as data.

One table (`facts/data/capacity.yaml`) read into typed objects. Stack validation asks it which
machines and GPUs flex-start can provision, how many clients may share a GPU and which Vertex AI
scheduling strategies fit a job's GPU; charts and policies ask it for the node labels GKE puts on
shared and queued nodes; the GPU-image check asks it which CUDA builds our images carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CAPACITY_PATH = Path(__file__).parent / "data" / "capacity.yaml"

GKE_NODEPOOL_LABEL = "cloud.google.com/gke-nodepool"
"""Node label GKE puts on every node: its pool's name."""
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
"""The label that hands a job (or a pod) to a Kueue LocalQueue."""
MAX_RUN_ANNOTATION = "provreq.kueue.x-k8s.io/maxRunDurationSeconds"
"""Job annotation Kueue copies into the ProvisioningRequest it creates for the job."""


@dataclass(frozen=True)
class FlexStart:
    """Which catalog machines and GPUs flex-start provisions, and its limits."""

    source: str
    families: dict[str, tuple[str, ...]]
    discounted_families: tuple[str, ...]
    discounted_series: tuple[str, ...]
    """Machine series Google discounts under flex-start (most outside the hardware catalog)."""
    max_run_hours: int
    gke_min_version: str
    preemptible_quota: bool

    def supports(self, family: str, accelerator: str | None) -> bool:
        return accelerator is not None and accelerator in self.families.get(family, ())

    def described(self) -> str:
        """What flex-start takes, for messages: ``nvidia-l4 on g2 machines``."""
        return "; ".join(f"{', '.join(gpus)} on {family} machines"
                         for family, gpus in sorted(self.families.items()))


@dataclass(frozen=True)
class QueuedProvisioning:
    source: str
    requires_flex_start: bool
    provisioning_class: str
    node_taint: dict[str, str]
    reservation_affinity: str
    location_policy: str


@dataclass(frozen=True)
class SharingStrategy:
    name: str
    """The stack's spelling: ``time-sharing`` or ``mps``."""
    api: str
    """GKE API's gpu_sharing_strategy: TIME_SHARING or MPS."""
    label: str
    """Value of the strategy node label on shared nodes."""


@dataclass(frozen=True)
class GpuSharing:
    source: str
    strategies: dict[str, SharingStrategy]
    min_clients: int
    max_clients: int
    strategy_label: str
    clients_label: str
    max_gpus_per_container: int
    accelerators: tuple[str, ...]

    def node_selector(self, strategy: str, clients: int) -> dict[str, str]:
        """The node labels a workload selects to land on a pool shared this way."""
        return {self.strategy_label: self.strategies[strategy].label,
                self.clients_label: str(clients)}


@dataclass(frozen=True)
class VertexCapacity:
    strategies: dict[str, str]
    """CLI/stack spelling → `Scheduling.Strategy` enum name."""
    flex_start_accelerators: tuple[str, ...]
    flex_start_max_hours: int
    persistent_min_replicas: int
    sources: dict[str, str]


@dataclass(frozen=True)
class GpuImage:
    name: str
    build: str
    compute_capabilities: tuple[str, ...] = ()
    min_driver: str | None = None
    cuda_runtime: str | None = None

    @property
    def uses_gpu(self) -> bool:
        return bool(self.compute_capabilities)

    def runs_on(self, capability: str) -> bool:
        """Whether the image has code for a GPU of compute capability ``X.Y``: a binary for X.y
        with y <= Y, or PTX for an older or equal capability (the driver compiles it)."""
        major, minor = (int(p) for p in capability.split("."))
        for entry in self.compute_capabilities:
            kind, _, digits = entry.partition("_")
            e_major, e_minor = int(digits[:-1]), int(digits[-1])
            if kind == "sm" and e_major == major and e_minor <= minor:
                return True
            if kind == "compute" and (e_major, e_minor) <= (major, minor):
                return True
        return False


@dataclass(frozen=True)
class CapacityCatalog:
    as_of: str
    flex_start: FlexStart
    queued: QueuedProvisioning
    sharing: GpuSharing
    vertex: VertexCapacity
    images: dict[str, GpuImage]
    compute_capability: dict[str, str]
    driver_default_min_branch: int
    driver_latest: str


def driver_branch(version: str) -> int:
    """The branch (major) of a driver version: ``525.60.13`` → 525."""
    return int(version.split(".", 1)[0])


def _load(path: Path) -> CapacityCatalog:
    raw: dict[str, Any] = yaml.safe_load(path.read_text())
    fs, qp, gs, vx = (raw[k] for k in ("flex_start", "queued_provisioning", "gpu_sharing",
                                       "vertex"))
    return CapacityCatalog(
        as_of=str(raw["as_of"]),
        flex_start=FlexStart(
            source=fs["source"],
            families={f: tuple(g) for f, g in fs["families"].items()},
            discounted_families=tuple(fs["discounted_families"]),
            discounted_series=tuple(fs["discounted_series"]),
            max_run_hours=int(fs["max_run_hours"]),
            gke_min_version=str(fs["gke_min_version"]),
            preemptible_quota=fs["quota"] == "preemptible"),
        queued=QueuedProvisioning(
            source=qp["source"], requires_flex_start=bool(qp["requires_flex_start"]),
            provisioning_class=qp["provisioning_class"],
            node_taint={k: str(v) for k, v in qp["node_taint"].items()},
            reservation_affinity=qp["reservation_affinity"],
            location_policy=qp["location_policy"]),
        sharing=GpuSharing(
            source=gs["source"],
            strategies={name: SharingStrategy(name, s["api"], s["label"])
                        for name, s in gs["strategies"].items()},
            min_clients=int(gs["min_clients_per_gpu"]),
            max_clients=int(gs["max_clients_per_gpu"]),
            strategy_label=gs["strategy_label"], clients_label=gs["clients_label"],
            max_gpus_per_container=int(gs["max_gpus_per_container"]),
            accelerators=tuple(gs["accelerators"])),
        vertex=VertexCapacity(
            strategies=dict(vx["strategies"]),
            flex_start_accelerators=tuple(vx["flex_start_accelerators"]),
            flex_start_max_hours=int(vx["flex_start_max_hours"]),
            persistent_min_replicas=int(vx["persistent_min_replicas"]),
            sources={k: vx[k] for k in ("scheduling_source", "spot_source",
                                        "persistent_source")}),
        images={name: GpuImage(name, str(i["build"]),
                               tuple(i.get("compute_capabilities") or ()),
                               i.get("min_driver"), i.get("cuda_runtime"))
                for name, i in raw["gpu_images"].items()},
        compute_capability={k: str(v) for k, v in raw["compute_capability"].items()},
        driver_default_min_branch=int(raw["gke_drivers"]["default_min_branch"]),
        driver_latest=str(raw["gke_drivers"]["latest"]),
    )


@cache
def capacity() -> CapacityCatalog:
    """The shipped capacity catalog, loaded once per process."""
    return _load(CAPACITY_PATH)


@dataclass(frozen=True)
class ImageFit:
    """Whether one GPU image runs on one GPU with the drivers GKE installs."""

    image: str
    gpu: str
    capability: str
    code: bool
    """The image carries a binary or PTX the GPU can run."""
    driver_ok: bool
    """GKE's DEFAULT driver branch is at least the image's minimum driver."""

    @property
    def runs(self) -> bool:
        return self.code and self.driver_ok


def image_fits(cat: CapacityCatalog | None = None) -> list[ImageFit]:
    """Every GPU image of the catalog against every GPU: CUDA code and driver pairing."""
    cat = cat or capacity()
    fits = []
    for image in cat.images.values():
        if not image.uses_gpu or image.min_driver is None:
            continue
        for gpu, capability in cat.compute_capability.items():
            fits.append(ImageFit(image.name, gpu, capability, image.runs_on(capability),
                                 driver_branch(image.min_driver) <= cat.driver_default_min_branch))
    return fits
