"""Facts about the GCP project that only the Resource Manager knows."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp


def project_number(project: str) -> pulumi.Output[str]:
    """The project's number, which budgets and Google-managed service agents are named by."""
    return gcp.organizations.get_project_output(project_id=project).number
