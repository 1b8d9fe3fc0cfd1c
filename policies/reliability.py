"""Reliability policies (REL-*): managed upgrades and repair, observability, GPU drivers, no
default node pool, and an alert on what the stack serves."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity

from policies.base import (
    MlpResourcePolicy,
    MlpStackPolicy,
    dig,
    items,
    make_rule,
    shown,
    truthy,
)
from policies.gpu_cost import accelerators
from policies.security import CLUSTER, NODE_POOL

CHANNELS = ("RAPID", "REGULAR", "STABLE", "EXTENDED")
INSTALLING_DRIVERS = ("DEFAULT", "LATEST")
Props = Mapping[str, Any]


def _operations(props: Props, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    channel = dig(props, "releaseChannel", "channel")
    if channel not in CHANNELS:
        yield f"releaseChannel.channel is {shown(channel)}: enrol in a release channel so GKE " \
              "patches the control plane and nodes"
    for service in ("loggingService", "monitoringService"):
        if dig(props, service) == "none":
            yield f"{service} is 'none'"
    for config in ("loggingConfig", "monitoringConfig"):
        if dig(props, config) is not None and not items(dig(props, config, "enableComponents")):
            yield f"{config}.enableComponents is empty"


def _pool_management(props: Props, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    for field in ("autoRepair", "autoUpgrade"):
        # Unset means GKE's default, which is on for both.
        if dig(props, "management", field) is False:
            yield f"management.{field} is false"


def _drivers(props: Props, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    for i, a in enumerate(accelerators(props)):
        version = dig(a, "gpuDriverInstallationConfig", "gpuDriverVersion")
        if version not in INSTALLING_DRIVERS:
            yield f"nodeConfig.guestAccelerators[{i}] ({shown(dig(a, 'type'))}) " \
                  f"gpuDriverVersion is {shown(version)}: GPU nodes come up without a driver and " \
                  "pods stay Pending"


def _no_default_pool(props: Props, _c: dict, _a: ResourceValidationArgs) -> Iterator[str]:
    if not truthy(dig(props, "enableAutopilot")) and not truthy(
            dig(props, "removeDefaultNodePool")):
        yield "removeDefaultNodePool is not true: the unmanaged default pool keeps running"


INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
ALERT_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
SERVING_SIGNALS = ("cifar10_http_", "aiplatform.googleapis.com/prediction/online/")
"""What a serving alert's condition reads: the predictor's Prometheus metrics (GKE) or the
Vertex AI endpoint's metrics."""


def _condition_text(condition: Any) -> str:
    parts = [dig(condition, "conditionPrometheusQueryLanguage", "query"),
             dig(condition, "conditionThreshold", "filter"),
             dig(condition, "conditionThreshold", "denominatorFilter")]
    return " ".join(p for p in parts if isinstance(p, str))


def serving_alerts(resources: Sequence[PolicyResource]) -> list[PolicyResource]:
    """Alert policies with a condition on serving metrics and at least one channel."""
    found = []
    for r in resources:
        if r.resource_type != ALERT_POLICY or not items(dig(r.props, "notificationChannels")):
            continue
        text = " ".join(_condition_text(c) for c in items(dig(r.props, "conditions")))
        if any(signal in text for signal in SERVING_SIGNALS):
            found.append(r)
    return found


def _serving_alert(resources: Sequence[PolicyResource],
                   _c: dict) -> Iterator[tuple[str, str | None]]:
    serving = [r for r in resources if r.resource_type in (INFERENCE_SERVICE, ENDPOINT)]
    if serving and not serving_alerts(resources):
        names = ", ".join(sorted({r.name for r in serving}))
        yield (f"the stack serves ({names}) but declares no alert policy on serving errors or "
               "latency with a notification channel: nobody hears when predictions fail",
               serving[0].urn)


_rule = partial(make_rule, "reliability")


POLICIES = [
    MlpResourcePolicy(_rule(
        "REL-01", "gke-release-channel-and-observability", "Clusters are on a release channel "
        "with Cloud Logging and Monitoring on.", Severity.MEDIUM, "Set release_channel "
        "(REGULAR or STABLE) and keep logging/monitoring components enabled."),
        [CLUSTER], _operations),
    MlpResourcePolicy(_rule(
        "REL-02", "gke-node-auto-repair-upgrade", "Node pools auto-repair and auto-upgrade.",
        Severity.MEDIUM, "Set management(auto_repair=True, auto_upgrade=True)."),
        [NODE_POOL], _pool_management),
    MlpResourcePolicy(_rule(
        "REL-03", "gpu-pool-drivers", "GPU node pools let GKE install the NVIDIA driver.",
        Severity.HIGH, "Set guest_accelerator.gpu_driver_installation_config.gpu_driver_version"
        " = 'DEFAULT' (or 'LATEST')."), [NODE_POOL], _drivers),
    MlpResourcePolicy(_rule(
        "REL-04", "gke-remove-default-pool", "Clusters remove the default node pool and "
        "manage pools separately.", Severity.LOW, "Set remove_default_node_pool = True and "
        "declare node pools as their own resources."), [CLUSTER], _no_default_pool),
    MlpStackPolicy(_rule(
        "REL-05", "serving-alert", "A stack that serves (an InferenceService or a Vertex AI "
        "endpoint) has an alert policy on serving errors or latency with a notification "
        "channel.", Severity.HIGH, "Set monitoring.enabled with a notification channel in the "
        "stack file: the platform declares serving error-rate and latency alerts against "
        "monitoring.serving_slo."), _serving_alert),
]
