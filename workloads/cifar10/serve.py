"""KServe custom predictor for the exported SavedModel: `python -m workloads.cifar10.serve`.

Protocols (model name `cifar10`):

- V1: `POST /v1/models/cifar10:predict` with `{"instances": [image, ...]}`, each image a
  32×32×3 nested list of numbers in [0, 255] → `{"predictions": [[p0..p9], ...]}` in
  `CLASS_NAMES` order; add `"return_labels": true` to also get `"labels"`.
- V2 / Open Inference Protocol: `POST /v2/models/cifar10/infer` with one input of shape
  [N, 32, 32, 3] (FP32, FP64, FP16, UINT8, UINT16 or INT*) → output `probabilities` FP32 [N, 10].

Every malformed request is answered 4xx with `{"error": message}` before any inference runs:
400 for bodies that are not JSON objects, wrong shapes, wrong types, values out of range for the
image or for the V2 datatype, inconsistent binary sizes and empty batches; 413 for batches over
`max_batch` and bodies over the body limit; 408 for requests that arrive too slowly (see
`guards`). Each refusal is one WARNING log line with the request id; the server keeps serving.
SIGTERM stops accepting connections, lets in-flight requests finish and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from fastapi import Request, Response
from kserve import InferInput, InferOutput, InferRequest, InferResponse, Model
from kserve.errors import InvalidInput
from pydantic import BaseModel, ConfigDict, ValidationError

from facts.cli import ArgumentParser, print_error
from facts.text import shown, whole_number
from facts.verbosity import print_traceback_if_debug
from workloads.cifar10 import CLASS_NAMES, IMAGE_SHAPE, MODEL_NAME, model_threads
from workloads.cifar10.batching import Batcher, BatchSettings, add_arguments, settings_from
from workloads.cifar10.features import FEATURE_LOG_ENV, FEATURE_RATE_ENV, FeatureLog
from workloads.cifar10.guards import (
    DEFAULT_DRAIN_TIMEOUT_S,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_REQUEST_TIMEOUT_S,
    REQUEST_ID_HEADER,
    BodyTooLarge,
    Limits,
    Refused,
    log,
    log_refusal,
)
from workloads.cifar10.model_folder import (
    default_model_dir,
    local_model_problem,
    resolve_model_dir,
)

DEFAULT_MAX_BATCH = 128
V2_DTYPES = {"FP32": np.float32, "FP64": np.float64, "FP16": np.float16, "UINT8": np.uint8,
             "UINT16": np.uint16, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
             "INT64": np.int64}
"""V2 datatypes the predictor accepts, spelled as the protocol spells them, and their dtypes."""
LONGEST_PIXEL = 2.2250738585072014e-308
"""A value in [0, 255] whose shortest float64 text is the longest possible (23 characters)."""
BODY_HEADROOM = 1.25
"""Factor over the most verbose body for `--max-batch` images: whitespace, other encodings."""
BODY_ENVELOPE_BYTES = 64 * 1024
"""Room for the JSON around the images: field names, ids, parameters."""
INFERENCE_HEADER = "inference-header-content-length"
"""The V2 binary extension's header: bytes of JSON before the binary tensor data."""


