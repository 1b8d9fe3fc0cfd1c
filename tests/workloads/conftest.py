"""Shared fixtures: one tiny training run and one in-process predictor per test process.

TensorFlow costs ~10 s to import and each training a few seconds, so tests that need a trained
model share these session-scoped artifacts instead of training again.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

TINY_ARGS = ("--data", "synthetic", "--synthetic-train-size", "192", "--synthetic-test-size", "60",
             "--batch-size", "32", "--width", "0.0625", "--num_units", "32", "--optimizer", "adam",
             "--lr", "0.01", "--seed", "7", "--precision", "float32")
"""A model and data small enough to train an epoch in well under a second on one CPU core; in
float32 whatever the CPU, so that what a test expects does not depend on its bfloat16 flags
(tests/workloads/test_precision.py covers `--precision`)."""
RUN_ID = "test-run"
"""The run id `tiny_args` passes, so a second start of the same arguments resumes."""


def tiny_args(root: Path, *extra: str) -> list[str]:
    """TINY_ARGS plus base output folders under `root` and run id `RUN_ID` (`extra` may pass
    another `--run-id`: the last one wins)."""
    return [*TINY_ARGS, "--model-dir", str(root / "model"), "--checkpoint-dir",
            str(root / "ckpt"), "--tensorboard-dir", str(root / "tb"), "--run-id", RUN_ID,
            *extra]


def export_of(root: Path, run_id: str = RUN_ID, version: int = 1) -> Path:
    """Where a run with `tiny_args(root)` exports: `model/runs/{run}/{version}`."""
    return root / "model" / "runs" / run_id / str(version)


def backup_of(root: Path, run_id: str = RUN_ID) -> Path:
    """The run's checkpoint folder: `ckpt/{run}`."""
    return root / "ckpt" / run_id


@dataclass(frozen=True)
class TrainedRun:
    """A finished training run: its config, stdout, returned metrics and export folder."""

    root: Path
    stdout: str
    metrics: dict
    export_dir: Path


def train_in_process(root: Path, *extra: str, environ: dict | None = None) -> TrainedRun:
    """Run the trainer in this process, capturing what it prints."""
    from workloads.cifar10.config import parse_args
    from workloads.cifar10.train import train

    cfg = parse_args(tiny_args(root, *extra), environ={})
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        metrics = train(cfg, environ=environ if environ is not None else {})
    return TrainedRun(root, out.getvalue(), metrics, Path(cfg.export_dir))


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """Two epochs of the VGG net on synthetic data, exported to `model/1`."""
    return train_in_process(tmp_path_factory.mktemp("trained"), "--epochs", "2")


@pytest.fixture(scope="session")
def predictor(trained: TrainedRun) -> Iterator[str]:
    """Base URL of a KServe predictor serving the trained export on 127.0.0.1:<free port>."""
    from workloads.cifar10.serve import Cifar10Model, PredictorServer

    model = Cifar10Model(str(trained.export_dir.parent), max_batch=8)
    model.load()
    server = PredictorServer(model, host="127.0.0.1", port=0)
    url = server.start()
    yield url
    server.stop()


def python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a trainer subprocess: this interpreter's, quiet TF logs, no TF_CONFIG."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "CLOUD_ML_TRIAL_ID")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO),
               CUDA_VISIBLE_DEVICES="")
    env.update(extra or {})
    return env


def start_trainer(args: Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -m workloads.cifar10.train ARGS` as a subprocess with merged, piped output."""
    return subprocess.Popen([sys.executable, "-m", "workloads.cifar10.train", *args],
                            cwd=REPO, env=python_env(env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def epochs_in(output: str) -> list[int]:
    """Epoch numbers of the Katib metric lines in a trainer's output."""
    return [int(line.split()[0].split("=")[1]) for line in output.splitlines()
            if line.startswith("epoch=")]


def read_metrics(export_dir: Path) -> dict:
    return json.loads((export_dir / "metrics.json").read_text())
