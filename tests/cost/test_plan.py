import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cost.catalog import load_catalog
from cost.money import cents
from cost.plan import price_preview
from cost.render import plan_json, plan_text
from cost.scenario import ScenarioError
from cost.usage import load_usage
from facts.preview import load_preview
from mlp.cli import app

from .golden import check_golden

FIXTURES = Path(__file__).parent / "fixtures"
USAGE = Path(__file__).parents[2] / "cost" / "usage"
runner = CliRunner()


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_plan_golden_without_usage(stack):
    plan = price_preview(load_preview(FIXTURES / f"preview-{stack}.json"),
                         load_catalog("2026-07-30"), load_usage(None))
    check_golden(f"plan-{stack}.txt", plan_text(plan))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_plan_golden_with_usage(stack):
    preview = "preview-dev-extra.json" if stack == "dev" else "preview-prod.json"
    plan = price_preview(load_preview(FIXTURES / preview), load_catalog("2026-07-30"),
                         load_usage(USAGE / f"{stack}.yaml"))
    check_golden(f"plan-{stack}-usage.txt", plan_text(plan))


def test_prod_plan_always_on_part_is_the_study_cluster():
    plan = price_preview(load_preview(FIXTURES / "preview-prod.json"),
                         load_catalog("2024-02-01"), load_usage(None))
    assert cents(plan.monthly) == Decimal("2404.35")


def test_plan_hourly_figures_use_the_snapshots_hours_per_month():
    plan = price_preview(load_preview(FIXTURES / "preview-prod.json"),
                         load_catalog("2024-02-01"), load_usage(None))
    assert plan.hours_per_month == load_catalog("2024-02-01").hours_per_month
    plan.hours_per_month = Decimal(720)
    assert "OVERALL TOTAL (hourly, /720) " in plan_text(plan)
    assert plan_json(plan)["hourly"] == str(round(plan.monthly / 720, 4))


def test_unknown_types_are_listed_not_priced_and_never_crash():
    plan = price_preview(load_preview(FIXTURES / "preview-dev-extra.json"),
                         load_catalog(), load_usage(None))
    status = {r.name: (r.status, r.reason) for r in plan.resources}
    assert status["mlp-thing"] == ("not priced", "no pricing rule for this resource type")
    assert status["mlp-endpoint"][0] == "usage-based"
    assert "vertex_endpoints.mlp-endpoint" in status["mlp-endpoint"][1]
    assert status["cifar"][0] == "free"
    assert status["mlp-tb"][0] == "usage-based"


def _pool(**inputs):
    from facts.preview import PreviewResource

    inputs = {"nodeConfig": {"machineType": "n1-standard-4"}, **inputs}
    return PreviewResource("urn:p", "gcp:container/nodePool:NodePool", "p", None, inputs, [],
                           False, True)


def test_regional_pool_without_node_locations_counts_every_zone_of_its_region():
    from cost.plan import price_resource
    from facts.hardware import catalog

    prices = load_catalog("2026-07-30")
    zones = len(catalog().zones("us-central1"))
    regional = price_resource(_pool(location="us-central1", nodeCount=1), prices,
                              load_usage(None))
    zonal = price_resource(_pool(location="us-central1-c", nodeCount=1), prices,
                           load_usage(None))
    assert regional.status == zonal.status == "priced"
    assert regional.bill.monthly == zonal.bill.monthly * zones
    assert f"always on, {zones} nodes" in regional.bill.lines[0].component
    unknown = price_resource(_pool(location="mars-north1", nodeCount=1), prices,
                             load_usage(None))
    assert unknown.status == "not priced" and "zone count unknown" in unknown.reason
    totals = price_resource(_pool(location="mars-north1", autoscaling={
        "totalMinNodeCount": 2, "totalMaxNodeCount": 2}), prices, load_usage(None))
    assert totals.status == "priced" and "always on, 2 nodes" in totals.bill.lines[0].component


