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
PROVENANCE = RECORDED / "PROVENANCE.yaml"
SHIPPED = sorted(p.name for p in PRICES_DIR.glob("*.yaml"))
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


def _raw_skus() -> dict[str, dict]:
    """The recorded SKUs as plain JSON, keyed by id: read apart from the code under test."""
    return {s["skuId"]: {**s, "_service": path.parent.name}
            for path in sorted(RECORDED.glob("*/*.json"))
            for s in json.loads(path.read_text())["response"]["skus"]}


def _in_effect(sku: dict, day: date) -> Decimal:
    """The JSON price of the version in effect by the end of `day` (UTC-8 is close enough for
    the recorded effective times, all at 07:00Z), from units and nanos."""
    versions = [v for v in sku["pricingInfo"]
                if v["effectiveTime"][:10] <= day.isoformat()]
    version = max(versions, key=lambda v: v["effectiveTime"])
    tiers = version["pricingExpression"]["tieredRates"]
    paid = [t for t in tiers if t["unitPrice"].get("units", "0") != "0"
            or t["unitPrice"].get("nanos", 0)] or tiers
    price = paid[0]["unitPrice"]
    return Decimal(price.get("units", "0")) + Decimal(price.get("nanos", 0)) / Decimal(10 ** 9)


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
    for key in (("n1-core", "on-demand"), ("n1-ram", "spot"), ("n1-core", "cud-1y"),
                ("gpu:nvidia-tesla-t4", "spot"), ("gpu:nvidia-tesla-t4", "cud-3y"),
                ("disk:pd-standard", "on-demand"), ("gke-cluster-fee", "on-demand")):
        assert sel.rate(*key) is not None, key
    assert sel.rate("gpu:nvidia-tesla-v100", "spot") is None  # no such SKU recorded
    assert sel.rate("gpu:nvidia-tesla-v100", "cud-1y") is None
    assert len(sel.rate("gke-cluster-fee", "on-demand").sku_ids) == 3
    reasons = {desc: why for _, desc, why in sel.ignored}
    assert reasons["Storage PD Capacity"].startswith("multi-region")
    assert "not sold in us-central1" in reasons["N1 Predefined Instance Core running in EMEA"]
    assert "(us-east1)" in reasons["Spot Preemptible N1 Predefined Instance Core running in "
                                   "Americas"]


def test_another_region_gets_its_own_skus(skus):
    sel = select_rates(skus, "europe-west1", DAY)
    emea = _raw_skus()["009C-3D9E-18CA"]
    assert sel.rate("n1-core", "on-demand").sku_ids == ("009C-3D9E-18CA",)
    assert sel.rate("n1-core", "on-demand").usd == _in_effect(emea, DAY)
    assert sel.rate("n1-core", "spot") is None
    assert sel.rate("gke-cluster-fee", "on-demand") is not None  # sold globally


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
        for pricing in ("spot", "cud-1y", "cud-3y"):
            c, r = sel.rate("n1-core", pricing), sel.rate("n1-ram", pricing)
            assert by[pricing].usd == shape.vcpus * c.usd + memory * r.usd, (machine, pricing)
    vertex_core = sel.rate("vertex-training-core", "on-demand")
    vertex_ram = sel.rate("vertex-training-ram", "on-demand")
    shape = hardware().machine("n1-standard-4")
    assert new.vertex("training_machine", "n1-standard-4").usd == \
        shape.vcpus * vertex_core.usd + Decimal(str(shape.memory_gb)) * vertex_ram.usd
    assert new.gpu("nvidia-tesla-t4").status == "verified"
    assert new.snapshot == "2026-11-20" and new.region == "us-central1"


