"""Training entry point: `python -m workloads.cifar10.train [args]` (also `mlp train`).

One run, under its own run folder in every output folder (`config.TrainConfig.run_*`): pick the
distribution strategy from the environment, check that the outputs are writable, load data, build
the model and train it with a backup checkpoint per epoch (a killed or preempted run resumes at
the next epoch with the same `--run-id`), print Katib metric lines and report to Vertex HyperTune
each epoch on a validation set held out of the training split (`data.VALIDATION_FRACTION`),
evaluate once on the test split, export the SavedModel to `{model_dir}/runs/{run_id}/{version}`
and write `metrics.json` beside it. Serving never loads from there: `mlp model promote` copies a
chosen run's export to a served version.
Exit codes: 0 done; 2 bad arguments, TF_CONFIG, data, outputs, backup or missing peers (one line
on stderr); 143 stopped by SIGTERM.
"""

from __future__ import annotations

import io
import json
import os
import platform
import posixpath
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facts.cli import print_error
from facts.progress import StepProgress
from workloads.cifar10 import CLASS_NAMES, NUM_CLASSES
from workloads.cifar10.config import HYPERTUNE_METRICS, KATIB_METRICS, TrainConfig, join, parse_args
from workloads.cifar10.distribute import ClusterConfigError, Role, role_from_env
from workloads.cifar10.supervise import (
    FORMED,
    FORMING,
    STATUS_FD_ENV,
    TERMINATED_EXIT,
    Terminated,
    reclaim_sigterm,
    report,
    stop_on_sigterm,
    supervise,
)

if TYPE_CHECKING:
    import keras

    from workloads.cifar10.data import Holdout
    from workloads.cifar10.loop import EpochResult

class OutputError(RuntimeError):
    """An output folder that cannot be written, or a run that already exported; one line."""


HYPERTUNE_ENV = ("CLOUD_ML_TRIAL_ID", "CLOUD_ML_HP_METRIC_FILE")
"""Set by Vertex AI hyperparameter tuning trials; either one switches HyperTune reporting on."""
PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "tensorflow-datasets", "numpy", "kserve",
            "cloudml-hypertune")


def katib_line(epoch: int, logs: Mapping[str, float]) -> str:
    """One line Katib's StdOut collector parses: `name=value` pairs, Katib's metric names."""
    pairs = [f"epoch={epoch}"]
    pairs += [f"{name}={float(logs[key]):.6f}" for key, name in KATIB_METRICS.items()
              if key in logs]
    return " ".join(pairs)


class EpochReporter:
    """Per finished epoch: the Katib line on stdout, TensorBoard scalars, Vertex HyperTune."""

    def __init__(self, cfg: TrainConfig, environ: Mapping[str, str], is_chief: bool) -> None:
        import tensorflow as tf

        self.cfg = cfg
        self.started = time.perf_counter()
        self.writer = (tf.summary.create_file_writer(cfg.run_tensorboard_dir) if is_chief
                       else None)
        # Epochs on a terminal's stderr only: stdout keeps the lines Katib parses.
        self.bar = StepProgress("epochs", cfg.epochs).__enter__() if is_chief \
            else StepProgress("epochs", cfg.epochs, stream=io.StringIO())
        self.hypertune = None
        if is_chief and any(environ.get(name) for name in HYPERTUNE_ENV):
            import hypertune

            self.hypertune = hypertune.HyperTune()

    def __call__(self, result: EpochResult) -> None:
        import tensorflow as tf

        elapsed = time.perf_counter() - self.started
        print(katib_line(result.epoch, result.logs), f"elapsed_s={elapsed:.1f}", flush=True)
        self.bar.advance(_bar_detail(result.logs), to=result.epoch)
        if result.epoch >= self.cfg.epochs:
            self.bar.__exit__(None, None, None)
        if self.writer is not None:
            with self.writer.as_default(step=result.epoch):
                for name, value in result.logs.items():
                    tf.summary.scalar(name, value)
            self.writer.flush()
        reported = HYPERTUNE_METRICS[self.cfg.hypertune_metric]
        if self.hypertune is not None and reported in result.logs:
            self.hypertune.report_hyperparameter_tuning_metric(
                hyperparameter_metric_tag=self.cfg.hypertune_metric,
                metric_value=result.logs[reported], global_step=result.epoch)


