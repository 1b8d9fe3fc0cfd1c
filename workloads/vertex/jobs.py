"""Vertex AI training jobs for the CIFAR-10 trainer, as google-cloud-aiplatform objects.

- `custom_job`: one worker, or a chief plus workers (Vertex AI sets `TF_CONFIG` on each replica,
  and the trainer picks `MultiWorkerMirroredStrategy` from it).
- `tuning_job`: a `HyperparameterTuningJob` whose search comes from a search-space data file
  (`workloads.tuning.space.vertex_spec`) and whose trials run the same trainer on the space's
  machine.

Building a job makes no network call: `request(job)` returns the request body the job would send.
Machines and GPUs are checked against the hardware catalog (`facts/hardware.py`), and GPUs are
given to Vertex AI under the catalog's Vertex name, before anything is built. A job's capacity
(`Scheduling`: on demand, Spot VMs or Dynamic Workload Scheduler flex-start, or a persistent
resource) is checked against the capacity catalog (`facts/data/capacity.yaml`) and written into
the request, so a dry run shows what Vertex AI will be asked for.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from facts.capacity import capacity
from facts.hardware import AttachmentError, UnknownMachineType, catalog
from workloads.tuning.space import SearchSpace, vertex_spec

TRAINER_COMMAND = ["python", "-m", "workloads.cifar10.train"]
DEFAULT_LABELS = {"app": "cifar10", "managed-by": "ml-platform"}


class JobError(ValueError):
    """A job that cannot be built as asked; the message names the field, value and rule."""


@dataclass(frozen=True)
class Machine:
    """One replica's machine: a catalog machine type and optional GPUs (GKE names)."""

    machine_type: str
    accelerator: str | None = None
    accelerator_count: int = 0

    def spec(self) -> dict[str, Any]:
        """The `machine_spec` of a worker pool, GPU under its Vertex AI name.

        Raises:
            JobError: naming `machine_type`, `accelerator` or `accelerator_count`, with the
                hardware catalog's reason.
        """
        cat = catalog()
        try:
            cat.check_attachment(self.machine_type, self.accelerator, self.accelerator_count)
        except UnknownMachineType as err:
            raise JobError(f"machine_type {self.machine_type!r}: {err}") from None
        except AttachmentError as err:
            field = "accelerator" if err.field == "accelerator_type" else err.field
            value = getattr(self, field)
            raise JobError(f"{field} {value!r}: {err}") from None
        spec: dict[str, Any] = {"machine_type": self.machine_type}
        if self.accelerator is None:
            return spec
        return spec | {"accelerator_type": cat.accelerators[self.accelerator].vertex_name,
                       "accelerator_count": self.accelerator_count}


MAX_WAIT_HOURS = 315_576_000_000 // 3600
"""The longest wait `max_wait_duration` can carry: a protobuf Duration holds at most
315,576,000,000 seconds (google/protobuf/duration.proto)."""


@dataclass(frozen=True)
class Scheduling:
    """How Vertex AI obtains a job's machines: `Scheduling.strategy` and its maximum wait.

    standard: on-demand machines; spot: Spot VMs, cheaper and preemptible (the trainer resumes
    from its checkpoint); flex-start: Dynamic Workload Scheduler starts the job when all its GPUs
    are free, waiting at most `max_wait_hours` (0: as long as it takes).
    """

    strategy: str = "standard"
    max_wait_hours: float | None = None
    persistent_resource: str | None = None
    """Run on this persistent resource (reserved capacity) instead of new machines."""

    @property
    def enum_name(self) -> str:
        return capacity().vertex.strategies[self.strategy]

    def check(self, machine: Machine) -> None:
        """Refuse a strategy Vertex AI would refuse for this machine and GPU.

        Raises:
            JobError: naming `scheduling`, `max_wait_hours` or `persistent_resource`.
        """
        vx = capacity().vertex
        if self.strategy not in vx.strategies:
            raise JobError(f"scheduling {self.strategy!r} is not allowed; use one of "
                           f"{', '.join(vx.strategies)}")
        if self.strategy == "flex-start" and machine.accelerator not in \
                vx.flex_start_accelerators:
            raise JobError(
                f"scheduling 'flex-start' needs one of {', '.join(vx.flex_start_accelerators)} "
                f"(Dynamic Workload Scheduler on Vertex AI takes L4, A100, H100, H200 and B200 "
                f"GPUs; {vx.sources['scheduling_source']}), not "
                f"{machine.accelerator or 'no GPU'} on {machine.machine_type}")
        if self.max_wait_hours is not None:
            if self.strategy != "flex-start":
                raise JobError(f"max_wait_hours {self.max_wait_hours:g} applies only to "
                               "scheduling 'flex-start'")
            if not math.isfinite(self.max_wait_hours) or not (
                    0 <= self.max_wait_hours <= MAX_WAIT_HOURS):
                raise JobError(f"max_wait_hours {self.max_wait_hours!r} must be a number of "
                               f"hours from 0 to {MAX_WAIT_HOURS:,} (0 waits as long as it "
                               "takes)")
        if self.persistent_resource is not None:
            if not _RESOURCE_ID.fullmatch(self.persistent_resource):
                raise JobError(f"persistent_resource {self.persistent_resource!r} is not a "
                               "resource id (1-63 lowercase letters, digits or hyphens, "
                               "starting with a letter)")
            if self.strategy != "standard":
                raise JobError(f"scheduling {self.strategy!r} cannot run on a persistent "
                               "resource, whose machines are already reserved; use standard")

    def proto(self) -> Any:
        """`Scheduling` of the job spec, or None for plain on-demand scheduling."""
        if self.strategy == "standard" and self.max_wait_hours is None:
            return None
        from google.cloud.aiplatform_v1.types import custom_job as gca
        from google.protobuf import duration_pb2

        wait = (duration_pb2.Duration(seconds=round(self.max_wait_hours * 3600))
                if self.max_wait_hours is not None else None)
        return gca.Scheduling(strategy=gca.Scheduling.Strategy[self.enum_name],
                              max_wait_duration=wait)

    def run_kwargs(self) -> dict[str, Any]:
        """What `submit`/`run` must be given: the SDK writes the job's scheduling again there."""
        proto = self.proto()
        if proto is None:
            return {}
        return {"scheduling_strategy": proto.strategy,
                "max_wait_duration": round(self.max_wait_hours * 3600)
                if self.max_wait_hours is not None else None}


