import json
import re
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from cost.catalog import load_catalog
from cost.report import bills_text, results
from cost.scenario import STUDY_SCENARIO, ScenarioError, load_scenario
from mlp.cli import app

from .golden import check_golden

runner = CliRunner()


def test_study_bills_golden():
    s = load_scenario()
    check_golden("study-2024-bills.txt", bills_text(s, load_catalog(s.catalog)))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The study's reproduction (the default scenario is like-for-like: test_like_for_like.py)."""
    out = tmp_path_factory.mktemp("report")
    result = runner.invoke(app, ["cost", "compare", "--scenario", "study-2024", "--out",
                                 str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_compare_writes_every_file(report):
    for name in ("results.json", "costs.csv", "report.md", "report.html", "bills.txt"):
        assert (report / name).stat().st_size > 500, name


def test_results_show_study_figures_beside_ours(report):
    data = json.loads((report / "results.json").read_text())
    assert {e["runs"] for e in data["per_runs"]} == {100, 640, 1300}
    assert all(e["models"]["fixed"]["monthly"] == "2404.35" for e in data["per_runs"])
    study = {f["label"]: f for f in data["study"]}
    assert len(study) == 4
    assert study["GKE cluster, 3 × n1-standard-32, per month"]["ours_value"] == "2404.35"
    assert [f["reproduced"] for f in data["study"]].count(False) == 3
    assert all(f["explanation"] for f in data["study"])


def test_html_is_self_contained_with_two_charts(report):
    html = (report / "report.html").read_text()
    assert html.count("<svg") == 2
    assert not re.search(r"""(src|href)\s*=\s*["']https?:""", html)
    assert "<script" not in html and "@import" not in html
    assert "2,404.35" in html


def test_csv_totals_match_json(report):
    rows = (report / "costs.csv").read_text().splitlines()
    data = json.loads((report / "results.json").read_text())
    totals = {(r.split(",")[0], r.split(",")[1]): r.split(",")[-1] for r in rows if ",TOTAL," in r}
    for e in data["per_runs"]:
        for model, info in e["models"].items():
            assert Decimal(totals[(str(e["runs"]), model)]) == Decimal(info["monthly"])


def _scenario_with(tmp_path, old, new):
    text = STUDY_SCENARIO.read_text()
    assert old in text
    path = tmp_path / "scenario.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(("old", "new", "message"), [
    ("run_hours: 1 ", "run_hours: -1 ", r"workload\.run_hours: .*greater than 0"),
    ("nodes: 3 ", "nodes: three ", r"fixed\.node_pools\.0\.nodes"),
    ("pricing: on-demand ", "pricing: reserved ", r"fixed\.node_pools\.0\.pricing.*'reserved'"),
    ('catalog: "2024-02-01"', 'catalog: "2023-01-01"', r"catalog: '2023-01-01' is not a price"),
    ("training_pool: cpu ", "training_pool: gpu ", r"fixed\.training_pool: 'gpu'"),
    ("hours_per_month: 730           # up all", "hours_per_month: 800 #",
     r"hours_per_month: .*less than or equal to 730"),
    ("  runs_per_month:", "  runs_per_month_typo: [1]\n  runs_per_month:",
     r"workload\.runs_per_month_typo: Extra inputs"),
])
def test_bad_scenario_is_rejected_naming_the_field(tmp_path, old, new, message):
    path = _scenario_with(tmp_path, old, new)
    with pytest.raises(ScenarioError, match=message):
        load_scenario(path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["cost", "compare", "--scenario", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert not out.exists()


def test_unpriceable_scenario_fails_before_writing(tmp_path):
    path = _scenario_with(tmp_path, "machine_type: n1-standard-32     # nearest",
                          "machine_type: n1-standard-64     # nearest")
    out = tmp_path / "out"
    result = runner.invoke(app, ["cost", "compare", "--scenario", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert "vertex: " in result.output and "n1-standard-64" in result.output
    assert not out.exists()


def test_compare_with_a_malformed_snapshot_exits_2_naming_it(tmp_path, monkeypatch):
    from cost.catalog import CatalogError

    def broken(date=None, region=None):
        raise CatalogError(f"{date}.yaml: compute.n1-standard-4.on-demand.usd: must be quoted")

    monkeypatch.setattr("cost.catalog.load_catalog", broken)
    result = runner.invoke(app, ["cost", "compare", "--scenario", "study-2024", "--out",
                                 str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    text = " ".join(result.output.split())
    assert f"{STUDY_SCENARIO}: catalog: 2024-02-01.yaml: compute.n1-standard-4" in text
    assert not (tmp_path / "r").exists()


def test_report_lists_every_non_verified_price_it_uses_with_date_and_status(report):
    data = json.loads((report / "results.json").read_text())
    prices = load_catalog(data["catalog"])
    prov = data["provenance"]
    assert prov["counts"] == prices.status_counts()
    used = {p["key"]: p for p in prov["not_verified_used"]}
    # the fixed cluster's nodes come from a third-party copy, the T4 from a third-party catalog
    assert used["compute.n1-standard-32.on-demand"]["status"] == "unverified"
    assert used["gpus.nvidia-tesla-t4.on-demand"]["as_of"] == "2025-01-01"
    assert used["vertex.training_machine.n1-standard-8"]["status"] == "derived"
    assert all(p["status"] != "verified" for p in used.values())
    assert "disks.pd-standard" not in used  # verified prices are not flagged
    md = (report / "report.md").read_text()
    counts = ", ".join(f"{n} {st}" for st, n in prices.status_counts().items())
    assert f"Snapshot 2024-02-01: {counts} prices." in md
    assert "| gpus.nvidia-tesla-t4.on-demand | 0.35 | 2025-01-01 | unverified |" in md
    html = (report / "report.html").read_text()
    assert "Price provenance" in html and counts in html


def test_report_cites_the_study_as_far_as_it_is_known(report):
    md = (report / "report.md").read_text()
    assert "Study: title: not recorded; author: not recorded; institution: not recorded; " \
           "year: not recorded." in md
    assert 'seed "000"' in md


def _study(path):
    s = load_scenario(path)
    return {f["ours"]: f for f in results(s, load_catalog(s.catalog))["study"]}


def test_reproduced_is_computed_to_the_cent(tmp_path):
    shipped = _study(STUDY_SCENARIO)
    assert shipped["fixed.monthly"]["reproduced"] is True
    assert "→ 2,404.35" in shipped["fixed.monthly"]["explanation"]
    two = _study(_scenario_with(tmp_path, "nodes: 3 ", "nodes: 2 "))
    fixed = two["fixed.monthly"]
    assert fixed["ours_value"] == "1627.23" and fixed["reproduced"] is False
    # the explanation is the computation's, not the shipped prose
    assert "→ 1,627.23" in fixed["explanation"] and "2,404.35" not in fixed["explanation"]
    assert "1460 × 1.519992" in fixed["explanation"]
    hourly = two["fixed.hourly"]["explanation"]
    assert hourly.startswith("1,627.23 / 730 h = 2.2291 $/h")


def test_a_stated_figure_equal_to_ours_to_the_cent_is_reproduced(tmp_path):
    path = _scenario_with(tmp_path, 'stated: "3.38"', 'stated: "3.29"')
    assert _study(path)["fixed.hourly"]["reproduced"] is True
    path = _scenario_with(tmp_path, 'stated: "3.38"', 'stated: "3.30"')
    assert _study(path)["fixed.hourly"]["reproduced"] is False


def test_break_even_beyond_the_fixed_clusters_capacity_says_so(report):
    data = json.loads((report / "results.json").read_text())
    bes = {tuple(b["models"]): b for b in data["break_even"]}
    fa = bes[("fixed", "autoscaled")]
    assert fa["capacity_runs"] == 2190  # 3 nodes × 730 h, one node-hour per run
    assert fa["first_run"] > 2190 and fa["beyond_capacity"] is True
    assert fa["described"].endswith("beyond capacity (the fixed cluster runs at most 2,190)")
    fv = bes[("fixed", "vertex")]
    assert fv["first_run"] <= 2190 and fv["beyond_capacity"] is False
    assert "beyond capacity (the fixed cluster runs at most 2,190)" in \
        (report / "report.md").read_text()


@pytest.mark.parametrize(("old", "new", "message"), [
    ("nodes: 3 ", "nodes: 0 ",
     r"fixed\.node_pools\.0\.nodes: Input should be greater than or equal to 1 \(got 0\)"),
    ("hours_per_month: 730           # up all", "hours_per_month: 0 #",
     r"fixed\.node_pools\.0\.hours_per_month: 0 for the training pool 'cpu' leaves no time"),
    ("runs_per_month: [100, 640, 1300]", "runs_per_month: [100, 3000]",
     r"workload\.runs_per_month: 3000 runs do not fit .*allowed: at most 2190"),
    ("tuning_jobs_per_month: 0 ", "tuning_jobs_per_month: 2 ",
     r"workload\.tuning_jobs_per_month: 2 tuning jobs need trials_per_tuning_job"),
    ('context: "Full-month', 'context: "A 30 % full-month',
     r"study\.0\.context: holds the figure '30'"),
    ('ours: "fixed.hourly"', 'ours: "fixed.daily"', r"study\.1\.ours: 'fixed\.daily' is not"),
    ('stated: "3.38"', 'stated: "about 3"', r"study\.1\.stated: 'about 3' is not an amount"),
])
def test_impossible_scenarios_are_refused_in_one_line(tmp_path, old, new, message):
    path = _scenario_with(tmp_path, old, new)
    with pytest.raises(ScenarioError, match=message) as err:
        load_scenario(path)
    assert "\n" not in str(err.value)
    result = runner.invoke(app, ["cost", "compare", "--scenario", str(path), "--out",
                                 str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_breakdown_draws_discounts_and_credits_below_zero(report):
    from cost.report import breakdown_segments

    data = json.loads((report / "results.json").read_text())
    labels, series = breakdown_segments(data)
    totals = [float(e["models"][m]["monthly"]) for e in data["per_runs"] for m in data[
        "per_runs"][0]["models"]]
    sud = next(s for s in series if s["group"] == "Sustained-use discount")
    fixed = labels.index("fixed\n100 runs")
    assert sud["heights"][fixed] < 0 and sud["bottoms"][fixed] <= 0  # drawn below the axis
    for i in range(len(labels)):
        tops = [s["bottoms"][i] + s["heights"][i] for s in series]
        charged = sum(max(s["heights"][i], 0) for s in series)
        assert max([0.0, *tops]) == pytest.approx(charged)  # the bar's top is what is charged
        net = sum(s["heights"][i] for s in series)
        assert net == pytest.approx(totals[i], abs=0.05)
    # the fixed bar no longer reaches 3,400: its top is the list price, 3,328.78 + fee + disks
    assert max(s["bottoms"][fixed] + s["heights"][fixed] for s in series) < 3404


def test_runs_chart_marks_capacity_and_the_scenarios_runs(report):
    html = (report / "report.html").read_text()
    runs_chart = html[html.index("<svg"):html.index("</svg>")]
    assert "fixed cluster capacity" in runs_chart and "2,190 runs" in runs_chart
    for n in ("100", "640", "1,300"):
        assert f">{n}<" in runs_chart


def test_quantities_are_rounded_for_display(report):
    data = json.loads((report / "results.json").read_text())
    quantities = [c["quantity"] for e in data["per_runs"] for m in e["models"].values()
                  for c in m["components"]]
    assert quantities and all(len(q.partition(".")[2]) <= 4 for q in quantities)
    csv_text = (report / "costs.csv").read_text()
    assert not re.search(r"\d\.\d{7,}", csv_text)


def test_crossovers_print_on_screen(tmp_path):
    result = runner.invoke(app, ["cost", "compare", "--scenario", "study-2024", "--out",
                                 str(tmp_path / "r")])
    text = " ".join(result.output.split())
    assert "Break-even (runs a month of 1 h; the fixed cluster runs at most 2,190):" in text
    assert "Vertex AI pay-per-use is cheaper below 1,341 runs" in text
    assert "2,815 — beyond capacity" in text


def test_the_readme_quotes_the_computed_figures(tmp_path):
    """The README's cost paragraph states what `mlp cost compare` computes, not typed-in prose."""
    from facts.stacks import REPO_ROOT

    result = runner.invoke(app, ["cost", "compare", "--scenario", "study-2024", "--out",
                                 str(tmp_path / "r")])
    screen = " ".join(result.output.split())
    readme = " ".join((REPO_ROOT / "README.md").read_text().split())
    for figure in ("1,341", "2,815", "2,190"):
        assert figure in screen and figure in readme
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    assert "2,404.35" in readme and "2404.35" in json.dumps(data)


def test_html_report_renders_its_charts_in_a_browser(report, tmp_path):
    """Chromium draws the report, and its charts cover a real share of the page: hiding them
    changes more than 2 % of the pixels of a 1280 × 2400 screenshot (3.8 % when written; the
    charts' white plot areas do not count)."""
    from tests.browser import chart_pixels

    shot = tmp_path / "report.png"
    differ, total = chart_pixels(report / "report.html", shot)
    assert shot.stat().st_size > 20_000
    assert differ / total > 0.02, f"charts change only {differ} of {total} pixels"
