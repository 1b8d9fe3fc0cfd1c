"""Scenario files: the usage assumptions of a comparison, as typed, validated data.

A scenario names a price snapshot, a workload (runs per month, run length, tuning, pipelines) and
the three ways to run it: a fixed GKE cluster, an autoscaled GKE cluster and Vertex AI
pay-per-use. Validation errors name the field path, the bad value and what is allowed.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cost.catalog import Pricing

SCENARIOS_DIR = Path(__file__).parent / "scenarios"
STUDY_SCENARIO = SCENARIOS_DIR / "study-2024.yaml"

MONTH_HOURS = Decimal(730)
"""Hours in a billing month, as Google's pricing pages convert hourly prices to monthly.

The one bound and default for every per-month hours field of scenario and usage files; each price
snapshot states the same figure as `hours_per_month` (a test keeps them equal).
"""

NonNegDecimal = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
MonthHours = Annotated[Decimal, Field(ge=0, le=MONTH_HOURS, allow_inf_nan=False)]


class ScenarioError(ValueError):
    """A scenario or usage file that does not validate; the message names each bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


GPU_COUNT_RANGE = (1, 8)
"""Fewest and most GPUs one node or replica may take (the largest N1 and Vertex shapes take 8)."""


class Gpu(_Strict):
    """GPUs attached to each node or replica."""

    type: str
    count: Annotated[int, Field(ge=GPU_COUNT_RANGE[0], le=GPU_COUNT_RANGE[1])] = 1


class NodePool(_Strict):
    """A GKE node pool whose nodes are up a fixed number of hours a month."""

    name: str
    machine_type: str
    nodes: Annotated[int, Field(ge=0)]
    hours_per_month: MonthHours = MONTH_HOURS
    pricing: Pricing = "on-demand"
    gpu: Gpu | None = None
    disk_gb: Annotated[int, Field(ge=0)] = 100
    disk_type: str = "pd-balanced"


class ClusterFee(_Strict):
    """How the GKE management fee applies."""

    regional: bool
    free_tier: bool


class Ops(_Strict):
    """People time a stack needs each month (upgrades, capacity, on-call)."""

    hours_per_month: NonNegDecimal = Decimal(0)
    usd_per_hour: NonNegDecimal = Decimal(0)


class FixedCluster(_Strict):
    """Node pools that stay up whatever the workload; trainings run inside them."""

    cluster: ClusterFee
    node_pools: list[NodePool] = Field(min_length=1)
    training_pool: str
    nodes_per_run: Annotated[int, Field(ge=1)] = 1
    ops: Ops = Ops()


class GpuPool(_Strict):
    """A pool that scales from zero: paid per node-hour a run uses, plus scale-up overhead."""

    machine_type: str
    gpu: Gpu | None = None
    spot_share: Annotated[Decimal, Field(ge=0, le=1)] = Decimal(0)
    disk_gb: Annotated[int, Field(ge=0)] = 100
    disk_type: str = "pd-balanced"


class AutoscaledCluster(_Strict):
    """Always-on pools (system, serving) plus a training pool paid per used node-hour."""

    cluster: ClusterFee
    always_on_pools: list[NodePool] = Field(min_length=1)
    training_pool: GpuPool
    nodes_per_run: Annotated[int, Field(ge=1)] = 1
    scale_up_overhead_hours: NonNegDecimal = Decimal(0)
    ops: Ops = Ops()


class VertexMachine(_Strict):
    """A Vertex machine spec: the shape, its GPUs and how many replicas."""

    machine_type: str
    gpu: Gpu | None = None
    replicas: Annotated[int, Field(ge=1)] = 1


class VertexEndpoint(VertexMachine):
    """An online-prediction endpoint kept deployed `hours_per_month`."""

    hours_per_month: MonthHours = MONTH_HOURS


class BatchPrediction(_Strict):
    """Batch prediction node-hours a month on one machine shape."""

    machine_type: str
    node_hours_per_month: NonNegDecimal = Decimal(0)


class Vertex(_Strict):
    """Vertex AI pay-per-use: custom jobs, tuning trials, pipelines, endpoints, batch."""

    training: VertexMachine
    endpoint: VertexEndpoint | None = None
    batch_prediction: BatchPrediction | None = None
    ops: Ops = Ops()


class Workload(_Strict):
    """What the team runs each month, the same whichever stack runs it."""

    runs_per_month: list[Annotated[int, Field(ge=0)]] = Field(min_length=1)
    run_hours: Annotated[Decimal, Field(gt=0, le=MONTH_HOURS, allow_inf_nan=False)]
    tuning_jobs_per_month: Annotated[int, Field(ge=0)] = 0
    trials_per_tuning_job: Annotated[int, Field(ge=0)] = 0
    trial_hours: NonNegDecimal = Decimal(0)
    pipeline_run_per_training: bool = False


class StudyFigure(_Strict):
    """A figure the study states, shown beside ours with how (or whether) it reproduces."""

    label: str
    stated: str
    unit: str
    ours: str | None = None
    reproduced: bool
    explanation: str


class StudySource(_Strict):
    """What is known of the study a scenario reproduces; unknown fields stay null and say so."""

    title: str | None = None
    author: str | None = None
    institution: str | None = None
    year: int | None = None
    known: str

    def citation(self) -> str:
        """One line: each bibliographic field, or that it is not recorded, then what is known."""
        parts = [f"{name}: {value if value is not None else 'not recorded'}"
                 for name, value in (("title", self.title), ("author", self.author),
                                     ("institution", self.institution), ("year", self.year))]
        return "; ".join(parts) + f". {self.known}"


class Scenario(_Strict):
    """A whole comparison: prices, workload, and the three ways to run it."""

    name: str
    description: str
    catalog: str
    workload: Workload
    fixed: FixedCluster
    autoscaled: AutoscaledCluster
    vertex: Vertex
    study_source: StudySource | None = None
    study: list[StudyFigure] = []

    @field_validator("catalog")
    @classmethod
    def _known_snapshot(cls, value: str) -> str:
        from cost.catalog import snapshots

        if value not in snapshots():
            raise ValueError(f"'{value}' is not a price snapshot; snapshots: "
                             f"{', '.join(snapshots())}")
        return value


def format_errors(source: str, err: ValidationError) -> str:
    """One line per bad field: path, bad value, what is allowed."""
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(top level)"
        value = e.get("input")
        shown = repr(value) if not isinstance(value, dict) else "a mapping"
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"  {path}: {msg} (got {shown})")
    return f"{source}: invalid:\n" + "\n".join(lines)


def read_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ScenarioError(f"{path}: cannot read it as YAML: {err}") from None


def load_scenario(path: Path = STUDY_SCENARIO) -> Scenario:
    """Read and validate a scenario file; semantic checks (prices, shapes) follow in the models.

    Raises:
        ScenarioError: naming every bad field.
    """
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: top level must be a mapping")
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as err:
        raise ScenarioError(format_errors(str(path), err)) from None
    pools = [p.name for p in scenario.fixed.node_pools]
    if scenario.fixed.training_pool not in pools:
        raise ScenarioError(f"{path}: fixed.training_pool: '{scenario.fixed.training_pool}' is "
                            f"not a pool of fixed.node_pools ({', '.join(pools)})")
    return scenario
