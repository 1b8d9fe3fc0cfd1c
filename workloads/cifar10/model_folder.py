"""Where the predictor finds its model, checked without TensorFlow.

`mlp serve` checks a local `--model-dir` here before importing the server (kserve takes seconds
to import, TensorFlow more), so a wrong folder is one line at once. `resolve_model_dir` (local or
`gs://`, through TensorFlow's gfile) is the one rule the predictor and batch prediction load by.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

MODEL_DIR_FLAGS = ("--model-dir", "--model_dir")


def default_model_dir() -> str:
    """The predictor's default model folder: Vertex AI's $AIP_STORAGE_URI, else KServe's mount."""
    return os.environ.get("AIP_STORAGE_URI", "/mnt/models")


def model_dir_argument(argv: Sequence[str]) -> str:
    """The `--model-dir` value among the predictor's arguments (its default when absent)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument(*MODEL_DIR_FLAGS, dest="model_dir", default=default_model_dir())
    known, _ = parser.parse_known_args(list(argv))
    return known.model_dir


def local_model_problem(path: str) -> str | None:
    """Why a local `--model-dir` holds no servable SavedModel, or None (also for gs:// paths).

    The same rule as `resolve_model_dir`, read with pathlib so that a wrong folder is reported
    before TensorFlow's import (seconds, and a screen of C++ log lines)."""
    if "://" in path:
        return None
    base = Path(path)
    hint = (f"train and promote one first: mlp train --data synthetic --model-dir {path} "
            f"--run-id first, then mlp model promote --from {path}/runs/first/1 --to {path} "
            "--version 1")
    if not base.is_dir():
        return f"--model-dir {path} does not exist; {hint}"
    if (base / "saved_model.pb").is_file() or any(
            child.name.isdigit() and (child / "saved_model.pb").is_file()
            for child in base.iterdir()):
        return None
    return (f"no SavedModel in {path}: expected saved_model.pb there or in a numbered version "
            f"folder such as {path.rstrip('/')}/1; {hint}")


def resolve_model_dir(path: str) -> str:
    """The SavedModel folder: `path` itself, or its highest numbered version subfolder."""
    import tensorflow as tf

    base = path.rstrip("/")
    if tf.io.gfile.exists(f"{base}/saved_model.pb"):
        return base
    versions = sorted((int(name.strip("/")) for name in
                       (tf.io.gfile.listdir(base) if tf.io.gfile.isdir(base) else [])
                       if name.strip("/").isdigit()), reverse=True)
    for version in versions:
        if tf.io.gfile.exists(f"{base}/{version}/saved_model.pb"):
            return f"{base}/{version}"
    raise FileNotFoundError(f"no SavedModel in {path!r}: expected saved_model.pb there or in a "
                            f"numbered version folder such as {base}/1")
