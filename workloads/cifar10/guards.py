"""Transport guards of the predictor: body limit, receive timeouts, one-line refusals.

KServe serves through uvicorn, which has neither a body limit nor a timeout for a request that
arrives slowly (its keep-alive timer only runs between requests). These guards add both:

- `BodyLimit`, an ASGI wrapper, refuses a body over the limit with 413 before reading it when
  `Content-Length` declares it, and stops reading a chunked body as soon as it passes the limit.
- `guarded_protocol` builds uvicorn's h11 protocol with a header timeout (the request line and
  headers must arrive within it, from the connection's start or from the first byte of a kept-alive
  connection's next request) and a request timeout (the body must arrive within it, from the end
  of the headers). On expiry the client gets 408 and the connection is closed.

Refusals are logged as one WARNING line naming the request id and the reason; a client that goes
away mid-request is one DEBUG line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import h11
from fastapi import HTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("kserve.cifar10")
"""A child of KServe's logger, so its lines share KServe's handler and format."""

DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_REQUEST_TIMEOUT_S = 60.0
DEFAULT_IDLE_TIMEOUT_S = 65.0
"""Longer than the 60 s idle timeout of common proxies, so that the proxy closes first."""
DEFAULT_DRAIN_TIMEOUT_S = 20.0
"""In-flight requests get this long after SIGTERM; below Kubernetes' 30 s grace period."""

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"[\w.:@/+=-]{1,128}")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    """What one request may cost the server: body bytes and the seconds each phase may take."""

    max_body_bytes: int
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S


class Refused(HTTPException):
    """A request answered 4xx by the predictor's own checks (not KServe's)."""


class BodyTooLarge(Refused):
    """413: the body passed the limit while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=body_limit_message(limit))


def body_limit_message(limit: int, declared: int | None = None) -> str:
    """The one-line reason of a 413 for a body over `limit` bytes."""
    size = f"of {declared} bytes " if declared is not None else ""
    return f"request body {size}is larger than the limit of {limit} bytes (--max-body-bytes)"


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's `x-request-id` when it is a plain token, else a fresh one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER.encode():
            text = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(text):
                return text
    return uuid.uuid4().hex


def log_refusal(rid: str, status: int, reason: str) -> None:
    """One WARNING line per refused request: no traceback, the reason on one line."""
    log.warning("refused request %s: %d %s", rid, status, " ".join(reason.split()))


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


class BodyLimit:
    """ASGI wrapper: refuse bodies over `limit` bytes without buffering them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope["headers"])
        scope.setdefault("state", {})["request_id"] = rid
        declared = _content_length(scope["headers"])
        if declared is not None and declared > self.limit:
            message = body_limit_message(self.limit, declared)
            log_refusal(rid, 413, message)
            await _send_error(send, 413, message, rid)
            return
        await self.app(scope, self._capped(receive), send)

    def _capped(self, receive: Receive) -> Receive:
        """`receive`, raising BodyTooLarge once the body read so far passes the limit."""
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        return capped


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The declared body size; h11 has already refused a malformed or repeated value."""
    for name, value in headers:
        if name == b"content-length":
            return int(value)
    return None


async def _send_error(send: Send, status: int, message: str, rid: str) -> None:
    """A JSON `{"error": message}` answer that closes the connection (the body stays unread)."""
    body = error_body(message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (REQUEST_ID_HEADER.encode(), rid.encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def guarded_protocol(limits: Limits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the header and request timeouts of `limits`."""

    class GuardedH11Protocol(_ReceiveDeadlines):
        header_timeout_s = limits.header_timeout_s
        request_timeout_s = limits.request_timeout_s

    return GuardedH11Protocol


class _ReceiveDeadlines(H11Protocol):
    """H11Protocol that closes connections whose request does not arrive in time."""

    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase = ""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm("headers", self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow_request_state()

    def _follow_request_state(self) -> None:
        """Arm the deadline of the phase the client's request is in; a running one keeps going,
        so a slow client cannot extend it by sending a byte at a time."""
        state = self.conn.their_state
        if self.transport.is_closing() or state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED):
            self._disarm()
        elif state is h11.SEND_BODY:
            if self._phase != "body":
                self._disarm()
                self._arm("body", self.request_timeout_s)
        elif self._phase != "headers":
            self._arm("headers", self.header_timeout_s)

    def _arm(self, phase: str, seconds: float) -> None:
        self._disarm()
        self._phase = phase
        self._deadline = self.loop.call_later(seconds, self._expired, phase, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._phase = ""

    def _expired(self, phase: str, seconds: float) -> None:
        """408 and close; an application still waiting for the body sees a disconnect."""
        self._deadline = None
        self._phase = ""
        if self.transport.is_closing():
            return
        message = f"request {phase} not received within {seconds:g} s"
        cycle = self.cycle if phase == "body" else None
        rid = cycle.scope["state"].get("request_id") if cycle is not None else None
        log_refusal(rid or uuid.uuid4().hex, 408, message)
        if cycle is not None:
            if cycle.response_started:  # answered already (e.g. 413): only stop reading
                self.transport.close()
                return
            cycle.disconnected = True  # the application, still reading, sees a disconnect
        body = error_body(message)
        self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                             b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
                             % (len(body), body))
        self.transport.close()
