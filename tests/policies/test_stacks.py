"""The pack against whole previews: the shipped stacks pass their mandatory policies, and an
insecure program trips each corresponding policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from facts.preview import UNKNOWN
from facts.stacks import stack_names, stack_path
from infra.preview import run_preview
from infra.stack_config import read_stack_file
from policies.runner import config_for_stack, evaluate

INSECURE = Path(__file__).parent / "insecure_program.py"


@pytest.fixture(scope="module")
def insecure_report():
    preview = run_preview(read_stack_file(stack_path("dev")), program=INSECURE)
    return evaluate(preview, config_for_stack("prod"))


@pytest.mark.parametrize("stack", stack_names())
def test_shipped_stack_passes_mandatory_policies(stack: str) -> None:
    preview = run_preview(read_stack_file(stack_path(stack)))
    report = evaluate(preview, config_for_stack(stack))
    assert report.mandatory == [], report.mandatory
    assert report.checks > 0
    # Values unknown at preview are counted and their checks reported, never passed silently.
    unknown = sum(str(r.inputs).count(UNKNOWN) for r in preview.resources)
    assert report.unknown_values == unknown > 0
    assert report.count("unknown") > 0


def test_the_capacity_example_stack_passes_its_mandatory_policies() -> None:
    from facts.stacks import REPO_ROOT

    example = REPO_ROOT / "stacks" / "examples" / "Pulumi.capacity.yaml"
    preview = run_preview(read_stack_file(example), mode="apply")
    report = evaluate(preview, config_for_stack("capacity"))  # no config file: pack defaults
    assert report.mandatory == [], report.mandatory
    assert report.checks > 0


@pytest.mark.parametrize(("policy", "resource"), [
    ("storage-bucket-private", "public-data"),
    ("no-public-iam-members", "public-read"),
    ("gke-no-default-node-sa", "gpu-fixed"),
    ("gke-no-default-node-sa", "open-cluster"),
    ("gke-no-broad-scopes-default-sa", "gpu-fixed"),
    ("gke-workload-identity", "open-cluster"),
    ("gke-metadata-server", "gpu-fixed"),
    ("gke-authorized-networks", "open-cluster"),
    ("gke-private-nodes", "open-cluster"),
    ("gpu-pool-autoscale-from-zero", "gpu-fixed"),
    ("gpu-pool-drivers", "gpu-fixed"),
    ("workload-image-pinned", "privileged-tfjob"),
    ("workload-no-privileged", "privileged-tfjob"),
    ("workload-restricted-security-context", "privileged-tfjob"),
    ("workload-namespace-and-ksa", "privileged-tfjob"),
    ("job-run-limits", "privileged-tfjob"),
])
def test_insecure_program_trips_policy(insecure_report, policy: str, resource: str) -> None:
    hits = [v for v in insecure_report.mandatory if v.policy == policy and v.resource == resource]
    assert hits, f"{policy} did not trip on {resource}"


def test_insecure_program_fails_overall(insecure_report) -> None:
    assert not insecure_report.passed
    assert {v.severity for v in insecure_report.mandatory} >= {"critical", "high"}
