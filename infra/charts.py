"""The project's Helm charts, rendered offline by the real Helm library (helm-python-sdk).

Used three ways: tests render, lint and validate the charts; `mlp chart render` shows what a
chart would create, checked object by object; and the offline preview expands every local chart a
stack deploys, because Pulumi's mocks record a `helm.v4.Chart` as one opaque resource while
policies and cost must see the TFJob or InferenceService inside it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from facts.stacks import REPO_ROOT

CHARTS_DIR = REPO_ROOT / "charts"
CHART_TYPE = "kubernetes:helm.sh/v4:Chart"


class ChartError(ValueError):
    """A chart that cannot be rendered with the given values; the message is Helm's own, on one
    line."""


def chart_names() -> list[str]:
    """The charts of `charts/`, by folder name."""
    return sorted(p.name for p in CHARTS_DIR.iterdir() if (p / "Chart.yaml").is_file())


def one_line(text: str) -> str:
    """Helm's multi-line message (a header, then `- ` items) as one line."""
    out = ""
    for part in (line.strip().removeprefix("- ") for line in text.splitlines()):
        if part:
            out += part if not out else (" " if out.endswith(":") else "; ") + part
    return out


SCHEMA_FAILURE = "values don't meet the specifications of the schema"
"""How Helm starts the message of values its chart's values.schema.json refuses."""

_SCHEMA_ITEM = re.compile(r"^\s*- at '(?P<path>[^']*)': (?P<rule>.*)$")
_TYPE_WORDS = {"integer": "an integer", "number": "a number", "string": "a string",
               "boolean": "true or false", "object": "a map", "array": "a list",
               "null": "null"}


def _schema_node(schema: dict[str, Any], pointer: str) -> dict[str, Any]:
    """The sub-schema that validates the value at JSON pointer `pointer` ({} when unknown)."""
    node: Any = schema
    for step in [s for s in pointer.split("/") if s]:
        ref = node.get("$ref", "") if isinstance(node, dict) else ""
        if ref.startswith("#/definitions/"):
            node = schema.get("definitions", {}).get(ref.rsplit("/", 1)[-1], {})
        if not isinstance(node, dict):
            return {}
        node = node.get("items", {}) if step.isdigit() else node.get("properties", {}).get(step, {})
    return node if isinstance(node, dict) else {}


def _field(pointer: str) -> str:
    """A JSON pointer as the dotted key a values file spells (`/image/tag` → `image.tag`)."""
    return ".".join(s for s in pointer.split("/") if s) or "the values file"


def _rule_in_words(rule: str, node: dict[str, Any]) -> str:
    """One schema rule from Helm's validator, as what the value must be."""
    if rule == "'not' failed":
        forbidden = node.get("not", {})
        values = forbidden.get("enum", [forbidden["const"]] if "const" in forbidden else [])
        if values:
            return "must not be " + " or ".join(f"`{v}`" for v in values)
        return "has a value the chart's schema forbids"
    checks = [
        (r"minimum: got (.+), want (.+)", "must be at least {1} (got {0})"),
        (r"maximum: got (.+), want (.+)", "must be at most {1} (got {0})"),
        (r"exclusiveMinimum: got (.+), want (.+)", "must be greater than {1} (got {0})"),
        (r"exclusiveMaximum: got (.+), want (.+)", "must be less than {1} (got {0})"),
        (r"minLength: got 0, want 1", "must not be empty"),
        (r"minLength: got (.+), want (.+)", "must be at least {1} characters long (got {0})"),
        (r"maxLength: got (.+), want (.+)", "must be at most {1} characters long (got {0})"),
        (r"minItems: got (.+), want (.+)", "must have at least {1} item(s) (got {0})"),
        (r"maxItems: got (.+), want (.+)", "must have at most {1} item(s) (got {0})"),
        (r"value must be one of (.+)", "must be one of {0}"),
        (r"value must be (.+)", "must be {0}"),
        (r"(.+) does not match pattern (.+)", "must match the pattern {1} (got {0})"),
        (r"additional properties? (.+) not allowed", "has unknown key(s) {0}"),
        (r"missing propert(?:y|ies) (.+)", "is missing the required key(s) {0}"),
    ]
    for pattern, words in checks:
        match = re.fullmatch(pattern, rule)
        if match:
            return words.format(*match.groups())
    typed = re.fullmatch(r"got (\w+), want (\w+)", rule)
    if typed:
        got, want = (_TYPE_WORDS.get(t, t) for t in typed.groups())
        return f"must be {want}, not {got}"
    return f"fails the schema: {rule}"


