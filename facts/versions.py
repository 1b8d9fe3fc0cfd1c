"""Pinned upstream versions of the Kubeflow flavour, read from `facts/data/versions.yaml`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml

VERSIONS_PATH = Path(__file__).parent / "data" / "versions.yaml"

KSERVE_DEPLOYMENT_MODE = "Standard"
"""How KServe runs InferenceServices: plain Deployments and Services (formerly RawDeployment), no
Knative or Istio, and no scale-to-zero stopping a GPU predictor before its node is up. The
controller is installed with this default, and everything that creates an InferenceService
(the serving chart, the pipeline's deploy step) says so explicitly."""


@dataclass(frozen=True)
class Pin:
    """One upstream component at one version, and how to install it."""

    key: str
    version: str
    install: Literal["helm", "kustomize"]
    source: str
    chart: str | None = None
    repository: str | None = None
    directory: str | None = None
    overlay: str | None = None
    """A kustomization in this repository (path from the repository root) that installs
    `directory` with local changes; the install uses it instead of `directory`."""
    note: str | None = None


@cache
def pins() -> dict[str, Pin]:
    """Every pinned component by key (`cert_manager`, `katib`, …), loaded once."""
    raw = yaml.safe_load(VERSIONS_PATH.read_text())
    return {key: Pin(key=key, **{k: str(v) for k, v in spec.items()})
            for key, spec in raw["components"].items()}
