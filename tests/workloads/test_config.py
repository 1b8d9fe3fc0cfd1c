"""Trainer arguments: the study's spellings, Vertex defaults, and clear errors on bad values."""

from __future__ import annotations

import json
import re

import pytest

from workloads.cifar10.config import join, parse_args
from workloads.cifar10.distribute import ClusterConfigError


def test_katib_spellings_parse() -> None:
    cfg = parse_args(["--lr=0.05", "--epochs=12", "--batch-size=24", "--num-layers=4",
                      "--optimizer=ftrl"], environ={})
    assert (cfg.learning_rate, cfg.epochs, cfg.batch_size, cfg.num_layers, cfg.optimizer) == (
        0.05, 12, 24, 4, "ftrl")


def test_vertex_spellings_parse() -> None:
    cfg = parse_args(["--learning_rate", "0.3", "--momentum", "0.5", "--num_units", "128"],
                     environ={})
    assert (cfg.learning_rate, cfg.momentum, cfg.num_units) == (0.3, 0.5, 128)


def test_underscore_and_dash_aliases_are_the_same_option() -> None:
    a = parse_args(["--batch_size", "16", "--num_layers", "2", "--num-units", "64",
                    "--run_id", "r1"], environ={})
    b = parse_args(["--batch-size", "16", "--num-layers", "2", "--num_units", "64",
                    "--run-id", "r1"], environ={})
    assert a == b


def test_vertex_environment_sets_output_defaults() -> None:
    env = {"AIP_MODEL_DIR": "gs://b/job/model/", "AIP_CHECKPOINT_DIR": "gs://b/job/checkpoints/",
           "AIP_TENSORBOARD_LOG_DIR": "gs://b/job/logs/", "CLOUD_ML_JOB_ID": "8123"}
    cfg = parse_args(["--version", "3"], environ=env)
    assert cfg.model_dir == "gs://b/job/model/"
    assert cfg.checkpoint_dir == "gs://b/job/checkpoints/"
    assert cfg.tensorboard_dir == "gs://b/job/logs/"
    assert cfg.run_id == "8123"
    assert cfg.export_dir == "gs://b/job/model/runs/8123/3"
    assert cfg.run_checkpoint_dir == "gs://b/job/checkpoints/8123"
    assert cfg.run_tensorboard_dir == "gs://b/job/logs/8123"
    trial = parse_args([], environ={**env, "CLOUD_ML_TRIAL_ID": "4"})
    assert trial.run_id == "8123-4"


def test_each_run_gets_its_own_folders_and_none_is_a_served_version() -> None:
    base = ["--model-dir", "gs://m/cifar10", "--checkpoint-dir", "gs://m/ckpt",
            "--tensorboard-dir", "gs://m/tb"]
    first, second = (parse_args(base, environ={}) for _ in range(2))
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", first.run_id)
    assert first.run_id != second.run_id
    for attr in ("export_dir", "run_checkpoint_dir", "run_tensorboard_dir"):
        assert getattr(first, attr) != getattr(second, attr)
    assert first.export_dir == f"gs://m/cifar10/runs/{first.run_id}/1"
    assert first.export_dir != "gs://m/cifar10/1"
    named = parse_args([*base, "--run-id", "cifar10-x7k2p9"], environ={})
    assert (named.export_dir, named.run_checkpoint_dir, named.run_tensorboard_dir) == (
        "gs://m/cifar10/runs/cifar10-x7k2p9/1", "gs://m/ckpt/cifar10-x7k2p9",
        "gs://m/tb/cifar10-x7k2p9")
    assert parse_args([*base, "--export-dir", "/p/model/1"], environ={}).export_dir == (
        "/p/model/1")


def test_a_cluster_needs_one_run_id_for_all_its_workers() -> None:
    env = {"TF_CONFIG": json.dumps({"cluster": {"worker": ["h:1", "h:2"]},
                                    "task": {"type": "worker", "index": 1}})}
    with pytest.raises(ClusterConfigError, match=r"TF_CONFIG names 2 workers but no --run-id"):
        parse_args([], environ=env)
    assert parse_args(["--run-id", "job-a"], environ=env).run_id == "job-a"
    assert parse_args([], environ={**env, "CLOUD_ML_JOB_ID": "77"}).run_id == "77"
    with pytest.raises(ClusterConfigError, match=r"run id from CLOUD_ML_JOB_ID"):
        parse_args([], environ={**env, "CLOUD_ML_JOB_ID": "../x"})


def test_flags_win_over_environment() -> None:
    cfg = parse_args(["--model-dir", "/tmp/m"], environ={"AIP_MODEL_DIR": "gs://b/m"})
    assert cfg.model_dir == "/tmp/m"
    assert join("/tmp/m", "1") == "/tmp/m/1"


@pytest.mark.parametrize(("argv", "expected"), [
    (["--lr", "0"], "argument --learning_rate/--lr/--learning-rate: 0 is out of range; "
                    "allowed: a float in (0, 10]"),
    (["--momentum", "1.5"], "argument --momentum: 1.5 is out of range; allowed: a float in [0, 1]"),
    (["--epochs", "ten"], "argument --epochs: 'ten' is not a number"),
    (["--num-layers", "6"], "argument --num-layers/--num_layers: 6 is out of range; allowed: an "
                            "integer in [1, 5]"),
    (["--batch-size", "0"], "argument --batch-size/--batch_size: 0 is out of range"),
    (["--optimizer", "rmsprop"], "argument --optimizer: invalid choice: 'rmsprop'"),
    (["--lr", "nan"], "nan is out of range"),
    (["--data", "tfrecord"], "--data tfrecord needs --data-dir"),
    (["--run-id", "../served"], "argument --run-id/--run_id: '../served' is not a run id; "
                                "allowed: 1-128 letters, digits"),
    (["--run-id", "a/b"], "'a/b' is not a run id"),
    (["--run-id", ".."], "'..' is not a run id"),
    (["--run-id", ""], "'' is not a run id"),
    (["--peer-timeout", "0"], "argument --peer-timeout/--peer_timeout: 0 is out of range; "
                              "allowed: seconds in (0, 86400]"),
    (["--export-dir", " "], "argument --export-dir: ' ' is not a folder"),
])
def test_bad_values_exit_2_naming_the_argument(argv: list[str], expected: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv, environ={})
    assert exit_info.value.code == 2
    assert expected in capsys.readouterr().err


def test_hyperparameters_exclude_output_paths() -> None:
    hp = parse_args(["--lr", "0.2"], environ={}).hyperparameters()
    assert hp["learning_rate"] == 0.2
    assert "model_dir" not in hp and "checkpoint_dir" not in hp


def test_hypertune_metric_accepts_only_tags_it_can_report(
        capsys: pytest.CaptureFixture) -> None:
    assert parse_args(["--hypertune-metric", "Validation-loss"], environ={}).hypertune_metric == (
        "Validation-loss")
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--hypertune-metric", "top5"], environ={})
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --hypertune-metric: invalid choice: 'top5'" in err
    assert "'accuracy'" in err and "'Validation-accuracy'" in err


def test_help_shows_defaults_that_read_right() -> None:
    from workloads.cifar10.config import build_parser

    text = " ".join(build_parser().format_help().split())
    for shown in ("optimizer learning rate (default: 0.01)", "training set (default: 10)",
                  "optimizer (default: sgd)", "synthetic test images (default: 512)",
                  "data order (default: 42)"):
        assert shown in text
    assert "(default: True)" not in text and "(default: None)" not in text
