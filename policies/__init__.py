"""The CrossGuard policy pack of ml-platform and its offline runner (see README.md)."""

from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "config"
"""The shipped per-stack policy configs, `config/<stack>.json`."""

DEPENDS_ON: dict[str, str] = {
    "cost": "COST-10 prices a stack's plan at its maximum size against its budget with cost's "
            "price catalog and plan pricing (`policies.gpu_cost`), so the pack carries cost.",
    "infra": "`mlp policy check <stack>` checks a stack's plan, and only the Pulumi program's "
             "offline preview says what a stack declares (`infra.sources.preview_from`, in "
             "`policies.cli` only); the pack itself never imports infra.",
}
"""Packages of the same layer this one imports, and why (tests/layers/test_imports.py)."""
