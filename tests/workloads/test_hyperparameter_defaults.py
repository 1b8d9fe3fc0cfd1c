"""The trainer's hyperparameter defaults are written once (`DEFAULTS` in its config): the
pipeline, the training chart and the stacks start from them and state only what they change."""

from __future__ import annotations

from dataclasses import asdict, fields

import pytest
import yaml

from facts.stacks import stack_names, stack_path
from infra.charts import CHARTS_DIR, render
from infra.stack_config import read_stack_file
from workloads.cifar10.config import DEFAULTS, SYNTHETIC_SIZES, build_parser, parse_args
from workloads.pipelines.settings import DEFAULTS_PATH, TrainSettings, load_settings

HYPERPARAMETERS = [f.name for f in fields(DEFAULTS)]


def test_the_trainer_parser_defaults_are_the_defaults():
    config = parse_args([], environ={})
    assert {k: config.hyperparameters()[k] for k in HYPERPARAMETERS} == asdict(DEFAULTS)
    assert (config.synthetic_train_size, config.synthetic_test_size) == SYNTHETIC_SIZES


def test_a_pipeline_run_trains_with_the_trainer_defaults_unless_defaults_yaml_says_otherwise():
    written = yaml.safe_load(DEFAULTS_PATH.read_text())["train"]
    train = load_settings().train
    for name in HYPERPARAMETERS:
        expected = written.get(name, getattr(DEFAULTS, name))
        assert getattr(train, name) == expected, name
    restated = {k: v for k, v in written.items() if getattr(DEFAULTS, k, object()) == v}
    assert restated == {}, "defaults.yaml repeats the trainer's defaults"
    assert TrainSettings(data="tfds").model_dump(include=set(HYPERPARAMETERS)) == asdict(DEFAULTS)


def _trainer_args(values: dict) -> list[str]:
    (job,) = render(CHARTS_DIR / "cifar10-training", values, release="r", namespace="ml-training")
    (container,) = job["spec"]["tfReplicaSpecs"]["Chief"]["template"]["spec"]["containers"]
    return container["args"]


def test_the_training_chart_passes_only_the_hyperparameters_its_values_set():
    values = yaml.safe_load((CHARTS_DIR / "cifar10-training" / "values.yaml").read_text())
    assert values["hyperparameters"] == {}
    args = _trainer_args({})
    assert not [a for a in args if a.split("=")[0].lstrip("-") in HYPERPARAMETERS]
    parsed = build_parser().parse_args(args)
    assert {name: getattr(parsed, name) for name in HYPERPARAMETERS} == asdict(DEFAULTS)
    assert "--epochs=7" in _trainer_args({"hyperparameters": {"epochs": 7}})


@pytest.mark.parametrize("stack", stack_names())
def test_stack_training_profiles_set_only_what_they_change_and_the_trainer_accepts_it(stack):
    training = read_stack_file(stack_path(stack)).platform().workloads.training
    given = (training.values or {}).get("hyperparameters", {})
    restated = {k: v for k, v in given.items() if getattr(DEFAULTS, k, object()) == v}
    assert restated == {}, f"{stack} repeats the trainer's defaults"
    parsed = build_parser().parse_args([f"--{k}={v}" for k, v in given.items()])
    assert all(getattr(parsed, k) == v for k, v in given.items())
