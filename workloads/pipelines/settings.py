"""Pipeline defaults (`defaults.yaml`) as typed, validated settings.

The pipeline, the CLI and the tests read the same file, so a default is written once. This module
imports neither kfp nor TensorFlow.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError

from facts.documents import StrictModel as _Model
from facts.images import (
    PINNED_TAG_RULE,
    PREDICTOR_IMAGE,
    TAG,
    TRAINER_IMAGE,
    is_pinned_tag,
    trainer_tag,
)
from workloads.cifar10.config import (
    DEFAULTS,
    SYNTHETIC_SIZES,
    Architecture,
    Optimizer,
    build_parser,
)

DEFAULTS_PATH = Path(__file__).parent / "defaults.yaml"
Target = Literal["kubeflow", "vertex", "local"]
TARGETS: tuple[Target, ...] = ("kubeflow", "vertex", "local")
SubmitTarget = Literal["kubeflow", "vertex"]
"""Where `mlp pipeline run --target` submits; `local` is `--local`."""
PIPELINE_NAME = "cifar10-pipeline"


class SettingsError(ValueError):
    """Invalid pipeline settings; the message names the field and the bad value."""




class TrainSettings(_Model):
    """Trainer flags the pipeline exposes as parameters (see `workloads/cifar10/config.py`).

    Types, choices and defaults come from the trainer's config (`DEFAULTS`), so `defaults.yaml`
    sets only what a pipeline run does differently; ranges are the trainer's own parser's,
    checked by `check_hyperparameters` when the file is loaded.
    """

    data: Literal["tfds", "synthetic"]
    """The prepare-data step's sources (the trainer then reads its TFRecords)."""
    synthetic_train_size: int = SYNTHETIC_SIZES[0]
    synthetic_test_size: int = SYNTHETIC_SIZES[1]
    model: Architecture = DEFAULTS.model
    epochs: int = DEFAULTS.epochs
    batch_size: int = DEFAULTS.batch_size
    learning_rate: float = DEFAULTS.learning_rate
    momentum: float = DEFAULTS.momentum
    optimizer: Optimizer = DEFAULTS.optimizer
    num_layers: int = DEFAULTS.num_layers
    num_units: int = DEFAULTS.num_units
    width: float = DEFAULTS.width
    seed: int = DEFAULTS.seed


def _trainer_refusal(parser: Any, name: str, value: Any) -> str | None:
    """Why the trainer's parser refuses `--<name>=<value>`, or None if it accepts it."""
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            parser.parse_args([f"--{name.replace('_', '-')}={value}"])
    except SystemExit:
        reason = errors.getvalue().strip().splitlines()[-1:] or ["refused by the trainer"]
        return reason[0]
    return None


def check_hyperparameters(train: TrainSettings, where: str) -> None:
    """Parse every hyperparameter with the trainer's own parser, one flag at a time.

    Raises:
        SettingsError: naming `where.<key>`, the value and the trainer's reason.
    """
    parser = build_parser()
    for name, value in train.model_dump().items():
        reason = _trainer_refusal(parser, name, value)
        if reason is not None:
            raise SettingsError(f"{where}.{name}: {value!r} is not allowed ({reason})")


TRAIN_PARAMETERS = {"data_source": "data", "train_size": "synthetic_train_size",
                    "test_size": "synthetic_test_size", "model_arch": "model"}
"""Pipeline parameters named differently from the `TrainSettings` field (and trainer flag) they
set; every other hyperparameter parameter has its field's name."""


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    return first["msg"].removeprefix("Value error, ")