def _bar_detail(logs: Mapping[str, float]) -> str:
    accuracy = logs.get("val_accuracy", logs.get("accuracy"))
    return "" if accuracy is None else f"accuracy {float(accuracy):.4f}"


def _optimizer(cfg: TrainConfig):
    import keras

    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(cfg.learning_rate, momentum=cfg.momentum)
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(cfg.learning_rate)
    return keras.optimizers.Ftrl(cfg.learning_rate)


def fingerprint(cfg: TrainConfig, precision: str) -> dict[str, object]:
    """What shapes the variables a checkpoint holds, and so must match to resume it.

    The architecture and `width` set every conv layer; `num_layers` and `num_units` the VGG
    net's blocks and dense layers (the residual net ignores them); the optimizer its slot
    variables; the precision policy whether a loss-scale optimizer wraps it. Learning rate,
    momentum, batch size, epochs, augmentation, data and seed change no variable, so a resumed
    run may change them (more epochs, say).
    """
    shape: dict[str, object] = {"model": cfg.model, "width": cfg.width,
                                "optimizer": cfg.optimizer, "precision": precision}
    if cfg.model == "vgg":
        shape.update(num_layers=cfg.num_layers, num_units=cfg.num_units)
    return shape


def _parent(path: str) -> str:
    stripped = path.rstrip("/")
    return posixpath.dirname(stripped) if "://" in path else os.path.dirname(stripped) or "."


