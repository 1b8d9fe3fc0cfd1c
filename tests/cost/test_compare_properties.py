"""Monotonicity and break-even correctness, over generated scenarios."""

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from cost.catalog import load_catalog
from cost.compare import break_even, cost
from cost.models import MODELS
from cost.scenario import load_scenario

BASE = load_scenario()
PRICES = load_catalog(BASE.catalog)
GPUS = ["nvidia-tesla-t4", "nvidia-tesla-p4", "nvidia-tesla-p100", "nvidia-tesla-v100"]

run_hours = st.decimals(min_value=Decimal("0.1"), max_value=Decimal(8), places=2)
nodes = st.integers(min_value=0, max_value=6)
spot = st.decimals(min_value=0, max_value=1, places=2)


def variant(hours, fixed_nodes, gpu, share, endpoint_hours):
    w = BASE.workload.model_copy(update={"run_hours": hours})
    pool = BASE.fixed.node_pools[0].model_copy(update={"nodes": fixed_nodes})
    fixed = BASE.fixed.model_copy(update={"node_pools": [pool]})
    tp = BASE.autoscaled.training_pool.model_copy(
        update={"spot_share": share, "gpu": BASE.vertex.training.gpu.model_copy(
            update={"type": gpu})})
    auto = BASE.autoscaled.model_copy(update={"training_pool": tp})
    endpoint = BASE.vertex.endpoint.model_copy(update={"hours_per_month": endpoint_hours})
    training = BASE.vertex.training.model_copy(
        update={"gpu": BASE.vertex.training.gpu.model_copy(update={"type": gpu})})
    vertex = BASE.vertex.model_copy(update={"endpoint": endpoint, "training": training})
    return BASE.model_copy(update={"workload": w, "fixed": fixed, "autoscaled": auto,
                                   "vertex": vertex})


scenarios = st.builds(variant, run_hours, nodes, st.sampled_from(GPUS), spot,
                      st.decimals(min_value=0, max_value=730, places=1))


@settings(max_examples=40, deadline=None)
@given(scenarios, st.integers(min_value=0, max_value=5000), st.integers(1, 500))
def test_cost_never_falls_with_more_runs(s, runs, more):
    for model in MODELS:
        assert cost(s, PRICES, model, runs + more) >= cost(s, PRICES, model, runs)


@settings(max_examples=40, deadline=None)
@given(scenarios, st.sampled_from([("fixed", "vertex"), ("autoscaled", "vertex"),
                                   ("fixed", "autoscaled")]))
def test_break_even_is_the_first_run_count_where_the_order_flips(s, pair):
    m1, m2 = pair
    be = break_even(s, PRICES, m1, m2)
    if be.first_run is None:
        # Never cross for n >= 0: the one cheaper at zero stays no dearer far out.
        if be.cheaper_below is not None:
            other = m2 if be.cheaper_below == m1 else m1
            for n in (0, 10, 10_000):
                assert cost(s, PRICES, be.cheaper_below, n) <= cost(s, PRICES, other, n)
        return
    low = be.cheaper_below
    high = m2 if low == m1 else m1
    n = be.first_run
    assert cost(s, PRICES, low, n) >= cost(s, PRICES, high, n)
    if n > 0:
        assert cost(s, PRICES, low, n - 1) < cost(s, PRICES, high, n - 1)
    # At the exact crossing both cost the same, to far below a cent.
    x = be.runs
    c1 = cost(s, PRICES, m1, 0) + x * (cost(s, PRICES, m1, 1) - cost(s, PRICES, m1, 0))
    c2 = cost(s, PRICES, m2, 0) + x * (cost(s, PRICES, m2, 1) - cost(s, PRICES, m2, 0))
    assert abs(c1 - c2) < Decimal("1e-6")


def test_study_break_even_fixed_vs_vertex():
    be = break_even(BASE, PRICES, "fixed", "vertex")
    assert be.cheaper_below == "vertex"
    assert be.first_run == 1341
    assert cost(BASE, PRICES, "vertex", 1340) < cost(BASE, PRICES, "fixed", 1340)
    assert cost(BASE, PRICES, "vertex", 1341) >= cost(BASE, PRICES, "fixed", 1341)
