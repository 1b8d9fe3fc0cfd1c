"""The predictor under hostile input: V2 values its datatype cannot hold, inconsistent binary
sizes, loose shapes and datatype spellings, bodies over the limit, and generated bodies."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest

pytest.importorskip("tensorflow")
httpx = pytest.importorskip("httpx")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.workloads.test_serve import V1, V2, _still_serving, _v2  # noqa: E402

N = 3072  # values in one 32×32×3 image

BAD_V2 = {
    "UINT8 300": (_v2([1, 32, 32, 3], "UINT8", [300] * N),
                  "input 'images' value 300 does not fit uint8; use 0 to 255"),
    "UINT8 -1": (_v2([1, 32, 32, 3], "UINT8", [-1] * N),
                 "input 'images' value -1 does not fit uint8; use 0 to 255"),
    "INT8 200": (_v2([1, 32, 32, 3], "INT8", [200] * N),
                 "input 'images' value 200 does not fit int8; use -128 to 127"),
    "INT64 2^70": (_v2([1, 32, 32, 3], "INT64", [2**70] * N),
                   "input 'images' data must be integers for int64, got nulls, mixed values or "
                   "integers beyond 64 bits"),
    "INT32 1.5": (_v2([1, 32, 32, 3], "INT32", [1.5] * N),
                  "input 'images' data must be integers for int32, got non-integers"),
    "INT32 booleans": (_v2([1, 32, 32, 3], "INT32", [True] * N),
                       "input 'images' data must be integers for int32, got booleans"),
    "FP32 as strings": (_v2([1, 32, 32, 3], "FP32", ["1.0"] * N),
                        "input 'images' data must be numbers for float32, got strings"),
    "FP32 1e300": (_v2([1, 32, 32, 3], "FP32", [1e300] * N),
                   "input 'images' value 1e+300 does not fit float32"),
    "shape -1": (_v2([-1, 32, 32, 3], "FP32", [0.0] * N),
                 "input 'images' has shape [-1, 32, 32, 3]; sizes must be integers ≥ 0"),
    "shape as strings": (_v2(["1", "32", "32", "3"], "FP32", [0.0] * N),
                         "inputs[0].shape[0]: Input should be a valid integer, got '1'"),
    "shape as string": (_v2("1,32,32,3", "FP32", [0.0] * N),  # type: ignore[arg-type]
                        "inputs[0].shape: Input should be a valid array"),
    "shape 1.0": (_v2([1.0, 32, 32, 3], "FP32", [0.0] * N),
                  "inputs[0].shape[0]: Input should be a valid integer, got 1.0"),
    "shape 1.5": (_v2([1.5, 32, 32, 3], "FP32", [0.0] * N),
                  "inputs[0].shape[0]: Input should be a valid integer, got 1.5"),
    "datatype fp32": (_v2([1, 32, 32, 3], "fp32", [0.0] * N),
                      "input 'images' has datatype fp32; use one of FP16, FP32"),
    "datatype float32": (_v2([1, 32, 32, 3], "float32", [0.0] * N),
                         "input 'images' has datatype float32"),
    "ragged data": (_v2([1, 32, 32, 3], "FP32", [[0.0], [0.0, 1.0]]),
                    "input 'images' data is ragged"),
    "inputs not a list": ({"inputs": 5}, "inputs: Input should be a valid array"),
}


@pytest.mark.parametrize("case", sorted(BAD_V2))
def test_bad_v2_values_shapes_and_datatypes_get_400(predictor: str, case: str) -> None:
    body, message = BAD_V2[case]
    response = httpx.post(f"{predictor}{V2}", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    _still_serving(predictor)


def _binary_v2(url: str, header: dict, data: bytes,
               declared: str | None = None) -> httpx.Response:
    """A V2 request in the binary extension: JSON header, then raw tensor bytes."""
    head = json.dumps(header).encode()
    return httpx.post(f"{url}{V2}", content=head + data, headers={
        "content-type": "application/octet-stream",
        "inference-header-content-length": declared if declared is not None else str(len(head))})


def _binary_header(size: object) -> dict:
    return {"inputs": [{"name": "images", "shape": [1, 32, 32, 3], "datatype": "UINT8",
                        "parameters": {"binary_data_size": size}}]}


def test_v2_binary_data_of_the_declared_size_is_served(predictor: str) -> None:
    response = _binary_v2(predictor, _binary_header(N), bytes(N))
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["shape"] == [1, 10]


BAD_BINARY = {
    "shorter than binary_data_size": (N, N - 5, None,
                                      "input 'images' needs 3072 bytes of binary data, the body "
                                      "has 3067 left"),
    "longer than binary_data_size": (N, N + 5, None, "the body has 5 bytes after the last input"),
    "binary_data_size not the shape's": (N - 1, N - 1, None,
                                         "binary_data_size 3071; shape [1, 32, 32, 3] of UINT8 "
                                         "needs 3072 bytes"),
    "binary_data_size as text": ("3072", N, None, "binary_data_size '3072'"),
    "header length not a number": (N, N, "abc", "inference-header-content-length is 'abc'"),
    "header length negative": (N, N, "-5", "inference-header-content-length is '-5'"),
    "header length past the body": (N, N, "99999", "it must be an integer from 0 to"),
    "header length of 5,000 digits": (N, N, "9" * 5000,
                                      "inference-header-content-length is '99999"),
}


@pytest.mark.parametrize("case", sorted(BAD_BINARY))
def test_inconsistent_v2_binary_sizes_get_400(predictor: str, case: str) -> None:
    declared_size, sent, header_length, message = BAD_BINARY[case]
    response = _binary_v2(predictor, _binary_header(declared_size), bytes(sent), header_length)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    _still_serving(predictor)


def test_v2_versioned_route_is_a_4xx_not_a_501(predictor: str) -> None:
    response = httpx.post(f"{predictor}/v2/models/cifar10/versions/1/infer",
                          json=_v2([1, 32, 32, 3], "FP32", [0.0] * N))
    assert response.status_code == 400
    assert "model versions are not served" in response.json()["error"]


# --- body limit --------------------------------------------------------------------------------

def _limit() -> int:
    from workloads.cifar10.serve import default_max_body_bytes

    return default_max_body_bytes(8)  # the fixture's --max-batch


def test_default_body_limit_admits_a_full_batch_in_the_most_verbose_encoding(
        predictor: str) -> None:
    from workloads.cifar10.serve import LONGEST_PIXEL

    body = json.dumps({"instances": [np.full((32, 32, 3), LONGEST_PIXEL).tolist()] * 8}).encode()
    assert len(body) < _limit() < 2 * len(body)
    response = httpx.post(f"{predictor}{V1}", content=body,
                          headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text


def _raw_exchange(url: str, head: bytes, body: bytes = b"", timeout: float = 10) -> bytes:
    """Send `head` and `body` on a fresh connection; everything the server answers until close."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_declared_body_over_the_limit_is_refused_before_it_is_sent(predictor: str) -> None:
    """Only the headers go out: the 413 comes back without the server waiting for the body."""
    size = _limit() + 1
    answer = _raw_exchange(predictor, f"POST {V1} HTTP/1.1\r\nhost: x\r\ncontent-type: "
                           f"application/json\r\ncontent-length: {size}\r\n\r\n".encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"connection: close" in head.lower()
    assert json.loads(body) == {"error": f"request body of {size} bytes is larger than the "
                                         f"limit of {_limit()} bytes (--max-body-bytes)"}
    _still_serving(predictor)


def test_chunked_body_over_the_limit_is_cut_off(predictor: str) -> None:
    piece = b" " * 65536
    sent = 0

    # Far more than the limit, so that a server reading it all is told apart from one that
    # stops: what the client gets out before the 413 is the limit plus the sockets' buffers
    # (a few MB on loopback), never the whole body.
    offered = 64 * _limit()

    def chunks():
        nonlocal sent
        while sent < offered:
            sent += len(piece)
            yield piece

    response = httpx.post(f"{predictor}{V1}", content=chunks(),
                          headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["error"]
    assert sent < offered  # the server stopped the upload instead of reading it all
    _still_serving(predictor)


# --- generated bodies --------------------------------------------------------------------------

PIXELS = st.one_of(st.integers(-300, 300), st.floats(allow_nan=False, width=64),
                   st.sampled_from([0, 255, 2**70, -2**63, 1.5, "7", None, True, []]))
JUNK = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
DATATYPES = st.sampled_from(["FP32", "FP64", "FP16", "UINT8", "UINT16", "INT8", "INT16", "INT32",
                             "INT64", "fp32", "BYTES", "BOOL", "", "UINT8 "])
SHAPES = st.one_of(st.just([1, 32, 32, 3]), st.just([2, 32, 32, 3]),
                   st.lists(st.one_of(st.integers(-2, 40), st.sampled_from(["1", 1.0, None])),
                            max_size=5))


@st.composite
def v1_bodies(draw: st.DrawFn) -> object:
    """V1 bodies: a batch of one image filled with a drawn pixel, or junk in its place."""
    count = draw(st.integers(0, 10))
    pixel = draw(PIXELS)
    instances = draw(st.one_of(st.just([np.full((32, 32, 3), 0).tolist()] * count)
                               if isinstance(pixel, list) else
                               st.just([[[[pixel] * 3] * 32] * 32] * count), JUNK))
    return draw(st.sampled_from([{"instances": instances, "return_labels": draw(JUNK)},
                                 {"instances": instances}, instances]))


@st.composite
def v2_bodies(draw: st.DrawFn) -> object:
    """V2 bodies: one or more inputs with drawn shapes, datatypes and data of fitting size."""
    shape = draw(SHAPES)
    size = int(np.prod([s for s in shape if isinstance(s, int) and s > 0] or [1]))
    fill = draw(PIXELS)
    data = draw(st.one_of(st.just([fill] * min(size, 2 * N * 3)), JUNK))
    tensor = {"name": draw(st.one_of(st.just("images"), JUNK)), "shape": shape,
              "datatype": draw(DATATYPES), "data": data}
    for key in draw(st.lists(st.sampled_from(list(tensor)), max_size=2)):
        tensor.pop(key, None)
    return {"inputs": [tensor] * draw(st.integers(0, 2)), "id": draw(st.one_of(st.none(), JUNK))}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.data_too_large])
@given(route=st.sampled_from([V1, V2]), body=st.one_of(v1_bodies(), v2_bodies()))
def test_generated_bodies_get_2xx_or_4xx_never_5xx_40_examples(predictor: str, route: str,
                                                                 body: object) -> None:
    """40 generated V1/V2 bodies, valid and not, each sent to V1 or V2: never a 5xx, and the
    server answers a good request after each."""
    response = httpx.post(f"{predictor}{route}", content=json.dumps(body),
                          headers={"content-type": "application/json"}, timeout=60)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert isinstance(response.json()["error"], str)
    _still_serving(predictor)
