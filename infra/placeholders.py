"""Placeholder values in the shipped stack files, and the guard that keeps them from the cloud.

The stack files under `stacks/` ship with values that only stand in for a user's own: project ids
ending in `-000000`, the all-zero billing account, and control-plane networks from the ranges
RFC 5737 reserves for documentation. The offline preview runs with them. A real `pulumi up` (or
`pulumi preview`) must not: it would fail half-way against a project that does not exist, or
open the control plane to a network nobody owns. The program refuses to declare anything while
any is left, and names each one.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from infra.config import PlatformConfig

PLACEHOLDER_PROJECT = re.compile(r"-0{6}$")
"""The shipped project ids: `mlp-dev-000000`, `mlp-prod-000000`, ..."""
PLACEHOLDER_BILLING_ACCOUNT = "000000-000000-000000"
DOCUMENTATION_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
"""TEST-NET-1/2/3, reserved for documentation by RFC 5737
(https://www.rfc-editor.org/rfc/rfc5737): no real client ever has such an address."""
EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org")
"""Second-level domains reserved for examples by RFC 2606
(https://www.rfc-editor.org/rfc/rfc2606): no alert sent there reaches anyone."""


@dataclass(frozen=True)
class Placeholder:
    """One setting still at a shipped stand-in value."""

    key: str
    """Where it is set, as `pulumi config set` names it."""
    value: str
    why: str

    def __str__(self) -> str:
        return f"{self.key}={self.value} ({self.why})"


def find_placeholders(cfg: PlatformConfig) -> list[Placeholder]:
    """Every setting of `cfg` that is still a shipped placeholder, in stack-file order."""
    found = []
    if PLACEHOLDER_PROJECT.search(cfg.project):
        found.append(Placeholder("gcp:project", cfg.project, "set your project id"))
    if cfg.budget and cfg.budget.billing_account == PLACEHOLDER_BILLING_ACCOUNT:
        found.append(Placeholder("budget.billing_account", cfg.budget.billing_account,
                                 "set your billing account id"))
    for i, channel in enumerate(cfg.monitoring.notification_channels):
        if channel.address.lower().rsplit("@", 1)[-1] in EXAMPLE_DOMAINS:
            found.append(Placeholder(f"monitoring.notification_channels[{i}].address",
                                     channel.address,
                                     "an RFC 2606 example domain; set your team's address"))
    if cfg.has_cluster:
        for i, net in enumerate(cfg.cluster.authorized_networks):
            cidr = ipaddress.ip_network(net.cidr, strict=False)
            if any(cidr.subnet_of(doc) for doc in DOCUMENTATION_NETWORKS
                   if cidr.version == doc.version):
                found.append(Placeholder(f"cluster.authorized_networks[{i}].cidr", net.cidr,
                                         "an RFC 5737 documentation range; set your own network"))
    return found


def placeholder_message(stack: str, found: list[Placeholder]) -> str:
    """The one error a real deploy of a stack with placeholders stops with."""
    return (f"stack '{stack}' still has {len(found)} placeholder value(s); set them before "
            f"`pulumi up` (nothing was created): " + "; ".join(map(str, found)))


def running_offline() -> bool:
    """True under Pulumi's mocks (the offline preview, tests), where no cloud is reached.

    A real engine never hands the program a mock monitor, so this cannot be switched on from
    outside the process, unlike an environment variable.
    """
    from pulumi.runtime import mocks, settings

    return isinstance(settings.get_monitor(), mocks.MockMonitor)
