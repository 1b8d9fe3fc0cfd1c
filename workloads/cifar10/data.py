"""CIFAR-10 data: three sources with one element type, and the input pipelines that feed training.

Every source yields `(image uint8 [32, 32, 3], label int64)`:

- `load_tfds`: the tfds `cifar10` dataset (downloads once into `data_dir`).
- `load_tfrecords`: TFRecord files in tfds's CIFAR-10 record format (`image` PNG bytes, `label`
  int64, `id` bytes) under a local folder or a `gs://` URI; `write_tfrecords` writes them.
- `load_synthetic`: generated images whose class is visible in colour and stripe pattern, for
  tests and offline demos.

`load_holdout` splits a source into train, validation and test: the last `VALIDATION_FRACTION` of
the training split (in file order) is held out for per-epoch validation, which is what Katib and
Vertex HyperTune optimise; the test split is evaluated once, after training.

`train_pipeline` is the tuned pipeline (cache → shuffle → batch → batched augment → prefetch);
`study_pipeline` is the study's baseline (map → shuffle → batch, no cache, no prefetch), kept for
the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from workloads.cifar10 import CLASS_NAMES, IMAGE_SHAPE, NUM_CLASSES

AUTOTUNE = tf.data.AUTOTUNE
SPLITS = ("train", "test")
_FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
}
VALIDATION_FRACTION = 0.1
"""Share of the training split held out for per-epoch validation (tfds: `train[90%:]`)."""
TRAIN_SHUFFLE_BUFFER = 50_000
"""Shuffle buffer of `train_pipeline`: the whole CIFAR-10 training split, a full shuffle."""
STUDY_SHUFFLE_BUFFER = 10_000
"""Shuffle buffer of the study's baseline pipeline, as the study used it."""
_PAD = 4
"""Pixels of zero padding before the random 32×32 crop (the usual CIFAR-10 augmentation)."""


class DataError(ValueError):
    """A data location or split that cannot be read; the message names it."""


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"split {split!r} is not allowed; use one of {', '.join(SPLITS)}")


# --- synthetic -------------------------------------------------------------------------------

_PALETTE = np.array([
    [200, 40, 40], [40, 200, 40], [40, 40, 200], [200, 200, 40], [200, 40, 200],
    [40, 200, 200], [230, 140, 30], [120, 60, 180], [140, 140, 140], [30, 110, 60],
], dtype=np.float32)


