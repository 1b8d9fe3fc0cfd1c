"""Data sources (synthetic, TFRecord, tfds) and the input pipelines."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from workloads.cifar10 import CLASS_NAMES, data  # noqa: E402


def test_synthetic_has_cifar_shapes_dtypes_and_balanced_labels() -> None:
    images, labels = data.synthetic_arrays(50, seed=1)
    assert images.shape == (50, 32, 32, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert sorted(set(labels.tolist())) == list(range(10))
    assert np.bincount(labels).tolist() == [5] * 10


def test_synthetic_is_deterministic_per_seed() -> None:
    a, la = data.synthetic_arrays(20, seed=3)
    b, lb = data.synthetic_arrays(20, seed=3)
    c, _ = data.synthetic_arrays(20, seed=4)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, c)


def test_synthetic_classes_differ_in_mean_colour() -> None:
    images, labels = data.synthetic_arrays(200, seed=0)
    means = np.stack([images[labels == c].mean(axis=(0, 1, 2)) for c in range(10)])
    distances = np.linalg.norm(means[:, None] - means[None], axis=-1)
    assert distances[~np.eye(10, dtype=bool)].min() > 10


def test_synthetic_train_and_test_splits_differ() -> None:
    train = data.as_arrays(data.load_synthetic("train", 10, seed=0))[0]
    test = data.as_arrays(data.load_synthetic("test", 10, seed=0))[0]
    assert not np.array_equal(train, test)


def test_tfrecords_round_trip_exact_pixels(tmp_path: Path) -> None:
    images, labels = data.synthetic_arrays(30, seed=2)
    paths = data.write_tfrecords(images, labels, str(tmp_path), "train", shards=3)
    assert [Path(p).name for p in paths] == [
        f"cifar10-train.tfrecord-0000{i}-of-00003" for i in range(3)]
    got_images, got_labels = data.as_arrays(data.load_tfrecords(str(tmp_path), "train"))
    order = np.lexsort((got_labels, got_images.reshape(30, -1).sum(axis=1)))
    want = np.lexsort((labels, images.reshape(30, -1).sum(axis=1)))
    assert np.array_equal(got_images[order], images[want])
    assert np.array_equal(got_labels[order], labels[want])


def test_tfrecord_holdout_takes_the_last_tenth_of_train_in_file_order(tmp_path: Path) -> None:
    images, labels = data.synthetic_arrays(30, seed=2)
    data.write_tfrecords(images, labels, str(tmp_path), "train")
    data.write_tfrecords(images[:5], labels[:5], str(tmp_path), "test")
    splits = data.load_holdout("tfrecord", str(tmp_path))
    assert (splits.train_size, splits.validation_size) == (27, 3)
    train_images, train_labels = data.as_arrays(splits.train)
    val_images, val_labels = data.as_arrays(splits.validation)
    assert np.array_equal(train_images, images[:27]) and np.array_equal(train_labels, labels[:27])
    assert np.array_equal(val_images, images[27:]) and np.array_equal(val_labels, labels[27:])
    assert len(data.as_arrays(splits.test)[0]) == 5


def test_validation_size_is_a_tenth_and_leaves_training_examples() -> None:
    assert [data.validation_size(n) for n in (2, 9, 192, 50_000)] == [1, 1, 19, 5_000]
    with pytest.raises(data.DataError, match="has 1 example"):
        data.validation_size(1)


def test_missing_tfrecords_name_the_folder_and_pattern(tmp_path: Path) -> None:
    with pytest.raises(data.DataError, match=r"no test TFRecords in '.*': expected files named "
                                             r"\*test\.tfrecord\*"):
        data.load_tfrecords(str(tmp_path), "test")


def test_bad_split_and_source_are_named() -> None:
    with pytest.raises(data.DataError, match="split 'validation' is not allowed"):
        data.load_synthetic("validation", 10)
    with pytest.raises(data.DataError, match="data source 'imagenet' is not allowed"):
        data.load_split("imagenet", "train")


def _pairs(images: np.ndarray, labels: np.ndarray) -> set[tuple[bytes, int]]:
    return {(image.tobytes(), int(label)) for image, label in zip(images, labels, strict=True)}


def write_cifar_binary(images: np.ndarray, labels: np.ndarray, root: Path) -> str:
    """Write arrays in the CIFAR-10 binary release layout (`cifar-10-batches-bin/`).

    Each record is one label byte and 3072 pixel bytes in channel-major order. The first
    `len - len // 6` images go to `data_batch_1..5.bin`, the rest to `test_batch.bin`: the files
    tfds's cifar10 builder reads after its download step.
    """
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True, exist_ok=True)
    records = np.concatenate(
        [labels.astype(np.uint8)[:, None], images.transpose(0, 3, 1, 2).reshape(len(images), -1)],
        axis=1)
    n_test = max(1, len(records) // 6)
    train, test = records[:-n_test], records[-n_test:]
    for i, chunk in enumerate(np.array_split(train, 5), start=1):
        chunk.tofile(folder / f"data_batch_{i}.bin")
    test.tofile(folder / "test_batch.bin")
    (folder / "batches.meta.txt").write_text("\n".join(CLASS_NAMES) + "\n")
    return str(root)


def test_tfds_cifar10_builds_from_the_binary_release(tmp_path: Path) -> None:
    """tfds's own cifar10 builder runs; only its download step is answered from a local folder."""
    import tensorflow_datasets as tfds

    images, labels = data.synthetic_arrays(36, seed=5)
    release = write_cifar_binary(images, labels, tmp_path / "release")
    with mock.patch.object(tfds.download.DownloadManager, "download_and_extract",
                           return_value=release):
        train = data.load_tfds("train", data_dir=str(tmp_path / "tfds"))
        test_images, test_labels = data.as_arrays(data.load_tfds("test", str(tmp_path / "tfds")))
        holdout = data.load_holdout("tfds", str(tmp_path / "tfds"))
    # tfds shuffles records while preparing, so compare as sets of (image, label) pairs.
    assert _pairs(*data.as_arrays(train)) == _pairs(images[:30], labels[:30])
    assert _pairs(test_images, test_labels) == _pairs(images[30:], labels[30:])
    assert (holdout.train_size, holdout.validation_size) == (27, 3)
    held = _pairs(*data.as_arrays(holdout.validation))
    assert len(held) == 3 and not held & _pairs(*data.as_arrays(holdout.train))
    assert held | _pairs(*data.as_arrays(holdout.train)) == _pairs(images[:30], labels[:30])
    # The prepared tfds files are TFRecords our TFRecord reader also understands.
    prepared = tmp_path / "tfds" / "cifar10" / "3.0.2"
    from_records = data.as_arrays(data.load_tfrecords(str(prepared), "test"))
    assert _pairs(*from_records) == _pairs(images[30:], labels[30:])
    assert tfds.builder("cifar10", data_dir=str(tmp_path / "tfds")).info.features[
        "label"].names == list(CLASS_NAMES)


