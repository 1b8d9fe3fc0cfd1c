"""`mlp cost refresh-prices`: recorded Cloud Billing Catalog pages to a dated snapshot."""

import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from google.api_core import exceptions
from google.cloud.billing_v1 import types
from typer.testing import CliRunner

from cost import billing
from cost.billing import BillingError, fetch_skus, load_rules, recorded_client, select_rates
from cost.catalog import PRICES_DIR, load_catalog_file
from cost.refresh import (
    Refreshed,
    RefreshError,
    base_snapshot,
    build_snapshot,
    write_snapshot,
)
from facts.hardware import catalog as hardware
from mlp.cli import app

RECORDED = Path(__file__).parent / "fixtures" / "billing"
COMPUTE = "6F81-5844-456A"
DAY = date(2026, 11, 20)
runner = CliRunner()


def _skus(directory: Path = RECORDED, calls: list | None = None) -> dict[str, list]:
    client = recorded_client(directory, calls)
    return {name: fetch_skus(client, sid, DAY, DAY) for name, sid in load_rules().services.items()}


def _recorded_sku_ids(service: str) -> list[str]:
    return [s["skuId"] for p in sorted((RECORDED / service).glob("*.json"))
            for s in json.loads(p.read_text())["response"]["skus"]]


@pytest.fixture(scope="module")
def skus() -> dict[str, list]:
    return _skus()


@pytest.fixture
def prices_dir(tmp_path: Path) -> Path:
    for path in PRICES_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path)
    return tmp_path


def test_recordings_are_in_the_api_json_shape():
    for path in RECORDED.glob("*/*.json"):
        raw = json.loads(path.read_text())["response"]
        parsed = types.ListSkusResponse.from_json(json.dumps(raw))
        assert json.loads(types.ListSkusResponse.to_json(parsed)) == raw, path


def test_the_pager_requests_every_page():
    calls: list[tuple[str, str]] = []
    client = recorded_client(RECORDED, calls)
    got = fetch_skus(client, COMPUTE, DAY, DAY)
    assert [token for _, token in calls] == ["", "compute-page-2-token", "compute-page-3-token"]
    assert [s.sku_id for s in got] == _recorded_sku_ids(COMPUTE)
    assert len(got) == 26


def test_a_missing_page_is_an_error_not_fewer_skus(tmp_path: Path):
    shutil.copytree(RECORDED, tmp_path / "rec")
    (tmp_path / "rec" / COMPUTE / "page-2.json").unlink()
    client = recorded_client(tmp_path / "rec")
    with pytest.raises(exceptions.InvalidArgument, match="compute-page-2-token"):
        fetch_skus(client, COMPUTE, DAY, DAY)


def test_a_past_date_asks_for_that_days_prices():
    calls: list[tuple[str, str]] = []
    seen: list = []

    class Client:
        def list_skus(self, request):
            seen.append(request)
            return recorded_client(RECORDED, calls).list_skus(request=request)

    fetch_skus(Client(), COMPUTE, date(2026, 9, 1), DAY)
    fetch_skus(Client(), COMPUTE, DAY, DAY)
    assert seen[0]["start_time"].date() == date(2026, 9, 1) == seen[0]["end_time"].date()
    assert "start_time" not in seen[1]


def test_rates_for_the_target_region(skus):
    sel = select_rates(skus, "us-central1", DAY)
    expected = {("n1-core", "on-demand"): "0.031611", ("n1-ram", "on-demand"): "0.004237",
                ("n1-core", "spot"): "0.01115", ("n1-ram", "spot"): "0.001494",
                ("n1-core", "cud-1y"): "0.019915", ("n1-ram", "cud-3y"): "0.001907",
                ("gpu:nvidia-tesla-t4", "on-demand"): "0.35",
                ("gpu:nvidia-tesla-t4", "spot"): "0.14", ("disk:pd-standard", "on-demand"): "0.04",
                ("gke-cluster-fee", "on-demand"): "0.10"}
    for key, usd in expected.items():
        assert sel.rate(*key).usd == Decimal(usd), key
    assert sel.rate("gpu:nvidia-tesla-v100", "spot") is None
    assert sel.rate("gpu:nvidia-tesla-t4", "cud-1y") is None
    assert len(sel.rate("gke-cluster-fee", "on-demand").sku_ids) == 3
    reasons = {desc: why for _, desc, why in sel.ignored}
    assert reasons["Storage PD Capacity"].startswith("multi-region")
    assert "not sold in us-central1" in reasons["N1 Predefined Instance Core running in EMEA"]
    assert "(us-east1)" in reasons["Spot Preemptible N1 Predefined Instance Core running in "
                                   "Americas"]


