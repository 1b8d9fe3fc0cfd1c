"""Prometheus metrics of every HTTP answer the predictor gives, for dashboards and SLO alerts.

KServe's own `/metrics` has the model's predict time (`request_predict_seconds`) but counts
neither answers by status nor the time a whole request takes, refusals included. `RequestMetrics`
wraps the application (outside the body limit, so a 413 counts too) and records:

- `cifar10_http_requests_total{route, code}`: answers by route kind and status code;
- `cifar10_http_request_seconds{route}`: time from the request's start to its last byte.

`route` is `predict` (V1 `:predict`, V2 `/infer`), `health`, `metrics` or `other`, never the raw
path, so a caller cannot create new series. GKE's managed Prometheus scrapes `/metrics`
(the serving chart's PodMonitoring); the stack's dashboard and alerts query these names.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Histogram

REQUESTS = Counter("cifar10_http_requests", "HTTP answers of the CIFAR-10 predictor",
                   ["route", "code"])
LATENCY = Histogram("cifar10_http_request_seconds",
                    "Time from request start to the answer's last byte", ["route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
METRIC_NAMES = ("cifar10_http_requests_total", "cifar10_http_request_seconds")
"""Names as Prometheus exposes them (a Counter gains `_total`), for the dashboards."""


def route_of(path: str) -> str:
    """The route kind of a request path (a small, fixed label set)."""
    if path.endswith(":predict") or path.endswith("/infer"):
        return "predict"
    if path == "/metrics":
        return "metrics"
    if path.startswith(("/v1/models", "/v2/health", "/v2/models")) or path == "/":
        return "health"
    return "other"


class RequestMetrics:
    """ASGI wrapper: count each HTTP answer by route and status, time it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        route = route_of(scope.get("path", ""))
        started = time.perf_counter()
        status = {"code": 500}

        async def recording_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                LATENCY.labels(route).observe(time.perf_counter() - started)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            REQUESTS.labels(route, str(status["code"])).inc()