def test_usage_beyond_pool_capacity_is_rejected(tmp_path):
    usage = tmp_path / "u.yaml"
    usage.write_text("node_pools:\n  gpu-t4-spot:\n    node_hours_per_month: 1461\n")
    with pytest.raises(ScenarioError, match=r"node_pools\.gpu-t4-spot\.node_hours_per_month"):
        price_preview(load_preview(FIXTURES / "preview-dev.json"), load_catalog(),
                      load_usage(usage))


@pytest.mark.parametrize(("text", "message"), [
    ("node_pools:\n  x:\n    node_hours_per_month: -3\n",
     r"node_pools\.x\.node_hours_per_month: .*greater than or equal to 0"),
    ("vertex_endpoints:\n  e:\n    replicas: 1\n", r"vertex_endpoints\.e\.machine_type: Field"),
    ("gke_free_tier: maybe\n", r"gke_free_tier: .*boolean"),
    ("nodepools: {}\n", r"nodepools: Extra inputs"),
])
def test_bad_usage_file_is_rejected_naming_the_field(tmp_path, text, message):
    usage = tmp_path / "u.yaml"
    usage.write_text(text)
    with pytest.raises(ScenarioError, match=message):
        load_usage(usage)
    result = runner.invoke(app, ["cost", "stack", "--preview", str(FIXTURES / "preview-dev.json"),
                                 "--usage", str(usage)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_cli_stack_json_from_preview_file(tmp_path):
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["cost", "stack", "--preview", str(FIXTURES / "preview-prod.json"),
                                 "--catalog", "2024-02-01", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["monthly"] == "2404.35"
    pool = next(r for r in data["resources"] if r["name"] == "mlp-cpu-pool")
    assert [c["monthly"] for c in pool["components"]] == ["3328.78", "-998.63", "1.20"]


def test_cli_stack_by_name_prices_the_stack_preview(monkeypatch, tmp_path):
    calls = []

    def fake_run_preview(stack_file, mode="preview"):
        calls.append((stack_file.name, mode))
        return load_preview(FIXTURES / "preview-dev.json")

    monkeypatch.setattr("infra.preview.run_preview", fake_run_preview)
    out = tmp_path / "plan.txt"
    result = runner.invoke(app, ["cost", "stack", "dev", "--text", str(out)])
    assert result.exit_code == 0, result.output
    assert [name for name, _ in calls] == ["dev"]
    assert "mlp-system-pool" in out.read_text()
    bad = runner.invoke(app, ["cost", "stack", "nosuchstack"])
    assert bad.exit_code == 2 and "'nosuchstack' is not one of 'dev', 'prod'" in bad.output


@pytest.mark.parametrize("args", [[], ["dev", "--preview", "x.json"],
                                  ["--stack-file", "s.yaml", "--preview", "x.json"]])
def test_cli_stack_takes_exactly_one_preview_source(args):
    bad = runner.invoke(app, ["cost", "stack", *args])
    assert bad.exit_code == 2
    assert ("give exactly one of: a stack name, --stack-file PATH, --preview FILE"
            in " ".join(bad.output.split()))


def test_cli_machine_quote_json():
    result = runner.invoke(app, ["cost", "machine", "n1-standard-8", "--gpu",
                                 "nvidia-tesla-t4:1", "--catalog", "2024-02-01", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["gke"]["monthly"] == str(cents(Decimal("0.729998") * 730 * Decimal("0.7")))
    assert data["training"]["monthly"] == str(cents(Decimal("0.8395") * 730))
    for args, message in ((["--pricing", "cheap"], "--pricing"), (["--hours", "900"], "--hours"),
                          (["--gpu", "nvidia-tesla-t4:x"], "--gpu")):
        bad = runner.invoke(app, ["cost", "machine", "n1-standard-8", *args])
        assert bad.exit_code == 2 and message in bad.output, bad.output


@pytest.mark.parametrize("count", ["0", "9"])
def test_cli_machine_gpu_count_out_of_range_is_a_usage_error(count):
    bad = runner.invoke(app, ["cost", "machine", "n1-standard-8", "--gpu",
                              f"nvidia-tesla-t4:{count}"])
    assert bad.exit_code == 2, bad.output
    assert isinstance(bad.exception, SystemExit)  # a clean exit, not a pydantic error
    text = " ".join(bad.output.split())
    assert (f"--gpu: 'nvidia-tesla-t4:{count}' has COUNT {count}; COUNT must be between 1 "
            "and 8") in text


def test_providers_are_not_listed_as_unpriced_resources():
    """The budget's own provider (for its quota project) is engine configuration, not a bill."""
    from cost.catalog import load_catalog
    from cost.plan import price_preview
    from tests.infra.conftest import preview_of

    preview = preview_of("prod")
    assert any(r.type == "pulumi:providers:gcp" for r in preview.resources)
    plan = price_preview(preview, load_catalog("2026-07-30"), load_usage(None))
    assert not any(r.type.startswith("pulumi:providers:") for r in plan.resources)


@pytest.mark.parametrize("stack", ["dev", "prod", "vertex"])
@pytest.mark.parametrize("at_max", [False, True])
def test_live_previews_price_every_pool_as_its_stack_file_declares(stack, at_max):
    """Plan pricing on the shipped stacks' previews computed in-process, not frozen fixtures:
    each pool of the stack file is priced with its machine, GPUs, spot or on-demand, disk and
    node count (its minimum, or its maximum all month), and nothing else is a node pool."""
    from cost.plan import NODE_POOL
    from cost.pricing import node_lines
    from facts.stacks import stack_path
    from infra.stack_config import read_stack_file
    from tests.infra.conftest import preview_of

    cfg = read_stack_file(stack_path(stack)).platform()
    prices = load_catalog("2026-07-30")
    plan = price_preview(preview_of(stack), prices, load_usage(None), at_max=at_max)
    pools = {r.name: r for r in plan.resources if r.type == NODE_POOL}
    assert sorted(pools) == sorted(f"mlp-{p.name}-pool" for p in cfg.node_pools)
    for pool in cfg.node_pools:
        nodes = pool.max_nodes if at_max else pool.min_nodes
        priced = pools[f"mlp-{pool.name}-pool"]
        acc = pool.accelerator
        expected = node_lines(prices, pool.machine_type, nodes=nodes, hours=prices.hours_per_month,
                              pricing="spot" if pool.spot else "on-demand",
                              gpu_type=acc.type if acc else None, gpu_count=acc.count if acc else 0,
                              disk_gb=pool.disk_size_gb, disk_type=pool.disk_type) if nodes else []
        assert priced.bill.monthly == sum((x.monthly for x in expected), Decimal(0)), pool.name
        assert priced.status == ("priced" if nodes else "usage-based"), pool.name
    clusters = [r for r in plan.resources if r.type == "gcp:container/cluster:Cluster"]
    assert len(clusters) == (1 if cfg.has_cluster else 0)
    assert plan.monthly == sum((r.bill.monthly for r in plan.resources), Decimal(0))


@pytest.mark.parametrize(("location", "region"), [
    ("europe-west4-b", "europe-west4"), ("us-central1", "us-central1")])
def test_a_plan_is_priced_in_its_stacks_region(tmp_path, location, region):
    from cost.plan import plan_region

    text = (FIXTURES / "preview-dev.json").read_text().replace('"us-central1-c"',
                                                                f'"{location}"')
    path = tmp_path / "preview.json"
    path.write_text(text)
    assert plan_region(load_preview(path)) == region
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["cost", "stack", "--preview", str(path), "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["region"] == region
    pool = next(r for r in data["resources"] if r["name"] == "mlp-system-pool")
    machine = load_catalog("2026-07-30", region).machine("n1-standard-4")
    assert pool["components"][0]["unit_price"] == str(machine.usd)


def test_a_stack_in_a_region_without_prices_exits_2_naming_it(tmp_path):
    text = (FIXTURES / "preview-dev.json").read_text().replace('"us-central1-c"',
                                                                '"us-east1-c"')
    path = tmp_path / "preview.json"
    path.write_text(text)
    result = runner.invoke(app, ["cost", "stack", "--preview", str(path)])
    assert result.exit_code == 2, result.output
    assert ("stack region us-east1: no price snapshot 2026-07-30 for region 'us-east1'; "
            "regions priced on 2026-07-30: us-central1, europe-west4") in \
        " ".join(result.output.split())
