"""GKE managed Prometheus's PodMonitoring (`monitoring.googleapis.com/v1`) as a strict model.

Neither the Kubernetes OpenAPI schemas nor an SDK describe this custom resource, so rendered
ones are checked against the fields the platform uses, from the CRD's reference
(https://github.com/GoogleCloudPlatform/prometheus-engine/blob/main/doc/api.md#podmonitoring):
a label selector and scrape endpoints (port by number or name, path, interval, timeout). An
unknown field or a wrong type is a problem, as for the built-in kinds.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_DURATION = r"^[0-9]+(ms|s|m|h)$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Metadata(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = None


class _Selector(_Strict):
    matchLabels: dict[str, str] = Field(min_length=1)


class _Endpoint(_Strict):
    port: int | str
    path: str = "/metrics"
    scheme: str | None = None
    interval: str | None = Field(default=None, pattern=_DURATION)
    timeout: str | None = Field(default=None, pattern=_DURATION)


class _Spec(_Strict):
    selector: _Selector
    endpoints: list[_Endpoint] = Field(min_length=1)


class PodMonitoring(_Strict):
    apiVersion: str = Field(pattern=r"^monitoring\.googleapis\.com/v1$")
    kind: str = Field(pattern=r"^PodMonitoring$")
    metadata: _Metadata
    spec: _Spec
