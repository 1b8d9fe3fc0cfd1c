"""One search-space file → a Katib Experiment and a Vertex AI tuning job, field by field."""

from __future__ import annotations

import re

import pytest
import yaml

from workloads.tuning.space import (
    NotExpressible,
    SearchSpaceError,
    check_expressible,
    katib_spec,
    load_space,
    vertex_spec,
)


def test_the_studys_katib_search_is_reproduced():
    spec = katib_spec(load_space("katib-study"))
    assert spec["algorithm"] == {"algorithmName": "random"}
    assert (spec["parallelTrialCount"], spec["maxTrialCount"], spec["maxFailedTrialCount"]) == (
        3, 12, 3)
    assert spec["objective"] == {"type": "maximize", "objectiveMetricName": "Validation-accuracy",
                                 "goal": 0.99, "additionalMetricNames": ["Train-accuracy"]}
    params = {p["name"]: (p["parameterType"], p["feasibleSpace"]) for p in spec["parameters"]}
    assert params == {
        "lr": ("double", {"min": "0.001", "max": "0.1"}),
        "epochs": ("int", {"min": "10", "max": "100"}),
        "batch-size": ("int", {"min": "10", "max": "40"}),
        "num-layers": ("int", {"min": "2", "max": "5"}),
        "optimizer": ("categorical", {"list": ["sgd", "adam", "ftrl"]}),
    }
    refs = {t["reference"]: t["name"] for t in spec["trialParameters"]}
    assert refs == {"lr": "lr", "epochs": "epochs", "batch-size": "batchSize",
                    "num-layers": "numLayers", "optimizer": "optimizer"}


def test_the_studys_vertex_search_is_reproduced():
    from google.cloud.aiplatform import hyperparameter_tuning as hpt

    space = load_space("vertex-study")
    spec = vertex_spec(space)
    assert spec["metric_spec"] == {"accuracy": "maximize"}
    assert (spec["max_trial_count"], spec["parallel_trial_count"]) == (10, 3)
    assert spec["search_algorithm"] is None  # Vertex's default Bayesian optimisation
    lr, momentum, units = (spec["parameter_spec"][k]
                           for k in ("learning_rate", "momentum", "num_units"))
    assert isinstance(lr, hpt.DoubleParameterSpec)
    assert (lr.min, lr.max, lr.scale) == (0.001, 1.0, "log")
    assert (momentum.min, momentum.max, momentum.scale) == (0.0, 1.0, "linear")
    assert isinstance(units, hpt.DiscreteParameterSpec) and units.values == [64, 128, 512]
    assert space.machine is not None
    assert (space.machine.machine_type, space.machine.accelerator_type,
            space.machine.accelerator_count) == ("n1-standard-4", "nvidia-tesla-t4", 1)


def test_katib_search_cannot_run_on_vertex_and_says_why():
    with pytest.raises(NotExpressible, match=r"objective\.target 0\.99 .* no goal value"):
        vertex_spec(load_space("katib-study"))


def _space(tmp_path, **changes):
    raw = yaml.safe_load(load_space.__globals__["SPACES_DIR"].joinpath(
        "vertex-study.yaml").read_text())
    raw.update(changes)
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_tpe_has_no_vertex_equivalent(tmp_path):
    space = load_space(_space(tmp_path, algorithm="tpe"))
    assert katib_spec(space)["algorithm"] == {"algorithmName": "tpe"}
    with pytest.raises(NotExpressible, match="algorithm 'tpe'"):
        check_expressible(space, "vertex")


def test_grid_search_needs_enumerable_parameters(tmp_path):
    space = load_space(_space(tmp_path, algorithm="grid"))
    for target in ("katib", "vertex"):
        with pytest.raises(NotExpressible, match="parameter 'learning_rate' is a continuous"):
            check_expressible(space, target)


def test_log_scale_becomes_katib_log_uniform():
    spec = katib_spec(load_space("vertex-study"))
    lr = next(p for p in spec["parameters"] if p["name"] == "learning_rate")
    assert lr["feasibleSpace"]["distribution"] == "logUniform"


@pytest.mark.parametrize(("parameters", "says"), [
    ([{"name": "lr", "type": "double", "min": 0.1, "max": 0.01}], "min (0.1) must be below"),
    ([{"name": "lr", "type": "double", "min": 0.0, "max": 1, "scale": "log"}], "log-scaled"),
    ([{"name": "opt", "type": "categorical"}], "takes values"),
    ([{"name": "units", "type": "discrete", "values": ["a", "b"]}], "must be numbers"),
    ([{"name": "lr", "type": "double", "min": 0, "max": 1},
      {"name": "lr", "type": "double", "min": 0, "max": 1}], "must be unique: lr"),
    ([{"name": "lr", "type": "float", "min": 0, "max": 1}], "parameters.0.type"),
])
def test_bad_search_spaces_name_the_field(tmp_path, parameters, says):
    with pytest.raises(SearchSpaceError, match=re.escape(says)):
        load_space(_space(tmp_path, parameters=parameters))


def test_trials_parallel_cannot_exceed_max(tmp_path):
    with pytest.raises(SearchSpaceError, match=r"trials: .*parallel \(5\) must not exceed max"):
        load_space(_space(tmp_path, trials={"max": 2, "parallel": 5}))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(SearchSpaceError, match="cannot read"):
        load_space(tmp_path / "none.yaml")


@pytest.mark.parametrize(("machine", "says"), [
    ({"machine_type": "n1-standard-4", "accelerator_type": "nvidia-tesla-t4",
      "accelerator_count": 3}, "attaches in counts of 1, 2, 4"),
    ({"machine_type": "e2-standard-4", "accelerator_type": "nvidia-tesla-t4",
      "accelerator_count": 1}, "attaches only to n1 machines"),
    ({"machine_type": "n1-standard-5"}, "not 5"),
])
def test_trial_machines_are_checked_against_the_hardware_catalog(tmp_path, machine, says):
    with pytest.raises(SearchSpaceError, match=re.escape(says)) as info:
        load_space(_space(tmp_path, machine=machine))
    assert ": machine: " in str(info.value)


def test_grid_messages_name_the_service(tmp_path):
    space = load_space(_space(tmp_path, algorithm="grid"))
    for target, service in (("katib", "Katib"), ("vertex", "Vertex AI")):
        with pytest.raises(NotExpressible, match=f"{service} grid search"):
            check_expressible(space, target)


def test_katib_search_tunes_metrics_the_trainer_prints():
    from workloads.cifar10.config import KATIB_METRICS

    printed = set(KATIB_METRICS.values())
    objective = load_space("katib-study").objective
    assert {objective.metric, *objective.additional} <= printed
