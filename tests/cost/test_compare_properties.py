"""Monotonicity and break-even correctness, over generated scenarios: the study's (affine costs)
and the like-for-like one (pooled sustained-use discounts make the autoscaled cost piecewise)."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cost.catalog import load_catalog
from cost.compare import break_even, cost
from cost.models import models_of
from cost.scenario import LIKE_FOR_LIKE, STUDY_SCENARIO, load_scenario

BASES = {"study": load_scenario(STUDY_SCENARIO), "like-for-like": load_scenario(LIKE_FOR_LIKE)}
PRICES = {name: load_catalog(s.catalog, s.region) for name, s in BASES.items()}
BASE = BASES["study"]
GPUS = ["nvidia-tesla-t4", "nvidia-tesla-p4", "nvidia-tesla-p100", "nvidia-tesla-v100"]

run_hours = st.decimals(min_value=Decimal("0.1"), max_value=Decimal(8), places=2)
nodes = st.integers(min_value=0, max_value=6)
spot = st.decimals(min_value=0, max_value=1, places=2)


def variant(base, hours, fixed_nodes, gpu, share, endpoint_hours):
    """The base scenario with run length, fixed training nodes, GPU, spot share and endpoint
    hours changed (fields a scenario file could hold; capacity is not re-checked)."""
    w = base.workload.model_copy(update={"run_hours": hours})
    pools = [p.model_copy(update={"nodes": fixed_nodes}) if p.name == base.fixed.training_pool
             else p for p in base.fixed.node_pools]
    fixed = base.fixed.model_copy(update={"node_pools": pools})
    gpu_spec = base.vertex.training.gpu.model_copy(update={"type": gpu})
    tp = base.autoscaled.training_pool.model_copy(update={"spot_share": share, "gpu": gpu_spec})
    auto = base.autoscaled.model_copy(update={"training_pool": tp})
    update = {"training": base.vertex.training.model_copy(update={"gpu": gpu_spec})}
    if base.vertex.endpoint is not None:
        update["endpoint"] = base.vertex.endpoint.model_copy(
            update={"hours_per_month": endpoint_hours})
    vertex = base.vertex.model_copy(update=update)
    return base.model_copy(update={"workload": w, "fixed": fixed, "autoscaled": auto,
                                   "vertex": vertex})


def scenarios(name):
    return st.builds(variant, st.just(BASES[name]), run_hours, nodes, st.sampled_from(GPUS),
                     spot, st.decimals(min_value=0, max_value=730, places=1))


@pytest.mark.parametrize("base", list(BASES))
@settings(max_examples=25, deadline=None)
@given(data=st.data(), runs=st.integers(min_value=0, max_value=5000), more=st.integers(1, 500))
def test_cost_never_falls_with_more_runs(base, data, runs, more):
    s = data.draw(scenarios(base))
    for model in models_of(s):
        assert cost(s, PRICES[base], model, runs + more) >= cost(s, PRICES[base], model, runs)


@pytest.mark.parametrize("base", list(BASES))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_break_even_is_the_first_run_count_where_the_order_flips(base, data):
    s = data.draw(scenarios(base))
    m1, m2 = data.draw(st.sampled_from([(a, b) for i, a in enumerate(models_of(s))
                                        for b in models_of(s)[i + 1:]]))
    prices = PRICES[base]
    be = break_even(s, prices, m1, m2)
    if be.first_run is None:
        # No crossing (for n >= 0, or within the searched horizon): the one cheaper at zero
        # stays no dearer at every point looked at.
        if be.cheaper_below is not None:
            other = m2 if be.cheaper_below == m1 else m1
            far = be.horizon if be.horizon is not None else Decimal(10_000)
            for n in (0, 10, far / 2, far):
                assert cost(s, prices, be.cheaper_below, n) <= cost(s, prices, other, n)
        return
    low = be.cheaper_below
    high = m2 if low == m1 else m1
    n = be.first_run
    assert cost(s, prices, low, n) >= cost(s, prices, high, n)
    if n > 0:
        assert cost(s, prices, low, n - 1) < cost(s, prices, high, n - 1)
    # At the exact crossing both cost the same, to far below a cent.
    assert abs(cost(s, prices, m1, be.runs) - cost(s, prices, m2, be.runs)) < Decimal("1e-6")


def test_study_break_even_fixed_vs_vertex():
    prices = PRICES["study"]
    be = break_even(BASE, prices, "fixed", "vertex")
    assert be.cheaper_below == "vertex"
    assert be.first_run == 1341
    assert cost(BASE, prices, "vertex", 1340) < cost(BASE, prices, "fixed", 1340)
    assert cost(BASE, prices, "vertex", 1341) >= cost(BASE, prices, "fixed", 1341)
