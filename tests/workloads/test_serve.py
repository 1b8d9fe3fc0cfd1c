"""The KServe predictor over HTTP on loopback: V1, V2, and every class of malformed request."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
httpx = pytest.importorskip("httpx")

from tests.workloads.conftest import TrainedRun  # noqa: E402
from workloads.cifar10 import CLASS_NAMES  # noqa: E402

V1 = "/v1/models/cifar10:predict"
V2 = "/v2/models/cifar10/infer"


def _images(n: int, seed: int = 0) -> np.ndarray:
    from workloads.cifar10.data import synthetic_arrays

    return synthetic_arrays(n, seed=seed)[0]


def _direct(trained: TrainedRun, images: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    from workloads.cifar10.export import LoadedClassifier

    return LoadedClassifier(str(trained.export_dir))(tf.constant(images)).numpy()


def test_server_listens_on_loopback_only(predictor: str) -> None:
    assert predictor.startswith("http://127.0.0.1:")
    assert httpx.get(f"{predictor}/v1/models/cifar10").json() == {"name": "cifar10",
                                                                   "ready": True}
    assert httpx.get(f"{predictor}/v2/models/cifar10/ready").status_code == 200


def test_v1_predict_returns_ten_probabilities_per_image(predictor: str,
                                                        trained: TrainedRun) -> None:
    images = _images(3)
    response = httpx.post(f"{predictor}{V1}", json={"instances": images.tolist()})
    assert response.status_code == 200, response.text
    predictions = np.array(response.json()["predictions"])
    assert predictions.shape == (3, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(predictions, _direct(trained, images), atol=1e-6)


def test_v1_can_add_class_labels(predictor: str) -> None:
    body = httpx.post(f"{predictor}{V1}",
                      json={"instances": _images(2).tolist(), "return_labels": True}).json()
    assert len(body["labels"]) == 2
    assert body["labels"] == [CLASS_NAMES[int(np.argmax(p))] for p in body["predictions"]]


@pytest.mark.parametrize("datatype", ["FP32", "UINT8"])
def test_v2_infer_returns_probabilities(predictor: str, trained: TrainedRun,
                                        datatype: str) -> None:
    images = _images(2, seed=1)
    request = {"inputs": [{"name": "images", "shape": [2, 32, 32, 3], "datatype": datatype,
                           "data": images.flatten().tolist()}]}
    response = httpx.post(f"{predictor}{V2}", json=request)
    assert response.status_code == 200, response.text
    output = response.json()["outputs"][0]
    assert output["name"] == "probabilities" and output["shape"] == [2, 10]
    assert output["datatype"] == "FP32"
    probs = np.array(output["data"]).reshape(2, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(probs, _direct(trained, images), atol=1e-6)


IMAGE = np.zeros((32, 32, 3), dtype=int).tolist()

MALFORMED_V1 = {
    "not JSON": (b"{instances: nope", 400, "Unrecognized request format"),
    "JSON but not an object": (json.dumps([IMAGE]), 400,
                               'request body must be a JSON object like {"instances": [...]}'),
    "no instances field": (json.dumps({"inputs": [IMAGE]}), 400,
                           'request body has no "instances" field'),
    "instances not a list": (json.dumps({"instances": "cat.png"}), 400,
                             "instances must be a list of 32×32×3 images, got str"),
    "empty batch": (json.dumps({"instances": []}), 400, "instances is empty; send 1 to 8 images"),
    "oversized batch": (json.dumps({"instances": [IMAGE] * 9}), 413,
                        "batch of 9 instances is too large; send at most 8"),
    "wrong image shape": (json.dumps({"instances": [np.zeros((28, 28, 3)).tolist()]}), 400,
                          "instances has shape [1, 28, 28, 3]; expected [N, 32, 32, 3]"),
    "ragged images": (json.dumps({"instances": [IMAGE, np.zeros((32, 32)).tolist()]}), 400,
                      "instances[1] has shape [32, 32]; expected [32, 32, 3]"),
    "strings": (json.dumps({"instances": [np.full((32, 32, 3), "x").tolist()]}), 400,
                "instances must hold numbers in [0, 255], got 'U' values (strings)"),
    "booleans": (json.dumps({"instances": [np.full((32, 32, 3), True).tolist()]}), 400,
                 "got 'b' values (booleans)"),
    "nulls": (json.dumps({"instances": [[[[None, 1, 2]] * 32] * 32]}), 400,
              "instances must hold only numbers"),
    "negative pixels": (json.dumps({"instances": [np.full((32, 32, 3), -1).tolist()]}), 400,
                        "instances values must be finite and in [0, 255], got min -1 max -1"),
    "pixels above 255": (json.dumps({"instances": [np.full((32, 32, 3), 256.5).tolist()]}), 400,
                         "got min 256.5 max 256.5"),
}


def _still_serving(url: str) -> None:
    response = httpx.post(f"{url}{V1}", json={"instances": [IMAGE]})
    assert response.status_code == 200 and len(response.json()["predictions"][0]) == 10


@pytest.mark.parametrize("case", sorted(MALFORMED_V1))
def test_malformed_v1_requests_get_4xx_with_a_message(predictor: str, case: str) -> None:
    body, status, message = MALFORMED_V1[case]
    response = httpx.post(f"{predictor}{V1}", content=body,
                          headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    _still_serving(predictor)


def test_non_json_content_type_is_rejected(predictor: str) -> None:
    response = httpx.post(f"{predictor}{V1}", content=b"\x89PNG...",
                          headers={"content-type": "image/png"})
    assert response.status_code == 400
    assert "sent with Content-Type application/json" in response.json()["error"]
    _still_serving(predictor)


def _v2(shape: list[int], datatype: str, data: list) -> dict:
    return {"inputs": [{"name": "images", "shape": shape, "datatype": datatype, "data": data}]}


MALFORMED_V2 = {
    "wrong shape": (_v2([1, 32, 32], "FP32", [0.0] * 1024), 400,
                    "input 'images' has shape [1, 32, 32]; expected [N, 32, 32, 3]"),
    "data does not fill the shape": (_v2([2, 32, 32, 3], "FP32", [0.0, 1.0]), 400,
                                     "input 'images' data has 2 values; its shape needs 6144"),
    "string tensor": (_v2([1, 32, 32, 3], "BYTES", ["a"] * 3072), 400,
                      "input 'images' has datatype BYTES"),
    "out of range": (_v2([1, 32, 32, 3], "FP32", [300.0] * 3072), 400,
                     "values must be finite and in [0, 255]"),
    "oversized batch": (_v2([9, 32, 32, 3], "UINT8", [0] * 9 * 3072), 413,
                        "batch of 9 instances is too large"),
    "two inputs": ({"inputs": [_v2([1, 32, 32, 3], "FP32", [0.0] * 3072)["inputs"][0]] * 2}, 400,
                   "send exactly one input tensor, got 2"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_V2))
def test_malformed_v2_requests_get_4xx_with_a_message(predictor: str, case: str) -> None:
    body, status, message = MALFORMED_V2[case]
    response = httpx.post(f"{predictor}{V2}", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    _still_serving(predictor)


def test_v2_body_without_inputs_is_a_validation_error(predictor: str) -> None:
    response = httpx.post(f"{predictor}{V2}", json={"instances": [IMAGE]})
    assert response.status_code == 400
    assert response.json() == {"error": "inputs: Field required"}
    _still_serving(predictor)


def test_model_dir_resolves_to_the_highest_version(trained: TrainedRun, tmp_path: Path) -> None:
    from workloads.cifar10.serve import resolve_model_dir

    for version in ("1", "3", "notes"):
        shutil.copytree(trained.export_dir, tmp_path / version)
    (tmp_path / "10").mkdir()  # a version folder still being written: no saved_model.pb yet
    assert resolve_model_dir(str(tmp_path)) == f"{tmp_path}/3"
    assert resolve_model_dir(str(tmp_path / "1")) == f"{tmp_path}/1"
    with pytest.raises(FileNotFoundError, match=r"no SavedModel in .*empty"):
        (tmp_path / "empty").mkdir()
        resolve_model_dir(str(tmp_path / "empty"))


def test_mlp_serve_without_a_model_exits_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlp.cli import app

    result = CliRunner().invoke(app, ["serve", "--model-dir", str(tmp_path), "--port", "0"])
    assert result.exit_code == 2
    assert f"no SavedModel in {tmp_path}: expected saved_model.pb" in result.output


def test_the_predictor_warms_up_and_freezes_its_heap_before_serving(
        trained: TrainedRun, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full collection over TensorFlow's objects stalls every request for ~0.1 s; the heap
    left by loading is frozen, after one warm-up answer, before the first request is read."""
    import gc

    from workloads.cifar10 import serve

    seen: dict[str, object] = {}
    warmed = serve.Cifar10Model.predict_blank

    def predict_blank(model: serve.Cifar10Model) -> np.ndarray:
        seen["frozen_at_warm_up"] = gc.get_freeze_count()
        answer = warmed(model)
        seen["warm_up_rows"] = answer.shape
        return answer

    def run(_server: serve.PredictorServer) -> None:
        seen["frozen_when_serving"] = gc.get_freeze_count()

    monkeypatch.setattr(serve.Cifar10Model, "predict_blank", predict_blank)
    monkeypatch.setattr(serve.PredictorServer, "run", run)
    try:
        assert serve.main(["--model-dir", str(trained.export_dir.parent), "--port", "0"]) == 0
    finally:
        gc.unfreeze()
    assert seen["warm_up_rows"] == (1, len(CLASS_NAMES))
    assert seen["frozen_when_serving"] > seen["frozen_at_warm_up"] + 100_000


@pytest.mark.parametrize(("signatures", "says"), [
    ({"predict"}, "has no 'serving_default' signature (it has predict)"),
    ({"serving_default", "serving_uint8"}, "signature 'serving_default' takes 'x' float32 "
                                           "[None, 4] and answers 'y'"),
])
def test_a_savedmodel_that_is_not_a_cifar10_export_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], signatures: set[str],
        says: str) -> None:
    import tensorflow as tf

    from workloads.cifar10.serve import main

    class Foreign(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def double(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"y": x * 2}

    module = Foreign()
    tf.saved_model.save(module, str(tmp_path / "1"),
                        signatures={name: module.double for name in signatures})
    assert main(["--model-dir", str(tmp_path), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the SavedModel at ") and says in err and "\n" not in err
