"""The workload images: their repository names in a stack's registry and how their tags read.

The Pulumi program deploys them, the pipelines and Vertex AI jobs run them, the policies check
pods that name them; all take the names from here.
"""

from __future__ import annotations

TRAINER_IMAGE = "cifar10-trainer"
"""Repository name of the trainer image in a stack's registry (docker/Dockerfile.trainer)."""
PREDICTOR_IMAGE = "cifar10-predictor"
"""Repository name of the predictor image (docker/Dockerfile.predictor); a CPU build only."""
GPU_TAG_SUFFIX = "-gpu"
"""Tag suffix of the trainer's CUDA build (Dockerfile.trainer with VARIANT=gpu)."""


def trainer_tag(tag: str, gpu: bool) -> str:
    """The trainer image tag to run: the CUDA build on GPU nodes, the plain build elsewhere."""
    return tag + GPU_TAG_SUFFIX if gpu else tag
