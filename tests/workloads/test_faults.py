"""Trainer faults: a backup made with other values, damaged backups, unwritable outputs, a failed
export, a finished run started again. Each is one line on stderr and exit 2, or a recovery that
says what it did; never a traceback or a silent restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")

from tests.workloads.conftest import (
    RUN_ID,
    backup_of,
    epochs_in,
    export_of,
    read_metrics,
    tiny_args,
)


def _backup(root: Path, epochs: int, *extra: str) -> Path:
    """What a preempted run leaves: backups of `epochs` finished epochs in its run folder."""
    import tensorflow as tf

    from workloads.cifar10.config import parse_args
    from workloads.cifar10.loop import TrainingLoop
    from workloads.cifar10.model import build_model
    from workloads.cifar10.train import _optimizer, fingerprint

    cfg = parse_args(tiny_args(root, *extra), environ={})
    loop = TrainingLoop(tf.distribute.get_strategy(),
                        lambda: build_model(cfg.model, cfg.num_layers, cfg.num_units, cfg.width),
                        lambda: _optimizer(cfg), cfg.batch_size, cfg.run_checkpoint_dir,
                        fingerprint(cfg, "float32"))
    batch = (tf.zeros([cfg.batch_size, 32, 32, 3]), tf.zeros([cfg.batch_size], tf.int64))
    loop.run(tf.data.Dataset.from_tensors(batch).repeat(), 1, epochs, None, lambda result: None)
    return backup_of(root)


def _main(root: Path, capsys: pytest.CaptureFixture, *extra: str) -> tuple[int, str, str]:
    """`main(tiny_args(root, *extra))` in this process: exit code, stdout, stderr."""
    from workloads.cifar10.train import main

    code = main(tiny_args(root, *extra))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    return lines[0]


def test_rerun_with_other_hyperparameters_is_refused_naming_what_differs(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = _backup(tmp_path, 1, "--num_units", "64")
    code, out, err = _main(tmp_path, capsys, "--num_units", "32", "--epochs", "2")
    assert code == 2
    line = _one_error_line(err)
    assert f"checkpoint folder '{folder}' was made with other values: num_units=64 there, 32 " \
           "here; pass another --run-id" in line
    assert epochs_in(out) == []
    assert json.loads((folder / "fingerprint.json").read_text())["num_units"] == 64


def test_the_fingerprint_names_what_shapes_variables() -> None:
    from workloads.cifar10.config import parse_args
    from workloads.cifar10.train import fingerprint

    vgg = fingerprint(parse_args(["--num_units", "64", "--width", "0.5"], environ={}), "float32")
    assert vgg == {"model": "vgg", "width": 0.5, "optimizer": "sgd", "precision": "float32",
                   "num_layers": 3, "num_units": 64}
    resnet = fingerprint(parse_args(["--model", "resnet", "--num_units", "64"], environ={}),
                         "mixed_float16")
    assert resnet == {"model": "resnet", "width": 1.0, "optimizer": "sgd",
                      "precision": "mixed_float16"}
    # Learning rate, batch size, epochs, data and seed change no variable: a resumed run may
    # change them (more epochs, a lower learning rate).
    other = parse_args(["--num_units", "64", "--width", "0.5", "--lr", "0.3", "--epochs", "50",
                        "--batch-size", "16", "--seed", "1", "--momentum", "0.5"], environ={})
    assert fingerprint(other, "float32") == vgg


def test_a_run_stopped_before_its_first_epoch_leaves_no_binding_fingerprint(
        tmp_path: Path) -> None:
    """The fingerprint binds checkpoints; one left without any is replaced by the next run's."""
    from workloads.cifar10.loop import write_fingerprint

    folder = backup_of(tmp_path)
    write_fingerprint(str(folder), {"model": "vgg", "num_units": 999})
    _backup(tmp_path, 1)
    assert json.loads((folder / "fingerprint.json").read_text())["num_units"] == 32


