"""Command-line arguments of the trainer, validated before any work starts.

The hyperparameters accept every spelling the study's Katib and Vertex AI specs pass
(`--learning_rate` and `--lr`, `--batch-size`, `--num-layers`, `--num_units`, ...), so those specs
run unchanged. Defaults for output locations come from the Vertex AI environment variables
(`AIP_MODEL_DIR`, `AIP_CHECKPOINT_DIR`, `AIP_TENSORBOARD_LOG_DIR`) when they are set.

The output flags name base folders; each run writes under its own run folder in them (`RunLayout`),
so trials, reruns and restarts never share state and no run writes where a server loads models.
This module does not import TensorFlow, so `--help`, argument and `TF_CONFIG` errors are instant.
"""

from __future__ import annotations

import argparse
import os
import posixpath
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from facts.cli import ArgumentParser
from workloads.cifar10.distribute import ClusterConfigError, role_from_env
from workloads.cifar10.precision import PRECISIONS

Optimizer = Literal["sgd", "adam", "ftrl"]
Architecture = Literal["vgg", "resnet"]
DataSource = Literal["tfds", "tfrecord", "synthetic"]

OPTIMIZERS: tuple[Optimizer, ...] = ("sgd", "adam", "ftrl")
ARCHITECTURES: tuple[Architecture, ...] = ("vgg", "resnet")
DATA_SOURCES: tuple[DataSource, ...] = ("tfds", "tfrecord", "synthetic")
MAX_CONV_BLOCKS = 5
"""32 px halves five times down to 1 px, so the VGG net has at most five pooled conv blocks."""

KATIB_METRICS: dict[str, str] = {
    "accuracy": "Train-accuracy", "loss": "Train-loss",
    "val_accuracy": "Validation-accuracy", "val_loss": "Validation-loss",
}
"""Epoch log key → the metric name the trainer prints for Katib's StdOut collector."""

HYPERTUNE_METRICS: dict[str, str] = {
    "accuracy": "val_accuracy", "loss": "val_loss",
    **{name: key for key, name in KATIB_METRICS.items()},
}
"""`--hypertune-metric` tag → the epoch log reported under it: `accuracy`/`loss` are the
validation values (the Vertex study's spelling); Katib's names report their own value."""

DEFAULT_LOCAL_ROOT = "build/cifar10"
"""Local output root when no flag or AIP_* variable says otherwise (git ignores /build/)."""

RUNS_FOLDER = "runs"
"""Runs export under `{model-dir}/runs/{run-id}/`, never to the `{model-dir}/{version}` folders
servers load: only `mlp model promote` writes there."""
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""A run id is one path segment: Kubernetes object names (TFJob, Katib trial) and the generated
`YYYYmmdd-HHMMSS-xxxxxx` ids all match; `/`, `..` alone and empty ids cannot."""
VERTEX_RUN_ENV = ("CLOUD_ML_JOB_ID", "CLOUD_ML_TRIAL_ID")
"""Set by Vertex AI on every replica of a job (and trial): the run id when `--run-id` is absent,
so the replicas of one job, and its restarts, share one run folder."""
DEFAULT_PEER_TIMEOUT_S = 900.0
"""How long a cluster task waits for its peers: long enough for GKE to add a GPU node and pull
the trainer image, short enough that a missing peer ends the run instead of hanging it."""


@dataclass(frozen=True)
class Hyperparameters:
    """The trainer's hyperparameter defaults, written here once.

    `build_parser` takes its defaults from `DEFAULTS`; the pipeline's `TrainSettings` default to
    them; the training chart passes no hyperparameter unless its values set one, so a TFJob, a
    Katib trial and `mlp train` train the same network unless told otherwise; stacks set only
    what they change (tests/workloads/test_hyperparameter_defaults.py holds each to it)."""

    model: Architecture = "vgg"
    learning_rate: float = 0.01
    momentum: float = 0.9
    num_units: int = 1024
    num_layers: int = 3
    epochs: int = 10
    batch_size: int = 128
    optimizer: Optimizer = "sgd"
    width: float = 1.0
    seed: int = 42


DEFAULTS = Hyperparameters()
SYNTHETIC_SIZES = (2048, 512)
"""Default training and test images of `--data synthetic`."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; `hyperparameters()` is what `metrics.json` records."""

    model: Architecture
    learning_rate: float
    momentum: float
    num_units: int
    num_layers: int
    epochs: int
    batch_size: int
    optimizer: Optimizer
    width: float
    augment: bool
    data: DataSource
    data_dir: str | None
    synthetic_train_size: int
    synthetic_test_size: int
    model_dir: str
    checkpoint_dir: str
    tensorboard_dir: str
    version: int
    seed: int
    hypertune_metric: str
    run_id: str
    export_override: str | None
    peer_timeout: float
    precision: str = "auto"
    """`--precision`: the policy asked for; `precision.choose_policy` turns `auto` into one."""

    def hyperparameters(self) -> dict[str, object]:
        """The knobs that change the trained model (not where its files go)."""
        keep = ("model", "learning_rate", "momentum", "num_units", "num_layers", "epochs",
                "batch_size", "optimizer", "width", "augment", "data", "seed", "precision")
        values = asdict(self)
        return {key: values[key] for key in keep}

    @property
    def run_model_dir(self) -> str:
        """`{model_dir}/runs/{run_id}`: this run's candidate model root (numbered versions)."""
        return join(self.model_dir, RUNS_FOLDER, self.run_id)

    @property
    def run_checkpoint_dir(self) -> str:
        """`{checkpoint_dir}/{run_id}`: this run's backup for resume."""
        return join(self.checkpoint_dir, self.run_id)

    @property
    def run_tensorboard_dir(self) -> str:
        """`{tensorboard_dir}/{run_id}`: one TensorBoard run per training run."""
        return join(self.tensorboard_dir, self.run_id)

    @property
    def export_dir(self) -> str:
        """`{model_dir}/runs/{run_id}/{version}`, or `--export-dir` when given (a pipeline's own
        artifact folder)."""
        return self.export_override or join(self.run_model_dir, str(self.version))


