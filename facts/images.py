"""The workload images: their repository names in a stack's registry and how their tags read.

The Pulumi program deploys them, the pipelines and Vertex AI jobs run them, the policies check
pods that name them; all take the names from here.
"""

from __future__ import annotations

import re

TRAINER_IMAGE = "cifar10-trainer"
"""Repository name of the trainer image in a stack's registry (docker/Dockerfile.trainer)."""
PREDICTOR_IMAGE = "cifar10-predictor"
"""Repository name of the predictor image (docker/Dockerfile.predictor); a CPU build only."""
GPU_TAG_SUFFIX = "-gpu"
"""Tag suffix of the trainer's CUDA build (Dockerfile.trainer with VARIANT=gpu)."""


def trainer_tag(tag: str, gpu: bool) -> str:
    """The trainer image tag to run: the CUDA build on GPU nodes, the plain build elsewhere."""
    return tag + GPU_TAG_SUFFIX if gpu else tag


TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
"""An image tag as Docker spells one: up to 128 letters, digits, `_`, `.`, `-`, not starting with
`.` or `-`."""
PINNED_TAG_RULE = ("a pinned image tag of letters, digits, '_', '.', '-' such as 0.1.0 "
                   "(not 'latest')")


def is_pinned_tag(tag: str) -> bool:
    """Whether `tag` is a valid tag that does not move: policy WL-06 refuses `latest`."""
    return tag != "latest" and TAG.match(tag) is not None


ALLOWED_REGISTRIES: tuple[str, ...] = (
    "*-docker.pkg.dev/*", "gcr.io/*", "*.gcr.io/*", "registry.k8s.io/*", "nvcr.io/nvidia/*",
    "ghcr.io/kubeflow/*", "docker.io/kubeflow/*", "docker.io/kubeflowkatib/*",
    "docker.io/kserve/*", "quay.io/jetstack/*")
"""Where the platform's pods may pull from (globs on `host/path`): Artifact Registry (the
stack's own images), Google's and Kubernetes' registries, NVIDIA's, and the upstream projects it
installs (Kubeflow, Katib, KServe, cert-manager). Policy WL-07's default."""
