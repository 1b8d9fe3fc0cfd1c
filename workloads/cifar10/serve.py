"""KServe custom predictor for the exported SavedModel: `python -m workloads.cifar10.serve`.

Protocols (model name `cifar10`):

- V1: `POST /v1/models/cifar10:predict` with `{"instances": [image, ...]}`, each image a
  32×32×3 nested list of numbers in [0, 255] → `{"predictions": [[p0..p9], ...]}` in
  `CLASS_NAMES` order; add `"return_labels": true` to also get `"labels"`.
- V2 / Open Inference Protocol: `POST /v2/models/cifar10/infer` with one input of shape
  [N, 32, 32, 3] (FP32, FP64, FP16, UINT8, UINT16 or INT*) → output `probabilities` FP32 [N, 10].

Every malformed request is answered 4xx with `{"error": message}` before any inference runs:
400 for bodies that are not JSON objects, wrong shapes, wrong types, out-of-range values and
empty batches, 413 for batches over `max_batch`; the server keeps serving.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from fastapi import HTTPException
from kserve import InferOutput, InferRequest, InferResponse, Model
from kserve.errors import InvalidInput

from workloads.cifar10 import CLASS_NAMES, IMAGE_SHAPE, MODEL_NAME

DEFAULT_MAX_BATCH = 128
V2_DTYPES = {"FP32", "FP64", "FP16", "UINT8", "UINT16", "INT8", "INT16", "INT32", "INT64"}


class BatchTooLarge(HTTPException):
    """413: more instances than the server accepts in one request."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(status_code=413,
                         detail=f"batch of {size} instances is too large; send at most {limit}")


def _answer_413_as_error() -> None:
    """Give 413 answers the same `{"error": message}` body as KServe's own 4xx answers."""
    from fastapi.responses import JSONResponse
    from kserve.model_server import app

    async def handler(_request: object, exc: BatchTooLarge) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"error": exc.detail})

    app.add_exception_handler(BatchTooLarge, handler)


def resolve_model_dir(path: str) -> str:
    """The SavedModel folder: `path` itself, or its highest numbered version subfolder."""
    import tensorflow as tf

    base = path.rstrip("/")
    if tf.io.gfile.exists(f"{base}/saved_model.pb"):
        return base
    versions = sorted((int(name.strip("/")) for name in
                       (tf.io.gfile.listdir(base) if tf.io.gfile.isdir(base) else [])
                       if name.strip("/").isdigit()), reverse=True)
    for version in versions:
        if tf.io.gfile.exists(f"{base}/{version}/saved_model.pb"):
            return f"{base}/{version}"
    raise FileNotFoundError(f"no SavedModel in {path!r}: expected saved_model.pb there or in a "
                            f"numbered version folder such as {base}/1")


def validate_images(array_like: Any, field: str, max_batch: int) -> np.ndarray:
    """A float32 [N, 32, 32, 3] batch, or InvalidInput / BatchTooLarge naming what is wrong."""
    if not isinstance(array_like, list | np.ndarray):
        raise InvalidInput(f"{field} must be a list of 32×32×3 images, got "
                           f"{type(array_like).__name__}")
    if len(array_like) == 0:
        raise InvalidInput(f"{field} is empty; send 1 to {max_batch} images")
    if len(array_like) > max_batch:
        raise BatchTooLarge(len(array_like), max_batch)
    try:
        array = np.asarray(array_like)
    except ValueError:
        array = None
    if array is None or array.dtype == object:
        for index, item in enumerate(array_like):
            shape = _shape_of(item)
            if shape != IMAGE_SHAPE:
                raise InvalidInput(f"{field}[{index}] has shape {_shape_text(shape)}; "
                                   f"expected [32, 32, 3]")
        raise InvalidInput(f"{field} must hold only numbers (found null or mixed values)")
    if array.dtype.kind not in "iuf":
        raise InvalidInput(f"{field} must hold numbers in [0, 255], got {array.dtype.kind!r} "
                           f"values ({_kind_name(array.dtype.kind)})")
    if array.shape[1:] != IMAGE_SHAPE:
        raise InvalidInput(f"{field} has shape {list(array.shape)}; expected [N, 32, 32, 3]")
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 255:
        raise InvalidInput(f"{field} values must be finite and in [0, 255], got min "
                           f"{array.min()} max {array.max()}")
    return array.astype(np.float32, copy=False)


def _shape_of(item: Any) -> tuple[int, ...] | str:
    try:
        return np.shape(item)
    except ValueError:
        return "ragged"


def _shape_text(shape: Any) -> str:
    return shape if isinstance(shape, str) else str(list(shape))


def _kind_name(kind: str) -> str:
    return {"b": "booleans", "U": "strings", "S": "bytes", "c": "complex numbers"}.get(kind, kind)


