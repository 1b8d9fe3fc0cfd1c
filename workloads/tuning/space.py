"""One hyperparameter search space, two tuning services: Katib and Vertex AI.

A search space is a data file (`workloads/tuning/spaces/*.yaml`) read into `SearchSpace`. From it,
`katib_spec` builds the parts of a Katib `Experiment` (objective, algorithm, parameters, trial
parameters and budget) that the `cifar10-training` chart renders around its TFJob trial template,
and `vertex_spec` builds the arguments of a Vertex AI `HyperparameterTuningJob`. A space that one
service cannot express fails with `NotExpressible`, naming the parameter and the reason, before
anything is rendered or submitted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from facts.documents import StrictModel as _Model

SPACES_DIR = Path(__file__).parent / "spaces"
Target = Literal["katib", "vertex"]

_PARAM_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def space_names() -> list[str]:
    """The shipped search spaces, by name (`load_space` takes one or a path)."""
    return sorted(p.stem for p in SPACES_DIR.glob("*.yaml"))


class SearchSpaceError(ValueError):
    """A search-space file that is unreadable or invalid; the message names the field."""


class NotExpressible(ValueError):
    """A valid search space that a given tuning service cannot run as written."""




class Objective(_Model):
    metric: str
    goal: Literal["maximize", "minimize"]
    target: float | None = None
    """Stop once a trial reaches this value (Katib's objective goal)."""
    additional: tuple[str, ...] = ()


class Trials(_Model):
    max: int = Field(ge=1)
    parallel: int = Field(ge=1)
    max_failed: int = Field(default=3, ge=0)

    @model_validator(mode="after")
    def _parallel_within_max(self) -> Trials:
        if self.parallel > self.max:
            raise ValueError(f"parallel ({self.parallel}) must not exceed max ({self.max})")
        return self


class Machine(_Model):
    """The worker each Vertex AI trial runs on; checked against the hardware catalog."""

    machine_type: str
    accelerator_type: str | None = None
    accelerator_count: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _attachable(self) -> Machine:
        from facts.hardware import AttachmentError, UnknownMachineType, catalog

        try:
            catalog().check_attachment(self.machine_type, self.accelerator_type,
                                       self.accelerator_count)
        except (UnknownMachineType, AttachmentError) as err:
            raise ValueError(str(err)) from None
        return self


class Parameter(_Model):
    name: str = Field(pattern=_PARAM_NAME.pattern)
    """The trainer flag without its dashes; each trial gets ``--<name>=<value>``."""
    type: Literal["double", "integer", "discrete", "categorical"]
    min: float | None = None
    max: float | None = None
    scale: Literal["linear", "log"] = "linear"
    values: tuple[float | str, ...] | None = None

    @model_validator(mode="after")
    def _shape(self) -> Parameter:
        ranged = self.type in ("double", "integer")
        if ranged:
            if self.min is None or self.max is None or self.values is not None:
                raise ValueError(f"a {self.type} parameter takes min and max, not values")
            if self.min >= self.max:
                raise ValueError(f"min ({self.min}) must be below max ({self.max})")
            if self.type == "integer" and not (float(self.min).is_integer()
                                               and float(self.max).is_integer()):
                raise ValueError("an integer parameter needs whole min and max")
            if self.scale == "log" and self.min <= 0:
                raise ValueError("a log-scaled parameter needs min above 0")
        else:
            if not self.values or self.min is not None or self.max is not None:
                raise ValueError(f"a {self.type} parameter takes values, not min and max")
            if self.scale != "linear":
                raise ValueError(f"a {self.type} parameter has no scale")
            if self.type == "discrete" and not all(isinstance(v, int | float)
                                                   for v in self.values):
                raise ValueError("discrete values must be numbers; use categorical for words")
            if len(set(self.values)) != len(self.values):
                raise ValueError("values must be distinct")
        return self

    @property
    def katib_name(self) -> str:
        """Katib trial-parameter names are identifiers: ``batch-size`` → ``batchSize``."""
        head, *rest = re.split(r"[-_]", self.name)
        return head + "".join(p.title() for p in rest)


class SearchSpace(_Model):
    name: str
    description: str = ""
    source: str = ""
    objective: Objective
    algorithm: Literal["random", "grid", "bayesian", "tpe"]
    trials: Trials
    machine: Machine | None = None
    parameters: tuple[Parameter, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> SearchSpace:
        names = [p.name for p in self.parameters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"parameter names must be unique: {', '.join(duplicates)}")
        return self


def load_space(path: Path | str) -> SearchSpace:
    """Read and validate a search-space file.

    A bare name such as ``katib-study`` refers to a shipped file in `SPACES_DIR`.
    """
    path = Path(path)
    if not path.suffix and not path.exists():
        path = SPACES_DIR / f"{path}.yaml"
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SearchSpaceError(f"{path}: cannot read search space: {err}") from None
    try:
        return SearchSpace.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        value = first.get("input")
        raise SearchSpaceError(f"{path}: {where}: {message} (got {value!r})") from None


# Katib v1beta1 algorithm names, and Vertex AI's (None selects Vertex's default Bayesian search).
KATIB_ALGORITHMS = {"random": "random", "grid": "grid", "bayesian": "bayesianoptimization",
                    "tpe": "tpe"}
VERTEX_ALGORITHMS: dict[str, str | None] = {"random": "random", "grid": "grid", "bayesian": None}


def check_expressible(space: SearchSpace, target: Target) -> None:
    """Raise `NotExpressible` if `target` cannot run `space` exactly as written."""
    if target == "vertex":
        if space.algorithm not in VERTEX_ALGORITHMS:
            raise NotExpressible(f"{space.name}: algorithm '{space.algorithm}' has no Vertex AI "
                                 f"equivalent; use one of {', '.join(VERTEX_ALGORITHMS)}")
        if space.objective.target is not None:
            raise NotExpressible(
                f"{space.name}: objective.target {space.objective.target} cannot be expressed "
                "on Vertex AI, which has no goal value that ends a tuning job early; remove it "
                "for Vertex")
        if space.machine is None:
            raise NotExpressible(f"{space.name}: Vertex AI trials need a machine "
                                 "(machine.machine_type)")
    if space.algorithm == "grid":
        service = "Vertex AI" if target == "vertex" else "Katib"
        for p in space.parameters:
            if p.type == "double":
                raise NotExpressible(
                    f"{space.name}: parameter '{p.name}' is a continuous double, which "
                    f"{service} grid search cannot enumerate; make it discrete")


# Katib v1beta1 spells the integer parameter type "int".
KATIB_PARAMETER_TYPES = {"double": "double", "integer": "int", "discrete": "discrete",
                         "categorical": "categorical"}


def _katib_feasible(p: Parameter) -> tuple[str, dict[str, Any]]:
    if p.type in ("double", "integer"):
        fmt = (lambda v: str(int(v))) if p.type == "integer" else (lambda v: repr(float(v)))
        space: dict[str, Any] = {"min": fmt(p.min), "max": fmt(p.max)}
        if p.scale == "log":
            space["distribution"] = "logUniform"
        return KATIB_PARAMETER_TYPES[p.type], space
    return KATIB_PARAMETER_TYPES[p.type], {"list": [str(v) for v in p.values or ()]}


def katib_spec(space: SearchSpace) -> dict[str, Any]:
    """The search half of a Katib v1beta1 Experiment spec, in Katib's own field names.

    The trial template (a TFJob running the trainer) is added by the `cifar10-training` chart,
    which passes each trial parameter to the trainer as ``--<name>=${trialParameters.<id>}``.
    """
    check_expressible(space, "katib")
    objective: dict[str, Any] = {
        "type": space.objective.goal,
        "objectiveMetricName": space.objective.metric,
    }
    if space.objective.target is not None:
        objective["goal"] = space.objective.target
    if space.objective.additional:
        objective["additionalMetricNames"] = list(space.objective.additional)
    parameters = []
    for p in space.parameters:
        parameter_type, feasible = _katib_feasible(p)
        parameters.append({"name": p.name, "parameterType": parameter_type,
                           "feasibleSpace": feasible})
    return {
        "objective": objective,
        "algorithm": {"algorithmName": KATIB_ALGORITHMS[space.algorithm]},
        "parallelTrialCount": space.trials.parallel,
        "maxTrialCount": space.trials.max,
        "maxFailedTrialCount": space.trials.max_failed,
        "parameters": parameters,
        "trialParameters": [{"name": p.katib_name, "reference": p.name,
                             "description": f"--{p.name}"} for p in space.parameters],
    }


def vertex_spec(space: SearchSpace) -> dict[str, Any]:
    """Keyword arguments for `aiplatform.HyperparameterTuningJob` (besides the custom job).

    Returns `metric_spec`, `parameter_spec` (google.cloud.aiplatform.hyperparameter_tuning
    objects), `max_trial_count`, `parallel_trial_count`, `max_failed_trial_count` and
    `search_algorithm`.
    """
    check_expressible(space, "vertex")
    from google.cloud.aiplatform import hyperparameter_tuning as hpt

    specs: dict[str, Any] = {}
    for p in space.parameters:
        if p.type == "double":
            specs[p.name] = hpt.DoubleParameterSpec(min=p.min, max=p.max, scale=p.scale)
        elif p.type == "integer":
            specs[p.name] = hpt.IntegerParameterSpec(min=int(p.min), max=int(p.max),
                                                     scale=p.scale)
        elif p.type == "discrete":
            specs[p.name] = hpt.DiscreteParameterSpec(values=[float(v) for v in p.values or ()],
                                                      scale="linear")
        else:
            specs[p.name] = hpt.CategoricalParameterSpec(values=[str(v) for v in p.values or ()])
    return {
        "metric_spec": {space.objective.metric: space.objective.goal},
        "parameter_spec": specs,
        "max_trial_count": space.trials.max,
        "parallel_trial_count": space.trials.parallel,
        "max_failed_trial_count": space.trials.max_failed,
        "search_algorithm": VERTEX_ALGORITHMS[space.algorithm],
    }
