"""The feature-log figures in workloads/README.md are the committed benchmark results."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_quotes_the_feature_log_benchmark() -> None:
    results = yaml.safe_load((ROOT / "workloads/cifar10/benchmarks/results.yaml").read_text())
    section = results["serving_feature_log"]
    readme = (ROOT / "workloads/README.md").read_text()
    for name, label in (("without_feature_log", "without feature log"),
                        ("with_feature_log", "with feature log")):
        row = section[name]
        rounds = ", ".join(f"{v:.2f}" for v in row["p50_ms_rounds"])
        assert (f"| {label} | {row['requests_per_s']:.1f} | {row['p50_ms']:.2f} | "
                f"{row['p99_ms']:.2f} | {rounds} |") in readme
    assert f"differ by {section['p50_difference_ms']:.2f} ms" in readme
    assert f"less than the {section['p50_spread_between_rounds_ms']:.2f} ms" in readme
    assert section["difference_within_noise"] is True
