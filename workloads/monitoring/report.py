"""The drift report: HTML with one chart per feature, Markdown with the table, and the one-line
structured log record the stack's log-based metrics count.

Charts are matplotlib (Agg backend) SVG inlined in the page, so the HTML is one self-contained
file: a pipeline's HTML artifact, or a file to open locally. Numeric features are drawn as the
reference's and the window's histograms over shared bins (densities, so sizes compare); the
predicted class as each class's share.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from facts.monitoring import DRIFT_LOG_EVENT
from workloads.cifar10 import CLASS_NAMES
from workloads.cifar10.features import BY_NAME, FEATURES
from workloads.monitoring.drift import DriftResult
from workloads.monitoring.records import Records
from workloads.monitoring.settings import MonitoringSettings

TEMPLATES = Path(__file__).parent / "templates"
BINS = 30


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    plt.rcParams["svg.hashsalt"] = "ml-platform"
    return plt


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    _pyplot().close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def feature_chart(name: str, reference: np.ndarray, window: np.ndarray, drifted: bool) -> str:
    """Reference against window for one feature, as inline SVG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(3.6, 2.4))
    colour = "#b3261e" if drifted else "#1f77b4"
    if BY_NAME[name].kind == "categorical":
        positions = np.arange(len(CLASS_NAMES))
        for offset, values, label, shade in ((-0.2, reference, "reference", "#9e9e9e"),
                                             (0.2, window, "window", colour)):
            shares = [np.count_nonzero(values == c) / max(len(values), 1) for c in CLASS_NAMES]
            ax.bar(positions + offset, shares, width=0.4, label=label, color=shade)
        ax.set_xticks(positions, [c[:4] for c in CLASS_NAMES], fontsize=7, rotation=45)
        ax.set_ylabel("share", fontsize=8)
    else:
        both = np.concatenate([reference, window])
        edges = np.histogram_bin_edges(both, bins=BINS)
        ax.hist(reference, bins=edges, density=True, alpha=0.55, label="reference",
                color="#9e9e9e")
        ax.hist(window, bins=edges, density=True, alpha=0.55, label="window", color=colour)
        ax.set_ylabel("density", fontsize=8)
        ax.tick_params(labelsize=7)
    ax.set_title(name, fontsize=9)
    ax.legend(fontsize=7)
    return _svg(fig)


def html_report(result: DriftResult, reference: Records, window: Records,
                settings: MonitoringSettings, *, end: datetime, reference_source: str,
                window_source: str) -> str:
    """The self-contained HTML report."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    charts = {f.name: feature_chart(f.name, reference.columns[f.name], window.columns[f.name],
                                    f.drifted)
              for f in result.features}
    return env.get_template("drift.html.j2").render(
        result=result, reference=reference, window=window, settings=settings, charts=charts,
        descriptions={f.name: f.description for f in FEATURES}, feature_count=len(FEATURES),
        end=end.isoformat(timespec="seconds").replace("+00:00", "Z"),
        reference_source=reference_source, window_source=window_source)


def markdown_report(result: DriftResult, window: Records, settings: MonitoringSettings) -> str:
    """The verdict and the per-feature table, for a pipeline's Markdown artifact."""
    lines = ["# CIFAR-10 drift report", "",
             f"Verdict: **{result.verdict}** on {window.count} images of the last "
             f"{settings.window_hours:g} h against {result.reference_count} reference images."]
    if not result.features:
        lines.append(f"At least {result.min_samples} images are needed for a verdict.")
        return "\n".join(lines) + "\n"
    lines += ["", "| feature | test | distance | threshold | p-value | verdict |",
              "|---|---|---|---|---|---|"]
    for f in result.features:
        lines.append(f"| {f.name} | {f.test} | {f.distance:.4f} | {f.threshold:.2f} | "
                     f"{f.p_value:.3g} | {'drift' if f.drifted else '—'} |")
    lines += ["", f"A feature drifts when p < {result.features[0].corrected_significance:.5f} "
                  f"(significance {result.significance} / {len(FEATURES)} features) and its "
                  "distance reaches its threshold."]
    return "\n".join(lines) + "\n"


def log_record(result: DriftResult, model_version: str | None = None) -> str:
    """One JSON line for Cloud Logging: GKE and Vertex AI turn a JSON line on stdout into the
    entry's `jsonPayload`, which the stack's log-based metrics read (`event`, `drift`,
    `score`)."""
    return json.dumps({
        "severity": "WARNING" if result.drifted else "INFO",
        "message": f"cifar10 drift check: {result.verdict} "
                   f"({', '.join(result.drifted_features) or 'no feature over its threshold'})",
        "event": DRIFT_LOG_EVENT, "drift": result.drifted, "verdict": result.verdict,
        "score": round(result.score, 6), "drifted_features": result.drifted_features,
        "window_count": result.window_count, "model_version": model_version,
    }, sort_keys=True)
