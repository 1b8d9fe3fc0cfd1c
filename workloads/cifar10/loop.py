"""The distributed training loop with backup-and-restore checkpoints.

A custom loop rather than `Model.fit`: Keras 3's `fit` fails under
`MultiWorkerMirroredStrategy` (keras-team/keras#20585), and one loop for every strategy keeps the
local, TFJob and Vertex runs identical. It does what `fit` + `BackupAndRestore` would:

- the model, optimizer state and an epoch counter go to a `tf.train.CheckpointManager` after
  every epoch, so a killed or preempted run restarts at the first unfinished epoch;
- in a cluster every worker restores from the chief's folder and checks, with one all-gather,
  that all of them restored the same epoch; non-chief workers save (saving may run collectives)
  into folders of their own that nobody reads, as Keras's `BackupAndRestore` does;
- the checkpoint is deleted when training completes, so a finished run is not resumed;
- each epoch runs exactly `steps_per_epoch` global batches from a repeated dataset, so every
  worker in a cluster takes the same number of steps;
- a fingerprint (`FINGERPRINT_FILE`) beside the checkpoints records what shapes their variables;
  a run with another fingerprint is refused instead of failing inside TensorFlow's restore;
- an unreadable checkpoint state file is an error (never a silent restart at epoch 0), and a
  corrupt latest checkpoint falls back to the previous intact one.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import keras
import tensorflow as tf

FINGERPRINT_FILE = "fingerprint.json"
"""Beside the checkpoints: the values that shape their variables (see `train.fingerprint`)."""
STATE_FILE = "checkpoint"
"""TensorFlow's checkpoint state file: which checkpoints exist, newest last."""
MAX_TO_KEEP = 2
"""Checkpoints kept: the newest, and one to fall back to when the newest is corrupt."""


@dataclass
class EpochResult:
    """Metrics of one finished epoch (1-based), under Keras's own metric names."""

    epoch: int
    logs: dict[str, float]


class ResumeError(RuntimeError):
    """A backup that cannot be resumed (another fingerprint, an unreadable state file, no intact
    checkpoint) or workers that restored different epochs; the message names the folder."""


def _join(folder: str, name: str) -> str:
    return posixpath.join(folder, name) if "://" in folder else os.path.join(folder, name)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:160]}" if text else type(err).__name__


def checkpoint_paths(folder: str) -> list[str]:
    """The checkpoints the state file in `folder` lists, oldest first ([] for a fresh folder).

    Raises `ResumeError` when checkpoints exist but the state file is missing or unreadable:
    restarting at epoch 0 would silently throw the finished epochs away.
    """
    state_file = _join(folder, STATE_FILE)
    if not tf.io.gfile.exists(state_file):
        if tf.io.gfile.glob(_join(folder, "ckpt-*.index")):
            raise ResumeError(f"checkpoint folder {folder!r} holds checkpoints but no "
                              f"{STATE_FILE!r} state file; restore it, or delete the folder to "
                              "start over")
        return []
    # TensorFlow logs a parse error as two warnings and returns None; the error below says it.
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        state = tf.train.get_checkpoint_state(folder)
    finally:
        logger.setLevel(level)
    if state is None or not state.model_checkpoint_path:
        raise ResumeError(f"checkpoint state file {state_file!r} is unreadable (not a "
                          "CheckpointState text); fix it, or delete the folder to start over")
    paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
    if paths[-1] != state.model_checkpoint_path:
        paths.append(state.model_checkpoint_path)
    return paths


def read_fingerprint(folder: str) -> dict[str, object] | None:
    """The fingerprint saved in `folder`, or None when there is none."""
    path = _join(folder, FINGERPRINT_FILE)
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path) as f:
            saved = json.loads(f.read())
    except (ValueError, tf.errors.OpError) as err:
        raise ResumeError(f"fingerprint {path!r} is unreadable ({_first_line(err)}); delete the "
                          "folder to start over") from None
    if not isinstance(saved, dict):
        raise ResumeError(f"fingerprint {path!r} is not a JSON object; delete the folder to "
                          "start over")
    return saved


