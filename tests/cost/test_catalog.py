from decimal import Decimal
from pathlib import Path

import pytest

from cost.catalog import (
    PRICES_DIR,
    CatalogError,
    PriceNotFound,
    evaluate,
    load_catalog,
    load_catalog_file,
    regions,
    snapshots,
)
from cost.scenario import MONTH_HOURS
from facts.hardware import catalog as hardware


def test_two_dated_snapshots_ship():
    assert snapshots() == ["2024-02-01", "2026-07-30"]
    assert load_catalog().snapshot == "2026-07-30"


@pytest.mark.parametrize("date", ["2024-02-01", "2026-07-30"])
def test_every_unverified_price_explains_itself(date):
    prices = load_catalog(date)
    rows = prices.all_prices()
    assert len(rows) > 40
    assert any(price.status != "verified" for _, price in rows)
    for key, price in rows:
        if price.status != "verified":
            assert price.note.strip(), f"{key} is {price.status} but says nothing of why"


@pytest.mark.parametrize("date", ["2024-02-01", "2026-07-30"])
def test_snapshot_month_is_the_scenario_bound(date):
    assert load_catalog(date).hours_per_month == MONTH_HOURS


@pytest.mark.parametrize("date", ["2024-02-01", "2026-07-30"])
def test_priced_machines_and_gpus_exist_in_the_hardware_catalog(date):
    prices = load_catalog(date)
    for machine in prices.compute:
        hardware().machine(machine)
    for gpu in [*prices.gpus, *prices.unpriced_gpus]:
        assert gpu in hardware().accelerators


def test_study_prices_and_cud_rates():
    old = load_catalog("2024-02-01")
    assert old.machine("n1-standard-32").usd == Decimal("1.519992")
    assert old.machine("n1-standard-32", "spot").usd == Decimal("0.30388")
    new = load_catalog("2026-07-30")
    assert new.machine("n1-standard-32", "spot").usd == Decimal("0.53608")
    for machine, by in new.compute.items():
        if "cud-1y" not in by:
            assert machine.startswith("g2-"), machine  # G2 comes with L4s: no GPU CUD prices
            continue
        on_demand = by["on-demand"].usd
        assert abs(by["cud-1y"].usd / on_demand - Decimal("0.63")) < Decimal("0.001"), machine
        assert abs(by["cud-3y"].usd / on_demand - Decimal("0.45")) < Decimal("0.001"), machine


def test_lookups_name_what_is_priced():
    prices = load_catalog()
    with pytest.raises(PriceNotFound, match=r"n1-standard-96.*priced: .*n1-standard-16"):
        prices.machine("n1-standard-96")
    with pytest.raises(PriceNotFound, match=r"nvidia-l4.*G2"):
        load_catalog("2024-02-01").gpu("nvidia-l4")
    with pytest.raises(PriceNotFound, match="n1-standard-8' has no flex-start price"):
        prices.machine("n1-standard-8", "flex-start")
    with pytest.raises(PriceNotFound, match="no cud-1y price"):
        prices.gpu("nvidia-tesla-v100", "cud-1y")
    with pytest.raises(PriceNotFound, match="snapshots: 2024-02-01, 2026-07-30"):
        load_catalog("1999-01-01")


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = (PRICES_DIR / "2024-02-01.yaml").read_text()
    assert old in text
    path = tmp_path / "2024-02-01.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(("old", "new", "message"), [
    ('usd: "0.189999"', "usd: 0.189999", r"compute\.n1-standard-4\.on-demand\.usd: .*quoted"),
    ('usd: "0.189999"', 'usd: "-1"', r"compute\.n1-standard-4\.on-demand\.usd: .*>= 0"),
    ("source: gcp-disk, status: verified}", "source: nowhere, status: verified}",
     r"source: 'nowhere' is not in sources"),
    ("status: verified}", "status: guessed}", r"status: 'guessed' is not one of"),
    ("status: verified}", "status: extrapolated}", r"status: 'extrapolated' is not one of"),
    ("    spot: {usd: \"0.037985\"", "    reserved: {usd: \"0.037985\"",
     r"unknown pricing reserved"),
])
def test_malformed_snapshot_is_rejected_naming_the_field(tmp_path, old, new, message):
    with pytest.raises(CatalogError, match=message):
        load_catalog_file(_broken(tmp_path, old, new))


PD_STANDARD = 'pd-standard: {usd: "0.04", as_of: "2024-02-01", source: gcp-disk, status: verified}'


