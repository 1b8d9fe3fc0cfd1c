"""A short path for V1 predict requests: decode, call the KServe model, encode.

KServe answers `POST /v1/models/<name>:predict` through FastAPI: middlewares, routing, the data
plane's decoding and encoding. On a small model that costs about as much CPU per request as the
model itself (`workloads/cifar10/benchmarks/results.yaml`, `serving`), and with batching the
model's share shrinks further. This ASGI wrapper takes a plain JSON V1 request to the served
model, decodes it with orjson as KServe does, calls the KServe model (`Model.__call__`: its
preprocess, predict and postprocess, and its latency histograms) and encodes the answer with
orjson as KServe's `ORJSONResponse` does, so the bytes answered are the same.

Anything else takes KServe's own path, unchanged: other routes, CloudEvents, other content
types, a model not ready, and every request the short path cannot answer with 200 (malformed
JSON, invalid instances, a body over the limit, a client that went away): those are replayed
into KServe's application with the body already read, so refusals keep their status, message
and log line exactly.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_PREDICT = re.compile(r"/v1/models/(?P<name>[^/]+):predict")
JSON_TYPES = (b"application/json", b"application/json; charset=utf-8")
"""Content types KServe decodes as JSON; a request without one is JSON too."""
CLOUDEVENT_KEYS = {"time", "type", "source", "id", "specversion", "data"}
"""Fields of a structured CloudEvent, which KServe unwraps: such bodies take its path."""


class _Replay(Exception):
    """The short path gives the request to KServe's application."""


class FastV1Predict:
    """ASGI wrapper: V1 predicts for `model` on the short path, the rest to `app`."""

    def __init__(self, app: ASGIApp, model: Any) -> None:
        self.app = app
        self.model = model

    def _takes(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST":
            return False
        match = _PREDICT.fullmatch(scope["path"])
        if not match or match["name"] != self.model.name or not self.model.ready:
            return False
        for name, value in scope["headers"]:
            if name.startswith(b"ce-") or (name == b"content-type"
                                           and value.lower() not in JSON_TYPES):
                return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._takes(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        ending: Message | BaseException | None = None
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    ending = message
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except Exception as err:  # the body limit, raised by the receive it wraps
            ending = err
        body = b"".join(chunks)
        if ending is None:
            try:
                answer = await self._answer(scope, body)
            except _Replay:
                pass
            else:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(answer)).encode())]})
                await send({"type": "http.response.body", "body": answer})
                return
        await self.app(scope, _replay(body, ending, receive), send)

    async def _answer(self, scope: Scope, body: bytes) -> bytes:
        """The encoded answer, or _Replay when KServe's path must answer instead."""
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _Replay from None
        if (not isinstance(payload, dict) or "instances" not in payload
                or payload.keys() >= CLOUDEVENT_KEYS):
            raise _Replay
        headers = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in scope["headers"]}
        try:
            response, _headers = await self.model(payload, headers=headers)
        except Exception:  # refused input, or a failure KServe reports in its own way
            raise _Replay from None
        if not isinstance(response, dict):
            raise _Replay
        return orjson.dumps(response)


def _replay(body: bytes, ending: Message | BaseException | None, receive: Receive) -> Receive:
    """A receive that gives the body already read, then what ended the reading early (a
    disconnect, or the body limit's exception) if anything did, then whatever the connection
    sends next."""
    stage = 0

    async def replay() -> Message:
        nonlocal stage
        if stage == 0:
            stage = 1
            if body or ending is None:
                return {"type": "http.request", "body": body, "more_body": ending is not None}
        if stage == 1:
            stage = 2
            if isinstance(ending, BaseException):
                raise ending
            if ending is not None:
                return ending
        return await receive()

    return replay