class Cifar10Model(Model):
    """Loads the SavedModel and answers V1 and V2 predict requests."""

    def __init__(self, model_dir: str, name: str = MODEL_NAME,
                 max_batch: int = DEFAULT_MAX_BATCH) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self.max_batch = max_batch
        self.classifier = None

    def load(self) -> bool:
        from workloads.cifar10.export import LoadedClassifier

        self.classifier = LoadedClassifier(resolve_model_dir(self.model_dir))
        self.ready = True
        return self.ready

    def _probabilities(self, images: np.ndarray) -> np.ndarray:
        return self.classifier(images).numpy()

    async def predict(self, payload: dict | InferRequest | bytes, headers: dict | None = None,
                      response_headers: dict | None = None) -> dict | InferResponse:
        loop = asyncio.get_running_loop()
        if isinstance(payload, InferRequest):
            images = self._v2_images(payload)
            probs = await loop.run_in_executor(None, self._probabilities, images)
            output = InferOutput("probabilities", list(probs.shape), "FP32")
            output.set_data_from_numpy(probs.astype(np.float32), binary_data=False)
            return InferResponse(payload.id or str(uuid.uuid4()), self.name, [output])
        if not isinstance(payload, dict):
            raise InvalidInput('request body must be a JSON object like {"instances": [...]} '
                               "sent with Content-Type application/json")
        if "instances" not in payload:
            raise InvalidInput('request body has no "instances" field; send '
                               '{"instances": [image, ...]}')
        images = validate_images(payload["instances"], "instances", self.max_batch)
        probs = await loop.run_in_executor(None, self._probabilities, images)
        body: dict[str, Any] = {"predictions": probs.tolist()}
        if payload.get("return_labels") is True:
            body["labels"] = [CLASS_NAMES[i] for i in probs.argmax(axis=1)]
        return body

    def _v2_images(self, request: InferRequest) -> np.ndarray:
        if len(request.inputs) != 1:
            raise InvalidInput(f"send exactly one input tensor, got {len(request.inputs)}")
        tensor = request.inputs[0]
        if tensor.datatype not in V2_DTYPES:
            raise InvalidInput(f"input {tensor.name!r} has datatype {tensor.datatype}; use one "
                               f"of {', '.join(sorted(V2_DTYPES))}")
        if len(tensor.shape) != 4 or tuple(tensor.shape[1:]) != IMAGE_SHAPE:
            raise InvalidInput(f"input {tensor.name!r} has shape {list(tensor.shape)}; "
                               "expected [N, 32, 32, 3]")
        try:
            array = tensor.as_numpy()
        except (ValueError, TypeError) as err:
            raise InvalidInput(f"input {tensor.name!r} data does not match its shape "
                               f"{list(tensor.shape)} and datatype: {err}") from None
        return validate_images(array, f"input {tensor.name!r}", self.max_batch)


class PredictorServer:
    """A KServe REST server bound to `host:port` (port 0 picks a free one); no gRPC."""

    def __init__(self, model: Cifar10Model, host: str = "127.0.0.1", port: int = 0) -> None:
        from kserve import ModelServer
        from kserve.protocol.rest.server import RESTServer

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self._model_server = ModelServer(http_port=self.port, enable_grpc=False, workers=1,
                                         enable_latency_logging=False)
        self._model_server._register_and_check_atleast_one_model_is_ready([model])
        self._rest = RESTServer("kserve.model_server:app", self._model_server.dataplane,
                                self._model_server.model_repository_extension, self.port,
                                workers=1, grace_period=5)
        self._rest.config.host = host
        _answer_413_as_error()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def run(self) -> None:
        """Serve in this thread until SIGINT/SIGTERM."""
        self._rest.run(sockets=[self._socket])

    def start(self, timeout: float = 30.0) -> str:
        """Serve from a background thread; returns the base URL once it accepts connections."""
        self._thread = threading.Thread(target=self.run, name="cifar10-predictor", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._rest._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"predictor did not start on {self.url}")
            time.sleep(0.05)
        return self.url

    def stop(self) -> None:
        self._rest._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def build_parser(prog: str = "python -m workloads.cifar10.serve") -> argparse.ArgumentParser:
    """Arguments of the predictor; defaults follow Vertex AI (`AIP_*`) and KServe conventions."""
    p = argparse.ArgumentParser(prog=prog, allow_abbrev=False,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="Serve the CIFAR-10 SavedModel over KServe V1 and V2.")
    p.add_argument("--model-dir", "--model_dir", dest="model_dir",
                   default=os.environ.get("AIP_STORAGE_URI", "/mnt/models"),
                   help="SavedModel folder or its parent with numbered versions (local or gs://)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 in containers)")
    p.add_argument("--port", type=int, default=int(os.environ.get("AIP_HTTP_PORT", "8080")),
                   help="HTTP port (0 picks a free one)")
    p.add_argument("--model-name", default=MODEL_NAME, help="name in the URL path")
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                   help="largest batch one request may send")
    return p


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Load the model and serve until interrupted; exit 2 on bad arguments or a missing model."""
    parser = build_parser(prog) if prog else build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not allowed; use 0..65535")
    if args.max_batch < 1:
        parser.error(f"--max-batch {args.max_batch} is not allowed; use an integer ≥ 1")
    model = Cifar10Model(args.model_dir, name=args.model_name, max_batch=args.max_batch)
    try:
        model.load()
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    server = PredictorServer(model, host=args.host, port=args.port)
    print(f"serving {args.model_name} from {model.classifier.path} on {server.url}", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
