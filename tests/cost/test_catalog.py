from decimal import Decimal
from pathlib import Path

import pytest

from cost.catalog import (
    PRICES_DIR,
    CatalogError,
    PriceNotFound,
    load_catalog,
    load_catalog_file,
    snapshots,
)
from cost.scenario import MONTH_HOURS
from infra.hardware import catalog as hardware


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
        on_demand = by["on-demand"].usd
        assert abs(by["cud-1y"].usd / on_demand - Decimal("0.63")) < Decimal("0.001"), machine
        assert abs(by["cud-3y"].usd / on_demand - Decimal("0.45")) < Decimal("0.001"), machine


def test_lookups_name_what_is_priced():
    prices = load_catalog()
    with pytest.raises(PriceNotFound, match=r"n1-standard-96.*priced: n1-standard-16"):
        prices.machine("n1-standard-96")
    with pytest.raises(PriceNotFound, match=r"nvidia-l4.*G2"):
        prices.gpu("nvidia-l4")
    with pytest.raises(PriceNotFound, match="no cud-1y price"):
        prices.gpu("nvidia-tesla-t4", "cud-1y")
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
    ("source: gcp-calc-2024, status: verified}", "source: nowhere, status: verified}",
     r"source: 'nowhere' is not in sources"),
    ("status: verified}", "status: guessed}", r"status: 'guessed' is not one of"),
    ("    spot: {usd: \"0.037985\"", "    reserved: {usd: \"0.037985\"",
     r"unknown pricing reserved"),
])
def test_malformed_snapshot_is_rejected_naming_the_field(tmp_path, old, new, message):
    with pytest.raises(CatalogError, match=message):
        load_catalog_file(_broken(tmp_path, old, new))
