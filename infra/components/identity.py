"""Service accounts: a least-privilege node account and Workload Identity accounts per workload.

The table `WORKLOADS` is the single place that says which Kubernetes service account acts as which
Google service account and what each may touch. The Kubeflow install reads it to create the
namespaces and annotated Kubernetes service accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_gcp as gcp

from infra.components._opts import child_opts
from infra.components.storage import BucketRole

NODE_ROLES: tuple[str, ...] = ("roles/container.defaultNodeServiceAccount",)
"""GKE's predefined minimal node role: logs, metrics, resource metadata. Nothing else."""

WorkloadName = Literal["pipelines", "training", "serving"]


@dataclass(frozen=True)
class Workload:
    """A Google service account used from pods through Workload Identity."""

    namespace: str
    ksa: str
    description: str
    bucket_roles: dict[BucketRole, str]
    """Bucket → the one storage role this workload needs on it."""


WORKLOADS: dict[WorkloadName, Workload] = {
    "pipelines": Workload(
        namespace="kubeflow", ksa="pipeline-runner",
        description="Kubeflow Pipelines runs: read datasets, write artifacts and models",
        bucket_roles={"datasets": "roles/storage.objectViewer",
                      "pipeline-root": "roles/storage.objectAdmin",
                      "models": "roles/storage.objectAdmin"}),
    "training": Workload(
        namespace="ml-training", ksa="trainer",
        description="TFJobs and Katib trials: read datasets, write checkpoints and models",
        bucket_roles={"datasets": "roles/storage.objectViewer",
                      "models": "roles/storage.objectAdmin"}),
    "serving": Workload(
        namespace="ml-serving", ksa="predictor",
        description="KServe predictors: read models only",
        bucket_roles={"models": "roles/storage.objectViewer"}),
}


@dataclass(frozen=True)
class IdentityArgs:
    project: str
    account_prefix: str
    """Prefix of account ids (6-30 chars in all), e.g. ``mlp-dev``."""
    buckets: dict[BucketRole, gcp.storage.Bucket]
    registry: gcp.artifactregistry.Repository


class Identity(pulumi.ComponentResource):
    """The node service account and one Workload Identity service account per workload.

    Nodes never use the Compute Engine default account (which holds Editor); they get GKE's minimal
    node role plus read access to this stack's registry. Workloads get bucket-level roles only, and
    only the Kubernetes service account named in `WORKLOADS` may impersonate each.
    """

    node_sa: gcp.serviceaccount.Account
    workload_sas: dict[WorkloadName, gcp.serviceaccount.Account]

    def __init__(self, name: str, args: IdentityArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:Identity", name, None, opts)
        child = child_opts(self, opts)
        self.node_sa = gcp.serviceaccount.Account(
            f"{name}-nodes",
            project=args.project,
            account_id=f"{args.account_prefix}-nodes",
            display_name="GKE nodes (ml-platform)",
            opts=child,
        )
        node_member = self.node_sa.email.apply(lambda e: f"serviceAccount:{e}")
        for role in NODE_ROLES:
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.split('/')[-1]}",
                project=args.project, role=role, member=node_member, opts=child)
        gcp.artifactregistry.RepositoryIamMember(
            f"{name}-nodes-registry-reader",
            project=args.project,
            location=args.registry.location,
            repository=args.registry.name,
            role="roles/artifactregistry.reader",
            member=node_member,
            opts=child,
        )

        self.workload_sas = {}
        for workload, spec in WORKLOADS.items():
            sa = gcp.serviceaccount.Account(
                f"{name}-{workload}",
                project=args.project,
                account_id=f"{args.account_prefix}-{workload}",
                display_name=f"{workload} workloads (ml-platform)",
                description=spec.description,
                opts=child,
            )
            member = sa.email.apply(lambda e: f"serviceAccount:{e}")
            for bucket_role, role in spec.bucket_roles.items():
                gcp.storage.BucketIAMMember(
                    f"{name}-{workload}-{bucket_role}",
                    bucket=args.buckets[bucket_role].name, role=role, member=member, opts=child)
            gcp.serviceaccount.IAMMember(
                f"{name}-{workload}-wi",
                service_account_id=sa.name,
                role="roles/iam.workloadIdentityUser",
                member=f"serviceAccount:{args.project}.svc.id.goog[{spec.namespace}/{spec.ksa}]",
                opts=child,
            )
            self.workload_sas[workload] = sa
        self.register_outputs({
            "node_service_account": self.node_sa.email,
            **{f"{w}_service_account": sa.email for w, sa in self.workload_sas.items()},
        })
