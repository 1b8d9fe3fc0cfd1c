"""Offline runner: evaluate the pack against an offline preview, as CrossGuard would.

Each resource's inputs are wrapped in pulumi-policy's own unknown-checking proxy and handed to
the policies as `ResourceValidationArgs` / `StackValidationArgs`, so a check behaves here exactly
as under `pulumi preview --policy-pack`: reading a value unknown at preview raises, and the check
is recorded as *not applicable* with the property path (never as a pass). `args.not_applicable()`
(exemptions, regional pools without zones) is recorded the same way.

Enforcement follows the Pulumi policy-pack config format (`--policy-pack-config FILE`):
`{"all": "advisory", "<policy>": "mandatory" | {"enforcementLevel": ..., "<property>": ...}}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.policy import _NotApplicableError  # what args.not_applicable() raises
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policies import CONFIG_DIR
from policies.base import MlpPolicy, MlpResourcePolicy, MlpStackPolicy
from policies.pack import all_policies

LEVELS = {level.value: level for level in EnforcementLevel}
SEVERITY_ORDER = ("critical", "high", "medium", "low")
JSON_TYPES: dict[str, tuple[type, ...]] = {"integer": (int,), "number": (int, float),
                                           "string": (str,), "boolean": (bool,),
                                           "array": (list,), "object": (dict,)}


class PolicyConfigError(ValueError):
    """A policy-pack config file that names an unknown policy, level or property."""


@dataclass(frozen=True)
class PackConfig:
    """Resolved enforcement level and properties for every policy."""

    source: str
    levels: dict[str, EnforcementLevel]
    properties: dict[str, dict[str, Any]]


def _check_property(where: str, schema: Mapping[str, Any], value: Any) -> None:
    kind = schema.get("type")
    ok = kind not in JSON_TYPES or (isinstance(value, JSON_TYPES[kind])
                                   and not (kind in ("integer", "number")
                                            and isinstance(value, bool)))
    if ok and kind == "array" and schema.get("items", {}).get("type") == "string":
        ok = all(isinstance(v, str) for v in value)
    if ok and kind in ("integer", "number") and "minimum" in schema:
        ok = value >= schema["minimum"]
    if not ok:
        minimum = f" ≥ {schema['minimum']}" if "minimum" in schema else ""
        raise PolicyConfigError(f"{where} is {value!r}; allowed: {kind}{minimum}")


def resolve_config(raw: Mapping[str, Any] | None, source: str,
                   policies: Iterable[MlpPolicy] | None = None) -> PackConfig:
    """Check a policy-pack config mapping and resolve it against the pack's defaults."""
    policies = list(policies if policies is not None else all_policies())
    by_name = {p.name: p for p in policies}
    raw = dict(raw or {})
    allowed_levels = ", ".join(LEVELS)

    def level(where: str, value: Any) -> EnforcementLevel:
        if value not in LEVELS:
            raise PolicyConfigError(f"{where} is {value!r}; allowed: {allowed_levels}")
        return LEVELS[value]

    default = level(f"{source}: all", raw.pop("all")) if "all" in raw else None
    levels = {p.name: default or p.rule.enforcement for p in policies}
    properties = {p.name: p.rule.defaults() for p in policies}
    for name, value in raw.items():
        if name not in by_name:
            raise PolicyConfigError(f"{source}: unknown policy {name!r}; allowed: 'all' or one "
                                    f"of {', '.join(sorted(by_name))}")
        if isinstance(value, str):
            levels[name] = level(f"{source}: {name}", value)
            continue
        if not isinstance(value, dict):
            raise PolicyConfigError(f"{source}: {name} must be a level or an object")
        schema = by_name[name].rule.config
        for key, prop in value.items():
            if key == "enforcementLevel":
                levels[name] = level(f"{source}: {name}.enforcementLevel", prop)
            elif key not in schema:
                known = ", ".join(["enforcementLevel", *schema])
                raise PolicyConfigError(f"{source}: {name}.{key} is not a property of {name}; "
                                        f"allowed: {known}")
            else:
                _check_property(f"{source}: {name}.{key}", schema[key], prop)
                properties[name][key] = prop
    return PackConfig(source, levels, properties)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def load_config(path: Path) -> PackConfig:
    """Read and resolve a policy-pack config JSON file; every problem is one `PolicyConfigError`
    line naming the file."""
    try:
        raw = json.loads(Path(path).read_text(), parse_constant=_not_json)
    except RecursionError:
        raise PolicyConfigError(f"{path}: cannot read policy config: nested too deeply"
                                ) from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise PolicyConfigError(f"{path}: cannot read policy config: {err}") from None
    if not isinstance(raw, dict):
        raise PolicyConfigError(f"{path}: top level must be an object")
    return resolve_config(raw, str(path))


def stack_configs() -> dict[str, Path]:
    """The shipped per-stack configs, by stack name."""
    return {p.stem: p for p in sorted(CONFIG_DIR.glob("*.json"))}


