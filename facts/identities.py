"""Workload identities: which Kubernetes service accounts, in which namespaces, act as which
Google service account, and what each may touch.

The table `WORKLOADS` is the single place that says it. The Pulumi program creates the accounts,
namespaces and bindings from it (`infra.components.identity`, `infra.components.kubeflow`); the
pipelines read it to name the accounts their steps run as.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BucketRole = Literal["datasets", "models", "pipeline-root", "vertex-staging"]
"""The platform's buckets by role; each stack creates the ones it uses."""

WorkloadName = Literal["pipelines", "training", "serving"]


@dataclass(frozen=True)
class Workload:
    """A Google service account used from pods through Workload Identity."""

    namespace: str
    ksas: tuple[str, ...]
    """Kubernetes service accounts allowed to act as this account (Workload Identity)."""
    description: str
    bucket_roles: dict[BucketRole, str]
    """Bucket → the one storage role this workload needs on it (where the bucket exists)."""
    vertex_roles: tuple[str, ...]
    """Project roles needed only when the workload runs on Vertex AI."""


WORKLOADS: dict[WorkloadName, Workload] = {
    "pipelines": Workload(
        # pipeline-runner runs the steps; ml-pipeline-ui reads artifacts to show them.
        namespace="kubeflow", ksas=("pipeline-runner", "ml-pipeline-ui"),
        description="Pipeline runs: read datasets, write artifacts and models, launch jobs",
        bucket_roles={"datasets": "roles/storage.objectViewer",
                      "pipeline-root": "roles/storage.objectAdmin",
                      "models": "roles/storage.objectAdmin",
                      "vertex-staging": "roles/storage.objectAdmin"},
        # jobUser: the BigQuery load job of batch predictions (the dataset grants the writes).
        vertex_roles=("roles/aiplatform.user", "roles/bigquery.jobUser")),
    "training": Workload(
        namespace="ml-training", ksas=("trainer",),
        description="Training jobs and tuning trials: read datasets, write checkpoints and models",
        bucket_roles={"datasets": "roles/storage.objectViewer",
                      "models": "roles/storage.objectAdmin",
                      "vertex-staging": "roles/storage.objectViewer"},
        vertex_roles=("roles/logging.logWriter", "roles/monitoring.metricWriter")),
    "serving": Workload(
        namespace="ml-serving", ksas=("predictor",),
        description="Model servers: read models (pipelines deploy them from the pipeline root)",
        bucket_roles={"models": "roles/storage.objectViewer",
                      "pipeline-root": "roles/storage.objectViewer"},
        vertex_roles=("roles/logging.logWriter", "roles/monitoring.metricWriter")),
}
