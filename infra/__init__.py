"""The Pulumi program of ml-platform: stack configuration, components, the offline preview."""

DEPENDS_ON: dict[str, str] = {
    "workloads": "the platform launches the workload's tuning studies: a stack's Katib values come "
                 "from the workload's search spaces and are checked against its typed Katib API "
                 "(`workloads.tuning`), which the workload's Vertex AI jobs read too.",
}
"""Packages of the same layer this one imports, and why (tests/layers/test_imports.py)."""
