"""`make demo`'s bookkeeping: one line per step, the files it wrote, a summary and an index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlp import demo


def _fake_mlp(writes: dict[str, str], code: int = 0):
    """A stand-in for the `mlp` subprocess: writes files, prints to the log, exits `code`."""
    def call(command, stdout, stderr, env):
        stdout.write(f"ran {' '.join(command[3:])}\n")
        for path, text in writes.items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
        return code
    return call


def test_a_step_records_its_result_time_files_and_log(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    reports = tmp_path / "reports"
    demo.start(reports)
    (reports / "old.json").write_text("{}")  # there before the step: not one of its files
    monkeypatch.setattr(demo.subprocess, "call", _fake_mlp(
        {reports / "preview-dev.json": "{}", reports / "cost" / "plan-dev.txt": "x"}))
    step = demo.run_step(reports, "preview dev", ["preview", "dev"])
    assert step.code == 0 and step.result == "ok"
    assert step.files == [str(reports / "cost" / "plan-dev.txt"),
                          str(reports / "preview-dev.json")]
    assert Path(step.log).read_text() == "ran preview dev\n"
    assert demo.read_steps(reports) == [step]
    line = demo.report_step(step)
    assert line.startswith("  ok in ") and str(reports / "preview-dev.json") in line


def test_many_files_are_shown_as_their_folder() -> None:
    files = [f"reports/pipeline/run-1/task-{i}/out.json" for i in range(7)]
    assert demo.shown_files(files) == ["reports/pipeline/run-1/ (7 files)"]
    assert demo.shown_files(files[:2]) == files[:2]


def test_summary_writes_an_index_linking_every_file_and_fails_on_a_failed_step(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    reports = tmp_path / "reports"
    demo.start(reports)
    monkeypatch.setattr(demo.subprocess, "call", _fake_mlp(
        {reports / "cost" / "report.html": "<html>"}))
    demo.run_step(reports, "cost compare", ["cost", "compare"])
    monkeypatch.setattr(demo.subprocess, "call", _fake_mlp({}, code=1))
    demo.run_step(reports, "policy check dev", ["policy", "check", "dev"])
    assert demo.summary(reports) == 1
    out = capsys.readouterr().out
    assert "cost compare" in out and "failed (exit 1)" in out and "2 steps in" in out
    page = (reports / "index.html").read_text()
    assert '<a href="cost/report.html">cost/report.html</a>' in page
    assert '<a href="logs/policy-check-dev.log">' in page
    assert '<td class="failed">failed (exit 1)</td>' in page


def test_start_forgets_the_previous_run(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    demo.start(reports)
    (reports / "logs" / demo.RECORDS).write_text(json.dumps(
        {"name": "x", "command": "mlp x", "code": 0, "seconds": 1.0}) + "\n")
    assert len(demo.read_steps(reports)) == 1
    demo.start(reports)
    assert demo.read_steps(reports) == []


def test_a_real_step_runs_mlp_and_a_failing_one_shows_its_log(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    reports = tmp_path / "reports"
    assert demo.main(["--reports", str(reports), "start"]) == 0
    assert demo.main(["--reports", str(reports), "step", "stacks", "--", "stacks"]) == 0
    assert (reports / "logs" / "stacks.log").read_text().split() == ["dev", "prod", "vertex"]
    assert demo.main(["--reports", str(reports), "step", "bad", "--", "preview", "nope"]) == 2
    captured = capsys.readouterr()
    assert "=== bad: mlp preview nope" in captured.out
    assert "  | error:" in captured.err