def config_for_stack(stack: str, shipped_only: bool = False) -> PackConfig:
    """`policies/config/<stack>.json` if the stack has one, else the pack's own defaults.

    The name is checked as a stack name and looked up among the shipped configs; it never
    becomes a path of its own.

    Args:
        stack: the stack whose config applies.
        shipped_only: refuse a stack that has neither a shipped stack file nor a config, so a
            misspelt name is an error rather than a silent fall-back to the defaults.

    Raises:
        PolicyConfigError: for an invalid stack name, an unknown one (with `shipped_only`), or
            an invalid config file.
    """
    from facts.stacks import StackNameError, check_stack_name, stack_names

    try:
        check_stack_name(stack)
    except StackNameError as err:
        raise PolicyConfigError(str(err)) from None
    configs = stack_configs()
    if stack not in configs:
        if shipped_only and stack not in stack_names():
            raise PolicyConfigError(
                f"stack '{stack}' has no stack file and no policy config; known stacks: "
                f"{', '.join(sorted({*configs, *stack_names()}))}; or give --config FILE")
        return resolve_config({}, "pack defaults")
    config = load_config(configs[stack])
    return PackConfig(f"policies/config/{stack}.json", config.levels, config.properties)


@dataclass(frozen=True)
class Violation:
    policy: str
    id: str
    severity: str
    enforcement: str
    message: str
    urn: str | None
    resource: str | None


@dataclass(frozen=True)
class NotApplicable:
    policy: str
    urn: str | None
    reason: str
    cause: str  # "unknown" (value unknown at preview), "exempt", or "other"


@dataclass
class Report:
    stack: str
    config: str
    policies: int
    checks: int = 0
    unknown_values: int = 0
    violations: list[Violation] = field(default_factory=list)
    not_applicable: list[NotApplicable] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement == "mandatory"]

    @property
    def passed(self) -> bool:
        return not self.mandatory

    def count(self, cause: str) -> int:
        return sum(1 for n in self.not_applicable if n.cause == cause)

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "config": self.config, "passed": self.passed,
                "summary": {"policies": self.policies, "checks": self.checks,
                            "violations": len(self.violations),
                            "mandatory_violations": len(self.mandatory),
                            "not_applicable": len(self.not_applicable),
                            "not_applicable_unknown": self.count("unknown"),
                            "exempt": self.count("exempt"),
                            "unknown_values_in_preview": self.unknown_values},
                "violations": [asdict(v) for v in self.violations],
                "not_applicable": [asdict(n) for n in self.not_applicable],
                "disabled": self.disabled}


def count_unknowns(value: Any) -> int:
    from pulumi_policy.proxy import _is_unknown

    if isinstance(value, dict):
        return sum(count_unknowns(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_unknowns(v) for v in value)
    return int(_is_unknown(value))


def _options(resource: Any) -> PolicyResourceOptions:
    return PolicyResourceOptions(bool(resource.protect), [], None, [],
                                 PolicyCustomTimeouts(0, 0, 0), [], resource.parent)


def evaluate(preview: Any, config: PackConfig,
             policies: Iterable[MlpPolicy] | None = None) -> Report:
    """Run every enabled policy over a `Preview` (or anything with `.stack` and `.resources`)."""
    policies = list(policies if policies is not None else all_policies())
    report = Report(preview.stack, config.source, len(policies))
    report.unknown_values = sum(count_unknowns(r.inputs) for r in preview.resources)
    names = {r.urn: r.name for r in preview.resources}

    for policy in policies:
        level = config.levels[policy.name]
        if level == EnforcementLevel.DISABLED:
            report.disabled.append(policy.name)
            continue
        if level == EnforcementLevel.REMEDIATE:
            level = EnforcementLevel.MANDATORY  # as the analyzer does for a failed remediation

        def run(urn: str | None, call: Any, policy: MlpPolicy = policy,
                level: EnforcementLevel = level) -> None:
            def report_violation(message: str, at: str | None = None) -> None:
                target = at or urn
                report.violations.append(Violation(
                    policy.name, policy.rule.id, policy.rule.severity.value, level.value,
                    message, target, names.get(target or "")))

            report.checks += 1
            try:
                call(report_violation)
            except UnknownValueError as err:
                report.not_applicable.append(NotApplicable(policy.name, urn, err.message,
                                                           "unknown"))
            except _NotApplicableError as err:
                reason = err.reason or "not applicable"
                cause = "exempt" if reason.startswith("exempt:") else "other"
                report.not_applicable.append(NotApplicable(policy.name, urn, reason, cause))

        props = config.properties[policy.name]
        if isinstance(policy, MlpResourcePolicy):
            for r in preview.resources:
                if not policy.applies_to(r.type):
                    continue
                args = ResourceValidationArgs(r.type, unknown_checking_proxy(r.inputs), r.urn,
                                              r.name, _options(r), None, config=dict(props))
                run(r.urn, lambda rv, a=args, p=policy: p.validate(a, rv))
        elif isinstance(policy, MlpStackPolicy):
            resources = [PolicyResource(r.type, unknown_checking_proxy(r.inputs), r.urn,
                                        r.name, _options(r), None, None, [], {})
                         for r in preview.resources]
            args = StackValidationArgs(resources, config=dict(props))
            run(None, lambda rv, a=args, p=policy: p.validate(a, rv))
    order = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    report.violations.sort(key=lambda v: (order.get(v.severity, 9), v.policy, v.urn or ""))
    return report
