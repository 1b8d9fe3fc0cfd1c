"""Names the platform gives project-wide resources, derived from the project and the stack.

Defined once here so that the program that creates the resources and the commands that point
at them (chart values for a training run, docs) agree. Every name carries the stack, so two
stacks of one project never declare the same object.
"""

from __future__ import annotations

PREFIX = "mlp"


def registry_id(stack: str) -> str:
    """The Artifact Registry repository of a stack (unique per project and region)."""
    return f"{PREFIX}-{stack}"


def registry_url(region: str, project: str, stack: str) -> str:
    """Where a stack's images are pushed: its `registryUrl` output."""
    return f"{region}-docker.pkg.dev/{project}/{registry_id(stack)}"


def bucket_prefix(project: str, stack: str) -> str:
    """Bucket names are global: the project id and the stack make them unique."""
    return f"{project}-{stack}"


def bucket_name(project: str, stack: str, role: str) -> str:
    return f"{bucket_prefix(project, stack)}-{role}"


def account_prefix(stack: str) -> str:
    """Prefix of the stack's service-account ids (`<prefix>-<role>`, 30 characters at most)."""
    return f"{PREFIX}-{stack}"


def cluster_name(stack: str) -> str:
    return f"{PREFIX}-{stack}"


def key_ring_name(stack: str) -> str:
    """Cloud KMS key rings are never deleted: a destroyed stack's ring stays, and a stack of the
    same name created later adopts nothing and fails to create it again."""
    return f"{PREFIX}-{stack}"
