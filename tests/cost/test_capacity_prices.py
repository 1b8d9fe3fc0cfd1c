"""Prices of the ways to obtain GPUs: G2 + L4, flex-start, shared GPUs, Vertex spot and a
persistent resource, each from the 2026-07-30 snapshot with its status; the README's generated
"Getting GPUs" block equals what the catalog gives."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from cost.catalog import PriceNotFound, load_catalog
from cost.gpu_options import BLOCK_END, BLOCK_START, markdown
from cost.money import cents
from cost.plan import price_preview, shared_gpu_hour
from cost.quote import built_in_gpus, quote
from cost.usage import PlanUsage, load_usage
from facts.stacks import REPO_ROOT
from infra.preview import run_preview
from infra.stack_config import read_stack_file
from mlp.cli import app

PRICES = load_catalog("2026-07-30")
EXAMPLE = REPO_ROOT / "stacks" / "examples" / "Pulumi.capacity.yaml"
runner = CliRunner()
_plans: dict[bool, object] = {}


def example_plan(usage: bool):
    if usage not in _plans:
        preview = run_preview(read_stack_file(EXAMPLE))
        _plans[usage] = price_preview(
            preview, PRICES, load_usage(REPO_ROOT / "cost" / "usage" / "capacity.yaml")
            if usage else PlanUsage())
    return _plans[usage]


def _priced(plan, name):
    return next(r for r in plan.resources if r.name == name)


def test_l4_is_g2_standard_4_less_its_vcpus_and_memory():
    # g2-standard-8 differs from g2-standard-4 only by 4 vCPUs and 16 GB; both carry one L4.
    l4 = PRICES.gpu("nvidia-l4")
    g4, g8 = (PRICES.machine(m).usd + l4.usd for m in ("g2-standard-4", "g2-standard-8"))
    assert g4 - (g8 - g4) == l4.usd == Decimal("0.560040239")
    assert l4.status == "derived" and l4.source == "gcp-calc-2026"
    # two L4s on g2-standard-24: the machine alone is the listed price less both GPUs
    g24 = PRICES.machine("g2-standard-24")
    assert dict(g24.derived_from)["all-in.g2-standard-24.on-demand"] - 2 * l4.usd == g24.usd


@pytest.mark.parametrize("key", ["g2-standard-8", "g2-standard-96"])
def test_flex_start_on_g2_is_billed_at_on_demand_rates(key):
    flex = PRICES.machine(key, "flex-start")
    assert flex.usd == PRICES.machine(key).usd
    assert flex.source == "gcp-flex-start" and PRICES.sources[flex.source].first_party
    assert PRICES.gpu("nvidia-l4", "flex-start").usd == PRICES.gpu("nvidia-l4").usd


def test_flex_start_is_not_priced_where_it_is_not_offered():
    with pytest.raises(PriceNotFound, match="no flex-start price"):
        PRICES.gpu("nvidia-tesla-t4", "flex-start")


def test_vertex_spot_is_compute_engine_spot_times_the_training_markup():
    for machine in ("n1-standard-8", "g2-standard-8"):
        price = PRICES.vertex("spot_training_machine", machine)
        assert price.usd == PRICES.machine(machine, "spot").usd * Decimal("1.15")
        assert price.status == "derived" and "no first-party" in price.note
    assert PRICES.vertex("spot_training_gpu", "nvidia-tesla-t4").usd == Decimal("0.14") * \
        Decimal("1.15")
    with pytest.raises(PriceNotFound):
        load_catalog("2024-02-01").vertex("spot_training_machine", "n1-standard-8")


def test_a_g2_quote_bills_the_l4_it_comes_with():
    assert built_in_gpus("g2-standard-24").count == 2 and built_in_gpus("n1-standard-8") is None
    bills = quote(PRICES, "g2-standard-8", None, "730", "on-demand")
    gke = bills["gke"]
    assert [line.component for line in gke.lines] == [
        "Instance usage (g2-standard-8, on-demand)", "NVIDIA L4 (on-demand)"]
    assert cents(gke.monthly) == cents((PRICES.machine("g2-standard-8").usd
                                        + PRICES.gpu("nvidia-l4").usd) * 730)
    assert bills["training"].lines  # Vertex training on G2 + L4 is priced too


def test_cost_machine_g2_standard_8_prints_statuses_and_sources():
    result = runner.invoke(app, ["cost", "machine", "g2-standard-8", "--pricing", "flex-start",
                                 "--json"])
    assert result.exit_code == 0, result.output
    lines = json.loads(result.output)["gke"]["components"]
    assert {(line["price_status"], line["price_source"]) for line in lines} == {
        ("derived", "gcp-flex-start")}
    refused = runner.invoke(app, ["cost", "machine", "n1-standard-8", "--gpu",
                                  "nvidia-tesla-t4:1", "--pricing", "flex-start"])
    assert refused.exit_code == 2 and "no flex-start price" in refused.output


def test_a_shared_gpu_hour_is_divided_among_its_clients():
    hourly, per_client = shared_gpu_hour(PRICES, "nvidia-tesla-t4", "on-demand", 4)
    assert (hourly, per_client) == (Decimal("0.35"), Decimal("0.0875"))
    assert shared_gpu_hour(PRICES, "nvidia-tesla-t4", "flex-start", 4) is None
    plan = example_plan(usage=True)
    shared = _priced(plan, "mlp-gpu-t4-shared-pool")
    (note,) = [n for n in shared.bill.notes if "shared" in n]
    assert "0.0875 USD per client GPU-hour" in note
    # 360 T4 GPU-hours of usage at 0.35 = 126.00 USD, among 4 clients
    assert "126.00 USD, are 31.50 USD per client" in note


def test_plan_prices_flex_start_pools_at_flex_start_rates():
    plan = example_plan(usage=True)
    queued = _priced(plan, "mlp-gpu-l4-queued-pool")
    components = [line.component for line in queued.bill.lines]
    assert "Instance usage (g2-standard-8, flex-start)" in components[0]
    assert "NVIDIA L4 (flex-start)" in components[1]
    gpu_line = queued.bill.lines[1]
    assert gpu_line.quantity == 96 and gpu_line.price.source == "gcp-flex-start"


def test_plan_prices_the_persistent_resource_all_month_at_training_rates():
    plan = example_plan(usage=False)
    reserved = _priced(plan, "mlp-vertex-persistent-resource")
    assert reserved.status == "priced"
    hourly = PRICES.vertex("training_machine", "n1-standard-8").usd + \
        PRICES.vertex("training_gpu", "nvidia-tesla-t4").usd
    assert reserved.bill.monthly == hourly * PRICES.hours_per_month
    assert cents(reserved.bill.monthly) == Decimal("612.84")


def test_the_readme_getting_gpus_block_is_what_the_catalog_gives():
    text = (REPO_ROOT / "README.md").read_text()
    start, end = text.index(BLOCK_START) + len(BLOCK_START), text.index(BLOCK_END)
    assert text[start:end].strip() == markdown(load_catalog()).strip(), \
        "regenerate: uv run mlp cost gpus --write README.md"


def test_a_refresh_computes_a_derived_price_again_when_its_input_moves():
    from cost.refresh import Refreshed, _rederive

    entry = {"usd": "0.161", "as_of": "2026-07-30", "source": "vertex-pricing",
             "status": "derived", "formula": "gpus.nvidia-tesla-t4.spot × 1.15",
             "derived_from": {"gpus.nvidia-tesla-t4.spot": "0.14"}, "note": "markup"}
    kept = {**entry, "formula": "gpus.nvidia-tesla-p4.spot × 1.15",
            "derived_from": {"gpus.nvidia-tesla-p4.spot": "0.24"}, "usd": "0.276"}
    raw = {"compute": {}, "disks": {}, "gke": {},
           "gpus": {"nvidia-tesla-t4": {"spot": {"usd": "0.2", "note": "SKU AAAA-BBBB-1234"}},
                    "nvidia-tesla-p4": {"spot": {"usd": "0.24", "note": "SKU CCCC-DDDD-5678"}}},
           "vertex": {"spot_training_gpu": {"nvidia-tesla-t4": dict(entry),
                                            "nvidia-tesla-p4": dict(kept)},
                      "pipeline_run": {}}}
    result = Refreshed(date="2026-11-20", text="", base="2026-07-30",
                       updated=[("gpus.nvidia-tesla-t4.spot", "0.2", "verified"),
                                ("gpus.nvidia-tesla-p4.spot", "0.24", "verified")],
                       carried=[("vertex.spot_training_gpu.nvidia-tesla-t4", entry),
                                ("vertex.spot_training_gpu.nvidia-tesla-p4", kept)])
    _rederive(raw, result, "billing-catalog-2026-11-20")
    moved = raw["vertex"]["spot_training_gpu"]["nvidia-tesla-t4"]
    assert Decimal(moved["usd"]) == Decimal("0.2") * Decimal("1.15")
    assert (moved["as_of"], moved["source"]) == ("2026-11-20", "billing-catalog-2026-11-20")
    assert "AAAA-BBBB-1234" in moved["note"]
    # an input refreshed to the same value leaves the price carried as it was
    assert result.carried == [("vertex.spot_training_gpu.nvidia-tesla-p4", kept)]
    assert raw["vertex"]["spot_training_gpu"]["nvidia-tesla-p4"] == kept
