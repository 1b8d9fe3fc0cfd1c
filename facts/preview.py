"""The preview JSON contract: what a stack declares, as `infra.preview.run_preview` records it.

`policies/` and `cost/` read previews through `load_preview`, checked against the schema in
`facts.preview_schema` (see `infra/README.md`, "The preview JSON contract"). Only the offline run
that produces a preview needs Pulumi; reading one does not.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from facts.preview_wire import SCHEMA_VERSION, SECRET, UNKNOWN

__all__ = ["SCHEMA_VERSION", "SECRET", "UNKNOWN", "Preview", "PreviewFileError",
           "PreviewResource", "load_preview"]


@dataclass(frozen=True)
class PreviewResource:
    """One declared resource, with inputs in the provider's camelCase wire form."""

    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    depends_on: list[str]
    protect: bool
    custom: bool
    ignore_changes: list[str] = field(default_factory=list)
    """Input paths the engine does not diff (`ignore_changes`), as the program gave them."""
    delete_before_replace: bool = False
    """A replacement deletes the old resource first (needed when the name is fixed)."""
    retain_on_delete: bool = False
    """Removing the resource from the program leaves the cloud object in place."""


@dataclass(frozen=True)
class Preview:
    """Everything a stack would create, and its outputs."""

    stack: str
    project: str
    resources: list[PreviewResource]
    outputs: dict[str, Any]

    def of_type(self, type_token: str) -> list[PreviewResource]:
        return [r for r in self.resources if r.type == type_token]

    def by_urn(self) -> dict[str, PreviewResource]:
        return {r.urn: r for r in self.resources}

    def counts(self) -> dict[str, int]:
        """Number of resources per type token, sorted by type."""
        return dict(sorted(Counter(r.type for r in self.resources).items()))

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "stack": self.stack, "project": self.project,
                "resources": [asdict(r) for r in self.resources], "outputs": self.outputs}

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)


class PreviewFileError(ValueError):
    """A preview JSON file that does not follow the contract."""


def load_preview(path: Path) -> Preview:
    """Read a preview JSON written by `mlp preview --json`, checked against the contract.

    Raises:
        PreviewFileError: one line naming the file and, for a contract violation, the JSON path
            (see `facts.preview_schema`).
    """
    from facts.documents import DocumentError, load_json
    from facts.preview_schema import PreviewSchemaError, check_preview

    try:
        raw = load_json(Path(path).read_text(), str(path))
    except (OSError, UnicodeDecodeError) as err:
        raise PreviewFileError(f"{path}: cannot read preview JSON: {err}") from None
    except DocumentError as err:
        raise PreviewFileError(f"cannot read preview JSON: {err}") from None
    try:
        checked = check_preview(raw)
    except PreviewSchemaError as err:
        raise PreviewFileError(f"{path}: not a preview file: {err}") from None
    resources = [PreviewResource(**r.model_dump(include=set(PreviewResource.__dataclass_fields__)))
                 for r in checked.resources]
    return Preview(checked.stack, checked.project, resources, checked.outputs)
