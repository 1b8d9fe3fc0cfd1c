"""The monitored features: what they compute, and the predictor's feature log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from workloads.cifar10 import CLASS_NAMES
from workloads.cifar10.features import (
    FEATURE_NAMES,
    FeatureLog,
    compute,
    records,
    reference_lines,
)


def _probs(n: int, top: int = 3) -> np.ndarray:
    probs = np.full((n, 10), 0.05, dtype=np.float32)
    probs[:, top] = 0.55
    return probs


def test_features_of_a_known_image() -> None:
    image = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    image[0, :16, :, 0] = 200  # top half red
    image[0, :, :, 2] = 100  # all blue at 100
    out = compute(image, _probs(1))
    assert out["mean_r"][0] == pytest.approx(100.0)
    assert out["std_r"][0] == pytest.approx(100.0)
    assert out["mean_g"][0] == 0 and out["std_g"][0] == 0
    assert out["mean_b"][0] == pytest.approx(100.0) and out["std_b"][0] == pytest.approx(0.0)
    # grey = 0.299 R + 0.114 B: two halves 0.299*200 apart, so its std is half of that.
    assert out["contrast"][0] == pytest.approx(0.299 * 200 / 2 / 255, rel=1e-5)
    assert out["predicted_class"][0] == CLASS_NAMES[3]
    assert out["top1_probability"][0] == pytest.approx(0.55)


@settings(max_examples=40, deadline=None)
@given(arrays(np.uint8, (3, 32, 32, 3)), st.integers(0, 9))
def test_features_stay_in_their_ranges(images: np.ndarray, top: int) -> None:
    out = compute(images, _probs(3, top))
    for channel in "rgb":
        assert np.all((out[f"mean_{channel}"] >= 0) & (out[f"mean_{channel}"] <= 255))
        assert np.all((out[f"std_{channel}"] >= 0) & (out[f"std_{channel}"] <= 127.5 + 1e-3))
    assert np.all((out["contrast"] >= 0) & (out["contrast"] <= 0.5 + 1e-6))
    assert set(out["predicted_class"]) == {CLASS_NAMES[top]}


def test_wrong_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="features need images"):
        compute(np.zeros((2, 32, 32, 3)), np.zeros((3, 10)))


def test_reference_lines_are_flat_records_with_their_split() -> None:
    images = np.full((2, 32, 32, 3), 10, dtype=np.uint8)
    lines = reference_lines([("train", images, _probs(2)), ("validation", images[:1],
                                                             _probs(1))]).splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["split"] for r in rows] == ["train", "train", "validation"]
    assert all(set(r) == {"split", *FEATURE_NAMES} for r in rows)
    assert records(compute(images, _probs(2)))[0]["mean_r"] == 10.0


def _logged(folder: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(folder.rglob("*.jsonl"))
            for line in f.read_text().splitlines()]


def test_feature_log_writes_whole_records_with_request_ids(tmp_path: Path) -> None:
    log = FeatureLog(str(tmp_path / "log"), model_version="3", flush_records=4,
                     flush_seconds=60)
    images = np.full((3, 32, 32, 3), 50, dtype=np.uint8)
    assert log.observe(images, _probs(3), "req-1")
    assert log.observe(images[:2], _probs(2), "req-2")
    log.close()
    rows = _logged(tmp_path / "log")
    assert [(r["request_id"], r["instance"]) for r in rows] == [
        ("req-1", 0), ("req-1", 1), ("req-1", 2), ("req-2", 0), ("req-2", 1)]
    assert {r["model_version"] for r in rows} == {"3"}
    assert all(r["timestamp"].endswith("Z") for r in rows)
    # Whole objects in {YYYY-MM-DD}/{HH}/ folders of the flush time, no temporary files left.
    files = [f for f in sorted((tmp_path / "log").rglob("*")) if f.is_file()]
    assert files and all(f.suffix == ".jsonl" for f in files)
    day, hour = files[0].parent.parent.name, files[0].parent.name
    assert len(day) == 10 and day.count("-") == 2 and hour.isdigit() and len(hour) == 2


def test_feature_log_samples_at_its_rate(tmp_path: Path) -> None:
    log = FeatureLog(str(tmp_path / "log"), "1", sample_rate=0.25, seed=7)
    image = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    kept = sum(log.observe(image, _probs(1)) for _ in range(2000))
    log.close()
    assert 400 <= kept <= 600
    assert len(_logged(tmp_path / "log")) == kept


@pytest.mark.parametrize("rate", [0, -0.1, 1.5, float("nan")])
def test_feature_log_refuses_a_rate_outside_0_1(tmp_path: Path, rate: float) -> None:
    with pytest.raises(ValueError, match=r"sample rate .* use a number in \(0, 1\]"):
        FeatureLog(str(tmp_path), "1", sample_rate=rate)


def test_a_full_queue_drops_instead_of_blocking(tmp_path: Path) -> None:
    log = FeatureLog(str(tmp_path / "log"), "1", max_queued=1, flush_seconds=60)
    image = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    results = [log.observe(image, _probs(1)) for _ in range(200)]
    log.close()
    assert log.dropped == results.count(False) and log.dropped > 0
    assert log.written == results.count(True)
