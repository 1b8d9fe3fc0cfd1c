"""A typed model of Katib's v1beta1 `Experiment`, for validating rendered objects offline.

Written from Katib's v1beta1 API reference (kubeflow/katib `pkg/apis/controller/experiments/
v1beta1` and the common types). The Katib SDK pins protobuf < 5 and cannot be installed beside
kfp and TensorFlow, so the project keeps this model of the fields it uses and of the enums that
bound them. Unknown fields are errors, as in a strict API server.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from facts.documents import StrictModel as _Strict


class ObjectMeta(BaseModel):
    """Kubernetes object metadata; only the fields the chart sets are typed."""

    model_config = ConfigDict(extra="allow")
    name: str
    namespace: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class MetricStrategy(_Strict):
    name: str
    value: Literal["min", "max", "latest"]


class ObjectiveSpec(_Strict):
    type: Literal["maximize", "minimize"]
    goal: float | None = None
    objectiveMetricName: str
    additionalMetricNames: list[str] = Field(default_factory=list)
    metricStrategies: list[MetricStrategy] = Field(default_factory=list)


class AlgorithmSetting(_Strict):
    name: str
    value: str


class AlgorithmSpec(_Strict):
    algorithmName: Literal["random", "grid", "bayesianoptimization", "tpe", "multivariate-tpe",
                           "cmaes", "sobol", "hyperband", "enas", "darts", "pbt"]
    algorithmSettings: list[AlgorithmSetting] = Field(default_factory=list)


class EarlyStoppingSpec(_Strict):
    algorithmName: Literal["medianstop"]
    algorithmSettings: list[AlgorithmSetting] = Field(default_factory=list)


Strings = list[str]  # spelled once here: FeasibleSpace has a field named "list"


class FeasibleSpace(_Strict):
    max: str | None = None
    min: str | None = None
    list: Strings | None = None
    step: str | None = None
    distribution: Literal["uniform", "logUniform", "normal", "logNormal"] | None = None


class ParameterSpec(_Strict):
    name: str
    parameterType: Literal["double", "int", "discrete", "categorical"]
    feasibleSpace: FeasibleSpace


class CollectorSpec(_Strict):
    kind: Literal["StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "None",
                  "Push"]


class MetricsCollectorSpec(_Strict):
    collector: CollectorSpec
    source: dict[str, Any] | None = None


class TrialParameterSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]*$")
    description: str | None = None
    reference: str


class TrialTemplate(_Strict):
    retain: bool | None = None
    primaryPodLabels: dict[str, str] = Field(default_factory=dict)
    primaryContainerName: str
    successCondition: str
    failureCondition: str
    trialParameters: list[TrialParameterSpec]
    trialSpec: dict[str, Any]
    """The trial's own object (here a TFJob); validated against its own model separately."""


class ExperimentSpec(_Strict):
    objective: ObjectiveSpec
    algorithm: AlgorithmSpec
    earlyStopping: EarlyStoppingSpec | None = None
    parallelTrialCount: int = Field(ge=1)
    maxTrialCount: int = Field(ge=1)
    maxFailedTrialCount: int = Field(ge=0)
    metricsCollectorSpec: MetricsCollectorSpec | None = None
    parameters: list[ParameterSpec] = Field(min_length=1)
    trialTemplate: TrialTemplate
    resumePolicy: Literal["Never", "LongRunning", "FromVolume"] | None = None


class Experiment(_Strict):
    apiVersion: Literal["kubeflow.org/v1beta1"]
    kind: Literal["Experiment"]
    metadata: ObjectMeta
    spec: ExperimentSpec