def new_run_id(now: float | None = None) -> str:
    """A fresh run id: UTC start time (sorts in run order) and 6 random hex digits."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{stamp}-{secrets.token_hex(3)}"


def check_run_id(text: str) -> str:
    """An argparse type: a run id that is a single safe path segment."""
    if not RUN_ID_PATTERN.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a run id; allowed: 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit")
    return text


def resolve_run_id(given: str | None, environ: Mapping[str, str], num_workers: int) -> str:
    """`--run-id`, else Vertex AI's job (and trial) id, else a new id on a lone process.

    Every task of a cluster must write the same run folder and a restarted task must find its
    backup again, so a cluster without `--run-id` or Vertex's ids is refused rather than given
    ids that differ per process.
    """
    if given:
        return given
    job, trial = (environ.get(name, "") for name in VERTEX_RUN_ENV)
    if job:
        try:
            return check_run_id(f"{job}-{trial}" if trial else job)
        except argparse.ArgumentTypeError as err:
            raise ClusterConfigError(f"run id from {' and '.join(VERTEX_RUN_ENV)}: {err}"
                                     ) from None
    if num_workers > 1:
        raise ClusterConfigError(
            f"TF_CONFIG names {num_workers} workers but no --run-id was given: every worker "
            "must pass the same --run-id (the training chart passes the TFJob's name)")
    return new_run_id()


def join(base: str, *parts: str) -> str:
    """Join path parts for local paths and `gs://` URIs alike."""
    if "://" in base:
        return posixpath.join(base, *parts)
    return os.path.join(base, *parts)


def _number(kind: Callable[[str], float], low: float | None, high: float | None,
            low_open: bool, allowed: str) -> Callable[[str], float]:
    """An argparse type that names the bad value and the allowed range in its error."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a number; allowed: {allowed}") from None
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and value > high
        if too_low or too_high or value != value:  # value != value catches NaN
            raise argparse.ArgumentTypeError(f"{text} is out of range; allowed: {allowed}")
        return value

    parse.__name__ = allowed
    return parse


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows `(default: …)` only where it reads right: not on switches (`--no-augment`) or on
    options whose help already says where their default comes from (default None)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.nargs == 0 or action.default is None:
            return action.help
        return super()._get_help_string(action)