def test_carried_over_prices_keep_their_date_source_and_status(skus, prices_dir):
    built = build_snapshot(select_rates(skus, "us-central1", DAY), prices_dir / "2026-07-30.yaml",
                           DAY, "recorded")
    carried = dict(built.carried)
    # The recordings have no G2 or L4 SKUs: every G2 and L4 price is carried over.
    g2 = [f"g2-standard-{n}" for n in hardware().families["g2"].shapes["standard"][1]]
    n1 = [f"n1-standard-{n}" for n in (4, 8, 16, 32)]
    assert set(carried) == {
        "gpus.nvidia-tesla-v100.spot", "gke.free_tier_credit_per_month", "vertex.pipeline_run",
        "sustained_use.n1", *(f"vertex.prediction_gpu.{g}" for g in
                              ("nvidia-tesla-t4", "nvidia-tesla-p4", "nvidia-tesla-p100",
                               "nvidia-tesla-v100")),
        *(f"compute.{m}.{p}" for m in g2 for p in ("on-demand", "spot", "flex-start")),
        *(f"vertex.training_machine.{m}" for m in g2),
        *(f"gpus.nvidia-l4.{p}" for p in ("on-demand", "spot", "flex-start")),
        "vertex.training_gpu.nvidia-l4",
        # Vertex spot rates: derived from Compute Engine spot prices the recordings leave as
        # they were, so carried unchanged
        *(f"vertex.spot_training_machine.{m}" for m in (*n1, *g2)),
        *(f"vertex.spot_training_gpu.{g}" for g in ("nvidia-tesla-t4", "nvidia-tesla-p4",
                                                    "nvidia-tesla-p100", "nvidia-tesla-v100",
                                                    "nvidia-l4"))}
    # the T4 commitments the snapshot had from a third party's quote are now read from the SKUs
    t4 = load_catalog_file(write_snapshot(built, prices_dir)).gpu("nvidia-tesla-t4", "cud-1y")
    assert t4.status == "verified" and "75EB-68C0-259C" in t4.note
    new = load_catalog_file(prices_dir / "2026-11-20.yaml")
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
    built = load_catalog_file(prices_dir / "2026-11-20.yaml")
    fresh = [p for _, p in built.all_prices() if p.as_of == "2026-11-20"]
    read = sum(1 for p in fresh if p.status == "verified")
    derived = sum(1 for p in fresh if p.status == "derived")
    assert f"{read} prices read, {derived} derived" in result.output
    assert "gke.free_tier_credit_per_month 74.40 as_of 2026-07-30 source gke-pricing" \
        in result.output


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
    raw = _raw_skus()
    june_core = _in_effect(raw["6C98-16A7-F891"], date(2026, 9, 1))  # the June version
    assert june_core != _in_effect(raw["6C98-16A7-F891"], DAY)
    assert spot.usd == 4 * june_core + 15 * _in_effect(raw["DFC3-3648-FD24"], DAY)


@pytest.mark.parametrize(("args", "message"), [
    (["--date", "2026-13-01"], "--date: '2026-13-01' is not a YYYY-MM-DD date"),
    (["--date", "2026-05-01"], "no SKU gave any price for us-central1 on 2026-05-01"),
    (["--date", "2999-01-01"], "in the future"),
])
def test_command_rejects_bad_dates(prices_dir, args, message):
    result = _refresh(prices_dir, *args)
    assert result.exit_code == 2 and message in result.output
    assert sorted(p.name for p in prices_dir.iterdir()) == SHIPPED
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_without_credentials_the_command_fails_cleanly(prices_dir, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(prices_dir / "missing.json"))
    result = runner.invoke(app, ["cost", "refresh-prices", "--prices-dir", str(prices_dir)])
    assert result.exit_code == 2
    assert "no Google Cloud credentials" in result.output and "--from-fixtures" in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in prices_dir.iterdir()) == SHIPPED


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


# --- what the recordings stand for, and what any refresh must hold ----------------------------

def test_every_recorded_sku_has_its_provenance():
    import yaml

    prov = yaml.safe_load(PROVENANCE.read_text())
    raw = _raw_skus()
    assert set(prov["skus"]) == set(raw), "PROVENANCE.yaml and the recordings list other SKUs"
    for sku_id, entry in prov["skus"].items():
        assert entry["description"] == raw[sku_id]["description"], sku_id
        # the latest version's price (a SKU with two versions names the newer)
        assert Decimal(entry["usd"]) == _in_effect(raw[sku_id], date(2099, 1, 1)), sku_id
        assert entry["kind"] in ("quoted", "list", "chosen", "case"), sku_id
        if entry["kind"] in ("quoted", "list"):
            assert entry["source"] in prov["sources"], sku_id
        if entry["kind"] == "chosen":
            assert entry["gives"], sku_id  # what it was picked to give, so no test leans on it
        if entry["kind"] == "case":
            assert entry["note"], sku_id


