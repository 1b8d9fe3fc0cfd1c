"""Monitoring defaults (`defaults.yaml`) as typed, validated settings.

One file feeds the Kubeflow monitoring pipeline, `mlp monitor check` and the Vertex AI Model
Monitoring request, so a threshold or a window is written once. Imports neither kfp nor
TensorFlow.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workloads.cifar10.features import FEATURE_NAMES

DEFAULTS_PATH = Path(__file__).parent / "defaults.yaml"


class SettingsError(ValueError):
    """Invalid monitoring settings; the message names the field, the value and what is allowed."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedules(_Model):
    kubeflow: str
    """Kubeflow Pipelines cron: six fields, seconds first."""
    vertex: str
    """Vertex AI cron: five fields."""

    @field_validator("kubeflow", "vertex")
    @classmethod
    def _fields(cls, value: str, info: Any) -> str:
        want = 6 if info.field_name == "kubeflow" else 5
        if len(value.split()) != want:
            raise ValueError(f"a {info.field_name} cron has {want} fields, got {value!r}")
        return value


class MonitoringSettings(_Model):
    sample_rate: float = Field(gt=0, le=1)
    window_hours: float = Field(gt=0, le=24 * 90)
    min_samples: int = Field(ge=2, le=10_000_000)
    schedule: Schedules
    significance: float = Field(gt=0, lt=1)
    thresholds: dict[str, float]
    retrain: bool

    @field_validator("thresholds")
    @classmethod
    def _every_feature(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(FEATURE_NAMES))
        missing = [name for name in FEATURE_NAMES if name not in value]
        if unknown or missing:
            raise ValueError(f"give one threshold per feature ({', '.join(FEATURE_NAMES)}); "
                             f"unknown: {unknown or 'none'}, missing: {missing or 'none'}")
        for name, threshold in value.items():
            if not (math.isfinite(threshold) and 0 < threshold <= 1):
                raise ValueError(f"{name}: {threshold!r} is not a distance in (0, 1]")
        return value

    def with_overrides(self, **values: Any) -> MonitoringSettings:
        """A copy with some fields replaced, validated like the file (`SettingsError`)."""
        return _validated({**self.model_dump(), **{k: v for k, v in values.items()
                                                   if v is not None}}, "override")


def _validated(raw: Any, where: str) -> MonitoringSettings:
    try:
        return MonitoringSettings.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        got = first.get("input")
        shown = repr(got) if len(repr(got)) <= 80 else repr(got)[:60] + "..."
        raise SettingsError(f"{where}: {field}: {first['msg'].removeprefix('Value error, ')} "
                            f"(got {shown})") from None


@cache
def load_settings(path: Path = DEFAULTS_PATH) -> MonitoringSettings:
    """Read and validate `defaults.yaml` (or another file of the same shape), strictly."""
    from facts.documents import DocumentError, load_yaml

    try:
        raw = load_yaml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(f"{path}: cannot read monitoring settings ({err})") from None
    except DocumentError as err:
        raise SettingsError(str(err)) from None
    return _validated(raw, str(path))
