"""Plan diff: what applying a new preview over an old one would do to each resource.

Two offline previews of a stack (before and after a change) are compared resource by resource,
by URN. Pulumi's mocks say what a stack declares, not whether a change updates a resource in
place or replaces it; the table `infra/data/replace_on_change.yaml` (the provider's schema) does.
A change is reported as create, update (with the changed input paths), replace (with the inputs
that force it), delete or unchanged. It is dangerous when it would replace or delete a protected
resource, or when a resource with a fixed name would be replaced create-before-delete: the new
object would collide with the old one, which still holds the name.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from facts.preview import Preview, PreviewResource

CATALOGUE = Path(__file__).parent / "data" / "replace_on_change.yaml"

Action = Literal["create", "update", "replace", "delete", "same"]
ACTIONS: tuple[Action, ...] = ("create", "update", "replace", "delete", "same")

FIXED_NAME_INPUTS = ("name", "accountId", "repositoryId")
"""Google inputs that fix a resource's name in its project: two objects cannot hold it at once.
Kubernetes objects are left out: pulumi-kubernetes deletes a named object before replacing it."""


@dataclass(frozen=True)
class ReplaceRules:
    """The replace-on-change paths of one resource type."""

    leaves: frozenset[str]
    blocks: frozenset[str] = frozenset()
    source: str = ""


@cache
def catalogue() -> dict[str, ReplaceRules]:
    """Replace rules per type token, Google and Kubernetes (the `all_kinds` rule merged in)."""
    raw = yaml.safe_load(CATALOGUE.read_text())
    rules = {t: ReplaceRules(frozenset(e.get("replace_on_change", [])),
                             frozenset(e.get("replace_on_add_or_remove", [])), e["source"])
             for t, e in raw["resources"].items()}
    k8s = raw["kubernetes"]
    common = frozenset(k8s["all_kinds"]["replace_on_change"])
    rules["kubernetes:*"] = ReplaceRules(common, source=k8s["all_kinds"]["source"])
    for t, e in k8s.items():
        if t != "all_kinds":
            rules[t] = ReplaceRules(common | frozenset(e.get("replace_on_change") or []),
                                    source=e.get("source") or "")
    return rules


def rules_for(type_token: str) -> ReplaceRules | None:
    """The rules of a type; any other Kubernetes kind gets the rules every kind has."""
    table = catalogue()
    if type_token in table:
        return table[type_token]
    return table["kubernetes:*"] if type_token.startswith("kubernetes:") else None


_MISSING = object()


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    """Leaf values by dotted path; list items share their list's path (indexes dropped), so a
    path maps to the list of leaf values found there."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else key, out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for item in value:
            _flatten(item, prefix, out)
        out.setdefault(f"{prefix}#items", []).append(len(value))
    else:
        out.setdefault(prefix, []).append(value)


