"""The drift decision: a serving window against the training reference, feature by feature.

The statistics are scipy's: `scipy.stats.ks_2samp` (two-sample Kolmogorov-Smirnov) for numeric
features and `scipy.stats.chi2_contingency` (chi-squared test of homogeneity) for the predicted
class, the same per-feature tests alibi-detect's `TabularDrift` runs, with the same Bonferroni
correction across features. (alibi-detect itself does not resolve with this lock: its releases
since 0.12 pin dill < 0.4, and pulumi 3.272 needs dill ≥ 0.4.)

A p-value alone flags tiny, harmless shifts once a window holds thousands of images, so a
feature drifts only when the shift is both significant (p < significance / features) and large:
its distance reaches the feature's threshold. The distance is the KS statistic for numeric
features and the largest change in any class's share (L-infinity) for the predicted class; both
lie in [0, 1].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from workloads.cifar10 import CLASS_NAMES
from workloads.cifar10.features import FEATURES
from workloads.monitoring.records import Records
from workloads.monitoring.settings import MonitoringSettings

NO_VERDICT = "insufficient data"


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's test: distance, p-value, the limits they were held to, and the verdict."""

    name: str
    kind: str
    test: str
    distance: float
    p_value: float
    threshold: float
    corrected_significance: float
    drifted: bool

    @property
    def score(self) -> float:
        """Distance over threshold: 1 or more means the distance reached the threshold."""
        return self.distance / self.threshold


@dataclass(frozen=True)
class DriftResult:
    """The comparison of one window with the reference."""

    verdict: str
    """`drift`, `no drift` or `insufficient data`."""
    features: tuple[FeatureDrift, ...]
    reference_count: int
    window_count: int
    min_samples: int
    significance: float

    @property
    def drifted(self) -> bool:
        return self.verdict == "drift"

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    @property
    def score(self) -> float:
        """The largest feature score (0 when there is no verdict): the metric dashboards plot."""
        return max((f.score for f in self.features), default=0.0)

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "drifted_features": self.drifted_features,
                "score": round(self.score, 6), "reference_count": self.reference_count,
                "window_count": self.window_count, "min_samples": self.min_samples,
                "significance": self.significance,
                "features": [asdict(f) for f in self.features]}


def _numeric(reference: np.ndarray, window: np.ndarray) -> tuple[float, float]:
    from scipy.stats import ks_2samp

    result = ks_2samp(reference, window)
    return float(result.statistic), float(result.pvalue)


def _categorical(reference: np.ndarray, window: np.ndarray) -> tuple[float, float]:
    from scipy.stats import chi2_contingency

    ref = np.array([np.count_nonzero(reference == c) for c in CLASS_NAMES], dtype=np.float64)
    cur = np.array([np.count_nonzero(window == c) for c in CLASS_NAMES], dtype=np.float64)
    distance = float(np.abs(ref / ref.sum() - cur / cur.sum()).max())
    seen = (ref + cur) > 0
    if seen.sum() < 2:  # one class in both: nothing to test, the shares are equal
        return distance, 1.0
    return distance, float(chi2_contingency(np.stack([ref[seen], cur[seen]])).pvalue)


def detect(reference: Records, window: Records, settings: MonitoringSettings) -> DriftResult:
    """Test every feature of `window` against `reference` (see the module docstring)."""
    corrected = settings.significance / len(FEATURES)
    if window.count < settings.min_samples:
        return DriftResult(NO_VERDICT, (), reference.count, window.count, settings.min_samples,
                           settings.significance)
    tested = []
    for feature in FEATURES:
        ref, cur = reference.columns[feature.name], window.columns[feature.name]
        if feature.kind == "numeric":
            distance, p_value = _numeric(ref, cur)
            test = "two-sample Kolmogorov-Smirnov"
        else:
            distance, p_value = _categorical(ref, cur)
            test = "chi-squared homogeneity"
        threshold = settings.thresholds[feature.name]
        tested.append(FeatureDrift(feature.name, feature.kind, test, distance, p_value,
                                   threshold, corrected,
                                   p_value < corrected and distance >= threshold))
    verdict = "drift" if any(f.drifted for f in tested) else "no drift"
    return DriftResult(verdict, tuple(tested), reference.count, window.count,
                       settings.min_samples, settings.significance)