@pytest.mark.parametrize(("old", "new", "message"), [
    # verified, but dated after the snapshot
    (PD_STANDARD, PD_STANDARD.replace('as_of: "2024-02-01"', 'as_of: "2024-02-02"'),
     r"disks\.pd-standard \(verified\): as_of 2024-02-02 is later than the snapshot 2024-02-01"),
    # verified, from a source without a URL
    (PD_STANDARD, PD_STANDARD.replace("gcp-disk", "vertex-third-party"),
     r"disks\.pd-standard \(verified\): verified needs a first-party source with an https URL; "
     r"source 'vertex-third-party' is third-party, no URL"),
    # verified, from a first-party source whose URL was removed
    ('url: "https://cloud.google.com/compute/disks-image-pricing"', 'url: ""',
     r"disks\.pd-standard \(verified\): .*source 'gcp-disk' is first-party, no URL"),
    # verified, from a third-party copy with a URL
    (PD_STANDARD, PD_STANDARD.replace("gcp-disk", "gcp-calc-2024"),
     r"disks\.pd-standard \(verified\): .*source 'gcp-calc-2024' is third-party with URL"),
    # derived without its formula
    ('formula: "compute.n1-standard-8.on-demand × 1.15", ', "",
     r"vertex\.training_machine\.n1-standard-8 \(derived\): derived needs formula and "
     r"derived_from"),
    # derived from a price the snapshot does not have at that value
    ('derived_from: {compute.n1-standard-8.on-demand: "0.379998"}',
     'derived_from: {compute.n1-standard-8.on-demand: "0.40"}',
     r"n1-standard-8 \(derived\): derived_from compute\.n1-standard-8\.on-demand is 0\.40, "
     r"but the snapshot prices it at 0\.379998"),
    # a formula that does not give the price
    ("on-demand × 1.15\", derived_from: {compute.n1-standard-8",
     "on-demand × 1.20\", derived_from: {compute.n1-standard-8",
     r"formula 'compute\.n1-standard-8\.on-demand × 1\.20' gives 0\.4559976, not 0\.437"),
    # a formula that is not arithmetic
    ("on-demand × 1.15\", derived_from: {compute.n1-standard-8",
     "on-demand ** 2\", derived_from: {compute.n1-standard-8",
     r"formula .*'\*\*' is neither a number"),
    # unverified with nothing said about why
    ('source: vertex-third-party, status: unverified, note: "assumed to be 2 × n1-standard-16 '
     '(linear in size): the table stops at 16 vCPUs"', "source: vertex-third-party, status: "
     "unverified", r"vertex\.prediction_machine\.n1-standard-32 \(unverified\): .*needs a note"),
])
def test_a_status_must_be_earned(tmp_path, old, new, message):
    with pytest.raises(CatalogError, match=message) as err:
        load_catalog_file(_broken(tmp_path, old, new))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("date", "derived"), [("2024-02-01", 8), ("2026-07-30", 61)])
def test_regraded_snapshots(date, derived):
    prices = load_catalog(date)
    counts = prices.status_counts()
    assert sum(counts.values()) == len(prices.all_prices())
    # 2026-07-30 adds 53 derived prices: G2 machines (on-demand, spot, flex-start), the L4,
    # Vertex training on G2 and L4, and Vertex training on Spot VMs.
    assert counts["verified"] == 6 and counts["derived"] == derived
    for key, price in prices.all_prices():
        source = prices.sources[price.source]
        if price.status == "verified":
            assert source.first_party and source.url.startswith("https://"), key
            assert price.as_of <= date, key
    # third-party copies are never verified, whatever they copy
    assert prices.machine("n1-standard-32").status == "unverified"
    assert prices.vertex("prediction_machine", "n1-standard-16").status == "unverified"
    # Vertex training = Compute Engine × 1.15 is derived from the snapshot's own prices
    vt = prices.vertex("training_machine", "n1-standard-8")
    assert vt.status == "derived" and dict(vt.derived_from) == {
        "compute.n1-standard-8.on-demand": prices.machine("n1-standard-8").usd}
    # spot GPU prices as the source gives them, not 40 % of on-demand
    assert prices.gpu("nvidia-tesla-v100", "spot").usd == Decimal("0.8231")
    assert prices.gpu("nvidia-tesla-t4", "spot").usd == Decimal("0.14")


def test_formulas_are_arithmetic_only():
    assert evaluate("( a + b ) × 2", {"a": Decimal(1), "b": Decimal("0.5")}) == Decimal(3)
    with pytest.raises(ValueError, match="neither a number"):
        evaluate("__import__('os')", {})