@pytest.mark.parametrize("region", ["us-central1", "europe-west1", "us-east1"])
@pytest.mark.parametrize("day", [date(2026, 9, 1), DAY])
def test_every_matching_sku_is_used_once_or_ignored_with_a_reason(skus, region, day):
    import fnmatch

    rules = load_rules()
    raw = _raw_skus()
    service_of = {sid: name for name, sid in rules.services.items()}
    sel = select_rates(skus, region, day)
    used = [sku_id for rate in sel.rates.values() for sku_id in rate.sku_ids]
    ignored = [sku_id for sku_id, _, _ in sel.ignored]
    assert len(used) == len(set(used))  # no SKU gives two rates
    assert not set(used) & set(ignored)
    for sku_id, sku in raw.items():
        matching = [r for r in rules.rules if r.service == service_of[sku["_service"]]
                    and rules.usage_types[r.pricing] == sku["category"]["usageType"]
                    and any(fnmatch.fnmatchcase(sku["description"], p) for p in r.patterns)]
        assert len(matching) <= 1, (sku_id, [r.rate for r in matching])  # one catalog key
        if matching:
            assert (sku_id in used) != (sku_id in ignored), sku_id  # used, or ignored: not lost
        else:
            assert sku_id not in used and sku_id not in ignored, sku_id


@pytest.mark.parametrize("region", ["us-central1", "europe-west1"])
def test_rates_are_the_recorded_units_and_nanos_of_skus_sold_there(skus, region):
    rules = load_rules()
    raw = _raw_skus()
    sel = select_rates(skus, region, DAY)
    assert sel.rates
    for (rate, pricing), found in sel.rates.items():
        rule = next(r for r in rules.rules if (r.rate, r.pricing) == (rate, pricing))
        assert found.usd > 0 and found.usd.is_finite() and found.unit == rule.unit
        for sku_id in found.sku_ids:
            sku = raw[sku_id]
            assert _in_effect(sku, DAY) == found.usd, sku_id
            assert sku["category"]["usageType"] == rules.usage_types[pricing], sku_id
            assert region in sku["serviceRegions"] or sku["serviceRegions"] == ["global"]
            assert sku["geoTaxonomy"]["type"] not in ("MULTI_REGIONAL", 3)  # enum by name or value
            assert sku["pricingInfo"][-1]["pricingExpression"]["usageUnit"] == rule.unit


def test_a_refresh_loses_no_key_and_every_refreshed_price_names_its_skus(skus, prices_dir):
    base = load_catalog_file(prices_dir / "2026-07-30.yaml")
    sel = select_rates(skus, "us-central1", DAY)
    new = load_catalog_file(write_snapshot(build_snapshot(
        sel, prices_dir / "2026-07-30.yaml", DAY, "recorded"), prices_dir))
    old, fresh = dict(base.all_prices()), dict(new.all_prices())
    assert set(old) == set(fresh)
    raw = _raw_skus()
    source = f"billing-catalog-{DAY.isoformat()}"
    for key, price in fresh.items():
        if price.source != source:
            assert (price.usd, price.as_of, price.source, price.status, price.note) == \
                (old[key].usd, old[key].as_of, old[key].source, old[key].status,
                 old[key].note), f"{key} carried over but changed"
            continue
        assert price.as_of == DAY.isoformat() and price.usd > 0, key
        named = [s for s in raw if s in price.note]
        assert named, f"{key} names no SKU"
        if price.status == "verified":  # a direct SKU price: one of the SKUs it names
            assert any(_in_effect(raw[s], DAY) == price.usd for s in named), key
        else:  # derived: its formula over the rates of the SKUs it names gives it
            assert price.status == "derived" and price.formula and price.derived_from, key
    # disks are priced per GiB-month by the API and per GB-month here: one to one
    for disk, rate in (("pd-standard", sel.rate("disk:pd-standard", "on-demand")),
                       ("pd-balanced", sel.rate("disk:pd-balanced", "on-demand"))):
        assert rate.unit == "GiBy.mo" and new.disk(disk).usd == rate.usd
