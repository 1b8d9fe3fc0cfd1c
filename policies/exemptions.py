"""The explicit list of upstream objects exempt from some workload policies.

The list itself is data: `policies/data/exemptions.yaml`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from policies.base import dig

EXEMPTIONS_FILE = Path(__file__).parent / "data" / "exemptions.yaml"


@dataclass(frozen=True)
class Exemption:
    kind: str
    namespace: str
    name: str
    policies: frozenset[str]
    reason: str

    def covers(self, policy: str, kind: str, obj: Mapping[str, Any]) -> bool:
        return (policy in self.policies and kind == self.kind
                and dig(obj, "metadata", "namespace") == self.namespace
                and fnmatch.fnmatchcase(str(dig(obj, "metadata", "name") or ""), self.name))


def load(path: Path = EXEMPTIONS_FILE) -> list[Exemption]:
    """Read and check the exemption list; a malformed entry raises ValueError naming it."""
    raw = yaml.safe_load(path.read_text())
    entries = raw.get("exemptions") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: 'exemptions' must be a list")
    out = []
    for i, e in enumerate(entries):
        need = ("kind", "namespace", "name", "policies", "reason")
        missing = [k for k in need if not (isinstance(e, dict) and e.get(k))]
        if missing:
            raise ValueError(f"{path}: exemptions[{i}] is missing {', '.join(missing)}")
        if "all" in e["policies"] or "*" in e["policies"]:
            raise ValueError(f"{path}: exemptions[{i}].policies must name policies, not 'all'")
        out.append(Exemption(e["kind"], e["namespace"], e["name"], frozenset(e["policies"]),
                             " ".join(str(e["reason"]).split())))
    return out


@cache
def exemptions() -> tuple[Exemption, ...]:
    return tuple(load())


def exempt(policy: str, kind: str, obj: Mapping[str, Any]) -> Exemption | None:
    """The exemption covering this object for this policy, if any."""
    return next((e for e in exemptions() if e.covers(policy, kind, obj)), None)
