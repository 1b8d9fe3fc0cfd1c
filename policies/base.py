"""Building blocks shared by every policy module: policy metadata, typed policy classes, and
helpers that read CrossGuard's property proxies.

A policy is written once as a *check*: a generator that yields one message per violation. The
classes here wrap it in pulumi-policy's own `ResourceValidationPolicy` / `StackValidationPolicy`,
so the same object serves the real `pulumi preview --policy-pack` and the offline runner.

Props reach a check through pulumi-policy's unknown-checking proxy: reading a value that is
unknown at preview raises `UnknownValueError`, which both runners report as "not applicable".
Proxies are `Mapping`/`Sequence`, not `dict`/`list`, so checks test types with `is_map`/`is_list`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

ADVISORY = EnforcementLevel.ADVISORY
MANDATORY = EnforcementLevel.MANDATORY


@dataclass(frozen=True)
class Rule:
    """What a policy is, independent of how it checks.

    Attributes:
        id: stable catalogue id (SEC-01, WL-06, ...), unique in the pack.
        name: the CrossGuard policy name (kebab-case, unique in the pack).
        description: one sentence: what must hold.
        severity: impact of a violation.
        enforcement: default enforcement when a stack's config does not set one.
        remediation: how to fix a violation.
        anchor: CIS GKE / Checkov id the rule follows, or None when none exists.
        domain: security, gpu-cost, reliability or workloads.
        config: JSON-schema properties (each with a `default`) for the thresholds.
    """

    id: str
    name: str
    description: str
    severity: Severity
    enforcement: EnforcementLevel
    remediation: str
    anchor: str | None
    domain: str
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        return {k: v["default"] for k, v in self.config.items() if "default" in v}

    def framework(self) -> PolicyComplianceFramework:
        if self.anchor is None:
            return PolicyComplianceFramework(name="ml-platform", reference=self.id)
        source = "CIS GKE Benchmark" if self.anchor.startswith("CIS") else "Checkov"
        return PolicyComplianceFramework(name=source, reference=self.anchor)


def make_rule(domain: str, id_: str, name: str, description: str, severity: Severity,
              remediation: str, anchor: str | None = None,
              enforcement: EnforcementLevel = MANDATORY,
              config: Mapping[str, Mapping[str, Any]] | None = None) -> Rule:
    """A `Rule` of one domain; modules bind their domain once (``partial(make_rule, ...)``)."""
    return Rule(id=id_, name=name, description=description, severity=severity,
                enforcement=enforcement, remediation=remediation, anchor=anchor, domain=domain,
                config=config or {})


ResourceCheck = Callable[[Mapping[str, Any], dict[str, Any], ResourceValidationArgs],
                         Iterable[str]]
StackCheck = Callable[[Sequence[PolicyResource], dict[str, Any]], Iterable[tuple[str, str | None]]]


def _pulumi_kwargs(rule: Rule) -> dict[str, Any]:
    schema = PolicyConfigSchema(properties={k: dict(v) for k, v in rule.config.items()})
    return {"name": rule.name, "description": rule.description,
            "enforcement_level": rule.enforcement, "severity": rule.severity,
            "config_schema": schema if rule.config else None,
            "framework": rule.framework(), "tags": [rule.id, rule.domain],
            "remediation_steps": rule.remediation}


class MlpResourcePolicy(ResourceValidationPolicy):
    """A resource policy that runs its check only on the listed resource types."""

    def __init__(self, rule: Rule, types: Iterable[str], check: ResourceCheck) -> None:
        self.rule = rule
        self.resource_types = frozenset(types)
        self._check = check
        super().__init__(validate=self._validate, **_pulumi_kwargs(rule))

    def applies_to(self, resource_type: str) -> bool:
        return resource_type in self.resource_types

    def _validate(self, args: ResourceValidationArgs, report: ReportViolation) -> None:
        if not self.applies_to(args.resource_type):
            return
        config = {**self.rule.defaults(), **dict(args.get_config())}
        for message in self._check(args.props, config, args):
            report(message, None)


class MlpStackPolicy(StackValidationPolicy):
    """A stack policy: sees every resource at once (budgets, disruption budgets)."""

    def __init__(self, rule: Rule, check: StackCheck) -> None:
        self.rule = rule
        self._check = check
        super().__init__(validate=self._validate, **_pulumi_kwargs(rule))

    def _validate(self, args: StackValidationArgs, report: ReportViolation) -> None:
        config = {**self.rule.defaults(), **dict(args.get_config())}
        for message, urn in self._check(args.resources, config):
            report(message, urn)


MlpPolicy = MlpResourcePolicy | MlpStackPolicy


def is_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def dig(obj: Any, *path: str | int) -> Any:
    """`obj[p0][p1]...`, or None as soon as a step is missing. Unknown values still raise."""
    for step in path:
        if isinstance(step, int):
            if not is_list(obj) or step >= len(obj):
                return None
        elif not is_map(obj) or step not in obj:
            return None
        obj = obj[step]
    return obj


def items(obj: Any) -> list[Any]:
    """A list value as a Python list; absent or non-list → []."""
    return list(obj) if is_list(obj) else []


def shown(value: Any) -> str:
    """A property value as a stack file or manifest would spell it, for violation messages.

    Python's spellings (`None`, `True`, `['a']`) mean nothing to someone who wrote YAML or JSON,
    so a missing or null value reads `not set (null)`, booleans `true`/`false`, strings keep their
    quotes (to show empty and padded values) and lists and maps are written as JSON."""
    if value is None:
        return "not set (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if is_map(value) or is_list(value):
        return json.dumps(_plain(value), sort_keys=True)
    return str(value)


def _plain(value: Any) -> Any:
    """`value` with property proxies turned into dicts and lists, for JSON."""
    if is_map(value):
        return {str(k): _plain(v) for k, v in value.items()}
    if is_list(value):
        return [_plain(v) for v in value]
    return value


def truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")
