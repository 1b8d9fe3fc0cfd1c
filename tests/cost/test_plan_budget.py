"""Plans against budgets: headroom, usage keys that must name something, unpriced endpoints.

These run on live offline previews of the shipped stacks, not only on frozen fixtures.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cost.catalog import load_catalog
from cost.plan import price_preview
from cost.scenario import ScenarioError
from cost.usage import load_usage
from facts.preview import Preview
from facts.stacks import stack_path
from infra.preview import run_preview
from infra.stack_config import read_stack_file
from mlp.cli import app

USAGE = Path(__file__).parents[2] / "cost" / "usage"
runner = CliRunner()


@cache
def live(stack: str) -> Preview:
    return run_preview(read_stack_file(stack_path(stack)))


@pytest.mark.parametrize("stack", ["dev", "prod", "vertex"])
def test_shipped_usage_files_name_only_what_their_stack_declares(stack):
    usage = load_usage(USAGE / f"{stack}.yaml")
    plan = price_preview(live(stack), load_catalog(usage.catalog), usage)
    amount = read_stack_file(stack_path(stack)).platform().budget.amount_usd
    assert plan.budget == Decimal(amount)
    assert plan.headroom == Decimal(amount) - plan.monthly
    priced = {r.name for r in plan.by_status("priced")}
    if stack == "vertex":
        assert "mlp-vertex-endpoint" in priced  # the usage file's `cifar10` is its displayName


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "usage.yaml"
    path.write_text(text)
    return path


def test_a_misspelt_pool_is_an_error_naming_the_key_and_candidates(tmp_path):
    usage = _write(tmp_path, "node_pools:\n  gpu-t4-spott:\n    node_hours_per_month: 500\n")
    with pytest.raises(ScenarioError) as err:
        price_preview(live("dev"), load_catalog(), load_usage(usage))
    assert str(err.value) == (
        "usage: node_pools.gpu-t4-spott: matches no node pool of stack 'dev'; candidates: "
        "gpu-t4-spot, mlp-gpu-t4-spot-pool, system, mlp-system-pool; did you mean "
        "'gpu-t4-spot'?")
    result = runner.invoke(app, ["cost", "stack", "dev", "--usage", str(usage)])
    assert result.exit_code == 2, result.output
    assert "node_pools.gpu-t4-spott" in result.output and "Traceback" not in result.output


def test_an_endpoint_key_on_a_stack_without_endpoints_is_an_error(tmp_path):
    usage = _write(tmp_path,
                   "vertex_endpoints:\n  mlp-endpoint:\n    machine_type: n1-standard-4\n")
    with pytest.raises(ScenarioError, match=r"vertex_endpoints\.mlp-endpoint: matches no Vertex "
                       r"endpoint of stack 'dev'; candidates: none"):
        price_preview(live("dev"), load_catalog(), load_usage(usage))


def test_an_unpriced_endpoint_machine_is_an_error(tmp_path):
    usage = _write(tmp_path, "vertex_endpoints:\n  cifar10:\n    machine_type: n1-standard-96\n")
    with pytest.raises(ScenarioError, match=r"usage: vertex_endpoints\.cifar10: .*n1-standard-96"):
        price_preview(live("vertex"), load_catalog(), load_usage(usage))


def test_stack_shows_budget_headroom_on_screen_and_in_json(tmp_path):
    preview = tmp_path / "vertex.json"
    assert runner.invoke(app, ["preview", "vertex", "--json", str(preview), "-q"]).exit_code == 0
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["cost", "stack", "--preview", str(preview), "--usage",
                                 str(USAGE / "vertex.yaml"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["budget"] == "1000.00"
    assert Decimal(data["headroom"]) == Decimal("1000") - Decimal(data["monthly"])
    assert "headroom" in result.output and "budget (monthly)" in result.output


def test_a_plan_over_budget_says_so(tmp_path):
    usage = _write(tmp_path, "vertex_endpoints:\n  cifar10:\n    machine_type: n1-standard-32\n"
                             "    replicas: 2\n")
    plan = price_preview(live("vertex"), load_catalog(), load_usage(usage))
    assert plan.headroom is not None and plan.headroom < 0
    from cost.render import plan_text

    assert "HEADROOM (OVER BUDGET" in plan_text(plan)
