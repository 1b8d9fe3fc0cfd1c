"""The training entry point: metric lines, export, metrics.json, determinism, HyperTune."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from tests.workloads.conftest import RUN_ID, TrainedRun, backup_of, train_in_process
from workloads.cifar10 import CLASS_NAMES

KATIB_FILTER = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")
"""Katib's StdOut metrics collector default filter, verbatim."""


def katib_metrics(stdout: str, names: tuple[str, ...]) -> dict[str, list[float]]:
    """What Katib's collector would record: every `name=value` match for the named metrics."""
    found: dict[str, list[float]] = {name: [] for name in names}
    for line in stdout.splitlines():
        for name, value, *_ in KATIB_FILTER.findall(line):
            if name in found:
                found[name].append(float(value))
    return found


def test_katib_regex_reads_one_value_per_epoch(trained: TrainedRun) -> None:
    found = katib_metrics(trained.stdout, ("Train-accuracy", "Validation-accuracy"))
    assert len(found["Train-accuracy"]) == 2
    assert len(found["Validation-accuracy"]) == 2
    assert all(0.0 <= v <= 1.0 for values in found.values() for v in values)


def test_validation_is_held_out_of_training_and_disjoint_from_test(trained: TrainedRun) -> None:
    """192 synthetic training images: 173 train, the last 19 validate; the 60 test images are
    evaluated once, for metrics.json."""
    import tensorflow as tf

    from workloads.cifar10 import data
    from workloads.cifar10.export import LoadedClassifier

    splits = data.load_holdout("synthetic", synthetic_train_size=192, synthetic_test_size=60,
                               seed=7)
    train_images, _ = data.as_arrays(splits.train)
    val_images, val_labels = data.as_arrays(splits.validation)
    test_images, _ = data.as_arrays(splits.test)
    assert (len(train_images), len(val_images), len(test_images)) == (173, 19, 60)
    assert (trained.metrics["train_examples"], trained.metrics["validation_examples"],
            trained.metrics["examples"]) == (173, 19, 60)
    seen = {image.tobytes() for image in train_images}
    assert not seen & {image.tobytes() for image in val_images}
    assert not (seen | {image.tobytes() for image in val_images}) & {
        image.tobytes() for image in test_images}
    # The last epoch's Validation-accuracy is the exported model's accuracy on the held-out 19.
    classifier = LoadedClassifier(str(trained.export_dir))
    predicted = classifier(tf.constant(val_images)).numpy().argmax(axis=1)
    found = katib_metrics(trained.stdout, ("Validation-accuracy",))
    assert found["Validation-accuracy"][-1] == pytest.approx((predicted == val_labels).mean(),
                                                             abs=1e-6)


