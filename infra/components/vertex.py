"""Vertex AI resources for the managed flavour: a TensorBoard, an Endpoint, the BigQuery dataset
batch predictions are loaded into and, when a stack declares one, a persistent resource
(reserved training capacity).

Jobs (custom training, hyperparameter tuning, pipelines), model upload and deployment to the
endpoint are API calls made by the workloads, not declarable resources; this component creates
what they need and exports it.

The region's `default` Metadata Store is deliberately not declared. Vertex AI creates it on the
first pipeline run or experiment, so in a region that has used Vertex AI it already exists: a
declared one fails to create there, and if it were adopted, `pulumi destroy` would delete the
lineage of every pipeline run in the region, this stack's or not.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components._opts import child_opts


@dataclass(frozen=True)
class PersistentResourceArgs:
    """Machines Vertex AI keeps for the stack's training jobs while the resource exists."""

    name: str
    machine_type: str
    accelerator_type: str | None
    """The Vertex AI accelerator name (NVIDIA_TESLA_T4), or None."""
    accelerator_count: int
    replicas: int
    max_replicas: int | None


@dataclass(frozen=True)
class VertexArgs:
    project: str
    region: str
    stack: str
    endpoint_display_name: str
    tensorboard_display_name: str
    labels: dict[str, str]
    persistent_resource: PersistentResourceArgs | None = None
    pipelines_account: pulumi.Input[str] | None = None
    """Writes batch predictions into the predictions dataset (BigQuery load jobs)."""


def predictions_dataset_id(stack: str) -> str:
    """The BigQuery dataset batch predictions are loaded into: letters, digits, underscores."""
    return f"mlp_{stack.replace('-', '_')}_predictions"


def endpoint_id(project: str, stack: str) -> str:
    """A stable numeric endpoint id for a project and stack.

    Vertex endpoint ids are numbers of at most 10 digits that the creator may choose; deriving one
    from the project and stack keeps it stable across `pulumi up` runs and distinct per stack.
    """
    digest = int(hashlib.sha256(f"{project}/{stack}".encode()).hexdigest(), 16)
    return str(1_000_000_000 + digest % 9_000_000_000)


class VertexAi(pulumi.ComponentResource):
    """TensorBoard for training curves and the CIFAR-10 endpoint."""

    endpoint: gcp.vertex.AiEndpoint
    tensorboard: gcp.vertex.AiTensorboard
    predictions: gcp.bigquery.Dataset
    persistent_resource: gcp.vertex.AiPersistentResource | None

    def __init__(self, name: str, args: VertexArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:VertexAi", name, None, opts)
        child = child_opts(self, opts)
        self.tensorboard = gcp.vertex.AiTensorboard(
            f"{name}-tensorboard",
            project=args.project,
            region=args.region,
            display_name=args.tensorboard_display_name,
            description="Training curves of the CIFAR-10 jobs",
            labels=args.labels,
            opts=child,
        )
        self.endpoint = gcp.vertex.AiEndpoint(
            f"{name}-endpoint",
            project=args.project,
            name=endpoint_id(args.project, args.stack),
            location=args.region,
            region=args.region,
            display_name=args.endpoint_display_name,
            description="Online predictions of the CIFAR-10 model",
            labels=args.labels,
            opts=child,
        )
        # Batch predictions land here, one table per run (`mlp predict batch --target vertex`).
        self.predictions = gcp.bigquery.Dataset(
            f"{name}-predictions",
            project=args.project,
            dataset_id=predictions_dataset_id(args.stack),
            location=args.region,
            friendly_name="CIFAR-10 batch predictions",
            description="Batch prediction results: one table per run",
            labels=args.labels,
            opts=child,
        )
        if args.pipelines_account is not None:
            gcp.bigquery.DatasetIamMember(
                f"{name}-predictions-writer",
                project=args.project,
                dataset_id=self.predictions.dataset_id,
                role="roles/bigquery.dataEditor",
                member=pulumi.Output.from_input(args.pipelines_account).apply(
                    lambda e: f"serviceAccount:{e}"),
                opts=child,
            )
        self.persistent_resource = _persistent_resource(name, args, child)
        self.register_outputs({
            "endpoint": self.endpoint.name,
            "tensorboard": self.tensorboard.id,
            "predictions": self.predictions.dataset_id,
            **({"persistent_resource": self.persistent_resource.name}
               if self.persistent_resource else {}),
        })


def _persistent_resource(name: str, args: VertexArgs, opts: pulumi.ResourceOptions
                         ) -> gcp.vertex.AiPersistentResource | None:
    """Reserved training capacity: one resource pool of identical machines, billed while it
    exists; with `max_replicas`, Vertex AI scales the pool between the two counts."""
    res = args.persistent_resource
    if res is None:
        return None
    v = gcp.vertex
    return v.AiPersistentResource(
        f"{name}-persistent-resource",
        project=args.project,
        location=args.region,
        name=res.name,
        display_name=res.name,
        labels=args.labels,
        resource_pools=[v.AiPersistentResourceResourcePoolArgs(
            id=f"{res.name}-pool",
            machine_spec=v.AiPersistentResourceResourcePoolMachineSpecArgs(
                machine_type=res.machine_type,
                accelerator_type=res.accelerator_type,
                accelerator_count=res.accelerator_count or None),
            replica_count=str(res.replicas),
            autoscaling_spec=v.AiPersistentResourceResourcePoolAutoscalingSpecArgs(
                min_replica_count=str(res.replicas), max_replica_count=str(res.max_replicas))
            if res.max_replicas else None,
        )],
        # Jobs on the resource must name their own service account (`mlp vertex` submits as
        # the stack's training account) instead of Vertex AI's custom-code service agent.
        resource_runtime_spec=v.AiPersistentResourceResourceRuntimeSpecArgs(
            service_account_spec=v.AiPersistentResourceResourceRuntimeSpecServiceAccountSpecArgs(
                enable_custom_service_account=True)),
        opts=opts,
    )
