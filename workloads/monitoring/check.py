"""One monitoring check as plain Python: read the reference and the window, decide, report.

`mlp monitor check` and the monitoring pipeline's `check-drift` step both call `run_check`, so a
check behaves the same on a laptop, on Kubeflow and on Vertex AI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from workloads.monitoring.drift import DriftResult, detect
from workloads.monitoring.records import read_reference, read_window
from workloads.monitoring.report import html_report, log_record, markdown_report
from workloads.monitoring.settings import MonitoringSettings

REPORT_HTML = "drift-report.html"
REPORT_MD = "drift-report.md"
RESULT_JSON = "drift-result.json"


@dataclass(frozen=True)
class CheckOutcome:
    """A check's result, its report texts and its log line."""

    result: DriftResult
    html: str
    markdown: str
    log_line: str
    end: datetime


def run_check(reference: str, features: str, settings: MonitoringSettings,
              end: datetime | None = None) -> CheckOutcome:
    """Compare the features logged under `features` in the window ending at `end` (default:
    now) with the reference at `reference` (a `reference_features.jsonl` or the export folder
    holding it). Raises `records.RecordError` for unusable input."""
    end = (end or datetime.now(UTC)).astimezone(UTC)
    ref = read_reference(reference)
    window = read_window(features, end, settings.window_hours)
    result = detect(ref, window, settings)
    return CheckOutcome(
        result=result,
        html=html_report(result, ref, window, settings, end=end, reference_source=reference,
                         window_source=features),
        markdown=markdown_report(result, window, settings),
        log_line=log_record(result),
        end=end)


def write_outcome(outcome: CheckOutcome, out_dir: Path) -> dict[str, Path]:
    """Write the HTML and Markdown reports and the result JSON into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"html": out_dir / REPORT_HTML, "markdown": out_dir / REPORT_MD,
             "json": out_dir / RESULT_JSON}
    paths["html"].write_text(outcome.html, encoding="utf-8")
    paths["markdown"].write_text(outcome.markdown, encoding="utf-8")
    paths["json"].write_text(json.dumps(outcome.result.as_dict(), indent=2) + "\n",
                             encoding="utf-8")
    return paths