def test_another_region_gets_its_own_skus(skus):
    sel = select_rates(skus, "europe-west1", DAY)
    assert sel.rate("n1-core", "on-demand").usd == Decimal("0.034773")
    assert sel.rate("n1-core", "spot") is None
    assert sel.rate("gke-cluster-fee", "on-demand").usd == Decimal("0.10")


def test_spot_price_version_in_effect_on_the_day(skus):
    assert select_rates(skus, "us-central1", date(2026, 9, 1)).rate(
        "n1-core", "spot").usd == Decimal("0.0120")
    early = select_rates(skus, "us-central1", date(2026, 5, 1))
    assert early.rates == {}
    assert len(early.ignored) > 20
    assert all("no price in effect on 2026-05-01" in why or "us-central1" in why
               for _, _, why in early.ignored)


def test_commitment_skus_never_stand_in_for_on_demand(skus):
    without = {k: [s for s in v if s.description != "N1 Predefined Instance Core running in "
                   "Americas"] for k, v in skus.items()}
    sel = select_rates(without, "us-central1", DAY)
    assert sel.rate("n1-core", "on-demand") is None
    assert sel.rate("n1-core", "cud-1y").usd == Decimal("0.019915")
    # A committed-use rate under an on-demand description is still not on-demand.
    lookalike = _sku("N1 Predefined Instance Core running in Americas", [(0, 0, 19_915_000)],
                     usage_type="Commit1Yr")
    sel = select_rates({"compute": [*without["compute"], lookalike]}, "us-central1", DAY)
    assert sel.rate("n1-core", "on-demand") is None


def _sku(description: str, tiers: list[tuple[float, int, int]], unit: str = "h",
         sku_id: str = "AAAA-0000-0001", usage_type: str = "OnDemand") -> types.Sku:
    return types.Sku(
        sku_id=sku_id, description=description, service_regions=["us-central1"],
        category=types.Category(usage_type=usage_type),
        pricing_info=[types.PricingInfo(
            effective_time={"seconds": 1_700_000_000},
            pricing_expression=types.PricingExpression(usage_unit=unit, tiered_rates=[
                types.PricingExpression.TierRate(
                    start_usage_amount=start,
                    unit_price={"currency_code": "USD", "units": units, "nanos": nanos})
                for start, units, nanos in tiers]))])


def test_tiers_units_and_disagreeing_skus():
    gpu = "Nvidia Tesla T4 GPU running in Americas"
    free_first = _sku(gpu, [(0, 0, 0), (10, 0, 350_000_000)])
    assert select_rates({"compute": [free_first]}, "us-central1", DAY).rate(
        "gpu:nvidia-tesla-t4", "on-demand").usd == Decimal("0.35")
    volume = _sku(gpu, [(0, 0, 350_000_000), (1000, 0, 300_000_000)])
    with pytest.raises(BillingError, match=r"AAAA-0000-0001.*depend on usage"):
        select_rates({"compute": [volume]}, "us-central1", DAY)
    with pytest.raises(BillingError, match=r"priced per 'GiBy\.h', expected 'h'"):
        select_rates({"compute": [_sku(gpu, [(0, 0, 1)], unit="GiBy.h")]}, "us-central1", DAY)
    other = _sku(gpu, [(0, 0, 400_000_000)], sku_id="BBBB-0000-0002")
    with pytest.raises(BillingError, match=r"disagree.*AAAA-0000-0001.*BBBB-0000-0002"):
        select_rates({"compute": [free_first, other]}, "us-central1", DAY)