def build_parser(prog: str = "python -m workloads.cifar10.train") -> argparse.ArgumentParser:
    """The trainer's parser; `mlp train` forwards its arguments here unchanged."""
    p = ArgumentParser(
        prog=prog, allow_abbrev=False,
        description="Train CIFAR-10 (VGG-like or residual net), print Katib metric lines, report "
                    "to Vertex HyperTune, checkpoint for resume, export a SavedModel.",
        formatter_class=_HelpFormatter)
    hp = p.add_argument_group("hyperparameters (study spellings)")
    hp.add_argument("--learning_rate", "--lr", "--learning-rate", dest="learning_rate",
                    type=_number(float, 0.0, 10.0, True, "a float in (0, 10]"),
                    default=DEFAULTS.learning_rate,
                    help="optimizer learning rate")
    hp.add_argument("--momentum", type=_number(float, 0.0, 1.0, False, "a float in [0, 1]"),
                    default=DEFAULTS.momentum, help="SGD momentum (ignored by adam and ftrl)")
    hp.add_argument("--num_units", "--num-units", dest="num_units",
                    type=_number(int, 1, 8192, False, "an integer in [1, 8192]"),
                    default=DEFAULTS.num_units,
                    help="width of the first dense layer; the second has half as many units")
    hp.add_argument("--num-layers", "--num_layers", dest="num_layers",
                    type=_number(int, 1, MAX_CONV_BLOCKS, False,
                                 f"an integer in [1, {MAX_CONV_BLOCKS}]"),
                    default=DEFAULTS.num_layers,
                    help="conv blocks of the VGG net (128, 256, 384 filters, then 384)")
    hp.add_argument("--epochs", type=_number(int, 1, 10_000, False, "an integer in [1, 10000]"),
                    default=DEFAULTS.epochs, help="passes over the training set")
    hp.add_argument("--batch-size", "--batch_size", dest="batch_size",
                    type=_number(int, 1, 65_536, False, "an integer in [1, 65536]"),
                    default=DEFAULTS.batch_size,
                    help="global batch size (split across replicas)")
    hp.add_argument("--optimizer", choices=OPTIMIZERS, default=DEFAULTS.optimizer,
                    help="optimizer")
    model = p.add_argument_group("model")
    model.add_argument("--model", choices=ARCHITECTURES, default=DEFAULTS.model,
                       help="vgg: the study's network; resnet: a fast residual net")
    model.add_argument("--width", type=_number(float, 0.0, 4.0, True, "a float in (0, 4]"),
                       default=DEFAULTS.width,
                       help="multiplier on conv filters (1 = as published)")
    model.add_argument("--precision", choices=PRECISIONS, default="auto",
                       help="Keras precision policy; auto: mixed_float16 on a GPU, "
                            "mixed_bfloat16 on a CPU with avx512_bf16 or amx_bf16, else "
                            "float32 (float32 turns mixed precision off)")
    model.add_argument("--no-augment", dest="augment", action="store_false",
                       help="train without random flip and crop (augmentation is on unless "
                            "this is given)")
    data = p.add_argument_group("data")
    data.add_argument("--data", choices=DATA_SOURCES, default="tfds",
                      help="tfds: tfds cifar10; tfrecord: CIFAR-10 TFRecords in --data-dir "
                           "(local or gs://); synthetic: generated, learnable, no download")
    data.add_argument("--data-dir", "--data_dir", dest="data_dir", default=None,
                      help="tfds data_dir, or the folder holding *train*/*test* TFRecords")
    data.add_argument("--synthetic-train-size", type=_number(int, 1, 1_000_000, False,
                      "an integer in [1, 1000000]"), default=SYNTHETIC_SIZES[0],
                      help="synthetic training images (10%% of them held out for validation)")
    data.add_argument("--synthetic-test-size", type=_number(int, 1, 1_000_000, False,
                      "an integer in [1, 1000000]"), default=SYNTHETIC_SIZES[1],
                      help="synthetic test images")
    out = p.add_argument_group("outputs (defaults: Vertex AI AIP_* variables, else local)")
    out.add_argument("--model-dir", "--model_dir", dest="model_dir", default=None,
                     help=f"SavedModel root; default $AIP_MODEL_DIR or {DEFAULT_LOCAL_ROOT}/model")
    out.add_argument("--checkpoint-dir", "--checkpoint_dir", dest="checkpoint_dir", default=None,
                     help="backup for resume, shared by every worker of a cluster (gs://); "
                          f"default $AIP_CHECKPOINT_DIR or {DEFAULT_LOCAL_ROOT}/checkpoints")
    out.add_argument("--tensorboard-dir", "--tensorboard_dir", dest="tensorboard_dir",
                     default=None, help="TensorBoard logs; default $AIP_TENSORBOARD_LOG_DIR or "
                                        f"{DEFAULT_LOCAL_ROOT}/tensorboard")
    out.add_argument("--run-id", "--run_id", dest="run_id", type=check_run_id, default=None,
                     help="this run's folder name under every output folder; pass the same id "
                          "again to resume a stopped run. Default: Vertex AI's "
                          "$CLOUD_ML_JOB_ID[-$CLOUD_ML_TRIAL_ID], else a new "
                          "YYYYmmdd-HHMMSS-xxxxxx id (printed at start)")
    out.add_argument("--version", type=_number(int, 1, 2**31 - 1, False, "a positive integer"),
                     default=1, help="export to {model-dir}/runs/{run-id}/{version}")
    out.add_argument("--export-dir", "--export_dir", dest="export_dir", default=None,
                     help="write the SavedModel and metrics.json to exactly this folder instead "
                          "(a pipeline step's own artifact); never a folder a server loads from")
    out.add_argument("--seed", type=_number(int, 0, 2**31 - 1, False, "an integer in [0, 2^31)"),
                     default=DEFAULTS.seed,
                     help="seeds Python, NumPy, TensorFlow and the data order")
    out.add_argument("--hypertune-metric", default="accuracy", choices=tuple(HYPERTUNE_METRICS),
                     metavar="TAG",
                     help="metric tag reported to Vertex HyperTune each epoch: accuracy or loss "
                          "(of the validation set), or one of the Katib names "
                          f"{', '.join(KATIB_METRICS.values())}")
    cluster = p.add_argument_group("cluster (TF_CONFIG)")
    cluster.add_argument("--peer-timeout", "--peer_timeout", dest="peer_timeout",
                         type=_number(float, 0.0, 86_400.0, True, "seconds in (0, 86400]"),
                         default=DEFAULT_PEER_TIMEOUT_S,
                         help="seconds a cluster task waits for every peer in TF_CONFIG before "
                              "it stops with exit 2 naming the missing ones")
    return p


