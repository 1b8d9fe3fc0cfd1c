from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- pooled sustained-use discount (cost/data/billing_rules.yaml) ------------------------------

NEW = load_catalog("2026-07-30")
N1_VCPU = NEW.machine("n1-standard-8").usd / 8


def _pooled(*uses):
    from cost.pricing import pooled_sud_lines

    lines, _ = pooled_sud_lines(NEW, [u for group in uses for u in group])
    return {line.component: line for line in lines}


def _use(machine, nodes, hours, always_on=True, **kw):
    from cost.pricing import sud_uses

    return sud_uses(NEW, machine, nodes=nodes, hours=Decimal(hours), always_on=always_on, **kw)


VCPU_LINE = "Sustained-use discount (N1 vCPUs and memory, pooled in us-central1)"
T4_LINE = "Sustained-use discount (NVIDIA T4, pooled in us-central1)"


def test_pooled_full_month_nodes_get_what_per_node_gives():
    per_node = sum(line.monthly for line in node_lines(OLD, "n1-standard-32", nodes=3,
                                                       hours=MONTH) if line.monthly < 0)
    from cost.pricing import pooled_sud_lines, sud_uses

    lines, _ = pooled_sud_lines(OLD, sud_uses(OLD, "n1-standard-32", nodes=3, hours=MONTH))
    assert sum(line.monthly for line in lines) == per_node
    assert cents(per_node) == Decimal("-998.63")


def test_usage_hours_earn_the_discount_when_pooled():
    # 1,460 node-hours one job after another fill two node-months: the same discount as two
    # nodes up all month, vCPUs and T4s alike
    usage = _pooled(_use("n1-standard-8", 1, 1460, always_on=False,
                         gpu_type="nvidia-tesla-t4", gpu_count=1))
    always = _pooled(_use("n1-standard-8", 2, 730, gpu_type="nvidia-tesla-t4", gpu_count=1))
    assert usage[VCPU_LINE].monthly == always[VCPU_LINE].monthly
    assert usage[T4_LINE].monthly == always[T4_LINE].monthly == Decimal("-0.35") * 2 * 219
    # 200 h: 182.5 h at list, 17.5 h at 80 %: 3.5 h saved on each of 8 vCPUs
    short = _pooled(_use("n1-standard-8", 1, 200, always_on=False))
    assert short[VCPU_LINE].quantity == Decimal("3.5") * 8
    assert short[VCPU_LINE].monthly == -N1_VCPU * 28
    # under a quarter of the month: nothing
    assert _pooled(_use("n1-standard-8", 1, 180, always_on=False)) == {}


def test_shapes_of_one_family_pool_their_vcpus():
    # n1-standard-8 usage 300 h, then n1-standard-4 usage 400 h on the same lane: vCPUs 1-4
    # run 700 h, vCPUs 5-8 run 300 h (apart they would be 300 h and 400 h layers)
    pooled = _pooled(_use("n1-standard-8", 1, 300, always_on=False),
                     _use("n1-standard-4", 1, 400, always_on=False))
    saved = 4 * (700 - billed_hours(Decimal(700), MONTH, N1)) + \
        4 * (300 - billed_hours(Decimal(300), MONTH, N1))
    assert pooled[VCPU_LINE].quantity == saved
    apart = 8 * (300 - billed_hours(Decimal(300), MONTH, N1)) + \
        4 * (400 - billed_hours(Decimal(400), MONTH, N1))
    assert saved > apart


def test_spot_commitments_and_unlisted_gpus_earn_none():
    assert _use("n1-standard-8", 1, 730, pricing="spot", gpu_type="nvidia-tesla-t4",
                gpu_count=1) == []
    assert _use("n1-standard-8", 1, 730, pricing="cud-1y") == []
    from cost.rules import load_rules

    assert "nvidia-l4" not in load_rules().sustained_use.gpus
    assert set(load_rules().sustained_use.gpus) == {
        "nvidia-tesla-t4", "nvidia-tesla-p4", "nvidia-tesla-p100", "nvidia-tesla-v100"}


def test_every_rule_names_a_source_the_file_lists():
    from cost.rules import load_rules

    rules = load_rules()
    for key in [*rules.sustained_use.sources.values(), rules.persistent_resource.source]:
        assert key in rules.sources and rules.sources[key].url.startswith("https://")
    assert rules.sources[rules.sustained_use.sources["pooling"]].first_party


hours = st.decimals(min_value=0, max_value=2000, places=1)


@settings(max_examples=60, deadline=None)
@given(hours, hours)
def test_pooling_never_gives_less_than_apart(h1, h2):
    """Two usages of one shape pooled earn at least what each earns alone, and a pool's
    discount never exceeds the 30 % of a full month."""
    def saved(*hs):
        return sum((line.quantity for line in _pooled(
            *(_use("n1-standard-8", 1, h, always_on=False) for h in hs)).values()), Decimal(0))

    together, apart = saved(h1, h2), saved(h1) + saved(h2)
    assert together >= apart
    assert together <= Decimal("0.3") * (h1 + h2) * 8