def schema_errors(chart: Path | str, message: str) -> list[str]:
    """Helm's refusal of values by the chart's values.schema.json, one phrase per field.

    Helm reports each failed rule in its validator's terms (`at '/image/tag': 'not' failed`);
    these say which key a values file must change and how (`image.tag must not be `latest``).
    A parent's summary ("validation failed", "'allOf' failed") is dropped when its own fields
    are listed; the phrases are sorted, because Helm's order varies from run to run."""
    try:
        schema = json.loads((Path(chart) / "values.schema.json").read_text())
    except (OSError, ValueError):
        schema = {}
    found = [m.groups() for m in map(_SCHEMA_ITEM.match, message.splitlines()) if m]
    phrases = []
    for pointer, rule in found:
        if rule in ("validation failed", "'allOf' failed") and any(
                p.startswith(pointer.rstrip("/") + "/") for p, _ in found):
            continue
        phrases.append(f"{_field(pointer)} {_rule_in_words(rule, _schema_node(schema, pointer))}")
    return sorted(phrases)


def chart_path(name: str) -> str:
    """A chart's path as the program passes it to `helm.v4.Chart`.

    Absolute, because the Kubernetes provider resolves it in its own process, whose working
    directory need not be the program's.
    """
    return str(CHARTS_DIR / name)


def local_chart_dir(chart: str) -> Path | None:
    """The directory of `chart` if it is one of this repository's charts, else None."""
    path = Path(chart)
    path = path if path.is_absolute() else Path.cwd() / path
    try:
        path.resolve().relative_to(CHARTS_DIR.resolve())
    except ValueError:
        return None
    return path.resolve() if (path / "Chart.yaml").is_file() else None


def _manifests(chart: Path | str, values: dict[str, Any] | None, release: str,
               namespace: str) -> dict[str, str]:
    """Helm's rendered templates by path; Helm's own errors become `ChartError`."""
    import helm_python

    try:
        with helm_python.Chart.load(str(chart)) as loaded:
            return loaded.render(values or {}, name=release, namespace=namespace)
    except helm_python.HelmError as err:
        phrases = schema_errors(chart, str(err)) if SCHEMA_FAILURE in str(err) else []
        if phrases:
            raise ChartError(f"{Path(chart).name}: values.schema.json refuses the values: "
                             + "; ".join(phrases)) from None
        raise ChartError(f"{Path(chart).name}: {one_line(str(err))}") from None
    except (TypeError, ValueError) as err:
        # Values that are not JSON data (a date, bytes, a set) never reach Helm.
        raise ChartError(f"{Path(chart).name}: values must be JSON data: {err}") from None


_DOCUMENT_SEPARATOR = re.compile(r"(?:^|\s*\n)---\s*")
"""Where Helm splits a rendered template into documents (Helm's own `SplitManifests` rule): a
`---` line may carry text after it, e.g. `---# comment`, which a plain YAML stream rejects."""


def split_documents(text: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of one rendered template, split as Helm splits them."""
    docs = (yaml.safe_load(part) for part in _DOCUMENT_SEPARATOR.split(text) if part.strip())
    return [doc for doc in docs if doc]


def render_templates(chart: Path | str, values: dict[str, Any] | None = None, *, release: str,
                     namespace: str) -> list[tuple[str, dict[str, Any]]]:
    """Render a chart and return ``(template path, object)`` pairs in template order, so a
    caller can say which template made each object (NOTES excluded)."""
    manifests = _manifests(chart, values, release, namespace)
    try:
        return [(template, doc) for template in sorted(manifests)
                if not template.endswith(".txt") for doc in split_documents(manifests[template])]
    except yaml.YAMLError as err:
        raise ChartError(f"{Path(chart).name}: rendered output is not YAML: "
                         f"{one_line(str(err))}") from None


def render(chart: Path | str, values: dict[str, Any] | None = None, *, release: str,
           namespace: str) -> list[dict[str, Any]]:
    """Render a chart and return its Kubernetes objects in template order (NOTES excluded).

    Raises:
        ChartError: Helm's error, or rendered output that is not YAML, as one line.
    """
    return [doc for _, doc in render_templates(chart, values, release=release,
                                               namespace=namespace)]


def notes(chart: Path | str, values: dict[str, Any] | None = None, *, release: str,
          namespace: str) -> str:
    """The chart's rendered NOTES.txt."""
    manifests = _manifests(chart, values, release, namespace)
    return next((text.strip() for name, text in manifests.items() if name.endswith("NOTES.txt")),
                "")


def lint(chart: Path | str) -> list[str]:
    """Helm lint findings at warning level or worse, as 'path: message' lines."""
    import helm_python

    report = helm_python.lint(str(chart), strict=True)
    return [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 2] + \
        list(report["errors"])


def pulumi_type(obj: dict[str, Any]) -> str:
    """The type token pulumi-kubernetes registers an object under, e.g.
    ``kubernetes:kubeflow.org/v1:TFJob`` or ``kubernetes:core/v1:Service``."""
    api_version = obj["apiVersion"]
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{obj['kind']}"


def object_name(prefix: str, obj: dict[str, Any]) -> str:
    """The resource name helm.v4.Chart gives an object: ``<prefix>:<namespace>/<name>``."""
    meta = obj.get("metadata", {})
    namespace = meta.get("namespace")
    return f"{prefix}:{namespace}/{meta['name']}" if namespace else f"{prefix}:{meta['name']}"
