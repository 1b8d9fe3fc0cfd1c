"""`mlp monitor check` end to end on files, and its HTML report as a reader sees it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlp.cli import app
from tests.monitoring.conftest import write_reference, write_window

runner = CliRunner()
END = "2026-12-01T12:00:00Z"


def _check(reference: Path, window: Path, out: Path, *extra: str):
    return runner.invoke(app, ["monitor", "check", "--reference", str(reference), "--features",
                               str(window), "--out", str(out), "--end", END, *extra])


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_reference(tmp_path_factory.mktemp("ref") / "reference_features.jsonl")


def test_check_exits_1_on_drift_and_0_without(reference: Path, tmp_path: Path) -> None:
    calm = _check(reference, write_window(tmp_path / "calm"), tmp_path / "calm-out")
    assert calm.exit_code == 0, calm.output
    assert calm.stdout.startswith("no drift: 400 images in the window, 1500 in the reference")
    shifted = _check(reference, write_window(tmp_path / "shift", shifted=True),
                     tmp_path / "shift-out")
    assert shifted.exit_code == 1, shifted.output
    assert shifted.stdout.startswith("drift: ") and "mean_r" in shifted.stdout
    result = json.loads((tmp_path / "shift-out" / "drift-result.json").read_text())
    assert result["verdict"] == "drift" and "contrast" in result["drifted_features"]
    markdown = (tmp_path / "shift-out" / "drift-report.md").read_text()
    assert "Verdict: **drift**" in markdown and "| contrast |" in markdown


@pytest.mark.parametrize(("extra", "message"), [
    (["--threshold", "colour=0.2"], "--threshold 'colour=0.2' is not NAME=VALUE"),
    (["--threshold", "contrast=big"], "'big' is not a number"),
    (["--threshold", "contrast=2"], "is not a distance in (0, 1]"),
    (["--window-hours", "-1"], "window_hours"),
    (["--end", "yesterday"], "--end 'yesterday' is not an RFC 3339 time"),
])
def test_bad_options_are_one_line_and_exit_2(reference: Path, tmp_path: Path, extra: list,
                                             message: str) -> None:
    result = runner.invoke(app, ["monitor", "check", "--reference", str(reference),
                                 "--features", str(write_window(tmp_path / "w", n=10)),
                                 "--out", str(tmp_path / "o"), *extra])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_drift_report_shows_its_charts(reference: Path, tmp_path: Path) -> None:
    """The HTML report read as a picture: headless Chromium renders it, and the per-feature
    charts cover a real share of the page (rendered again without them, the pixels differ)."""
    from tests.browser import chart_pixels

    assert _check(reference, write_window(tmp_path / "shift", shifted=True),
                  tmp_path / "out").exit_code == 1
    page = tmp_path / "out" / "drift-report.html"
    html = page.read_text()
    assert html.count("<svg") == 9 and "drift</span>" in html
    differ, total = chart_pixels(page, tmp_path / "drift-report.png")
    # Nine charts in three rows fill the upper part of a 1280×2400 page: 4-8 % of its pixels
    # change when they are hidden (sparser histograms, fewer); collapsed charts change none.
    assert differ / total > 0.02, (differ, total)