def test_machine_prices_are_derived_from_hardware_shapes(skus, prices_dir):
    sel = select_rates(skus, "us-central1", DAY)
    built = build_snapshot(sel, prices_dir / "2026-07-30.yaml", DAY, "recorded")
    path = write_snapshot(built, prices_dir)
    new = load_catalog_file(path)
    core, ram = sel.rate("n1-core", "on-demand"), sel.rate("n1-ram", "on-demand")
    for machine, by in new.compute.items():
        shape = hardware().machine(machine)
        if shape.family != "n1":
            continue  # no rule reads G2 core and RAM SKUs: carried over (next test)
        memory = Decimal(str(shape.memory_gb))
        assert by["on-demand"].usd == shape.vcpus * core.usd + memory * ram.usd
        assert by["on-demand"].status == "derived"
        assert core.sku_ids[0] in by["on-demand"].note and ram.sku_ids[0] in by["on-demand"].note
    old = load_catalog_file(prices_dir / "2026-07-30.yaml")
    n1 = [m for m in old.compute if hardware().machine(m).family == "n1"]
    for machine in n1:  # the recordings carry the 2026-07-30 list rates
        assert new.machine(machine).usd == old.machine(machine).usd
        assert new.machine(machine, "spot").usd == old.machine(machine, "spot").usd
        assert abs(new.machine(machine, "cud-1y").usd - old.machine(machine, "cud-1y").usd) \
            <= Decimal("0.00001")
    assert new.gpu("nvidia-tesla-t4").status == "verified"
    assert new.vertex("training_machine", "n1-standard-4").usd == Decimal("0.21849885")
    assert new.snapshot == "2026-11-20" and new.region == "us-central1"


def test_carried_over_prices_keep_their_date_source_and_status(skus, prices_dir):
    built = build_snapshot(select_rates(skus, "us-central1", DAY), prices_dir / "2026-07-30.yaml",
                           DAY, "recorded")
    carried = dict(built.carried)
    # The recordings have no G2 or L4 SKUs: every G2 and L4 price is carried over, and so is the
    # Vertex spot V100 rate, derived from the carried Compute Engine spot V100 price.
    g2 = [f"g2-standard-{n}" for n in hardware().families["g2"].shapes["standard"][1]]
    assert set(carried) == {
        "gpus.nvidia-tesla-v100.spot", "gke.free_tier_credit_per_month", "vertex.pipeline_run",
        "sustained_use.n1", *(f"vertex.prediction_gpu.{g}" for g in
                              ("nvidia-tesla-t4", "nvidia-tesla-p4", "nvidia-tesla-p100",
                               "nvidia-tesla-v100")),
        *(f"compute.{m}.{p}" for m in g2 for p in ("on-demand", "spot", "flex-start")),
        *(f"vertex.{t}.{m}" for m in g2 for t in ("training_machine", "spot_training_machine")),
        *(f"gpus.nvidia-l4.{p}" for p in ("on-demand", "spot", "flex-start")),
        "vertex.training_gpu.nvidia-l4", "vertex.spot_training_gpu.nvidia-l4",
        "vertex.spot_training_gpu.nvidia-tesla-v100"}
    new = load_catalog_file(write_snapshot(built, prices_dir))
    old = load_catalog_file(prices_dir / "2026-07-30.yaml")
    assert new.gke["free_tier_credit_per_month"] == old.gke["free_tier_credit_per_month"]
    assert new.gpu("nvidia-tesla-v100", "spot") == old.gpu("nvidia-tesla-v100", "spot")
    assert new.sources["skypilot-gcp"] == old.sources["skypilot-gcp"]
    # Only the carried G2 and L4 prices still cite the third-party copy.
    assert {k for k, v in carried.items() if v["source"] == "gcp-calc-2026"} == {
        *(f"compute.{m}.{p}" for m in g2 for p in ("on-demand", "spot")),
        "gpus.nvidia-l4.on-demand", "gpus.nvidia-l4.spot"}


def test_a_snapshot_that_does_not_load_is_not_written(prices_dir):
    before = sorted(p.name for p in prices_dir.iterdir())
    broken = Refreshed(date="2026-11-20", text="snapshot: '2026-11-20'\n", base="2026-07-30")
    with pytest.raises(RefreshError, match="does not load"):
        write_snapshot(broken, prices_dir)
    assert sorted(p.name for p in prices_dir.iterdir()) == before


def _refresh(prices_dir: Path, *extra: str):
    return runner.invoke(app, ["cost", "refresh-prices", "--from-fixtures", str(RECORDED),
                               "--prices-dir", str(prices_dir), *extra])