def changed_paths(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Input paths whose values differ between two input maps, sorted."""
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    _flatten(old, "", a)
    _flatten(new, "", b)
    paths = {p.removesuffix("#items") for p in set(a) | set(b)
             if a.get(p, _MISSING) != b.get(p, _MISSING)}
    return sorted(p for p in paths if p)


def _ignored(path: str, ignore: list[str]) -> bool:
    return any(path == i or path.startswith(i + ".") for i in ignore)


def _has(inputs: dict[str, Any], path: str) -> bool:
    value: Any = inputs
    for key in path.split("."):
        if isinstance(value, list):
            value = value[0] if value and isinstance(value[0], dict) else None
        if not isinstance(value, dict) or key not in value:
            return False
        value = value[key]
    return value is not None


def forcing_paths(type_token: str, old: dict[str, Any], new: dict[str, Any],
                  paths: list[str]) -> list[str]:
    """The changed paths that make the provider replace the resource."""
    rules = rules_for(type_token)
    if rules is None:
        return []
    forcing = [p for p in paths if p in rules.leaves]
    for block in sorted(rules.blocks):
        if any(p == block or p.startswith(block + ".") for p in paths) and \
                _has(old, block) != _has(new, block):
            forcing.append(block)
    return sorted(set(forcing))


@dataclass(frozen=True)
class Change:
    """What applying the new preview does to one resource."""

    action: Action
    urn: str
    type: str
    name: str
    changed: list[str] = field(default_factory=list)
    """Changed input paths (update and replace)."""
    forced_by: list[str] = field(default_factory=list)
    """The changed inputs that force the replacement."""
    danger: str | None = None
    """Why this change must not be applied as is (protected, or a name collision)."""


def _fixed_name(r: PreviewResource) -> bool:
    return r.type.startswith("gcp:") and any(k in r.inputs for k in FIXED_NAME_INPUTS)


def _change(old: PreviewResource | None, new: PreviewResource | None) -> Change:
    r = new or old
    assert r is not None
    if old is None:
        return Change("create", r.urn, r.type, r.name)
    if new is None:
        danger = "protected: `pulumi destroy`-safe resources cannot be deleted" \
            if old.protect else None
        return Change("delete", r.urn, r.type, r.name, danger=danger)
    if not new.custom:
        return Change("same", r.urn, r.type, r.name)
    paths = [p for p in changed_paths(old.inputs, new.inputs)
             if not _ignored(p, new.ignore_changes)]
    if not paths:
        return Change("same", r.urn, r.type, r.name)
    forced = forcing_paths(r.type, old.inputs, new.inputs, paths)
    if not forced:
        return Change("update", r.urn, r.type, r.name, paths)
    danger = None
    if old.protect:
        danger = "protected: replacing it deletes the protected resource"
    elif _fixed_name(new) and not new.delete_before_replace:
        danger = ("fixed name without delete_before_replace: the new resource would be created "
                  "while the old one still holds the name")
    return Change("replace", r.urn, r.type, r.name, paths, forced, danger)


@dataclass(frozen=True)
class PlanDiff:
    """Every resource's change between two previews of a stack."""

    stack: str
    changes: list[Change]

    @property
    def dangers(self) -> list[Change]:
        return [c for c in self.changes if c.danger]

    def counts(self) -> dict[str, int]:
        counted = Counter(c.action for c in self.changes)
        return {a: counted.get(a, 0) for a in ACTIONS}

    def of(self, action: Action) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "counts": self.counts(),
                "dangers": len(self.dangers),
                "changes": [asdict(c) for c in self.changes if c.action != "same"]}


def diff(old: Preview, new: Preview) -> PlanDiff:
    """Compare two previews of one stack, resource by resource (components excluded)."""
    before = {r.urn: r for r in old.resources}
    after = {r.urn: r for r in new.resources}
    order = sorted(set(before) | set(after))
    changes = [_change(before.get(u), after.get(u)) for u in order
               if (before.get(u) or after.get(u)).custom]  # type: ignore[union-attr]
    return PlanDiff(new.stack, changes)


def render_text(plan: PlanDiff) -> str:
    """One line per change (unchanged resources omitted), then the counts."""
    lines = []
    for c in plan.changes:
        if c.action == "same":
            continue
        detail = ""
        if c.action == "replace":
            detail = f" (forced by {', '.join(c.forced_by)})"
        elif c.action == "update":
            detail = f" ({', '.join(c.changed)})"
        lines.append(f"{c.action:<8} {c.type} {c.name}{detail}")
        if c.danger:
            lines.append(f"         DANGER: {c.danger}")
    counts = ", ".join(f"{n} {a}" for a, n in plan.counts().items())
    lines.append(f"{plan.stack}: {counts}; {len(plan.dangers)} dangerous")
    return "\n".join(lines) + "\n"


def render_markdown(plan: PlanDiff) -> str:
    """A table for a pull-request comment."""
    rows = ["| action | type | name | inputs | danger |", "|---|---|---|---|---|"]
    for c in plan.changes:
        if c.action == "same":
            continue
        inputs = ", ".join(f"`{p}`" for p in (c.forced_by or c.changed))
        rows.append(f"| {c.action} | `{c.type}` | `{c.name}` | {inputs} | {c.danger or ''} |")
    counts = ", ".join(f"{n} {a}" for a, n in plan.counts().items())
    return (f"### Plan diff: `{plan.stack}`\n\n{counts}; **{len(plan.dangers)} dangerous**\n\n"
            + "\n".join(rows) + "\n")
