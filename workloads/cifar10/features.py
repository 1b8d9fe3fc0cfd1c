"""The monitored features of a CIFAR-10 request: what drift is measured on, instead of raw pixels.

3,072 pixel values per image say little about drift one by one; these nine numbers do. Per
image, on pixels in [0, 255]:

| feature | meaning |
|---|---|
| `mean_r`, `mean_g`, `mean_b` | mean of each colour channel (brightness) |
| `std_r`, `std_g`, `std_b` | standard deviation of each channel |
| `contrast` | RMS contrast: standard deviation of the grey (BT.601 luma) image, in [0, 1] |
| `predicted_class` | the class with the highest probability (categorical, `CLASS_NAMES`) |
| `top1_probability` | that highest probability |

The predictor computes them for every sampled request (`FeatureLog`), the trainer for its
training and validation data (`reference_features.jsonl` beside `metrics.json`), and the batch
predictor for every image it scores, with the same function, so a reference and a serving window
are comparable by construction. Records are flat JSON objects (one per image) whose keys are the
feature names, the form Vertex AI Model Monitoring reads from JSONL too.

numpy only: no TensorFlow import, so the monitoring step can read records without it.
"""

from __future__ import annotations

import json
import math
import os
import queue
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from workloads.cifar10 import CLASS_NAMES

FeatureKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class Feature:
    """One monitored feature: its record key, kind and meaning."""

    name: str
    kind: FeatureKind
    description: str


