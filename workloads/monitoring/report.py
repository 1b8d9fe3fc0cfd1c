"""The drift report: HTML with one chart per feature, Markdown with the table, and the one-line
structured log record the stack's log-based metrics count.

The report is one self-contained HTML file (a pipeline's HTML artifact, or a file to open
locally) with its charts as inline SVG drawn here from numpy histograms: the step runs in the
trainer image, which carries no plotting or templating library. Numeric features show the
reference's and the window's densities over shared bins, the predicted class each class's share.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape

import numpy as np

from facts.monitoring import DRIFT_LOG_EVENT
from workloads.cifar10 import CLASS_NAMES
from workloads.cifar10.features import BY_NAME, FEATURES
from workloads.monitoring.drift import DriftResult
from workloads.monitoring.records import Records
from workloads.monitoring.settings import MonitoringSettings

BINS = 30
WIDTH, HEIGHT = 340, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 26, 40
REFERENCE_COLOUR, WINDOW_COLOUR, DRIFT_COLOUR = "#9e9e9e", "#1f77b4", "#b3261e"


def _number(value: float) -> str:
    return f"{value:.3g}"


def _frame(name: str, y_max: float, x_labels: list[tuple[float, str]], label: str,
           bars: list[str], colour: str) -> str:
    """An SVG chart: axes, ticks, title, legend around the given bar elements."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(name)}">',
             f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-size="12">'
             f"{escape(name)}</text>", *bars,
             f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
             'stroke="#333"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>',
             f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end" font-size="9">'
             f"{_number(y_max)}</text>",
             f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end" font-size="9">0</text>',
             f'<text x="10" y="{TOP + plot_h / 2}" font-size="9" transform="rotate(-90 10 '
             f'{TOP + plot_h / 2})" text-anchor="middle">{label}</text>']
    for i, (x, text) in enumerate(x_labels):
        # The outer labels of a numeric axis sit inside the chart, not across its edges.
        anchor = "middle" if 0 < i < len(x_labels) - 1 or len(x_labels) > 5 else \
            ("start" if i == 0 else "end")
        parts.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 14}" text-anchor="{anchor}" '
                     f'font-size="9">{escape(text)}</text>')
    for i, (text, fill) in enumerate((("reference", REFERENCE_COLOUR), ("window", colour))):
        y = TOP + 4 + 12 * i
        parts += [f'<rect x="{WIDTH - 86}" y="{y}" width="10" height="8" fill="{fill}"/>',
                  f'<text x="{WIDTH - 72}" y="{y + 8}" font-size="9">{text}</text>']
    return "".join(parts) + "</svg>"


def feature_chart(name: str, reference: np.ndarray, window: np.ndarray, drifted: bool) -> str:
    """Reference against window for one feature, as inline SVG."""
    colour = DRIFT_COLOUR if drifted else WINDOW_COLOUR
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bars: list[str] = []
    if BY_NAME[name].kind == "categorical":
        shares = [np.array([np.count_nonzero(values == c) for c in CLASS_NAMES], dtype=float)
                  / max(len(values), 1) for values in (reference, window)]
        y_max = max(float(max(s.max() for s in shares)), 1e-9)
        slot = plot_w / len(CLASS_NAMES)
        for i in range(len(CLASS_NAMES)):
            for j, (share, fill) in enumerate(zip(shares, (REFERENCE_COLOUR, colour),
                                                  strict=True)):
                h = plot_h * share[i] / y_max
                bars.append(f'<rect x="{LEFT + slot * i + slot * (0.1 + 0.4 * j):.1f}" '
                            f'y="{TOP + plot_h - h:.1f}" width="{slot * 0.4:.1f}" '
                            f'height="{h:.1f}" fill="{fill}"/>')
        labels = [(LEFT + slot * (i + 0.5), c[:4]) for i, c in enumerate(CLASS_NAMES)]
        return _frame(name, y_max, labels, "share", bars, colour)
    edges = np.histogram_bin_edges(np.concatenate([reference, window]), bins=BINS)
    densities = [np.histogram(values, bins=edges, density=True)[0]
                 for values in (reference, window)]
    y_max = max(float(max(d.max() for d in densities)), 1e-9)
    width = plot_w / BINS
    for density, fill, opacity in zip(densities, (REFERENCE_COLOUR, colour), (0.6, 0.55),
                                      strict=True):
        for i, value in enumerate(density):
            h = plot_h * value / y_max
            bars.append(f'<rect x="{LEFT + width * i:.1f}" y="{TOP + plot_h - h:.1f}" '
                        f'width="{width:.1f}" height="{h:.1f}" fill="{fill}" '
                        f'fill-opacity="{opacity}"/>')
    labels = [(LEFT + plot_w * k / 4, _number(edges[0] + (edges[-1] - edges[0]) * k / 4))
              for k in range(5)]
    return _frame(name, y_max, labels, "density", bars, colour)


