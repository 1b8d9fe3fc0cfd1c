"""Reading YAML and JSON that a user or another tool wrote: strictly, with one-line errors.

Stack files, chart values, preview files and policy configs all come from outside the program.
PyYAML and `json` accept things that are almost always mistakes or attacks: a duplicated key
(the last silently wins), YAML anchors and aliases (a few lines can expand to gigabytes), nesting
deep enough to exhaust Python's recursion limit, and JSON's non-standard `NaN` and `Infinity`.
Everything here refuses those with a `DocumentError` whose message is one line naming the source,
the place and the rule.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

MAX_DEPTH = 64
"""Most levels of nested mappings and lists accepted. The shipped stack files nest 8 deep and
the deepest rendered Kubernetes object in a preview 14; 64 leaves room for any real document
and stays far below Python's recursion limit in every reader."""


class DocumentError(ValueError):
    """A document that cannot be read, or that breaks one of the rules above."""


class StrictModel(BaseModel):
    """The base of every schema a read document is checked against: an unknown key is an error
    (a misspelt setting must not be ignored) and a checked value cannot change afterwards."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _line(mark: yaml.Mark | None) -> str:
    return f"line {mark.line + 1}" if mark is not None else "unknown line"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without anchors, aliases, duplicate keys or nesting beyond `MAX_DEPTH`."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise DocumentError(f"{_line(event.start_mark)}: YAML anchors and aliases "
                                f"(&{event.anchor} / *{event.anchor}) are not allowed; "
                                "write the value out")
        if not isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise DocumentError(f"{_line(event.start_mark)}: nested more than {MAX_DEPTH} "
                                    "levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first_line.get(key)
            except TypeError:
                continue  # an unhashable key: SafeLoader reports it below
            line = key_node.start_mark.line + 1
            if seen is not None:
                raise DocumentError(f"line {line}: duplicate key {key!r} (first at line {seen})")
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def _timestamp_as_text(loader: _StrictLoader, node: yaml.ScalarNode) -> str:
    return loader.construct_scalar(node)


def _refuse_tag(loader: _StrictLoader, node: yaml.Node) -> Any:
    raise DocumentError(f"{_line(node.start_mark)}: tag {node.tag} is not allowed; use plain "
                        "strings, numbers, booleans, lists and mappings")


# Configuration is JSON-shaped: a date stays the text it was written as (as Pulumi reads it),
# and YAML-only types that JSON cannot carry are refused.
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)
for _tag in ("binary", "set", "omap", "pairs"):
    _StrictLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse_tag)


def _yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: what is wrong, and where."""
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        return where + " ".join(str(p) for p in (err.context, err.problem) if p)
    return " ".join(str(err).split())


def load_yaml(text: str, source: str) -> Any:
    """Parse one YAML document strictly.

    Raises:
        DocumentError: `<source>: <line>: <problem>` on one line.
    """
    try:
        # The reader checks the characters while it is built: a control character fails here.
        loader = _StrictLoader(text)
    except yaml.YAMLError as err:
        raise DocumentError(f"{source}: cannot read it as YAML: {_yaml_problem(err)}") from None
    try:
        return loader.get_single_data()
    except DocumentError as err:
        raise DocumentError(f"{source}: {err}") from None
    except yaml.YAMLError as err:
        raise DocumentError(f"{source}: cannot read it as YAML: {_yaml_problem(err)}") from None
    except RecursionError:
        raise DocumentError(f"{source}: nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def load_json(text: str, source: str) -> Any:
    """Parse JSON strictly: standard JSON only, unique keys, at most `MAX_DEPTH` levels.

    Raises:
        DocumentError: `<source>: <problem>` on one line.
    """
    try:
        data = json.loads(text, parse_constant=_not_json, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise DocumentError(f"{source}: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as err:
        raise DocumentError(f"{source}: not valid JSON: {' '.join(str(err).split())}") from None
    where = too_deep(data)
    if where is not None:
        raise DocumentError(f"{source}: {where or 'the top level'}: nested more than "
                            f"{MAX_DEPTH} levels deep")
    return data


def too_deep(value: Any, max_depth: int = MAX_DEPTH, root: str = "") -> str | None:
    """The path (``a.b[2].c``) of the first value nested deeper than `max_depth`, else None.

    Iterative, so it is safe on values nested deeper than Python's recursion limit.
    """
    stack: list[tuple[Any, str, int]] = [(value, root, 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict):
            children = [(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()]
        elif isinstance(node, list | tuple):
            children = [(v, f"{path}[{i}]") for i, v in enumerate(node)]
        else:
            continue
        if depth > max_depth:
            return path
        stack.extend((child, where, depth + 1) for child, where in children)
    return None
