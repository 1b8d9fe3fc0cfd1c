"""Service accounts: a least-privilege node account and Workload Identity accounts per workload.

The accounts follow the table `facts.identities.WORKLOADS`, which says which Kubernetes service
account acts as which Google service account and what each may touch.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from facts.identities import WORKLOADS, BucketRole, WorkloadName
from infra.components._opts import child_opts

NODE_ROLES: tuple[str, ...] = ("roles/container.defaultNodeServiceAccount",)
"""GKE's predefined minimal node role: logs, metrics, resource metadata. Nothing else."""

@dataclass(frozen=True)
class IdentityArgs:
    project: str
    account_prefix: str
    """Prefix of account ids (6-30 chars in all), e.g. ``mlp-dev``."""
    buckets: dict[BucketRole, gcp.storage.Bucket]
    registry: gcp.artifactregistry.Repository
    workload_identity: bool
    """Bind each workload account to its Kubernetes service accounts (needs a GKE cluster)."""
    vertex: bool
    """Grant the project roles Vertex AI jobs and endpoints need."""


class Identity(pulumi.ComponentResource):
    """The node service account and one Workload Identity service account per workload.

    Nodes never use the Compute Engine default account (which holds Editor); they get GKE's minimal
    node role plus read access to this stack's registry. Workloads get bucket-level roles, the
    few project roles Vertex AI needs when it is used, and only the Kubernetes service accounts
    named in `WORKLOADS` may impersonate them.
    """

    node_sa: gcp.serviceaccount.Account | None
    """Only with a cluster: the account GKE nodes run as."""
    workload_sas: dict[WorkloadName, gcp.serviceaccount.Account]

    def __init__(self, name: str, args: IdentityArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:Identity", name, None, opts)
        child = child_opts(self, opts)
        self.node_sa = self._node_account(name, args, child) if args.workload_identity else None
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
                if bucket_role in args.buckets:
                    gcp.storage.BucketIAMMember(
                        f"{name}-{workload}-{bucket_role}",
                        bucket=args.buckets[bucket_role].name, role=role, member=member,
                        opts=child)
            for role in spec.vertex_roles if args.vertex else ():
                gcp.projects.IAMMember(
                    f"{name}-{workload}-{role.split('/')[-1]}",
                    project=args.project, role=role, member=member, opts=child)
            for ksa in spec.ksas if args.workload_identity else ():
                gcp.serviceaccount.IAMMember(
                    f"{name}-{workload}-wi-{ksa}",
                    service_account_id=sa.name,
                    role="roles/iam.workloadIdentityUser",
                    member=f"serviceAccount:{args.project}.svc.id.goog[{spec.namespace}/{ksa}]",
                    opts=child,
                )
            self.workload_sas[workload] = sa
        if args.vertex:
            # Pipelines launch custom jobs that run as the training account, and deploy models
            # that serve as the serving account.
            for runs_as in ("training", "serving"):
                gcp.serviceaccount.IAMMember(
                    f"{name}-pipelines-act-as-{runs_as}",
                    service_account_id=self.workload_sas[runs_as].name,
                    role="roles/iam.serviceAccountUser",
                    member=self.workload_sas["pipelines"].email.apply(
                        lambda e: f"serviceAccount:{e}"),
                    opts=child,
                )
        self.register_outputs({
            **({"node_service_account": self.node_sa.email} if self.node_sa else {}),
            **{f"{w}_service_account": sa.email for w, sa in self.workload_sas.items()},
        })

    @staticmethod
    def _node_account(name: str, args: IdentityArgs,
                      child: pulumi.ResourceOptions) -> gcp.serviceaccount.Account:
        node_sa = gcp.serviceaccount.Account(
            f"{name}-nodes",
            project=args.project,
            account_id=f"{args.account_prefix}-nodes",
            display_name="GKE nodes (ml-platform)",
            opts=child,
        )
        node_member = node_sa.email.apply(lambda e: f"serviceAccount:{e}")
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
        return node_sa
