"""Promotion: the deliberate step that turns one training run's export into a served version.

Training writes candidates only (`{model-dir}/runs/<run>/<version>/`, see `config.RUNS_FOLDER`);
servers load the numbered folders `{model-dir}/<N>/` (the serving chart's `storageUri`, TF
Serving's and the predictor's version scan). `promote` copies a chosen export there after
checking that it is a complete SavedModel with its `metrics.json`, refuses to replace an existing
version unless told to, and copies `saved_model.pb` last: the predictor and TF Serving only pick
a version folder that has one, so a half-copied version is never loaded. `PROMOTION_FILE` records
where the version came from. Local paths and `gs://` URIs alike (`tf.io.gfile`).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from workloads.cifar10.config import join

SAVED_MODEL = "saved_model.pb"
METRICS = "metrics.json"
VARIABLES_INDEX = "variables/variables.index"
PROMOTION_FILE = "promotion.json"
SHARD = re.compile(r"variables\.data-(\d{5})-of-(\d{5})")
"""A variables data shard: `variables.data-<i>-of-<n>`; all n must be present."""


class PromotionError(ValueError):
    """A source that is not a complete export, or a target that must not be replaced."""


def _clean(path: str) -> str:
    return path.rstrip("/") or "/"


def check_export(source: str) -> dict[str, Any]:
    """The export's `metrics.json`, after checking the SavedModel in `source` is complete:
    graph, variables index, every data shard, no leftover `variables_temp`, and metrics with a
    test accuracy. Raises `PromotionError` naming what is missing."""
    import tensorflow as tf

    source = _clean(source)
    if not tf.io.gfile.isdir(source):
        raise PromotionError(f"--from {source!r} is not a folder")
    missing = [name for name in (SAVED_MODEL, VARIABLES_INDEX, METRICS)
               if not tf.io.gfile.exists(join(source, name))]
    if missing:
        raise PromotionError(f"--from {source!r} is not a complete export: {', '.join(missing)} "
                             "missing (pass a run's version folder, e.g. <model-dir>/runs/<run>/1)")
    names = tf.io.gfile.listdir(join(source, "variables"))
    if any(name.rstrip("/") == "variables_temp" for name in names):
        raise PromotionError(f"--from {source!r} holds variables/variables_temp: an export that "
                             "did not finish")
    shards = [SHARD.fullmatch(name) for name in names]
    counts = {int(m[2]) for m in shards if m}
    found = {int(m[1]) for m in shards if m}
    if len(counts) != 1 or found != set(range(counts.pop())):
        raise PromotionError(f"--from {source!r}: variables data shards are incomplete "
                             f"({sorted(n for n in names if n.startswith('variables.data'))})")
    try:
        with tf.io.gfile.GFile(join(source, METRICS)) as f:
            metrics = json.loads(f.read())
    except ValueError as err:
        raise PromotionError(f"--from {source!r}: {METRICS} is not JSON ({err})") from None
    accuracy = metrics.get("accuracy") if isinstance(metrics, dict) else None
    if isinstance(accuracy, bool) or not isinstance(accuracy, int | float):
        raise PromotionError(f"--from {source!r}: {METRICS} has no numeric 'accuracy'")
    return metrics


def _files(root: str) -> list[str]:
    """Every file under `root`, as paths relative to it."""
    import tensorflow as tf

    found = []
    for folder, _, files in tf.io.gfile.walk(root):
        relative = _clean(folder)[len(root):].lstrip("/")
        found += [f"{relative}/{name}" if relative else name for name in files]
    return found


def promote(source: str, model_root: str, version: int, overwrite: bool = False,
            now: float | None = None) -> tuple[str, dict[str, Any]]:
    """Copy the export at `source` to `{model_root}/{version}`; returns the target and the
    export's metrics. Raises `PromotionError` before copying anything when the source is not a
    complete export, the version is not positive, or the target exists (unless `overwrite`)."""
    import tensorflow as tf

    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise PromotionError(f"--version {version!r} is not allowed; use a positive integer")
    source, model_root = _clean(source), _clean(model_root)
    target = join(model_root, str(version))
    if target == source or source.startswith(target + "/") or target.startswith(source + "/"):
        raise PromotionError(f"--from {source!r} and the target {target!r} overlap")
    metrics = check_export(source)
    if tf.io.gfile.exists(target):
        if not overwrite:
            raise PromotionError(f"version {version} already exists at {target!r}; pass "
                                 "--overwrite to replace it, or promote to a new --version")
        tf.io.gfile.rmtree(target)
    files = sorted(_files(source), key=lambda name: name == SAVED_MODEL)
    for name in files:
        destination = join(target, name)
        tf.io.gfile.makedirs(destination.rsplit("/", 1)[0])
        if name == SAVED_MODEL:
            record = {"from": source, "version": version, "accuracy": metrics["accuracy"],
                      "run_id": metrics.get("run_id"),
                      "promoted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                   time.gmtime(time.time() if now is None
                                                               else now))}
            with tf.io.gfile.GFile(join(target, PROMOTION_FILE), "w") as f:
                f.write(json.dumps(record, indent=2) + "\n")
        tf.io.gfile.copy(join(source, name), destination, overwrite=True)
    return target, metrics