def check_writable(folder: str, flag: str) -> None:
    """Create `folder` and write and delete a probe file in it; raises `OutputError` naming the
    flag and folder when that fails, before any epoch is spent."""
    import tensorflow as tf

    probe = join(folder, f".write-probe-{uuid.uuid4().hex}")
    try:
        tf.io.gfile.makedirs(folder)
        with tf.io.gfile.GFile(probe, "w") as f:
            f.write("probe\n")
        tf.io.gfile.remove(probe)
    except (tf.errors.OpError, OSError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise OutputError(f"{flag} {folder!r} is not writable ({reason})") from None


def preflight(cfg: TrainConfig, role: Role, shape: Mapping[str, object]) -> None:
    """Before data or epochs: the run's backup, if any, is readable and was made with `shape`;
    on the chief, the output folders are writable and this run has not already exported (a
    finished run's backup is gone, so training again would overwrite a candidate that may
    already be evaluated or promoted)."""
    import tensorflow as tf

    from workloads.cifar10.loop import check_fingerprint, checkpoint_paths

    backup = checkpoint_paths(cfg.run_checkpoint_dir)
    if backup:
        check_fingerprint(cfg.run_checkpoint_dir, shape)
    if not role.is_chief:
        return
    exported = tf.io.gfile.exists(join(cfg.export_dir, "saved_model.pb"))
    if exported and not backup:
        raise OutputError(f"run {cfg.run_id} already exported a model to {cfg.export_dir!r}; "
                          "pass a new --run-id (or none) to train again")
    export_flag = "--export-dir" if cfg.export_override else "--model-dir"
    for folder, flag in ((_parent(cfg.export_dir), export_flag),
                         (cfg.run_checkpoint_dir, "--checkpoint-dir"),
                         (cfg.run_tensorboard_dir, "--tensorboard-dir")):
        check_writable(folder, flag)


def export_run(model: keras.Model, cfg: TrainConfig, metrics: Mapping[str, object],
               target: str, reference: str | None = None) -> None:
    """Write the SavedModel, `metrics.json` and the reference features (JSONL text, see
    `features.REFERENCE_FILE`) to `target`; on failure remove what was written (no partial
    `variables_temp`) and raise `OutputError`. The backup is still there, so the same
    `--run-id` exports again without training."""
    import tensorflow as tf

    from workloads.cifar10.export import export_saved_model, float32_copy
    from workloads.cifar10.features import REFERENCE_FILE
    from workloads.cifar10.model import build_model

    served = float32_copy(model, lambda: build_model(cfg.model, cfg.num_layers, cfg.num_units,
                                                     cfg.width))
    try:
        export_saved_model(served, target)
        if reference is not None:
            with tf.io.gfile.GFile(join(target, REFERENCE_FILE), "w") as f:
                f.write(reference)
        with tf.io.gfile.GFile(join(target, "metrics.json"), "w") as f:
            f.write(json.dumps(metrics, indent=2) + "\n")
    except (tf.errors.OpError, OSError) as err:
        if tf.io.gfile.exists(target):
            tf.io.gfile.rmtree(target)
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise OutputError(f"export to {target!r} failed ({reason}); the partial export was "
                          f"removed and the backup kept: fix the folder and rerun with --run-id "
                          f"{cfg.run_id} to export without training again") from None


def evaluation(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, object]:
    """Accuracy, per-class accuracy and the confusion matrix (rows: true, columns: predicted)."""
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = {}
    for index, name in enumerate(CLASS_NAMES):
        total = int(confusion[index].sum())
        per_class[name] = float(confusion[index, index] / total) if total else None
    return {"accuracy": float((predicted == labels).mean()), "examples": len(labels),
            "per_class_accuracy": per_class, "confusion_matrix": confusion.tolist()}


def reference_features(model: keras.Model, splits: Holdout, batch_size: int) -> str:
    """The monitored features (`workloads.cifar10.features`) of the validation set and of the
    first `REFERENCE_TRAIN_MAX` training images, as JSONL: what serving is compared with."""
    from workloads.cifar10 import data
    from workloads.cifar10.features import REFERENCE_TRAIN_MAX, reference_lines

    def batches():
        for split, ds in (("train", splits.train.take(REFERENCE_TRAIN_MAX)),
                          ("validation", splits.validation)):
            for images, _labels in data.eval_pipeline(ds, batch_size):
                yield split, images.numpy(), model(images, training=False).numpy()

    return reference_lines(batches())


def _git_commit() -> str | None:
    if os.environ.get("GIT_COMMIT"):
        return os.environ["GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).parent, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    found["python"] = platform.python_version()
    return found


def precision_reason(requested: str) -> str:
    """Why the run trains in the policy it does, in a few words (for its start line)."""
    import tensorflow as tf

    from workloads.cifar10.precision import choose_policy, cpu_flags

    return choose_policy(requested, bool(tf.config.list_physical_devices("GPU")),
                         cpu_flags())[1]


def train(cfg: TrainConfig, environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """Run training as described in the module docstring; returns the metrics it writes."""
    import keras
    import tensorflow as tf

    from workloads.cifar10 import data
    from workloads.cifar10.distribute import choose_strategy
    from workloads.cifar10.loop import TrainingLoop
    from workloads.cifar10.model import build_model

    env = os.environ if environ is None else environ
    role = role_from_env(env)
    print(f"run {cfg.run_id} as {role.tag}: export to {cfg.export_dir}", flush=True)
    report(FORMING, env)
    strategy = choose_strategy(env, cfg.precision)
    report(FORMED, env)
    reclaim_sigterm()
    policy = keras.mixed_precision.global_policy().name
    shape = fingerprint(cfg, policy)
    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()

    splits = data.load_holdout(cfg.data, cfg.data_dir, cfg.synthetic_train_size,
                               cfg.synthetic_test_size, cfg.seed)
    steps_per_epoch = splits.train_size // cfg.batch_size
    if steps_per_epoch < 1:
        raise data.DataError(f"--batch-size {cfg.batch_size} is larger than the training set "
                             f"({splits.train_size} examples after holding out "
                             f"{splits.validation_size} for validation)")
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train_ds = data.train_pipeline(splits.train, cfg.batch_size, cfg.seed, cfg.augment,
                                   repeat=True).with_options(options)
    val_ds = data.eval_pipeline(splits.validation, cfg.batch_size)
    test_ds = data.eval_pipeline(splits.test, cfg.batch_size)
    # After the data (whose errors should leave no output folders behind), before any epoch.
    preflight(cfg, role, shape)

    # Every worker restores from the chief's folder; the others save into private folders.
    backup_dir = cfg.run_checkpoint_dir
    write_dir = backup_dir if role.is_chief else tempfile.mkdtemp(prefix="cifar10-backup-")
    loop = TrainingLoop(strategy,
                        lambda: build_model(cfg.model, cfg.num_layers, cfg.num_units, cfg.width),
                        lambda: _optimizer(cfg), cfg.batch_size, backup_dir, shape, write_dir,
                        role.num_workers)
    model = loop.model
    print(f"training {cfg.model} on {cfg.data} with {strategy.num_replicas_in_sync} replica(s) "
          f"as {role.tag} in {policy} ({precision_reason(cfg.precision)}); {steps_per_epoch} "
          f"steps per epoch; checkpoints in {backup_dir}", flush=True)
    started = time.perf_counter()
    resumed_at = loop.run(train_ds, steps_per_epoch, cfg.epochs, val_ds,
                          EpochReporter(cfg, env, role.is_chief))
    train_seconds = time.perf_counter() - started

    # Plain calls rather than Model.predict, which Keras 3 cannot run under multi-worker.
    batches = [(model(images, training=False).numpy(), labels.numpy())
               for images, labels in test_ds]
    probabilities = np.concatenate([p for p, _ in batches])
    test_labels = np.concatenate([y for _, y in batches])
    metrics = {
        **evaluation(test_labels, probabilities),
        "train_examples": splits.train_size,
        "validation_examples": splits.validation_size,
        "class_names": list(CLASS_NAMES),
        "hyperparameters": cfg.hyperparameters(),
        "seed": cfg.seed,
        "precision_policy": policy,
        "train_seconds": round(train_seconds, 3),
        "resumed_at_epoch": resumed_at,
        "replicas": int(strategy.num_replicas_in_sync),
        "workers": role.num_workers,
        "package_versions": _versions(),
        "git_commit": _git_commit(),
        "run_id": cfg.run_id,
        "export_dir": cfg.export_dir,
    }
    reference = reference_features(model, splits, cfg.batch_size) if role.is_chief else None
    # Saving may run collectives, so every worker saves; only the chief keeps its copy.
    target = cfg.export_dir if role.is_chief else tempfile.mkdtemp(prefix="cifar10-export-")
    export_run(model, cfg, metrics, target, reference)
    if role.is_chief:
        print(f"Test-accuracy={metrics['accuracy']:.6f}", flush=True)
        print(f"exported SavedModel and metrics.json to {target}", flush=True)
    else:
        tf.io.gfile.rmtree(target)
    loop.discard_backup()
    return metrics


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse arguments and TF_CONFIG (exit 2 on bad ones, before TensorFlow starts) and train.

    A task of a multi-worker cluster trains in a supervised child process (see
    `workloads.cifar10.supervise`); everything else trains in this process, with SIGTERM
    stopping it (exit 143).
    """
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        cfg = parse_args(args, prog=prog)
        role = role_from_env(os.environ)
    except ClusterConfigError as err:
        print_error(str(err))
        return 2
    if cfg.data == "tfds":
        from workloads.netcheck import tfds_offline_problem

        # Before TensorFlow starts: offline, tfds retries its download for minutes.
        problem = tfds_offline_problem(cfg.data_dir)
        if problem:
            print_error(problem)
            return 2
    from facts.verbosity import quiet_libraries, verbose_enabled
    from workloads.quiet_tf import import_tensorflow_quietly

    if not verbose_enabled():
        quiet_libraries()
        import_tensorflow_quietly()
    if role.num_workers > 1 and STATUS_FD_ENV not in os.environ:
        command = [sys.executable, "-m", "workloads.cifar10.train", *args, "--run-id", cfg.run_id]
        return supervise(command, os.environ, role.peers, cfg.peer_timeout, cfg.run_id)
    return _train_here(cfg)


def _train_here(cfg: TrainConfig) -> int:
    """Train in this process; known failures are one line on stderr and exit 2."""
    from workloads.cifar10.data import DataError
    from workloads.cifar10.loop import ResumeError

    previous = stop_on_sigterm()
    try:
        train(cfg)
    except (DataError, ClusterConfigError, ResumeError, OutputError) as err:
        from facts.verbosity import print_traceback_if_debug

        print_traceback_if_debug()
        print_error(str(err))
        return 2
    except Terminated:
        print_error(f"run {cfg.run_id}: stopped by SIGTERM; the last finished epoch's backup "
              f"is kept, so the same --run-id {cfg.run_id} resumes")
        return TERMINATED_EXIT
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
