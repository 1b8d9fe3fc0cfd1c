from decimal import Decimal

import pytest

from cost.catalog import load_catalog
from cost.models import fixed_bill
from cost.money import cents
from cost.pricing import Bill, PricingError, billed_hours, cluster_fee_lines, node_lines
from cost.scenario import load_scenario

OLD = load_catalog("2024-02-01")
MONTH = Decimal(730)
N1 = OLD.sud_tiers("n1")


def test_study_cluster_reproduces_2404_35_to_the_cent():
    bill = Bill("study").extend(
        node_lines(OLD, "n1-standard-32", nodes=3, hours=MONTH, disk_gb=10,
                   disk_type="pd-standard")
        + cluster_fee_lines(OLD, regional=True, free_tier=False))
    amounts = [cents(line.monthly) for line in bill.lines]
    assert amounts == [Decimal("3328.78"), Decimal("-998.63"), Decimal("1.20"), Decimal("73.00")]
    assert cents(bill.monthly) == Decimal("2404.35")


def test_study_scenario_fixed_model_is_2404_35_whatever_the_runs():
    s = load_scenario()
    for runs in (0, 100, 640, 1300):
        assert cents(fixed_bill(s, OLD, runs).monthly) == Decimal("2404.35")


@pytest.mark.parametrize(("share", "billed_share"), [
    (Decimal("0.25"), Decimal("1.0")),   # first quarter at 100 %: no discount
    (Decimal("0.50"), Decimal("0.9")),   # (1.0 + 0.8) / 2
    (Decimal("0.75"), Decimal("0.8")),   # (1.0 + 0.8 + 0.6) / 3
    (Decimal("1.00"), Decimal("0.7")),   # full month: 30 % off
])
def test_sustained_use_tiers(share, billed_share):
    hours = MONTH * share
    assert billed_hours(hours, MONTH, N1) == hours * billed_share


def test_no_sud_for_spot_cud_or_usage_hours():
    for pricing in ("spot", "cud-1y", "cud-3y"):
        lines = node_lines(OLD, "n1-standard-8", nodes=1, hours=MONTH, pricing=pricing)
        assert len(lines) == 1 and lines[0].monthly > 0
    lines = node_lines(OLD, "n1-standard-8", nodes=1, hours=MONTH, sustained_use=False)
    assert len(lines) == 1


def test_gpu_gets_sud_on_n1():
    lines = node_lines(OLD, "n1-standard-8", nodes=2, hours=MONTH, gpu_type="nvidia-tesla-t4",
                       gpu_count=1)
    gpu = [line for line in lines if "T4" in line.component or "GPU" in line.component]
    assert sum(line.monthly for line in gpu) == Decimal("0.35") * 730 * 2 * Decimal("0.7")


def test_hours_outside_the_month_are_refused():
    with pytest.raises(PricingError, match="between 0 and 730"):
        billed_hours(Decimal(731), MONTH, N1)


@pytest.mark.parametrize(("machine", "gpu", "count", "message"), [
    ("n1-standard-32", "nvidia-tesla-v100", 1, "1 x nvidia-tesla-v100 allows at most 12 vCPUs"),
    ("n1-standard-8", "nvidia-tesla-t4", 3, "attaches in counts of 1, 2, 4"),
    ("e2-standard-8", "nvidia-tesla-t4", 1, "attaches only to n1 machines, not e2-standard-8"),
    ("n1-standard-7", "nvidia-tesla-t4", 1, "comes with"),
])
def test_gpu_attachment_follows_the_hardware_catalog(machine, gpu, count, message):
    with pytest.raises(PricingError, match=message):
        node_lines(OLD, machine, nodes=1, hours=MONTH, gpu_type=gpu, gpu_count=count)


def test_free_tier_only_for_zonal_and_capped_at_the_fee():
    zonal = cluster_fee_lines(OLD, regional=False, free_tier=True)
    assert sum(line.monthly for line in zonal) == 0
    regional = cluster_fee_lines(OLD, regional=True, free_tier=True)
    assert sum(line.monthly for line in regional) == Decimal("73.0")
    short = cluster_fee_lines(OLD, regional=False, free_tier=True, hours=Decimal(800))
    assert sum(line.monthly for line in short) == Decimal("80.0") - Decimal("74.40")