def synthetic_arrays(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` CIFAR-shaped images and balanced labels 0–9, learnable from colour and stripes.

    Class `c` has a base colour from a fixed palette and stripes of period `c + 2` pixels,
    horizontal for even and vertical for odd classes; brightness jitter and pixel noise keep it
    from being trivial. Returns `(images uint8 [n, 32, 32, 3], labels int64 [n])`.
    """
    if n < 1:
        raise DataError(f"synthetic size {n} is not allowed; it must be ≥ 1")
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % NUM_CLASSES).astype(np.int64)
    rng.shuffle(labels)
    coords = np.arange(IMAGE_SHAPE[0], dtype=np.float32)
    images = np.empty((n, *IMAGE_SHAPE), dtype=np.uint8)
    for i, label in enumerate(labels):
        period = float(label + 2)
        wave = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * coords / period + rng.uniform(0, 6.3)))
        stripes = wave[:, None] if label % 2 == 0 else wave[None, :]
        stripes = np.broadcast_to(stripes, IMAGE_SHAPE[:2])[..., None]
        colour = _PALETTE[label] * rng.uniform(0.7, 1.1)
        pixels = colour * (0.55 + 0.45 * stripes) + rng.normal(0, 12, IMAGE_SHAPE)
        images[i] = np.clip(pixels, 0, 255).astype(np.uint8)
    return images, labels


def load_synthetic(split: str, n: int, seed: int = 0) -> tf.data.Dataset:
    """Synthetic split; train and test use different seeds so they never share images."""
    _check_split(split)
    images, labels = synthetic_arrays(n, seed=seed * 2 + SPLITS.index(split))
    return tf.data.Dataset.from_tensor_slices((images, labels))


# --- TFRecords ---------------------------------------------------------------------------------

def _example(image: np.ndarray, label: int, key: str) -> bytes:
    png = tf.io.encode_png(image).numpy()
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[png])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
        "id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[key.encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_tfrecords(images: np.ndarray, labels: np.ndarray, out_dir: str, split: str,
                    shards: int = 1) -> list[str]:
    """Write a split as `cifar10-{split}.tfrecord-NNNNN-of-MMMMM` files (local or `gs://`)."""
    _check_split(split)
    if images.shape[1:] != IMAGE_SHAPE or images.dtype != np.uint8:
        raise DataError(f"images must be uint8 [n, 32, 32, 3], got {images.dtype} "
                        f"{list(images.shape)}")
    tf.io.gfile.makedirs(out_dir)
    paths = []
    for shard in range(shards):
        path = f"{out_dir.rstrip('/')}/cifar10-{split}.tfrecord-{shard:05d}-of-{shards:05d}"
        with tf.io.TFRecordWriter(path) as writer:
            for i in range(shard, len(images), shards):
                writer.write(_example(images[i], int(labels[i]), f"{split}_{i:05d}"))
        paths.append(path)
    return paths


def _parse(record: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    parsed = tf.io.parse_single_example(record, _FEATURES)
    image = tf.io.decode_png(parsed["image"], channels=3)
    return tf.ensure_shape(image, IMAGE_SHAPE), parsed["label"]


def tfrecord_files(data_dir: str, split: str) -> list[str]:
    """The split's TFRecord files under `data_dir` (tfds-prepared folders match too)."""
    _check_split(split)
    files = sorted(tf.io.gfile.glob(f"{data_dir.rstrip('/')}/*{split}.tfrecord*"))
    if not files:
        raise DataError(f"no {split} TFRecords in {data_dir!r}: expected files named "
                        f"*{split}.tfrecord* (e.g. cifar10-{split}.tfrecord-00000-of-00001)")
    return files


def load_tfrecords(data_dir: str, split: str) -> tf.data.Dataset:
    """Read and decode a split, interleaving shards in parallel (in a fixed order)."""
    files = tfrecord_files(data_dir, split)
    ds = tf.data.TFRecordDataset(files, num_parallel_reads=min(len(files), 8) or None)
    return ds.map(_parse, num_parallel_calls=AUTOTUNE, deterministic=True)


# --- tfds --------------------------------------------------------------------------------------

def load_tfds(split: str, data_dir: str | None = None) -> tf.data.Dataset:
    """tfds `cifar10` as `(image, label)`; prepares it into `data_dir` on first use."""
    import tensorflow_datasets as tfds

    _check_split(split)
    ds = tfds.load("cifar10", split=split, data_dir=data_dir, as_supervised=True,
                   shuffle_files=False)
    names = tfds.builder("cifar10", data_dir=data_dir).info.features["label"].names
    if tuple(names) != CLASS_NAMES:
        raise DataError(f"tfds cifar10 label names {names} differ from {list(CLASS_NAMES)}")
    return ds


# --- choosing a source -------------------------------------------------------------------------

def load_split(source: str, split: str, data_dir: str | None = None,
               synthetic_size: int = 2048, seed: int = 0) -> tf.data.Dataset:
    """The named source's split as `(image uint8, label int64)` elements."""
    if source == "tfds":
        return load_tfds(split, data_dir)
    if source == "tfrecord":
        if not data_dir:
            raise DataError("the tfrecord source needs a data_dir (local folder or gs:// URI)")
        return load_tfrecords(data_dir, split)
    if source == "synthetic":
        return load_synthetic(split, synthetic_size, seed)
    raise DataError(f"data source {source!r} is not allowed; use tfds, tfrecord or synthetic")


@dataclass(frozen=True)
class Holdout:
    """Train, validation and test sets of one source, with the sizes of train and validation."""

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    train_size: int
    validation_size: int


def validation_size(total: int) -> int:
    """Examples held out of a `total`-example training split: `VALIDATION_FRACTION`, rounded,
    at least one, leaving at least one to train on."""
    if total < 2:
        raise DataError(f"the training split has {total} example(s); at least 2 are needed to "
                        f"hold out {VALIDATION_FRACTION:.0%} for validation")
    return min(total - 1, max(1, round(total * VALIDATION_FRACTION)))


def _count(ds: tf.data.Dataset) -> int:
    return int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))


