"""Batch prediction: local streaming through the predictor's code, and the Vertex AI flavour."""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("tensorflow")

from facts.stacks import REPO_ROOT
from mlp.cli import app
from tests.workloads.conftest import TrainedRun
from workloads.cifar10 import CLASS_NAMES
from workloads.cifar10.batch import BatchError, predict_batch
from workloads.cifar10.features import FEATURE_NAMES

runner = CliRunner()
OUTPUTS = REPO_ROOT / "stacks" / "examples" / "vertex-outputs.json"


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_thousand_synthetic_images(trained: TrainedRun, tmp_path: Path) -> None:
    from workloads.cifar10.data import synthetic_arrays
    from workloads.cifar10.export import LoadedClassifier

    out = tmp_path / "predictions.jsonl"
    result = predict_batch(str(trained.export_dir), "synthetic:1000", str(out), batch_size=128)
    assert result.images == 1000 and result.images_per_second > 0
    rows = _rows(out)
    assert [r["id"] for r in rows[:2]] == ["synthetic_0000000", "synthetic_0000001"]
    assert len(rows) == 1000 and all(set(FEATURE_NAMES) <= set(r) for r in rows)
    probs = np.array([r["probabilities"] for r in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert [r["label"] for r in rows] == [CLASS_NAMES[i] for i in probs.argmax(axis=1)]
    images = synthetic_arrays(1000, seed=123)[0]
    direct = LoadedClassifier(str(trained.export_dir))(images[:5]).numpy()
    np.testing.assert_allclose(probs[:5], direct, atol=1e-5)


def test_tfrecords_and_image_files_keep_their_ids(trained: TrainedRun, tmp_path: Path) -> None:
    import tensorflow as tf

    from workloads.cifar10.data import synthetic_arrays, write_tfrecords

    images, labels = synthetic_arrays(7, seed=3)
    write_tfrecords(images, labels, str(tmp_path / "records"), "test")
    from_records = tmp_path / "records.jsonl"
    predict_batch(str(trained.export_dir), str(tmp_path / "records"), str(from_records), 4)
    assert [r["id"] for r in _rows(from_records)] == [f"test_{i:05d}" for i in range(7)]
    (tmp_path / "pngs").mkdir()
    for i in range(3):
        (tmp_path / "pngs" / f"img{i}.png").write_bytes(tf.io.encode_png(images[i]).numpy())
    from_files = tmp_path / "files.jsonl"
    predict_batch(str(trained.export_dir), str(tmp_path / "pngs"), str(from_files), 2)
    by_id = {r["id"]: r for r in _rows(from_files)}
    assert set(by_id) == {"img0.png", "img1.png", "img2.png"}
    np.testing.assert_allclose(by_id["img1.png"]["probabilities"],
                               _rows(from_records)[1]["probabilities"], atol=1e-5)


@pytest.mark.parametrize(("setup", "message"), [
    ("wrong size", "the model takes 32×32 RGB images"),
    ("not an image", "not a readable image"),
    ("empty", "has no *.tfrecord* and no"),
    ("mixed", "holds both TFRecords and image files"),
])
def test_unusable_inputs_are_one_line(trained: TrainedRun, tmp_path: Path, setup: str,
                                      message: str) -> None:
    import tensorflow as tf

    folder = tmp_path / "in"
    folder.mkdir()
    if setup == "wrong size":
        (folder / "big.png").write_bytes(tf.io.encode_png(np.zeros((64, 64, 3), np.uint8))
                                         .numpy())
    elif setup == "not an image":
        (folder / "fake.png").write_text("hello")
    elif setup == "mixed":
        (folder / "a.png").write_bytes(tf.io.encode_png(np.zeros((32, 32, 3), np.uint8))
                                       .numpy())
        (folder / "x-test.tfrecord").write_bytes(b"")
    with pytest.raises(BatchError, match=message.replace("*", r"\*")):
        predict_batch(str(trained.export_dir), str(folder), str(tmp_path / "o.jsonl"))


def test_the_command_prints_the_throughput(trained: TrainedRun, tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    result = runner.invoke(app, ["predict", "batch", "--model-dir", str(trained.export_dir),
                                 "--input", "synthetic:300", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("300 images in ") and " images/s; predictions in " in \
        result.stdout
    model = ["--model-dir", str(trained.export_dir)]
    good = ["--input", "synthetic:5", "--output", str(out)]
    for argv, message in (
            (["--input", "synthetic:0", "--output", str(out)], "synthetic:N with N from 1"),
            (["--input", "synthetic:5", "--output", str(tmp_path / "p.csv")],
             "must name a .jsonl file"),
            ([*good, "--batch-size", "0"], "--batch-size 0 is not allowed"),
            ([*good, "--target", "gke"], "'gke' is not one of 'kubeflow', 'vertex', 'local'"),
            ([*good, "--dry-run"], "--dry-run applies to --target vertex")):
        bad = runner.invoke(app, ["predict", "batch", *model, *argv])
        assert bad.exit_code == 2, (argv, bad.output)
        assert message in bad.stderr and "Traceback" not in bad.output


def test_vertex_dry_run_shows_the_batch_job_and_the_bigquery_load() -> None:
    outputs = json.loads(OUTPUTS.read_text())
    result = runner.invoke(app, ["predict", "batch", "--target", "vertex", "--dry-run",
                                 "--stack-outputs", str(OUTPUTS), "--model-dir",
                                 "gs://m/cifar10/1", "--input", "gs://d/images",
                                 "--output", "gs://m/batch/run-1", "--tag", "1.2.3"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    job = body["batch_prediction_job"]["batch_prediction_job"]
    container = job["unmanaged_container_model"]
    assert container["artifact_uri"] == "gs://m/cifar10/1"
    assert container["container_spec"]["image_uri"] == (
        f"{outputs['registryUrl']}/cifar10-predictor:1.2.3")
    assert container["container_spec"]["predict_route"] == "/v1/models/cifar10:predict"
    assert job["input_config"] == {"instances_format": "jsonl", "gcs_source": {
        "uris": ["gs://m/batch/run-1/instances.jsonl"]}}
    assert job["output_config"]["predictions_format"] == "jsonl"
    assert job["service_account"] == outputs["servingServiceAccount"]
    load = body["bigquery_load"]["configuration"]["load"]
    assert load["destinationTable"]["datasetId"] == outputs["predictionsDataset"]
    assert load["sourceUris"] == ["gs://m/batch/run-1/predictions.jsonl"]
    assert [f["name"] for f in load["schema"]["fields"]][:3] == ["id", "label",
                                                                "probabilities"]


def _vertex_output(images: np.ndarray, probs: np.ndarray) -> list[str]:
    return [json.dumps({"instance": img.tolist(), "prediction": p.tolist()})
            for img, p in zip(images, probs, strict=True)]


def test_collect_puts_vertex_predictions_back_in_input_order() -> None:
    from workloads.vertex.batch import BatchJobError, collect

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (5, 32, 32, 3))
    images[3] = images[1]  # a duplicate image keeps both its ids
    probs = rng.dirichlet(np.ones(10), 5)
    lines = _vertex_output(images, probs)
    shuffled = lines[:]
    random.Random(1).shuffle(shuffled)
    ids = [f"id{i}" for i in range(5)]
    rows = [json.loads(r) for r in collect(shuffled, [json.dumps(i.tolist()) for i in images],
                                           ids).splitlines()]
    assert [r["id"] for r in rows] == ids
    np.testing.assert_allclose(rows[4]["probabilities"], probs[4], atol=1e-6)
    with pytest.raises(BatchJobError, match="1 of 5 images have no prediction"):
        collect(lines[:4], [json.dumps(i.tolist()) for i in images], ids)
    with pytest.raises(BatchJobError, match="prediction line 1: not a Vertex AI batch output"):
        collect(["{}"], [json.dumps(i.tolist()) for i in images], ids)


def test_a_vertex_run_writes_the_jsonl_and_loads_bigquery(tmp_path: Path) -> None:
    from google.cloud.aiplatform_v1 import types

    from workloads.vertex.batch import INSTANCES_FILE, batch_job_request, run_vertex_batch

    staging = tmp_path / "staging"
    vertex_out = tmp_path / "vertex-out"
    vertex_out.mkdir()
    request = batch_job_request(project="p", region="us-central1", display_name="b",
                                model_uri="gs://m/1", image="r/cifar10-predictor:1",
                                instances_uri="gs://s/instances.jsonl", output_prefix="gs://s/v",
                                machine_type="n1-standard-4", service_account=None)

    class Jobs:
        def create_batch_prediction_job(self, request):
            assert request.batch_prediction_job.display_name == "b"
            return SimpleNamespace(name="jobs/1", state=types.JobState.JOB_STATE_PENDING)

        def get_batch_prediction_job(self, name):
            # Vertex AI ran the predictor: one output line per instance, in its own order.
            instances = (staging / INSTANCES_FILE).read_text().splitlines()
            probs = np.full((len(instances), 10), 0.1)
            images = np.array([json.loads(i) for i in instances])
            (vertex_out / "prediction.results-00000-of-00001").write_text(
                "\n".join(reversed(_vertex_output(images, probs))) + "\n")
            return SimpleNamespace(name=name, state=types.JobState.JOB_STATE_SUCCEEDED,
                                   output_info=SimpleNamespace(
                                       gcs_output_directory=str(vertex_out)))

    loads = []

    class BigQuery:
        def load_table_from_uri(self, source, table, job_config):
            loads.append((source, table, job_config.to_api_repr()))
            return SimpleNamespace(result=lambda: None)

    result = run_vertex_batch(request, source="synthetic:6", staging=str(staging), project="p",
                              region="us-central1", dataset="mlp_x_predictions",
                              job_client=Jobs(), bigquery_client=BigQuery(), poll_seconds=0)
    assert result["images"] == 6 and result["table"].startswith("p.mlp_x_predictions.")
    rows = _rows(staging / "predictions.jsonl")
    assert [r["id"] for r in rows] == [f"synthetic_{i:07d}" for i in range(6)]
    ((source, table, config),) = loads
    assert source == str(staging / "predictions.jsonl") and table == result["table"]
    assert config["load"]["sourceFormat"] == "NEWLINE_DELIMITED_JSON"