_RESOURCE_ID = re.compile(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?")


def worker_pool_specs(image: str, machine: Machine, args: Sequence[str] = (),
                      replicas: int = 1) -> list[dict[str, Any]]:
    """Worker pools for `replicas` identical machines: pool 0 is the chief, pool 1 the rest."""
    if replicas < 1:
        raise JobError(f"replicas {replicas} is not allowed; use 1 or more")
    container = {"image_uri": image, "command": TRAINER_COMMAND, "args": list(args)}
    spec = machine.spec()
    pools = [{"machine_spec": spec, "replica_count": 1, "container_spec": container}]
    if replicas > 1:
        pools.append({"machine_spec": dict(spec), "replica_count": replicas - 1,
                      "container_spec": dict(container)})
    return pools


def _credentials(credentials: Any) -> Any:
    if credentials is not None:
        return credentials
    from google.auth.credentials import AnonymousCredentials

    # Building a job sends nothing; real credentials are looked up by submit() when given None.
    return AnonymousCredentials()


def custom_job(display_name: str, image: str, machine: Machine, *, project: str, location: str,
               staging_bucket: str, args: Sequence[str] = (), replicas: int = 1,
               base_output_dir: str | None = None, labels: Mapping[str, str] | None = None,
               credentials: Any = None, scheduling: Scheduling | None = None) -> Any:
    """An `aiplatform.CustomJob` running the trainer on `replicas` machines (not submitted).

    `base_output_dir` becomes `AIP_MODEL_DIR`/`AIP_CHECKPOINT_DIR`/`AIP_TENSORBOARD_LOG_DIR` in
    the containers, which the trainer uses as its defaults. `scheduling` (checked for the
    machine) goes into the job spec; submit the job with `scheduling.run_kwargs()`.
    """
    from google.cloud import aiplatform

    scheduling = scheduling or Scheduling()
    if not staging_bucket.startswith("gs://"):
        raise JobError(f"staging_bucket {staging_bucket!r} must be a gs:// URI")
    pools = worker_pool_specs(image, machine, args, replicas)
    scheduling.check(machine)
    job = aiplatform.CustomJob(
        display_name=display_name,
        worker_pool_specs=pools,
        base_output_dir=base_output_dir or f"{staging_bucket.rstrip('/')}/{display_name}",
        project=project, location=location, staging_bucket=staging_bucket,
        labels=dict(labels or DEFAULT_LABELS), credentials=_credentials(credentials),
        persistent_resource_id=scheduling.persistent_resource)
    proto = scheduling.proto()
    if proto is not None:
        job._gca_resource.job_spec.scheduling = proto
    return job


def space_machine(space: SearchSpace) -> Machine:
    """The trial machine a search space names (`NotExpressible` is raised by `vertex_spec`)."""
    if space.machine is None:
        raise JobError(f"{space.name}: no machine for Vertex AI trials")
    return Machine(space.machine.machine_type, space.machine.accelerator_type,
                   space.machine.accelerator_count)


def tuning_job(space: SearchSpace, image: str, *, project: str, location: str,
               staging_bucket: str, fixed_args: Sequence[str] = (),
               labels: Mapping[str, str] | None = None, credentials: Any = None,
               scheduling: Scheduling | None = None) -> Any:
    """An `aiplatform.HyperparameterTuningJob` for `space` (not submitted).

    Each trial runs the trainer with `fixed_args` plus `--<parameter>=<value>` for the space's
    parameters (Vertex AI appends those), and reports the space's metric through
    cloudml-hypertune (`--hypertune-metric`).
    """
    from google.cloud import aiplatform

    search = vertex_spec(space)
    args = [*fixed_args, f"--hypertune-metric={space.objective.metric}"]
    trial = custom_job(f"{space.name}-trial", image, space_machine(space), project=project,
                       location=location, staging_bucket=staging_bucket, args=args,
                       labels=labels, credentials=credentials, scheduling=scheduling)
    job = aiplatform.HyperparameterTuningJob(
        display_name=space.name, custom_job=trial, project=project, location=location,
        labels=dict(labels or DEFAULT_LABELS), credentials=_credentials(credentials), **search)
    proto = (scheduling or Scheduling()).proto()
    if proto is not None:
        job._gca_resource.trial_job_spec.scheduling = proto
    return job


def request(job: Any) -> dict[str, Any]:
    """The request body `job` would send (its proto as a dict, enums by name)."""
    resource = job._gca_resource
    return type(resource).to_dict(resource, use_integers_for_enums=False,
                                  preserving_proto_field_name=True)