def load_holdout(source: str, data_dir: str | None = None, synthetic_train_size: int = 2048,
                 synthetic_test_size: int = 512, seed: int = 0) -> Holdout:
    """The source's training split cut into train and validation (the last
    `VALIDATION_FRACTION`, in file order, so every trial of a study validates on the same
    examples), and its test split. TFRecords are counted as raw records, before decoding."""
    if source == "tfrecord":
        files = tfrecord_files(data_dir or "", "train")
        records = tf.data.TFRecordDataset(files, num_parallel_reads=min(len(files), 8))
        total = _count(tf.data.TFRecordDataset(files))
        n_train = total - validation_size(total)
        train = records.take(n_train).map(_parse, num_parallel_calls=AUTOTUNE)
        validation = records.skip(n_train).map(_parse, num_parallel_calls=AUTOTUNE)
    elif source == "tfds":
        import tensorflow_datasets as tfds

        load_tfds("train", data_dir)  # prepares the data and checks the label names
        total = tfds.builder("cifar10", data_dir=data_dir).info.splits["train"].num_examples
        n_train = total - validation_size(total)
        train, validation = (
            tfds.load("cifar10", split=spec, data_dir=data_dir, as_supervised=True,
                      shuffle_files=False)
            for spec in (f"train[:{n_train}]", f"train[{n_train}:]"))
    else:
        full = load_split(source, "train", data_dir, synthetic_train_size, seed)
        total = int(full.cardinality())
        n_train = total - validation_size(total)
        train, validation = full.take(n_train), full.skip(n_train)
    test = load_split(source, "test", data_dir, synthetic_test_size, seed)
    return Holdout(train, validation, test, n_train, total - n_train)


# --- pipelines ---------------------------------------------------------------------------------

def augment_batch(images: tf.Tensor, seed: int) -> tf.Tensor:
    """Random horizontal flip and random 32×32 crop of a 4-px zero-padded image, batched.

    Works on a whole batch with gathers instead of per-image ops, so it costs a few kernels
    per batch rather than per image.
    """
    size = IMAGE_SHAPE[0]
    batch = tf.shape(images)[0]
    flip = tf.random.uniform([batch, 1, 1, 1], seed=seed) < 0.5
    images = tf.where(flip, tf.reverse(images, axis=[2]), images)
    padded = tf.pad(images, [[0, 0], [_PAD, _PAD], [_PAD, _PAD], [0, 0]])
    offsets = tf.random.uniform([batch, 2], 0, 2 * _PAD + 1, dtype=tf.int32, seed=seed + 1)
    rows = offsets[:, :1] + tf.range(size)[None, :]
    cols = offsets[:, 1:] + tf.range(size)[None, :]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(cropped, cols, axis=2, batch_dims=1)


def _to_float(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return tf.cast(images, tf.float32), labels


def train_pipeline(ds: tf.data.Dataset, batch_size: int, seed: int, augment: bool = True,
                   repeat: bool = False) -> tf.data.Dataset:
    """Decoded examples cached in memory, reshuffled each epoch, batched, augmented, prefetched.

    Images stay uint8 until after batching (4× less memory in the cache); the model scales them.
    `drop_remainder` keeps batch shapes static, which multi-worker training needs; `repeat`
    makes it endless for a loop that counts steps per epoch.
    """
    ds = ds.cache().shuffle(TRAIN_SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=True, num_parallel_calls=AUTOTUNE)
    ds = ds.map(_to_float, num_parallel_calls=AUTOTUNE)
    if augment:
        ds = ds.map(lambda x, y: (augment_batch(x, seed), y), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def eval_pipeline(ds: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """Cached, batched in order (keeps every example), prefetched."""
    ds = ds.cache().batch(batch_size, num_parallel_calls=AUTOTUNE)
    return ds.map(_to_float, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def study_pipeline(ds: tf.data.Dataset, batch_size: int, seed: int) -> tf.data.Dataset:
    """The study's baseline: per-element map → shuffle → batch, no cache, no prefetch."""
    ds = ds.map(_to_float)
    return ds.shuffle(STUDY_SHUFFLE_BUFFER, seed=seed).batch(batch_size)


def as_arrays(ds: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Materialise a small `(image, label)` dataset as numpy arrays (tests, evaluation)."""
    images, labels = [], []
    for image, label in ds.as_numpy_iterator():
        images.append(image)
        labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)

