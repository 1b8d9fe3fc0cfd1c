"""The short V1 path: plain JSON predicts are answered by the model directly; everything else,
and every request it cannot answer 200, reaches KServe's application with the body intact."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.cifar10.fast_v1 import FastV1Predict
from workloads.cifar10.guards import BodyTooLarge


class FakeModel:
    """KServe's model interface: `name`, `ready`, `await model(body, headers=...)`."""

    def __init__(self, refuse: bool = False) -> None:
        self.name = "cifar10"
        self.ready = True
        self.refuse = refuse
        self.calls: list[dict] = []

    async def __call__(self, body: dict, headers: dict | None = None) -> tuple[dict, dict]:
        self.calls.append(body)
        if self.refuse:
            raise ValueError("refused")
        return {"predictions": [[0.25, 0.75]] * len(body["instances"])}, {}


class Inner:
    """KServe's application as the wrapper sees it: records what it read and answers 299."""

    def __init__(self) -> None:
        self.read: list[Any] = []
        self.calls = 0

    async def __call__(self, scope: dict, receive, send) -> None:
        self.calls += 1
        while True:
            try:
                message = await receive()
            except BodyTooLarge as err:
                self.read.append(err)
                break
            self.read.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"kserve"})


def scope(path: str = "/v1/models/cifar10:predict", method: str = "POST",
          headers: list[tuple[bytes, bytes]] | None = None) -> dict:
    return {"type": "http", "method": method, "path": path,
            "headers": headers if headers is not None else [(b"content-type",
                                                             b"application/json")]}


def call(app: FastV1Predict, request_scope: dict, messages: list[Any]) -> list[dict]:
    """Run the ASGI app with `messages` as what the client sends (an exception is raised by
    receive, as the body limit does); returns what it sent."""
    sent: list[dict] = []
    queue = list(messages)

    async def receive() -> dict:
        item = queue.pop(0) if queue else {"type": "http.disconnect"}
        if isinstance(item, BaseException):
            raise item
        return item

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(request_scope, receive, send))
    return sent


def body(data: bytes, more: bool = False) -> dict:
    return {"type": "http.request", "body": data, "more_body": more}


V1 = json.dumps({"instances": [[[[1, 2, 3]] * 32] * 32] * 2}).encode()


def test_a_plain_v1_predict_is_answered_without_kserves_application() -> None:
    model, inner = FakeModel(), Inner()
    sent = call(FastV1Predict(inner, model), scope(), [body(V1[:100], True), body(V1[100:])])
    assert inner.calls == 0 and len(model.calls) == 1
    assert sent[0]["status"] == 200
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    assert orjson.loads(sent[1]["body"]) == {"predictions": [[0.25, 0.75]] * 2}
    assert dict(sent[0]["headers"])[b"content-length"] == str(len(sent[1]["body"])).encode()


@pytest.mark.parametrize(("request_scope", "why"), [
    (scope("/v1/models/other:predict"), "another model"),
    (scope("/v2/models/cifar10/infer"), "V2"),
    (scope(method="GET"), "not a POST"),
    (scope(headers=[(b"content-type", b"text/plain")]), "not JSON"),
    (scope(headers=[(b"ce-specversion", b"1.0")]), "a binary CloudEvent"),
])
def test_other_requests_go_to_kserve_untouched(request_scope: dict, why: str) -> None:
    model, inner = FakeModel(), Inner()
    sent = call(FastV1Predict(inner, model), request_scope, [body(V1)])
    assert inner.calls == 1 and model.calls == [], why
    assert inner.read == [body(V1)] and sent[0]["status"] == 299


@pytest.mark.parametrize(("data", "refuse"), [
    (b"{not json", False), (b"[1, 2]", False), (b'{"inputs": []}', False),
    (json.dumps({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "time": "x",
                 "data": {"instances": []}}).encode(), False),
    (V1, True),
])
def test_what_the_short_path_cannot_answer_is_replayed_with_the_same_body(
        data: bytes, refuse: bool) -> None:
    model, inner = FakeModel(refuse=refuse), Inner()
    sent = call(FastV1Predict(inner, model), scope(), [body(data[:5], True), body(data[5:])])
    assert inner.calls == 1 and sent[0]["status"] == 299
    assert b"".join(m["body"] for m in inner.read) == data
    assert not inner.read[-1]["more_body"]


def test_a_model_not_ready_goes_to_kserve() -> None:
    model, inner = FakeModel(), Inner()
    model.ready = False
    call(FastV1Predict(inner, model), scope(), [body(V1)])
    assert inner.calls == 1 and model.calls == []


def test_the_body_limit_reaches_kserve_after_the_part_already_read() -> None:
    model, inner = FakeModel(), Inner()
    limit = BodyTooLarge(10)
    call(FastV1Predict(inner, model), scope(), [body(b"0123456789", True), limit])
    assert inner.read[0] == body(b"0123456789", True) and inner.read[1] is limit
    assert model.calls == []


def test_a_client_that_goes_away_is_a_disconnect_for_kserve_too() -> None:
    model, inner = FakeModel(), Inner()
    call(FastV1Predict(inner, model), scope(), [body(b'{"inst', True),
                                                {"type": "http.disconnect"}])
    assert inner.read == [body(b'{"inst', True), {"type": "http.disconnect"}]
    assert model.calls == []


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=5))
def test_any_body_in_any_chunks_reaches_kserve_whole_when_not_answered(
        data: bytes, cuts: list[int]) -> None:
    model, inner = FakeModel(refuse=True), Inner()
    points = sorted({c for c in cuts if c < len(data)} | {0})
    chunks = [data[a:b] for a, b in zip(points, [*points[1:], len(data)], strict=True)]
    messages = [body(c, i < len(chunks) - 1) for i, c in enumerate(chunks)]
    call(FastV1Predict(inner, model), scope(), messages)
    assert b"".join(m["body"] for m in inner.read) == data


def test_the_short_path_answers_the_same_bytes_as_kserves_own_route(predictor: str) -> None:
    """The running predictor (short path) against KServe's application called directly."""
    import httpx

    from workloads.cifar10.serve import _kserve_app

    payload = {"instances": [[[[(x * 7 + y) % 256, y, 3] for x in range(32)] for y in range(32)]],
               "return_labels": True}
    url = "/v1/models/cifar10:predict"
    short = httpx.post(predictor + url, json=payload, timeout=60)

    async def through_kserve() -> httpx.Response:
        transport = httpx.ASGITransport(app=_kserve_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://kserve") as client:
            return await client.post(url, json=payload)

    direct = asyncio.run(through_kserve())
    assert short.status_code == direct.status_code == 200
    assert short.content == direct.content
    assert short.headers["content-type"] == direct.headers["content-type"]
    assert set(short.json()) == {"predictions", "labels"}
