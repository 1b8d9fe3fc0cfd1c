"""Scenario files: the usage assumptions of a comparison, as typed, validated data.

A scenario names a price snapshot, a workload (runs per month, run length, tuning, pipelines) and
the three ways to run it: a fixed GKE cluster, an autoscaled GKE cluster and Vertex AI
pay-per-use. Validation errors name the field path, the bad value and what is allowed.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from cost.catalog import Pricing
from facts.documents import StrictModel as _Strict

SCENARIOS_DIR = Path(__file__).parent / "scenarios"
STUDY_SCENARIO = SCENARIOS_DIR / "study-2024.yaml"
LIKE_FOR_LIKE = SCENARIOS_DIR / "like-for-like.yaml"
DEFAULT_SCENARIO = LIKE_FOR_LIKE
"""What `mlp cost compare` prices without `--scenario`; the study's is kept as a reproduction."""

MONTH_HOURS = Decimal(730)
"""Hours in a billing month, as Google's pricing pages convert hourly prices to monthly.

The one bound and default for every per-month hours field of scenario and usage files; each price
snapshot states the same figure as `hours_per_month` (a test keeps them equal).
"""

REGION_NAME = re.compile(r"[a-z]+-[a-z]+[0-9]{1,2}")
"""What a Google Cloud region name looks like (us-central1, europe-west4)."""

NonNegDecimal = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
MonthHours = Annotated[Decimal, Field(ge=0, le=MONTH_HOURS, allow_inf_nan=False)]


class ScenarioError(ValueError):
    """A scenario or usage file that does not validate; the message names each bad field."""




GPU_COUNT_RANGE = (1, 8)
"""Fewest and most GPUs one node or replica may take (the largest N1 and Vertex shapes take 8)."""


class Gpu(_Strict):
    """GPUs attached to each node or replica."""

    type: str
    count: Annotated[int, Field(ge=GPU_COUNT_RANGE[0], le=GPU_COUNT_RANGE[1])] = 1


class NodePool(_Strict):
    """A GKE node pool whose nodes are up a fixed number of hours a month (at least one node)."""

    name: str
    machine_type: str
    nodes: Annotated[int, Field(ge=1)]
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
    """A pool that scales from zero: paid per node-hour a run uses, plus scale-up overhead.

    `spot_rerun` is the share of a spot node's hours run again after preemptions; None takes
    the assumption `spot_rerun` of `cost/data/throughput.yaml`.
    """

    machine_type: str
    gpu: Gpu | None = None
    spot_share: Annotated[Decimal, Field(ge=0, le=1)] = Decimal(0)
    spot_rerun: Annotated[Decimal, Field(ge=0, le=10, allow_inf_nan=False)] | None = None
    disk_gb: Annotated[int, Field(ge=0)] = 100
    disk_type: str = "pd-balanced"


class AutoscaledCluster(_Strict):
    """Always-on pools (system, serving) plus a training pool paid per used node-hour.

    With a scenario's `kubeflow` and `serving` sections the system and serving pools are sized
    from them, and `always_on_pools` may be empty.
    """

    cluster: ClusterFee
    always_on_pools: list[NodePool] = Field(default_factory=list)
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
    """Vertex AI pay-per-use: custom jobs, tuning trials, pipelines, endpoints, batch.

    `scale_up_overhead_hours` is billed node time per job (provisioning, image pull), as the
    autoscaled cluster's. With a scenario's `serving` section the endpoint is sized from it.
    """

    training: VertexMachine
    scale_up_overhead_hours: NonNegDecimal = Decimal(0)
    endpoint: VertexEndpoint | None = None
    batch_prediction: BatchPrediction | None = None
    ops: Ops = Ops()


class PersistentResource(_Strict):
    """A Vertex AI persistent resource: reserved training nodes, billed while they exist.

    Trainings and tuning trials run on it (one replica each) with no per-job charge; serving,
    pipelines and batch prediction are billed as for Vertex pay-per-use.
    """

    machine_type: str
    gpu: Gpu | None = None
    replicas: Annotated[int, Field(ge=1)]
    hours_per_month: Annotated[Decimal, Field(gt=0, le=MONTH_HOURS,
                                              allow_inf_nan=False)] = MONTH_HOURS


class Serving(_Strict):
    """The request rate every option serves and the latency it must meet.

    Nodes (GKE) and endpoint replicas (Vertex) are sized from the predictor's measured
    requests/s per node at a p99 within `target_p99_ms` (None: the `target_p99_ms` assumption of
    `cost/data/throughput.yaml`): one predictor per node, as it was measured.
    """

    requests_per_s: Annotated[Decimal, Field(gt=0, le=1_000_000, allow_inf_nan=False)]
    target_p99_ms: Annotated[Decimal, Field(gt=0, le=60_000, allow_inf_nan=False)] | None = None
    machine_type: str
    min_replicas: Annotated[int, Field(ge=1, le=1000)] = 1
    disk_gb: Annotated[int, Field(ge=0)] = 100
    disk_type: str = "pd-balanced"