STYLE = """body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1180px;
  color: #222; }
h1 { font-size: 1.6rem; }
.verdict { display: inline-block; padding: .2rem .7rem; border-radius: .3rem; color: #fff; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.drift td { background: #fdecea; }
.grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 1rem; }
figure { margin: 0; border: 1px solid #ddd; padding: .4rem; }
figcaption { font-size: .85rem; }
.meta { color: #555; font-size: .9rem; }"""


def html_report(result: DriftResult, reference: Records, window: Records,
                settings: MonitoringSettings, *, end: datetime, reference_source: str,
                window_source: str) -> str:
    """The self-contained HTML report."""
    colour = DRIFT_COLOUR if result.drifted else ("#2e7d32" if result.features else "#6b6b6b")
    count = len(FEATURES)
    stamp = end.isoformat(timespec="seconds").replace("+00:00", "Z")
    meta = (f"Window: {window.count} images logged {escape(window.first or '—')} to "
            f"{escape(window.last or '—')} ({settings.window_hours:g} h up to {stamp}), from "
            f"{len(window.files)} file(s) under <code>{escape(window_source)}</code>. "
            f"Reference: {reference.count} images, <code>{escape(reference_source)}</code>. "
            f"Significance {result.significance:g} over {count} features (Bonferroni: "
            f"p &lt; {result.significance / count:.5f}); at least {result.min_samples} images "
            "for a verdict.")
    body = [f'<h1>CIFAR-10 drift report <span class="verdict" style="background: {colour}">'
            f"{escape(result.verdict)}</span></h1>", f'<p class="meta">{meta}</p>']
    if not result.features:
        body.append(f"<p>Too few images in the window for a verdict: {window.count} of the "
                    f"{result.min_samples} needed.</p>")
    else:
        rows = "".join(
            f'<tr class="{"drift" if f.drifted else ""}"><td>{f.name}</td><td>{f.test}</td>'
            f"<td>{f.distance:.4f}</td><td>{f.threshold:.2f}</td><td>{f.p_value:.3g}</td>"
            f'<td>{"drift" if f.drifted else "—"}</td></tr>' for f in result.features)
        body.append("<table><thead><tr><th>feature</th><th>test</th><th>distance</th>"
                    "<th>threshold</th><th>p-value</th><th>verdict</th></tr></thead>"
                    f"<tbody>{rows}</tbody></table>")
        figures = []
        for f in result.features:
            chart = feature_chart(f.name, reference.columns[f.name], window.columns[f.name],
                                  f.drifted)
            figures.append(f"<figure>{chart}<figcaption>{f.name}: "
                           f"{escape(BY_NAME[f.name].description)}</figcaption></figure>")
        body.append(f'<div class="grid">{"".join(figures)}</div>')
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>CIFAR-10 drift report: {escape(result.verdict)}</title>\n"
            f"<style>\n{STYLE}\n</style>\n</head>\n<body>\n" + "\n".join(body)
            + "\n</body>\n</html>\n")


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