class BatchTooLarge(Refused):
    """413: more instances than the server accepts in one request."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(status_code=413,
                         detail=f"batch of {size} instances is too large; send at most {limit}")


def default_max_body_bytes(max_batch: int) -> int:
    """The body limit for `max_batch` images: their most verbose accepted encoding, V1 JSON with
    every value written as the longest float64 text in [0, 255], plus headroom."""
    image = json.dumps(np.full(IMAGE_SHAPE, LONGEST_PIXEL).tolist())
    most_verbose = max_batch * (len(image) + len(", "))
    return math.ceil(most_verbose * BODY_HEADROOM) + BODY_ENVELOPE_BYTES


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
    return {"b": "booleans", "U": "strings", "S": "bytes", "c": "complex numbers",
            "O": "nulls, mixed values or integers beyond 64 bits"}.get(kind, kind)


class _V2Input(BaseModel):
    """One V2 input tensor, strictly typed: shapes are JSON integers, never strings or floats."""

    model_config = ConfigDict(strict=True)
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list | None = None


class _V2Request(BaseModel):
    """A V2 inference request body (or the JSON part of a binary one)."""

    model_config = ConfigDict(strict=True)
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[_V2Input]
    outputs: list[dict[str, Any]] | None = None


def decode_v2(body: bytes, headers: Any, model_name: str) -> InferRequest:
    """A checked InferRequest from a V2 body, JSON or JSON + binary tensors; else InvalidInput.

    KServe's own decoding coerces `"1"` to 1 in shapes, lets -1 stand for any size, and raises
    500s for values that overflow the datatype or binary data of the wrong size.
    """
    json_part, binary = body, b""
    declared = headers.get(INFERENCE_HEADER)
    if declared is not None:
        size = whole_number(declared, digits=len(str(len(body))))
        if not isinstance(size, int) or size > len(body):
            raise InvalidInput(f"{INFERENCE_HEADER} is {shown(declared)}; it must be an integer "
                               f"from 0 to {len(body)}, the body's size")
        json_part, binary = body[:size], body[size:]
    try:
        request = _V2Request.model_validate_json(json_part)
    except ValidationError as err:
        raise InvalidInput(_validation_message(err)) from None
    inputs, offset = [], 0
    for tensor in request.inputs:
        array, used = _v2_array(tensor, binary[offset:])
        offset += used
        infer_input = InferInput(tensor.name, list(array.shape), tensor.datatype)
        infer_input.set_data_from_numpy(array, binary_data=True)
        inputs.append(infer_input)
    if offset != len(binary):
        raise InvalidInput(f"the body has {len(binary) - offset} bytes after the last input's "
                           f"binary data; binary_data_size must add up to the binary part "
                           f"({len(binary)} bytes)")
    return InferRequest(model_name, inputs, request_id=request.id,
                        parameters=request.parameters)


def _validation_message(err: ValidationError) -> str:
    """Pydantic's first error as one line: `inputs[0].shape[1]: Input should be ..., got '32'`."""
    first = err.errors(include_url=False)[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
    got = "" if first["type"] in ("missing", "json_invalid") else f", got {first['input']!r}"[:120]
    return f"{where.lstrip('.') or 'body'}: {first['msg']}{got}"


def _v2_array(tensor: _V2Input, binary: bytes) -> tuple[np.ndarray, int]:
    """The tensor's values as an array of its datatype, and the binary bytes they took."""
    label = f"input {tensor.name!r}"
    dtype = V2_DTYPES.get(tensor.datatype)
    if dtype is None:
        raise InvalidInput(f"{label} has datatype {tensor.datatype}; use one of "
                           f"{', '.join(sorted(V2_DTYPES))}")
    if any(size < 0 for size in tensor.shape):
        raise InvalidInput(f"{label} has shape {tensor.shape}; sizes must be integers ≥ 0")
    count = math.prod(tensor.shape)
    if tensor.data is not None:
        if tensor.datatype == "FP16":
            raise InvalidInput(f"{label}: send FP16 as binary data, JSON cannot carry it")
        return _json_values(tensor.data, dtype, count, label).reshape(tensor.shape), 0
    size = (tensor.parameters or {}).get("binary_data_size")
    need = count * np.dtype(dtype).itemsize
    if type(size) is not int or size != need:
        raise InvalidInput(f"{label} has no data and binary_data_size {size!r}; shape "
                           f"{tensor.shape} of {tensor.datatype} needs {need} bytes")
    if len(binary) < need:
        raise InvalidInput(f"{label} needs {need} bytes of binary data, the body has "
                           f"{len(binary)} left")
    return np.frombuffer(binary[:need], dtype=dtype).reshape(tensor.shape), need


def _json_values(data: list, dtype: type, count: int, label: str) -> np.ndarray:
    """JSON numbers (flat or nested row-major) as `dtype`, refusing what the dtype cannot hold."""
    try:
        values = np.asarray(data)
    except ValueError:
        raise InvalidInput(f"{label} data is ragged; send a flat list or nested lists of "
                           "equal length") from None
    if values.size != count:
        raise InvalidInput(f"{label} data has {values.size} values; its shape needs {count}")
    target = np.dtype(dtype)
    if values.size == 0:
        return np.zeros(0, target)
    if values.dtype.kind not in "iuf" or (values.dtype.kind == "f" and target.kind != "f"):
        what = "non-integers" if values.dtype.kind == "f" else _kind_name(values.dtype.kind)
        raise InvalidInput(f"{label} data must be {_number_kind(target)} for {target.name}, "
                           f"got {what}")
    info = np.finfo(target) if target.kind == "f" else np.iinfo(target)
    low, high = values.min(), values.max()
    if low < info.min or high > info.max:
        raise InvalidInput(f"{label} value {low if low < info.min else high} does not fit "
                           f"{target.name}; use {_bound(info.min)} to {_bound(info.max)}")
    return values.astype(target).reshape(-1)


def _bound(value: float) -> str:
    return f"{value:g}" if isinstance(value, float | np.floating) else str(value)


def _number_kind(dtype: np.dtype) -> str:
    return "numbers" if dtype.kind == "f" else "integers"


class Cifar10Model(Model):
    """Loads the SavedModel and answers V1 and V2 predict requests."""

    def __init__(self, model_dir: str, name: str = MODEL_NAME,
                 max_batch: int = DEFAULT_MAX_BATCH, batching: BatchSettings | None = None
                 ) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self.max_batch = max_batch
        self.classifier = None
        self.feature_log: FeatureLog | None = None
        """Where the monitored features of sampled requests go (`features.FeatureLog`)."""
        settings = batching or BatchSettings()
        self.batcher = Batcher(self._probabilities, settings) if settings.enabled else None

    def load(self) -> bool:
        from workloads.cifar10.export import LoadedClassifier

        self.classifier = LoadedClassifier(resolve_model_dir(self.model_dir))
        self.ready = True
        return self.ready

    def _probabilities(self, images: np.ndarray) -> np.ndarray:
        return self.classifier(images).numpy()

    def predict_blank(self) -> np.ndarray:
        """The model's answer for one black image, outside any request: a warm-up."""
        return self._probabilities(np.zeros((1, *IMAGE_SHAPE), np.float32))

    def _observe(self, images: np.ndarray, probs: np.ndarray, headers: dict | None) -> None:
        """Hand the batch to the feature log, which samples and writes it off this path."""
        if self.feature_log is not None:
            self.feature_log.observe(images, probs, (headers or {}).get(REQUEST_ID_HEADER))

    async def _infer(self, images: np.ndarray) -> np.ndarray:
        """Probabilities for `images`, batched with concurrent requests (see `batching`)."""
        if self.batcher is not None:
            return await self.batcher.predict(images)
        return await asyncio.get_running_loop().run_in_executor(None, self._probabilities,
                                                                images)

    async def predict(self, payload: dict | InferRequest | bytes, headers: dict | None = None,
                      response_headers: dict | None = None) -> dict | InferResponse:
        if isinstance(payload, InferRequest):
            images = self._v2_images(payload)
            probs = await self._infer(images)
            self._observe(images, probs, headers)
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
        probs = await self._infer(images)
        self._observe(images, probs, headers)
        body: dict[str, Any] = {"predictions": probs.tolist()}
        if payload.get("return_labels") is True:
            body["labels"] = [CLASS_NAMES[i] for i in probs.argmax(axis=1)]
        return body

    def _v2_images(self, request: InferRequest) -> np.ndarray:
        if len(request.inputs) != 1:
            raise InvalidInput(f"send exactly one input tensor, got {len(request.inputs)}")
        tensor = request.inputs[0]
        if len(tensor.shape) != 4 or tuple(tensor.shape[1:]) != IMAGE_SHAPE:
            raise InvalidInput(f"input {tensor.name!r} has shape {list(tensor.shape)}; "
                               "expected [N, 32, 32, 3]")
        # decode_v2 has checked the data against the shape and datatype
        return validate_images(tensor.as_numpy(), f"input {tensor.name!r}", self.max_batch)


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host:port` (0 picks a free port); OSError if it is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class PredictorServer:
    """A KServe REST server bound to `host:port` (port 0 picks a free one); no gRPC.

    Served through uvicorn's h11 protocol with the header and request timeouts of `limits`, its
    keep-alive timeout as the idle timeout, and a body limit in front of KServe's application.
    """

    def __init__(self, model: Cifar10Model, host: str = "127.0.0.1", port: int = 0,
                 limits: Limits | None = None, listener: socket.socket | None = None) -> None:
        from kserve import ModelServer
        from kserve.protocol.rest.server import RESTServer

        from workloads.cifar10.fast_v1 import FastV1Predict
        from workloads.cifar10.guards import BodyLimit, guarded_protocol
        from workloads.cifar10.http_metrics import RequestMetrics

        self.limits = limits or Limits(default_max_body_bytes(model.max_batch))
        self._socket = listener or bind(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        self._model_server = ModelServer(http_port=self.port, enable_grpc=False, workers=1,
                                         enable_latency_logging=False)
        self._model_server._register_and_check_atleast_one_model_is_ready([model])
        self._rest = RESTServer("kserve.model_server:app", self._model_server.dataplane,
                                self._model_server.model_repository_extension, self.port,
                                workers=1, grace_period=math.ceil(self.limits.drain_timeout_s))
        config = self._rest.config
        config.host = self.host
        config.app = RequestMetrics(
            BodyLimit(FastV1Predict(_kserve_app(), model), self.limits.max_body_bytes))
        config.http = guarded_protocol(self.limits)
        config.timeout_keep_alive = self.limits.idle_timeout_s
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def _server(self) -> Any:
        return self._rest._server

    def run(self) -> None:
        """Serve in this thread until SIGINT/SIGTERM, then drain in-flight requests and return."""
        app = _kserve_app()
        _route_v2_infer(app, self._model_server.dataplane)
        self._rest.create_application()
        _answer_refusals(app)
        self._server.handle_exit = self._drain
        self._server.run(sockets=[self._socket])

    def _drain(self, sig: int, _frame: object) -> None:
        """uvicorn's signal handler without its re-raise of the signal after shutdown, which
        made the process end by SIGTERM (-15) instead of exiting 0."""
        if self._server.should_exit and sig == signal.SIGINT:
            self._server.force_exit = True
            return
        log.info("received %s: finishing %d in-flight request(s), at most %g s",
                 signal.Signals(sig).name, len(self._server.server_state.tasks),
                 self.limits.drain_timeout_s)
        self._server.should_exit = True

    def start(self, timeout: float = 30.0) -> str:
        """Serve from a background thread; returns the base URL once it accepts connections."""
        self._thread = threading.Thread(target=self.run, name="cifar10-predictor", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"predictor did not start on {self.url}")
            time.sleep(0.05)
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def _kserve_app() -> Any:
    from kserve.model_server import app

    return app


def _route_v2_infer(app: Any, dataplane: Any) -> None:
    """Put our V2 infer route, which decodes with `decode_v2`, ahead of KServe's.

    KServe's application is one per process and its routes bind the first server's data plane,
    so this is done once per process too.
    """
    from fastapi.routing import APIRoute
    from kserve.protocol.rest.v2_endpoints import V2Endpoints

    if getattr(app.state, "cifar10_v2_route", False):
        return
    endpoints = V2Endpoints(dataplane)

    async def infer(raw_request: Request, raw_response: Response, model_name: str) -> Any:
        body = await raw_request.body()
        request = decode_v2(body, raw_request.headers, model_name)
        return await endpoints.infer(raw_request, raw_response, model_name, request)

    async def versioned(model_name: str, model_version: str) -> None:
        raise InvalidInput(f"model versions are not served: use /v2/models/{model_name}/infer")

    app.router.routes[:0] = [
        APIRoute("/v2/models/{model_name}/infer", infer, methods=["POST"], response_model=None),
        APIRoute("/v2/models/{model_name}/versions/{model_version}/infer", versioned,
                 methods=["POST"], response_model=None, include_in_schema=False)]
    app.state.cifar10_v2_route = True


def _answer_refusals(app: Any) -> None:
    """Answer refusals as `{"error": message}` with one WARNING line, and client disconnects
    with one DEBUG line; replaces KServe's handlers, which log each one as a traceback."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.requests import ClientDisconnect

    from workloads.cifar10.guards import REQUEST_ID_HEADER, request_id

    def refuse(request: Any, status: int, message: str) -> JSONResponse:
        rid = request.scope.get("state", {}).get("request_id") or request_id(
            request.scope["headers"])
        log_refusal(rid, status, message)
        return JSONResponse(status_code=status, content={"error": message},
                            headers={REQUEST_ID_HEADER: rid})

    async def invalid(request: Any, exc: InvalidInput) -> JSONResponse:
        return refuse(request, 400, str(exc))

    async def refused(request: Any, exc: Refused) -> JSONResponse:
        response = refuse(request, exc.status_code, str(exc.detail))
        if isinstance(exc, BodyTooLarge):  # the rest of the body is not worth reading
            response.headers["connection"] = "close"
        return response

    async def unvalidated(request: Any, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return refuse(request, 422, f"{where}: {first['msg']}")

    async def gone(request: Any, _exc: ClientDisconnect) -> Response:
        log.debug("client went away before request %s was read",
                  request.scope.get("state", {}).get("request_id"))
        return Response(status_code=400)

    for kind, handler in ((InvalidInput, invalid), (Refused, refused),
                          (RequestValidationError, unvalidated), (ClientDisconnect, gone)):
        app.add_exception_handler(kind, handler)


MAX_BODY_ENV = "PREDICTOR_MAX_BODY_BYTES"
TIMEOUTS = (
    ("header-timeout", DEFAULT_HEADER_TIMEOUT_S,
     "request line and headers must arrive within this, else 408"),
    ("request-timeout", DEFAULT_REQUEST_TIMEOUT_S,
     "the body must arrive within this after the headers, else 408"),
    ("idle-timeout", DEFAULT_IDLE_TIMEOUT_S, "an idle keep-alive connection is closed after this"),
    ("drain-timeout", DEFAULT_DRAIN_TIMEOUT_S,
     "after SIGTERM, in-flight requests get this long to finish"),
)
"""Flag, default and help of each timeout; the flag's dest is a field of `Limits` + `_s`."""


def build_parser(prog: str = "python -m workloads.cifar10.serve") -> argparse.ArgumentParser:
    """Arguments of the predictor; defaults follow Vertex AI (`AIP_*`) and KServe conventions."""
    p = ArgumentParser(prog=prog, allow_abbrev=False,
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       description="Serve the CIFAR-10 SavedModel over KServe V1 and V2.")
    p.add_argument("--model-dir", "--model_dir", dest="model_dir",
                   default=default_model_dir(),
                   help="SavedModel folder or its parent with numbered versions (local or gs://)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 in containers)")
    p.add_argument("--port", type=int, default=int(os.environ.get("AIP_HTTP_PORT", "8080")),
                   help="HTTP port (0 picks a free one)")
    p.add_argument("--model-name", default=MODEL_NAME, help="name in the URL path")
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                   help="largest batch one request may send")
    p.add_argument("--max-body-bytes", type=int, default=os.environ.get(MAX_BODY_ENV),
                   help=f"largest request body (${MAX_BODY_ENV}); default: what --max-batch "
                        "images need as V1 JSON with the longest numbers, plus 25%%")
    for name, default, what in TIMEOUTS:
        p.add_argument(f"--{name}", type=float, default=default, metavar="SECONDS", help=what)
    p.add_argument("--feature-log", default=os.environ.get(FEATURE_LOG_ENV) or None,
                   metavar="FOLDER",
                   help=f"write the monitored features of sampled requests under this folder "
                        f"(local or gs://; ${FEATURE_LOG_ENV}); default: not logged")
    p.add_argument("--feature-sample-rate", type=float,
                   default=os.environ.get(FEATURE_RATE_ENV) or _default_sample_rate(),
                   metavar="RATE",
                   help=f"share of requests whose features are logged, (0, 1] "
                        f"(${FEATURE_RATE_ENV}; default: workloads/monitoring/defaults.yaml)")
    add_arguments(p)
    model_threads.add_argument(p)
    return p


def _default_sample_rate() -> float:
    from workloads.monitoring.settings import load_settings

    return load_settings().sample_rate


def limits_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Limits:
    """The Limits the arguments ask for; parser.error (exit 2) on a value that is not allowed."""
    if args.max_body_bytes is None:
        args.max_body_bytes = default_max_body_bytes(args.max_batch)
    elif args.max_body_bytes < 1:
        parser.error(f"--max-body-bytes {args.max_body_bytes} is not allowed; use an integer ≥ 1")
    seconds = {}
    for name, _default, _what in TIMEOUTS:
        value = getattr(args, name.replace("-", "_"))
        if not (math.isfinite(value) and value > 0):
            parser.error(f"--{name} {value} is not allowed; use a number of seconds > 0")
        seconds[f"{name.replace('-', '_')}_s"] = value
    return Limits(args.max_body_bytes, **seconds)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Load the model and serve until SIGTERM/SIGINT (then exit 0); exit 2 on bad arguments,
    a port in use or a missing model."""
    parser = build_parser(prog) if prog else build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not allowed; use 0..65535")
    if args.max_batch < 1:
        parser.error(f"--max-batch {args.max_batch} is not allowed; use an integer ≥ 1")
    limits = limits_from(args, parser)
    rate = args.feature_sample_rate
    if not (math.isfinite(rate) and 0 < rate <= 1):
        parser.error(f"--feature-sample-rate {rate} is not allowed; use a number in (0, 1]")
    batching = settings_from(args, parser)
    threads = model_threads.threads_from(args, parser)
    problem = local_model_problem(args.model_dir)
    if problem:
        print_error(problem)
        return 2
    try:
        listener = bind(args.host, args.port)
    except OSError as err:
        print_traceback_if_debug()
        print_error(f"cannot listen on {args.host}:{args.port}: {err.strerror or err}; stop "
                    "what holds it or choose another --port")
        return 2
    from workloads.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    threads = model_threads.apply_threads(threads)
    from workloads.cifar10.export import NotAnExport

    model = Cifar10Model(args.model_dir, name=args.model_name, max_batch=args.max_batch,
                         batching=batching)
    try:
        model.load()
    except (FileNotFoundError, NotAnExport) as err:
        listener.close()
        print_traceback_if_debug()
        print_error(str(err))
        return 2
    if args.feature_log:
        model.feature_log = FeatureLog(args.feature_log, model_version(model.classifier.path),
                                       sample_rate=rate)
    server = PredictorServer(model, limits=limits, listener=listener)
    settle_heap(model)
    print(f"serving {args.model_name} from {model.classifier.path} on {server.url} (body limit "
          f"{limits.max_body_bytes} bytes; batches of up to {batching.max_size} images, waiting "
          f"at most {batching.max_wait_ms:g} ms; model operations on {threads or 'all'} "
          f"thread(s))", flush=True)
    try:
        server.run()
    finally:
        if model.feature_log is not None:
            model.feature_log.close()
    return 0


def settle_heap(model: Cifar10Model) -> None:
    """Answer one blank image, so that TensorFlow has built what a request touches, then move
    every object alive into the collector's permanent generation (`gc.freeze`).

    A V1 request decodes into about a thousand lists, so the collector runs often, and now and
    then it runs a full collection, which walks every object the process holds: about 460,000
    once TensorFlow, KServe and the model are loaded, some 110 ms on one core in which no
    request is read or answered. That pause was the p99 at 16 clients (`serving` in
    `benchmarks/results.yaml`). Frozen objects are never walked again; what requests allocate
    is collected as before.
    """
    model.predict_blank()
    gc.collect()
    gc.freeze()


def model_version(path: str) -> str:
    """The served version: the numbered folder the SavedModel is in (`.../cifar10/3` → `3`),
    else the folder's name."""
    return path.rstrip("/").rsplit("/", 1)[-1] or "unknown"


if __name__ == "__main__":
    sys.exit(main())