class Kubeflow(_Strict):
    """Kubeflow's own pods on the GKE options: a node pool sized from the requests of the
    installs named, as the ownership catalogue (`infra/data/ownership.yaml`) records them."""

    installs: list[str] = Field(min_length=1)
    machine_type: str
    disk_gb: Annotated[int, Field(ge=0)] = 100
    disk_type: str = "pd-balanced"

    @field_validator("installs")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        twice = sorted({name for name in value if value.count(name) > 1})
        if twice:
            raise ValueError(f"'{twice[0]}' is named twice; its requests would count twice")
        return value


class Billing(_Strict):
    """How the sustained-use discount is computed.

    `pooled` bills as Google does (`cost/data/billing_rules.yaml`): usage of a machine family
    and of a GPU type pools per region over the month, usage hours included. `per-node` is the
    study's arithmetic: each always-on node alone, none on usage hours.
    """

    sustained_use: Literal["pooled", "per-node"] = "pooled"


class Workload(_Strict):
    """What the team runs each month, the same whichever stack runs it."""

    runs_per_month: list[Annotated[int, Field(ge=0)]] = Field(min_length=1)
    run_hours: Annotated[Decimal, Field(gt=0, le=MONTH_HOURS, allow_inf_nan=False)]
    tuning_jobs_per_month: Annotated[int, Field(ge=0)] = 0
    trials_per_tuning_job: Annotated[int, Field(ge=0)] = 0
    trial_hours: NonNegDecimal = Decimal(0)
    pipeline_run_per_training: bool = False


STUDY_METRICS = ("fixed.monthly", "fixed.hourly", "vertex.endpoint_hourly",
                 "vertex.training_hourly_range")
"""What `study.ours` may name: the figures `cost.compare.study_metrics` computes."""

_FIGURE = re.compile(r"(?<![\w.-])\d+(?:[.,]\d+)*(?![\w-])")
"""A number standing on its own (not part of a name such as n1-standard-32 or T4)."""


class StudyFigure(_Strict):
    """A figure the study states, shown beside ours.

    Whether it reproduces, and the arithmetic that explains it, are computed (`cost.compare`);
    `context` is prose about what the study leaves open and may hold no figures of its own.
    """

    label: str
    stated: str
    unit: str
    ours: str
    context: str = ""

    @field_validator("context")
    @classmethod
    def _no_typed_figures(cls, value: str) -> str:
        found = _FIGURE.search(value)
        if found:
            raise ValueError(f"holds the figure '{found.group()}'; figures in explanations come "
                             f"from the computation, so context is prose only")
        return value

    @field_validator("ours")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in STUDY_METRICS:
            raise ValueError(f"'{value}' is not one of {', '.join(STUDY_METRICS)}")
        return value

    @field_validator("stated")
    @classmethod
    def _stated_amounts(cls, value: str) -> str:
        parts = value.split("–")
        if len(parts) > 2 or not all(re.fullmatch(r"\d+(\.\d+)?", p.strip()) for p in parts):
            raise ValueError(f"'{value}' is not an amount or a range 'low–high' of amounts")
        return value


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
    """A whole comparison: prices, workload, and the ways to run it.

    `region` picks the price snapshot of that region for `catalog` (None: the snapshot's
    default, `<date>.yaml`). `persistent` adds a fourth option, a Vertex AI persistent resource.
    """

    name: str
    description: str
    catalog: str
    region: str | None = None
    billing: Billing = Billing()
    workload: Workload
    serving: Serving | None = None
    kubeflow: Kubeflow | None = None
    fixed: FixedCluster
    autoscaled: AutoscaledCluster
    vertex: Vertex
    persistent: PersistentResource | None = None
    study_source: StudySource | None = None
    study: list[StudyFigure] = Field(default_factory=list)

    @field_validator("region")
    @classmethod
    def _region_name(cls, value: str | None) -> str | None:
        if value is not None and not REGION_NAME.fullmatch(value):
            raise ValueError(f"'{value}' is not a region name such as us-central1")
        return value

    @field_validator("catalog")
    @classmethod
    def _known_snapshot(cls, value: str) -> str:
        from cost.catalog import snapshots

        if value not in snapshots():
            raise ValueError(f"'{value}' is not a price snapshot; snapshots: "
                             f"{', '.join(snapshots())}")
        return value


def format_errors(source: str, err: ValidationError) -> str:
    """One line: each bad field's path, what is allowed and the bad value, joined by '; '."""
    parts = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(top level)"
        value = e.get("input")
        shown = repr(value) if not isinstance(value, dict) else "a mapping"
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{path}: {msg} (got {shown})")
    return f"{source}: " + "; ".join(parts)


