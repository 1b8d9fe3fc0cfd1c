"""Step helpers that need no TensorFlow: trainer arguments, the report, the V1 answer check."""

from __future__ import annotations

import pytest

from workloads.cifar10 import CLASS_NAMES
from workloads.cifar10.config import parse_args
from workloads.pipelines.steps import (
    TRAIN_PARAMETERS,
    StepError,
    check_v1_response,
    markdown_report,
    trainer_args,
)


def test_trainer_args_parse_with_the_trainer() -> None:
    args = trainer_args("/d", "/m", "/w", {"epochs": 2, "batch_size": 16, "learning_rate": 0.05,
                                           "num_units": 64, "optimizer": "adam", "width": 0.5})
    cfg = parse_args(args, environ={})
    assert (cfg.data, cfg.data_dir, cfg.model_dir) == ("tfrecord", "/d", "/m")
    assert (cfg.epochs, cfg.batch_size, cfg.learning_rate) == (2, 16, 0.05)
    assert (cfg.num_units, cfg.optimizer, cfg.width, cfg.version) == (64, "adam", 0.5, 1)
    assert cfg.checkpoint_dir == "/w/checkpoints"
    assert cfg.tensorboard_dir == "/w/tensorboard"
    assert cfg.export_dir == "/m/1"


def test_every_train_parameter_is_a_trainer_flag() -> None:
    values = {"model": "resnet", "epochs": 3, "batch_size": 8, "learning_rate": 0.2,
              "momentum": 0.5, "optimizer": "ftrl", "num_layers": 2, "num_units": 16,
              "width": 0.25, "seed": 7}
    assert set(values) == set(TRAIN_PARAMETERS)
    cfg = parse_args(trainer_args("/d", "/m", "/w", values), environ={})
    assert {name: getattr(cfg, name) for name in values} == values


def test_trainer_args_refuse_unknown_names() -> None:
    with pytest.raises(StepError, match=r"unknown hyperparameter.*dropout"):
        trainer_args("/d", "/m", "/w", {"dropout": 0.5})


def _result(accuracy: float) -> dict:
    matrix = [[0] * 10 for _ in range(10)]
    matrix[0][0], matrix[0][1], matrix[3][3] = 3, 1, 2
    per_class = {name: None for name in CLASS_NAMES} | {"airplane": 0.75, "cat": 1.0}
    return {"accuracy": accuracy, "examples": 6, "per_class_accuracy": per_class,
            "confusion_matrix": matrix}


def test_markdown_report_shows_gate_and_matrix() -> None:
    text = markdown_report(_result(0.8333), threshold=0.7)
    assert "Test accuracy **0.8333** on 6 images." in text
    assert "**deploy**" in text
    assert "| airplane | 3 | 1 | 0 |" in text
    assert "| cat | 1.000 |" in text and "| dog | — |" in text
    assert "**do not deploy**" in markdown_report(_result(0.5), threshold=0.7)


def test_v1_answer_check() -> None:
    good = {"predictions": [[0.1] * 10]}
    assert check_v1_response(good, 1) == [[0.1] * 10]
    with pytest.raises(StepError, match="no 'predictions'"):
        check_v1_response({"error": "x"}, 1)
    with pytest.raises(StepError, match="expected 1 prediction"):
        check_v1_response({"predictions": []}, 1)
    with pytest.raises(StepError, match=r"predictions\[0\] must hold 10"):
        check_v1_response({"predictions": [[0.5, 0.5]]}, 1)
    with pytest.raises(StepError, match="not a probability vector"):
        check_v1_response({"predictions": [[0.2] * 10]}, 1)
