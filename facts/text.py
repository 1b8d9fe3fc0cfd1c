"""How values read in one-line messages."""

from __future__ import annotations

from typing import Any

SHOWN_CHARS = 80
"""Longest rendering of a bad value in a message; longer ones are cut and their length given."""


def shown(value: Any) -> str:
    """`repr(value)` for a message: one line, at most about `SHOWN_CHARS` characters."""
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    size = f"{len(value)} characters" if isinstance(value, str) else \
        f"{len(value)} items" if isinstance(value, dict | list | tuple) else f"{len(text)} chars"
    return f"{text[:SHOWN_CHARS - 20]}... ({size})"