FEATURES: tuple[Feature, ...] = (
    Feature("mean_r", "numeric", "mean of the red channel, 0-255"),
    Feature("mean_g", "numeric", "mean of the green channel, 0-255"),
    Feature("mean_b", "numeric", "mean of the blue channel, 0-255"),
    Feature("std_r", "numeric", "standard deviation of the red channel"),
    Feature("std_g", "numeric", "standard deviation of the green channel"),
    Feature("std_b", "numeric", "standard deviation of the blue channel"),
    Feature("contrast", "numeric", "RMS contrast of the grey (BT.601 luma) image, 0-1"),
    Feature("predicted_class", "categorical", "class with the highest probability"),
    Feature("top1_probability", "numeric", "the highest class probability, 0-1"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
"""ITU-R BT.601 weights of R, G and B in the grey image."""
TIMESTAMP = "timestamp"
"""Record key of the UTC time (RFC 3339) a record was made; Vertex AI's `timestamp_field`."""
METADATA_KEYS = (TIMESTAMP, "request_id", "model_version", "instance")
"""Keys a serving record carries besides the features."""


def compute(images: np.ndarray, probabilities: np.ndarray) -> dict[str, np.ndarray]:
    """The features of a batch, one array of N values per feature name.

    Args:
        images: [N, 32, 32, 3] pixels in [0, 255] (any real or integer dtype).
        probabilities: [N, 10] class probabilities in `CLASS_NAMES` order.
    """
    pixels = np.asarray(images, dtype=np.float32)
    probs = np.asarray(probabilities, dtype=np.float32)
    if pixels.ndim != 4 or pixels.shape[-1] != 3 or probs.shape != (len(pixels), len(CLASS_NAMES)):
        raise ValueError(f"features need images [N, H, W, 3] and probabilities [N, "
                         f"{len(CLASS_NAMES)}], got {list(pixels.shape)} and {list(probs.shape)}")
    means = pixels.mean(axis=(1, 2))
    stds = pixels.std(axis=(1, 2))
    grey = pixels @ LUMA
    top = probs.argmax(axis=1)
    return {
        "mean_r": means[:, 0], "mean_g": means[:, 1], "mean_b": means[:, 2],
        "std_r": stds[:, 0], "std_g": stds[:, 1], "std_b": stds[:, 2],
        "contrast": grey.std(axis=(1, 2)) / 255.0,
        "predicted_class": np.asarray(CLASS_NAMES)[top],
        "top1_probability": probs[np.arange(len(probs)), top],
    }


def records(columns: Mapping[str, np.ndarray], **extra: Any) -> list[dict[str, Any]]:
    """One flat record per image: the features (floats rounded to 6 digits) plus `extra` keys,
    the same for every record."""
    count = len(next(iter(columns.values())))
    out = []
    for i in range(count):
        row: dict[str, Any] = dict(extra)
        for name in FEATURE_NAMES:
            value = columns[name][i]
            row[name] = str(value) if BY_NAME[name].kind == "categorical" \
                else round(float(value), 6)
        out.append(row)
    return out


def utc_now() -> str:
    """The current UTC time as RFC 3339 with milliseconds, as records carry it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FeatureLog:
    """Writes serving feature records to a folder (local or `gs://`), off the request path.

    `observe` only samples and puts the batch on a queue; a background thread computes the
    features and writes them, `flush_records` at a time or every `flush_seconds`, each flush as a
    new JSONL object `{folder}/{YYYY-MM-DD}/{HH}/features-<time>-<host>-<n>.jsonl` (hour folders
    of the flush time, UTC). Objects are written whole (locally: to a temporary name, then
    renamed), so a reader never sees half a file, and the monitoring step lists only the hours
    of its window. A full queue drops the batch and counts it, rather than slowing serving down.
    """

    def __init__(self, folder: str, model_version: str, sample_rate: float = 1.0,
                 flush_records: int = 1000, flush_seconds: float = 60.0,
                 max_queued: int = 1000, seed: int | None = None) -> None:
        if not (math.isfinite(sample_rate) and 0 < sample_rate <= 1):
            raise ValueError(f"sample rate {sample_rate} is not allowed; use a number in (0, 1]")
        self.folder = folder.rstrip("/")
        self.model_version = model_version
        self.sample_rate = sample_rate
        self.flush_records = flush_records
        self.flush_seconds = flush_seconds
        self.dropped = 0
        self.written = 0
        self._random = random.Random(seed)
        self._queue: queue.Queue[tuple[np.ndarray, np.ndarray, str, str] | None] = \
            queue.Queue(maxsize=max_queued)
        self._pending: list[dict[str, Any]] = []
        self._files = 0
        self._host = socket.gethostname().split(".")[0][:40] or "host"
        self._thread = threading.Thread(target=self._run, name="feature-log", daemon=True)
        self._thread.start()

    def observe(self, images: np.ndarray, probabilities: np.ndarray,
                request_id: str | None = None) -> bool:
        """Sample one request's batch for logging; True when it was queued."""
        if self.sample_rate < 1 and self._random.random() >= self.sample_rate:
            return False
        try:
            self._queue.put_nowait((images, probabilities, request_id or str(uuid.uuid4()),
                                    utc_now()))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued and stop the writer thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        last_flush = time.monotonic()
        while True:
            wait = max(0.0, self.flush_seconds - (time.monotonic() - last_flush))
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = ()  # the interval passed: flush what is pending
            if item is None:
                self._flush()
                return
            if item:
                images, probabilities, request_id, stamp = item
                self._pending += [
                    {TIMESTAMP: stamp, "request_id": request_id,
                     "model_version": self.model_version, "instance": i, **row}
                    for i, row in enumerate(records(compute(images, probabilities)))]
            if len(self._pending) >= self.flush_records or \
                    time.monotonic() - last_flush >= self.flush_seconds:
                self._flush()
                last_flush = time.monotonic()

    def _flush(self) -> None:
        if not self._pending:
            return
        now = datetime.now(UTC)
        self._files += 1
        name = (f"{self.folder}/{now:%Y-%m-%d}/{now:%H}/features-{now:%Y%m%dT%H%M%S}-"
                f"{self._host}-{os.getpid()}-{self._files:06d}.jsonl")
        body = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in self._pending)
        try:
            write_text(name, body)
        except OSError as err:
            from workloads.cifar10.guards import log

            log.warning("feature log: cannot write %s (%s); %d records dropped", name, err,
                        len(self._pending))
            self.dropped += len(self._pending)
        else:
            self.written += len(self._pending)
        self._pending = []


def write_text(path: str, text: str) -> None:
    """Write a whole text object: `gs://` through TensorFlow's gfile (the predictor and trainer
    have it loaded), local files through a temporary name and a rename."""
    if "://" in path:
        import tensorflow as tf

        try:
            with tf.io.gfile.GFile(path, "w") as f:
                f.write(text)
        except tf.errors.OpError as err:
            raise OSError(str(err).splitlines()[0]) from None
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temporary = f"{path}.tmp-{uuid.uuid4().hex}"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temporary, path)


FEATURE_LOG_ENV = "PREDICTOR_FEATURE_LOG"
"""The predictor's `--feature-log` from the environment (the serving chart, Vertex AI)."""
FEATURE_RATE_ENV = "PREDICTOR_FEATURE_SAMPLE_RATE"
"""The predictor's `--feature-sample-rate` from the environment."""
REFERENCE_FILE = "reference_features.jsonl"
"""Beside `metrics.json` in a training export: the features of its training and validation
data, one record per image with a `split` key."""
REFERENCE_TRAIN_MAX = 10_000
"""At most this many training images (the first ones, in file order) go into the reference:
enough for every test the monitor runs, a few MB of JSONL, seconds of inference on a GPU."""


def reference_lines(batches: Iterable[tuple[str, np.ndarray, np.ndarray]]) -> str:
    """JSONL of reference records from `(split, images, probabilities)` batches."""
    out = []
    for split, images, probabilities in batches:
        out += [json.dumps(r, separators=(",", ":")) + "\n"
                for r in records(compute(images, probabilities), split=split)]
    return "".join(out)


def columns_of(rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Records back to one array per feature (categorical as strings, numeric as float64)."""
    out: dict[str, np.ndarray] = {}
    for feature in FEATURES:
        values = [row[feature.name] for row in rows]
        out[feature.name] = np.asarray(values, dtype=object if feature.kind == "categorical"
                                       else np.float64)
    return out
