"""What each pipeline step does, as plain functions the kfp components call.

Components are thin: each imports one function from here and passes it paths of its artifacts.
Keeping the work here means it is importable, typed and unit-tested like any other module, and
the same code runs under `kfp.local`, on Kubeflow Pipelines and on Vertex AI Pipelines (the
trainer image contains this repository). TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from workloads.cifar10 import CLASS_NAMES, IMAGE_SHAPE, MODEL_NAME, NUM_CLASSES

MODEL_VERSION = 1
"""The train step exports to `{model_dir}/{MODEL_VERSION}` of its own model artifact (the
trainer's `--export-dir`); the gated deploy step serves that artifact."""
SPLIT_SIZES_FILE = "splits.json"

TRAIN_PARAMETERS = ("model", "epochs", "batch_size", "learning_rate", "momentum", "optimizer",
                    "num_layers", "num_units", "width", "seed")
"""Hyperparameters the train step passes on, each as `--<name>` (the trainer accepts these
spellings, `workloads/cifar10/config.py`)."""


class StepError(RuntimeError):
    """A step that cannot finish; the message says which step and why."""


def prepare_data(source: str, out_dir: str, train_size: int, test_size: int, seed: int,
                 data_dir: str | None = None) -> dict[str, int]:
    """Write the train and test splits of `source` as TFRecords under `out_dir`.

    `synthetic` generates the learnable offline images of `workloads.cifar10.data`; `tfds` reads
    tfds `cifar10` (downloading into `data_dir` once). Sizes apply to synthetic data only.
    Returns the number of examples per split, also written to `splits.json`.
    """
    import numpy as np
    import tensorflow as tf

    from workloads.cifar10 import data

    counts = {}
    for split, size in (("train", train_size), ("test", test_size)):
        ds = data.load_split(source, split, data_dir, size, seed)
        images, labels = [], []
        for image, label in ds.as_numpy_iterator():
            images.append(image)
            labels.append(label)
        if not images:
            raise StepError(f"prepare-data: {source} {split} split is empty")
        data.write_tfrecords(np.stack(images), np.asarray(labels, np.int64), out_dir, split)
        counts[split] = len(images)
    with tf.io.gfile.GFile(f"{out_dir.rstrip('/')}/{SPLIT_SIZES_FILE}", "w") as f:
        f.write(json.dumps(counts) + "\n")
    return counts


def trainer_args(data_dir: str, model_dir: str, work_dir: str,
                 hyperparameters: Mapping[str, Any]) -> list[str]:
    """The trainer command line for a prepared dataset; unknown hyperparameters are refused."""
    unknown = sorted(set(hyperparameters) - set(TRAIN_PARAMETERS))
    if unknown:
        raise StepError(f"train: unknown hyperparameter(s) {', '.join(unknown)}; allowed: "
                        f"{', '.join(TRAIN_PARAMETERS)}")
    args = ["--data", "tfrecord", "--data-dir", data_dir, "--model-dir", model_dir,
            "--version", str(MODEL_VERSION),
            "--export-dir", f"{model_dir.rstrip('/')}/{MODEL_VERSION}",
            "--checkpoint-dir", f"{work_dir.rstrip('/')}/checkpoints",
            "--tensorboard-dir", f"{work_dir.rstrip('/')}/tensorboard"]
    for name in TRAIN_PARAMETERS:
        if name in hyperparameters:
            args += [f"--{name}", str(hyperparameters[name])]
    return args


def train_model(data_dir: str, model_dir: str, work_dir: str,
                hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """Run the trainer on a prepared dataset; returns the `metrics.json` it wrote."""
    import tensorflow as tf

    from workloads.cifar10.train import main

    code = main(trainer_args(data_dir, model_dir, work_dir, hyperparameters))
    if code:
        raise StepError(f"train: the trainer exited with code {code}")
    with tf.io.gfile.GFile(f"{model_dir.rstrip('/')}/{MODEL_VERSION}/metrics.json") as f:
        return json.load(f)


def evaluate_model(data_dir: str, model_dir: str, batch_size: int = 256) -> dict[str, Any]:
    """Accuracy, per-class accuracy and confusion matrix of the export on the test split."""
    import numpy as np

    from workloads.cifar10 import data
    from workloads.cifar10.export import LoadedClassifier
    from workloads.cifar10.train import evaluation

    classifier = LoadedClassifier(f"{model_dir.rstrip('/')}/{MODEL_VERSION}")
    probabilities, labels = [], []
    for images, batch_labels in data.load_tfrecords(data_dir, "test").batch(batch_size):
        probabilities.append(classifier(images).numpy())
        labels.append(batch_labels.numpy())
    return evaluation(np.concatenate(labels), np.concatenate(probabilities))


def markdown_report(result: Mapping[str, Any], threshold: float | None = None) -> str:
    """A Markdown page for the run UI: accuracy, gate verdict, per-class accuracy, confusion."""
    lines = ["# CIFAR-10 evaluation", "",
             f"Test accuracy **{result['accuracy']:.4f}** on {result['examples']} images."]
    if threshold is not None:
        verdict = "deploy" if result["accuracy"] >= threshold else "do not deploy"
        lines.append(f"Deployment threshold {threshold:.4f}: **{verdict}**.")
    lines += ["", "| class | accuracy |", "|---|---|"]
    for name, value in result["per_class_accuracy"].items():
        lines.append(f"| {name} | {'—' if value is None else f'{value:.3f}'} |")
    lines += ["", "Confusion matrix (rows: true class, columns: predicted):", "",
              "| true \\ predicted | " + " | ".join(CLASS_NAMES) + " |",
              "|---" * (NUM_CLASSES + 1) + "|"]
    for name, row in zip(CLASS_NAMES, result["confusion_matrix"], strict=True):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def check_v1_response(body: Any, expected: int) -> list[list[float]]:
    """Check a V1 predict answer: `expected` rows of 10 probabilities that each sum to 1."""
    if not isinstance(body, dict) or "predictions" not in body:
        raise StepError(f"smoke check: answer has no 'predictions': {str(body)[:200]}")
    rows = body["predictions"]
    if not isinstance(rows, list) or len(rows) != expected:
        raise StepError(f"smoke check: expected {expected} prediction(s), got {rows!r:.200}")
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != NUM_CLASSES:
            raise StepError(f"smoke check: predictions[{index}] must hold {NUM_CLASSES} "
                            f"probabilities, got {row!r:.200}")
        if any(not 0.0 <= p <= 1.0 for p in row) or abs(sum(row) - 1.0) > 1e-3:
            raise StepError(f"smoke check: predictions[{index}] is not a probability vector "
                            f"(sum {sum(row):.6f})")
    return rows


def smoke_check(model_dir: str, images: Sequence[Any] | None = None,
                timeout: float = 30.0) -> dict[str, Any]:
    """Serve the export on 127.0.0.1 (free port), send one V1 request, check it, stop.

    The local stand-in for deployment: the same predictor the InferenceService and the Vertex
    endpoint run answers `POST /v1/models/cifar10:predict`.
    """
    import httpx
    import numpy as np

    from workloads.cifar10.serve import Cifar10Model, PredictorServer

    if images is None:
        images = np.full((1, *IMAGE_SHAPE), 128, np.uint8).tolist()
    model = Cifar10Model(model_dir)
    model.load()
    server = PredictorServer(model, host="127.0.0.1", port=0)
    url = server.start(timeout=timeout)
    try:
        answer = httpx.post(f"{url}/v1/models/{MODEL_NAME}:predict",
                            json={"instances": list(images)}, timeout=timeout)
    finally:
        server.stop()
    if answer.status_code != 200:
        raise StepError(f"smoke check: {url} answered {answer.status_code}: {answer.text[:200]}")
    rows = check_v1_response(answer.json(), len(images))
    return {"url": url, "status": answer.status_code, "predictions": rows,
            "sums": [float(sum(r)) for r in rows]}

