"""Golden-file comparison: `UPDATE_GOLDEN=1 uv run pytest tests/cost` rewrites the files."""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN_DIR = Path(__file__).parent / "golden"


def check_golden(name: str, actual: str) -> None:
    """Assert `actual` equals the golden file `name`, or rewrite it when UPDATE_GOLDEN=1."""
    path = GOLDEN_DIR / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual)
        return
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 and review the diff"
    expected = path.read_text()
    assert actual == expected, f"{name} differs from its golden file (UPDATE_GOLDEN=1 to accept)"
