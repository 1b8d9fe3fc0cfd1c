"""Billing rules: which usage earns the sustained-use discount, how usage pools, how a Vertex AI
persistent resource is billed. Data in `data/billing_rules.yaml`, each rule with its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

RULES_FILE = Path(__file__).parent / "data" / "billing_rules.yaml"


class RulesError(ValueError):
    """The rules file is malformed; the message names the field."""


@dataclass(frozen=True)
class RuleSource:
    title: str
    url: str
    first_party: bool


@dataclass(frozen=True)
class SustainedUseRules:
    """What earns the sustained-use discount and how usage combines."""

    pricing_models: tuple[str, ...]
    gpus: tuple[str, ...]
    pooling: str
    unit: str
    reading: str
    notes: dict[str, str]
    sources: dict[str, str]


@dataclass(frozen=True)
class PersistentRules:
    """How a Vertex AI persistent resource is billed."""

    billing: str
    rate_table: str
    rate_note: str
    source: str


@dataclass(frozen=True)
class BillingRules:
    as_of: str
    sources: dict[str, RuleSource]
    sustained_use: SustainedUseRules
    persistent_resource: PersistentRules

    def cite(self, key: str) -> str:
        """'title (url)' of a source key."""
        source = self.sources[key]
        return f"{source.title} ({source.url})"


_POOLING = ("family-region",)
_UNITS = ("vcpu",)
_READINGS = ("sequential",)


def _need(raw: dict[str, Any], key: str, where: str) -> Any:
    if key not in raw:
        raise RulesError(f"{RULES_FILE.name}: {where}.{key} is missing")
    return raw[key]


def _one_of(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise RulesError(f"{RULES_FILE.name}: {where}: '{value}' is not one the code implements "
                         f"({', '.join(allowed)})")
    return str(value)


@cache
def load_rules(path: Path = RULES_FILE) -> BillingRules:
    """Read and check the rules file: every source key used exists, every choice is implemented.

    Raises:
        RulesError: naming the field.
    """
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise RulesError(f"{path.name}: top level must be a mapping")
    sources = {str(k): RuleSource(str(v["title"]), str(v["url"]), bool(v["first_party"]))
               for k, v in _need(raw, "sources", "").items()}
    sud = _need(raw, "sustained_use", "")
    pr = _need(raw, "persistent_resource", "")
    cited = {f"sustained_use.{k}": v for k, v in sud.items() if k.endswith("_source")}
    cited["persistent_resource.source"] = pr.get("source")
    for where, key in cited.items():
        if key not in sources:
            raise RulesError(f"{path.name}: {where}: '{key}' is not in sources "
                             f"({', '.join(sources)})")
    rules = SustainedUseRules(
        pricing_models=tuple(_need(sud, "pricing_models", "sustained_use")),
        gpus=tuple(_need(sud, "gpus", "sustained_use")),
        pooling=_one_of(_need(sud, "pooling", "sustained_use"), _POOLING,
                        "sustained_use.pooling"),
        unit=_one_of(_need(sud, "unit", "sustained_use"), _UNITS, "sustained_use.unit"),
        reading=_one_of(_need(sud, "reading", "sustained_use"), _READINGS,
                        "sustained_use.reading"),
        notes={k.removesuffix("_note"): str(v) for k, v in sud.items() if k.endswith("_note")},
        sources={k.removesuffix("_source"): str(v) for k, v in sud.items()
                 if k.endswith("_source")})
    persistent = PersistentRules(
        billing=_one_of(_need(pr, "billing", "persistent_resource"), ("running-time",),
                        "persistent_resource.billing"),
        rate_table=_one_of(_need(pr, "rate_table", "persistent_resource"), ("training",),
                           "persistent_resource.rate_table"),
        rate_note=str(pr.get("rate_note", "")), source=str(pr["source"]))
    return BillingRules(str(raw.get("as_of", "")), sources, rules, persistent)
