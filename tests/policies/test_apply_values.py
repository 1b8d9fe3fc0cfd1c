"""Policies evaluate on the values an apply gives, and the dev gate can fail."""

from __future__ import annotations

import dataclasses

import pytest

from facts.preview import Preview
from facts.stacks import stack_path
from infra.preview import run_preview
from infra.stack_config import read_stack_file
from policies.runner import config_for_stack, evaluate


def applied(stack: str) -> Preview:
    return run_preview(read_stack_file(stack_path(stack)), mode="apply")


@pytest.mark.parametrize("stack", ["dev", "prod", "vertex"])
def test_no_check_is_skipped_for_values_unknown_at_preview(stack):
    """In preview mode SEC-10, SEC-11 and SEC-15 cannot read service-account emails (dev 14,
    prod 17, vertex 9 skipped checks); on the values an apply gives they are evaluated."""
    before = evaluate(run_preview(read_stack_file(stack_path(stack))), config_for_stack(stack))
    after = evaluate(applied(stack), config_for_stack(stack))
    assert before.count("unknown") > 0
    assert after.count("unknown") == 0 and after.checks >= before.checks
    assert after.passed


def test_the_dev_gate_fails_on_an_insecure_cluster():
    preview = applied("dev")
    insecure = Preview(preview.stack, preview.project, [
        dataclasses.replace(r, inputs={**r.inputs, "enableLegacyAbac": True})
        if r.type == "gcp:container/cluster:Cluster" else r
        for r in preview.resources], preview.outputs)
    report = evaluate(insecure, config_for_stack("dev"))
    assert [v.policy for v in report.mandatory] == ["gke-no-legacy-auth"]
