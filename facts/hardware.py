"""The hardware catalog: machine shapes, GPU attachment rules and GPU zones.

One data table (`facts/data/hardware.yaml`) read here into typed objects. Stack validation asks it
which GPUs attach to a machine and where they exist; the cost module asks it for machine shapes so
vCPU and memory figures are never copied next to prices.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import yaml

CATALOG_PATH = Path(__file__).parent / "data" / "hardware.yaml"

GPU_TAINT_KEY = "nvidia.com/gpu"
"""Taint key of GPU nodes; GKE taints GPU pools with it and pods that want a GPU tolerate it."""

_MACHINE_TYPE = re.compile(r"^(?P<family>[a-z][a-z0-9]*)-(?P<shape>[a-z]+)-(?P<vcpus>\d+)$")


class UnknownMachineType(ValueError):
    """A machine type the catalog does not know; the message says what it does know."""


AttachmentField = Literal["accelerator", "accelerator_type", "accelerator_count", "machine_type"]


class AttachmentError(ValueError):
    """GPUs that cannot be attached to a machine as asked; `field` names the input at fault."""

    def __init__(self, field: AttachmentField, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class MachineShape:
    """A predefined machine type, e.g. ``n1-standard-32``."""

    name: str
    family: str
    shape: str
    vcpus: int
    memory_gb: float


@dataclass(frozen=True)
class GpuLimit:
    """The largest host an N1 machine may be for a given number of GPUs."""

    max_vcpus: int
    max_memory_gb: float


@dataclass(frozen=True)
class Accelerator:
    """A GPU type as GKE names it (``nvidia-tesla-t4``), with its attachment limits."""

    name: str
    display_name: str
    vertex_name: str
    memory_gb: int
    tier: str
    limits: dict[int, GpuLimit]
    peak_tflops: dict[str, str] = field(default_factory=dict)
    """Dense peak TFLOPS by precision (`fp16`, `fp32`) as exact decimal strings."""
    peak_sources: tuple[str, ...] = ()
    peak_note: str = ""
    device_names: tuple[str, ...] = ()
    """How CUDA names this GPU, e.g. `Tesla T4`."""

    @property
    def allowed_counts(self) -> tuple[int, ...]:
        return tuple(sorted(self.limits))


@dataclass(frozen=True)
class Family:
    """A machine family and the rules for attaching GPUs to it."""

    name: str
    description: str
    shapes: dict[str, tuple[float, tuple[int, ...]]]
    accelerators_attachable: tuple[str, ...]
    fixed_gpus: dict[int, int]


@dataclass(frozen=True)
class HardwareCatalog:
    """Everything in ``hardware.yaml``, typed."""

    as_of: str
    sources: dict[str, str]
    families: dict[str, Family]
    accelerators: dict[str, Accelerator]
    regions: dict[str, dict[str, tuple[str, ...]]]

    def machine(self, machine_type: str) -> MachineShape:
        """Return the shape of a predefined machine type.

        Raises:
            UnknownMachineType: naming what the catalog does know.
        """
        match = _MACHINE_TYPE.match(machine_type)
        if not match:
            raise UnknownMachineType(
                f"'{machine_type}' is not of the form <family>-<shape>-<vcpus>")
        family_name, shape_name = match["family"], match["shape"]
        vcpus = int(match["vcpus"])
        family = self.families.get(family_name)
        if family is None:
            raise UnknownMachineType(f"family '{family_name}' is not in the catalog; known: "
                           f"{', '.join(sorted(self.families))}")
        if shape_name not in family.shapes:
            raise UnknownMachineType(f"{family_name} has no '{shape_name}' shapes; known: "
                           f"{', '.join(f'{family_name}-{s}' for s in sorted(family.shapes))}")
        memory_per_vcpu, sizes = family.shapes[shape_name]
        if vcpus not in sizes:
            raise UnknownMachineType(f"{family_name}-{shape_name} comes with "
                           f"{', '.join(map(str, sizes))} vCPUs, not {vcpus}")
        return MachineShape(machine_type, family_name, shape_name, vcpus,
                            round(memory_per_vcpu * vcpus, 2))

    def check_attachment(self, machine_type: str, accelerator: str | None,
                         count: int) -> MachineShape:
        """Check that `count` GPUs of type `accelerator` (GKE name, or None) fit `machine_type`.

        The one place the attachment rules live: which family takes which GPU, in which counts,
        up to which host size; shapes with built-in GPUs (G2) take exactly their own count.

        Raises:
            UnknownMachineType: if the machine type is not in the catalog.
            AttachmentError: naming the field at fault and what would be accepted.
        """
        machine = self.machine(machine_type)
        family = self.families[machine.family]
        if accelerator is None:
            if family.fixed_gpus:
                raise AttachmentError(
                    "accelerator", f"{machine_type} comes with {family.fixed_gpus[machine.vcpus]} "
                    f"GPU(s); declare them with type {', '.join(family.accelerators_attachable)}")
            if count:
                raise AttachmentError("accelerator_count", f"{count} GPU(s) need an accelerator "
                                      f"type; known GPUs: {', '.join(sorted(self.accelerators))}")
            return machine
        if accelerator not in self.accelerators:
            raise AttachmentError("accelerator_type",
                                  f"known GPUs: {', '.join(sorted(self.accelerators))}")
        if accelerator not in family.accelerators_attachable:
            families = sorted(f.name for f in self.families.values()
                              if accelerator in f.accelerators_attachable)
            raise AttachmentError(
                "accelerator_type", f"{accelerator} attaches only to {', '.join(families)} "
                f"machines, not {machine_type}; {machine_type} takes: "
                f"{', '.join(family.accelerators_attachable) or 'no GPUs'}")
        gpu = self.accelerators[accelerator]
        if family.fixed_gpus:
            fixed = family.fixed_gpus[machine.vcpus]
            if count != fixed:
                raise AttachmentError("accelerator_count",
                                      f"{machine_type} comes with exactly {fixed}")
            return machine
        if count not in gpu.limits:
            raise AttachmentError("accelerator_count", f"{accelerator} attaches in counts of "
                                  f"{', '.join(map(str, gpu.allowed_counts))}")
        limit = gpu.limits[count]
        if machine.vcpus > limit.max_vcpus or machine.memory_gb > limit.max_memory_gb:
            fitting = [n for n in gpu.allowed_counts
                       if machine.vcpus <= gpu.limits[n].max_vcpus
                       and machine.memory_gb <= gpu.limits[n].max_memory_gb]
            raise AttachmentError(
                "machine_type", f"{count} x {accelerator} allows at most {limit.max_vcpus} vCPUs "
                f"and {limit.max_memory_gb:g} GB; {machine_type} has {machine.vcpus} vCPUs and "
                f"{machine.memory_gb:g} GB"
                + (f" (it would fit with {fitting[0]} GPUs)" if fitting else ""))
        return machine

    def machine_types(self) -> list[str]:
        """Every predefined machine type in the catalog, for messages and tests."""
        return [f"{f.name}-{shape}-{n}"
                for f in self.families.values()
                for shape, (_, sizes) in f.shapes.items()
                for n in sizes]

    def accelerator_named(self, device_name: str) -> Accelerator | None:
        """The GPU whose CUDA device name is `device_name` (`Tesla T4`), or None."""
        for gpu in self.accelerators.values():
            if device_name.strip() in gpu.device_names:
                return gpu
        return None

    def zones(self, region: str) -> tuple[str, ...]:
        return tuple(self.regions[region])

    def zones_offering(self, region: str, accelerator: str) -> tuple[str, ...]:
        return tuple(z for z, gpus in self.regions[region].items() if accelerator in gpus)


def _load(path: Path) -> HardwareCatalog:
    raw = yaml.safe_load(path.read_text())
    families = {
        name: Family(
            name=name,
            description=f["description"],
            shapes={s: (float(v["memory_gb_per_vcpu"]), tuple(v["vcpus"]))
                    for s, v in f["shapes"].items()},
            accelerators_attachable=tuple(f["accelerators_attachable"]),
            fixed_gpus={int(k): int(v) for k, v in (f.get("fixed_gpus") or {}).items()},
        )
        for name, f in raw["families"].items()
    }
    accelerators = {
        name: Accelerator(
            name=name,
            display_name=a["display_name"],
            vertex_name=a["vertex_name"],
            memory_gb=int(a["memory_gb"]),
            tier=a["tier"],
            limits={int(n): GpuLimit(int(v["max_vcpus"]), float(v["max_memory_gb"]))
                    for n, v in a["limits"].items()},
            peak_tflops={str(k): str(v) for k, v in (a.get("peak_tflops") or {}).items()},
            peak_sources=tuple(a.get("peak_sources") or ()),
            peak_note=str(a.get("peak_note") or ""),
            device_names=tuple(a.get("device_names") or ()),
        )
        for name, a in raw["accelerators"].items()
    }
    regions = {r: {z: tuple(g) for z, g in v["zones"].items()} for r, v in raw["regions"].items()}
    return HardwareCatalog(str(raw["as_of"]), dict(raw["sources"]), families, accelerators, regions)


@cache
def catalog() -> HardwareCatalog:
    """The shipped hardware catalog, loaded once per process."""
    return _load(CATALOG_PATH)