def test_backup_without_fingerprint_is_refused(tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    folder = _backup(tmp_path, 1)
    (folder / "fingerprint.json").unlink()
    code, _, err = _main(tmp_path, capsys, "--epochs", "2")
    assert code == 2
    assert f"checkpoint folder '{folder}' has no fingerprint.json" in _one_error_line(err)


def test_corrupt_latest_checkpoint_falls_back_to_the_previous_one(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = _backup(tmp_path, 2)
    (folder / "ckpt-2.data-00000-of-00001").write_bytes(b"truncated")
    code, out, err = _main(tmp_path, capsys, "--epochs", "3")
    assert code == 0, err
    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"warning: unreadable checkpoint(s) in '{folder}': ckpt-2 (")
    assert warnings[0].endswith("; resuming from ckpt-1")
    assert epochs_in(out) == [2, 3]
    assert read_metrics(export_of(tmp_path))["resumed_at_epoch"] == 1


def test_no_intact_checkpoint_exits_2_naming_the_folder(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    folder = _backup(tmp_path, 2)
    for index in folder.glob("ckpt-*.index"):
        index.write_bytes(b"x")
    code, out, err = _main(tmp_path, capsys, "--epochs", "3")
    assert code == 2
    line = _one_error_line(err)
    assert line.startswith(f"error: no intact checkpoint in '{folder}': ckpt-2 (")
    assert "ckpt-1 (" in line
    assert epochs_in(out) == []


def test_unreadable_checkpoint_state_file_is_an_error_not_a_restart(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = _backup(tmp_path, 2)
    (folder / "checkpoint").write_text("garbage {{\n")
    code, out, err = _main(tmp_path, capsys, "--epochs", "3")
    assert code == 2
    assert f"checkpoint state file '{folder / 'checkpoint'}' is unreadable" in _one_error_line(err)
    assert epochs_in(out) == []
    assert (folder / "ckpt-2.index").exists()


@pytest.mark.parametrize("flag", ["--model-dir", "--checkpoint-dir", "--tensorboard-dir"])
def test_unwritable_output_is_found_before_the_first_epoch(
        tmp_path: Path, capsys: pytest.CaptureFixture, flag: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = _main(tmp_path, capsys, flag, str(blocker / "out"), "--epochs", "2")
    assert code == 2
    line = _one_error_line(err)
    assert line.startswith(f"error: {flag} '{blocker / 'out'}") and "is not writable (" in line
    assert epochs_in(out) == []
    assert not list(tmp_path.rglob("variables_temp"))


def test_failed_export_leaves_nothing_partial_and_the_rerun_exports_without_training(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow as tf

    from workloads.cifar10 import export

    def full_disk(model: object, path: str) -> str:
        partial = Path(path) / "variables" / "variables_temp"
        partial.mkdir(parents=True)
        (partial / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"half")
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(export, "export_saved_model", full_disk)
        code, out, err = _main(tmp_path, capsys, "--epochs", "2")
    assert code == 2
    assert _one_error_line(err) == (
        f"error: export to '{export_of(tmp_path)}' failed (No space left on device); the "
        f"partial export was removed and the backup kept: fix the folder and rerun with "
        f"--run-id {RUN_ID} to export without training again")
    assert epochs_in(out) == [1, 2]
    assert not export_of(tmp_path).exists()
    assert (backup_of(tmp_path) / "ckpt-2.index").exists()

    code, out, err = _main(tmp_path, capsys, "--epochs", "2")
    assert code == 0, err
    assert epochs_in(out) == []
    assert read_metrics(export_of(tmp_path))["resumed_at_epoch"] == 2


def test_a_finished_run_is_not_trained_again_over_its_export(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _main(tmp_path, capsys, "--epochs", "1")[0] == 0
    code, out, err = _main(tmp_path, capsys, "--epochs", "1")
    assert code == 2
    assert _one_error_line(err) == (
        f"error: run {RUN_ID} already exported a model to '{export_of(tmp_path)}'; pass a new "
        "--run-id (or none) to train again")
    assert epochs_in(out) == []