def test_a_second_region_is_priced_on_the_same_date():
    assert regions("2026-07-30") == ["us-central1", "europe-west4"]
    assert regions("2024-02-01") == ["us-central1"]
    eu = load_catalog("2026-07-30", "europe-west4")
    us = load_catalog("2026-07-30")
    assert (eu.snapshot, eu.region) == ("2026-07-30", "europe-west4")
    assert load_catalog("2026-07-30", "us-central1") == us
    # the same keys as the default region, less what no source gave for EMEA
    missing = {k for k, _ in us.all_prices()} - {k for k, _ in eu.all_prices()}
    # G2 and the L4 (with their flex-start rates) and Vertex spot rates are priced in
    # us-central1 only
    g2_l4 = {k for k, _ in us.all_prices() if "g2-" in k or "nvidia-l4" in k
             or k.startswith("vertex.spot_training_")}
    assert missing - g2_l4 == {"gpus.nvidia-tesla-t4.cud-1y", "gpus.nvidia-tesla-t4.cud-3y",
                               "vertex.prediction_machine.n1-standard-2"}
    assert g2_l4 <= missing
    # N1 machines cost more there, the T4 the same (the sources' figures)
    for machine in (m for m in us.compute if m.startswith("n1-")):
        assert eu.machine(machine).usd > us.machine(machine).usd
    assert eu.gpu("nvidia-tesla-t4").usd == us.gpu("nvidia-tesla-t4").usd
    # every GPU the region's zones offer on N1 is priced
    for gpu in ("nvidia-tesla-t4", "nvidia-tesla-p4", "nvidia-tesla-p100", "nvidia-tesla-v100"):
        assert hardware().zones_offering("europe-west4", gpu)
        assert eu.gpu(gpu).usd > 0 and eu.vertex("training_gpu", gpu).usd > 0
    with pytest.raises(PriceNotFound, match="regions priced on 2026-07-30: us-central1, "
                                            "europe-west4"):
        load_catalog("2026-07-30", "asia-east1")


def test_the_second_regions_grades_follow_the_rules():
    eu = load_catalog("2026-07-30", "europe-west4")
    counts = eu.status_counts()
    assert counts == {"verified": 3, "derived": 0, "unverified": len(eu.all_prices()) - 3}
    verified = sorted(k for k, p in eu.all_prices() if p.status == "verified")
    assert verified == ["gke.cluster_fee_per_hour", "gke.free_tier_credit_per_month",
                        "sustained_use.n1"]
    # Vertex there is an assumption: it keeps its formula but may not claim `derived`
    training = eu.vertex("training_machine", "n1-standard-8")
    assert training.status == "unverified" and "× 1.15" in training.formula
    assert "no europe-west4 Vertex rate table" in training.note


def test_a_regional_file_must_say_its_own_date_and_region(tmp_path, monkeypatch):
    import cost.catalog as catalog_module

    for path in PRICES_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    wrong = tmp_path / "2026-07-30.europe-west4.yaml"
    wrong.write_text(wrong.read_text().replace("region: europe-west4", "region: europe-west1"))
    monkeypatch.setattr(catalog_module, "PRICES_DIR", tmp_path)
    load_catalog.cache_clear()
    try:
        with pytest.raises(CatalogError, match="says snapshot 2026-07-30 in europe-west1, but "
                                               "its name is for 2026-07-30 in europe-west4"):
            load_catalog("2026-07-30", "europe-west4")
    finally:
        load_catalog.cache_clear()


def test_gpu_commitment_prices_only_where_a_figure_was_found():
    prices = load_catalog("2026-07-30")
    one, three = prices.gpu("nvidia-tesla-t4", "cud-1y"), prices.gpu("nvidia-tesla-t4", "cud-3y")
    assert (one.usd, three.usd) == (Decimal("0.22"), Decimal("0.16"))
    # a third party's quote of the SKUs: never verified, and it names the SKU ids
    assert one.status == three.status == "unverified"
    assert "75EB-68C0-259C" in one.note and "A360-7A19-4436" in three.note
    assert not prices.sources[one.source].first_party
    on_demand = prices.gpu("nvidia-tesla-t4").usd
    assert three.usd < one.usd < on_demand
    for gpu in ("nvidia-tesla-p4", "nvidia-tesla-p100", "nvidia-tesla-v100"):
        with pytest.raises(PriceNotFound, match="no cud-3y price"):
            prices.gpu(gpu, "cud-3y")