def parse_args(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
               prog: str | None = None) -> TrainConfig:
    """Parse and validate; argparse exits 2 with a message naming the bad argument.

    `TF_CONFIG` is validated here too, before TensorFlow is imported; its errors raise
    `ClusterConfigError`, which the entry point turns into exit 2.
    """
    env = os.environ if environ is None else environ
    parser = build_parser(prog) if prog else build_parser()
    ns = parser.parse_args(argv)
    if ns.data == "tfrecord" and not ns.data_dir:
        parser.error("--data tfrecord needs --data-dir (a local folder or gs:// URI)")
    if ns.export_dir is not None and not ns.export_dir.strip():
        parser.error(f"argument --export-dir: {ns.export_dir!r} is not a folder; allowed: a local "
                     "path or URI")
    role = role_from_env(env)
    model_dir = ns.model_dir or env.get("AIP_MODEL_DIR") or join(DEFAULT_LOCAL_ROOT, "model")
    return TrainConfig(
        model=ns.model, learning_rate=ns.learning_rate, momentum=ns.momentum,
        num_units=int(ns.num_units), num_layers=int(ns.num_layers), epochs=int(ns.epochs),
        batch_size=int(ns.batch_size), optimizer=ns.optimizer, width=ns.width,
        augment=ns.augment, data=ns.data, data_dir=ns.data_dir,
        synthetic_train_size=int(ns.synthetic_train_size),
        synthetic_test_size=int(ns.synthetic_test_size),
        model_dir=model_dir,
        checkpoint_dir=(ns.checkpoint_dir or env.get("AIP_CHECKPOINT_DIR")
                        or join(DEFAULT_LOCAL_ROOT, "checkpoints")),
        tensorboard_dir=(ns.tensorboard_dir or env.get("AIP_TENSORBOARD_LOG_DIR")
                         or join(DEFAULT_LOCAL_ROOT, "tensorboard")),
        version=int(ns.version), seed=int(ns.seed), hypertune_metric=ns.hypertune_metric,
        run_id=resolve_run_id(ns.run_id, env, role.num_workers), export_override=ns.export_dir,
        peer_timeout=float(ns.peer_timeout), precision=ns.precision,
    )
