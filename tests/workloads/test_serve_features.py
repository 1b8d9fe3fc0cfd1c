"""The predictor's monitoring hooks: the feature log of sampled requests, HTTP metrics."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from tests.workloads.conftest import TrainedRun
from workloads.cifar10.features import FEATURE_NAMES, FeatureLog


def _model(trained: TrainedRun, log: FeatureLog | None):
    from workloads.cifar10.serve import Cifar10Model

    model = Cifar10Model(str(trained.export_dir.parent), max_batch=8)
    model.load()
    model.feature_log = log
    return model


def test_v1_and_v2_requests_are_logged_with_their_request_id(trained: TrainedRun,
                                                             tmp_path: Path) -> None:
    from kserve import InferInput, InferRequest

    from workloads.cifar10.data import synthetic_arrays
    from workloads.cifar10.serve import model_version

    images = synthetic_arrays(3, seed=4)[0]
    log = FeatureLog(str(tmp_path / "log"), model_version(str(trained.export_dir)))
    model = _model(trained, log)
    body = asyncio.run(model.predict({"instances": images[:2].tolist()},
                                     headers={"x-request-id": "req-v1"}))
    v2 = InferInput("images", [1, 32, 32, 3], "UINT8")
    v2.set_data_from_numpy(images[2:], binary_data=False)
    asyncio.run(model.predict(InferRequest("cifar10", [v2], request_id="x"),
                              headers={"x-request-id": "req-v2"}))
    log.close()
    rows = [json.loads(line) for f in (tmp_path / "log").rglob("*.jsonl")
            for line in f.read_text().splitlines()]
    assert sorted((r["request_id"], r["instance"]) for r in rows) == [
        ("req-v1", 0), ("req-v1", 1), ("req-v2", 0)]
    assert {r["model_version"] for r in rows} == {trained.export_dir.name}
    first = next(r for r in rows if r["request_id"] == "req-v1" and r["instance"] == 0)
    assert set(FEATURE_NAMES) <= set(first)
    assert first["mean_r"] == pytest.approx(float(images[0, ..., 0].mean()), abs=1e-3)
    assert first["top1_probability"] == pytest.approx(max(body["predictions"][0]), abs=1e-5)


def test_without_a_feature_log_nothing_is_written(trained: TrainedRun, tmp_path: Path) -> None:
    model = _model(trained, None)
    body = asyncio.run(model.predict({"instances": np.zeros((1, 32, 32, 3)).tolist()}))
    assert len(body["predictions"]) == 1 and not list(tmp_path.iterdir())


@pytest.mark.parametrize("rate", ["0", "1.5", "abc", "nan"])
def test_a_bad_sample_rate_is_exit_2_before_anything_loads(rate: str, capsys) -> None:
    from workloads.cifar10.serve import main

    with pytest.raises(SystemExit) as exit_:
        main(["--model-dir", "/nonexistent", "--feature-sample-rate", rate])
    assert exit_.value.code == 2
    assert "--feature-sample-rate" in capsys.readouterr().err.strip().splitlines()[-1]


def test_http_metrics_count_answers_by_route_and_status(predictor: str) -> None:
    import httpx

    httpx.post(f"{predictor}/v1/models/cifar10:predict", json={"instances": "nope"})
    httpx.post(f"{predictor}/v1/models/cifar10:predict",
               json={"instances": np.zeros((1, 32, 32, 3)).tolist()})
    text = httpx.get(f"{predictor}/metrics").text
    counts = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line.startswith("cifar10_http_requests_total{")}
    assert counts['cifar10_http_requests_total{code="400",route="predict"}'] >= 1
    assert counts['cifar10_http_requests_total{code="200",route="predict"}'] >= 1
    assert 'cifar10_http_request_seconds_bucket{le="0.005",route="predict"}' in text