def check_parameters(arguments: Mapping[str, str], target: Target,
                     settings: PipelineSettings | None = None) -> None:
    """Check `-p NAME=VALUE` run parameters before a run starts.

    Hyperparameters are typed by `TrainSettings` and ranged by the trainer's own parser;
    `accuracy_threshold` and `traffic_percent` by their fields in `defaults.yaml`'s schema. Names
    this does not know are left to the pipeline's own parameter check.

    Raises:
        SettingsError: `-p NAME=VALUE: ...`, one line naming what is allowed.
    """
    settings = settings or load_settings()
    base = settings.local if target == "local" else settings
    fields = set(TrainSettings.model_fields)
    parser = build_parser()
    for name, text in arguments.items():
        field = TRAIN_PARAMETERS.get(name, name)
        where = f"-p {name}={text}"
        try:
            if name in ("accuracy_threshold", "traffic_percent"):
                owner = base if name == "accuracy_threshold" else settings.serving
                type(owner).model_validate({**owner.model_dump(), name: text})
                continue
            if field not in fields:
                continue
            train = TrainSettings.model_validate({**base.train.model_dump(), field: text})
        except ValidationError as err:
            raise SettingsError(f"{where} is not allowed: {_first_error(err)}") from None
        value = getattr(train, field)
        reason = _trainer_refusal(parser, field, value)
        if reason is not None:
            raise SettingsError(f"{where} is not allowed: "
                                f"{reason.partition('error: ')[2] or reason}")


class LocalSettings(_Model):
    accuracy_threshold: float = Field(ge=0, le=1)
    train: TrainSettings


class ServingSettings(_Model):
    """Serving after the gate; the KServe namespace and service account are the stack's
    (`serving_identity`)."""

    name: str = Field(pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
    min_replicas: int = Field(ge=1)
    max_replicas: int = Field(ge=1)
    vertex_machine_type: str
    traffic_percent: int = Field(ge=0, le=100)


@dataclass(frozen=True)
class Images:
    """The three image references of one build (see the container contract)."""

    trainer: str
    trainer_gpu: str
    predictor: str


class PipelineSettings(_Model):
    registry: str
    image_tag: str = Field(pattern=TAG.pattern)
    accuracy_threshold: float = Field(ge=0, le=1)
    accelerator: str
    accelerator_count: int = Field(ge=1)
    cpu_limit: str
    memory_limit: str
    train: TrainSettings
    local: LocalSettings
    serving: ServingSettings

    def images(self, registry: str | None = None, tag: str | None = None) -> Images:
        """Trainer, GPU trainer and predictor references in `registry` at `tag`.

        Raises:
            SettingsError: for a tag Docker would refuse, or `latest` (a moving tag).
        """
        tag = tag or self.image_tag
        if not is_pinned_tag(tag):
            raise SettingsError(f"image tag {tag!r} is not allowed; use {PINNED_TAG_RULE}")
        base = (registry or self.registry).rstrip("/")
        if not base or "://" in base:
            raise SettingsError(f"registry {registry!r} is not allowed; use host/project/repo "
                                "such as the stack's registryUrl")
        return Images(trainer=f"{base}/{TRAINER_IMAGE}:{trainer_tag(tag, gpu=False)}",
                      trainer_gpu=f"{base}/{TRAINER_IMAGE}:{trainer_tag(tag, gpu=True)}",
                      predictor=f"{base}/{PREDICTOR_IMAGE}:{tag}")


def serving_identity() -> tuple[str, str]:
    """Namespace and Kubernetes service account of the serving workload, as the stack creates
    them (`infra.components.identity.WORKLOADS`). Imports pulumi, so only build-time code calls
    it, never a pipeline step."""
    from facts.identities import WORKLOADS

    serving = WORKLOADS["serving"]
    return serving.namespace, serving.ksas[0]


@cache
def load_settings(path: Path = DEFAULTS_PATH) -> PipelineSettings:
    """Read and validate `defaults.yaml` (or another file of the same shape)."""
    try:
        raw = yaml.safe_load(path.read_text())
        settings = PipelineSettings.model_validate(raw)
    except (OSError, yaml.YAMLError) as err:
        raise SettingsError(f"{path}: cannot read pipeline settings: {err}") from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SettingsError(f"{path}: {where}: {first['msg']} (got {first.get('input')!r})"
                            ) from None
    check_hyperparameters(settings.train, f"{path}: train")
    check_hyperparameters(settings.local.train, f"{path}: local.train")
    return settings
