"""The like-for-like comparison, `mlp cost compare`'s default: the same training shape, the same
served load sized from measurements, Kubeflow's own capacity, scale-up on both sides, a Vertex AI
persistent resource, and the report's per-model and region tables."""

import json
import math
import re
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from cost.catalog import load_catalog
from cost.compare import break_even, cost
from cost.models import bills, check_priceable, models_of
from cost.per_model import RESULTS_FILE, load_results, load_throughput_data, measured_serving
from cost.scenario import LIKE_FOR_LIKE, ScenarioError, load_scenario
from cost.sizing import kubeflow_size, serving_size
from mlp.cli import app

runner = CliRunner()
S = load_scenario(LIKE_FOR_LIKE)
PRICES = load_catalog(S.catalog, S.region)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("like-for-like")
    result = runner.invoke(app, ["cost", "compare", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, " ".join(result.output.split())


def _measured_rps() -> Decimal:
    """The predictor's requests/s per node at the scenario's p99 target, as `mlp cost per-model`
    reads it from the benchmark file (not copied)."""
    target = S.serving.target_p99_ms or load_throughput_data().assumptions["target_p99_ms"].value
    measured, why = measured_serving(load_results(RESULTS_FILE), target)
    assert measured is not None, why
    return measured.value


def test_compare_defaults_to_like_for_like_with_four_options(report):
    out, _ = report
    data = json.loads((out / "results.json").read_text())
    assert data["scenario"] == "like-for-like"
    assert list(data["models"]) == ["fixed", "autoscaled", "vertex", "persistent"]
    assert data["sustained_use"] == "pooled"
    assert not data["study"]  # the study's figures belong to its reproduction


def test_every_option_trains_on_the_same_machine_and_gpu():
    training = next(p for p in S.fixed.node_pools if p.name == S.fixed.training_pool)
    shapes = {(training.machine_type, training.gpu),
              (S.autoscaled.training_pool.machine_type, S.autoscaled.training_pool.gpu),
              (S.vertex.training.machine_type, S.vertex.training.gpu),
              (S.persistent.machine_type, S.persistent.gpu)}
    assert len(shapes) == 1
    machine, gpu = shapes.pop()
    from facts.hardware import catalog

    label = catalog().accelerators[gpu.type].display_name
    for name, bill in bills(S, PRICES, 100).items():
        text = " ".join(line.component for line in bill.lines)
        assert machine in text and label in text, name


def test_serving_is_sized_from_the_measured_rate_for_every_option():
    expected = max(S.serving.min_replicas,
                   math.ceil(S.serving.requests_per_s / _measured_rps()))
    assert serving_size(S.serving).replicas == expected
    month = PRICES.hours_per_month
    b = bills(S, PRICES, 640)
    for name in ("fixed", "autoscaled"):
        line = next(x for x in b[name].lines if x.component.startswith("[serving] Instance"))
        assert line.quantity == expected * month and S.serving.machine_type in line.component
    for name in ("vertex", "persistent"):
        line = next(x for x in b[name].lines if x.component.startswith("Endpoint"))
        assert line.quantity == expected * month and S.serving.machine_type in line.component
    # the rate counts only if its p99 met the target
    assert "p99" in serving_size(S.serving).describe()


def test_a_higher_load_needs_more_serving_nodes():
    busier = S.serving.model_copy(update={"requests_per_s": _measured_rps() * 5 + 1})
    assert serving_size(busier).replicas == 6


def test_kubeflow_gets_the_smallest_pool_that_holds_its_requests():
    from facts.hardware import catalog
    from infra.ownership import load_catalogue
    from infra.preflight import allocatable

    installs = load_catalogue().installs
    cpu = Decimal(sum(installs[n].footprint.cpu_millicores for n in S.kubeflow.installs)) / 1000
    assert cpu > 0
    for machine in ("n1-standard-2", "n1-standard-4", "n1-standard-8"):
        size = kubeflow_size(S.kubeflow.model_copy(update={"machine_type": machine}))
        node_cpu, node_mem = allocatable(catalog().machine(machine).vcpus,
                                         catalog().machine(machine).memory_gb)
        assert size.nodes * node_cpu >= size.cpu and size.nodes * node_mem >= size.memory_gib
        if size.nodes > 1:
            assert (size.nodes - 1) * node_cpu < size.cpu or \
                (size.nodes - 1) * node_mem < size.memory_gib
    assert size.cpu == cpu and size.unset > 0  # containers without requests are counted apart


def test_vertex_pays_a_scale_up_per_job_as_gke_does():
    assert S.vertex.scale_up_overhead_hours == S.autoscaled.scale_up_overhead_hours > 0
    b = bills(S, PRICES, 100)
    vertex = next(x for x in b["vertex"].lines if x.component.startswith("Custom training ("))
    gke = next(x for x in b["autoscaled"].lines if "Instance usage (n1-standard-8" in x.component)
    trials = S.workload.tuning_jobs_per_month * S.workload.trials_per_tuning_job
    assert vertex.quantity == 100 * (S.workload.run_hours + S.vertex.scale_up_overhead_hours)
    assert gke.quantity == (100 + trials) * (S.workload.run_hours
                                             + S.autoscaled.scale_up_overhead_hours)


def test_the_persistent_resource_bills_all_month_whatever_the_runs():
    assert cost(S, PRICES, "persistent", 0) == cost(S, PRICES, "persistent", 1300)
    line = bills(S, PRICES, 0)["persistent"].lines[0]
    assert line.quantity == S.persistent.replicas * S.persistent.hours_per_month
    assert line.unit_price == PRICES.vertex("training_machine", S.persistent.machine_type).usd
    # the analogue of the fixed cluster: the same capacity, dearer by the Vertex markup
    be = break_even(S, PRICES, "fixed", "persistent")
    assert be.cheaper_below == "fixed" and be.first_run is None


def test_usage_hours_of_the_autoscaled_pool_earn_the_pooled_discount():
    lines = bills(S, PRICES, 1300)["autoscaled"].lines
    t4 = next(x for x in lines if x.component.startswith("Sustained-use discount (NVIDIA T4"))
    assert t4.monthly < 0  # no always-on T4 in that option: all of it is usage hours


def test_break_evens_name_capacity_and_print_on_screen(report):
    out, screen = report
    data = json.loads((out / "results.json").read_text())
    cap = data["capacity"]
    assert cap["fixed_max_runs"] == cap["persistent_max_runs"] == 1436
    bes = {tuple(b["models"]): b for b in data["break_even"]}
    assert bes[("autoscaled", "persistent")]["beyond_capacity"] is True
    assert "beyond capacity (the persistent resource runs at most 1,436)" in \
        bes[("autoscaled", "persistent")]["described"]
    for b in data["break_even"]:
        if b["first_run"] is not None:
            assert f"{b['first_run']:,}" in screen
    assert "the fixed cluster runs at most 1,436; the persistent resource runs at most 1,436" \
        in screen


def test_report_has_per_model_tables_with_labelled_throughputs(report):
    out, _ = report
    data = json.loads((out / "results.json").read_text())
    section = data["per_model"]
    assert [r["model"] for r in section["rows"]] == ["vgg", "vgg-width-0.25", "resnet"]
    for row in section["rows"]:
        assert row["training_throughput"]["kind"] in ("measured", "estimated")
        assert [o["option"] for o in row["options"]] == section["options"]
        gke = row["options"][0]
        assert Decimal(gke["usd_per_model"]) > 0 and Decimal(gke["usd_per_million_predictions"])
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for text in (md, html):
        assert "Cost per trained model and per million predictions" in text
        assert "estimated" in text and "measured" in text and "USD / 1M predictions" in text


def test_report_prices_the_second_region_too(report, tmp_path):
    out, _ = report
    data = json.loads((out / "results.json").read_text())
    by_region = {r["region"]: r for r in data["regions"]}
    assert list(by_region) == ["us-central1", "europe-west4"]
    result = runner.invoke(app, ["cost", "compare", "--region", "europe-west4", "--out",
                                 str(tmp_path / "eu")])
    assert result.exit_code == 0, result.output
    eu = json.loads((tmp_path / "eu" / "results.json").read_text())
    assert eu["region"] == "europe-west4"
    for entry in eu["per_runs"]:
        for model, info in entry["models"].items():
            assert by_region["europe-west4"]["totals"][f"{model}@{entry['runs']}"] == \
                info["monthly"]
    assert "europe-west4" in (tmp_path / "eu" / "report.md").read_text().splitlines()[4]


def test_quantities_shown_are_rounded(report):
    out, _ = report
    md = (out / "report.md").read_text()
    table = md[md.index("## Break-even"):md.index("## Utilisation")]
    hours = [row.split("|")[-2].strip() for row in table.splitlines() if row.startswith("| ")
             and "vs" in row]
    assert hours and all(h == "—" or re.fullmatch(r"\d{1,3}(,\d{3})*\.\d", h) for h in hours)
    assert not re.search(r"\d\.\d{5,}", md[:md.index("## Price provenance")])


@pytest.mark.parametrize(("old", "new", "message"), [
    ("requests_per_s: 200 ", "requests_per_s: 200\n  target_p99_ms: 1 ",
     r"serving\.target_p99_ms: 1 ms: the lowest measured p99, .* is above the target 1 ms"),
    ("kserve-crd, kserve-resources]", "kserve-crd, kserve-resource]",
     r"kubeflow\.installs: 'kserve-resource' is not an install"),
    ("  # endpoint: sized from serving", "  endpoint: {machine_type: n1-standard-4}\n  #",
     r"vertex\.endpoint: given together with serving"),
    ("kubeflow:                            #", "kubeflow_off:                        #",
     r"kubeflow_off: Extra inputs"),
    ("  replicas: 2                        # as many",
     "  replicas: 1                        # as many",
     r"1300 runs do not fit the persistent resource .* allowed: at most 706"),
    ("requests_per_s: 200 ", "requests_per_s: -5 ", r"serving\.requests_per_s: .*greater than 0"),
    ("requests_per_s: 200 ", "requests_per_s: .inf ", r"serving\.requests_per_s: .*finite"),
    ("region: us-central1 ", "region: ../scenarios/study-2024 ",
     r"region: '\.\./scenarios/study-2024' is not a region name"),
    ("[cert-manager, pipelines-cluster-scoped,", "[cert-manager, cert-manager,",
     r"kubeflow\.installs: 'cert-manager' is named twice"),
    ("machine_type: n1-standard-4        # dev's", "machine_type: n1-standard-5        #",
     r"kubeflow\.machine_type: .*n1-standard-5"),
    ("machine_type: n1-standard-4        # GKE serving", "machine_type: e2-standard-4 #",
     r"serving pool|e2-standard-4"),
])
def test_impossible_like_for_like_scenarios_exit_2_in_one_line(tmp_path, old, new, message):
    text = LIKE_FOR_LIKE.read_text()
    assert old in text
    path = tmp_path / "s.yaml"
    path.write_text(text.replace(old, new, 1))
    out = tmp_path / "out"
    result = runner.invoke(app, ["cost", "compare", "--scenario", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert re.search(message, text), text
    assert "Traceback" not in result.output and not out.exists()


def test_an_autoscaled_cluster_needs_always_on_nodes(tmp_path):
    text = LIKE_FOR_LIKE.read_text()
    cut = text[text.index("kubeflow:"):text.index("fixed:")]
    path = tmp_path / "s.yaml"
    path.write_text(text.replace(cut, ""))
    with pytest.raises(ScenarioError, match=r"autoscaled\.always_on_pools: empty, and no "
                                            r"kubeflow section"):
        load_scenario(path)


def test_a_gpu_the_region_does_not_offer_is_refused():
    from dataclasses import replace

    elsewhere = replace(PRICES, region="us-east1")  # no P4 in any us-east1 zone
    p4 = S.model_copy(update={"vertex": S.vertex.model_copy(update={
        "training": S.vertex.training.model_copy(update={
            "gpu": S.vertex.training.gpu.model_copy(update={"type": "nvidia-tesla-p4"})})})})
    with pytest.raises(ScenarioError, match=r"vertex\.training\.gpu\.type: 'nvidia-tesla-p4' is "
                                            r"offered in no zone of us-east1; regions that "
                                            r"offer it: us-central1, europe-west4"):
        check_priceable(p4, elsewhere, "s.yaml")


@pytest.mark.parametrize(("args", "message"), [
    (["--region", "asia-east1"], "--region: no price snapshot 2026-07-30 for region "
                                 "'asia-east1'; regions priced on 2026-07-30: us-central1, "
                                 "europe-west4"),
    (["--region", "../../etc"], "--region: '../../etc' is not a region name such as "
                                "us-central1"),
    (["--scenario", "nosuch"], "--scenario: 'nosuch' is neither a shipped scenario "
                               "(like-for-like, study-2024) nor a file"),
    (["--scenario", "study-2024", "--region", "europe-west4"],
     "regions priced on 2024-02-01: us-central1"),
])
def test_bad_scenario_or_region_exits_2_naming_it(tmp_path, args, message):
    result = runner.invoke(app, ["cost", "compare", *args, "--out", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "r").exists()


def test_every_option_is_priced_in_both_regions():
    for region in ("us-central1", "europe-west4"):
        prices = load_catalog(S.catalog, region)
        check_priceable(S, prices, region)
        assert models_of(S) == ["fixed", "autoscaled", "vertex", "persistent"]


def test_html_report_renders_its_charts_in_a_browser(report, tmp_path):
    """The like-for-like report drawn by Chromium: its charts change a real share of the page."""
    from tests.browser import chart_pixels

    out, _ = report
    shot = tmp_path / "like-for-like.png"
    differ, total = chart_pixels(out / "report.html", shot)
    assert shot.stat().st_size > 20_000
    assert differ / total > 0.02, f"charts change only {differ} of {total} pixels"


def test_the_readme_quotes_the_like_for_like_figures(report):
    """The README's like-for-like sentence states what `mlp cost compare` computes."""
    from facts.stacks import REPO_ROOT

    _, screen = report
    readme = " ".join((REPO_ROOT / "README.md").read_text().split())
    fv = re.search(r"Vertex AI pay-per-use is cheaper below ([\d,]+) runs", screen).group(1)
    fa = re.search(r"Autoscaled GKE cluster is cheaper below ([\d,]+) runs", screen).group(1)
    assert f"cheaper than the fixed cluster below {fv} runs a month and the autoscaled " \
           f"cluster below {fa}" in readme
    assert "fixed cluster's capacity of 1,436" in readme and "runs at most 1,436" in screen
    fva = re.search(r"Autoscaled GKE cluster vs Vertex AI pay-per-use: Vertex AI pay-per-use is "
                    r"cheaper below ([\d,]+) runs", screen).group(1)
    assert f"Vertex AI pay-per-use is cheaper than the autoscaled cluster below {fva} runs" \
        in readme