def test_metrics_json_describes_the_run(trained: TrainedRun) -> None:
    saved = json.loads((trained.export_dir / "metrics.json").read_text())
    assert saved["class_names"] == list(CLASS_NAMES)
    confusion = np.array(saved["confusion_matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() == saved["examples"] == 60
    assert saved["accuracy"] == pytest.approx(np.trace(confusion) / 60)
    assert set(saved["per_class_accuracy"]) == set(CLASS_NAMES)
    assert saved["hyperparameters"]["learning_rate"] == 0.01
    assert saved["hyperparameters"]["optimizer"] == "adam"
    assert saved["seed"] == 7 and saved["resumed_at_epoch"] == 0
    assert (saved["train_examples"], saved["validation_examples"]) == (173, 19)
    assert saved["export_dir"] == str(trained.export_dir)
    assert "tensorflow-cpu" in saved["package_versions"] or "tensorflow" in saved[
        "package_versions"]
    assert saved["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", saved["git_commit"])


def test_export_has_float_and_uint8_signatures_that_agree(trained: TrainedRun) -> None:
    import tensorflow as tf

    from workloads.cifar10 import data
    from workloads.cifar10.export import LoadedClassifier

    classifier = LoadedClassifier(str(trained.export_dir))
    images, labels = data.as_arrays(data.load_synthetic("test", 60, seed=7))
    as_float = classifier(tf.constant(images.astype(np.float32))).numpy()
    as_uint8 = classifier(tf.constant(images)).numpy()
    np.testing.assert_allclose(as_float, as_uint8, atol=1e-6)
    np.testing.assert_allclose(as_float.sum(axis=1), 1.0, rtol=1e-5)
    assert (as_float.argmax(axis=1) == labels).mean() == pytest.approx(trained.metrics["accuracy"])


def test_backup_is_removed_and_tensorboard_written_after_success(trained: TrainedRun) -> None:
    assert not backup_of(trained.root).exists()
    events = list((trained.root / "tb" / RUN_ID).glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def _epoch_lines(stdout: str) -> list[str]:
    """Katib lines without their wall-clock field."""
    return [line.rsplit(" ", 1)[0] for line in stdout.splitlines() if line.startswith("epoch=")]


def test_same_seed_same_model_and_hypertune_reports(trained: TrainedRun, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    metric_file = tmp_path / "hypertune" / "output.metrics"
    monkeypatch.setenv("CLOUD_ML_HP_METRIC_FILE", str(metric_file))
    again = train_in_process(tmp_path, "--epochs", "2",
                             environ={"CLOUD_ML_HP_METRIC_FILE": str(metric_file)})
    assert again.metrics["confusion_matrix"] == trained.metrics["confusion_matrix"]
    assert _epoch_lines(again.stdout) == _epoch_lines(trained.stdout)
    reports = [json.loads(line) for line in metric_file.read_text().splitlines() if line.strip()]
    assert [r["global_step"] for r in reports] == ["1", "2"]
    assert all("accuracy" in r for r in reports)
    validation = katib_metrics(again.stdout, ("Validation-accuracy",))["Validation-accuracy"]
    assert [float(r["accuracy"]) for r in reports] == pytest.approx(validation, abs=1e-6)


def test_synthetic_data_is_learnable(tmp_path: Path) -> None:
    run = train_in_process(tmp_path, "--model", "resnet", "--epochs", "3")
    assert run.metrics["accuracy"] > 0.6


def test_batch_larger_than_training_split_is_a_clear_error(tmp_path: Path) -> None:
    from workloads.cifar10.data import DataError

    with pytest.raises(DataError, match=r"--batch-size 512 is larger than the training set "
                                        r"\(173 examples after holding out 19"):
        train_in_process(tmp_path, "--batch-size", "512")


@pytest.mark.gpu
def test_gpu_training_uses_mixed_precision(tmp_path: Path) -> None:
    import keras
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        pytest.skip("needs an NVIDIA GPU")
    try:
        run = train_in_process(tmp_path, "--model", "resnet", "--epochs", "2", "--precision",
                               "auto")
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        assert run.metrics["accuracy"] > 0.3
        assert (run.export_dir / "saved_model.pb").exists()
    finally:
        keras.mixed_precision.set_global_policy("float32")


class _RecordingHyperTune:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def report_hyperparameter_tuning_metric(self, **kwargs: object) -> None:
        self.calls.append(kwargs)


@pytest.mark.parametrize(("tag", "value"), [("accuracy", 0.7), ("loss", 0.9),
                                            ("Train-accuracy", 0.6), ("Validation-loss", 0.9)])
def test_hypertune_reports_the_epoch_log_its_tag_names(tmp_path: Path, tag: str,
                                                       value: float) -> None:
    from workloads.cifar10.config import parse_args
    from workloads.cifar10.loop import EpochResult
    from workloads.cifar10.train import EpochReporter, katib_line

    reporter = EpochReporter(parse_args(["--hypertune-metric", tag], environ={}), {},
                             is_chief=False)
    reporter.hypertune = recorder = _RecordingHyperTune()
    logs = {"accuracy": 0.6, "loss": 1.2, "val_accuracy": 0.7, "val_loss": 0.9}
    reporter(EpochResult(3, logs))
    assert recorder.calls == [{"hyperparameter_metric_tag": tag, "metric_value": value,
                               "global_step": 3}]
    assert katib_line(3, logs) == ("epoch=3 Train-accuracy=0.600000 Train-loss=1.200000 "
                                   "Validation-accuracy=0.700000 Validation-loss=0.900000")