def test_command_writes_a_dated_snapshot_and_lists_carried_prices(prices_dir):
    result = _refresh(prices_dir, "--date", "2026-11-20")
    assert result.exit_code == 0, result.output
    assert "written:" in result.output and "2026-11-20.yaml" in result.output
    # 25 derived from SKUs, and 7 Vertex spot rates derived again from refreshed spot prices.
    assert "15 prices read, 32 derived" in result.output
    assert "gke.free_tier_credit_per_month 74.40 as_of 2026-07-30 source gke-pricing" \
        in result.output
    assert load_catalog_file(prices_dir / "2026-11-20.yaml").machine(
        "n1-standard-8", "spot").usd == Decimal("0.13402")


def test_command_never_overwrites_without_force(prices_dir):
    assert _refresh(prices_dir, "--date", "2026-09-01").exit_code == 0
    first = (prices_dir / "2026-09-01.yaml").read_text()
    (prices_dir / "2026-09-01.yaml").write_text(first + "# edited\n")
    again = _refresh(prices_dir, "--date", "2026-09-01")
    assert again.exit_code == 2 and "use --force" in again.output
    assert (prices_dir / "2026-09-01.yaml").read_text().endswith("# edited\n")
    assert _refresh(prices_dir, "--date", "2026-09-01", "--force").exit_code == 0
    assert (prices_dir / "2026-09-01.yaml").read_text() == first
    spot = load_catalog_file(prices_dir / "2026-09-01.yaml").machine("n1-standard-4", "spot")
    assert spot.usd == Decimal("0.07041")  # 4 × 0.0120 + 15 × 0.001494, the June version


@pytest.mark.parametrize(("args", "message"), [
    (["--date", "2026-13-01"], "--date: '2026-13-01' is not a YYYY-MM-DD date"),
    (["--date", "2026-05-01"], "no SKU gave any price for us-central1 on 2026-05-01"),
    (["--date", "2999-01-01"], "in the future"),
])
def test_command_rejects_bad_dates(prices_dir, args, message):
    result = _refresh(prices_dir, *args)
    assert result.exit_code == 2 and message in result.output
    assert sorted(p.name for p in prices_dir.iterdir()) == ["2024-02-01.yaml", "2026-07-30.yaml"]
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_without_credentials_the_command_fails_cleanly(prices_dir, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(prices_dir / "missing.json"))
    result = runner.invoke(app, ["cost", "refresh-prices", "--prices-dir", str(prices_dir)])
    assert result.exit_code == 2
    assert "no Google Cloud credentials" in result.output and "--from-fixtures" in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in prices_dir.iterdir()) == ["2024-02-01.yaml", "2026-07-30.yaml"]


def test_api_errors_fail_cleanly(prices_dir, monkeypatch):
    class Down:
        def list_skus(self, request):
            raise exceptions.ServiceUnavailable("connect failed")

    monkeypatch.setattr(billing, "live_client", Down)
    result = runner.invoke(app, ["cost", "refresh-prices", "--prices-dir", str(prices_dir)])
    assert result.exit_code == 2
    assert "ServiceUnavailable" in result.output and "connect failed" in result.output


def test_record_writes_pages_that_read_back_the_same(prices_dir, tmp_path):
    result = _refresh(prices_dir, "--date", "2026-11-20", "--record", str(tmp_path / "rec"))
    assert result.exit_code == 0, result.output
    recorded = sorted(p.relative_to(tmp_path / "rec") for p in (tmp_path / "rec").rglob("*.json"))
    assert recorded == sorted(p.relative_to(RECORDED) for p in RECORDED.rglob("*.json"))
    for path in recorded:
        assert json.loads((tmp_path / "rec" / path).read_text()) == \
            json.loads((RECORDED / path).read_text()), path


def test_the_template_is_the_newest_snapshot_before_the_date(prices_dir):
    assert base_snapshot(prices_dir, date(2026, 11, 20)).stem == "2026-07-30"
    assert base_snapshot(prices_dir, date(2025, 3, 1)).stem == "2024-02-01"
    assert base_snapshot(prices_dir, date(2026, 7, 30)).stem == "2024-02-01"
    assert base_snapshot(prices_dir, date(2023, 1, 1)).stem == "2024-02-01"
    empty = prices_dir / "empty"
    empty.mkdir()
    with pytest.raises(RefreshError, match="no existing snapshot"):
        base_snapshot(empty, date(2026, 11, 20))
