"""Reading feature records: the training reference and a window of serving logs.

Both are JSONL written by `workloads.cifar10.features`: the reference one file beside a training
export's `metrics.json`, the serving log one object per flush under
`{folder}/{YYYY-MM-DD}/{HH}/`. Everything read here came from outside this process, so it is read
strictly: a line that is not a JSON object, a feature that is missing, not a finite number or not
a class name, a timestamp that is not RFC 3339 UTC, an oversized file or line stops the read with
`RecordError`, one line naming the file, the line, the field and what is allowed. Locations are
local paths or `gs://` URIs (TensorFlow's gfile, imported only for those).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from facts.documents import DocumentError, load_json
from workloads.cifar10 import CLASS_NAMES
from workloads.cifar10.features import FEATURES, TIMESTAMP

MAX_FILE_BYTES = 512 * 1024 * 1024
"""Largest JSONL file read (a reference of 60,000 images is about 15 MB)."""
MAX_LINE_BYTES = 64 * 1024
"""Longest record line (a serving record is about 300 bytes)."""
MAX_RECORDS = 5_000_000
"""Most records in one comparison: far beyond what the tests need, and bounded memory."""


class RecordError(ValueError):
    """Feature records that cannot be used; the message names the file, line and field."""


@dataclass(frozen=True)
class Records:
    """Feature columns read from one or more files."""

    columns: dict[str, np.ndarray]
    count: int
    files: tuple[str, ...]
    first: str | None = None
    """Earliest timestamp among serving records (None for a reference)."""
    last: str | None = None


def _is_remote(path: str) -> bool:
    return "://" in path


def _size(path: str) -> int:
    if _is_remote(path):
        import tensorflow as tf

        return int(tf.io.gfile.stat(path).length)
    return Path(path).stat().st_size


def _read(path: str) -> str:
    try:
        size = _size(path)
        if size > MAX_FILE_BYTES:
            raise RecordError(f"{path}: {size} bytes is larger than the {MAX_FILE_BYTES} bytes "
                              "a feature file may have")
        if _is_remote(path):
            import tensorflow as tf

            with tf.io.gfile.GFile(path, "rb") as f:
                data = f.read()
        else:
            data = Path(path).read_bytes()
    except RecordError:
        raise
    except Exception as err:  # gfile raises its own error types for gs:// paths
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise RecordError(f"{path}: cannot read it ({reason})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RecordError(f"{path}: byte {err.start} is not UTF-8; feature files are UTF-8 "
                          "JSONL") from None


def parse_time(text: Any, where: str) -> datetime:
    """An RFC 3339 UTC timestamp (`2026-12-01T10:00:00.000Z`) as an aware datetime."""
    if not isinstance(text, str) or not text.endswith("Z") or len(text) > 40:
        raise RecordError(f"{where}: {TIMESTAMP} {str(text)[:60]!r} is not an RFC 3339 UTC time "
                          "such as 2026-12-01T10:00:00.000Z")
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00").astimezone(UTC)
    except ValueError:
        raise RecordError(f"{where}: {TIMESTAMP} {text[:60]!r} is not an RFC 3339 UTC time such "
                          "as 2026-12-01T10:00:00.000Z") from None


def _value(feature_name: str, kind: str, value: Any, where: str) -> Any:
    if kind == "categorical":
        if value not in CLASS_NAMES:
            raise RecordError(f"{where}: {feature_name} {str(value)[:60]!r} is not a class name; "
                              f"allowed: {', '.join(CLASS_NAMES)}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RecordError(f"{where}: {feature_name} {str(value)[:60]!r} is not a finite number")
    return float(value)


def _rows(path: str, timed: bool) -> Iterator[tuple[dict[str, Any], datetime | None]]:
    for number, line in enumerate(_read(path).splitlines(), start=1):
        where = f"{path}:{number}"
        if len(line) > MAX_LINE_BYTES:
            raise RecordError(f"{where}: a line of {len(line)} characters; records are at most "
                              f"{MAX_LINE_BYTES}")
        if not line.strip():
            continue
        try:
            row = load_json(line, where)
        except DocumentError as err:
            raise RecordError(f"{err}; each line must be one JSON object (a half-written "
                              "file? move it aside)") from None
        if not isinstance(row, dict):
            raise RecordError(f"{where}: a {type(row).__name__} where a JSON object was "
                              "expected")
        values = {}
        for feature in FEATURES:
            if feature.name not in row:
                raise RecordError(f"{where}: no {feature.name!r}; every record has "
                                  f"{', '.join(f.name for f in FEATURES)}")
            values[feature.name] = _value(feature.name, feature.kind, row[feature.name], where)
        yield values, parse_time(row.get(TIMESTAMP), where) if timed else None


def _columns(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {f.name: np.asarray([r[f.name] for r in rows],
                               dtype=object if f.kind == "categorical" else np.float64)
            for f in FEATURES}


def read_reference(path: str) -> Records:
    """The reference features of a training export (`reference_features.jsonl`, or the export
    folder holding it)."""
    from workloads.cifar10.features import REFERENCE_FILE

    if not path.endswith(".jsonl"):
        path = f"{path.rstrip('/')}/{REFERENCE_FILE}"
    rows = []
    for values, _ in _rows(path, timed=False):
        rows.append(values)
        if len(rows) > MAX_RECORDS:
            raise RecordError(f"{path}: more than {MAX_RECORDS} records")
    if not rows:
        raise RecordError(f"{path}: no records; a reference holds the features of the training "
                          "data (written by the trainer beside metrics.json)")
    return Records(_columns(rows), len(rows), (path,))


def hour_folders(folder: str, start: datetime, end: datetime) -> list[str]:
    """The `{folder}/{YYYY-MM-DD}/{HH}` folders a window from `start` to `end` touches."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    out = []
    while hour <= end:
        out.append(f"{folder.rstrip('/')}/{hour:%Y-%m-%d}/{hour:%H}")
        hour += timedelta(hours=1)
    return out


def _listed(pattern: str) -> list[str]:
    if _is_remote(pattern):
        import tensorflow as tf

        try:
            return sorted(tf.io.gfile.glob(pattern))
        except Exception as err:  # gfile's own errors
            raise RecordError(f"{pattern}: cannot list it ({str(err).splitlines()[0][:160]})"
                              ) from None
    parent, name = pattern.rsplit("/", 1)
    return sorted(str(p) for p in Path(parent).glob(name))


def read_window(folder: str, end: datetime, hours: float) -> Records:
    """The serving records logged under `folder` in the `hours` before `end` (UTC)."""
    start = end - timedelta(hours=hours)
    if not _is_remote(folder) and not Path(folder).is_dir():
        raise RecordError(f"{folder}: no such folder; pass the folder the predictor's "
                          "--feature-log writes to")
    files = [f for hour in hour_folders(folder, start, end)
             for f in _listed(f"{hour}/*.jsonl")]
    rows, times = [], []
    for path in files:
        for values, stamp in _rows(path, timed=True):
            if stamp is not None and start <= stamp <= end:
                rows.append(values)
                times.append(stamp)
                if len(rows) > MAX_RECORDS:
                    raise RecordError(f"{folder}: more than {MAX_RECORDS} records in the "
                                      f"window; shorten it")
    text = [t.isoformat(timespec="seconds").replace("+00:00", "Z") for t in (min(times),
                                                                             max(times))] \
        if times else [None, None]
    return Records(_columns(rows), len(rows), tuple(files), text[0], text[1])
