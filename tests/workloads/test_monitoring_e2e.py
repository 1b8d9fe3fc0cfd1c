"""End to end on this machine: train, serve with the feature log, send an unshifted and a
shifted stream, and let the monitoring step tell them apart; the report read as a picture.

1. The session's tiny training run wrote `reference_features.jsonl` beside its `metrics.json`.
2. The predictor (`python -m workloads.cifar10.serve --feature-log`) serves it on loopback; an
   unshifted stream of synthetic images, then one with brightness raised and contrast lowered.
3. The monitoring pipeline (`mlp monitor run --local`, kfp.local) finds drift in the shifted
   stream's window; `mlp monitor check` finds none in the unshifted one.
4. Headless Chromium renders the pipeline's HTML report; its charts cover a real share of it.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("tensorflow")

from mlp.cli import app
from tests.workloads.conftest import REPO, TrainedRun, python_env
from workloads.cifar10.features import REFERENCE_FILE

pytestmark = pytest.mark.slow
IMAGES_PER_STREAM = 300
PER_REQUEST = 10


def _shift(images: np.ndarray) -> np.ndarray:
    """Brightness +40, contrast × 0.6, around mid-grey."""
    return np.clip((images.astype(np.float32) - 128) * 0.6 + 128 + 40, 0, 255).astype(np.uint8)


def _stream(url: str, images: np.ndarray, tag: str) -> tuple[datetime, datetime]:
    import httpx

    started = datetime.now(UTC)
    with httpx.Client(timeout=30) as client:
        for i in range(0, len(images), PER_REQUEST):
            answer = client.post(f"{url}/v1/models/cifar10:predict",
                                 json={"instances": images[i:i + PER_REQUEST].tolist()},
                                 headers={"x-request-id": f"{tag}-{i // PER_REQUEST}"})
            assert answer.status_code == 200, answer.text
    return started, datetime.now(UTC)


def _wait_ready(url: str, timeout: float = 60) -> None:
    """The server prints its address before uvicorn listens: poll its health route."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/v1/models/cifar10", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer within {timeout} s"
        time.sleep(0.2)


def _hours(start: datetime, end: datetime) -> str:
    return f"{(end - start).total_seconds() / 3600 + 1e-6:.8f}"


def _stamp(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_drift_on_the_shifted_stream_and_none_on_the_unshifted(trained: TrainedRun,
                                                               tmp_path: Path) -> None:
    from workloads.cifar10.data import synthetic_arrays

    reference = trained.export_dir / REFERENCE_FILE
    rows = [json.loads(line) for line in reference.read_text().splitlines()]
    assert {r["split"] for r in rows} == {"train", "validation"}
    assert len(rows) == trained.metrics["train_examples"] + trained.metrics["validation_examples"]

    log = tmp_path / "feature-log"
    server = subprocess.Popen(
        [sys.executable, "-m", "workloads.cifar10.serve", "--model-dir",
         str(trained.export_dir), "--port", "0", "--feature-log", str(log)],
        cwd=REPO, env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = []
        while not seen or "serving cifar10" not in seen[-1]:
            seen.append(server.stdout.readline())
            assert seen[-1], "".join(seen)  # the server exited before it served
        found = re.search(r"on (http://127\.0\.0\.1:\d+)", seen[-1])
        assert found, seen[-1]
        _wait_ready(found[1])
        images = synthetic_arrays(2 * IMAGES_PER_STREAM, seed=99)[0]
        calm = _stream(found[1], images[:IMAGES_PER_STREAM], "calm")
        time.sleep(0.05)
        shifted = _stream(found[1], _shift(images[IMAGES_PER_STREAM:]), "shifted")
    finally:
        server.send_signal(signal.SIGTERM)  # drains, then writes the pending feature records
        assert server.wait(timeout=60) == 0
    logged = [json.loads(r) for f in log.rglob("*.jsonl") for r in f.read_text().splitlines()]
    assert len(logged) == 2 * IMAGES_PER_STREAM

    runner = CliRunner()
    quiet = runner.invoke(app, ["monitor", "check", "--reference", str(reference),
                                "--features", str(log), "--out", str(tmp_path / "calm"),
                                "--end", _stamp(calm[1]), "--window-hours", _hours(*calm)])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout.startswith(f"no drift: {IMAGES_PER_STREAM} images in the window")

    run = runner.invoke(app, ["monitor", "run", "--local", "--reference", str(reference),
                              "--features", str(log), "--out", str(tmp_path / "pipeline"),
                              "--end", _stamp(shifted[1]), "--window-hours",
                              _hours(*shifted)])
    assert run.exit_code == 0, run.output
    assert run.stdout.startswith("drift: report in ")
    (report,) = (tmp_path / "pipeline").glob("run-*/cifar10-monitoring-*/check-drift/report")
    (summary,) = report.parent.glob("summary")
    assert "Verdict: **drift**" in summary.read_text()
    assert f"on {IMAGES_PER_STREAM} images" in summary.read_text()

    from tests.browser import chart_pixels

    page = tmp_path / "drift-report.html"
    page.write_text(report.read_text())
    differ, total = chart_pixels(page, tmp_path / "drift-report.png")
    assert differ / total > 0.02, (differ, total)  # see test_the_drift_report_shows_its_charts