def test_train_pipeline_batches_float_images_and_augments() -> None:
    raw = data.load_synthetic("train", 64, seed=0)
    plain = data.train_pipeline(raw, 16, seed=1, augment=False)
    augmented = data.train_pipeline(raw, 16, seed=1, augment=True)
    batches = list(plain.as_numpy_iterator())
    assert len(batches) == 4
    images, labels = batches[0]
    assert images.shape == (16, 32, 32, 3) and images.dtype == np.float32
    assert labels.shape == (16,)
    aug_images, aug_labels = next(augmented.as_numpy_iterator())
    assert np.array_equal(aug_labels, labels)
    assert not np.array_equal(aug_images, images)
    assert aug_images.min() >= 0 and aug_images.max() <= 255


def test_augment_is_flip_plus_shift_of_the_original() -> None:
    image = np.arange(32 * 32 * 3, dtype=np.float32).reshape(1, 32, 32, 3) % 251 + 1
    out = data.augment_batch(tf.constant(np.repeat(image, 8, axis=0)), seed=3).numpy()
    padded = np.pad(image[0], ((4, 4), (4, 4), (0, 0)))
    flipped = np.pad(image[0, :, ::-1], ((4, 4), (4, 4), (0, 0)))
    for crop in out:
        matches = [(src, dy, dx) for src in (padded, flipped) for dy in range(9) for dx in range(9)
                   if np.array_equal(src[dy:dy + 32, dx:dx + 32], crop)]
        assert matches, "augmented image is not a flipped/shifted crop of the original"


def test_train_pipeline_repeat_is_endless_and_reshuffles() -> None:
    raw = data.load_synthetic("train", 32, seed=0)
    it = data.train_pipeline(raw, 32, seed=1, augment=False, repeat=True).as_numpy_iterator()
    first, second = next(it)[1], next(it)[1]
    assert sorted(first.tolist()) == sorted(second.tolist())
    assert first.tolist() != second.tolist()


def test_eval_pipeline_keeps_every_example_in_order() -> None:
    raw = data.load_synthetic("test", 50, seed=0)
    labels = np.concatenate([y for _, y in data.eval_pipeline(raw, 16).as_numpy_iterator()])
    assert labels.tolist() == data.as_arrays(raw)[1].tolist()


def test_study_pipeline_batches_without_prefetch() -> None:
    raw = data.load_synthetic("train", 40, seed=0)
    ds = data.study_pipeline(raw, 16, seed=0)
    batches = [images.shape[0] for images, _ in ds.as_numpy_iterator()]
    assert batches == [16, 16, 8]
    # The outermost stage is the batch itself: nothing prefetches ahead of the training step.
    assert type(ds).__name__ == "_BatchDataset"
    assert type(data.train_pipeline(raw, 16, seed=0)).__name__ == "_PrefetchDataset"
