"""Feature records for the monitoring tests: a reference and serving windows, with and without a
brightness/contrast shift, written as the trainer and the predictor write them (no TensorFlow)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from workloads.cifar10.features import compute, records, reference_lines

END = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
"""The end of every test window (the checks take it as --end)."""


def images(n: int, seed: int, shifted: bool = False) -> np.ndarray:
    """`n` images with per-image brightness and texture; `shifted`: brighter, less contrast."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(60, 190, (n, 1, 1, 3))
    texture = rng.normal(0, rng.uniform(20, 50, (n, 1, 1, 1)), (n, 32, 32, 3))
    pixels = base + texture
    if shifted:
        pixels = (pixels - 128) * 0.6 + 128 + 45
    return np.clip(pixels, 0, 255).astype(np.uint8)


def probabilities(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.full(10, 0.4), n).astype(np.float32)


def write_reference(path: Path, n: int = 1500) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(reference_lines([("train", images(n, 1), probabilities(n, 2))]))
    return path


def write_window(folder: Path, n: int = 400, shifted: bool = False, seed: int = 5,
                 end: datetime = END, minutes: int = 600) -> Path:
    """`n` serving records spread over the `minutes` before `end`, in hour folders."""
    rows = records(compute(images(n, seed, shifted), probabilities(n, seed + 1)))
    by_file: dict[Path, list[str]] = {}
    for i, row in enumerate(rows):
        when = end - timedelta(minutes=minutes * (i + 0.5) / n)
        stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        record = {"timestamp": stamp, "request_id": f"r{i}", "model_version": "1",
                  "instance": 0, **row}
        target = folder / f"{when:%Y-%m-%d}" / f"{when:%H}" / "features-test.jsonl"
        by_file.setdefault(target, []).append(json.dumps(record))
    for target, lines in by_file.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(lines) + "\n")
    return folder
