"""Buckets for datasets, models and pipeline artifacts, and a Docker registry for images."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from facts.identities import BucketRole
from infra.components._opts import child_opts

BUCKET_ROLES: tuple[BucketRole, ...] = ("datasets", "models", "pipeline-root")
"""Buckets every flavour gets; `vertex-staging` is added when Vertex AI is used."""
TEMPORARY: frozenset[BucketRole] = frozenset({"pipeline-root", "vertex-staging"})
"""Buckets of intermediate files only, expired after the retention period."""
VERSIONED: frozenset[BucketRole] = frozenset({"datasets", "models"})
"""Buckets whose objects must survive an overwrite or a mistaken delete."""



@dataclass(frozen=True)
class StorageArgs:
    project: str
    region: str
    name_prefix: str
    """Globally unique bucket-name prefix, e.g. ``<project>-<stack>``."""
    registry_id: str
    """Artifact Registry repository id, unique in the project and region: it carries the stack,
    so two stacks of one project never declare (or destroy) the same repository."""
    labels: dict[str, str]
    protect: bool
    """Protect stateful resources so `pulumi destroy` refuses to delete them."""
    pipeline_root_retention_days: int
    noncurrent_versions_kept: int
    registry_keep_recent: int
    registry_untagged_max_age_days: int
    roles: tuple[BucketRole, ...] = BUCKET_ROLES


class Storage(pulumi.ComponentResource):
    """Private, uniformly-accessed buckets with lifecycle rules, and an Artifact Registry repo.

    Data and model buckets are versioned and keep a few noncurrent versions; the pipeline root
    holds intermediate artifacts only and expires them. With `protect`, Pulumi refuses to delete
    any of them, and `force_destroy` stays off so a non-empty bucket is never emptied by Pulumi.
    """

    buckets: dict[BucketRole, gcp.storage.Bucket]
    registry: gcp.artifactregistry.Repository
    registry_url: pulumi.Output[str]

    def __init__(self, name: str, args: StorageArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:Storage", name, None, opts)
        stateful = child_opts(self, opts, protect=args.protect)
        self.buckets = {
            role: gcp.storage.Bucket(
                f"{name}-{role}",
                project=args.project,
                name=f"{args.name_prefix}-{role}",
                location=args.region.upper(),
                storage_class="STANDARD",
                uniform_bucket_level_access=True,
                public_access_prevention="enforced",
                force_destroy=False,
                versioning=gcp.storage.BucketVersioningArgs(enabled=role in VERSIONED),
                lifecycle_rules=_lifecycle_rules(role, args),
                labels={**args.labels, "data-role": role},
                opts=stateful,
            )
            for role in args.roles
        }
        self.registry = gcp.artifactregistry.Repository(
            f"{name}-registry",
            project=args.project,
            location=args.region,
            repository_id=args.registry_id,
            format="DOCKER",
            description="Trainer and predictor images of the ml-platform workloads",
            labels=args.labels,
            cleanup_policy_dry_run=False,
            cleanup_policies=[
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="keep-recent",
                    action="KEEP",
                    most_recent_versions=gcp.artifactregistry
                    .RepositoryCleanupPolicyMostRecentVersionsArgs(
                        keep_count=args.registry_keep_recent),
                ),
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="delete-old-untagged",
                    action="DELETE",
                    condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                        tag_state="UNTAGGED",
                        older_than=f"{args.registry_untagged_max_age_days * 86400}s"),
                ),
            ],
            opts=stateful,
        )
        self.registry_url = pulumi.Output.concat(
            args.region, "-docker.pkg.dev/", args.project, "/", self.registry.repository_id)
        self.register_outputs({
            **{f"{role}_bucket": b.name for role, b in self.buckets.items()},
            "registry_url": self.registry_url,
        })


def _lifecycle_rules(role: BucketRole,
                     args: StorageArgs) -> list[gcp.storage.BucketLifecycleRuleArgs]:
    delete = gcp.storage.BucketLifecycleRuleActionArgs(type="Delete")
    if role in TEMPORARY:
        return [gcp.storage.BucketLifecycleRuleArgs(
            action=delete,
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                age=args.pipeline_root_retention_days))]
    return [
        gcp.storage.BucketLifecycleRuleArgs(
            action=delete,
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                num_newer_versions=args.noncurrent_versions_kept, with_state="ARCHIVED")),
        gcp.storage.BucketLifecycleRuleArgs(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type="AbortIncompleteMultipartUpload"),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=7)),
    ]