def check_fingerprint(folder: str, expected: Mapping[str, object]) -> None:
    """Refuse to resume checkpoints in `folder` made with other variable-shaping values."""
    saved = read_fingerprint(folder)
    if saved is None:
        raise ResumeError(f"checkpoint folder {folder!r} has no {FINGERPRINT_FILE}, so what "
                          "made its checkpoints is unknown; pass another --run-id to start a "
                          "new run, or delete the folder")
    keys = sorted(set(saved) | set(expected))
    differ = [f"{key}={saved.get(key)!r} there, {expected.get(key)!r} here" for key in keys
              if saved.get(key) != expected.get(key)]
    if differ:
        raise ResumeError(f"checkpoint folder {folder!r} was made with other values: "
                          f"{'; '.join(differ)}; pass another --run-id to start a new run, or "
                          "the same values to resume")


def write_fingerprint(folder: str, fingerprint: Mapping[str, object]) -> None:
    """Record `fingerprint` in `folder` (before the first checkpoint is written there)."""
    tf.io.gfile.makedirs(folder)
    with tf.io.gfile.GFile(_join(folder, FINGERPRINT_FILE), "w") as f:
        f.write(json.dumps(dict(fingerprint), indent=2, sort_keys=True) + "\n")


def check_agreed(epochs: list[int], backup_dir: str) -> int:
    """The epoch every worker restored; raises `ResumeError` when they differ."""
    if len(set(epochs)) > 1:
        raise ResumeError(
            f"workers restored different epochs {epochs} (by worker index) from {backup_dir!r}; "
            "every worker must see the chief's checkpoint folder, so --checkpoint-dir must be "
            "storage they all share (a gs:// URI on GKE and Vertex AI)")
    return epochs[0]


