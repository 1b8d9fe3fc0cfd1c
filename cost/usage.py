"""Usage files for plan pricing: the hours and deploy-time choices a preview cannot show."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError

from cost.scenario import (
    MONTH_HOURS,
    Gpu,
    MonthHours,
    ScenarioError,
    _Strict,
    format_errors,
    read_yaml,
)


class PoolUsage(_Strict):
    """Usage of an autoscaled pool above its always-on minimum."""

    node_hours_per_month: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(0)


class EndpointUsage(_Strict):
    """What gets deployed to a Vertex endpoint (an SDK call, so not in the preview)."""

    machine_type: str
    gpu: Gpu | None = None
    replicas: Annotated[int, Field(ge=1)] = 1
    hours_per_month: MonthHours = MONTH_HOURS


class PlanUsage(_Strict):
    """All usage assumptions of one stack's plan."""

    catalog: str | None = None
    gke_free_tier: bool = True
    node_pools: dict[str, PoolUsage] = Field(default_factory=dict)
    vertex_endpoints: dict[str, EndpointUsage] = Field(default_factory=dict)


def load_usage(path: Path | None) -> PlanUsage:
    """Read a usage file (or the empty default).

    Raises:
        ScenarioError: naming every bad field.
    """
    if path is None:
        return PlanUsage()
    raw = read_yaml(path)
    if raw is None:
        return PlanUsage()
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: top level must be a mapping")
    try:
        return PlanUsage.model_validate(raw)
    except ValidationError as err:
        raise ScenarioError(format_errors(str(path), err)) from None
