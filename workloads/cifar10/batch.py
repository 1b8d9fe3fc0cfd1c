"""Batch prediction: stream images through the predictor's model code in batches, write JSONL.

The same model folder rule (`model_folder.resolve_model_dir`) and loaded model
(`export.LoadedClassifier`) as the online predictor, without HTTP or KServe (the pipeline step
runs in the trainer image). Every batch is uint8 [n, 32, 32, 3] by construction: images of
another size are refused as they are read. Each output line is one image:

    {"id": "test_00042", "label": "cat", "probabilities": [p0, ..., p9], "mean_r": ..., ...}

with the monitored features of `workloads.cifar10.features` beside the prediction, so a batch
can be analysed, or compared with the training reference, like served traffic.

Inputs (`--input`), local or `gs://`:

- a folder of TFRecords in tfds's CIFAR-10 format (`*.tfrecord*`, as `mlp pipeline` and the
  trainer read them): ids from each record's `id`;
- a folder of image files (`*.png`, `*.jpg`, `*.jpeg`), 32×32 RGB: ids are the file names;
- `synthetic:N`: N generated images (`data.synthetic_arrays`), for trying it out offline.

Runs here (`mlp predict batch --target local`) and as the Kubeflow batch pipeline's step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from workloads.cifar10 import CLASS_NAMES, IMAGE_SHAPE

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SYNTHETIC = "synthetic:"
MAX_SYNTHETIC = 1_000_000
DEFAULT_BATCH = 128


class BatchError(ValueError):
    """Input or output a batch run cannot use; one line naming it."""


@dataclass(frozen=True)
class BatchResult:
    """What a batch run did."""

    images: int
    seconds: float
    output: str

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("inf")


def count_source(source: str) -> int | None:
    """How many images `source` holds, when that is cheap to know (for the progress bar)."""
    if source.startswith(SYNTHETIC):
        return _synthetic_count(source)
    files = _image_files(source)
    return len(files) if files else None


def _synthetic_count(source: str) -> int:
    text = source[len(SYNTHETIC):]
    if not text.isdigit() or not 1 <= int(text) <= MAX_SYNTHETIC:
        raise BatchError(f"--input {source!r}: write synthetic:N with N from 1 to {MAX_SYNTHETIC}")
    return int(text)


def _glob(pattern: str) -> list[str]:
    import tensorflow as tf

    try:
        return sorted(tf.io.gfile.glob(pattern))
    except tf.errors.OpError as err:
        raise BatchError(f"cannot list {pattern} ({str(err).splitlines()[0][:160]})") from None


def _image_files(folder: str) -> list[str]:
    base = folder.rstrip("/")
    return [f for suffix in IMAGE_SUFFIXES for f in _glob(f"{base}/*{suffix}")]


def batches(source: str, batch_size: int) -> Iterator[tuple[list[str], np.ndarray]]:
    """`(ids, uint8 images [n, 32, 32, 3])` batches of at most `batch_size` from `source`."""
    import tensorflow as tf

    from workloads.cifar10 import data

    if source.startswith(SYNTHETIC):
        images, _labels = data.synthetic_arrays(_synthetic_count(source), seed=123)
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            yield [f"synthetic_{start + i:07d}" for i in range(len(chunk))], chunk
        return
    records = _glob(f"{source.rstrip('/')}/*.tfrecord*")
    files = _image_files(source)
    if records and files:
        raise BatchError(f"--input {source!r} holds both TFRecords and image files; point it at "
                         "a folder of one kind")
    if records:
        features = {"image": tf.io.FixedLenFeature([], tf.string),
                    "id": tf.io.FixedLenFeature([], tf.string, default_value="")}
        ds = tf.data.TFRecordDataset(records).map(
            lambda r: tf.io.parse_single_example(r, features))
        try:
            for batch in ds.batch(batch_size).prefetch(2):
                images = np.stack([tf.io.decode_image(b, channels=3, expand_animations=False)
                                   .numpy() for b in batch["image"].numpy()])
                ids = [i.decode("utf-8", "replace") for i in batch["id"].numpy()]
                yield ids, _checked(images, records[0])
        except tf.errors.OpError as err:
            raise BatchError(f"--input {source!r}: a record cannot be read "
                             f"({str(err).splitlines()[0][:160]})") from None
        return
    if not files:
        raise BatchError(f"--input {source!r} has no *.tfrecord* and no "
                         f"{', '.join('*' + s for s in IMAGE_SUFFIXES)} files")
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        images = []
        for path in chunk:
            try:
                raw = tf.io.gfile.GFile(path, "rb").read()
                images.append(tf.io.decode_image(raw, channels=3,
                                                 expand_animations=False).numpy())
            except (tf.errors.OpError, tf.errors.InvalidArgumentError) as err:
                raise BatchError(f"{path}: not a readable image "
                                 f"({str(err).splitlines()[0][:120]})") from None
            if images[-1].shape != IMAGE_SHAPE:
                raise BatchError(f"{path}: {list(images[-1].shape)} pixels; the model takes "
                                 "32×32 RGB images")
        yield [p.rsplit("/", 1)[-1] for p in chunk], np.stack(images)


def _checked(images: np.ndarray, where: str) -> np.ndarray:
    if images.shape[1:] != IMAGE_SHAPE:
        raise BatchError(f"{where}: images of shape {list(images.shape[1:])}; the model takes "
                         "32×32 RGB images")
    return images


def output_lines(ids: list[str], images: np.ndarray, probabilities: np.ndarray) -> str:
    """JSONL lines of one batch: id, label, probabilities and the monitored features."""
    from workloads.cifar10.features import compute, records

    rows = records(compute(images, probabilities))
    lines = []
    for image_id, probs, row in zip(ids, probabilities, rows, strict=True):
        record = {"id": image_id, "label": CLASS_NAMES[int(np.argmax(probs))],
                  "probabilities": [round(float(p), 6) for p in probs], **row}
        lines.append(json.dumps(record, separators=(",", ":")) + "\n")
    return "".join(lines)


def predict_batch(model_dir: str, source: str, output: str, batch_size: int = DEFAULT_BATCH,
                  progress: bool = True) -> BatchResult:
    """Score every image of `source` with the model in `model_dir`; JSONL to `output`.

    Batches go through the predictor's own input check and model; the output file appears
    whole (written under a temporary name, then renamed; on `gs://`, uploaded at the end).
    """
    import io

    from facts.progress import StepProgress
    from workloads.cifar10.export import LoadedClassifier, NotAnExport
    from workloads.cifar10.features import write_text
    from workloads.cifar10.model_folder import resolve_model_dir

    if not 1 <= batch_size <= 4096:
        raise BatchError(f"--batch-size {batch_size} is not allowed; use 1 to 4096")
    if not output.endswith(".jsonl"):
        raise BatchError(f"--output {output!r} must name a .jsonl file")
    total = count_source(source)
    try:
        classifier = LoadedClassifier(resolve_model_dir(model_dir))
    except (FileNotFoundError, NotAnExport) as err:
        raise BatchError(str(err)) from None
    out = io.StringIO()
    count = 0
    started = time.perf_counter()
    steps = None if total is None else -(-total // batch_size)
    bar = StepProgress("batches", steps) if progress else StepProgress("batches", steps,
                                                                        stream=io.StringIO())
    with bar:
        for ids, images in batches(source, batch_size):
            probabilities = classifier(images).numpy()
            out.write(output_lines(ids, images, probabilities))
            count += len(ids)
            seconds = time.perf_counter() - started
            bar.advance(f"{count} images, {count / seconds:,.0f}/s")
    seconds = time.perf_counter() - started
    if count == 0:
        raise BatchError(f"--input {source!r} holds no images")
    try:
        write_text(output, out.getvalue())
    except OSError as err:
        raise BatchError(f"--output {output!r} cannot be written ({err})") from None
    return BatchResult(count, seconds, output)