class TrainingLoop:
    """Builds optimizer, metrics and checkpoint inside `strategy`'s scope and runs epochs."""

    def __init__(self, strategy: tf.distribute.Strategy, build_model: Callable[[], keras.Model],
                 build_optimizer: Callable[[], keras.optimizers.Optimizer], global_batch: int,
                 backup_dir: str, fingerprint: Mapping[str, object],
                 write_dir: str | None = None, num_workers: int = 1) -> None:
        """`backup_dir` is the chief's folder, read by all; `write_dir` (default `backup_dir`)
        is where this worker saves, a private folder on non-chief workers. `fingerprint` is
        what shapes this run's variables, checked against the backup's before restoring."""
        self.fingerprint = dict(fingerprint)
        self.num_workers = num_workers
        self.strategy = strategy
        self.global_batch = global_batch
        self.backup_dir = backup_dir
        self.write_dir = write_dir or backup_dir
        with strategy.scope():
            self.model = build_model()
            optimizer = build_optimizer()
            if keras.mixed_precision.global_policy().name == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            self.optimizer = optimizer
            self.optimizer.build(self.model.trainable_variables)
            self.train_loss = keras.metrics.Mean(name="loss")
            self.train_accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        # Validation runs outside replicas, on plain (not mirrored) metric variables.
        self.val_loss = keras.metrics.Mean(name="val_loss")
        self.val_accuracy = keras.metrics.SparseCategoricalAccuracy(name="val_accuracy")
        self._loss = keras.losses.SparseCategoricalCrossentropy(reduction=None)
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer,
                                              epoch=self.epoch)
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.write_dir,
                                                  max_to_keep=MAX_TO_KEEP)

    def _restore_intact(self, paths: list[str]) -> None:
        """Restore the newest checkpoint of `paths` that reads back; says in one line which
        ones were skipped. Raises `ResumeError` when none does."""
        skipped = []
        for path in reversed(paths):
            try:
                self.checkpoint.restore(path).expect_partial()
            # The fingerprint has ruled out another model, so what fails here is a damaged file,
            # and TensorFlow's reader reports those as OpError, ValueError or IndexError alike.
            except Exception as err:
                skipped.append(f"{os.path.basename(path)} ({_first_line(err)})")
                continue
            if skipped:
                print(f"warning: unreadable checkpoint(s) in {self.backup_dir!r}: "
                      f"{', '.join(skipped)}; resuming from {os.path.basename(path)}",
                      flush=True)
            return
        raise ResumeError(f"no intact checkpoint in {self.backup_dir!r}: {', '.join(skipped)}; "
                          "delete the folder to start over")

    def restore(self) -> int:
        """Load the chief's newest intact backup if there is one (after checking its
        fingerprint); returns the number of finished epochs, checked to be the same on every
        worker."""
        paths = checkpoint_paths(self.backup_dir)
        if paths:
            check_fingerprint(self.backup_dir, self.fingerprint)
            self._restore_intact(paths)
        if self.num_workers > 1:
            gathered = self._gather_epochs().numpy().tolist()
            return check_agreed(gathered[::len(gathered) // self.num_workers], self.backup_dir)
        return int(self.epoch.numpy())

    @tf.function
    def _gather_epochs(self) -> tf.Tensor:
        def gather() -> tf.Tensor:
            context = tf.distribute.get_replica_context()
            return context.all_gather(tf.reshape(tf.identity(self.epoch), [1]), axis=0)

        return self.strategy.experimental_local_results(self.strategy.run(gather))[0]

    @tf.function
    def _train_step(self, iterator: tf.distribute.DistributedIterator) -> None:
        def step(images: tf.Tensor, labels: tf.Tensor) -> None:
            with tf.GradientTape() as tape:
                probabilities = self.model(images, training=True)
                per_example = self._loss(labels, probabilities)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch)
                if self.model.losses:
                    loss += tf.nn.scale_regularization_loss(tf.add_n(self.model.losses))
                scaled = self.optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, self.model.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables, strict=True))
            self.train_loss.update_state(per_example)
            self.train_accuracy.update_state(labels, probabilities)

        self.strategy.run(step, args=next(iterator))

    @tf.function
    def _eval_step(self, images: tf.Tensor, labels: tf.Tensor) -> None:
        probabilities = self.model(images, training=False)
        self.val_loss.update_state(self._loss(labels, probabilities))
        self.val_accuracy.update_state(labels, probabilities)

    def run(self, train_ds: tf.data.Dataset, steps_per_epoch: int, epochs: int,
            val_ds: tf.data.Dataset | None,
            on_epoch_end: Callable[[EpochResult], None]) -> int:
        """Train from the restored epoch to `epochs`; returns the epoch training started at.

        `train_ds` must repeat (it is iterated `steps_per_epoch` times per epoch); `val_ds` is
        evaluated on every worker's own copy of the weights, in order, each epoch.
        """
        start = self.restore()
        # A restored backup has this fingerprint already; a folder without checkpoints may hold
        # a stale one from a run stopped before its first epoch, which this run replaces.
        if read_fingerprint(self.write_dir) != self.fingerprint:
            write_fingerprint(self.write_dir, self.fingerprint)
        iterator = iter(self.strategy.experimental_distribute_dataset(train_ds))
        for epoch in range(start, epochs):
            for metric in (self.train_loss, self.train_accuracy, self.val_loss, self.val_accuracy):
                metric.reset_state()
            for _ in range(steps_per_epoch):
                self._train_step(iterator)
            logs = {"loss": float(self.train_loss.result()),
                    "accuracy": float(self.train_accuracy.result())}
            if val_ds is not None:
                for images, labels in val_ds:
                    self._eval_step(images, labels)
                logs.update(val_loss=float(self.val_loss.result()),
                            val_accuracy=float(self.val_accuracy.result()))
            self.epoch.assign(epoch + 1)
            # The backup is written before the epoch is reported, so a reported epoch is never
            # trained again after a restart.
            self.manager.save(checkpoint_number=epoch + 1)
            on_epoch_end(EpochResult(epoch + 1, logs))
        return start

    def discard_backup(self) -> None:
        """Delete this worker's backup folder (the chief's: the shared one) once training has
        finished."""
        if tf.io.gfile.exists(self.write_dir):
            tf.io.gfile.rmtree(self.write_dir)
