"""The policy pack's contents: every policy, in catalogue order. Importing this module does not
start anything; `policies/__main__.py` hands `all_policies()` to `PolicyPack`."""

from __future__ import annotations

from policies import gpu_cost, reliability, security, workloads
from policies.base import MlpPolicy

PACK_NAME = "ml-platform"
PACK_DESCRIPTION = ("GKE, GPU-cost and ML-workload guardrails for ml-platform: cluster hardening, "
                    "GPU pools that scale from zero, and checks inside TFJob, Katib Experiment "
                    "and InferenceService pod templates.")

_ORDER = {"SEC": 0, "WL": 1, "REL": 2, "COST": 3}


def all_policies() -> list[MlpPolicy]:
    """Every policy of the pack, sorted by catalogue id (SEC, WL, REL, COST).

    Names and ids are each unique: a report, a SARIF rule or an exemption that names one must
    point at exactly one policy."""
    policies: list[MlpPolicy] = [*security.POLICIES, *workloads.POLICIES,
                                 *reliability.POLICIES, *gpu_cost.POLICIES]
    for label, values in (("names", [p.name for p in policies]),
                          ("ids", [p.rule.id for p in policies])):
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise ValueError(f"duplicate policy {label}: {duplicates}")

    def key(p: MlpPolicy) -> tuple[int, int]:
        prefix, number = p.rule.id.split("-")
        return _ORDER[prefix], int(number)

    return sorted(policies, key=key)