def read_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ScenarioError(f"{path}: cannot read it as YAML: {err}") from None


def scenario_names() -> list[str]:
    """The shipped scenarios, by file stem."""
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml"))


def scenario_path(name_or_path: str | Path) -> Path:
    """A shipped scenario's file by name (`study-2024`), or the path given.

    Raises:
        ScenarioError: for a name that is neither a shipped scenario nor an existing file.
    """
    text = str(name_or_path)
    if text in scenario_names():
        return SCENARIOS_DIR / f"{text}.yaml"
    path = Path(text)
    if not path.is_file():
        raise ScenarioError(f"--scenario: '{text}' is neither a shipped scenario "
                            f"({', '.join(scenario_names())}) nor a file")
    return path


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
    check_sections(scenario, str(path))
    pools = [p.name for p in scenario.fixed.node_pools]
    if scenario.fixed.training_pool not in pools:
        raise ScenarioError(f"{path}: fixed.training_pool: '{scenario.fixed.training_pool}' is "
                            f"not a pool of fixed.node_pools ({', '.join(pools)})")
    check_possible(scenario, str(path))
    return scenario


def check_sections(s: Scenario, source: str) -> None:
    """Sections that are valid alone but not together.

    Raises:
        ScenarioError: one line naming the fields.
    """
    if s.serving is not None and s.vertex.endpoint is not None:
        raise ScenarioError(f"{source}: vertex.endpoint: given together with serving, which sizes "
                            f"the endpoint; allowed: one of them")
    if not s.autoscaled.always_on_pools and s.kubeflow is None:
        raise ScenarioError(f"{source}: autoscaled.always_on_pools: empty, and no kubeflow "
                            f"section sizes a system pool; allowed: at least one always-on pool "
                            f"for the cluster's own pods")


def fixed_max_runs(s: Scenario) -> int:
    """The most runs a month the fixed cluster's training pool can hold, after tuning trials.

    Negative when the tuning trials alone do not fit.
    """
    pool = next(p for p in s.fixed.node_pools if p.name == s.fixed.training_pool)
    w = s.workload
    free = (pool.nodes * pool.hours_per_month / s.fixed.nodes_per_run
            - w.tuning_jobs_per_month * w.trials_per_tuning_job * w.trial_hours)
    return math.floor(free / w.run_hours)


def persistent_max_runs(s: Scenario) -> int:
    """The most runs a month the persistent resource holds after tuning trials (one replica
    each); -1 when the scenario has none."""
    if s.persistent is None:
        return -1
    w = s.workload
    free = (s.persistent.replicas * s.persistent.hours_per_month
            - w.tuning_jobs_per_month * w.trials_per_tuning_job * w.trial_hours)
    return math.floor(free / w.run_hours)


def check_possible(s: Scenario, source: str) -> None:
    """Refuse scenarios that validate field by field but cannot happen as a whole.

    A fixed training pool up no hours, tuning jobs with no trials or trials of no length, and
    run counts the fixed cluster has no room for would all give bills for work that cannot run.

    Raises:
        ScenarioError: one line naming the field, its value and what is allowed.
    """
    w = s.workload
    index, pool = next((i, p) for i, p in enumerate(s.fixed.node_pools)
                       if p.name == s.fixed.training_pool)
    if pool.hours_per_month == 0:
        raise ScenarioError(f"{source}: fixed.node_pools.{index}.hours_per_month: 0 for the "
                            f"training pool '{pool.name}' leaves no time to train; allowed: "
                            f"more than 0")
    if w.tuning_jobs_per_month and not (w.trials_per_tuning_job and w.trial_hours):
        raise ScenarioError(f"{source}: workload.tuning_jobs_per_month: "
                            f"{w.tuning_jobs_per_month} tuning jobs need trials_per_tuning_job "
                            f"and trial_hours above 0 (got {w.trials_per_tuning_job} and "
                            f"{w.trial_hours})")
    most = fixed_max_runs(s)
    too_many = [n for n in w.runs_per_month if n > most]
    if too_many:
        raise ScenarioError(f"{source}: workload.runs_per_month: {too_many[0]} runs do not fit "
                            f"the fixed cluster's training pool '{pool.name}' ({pool.nodes} "
                            f"nodes × {pool.hours_per_month} h, {s.fixed.nodes_per_run} node(s) "
                            f"per run of {w.run_hours} h); allowed: at most {max(most, 0)}")
    if s.persistent is not None:
        p = s.persistent
        most = persistent_max_runs(s)
        too_many = [n for n in w.runs_per_month if n > most]
        if too_many:
            raise ScenarioError(f"{source}: workload.runs_per_month: {too_many[0]} runs do not "
                                f"fit the persistent resource ({p.replicas} replicas × "
                                f"{p.hours_per_month} h, one replica per run of {w.run_hours} "
                                f"h); allowed: at most {max(most, 0)}")
