"""The drift decision on data with and without a shift, and the records it reads."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.monitoring.conftest import END, write_reference, write_window
from workloads.monitoring.check import run_check
from workloads.monitoring.drift import detect
from workloads.monitoring.records import (
    MAX_LINE_BYTES,
    RecordError,
    hour_folders,
    read_reference,
    read_window,
)
from workloads.monitoring.settings import SettingsError, load_settings

SETTINGS = load_settings().with_overrides(window_hours=24, min_samples=200)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_reference(tmp_path_factory.mktemp("ref") / "reference_features.jsonl")


def test_an_unshifted_window_does_not_drift(reference: Path, tmp_path: Path) -> None:
    outcome = run_check(str(reference), str(write_window(tmp_path / "log")), SETTINGS, END)
    result = outcome.result
    assert result.verdict == "no drift" and result.drifted_features == []
    assert result.window_count == 400 and result.reference_count == 1500
    assert json.loads(outcome.log_line)["drift"] is False


def test_a_brightness_and_contrast_shift_drifts(reference: Path, tmp_path: Path) -> None:
    result = run_check(str(reference), str(write_window(tmp_path / "log", shifted=True)),
                       SETTINGS, END).result
    assert result.verdict == "drift"
    assert {"mean_r", "mean_g", "mean_b", "std_r", "contrast"} <= set(result.drifted_features)
    # The model's outputs were drawn the same way in both windows: they do not drift.
    assert "predicted_class" not in result.drifted_features
    assert result.score > 1
    for f in result.features:
        assert f.drifted == (f.p_value < SETTINGS.significance / 9 and f.distance >= f.threshold)


def test_a_threshold_above_the_shift_keeps_a_feature_quiet(reference: Path,
                                                          tmp_path: Path) -> None:
    loose = SETTINGS.with_overrides(thresholds={**SETTINGS.thresholds, "contrast": 1.0})
    result = run_check(str(reference), str(write_window(tmp_path / "log", shifted=True)),
                       loose, END).result
    assert "contrast" not in result.drifted_features and result.verdict == "drift"


def test_too_few_images_give_no_verdict(reference: Path, tmp_path: Path) -> None:
    result = run_check(str(reference), str(write_window(tmp_path / "log", n=50, shifted=True)),
                       SETTINGS, END).result
    assert result.verdict == "insufficient data" and not result.drifted
    assert result.features == () and result.score == 0


def test_only_records_inside_the_window_count(reference: Path, tmp_path: Path) -> None:
    folder = write_window(tmp_path / "log", n=300, minutes=120)  # the last two hours
    write_window(folder, n=300, shifted=True, seed=9, end=END - timedelta(hours=3))
    two_hours = run_check(str(reference), str(folder),
                          SETTINGS.with_overrides(window_hours=2), END).result
    assert two_hours.window_count == 300 and two_hours.verdict == "no drift"
    whole_day = run_check(str(reference), str(folder), SETTINGS, END).result
    assert whole_day.window_count == 600


def test_the_window_lists_only_its_hour_folders() -> None:
    folders = hour_folders("gs://b/f", END - timedelta(hours=2, minutes=30), END)
    assert folders == ["gs://b/f/2026-12-01/09", "gs://b/f/2026-12-01/10",
                       "gs://b/f/2026-12-01/11", "gs://b/f/2026-12-01/12"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(0.1, 0.9), st.integers(0, 10_000))
def test_categorical_distance_is_the_largest_change_of_a_class_share(share: float,
                                                                    seed: int) -> None:
    from workloads.cifar10.features import FEATURES
    from workloads.monitoring.records import Records

    rng = np.random.default_rng(seed)
    n = 1000

    def columns(p_cat: float) -> dict:
        cols = {f.name: rng.normal(0, 1, n) for f in FEATURES if f.kind == "numeric"}
        cols["predicted_class"] = np.where(rng.random(n) < p_cat, "cat", "dog").astype(object)
        return cols

    ref, cur = columns(0.5), columns(share)
    result = detect(Records(ref, n, ()), Records(cur, n, ()), SETTINGS)
    (cls,) = [f for f in result.features if f.name == "predicted_class"]
    expected = abs(np.mean(ref["predicted_class"] == "cat") - np.mean(cur["predicted_class"]
                                                                       == "cat"))
    assert cls.distance == pytest.approx(expected)
    assert 0 <= cls.p_value <= 1


BAD_LINES = {
    "not JSON": ("{oops", "not valid JSON"),
    "a list": ("[1, 2]", "JSON object was expected"),
    "NaN": ('{"mean_r": NaN}', "not valid JSON"),
    "missing feature": ('{"timestamp": "2026-12-01T11:00:00Z"}', "no 'mean_r'"),
    "bad class": (None, "is not a class name"),
    "string number": (None, "is not a finite number"),
    "local time": (None, "is not an RFC 3339 UTC time"),
    "duplicate key": ('{"mean_r": 1, "mean_r": 2}', "duplicate key"),
    "huge line": ('{"x": "' + "a" * MAX_LINE_BYTES + '"}', "records are at most"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_a_bad_record_stops_the_read_with_one_line_naming_it(tmp_path: Path, case: str) -> None:
    folder = write_window(tmp_path / "log", n=20, minutes=30)
    (target,) = folder.rglob("*.jsonl")
    good = json.loads(target.read_text().splitlines()[0])
    line, expect = BAD_LINES[case]
    if case == "bad class":
        line = json.dumps({**good, "predicted_class": "tank"})
    elif case == "string number":
        line = json.dumps({**good, "mean_g": "12"})
    elif case == "local time":
        line = json.dumps({**good, "timestamp": "2026-12-01T11:00:00"})
    target.write_text(target.read_text() + line + "\n")
    with pytest.raises(RecordError) as err:
        read_window(str(folder), END, 24)
    message = str(err.value)
    assert "\n" not in message and expect in message and f"{target}:21" in message


def test_an_empty_or_missing_reference_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(RecordError, match="no records"):
        read_reference(str(tmp_path / "empty.jsonl"))
    with pytest.raises(RecordError, match="cannot read it"):
        read_reference(str(tmp_path / "missing"))
    with pytest.raises(RecordError, match="no such folder"):
        read_window(str(tmp_path / "nowhere"), END, 1)


@pytest.mark.parametrize(("override", "message"), [
    ({"window_hours": 0}, "window_hours"), ({"significance": 1.5}, "significance"),
    ({"thresholds": {"mean_r": 0.1}}, "missing"),
    ({"thresholds": {**SETTINGS.thresholds, "mean_r": 0}}, "is not a distance in (0, 1]"),
    ({"min_samples": 1}, "min_samples")])
def test_settings_out_of_range_are_refused(override: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        SETTINGS.with_overrides(**override)
