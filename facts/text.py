"""How values are read from the wire and written in one-line messages."""

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


def number(value: Any) -> float | None:
    """A wire number (int, float, or numeric string) as float; anything else → None.

    Preview inputs and policy properties carry numbers as floats, sometimes as strings; a
    boolean is not a number even though Python counts it as one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def replace_between(text: str, start: str, end: str, block: str) -> str:
    """`text` with what lies between the line holding marker `start` and marker `end` replaced
    by `block` (given a final newline if it lacks one); ValueError naming the markers when
    either is missing or they are out of order.

    The READMEs' generated sections sit between such markers; the start marker's line, which
    may say how the section is generated, is kept."""
    first, last = text.find(start), text.find(end)
    line_end = text.find("\n", first) if first >= 0 else -1
    if first < 0 or line_end < 0 or last <= line_end:
        raise ValueError(f"the markers {start!r} and {end!r} are missing or out of order")
    body = block if block.endswith("\n") else block + "\n"
    return text[:line_end + 1] + body + text[last:]


def whole_number(text: str, digits: int = 9) -> int | str:
    """`text` as an int when it is ASCII decimal digits, at most `digits` of them; otherwise
    `text` unchanged, for the caller's range check to refuse by name (Python will not even
    convert a string of more than 4,300 digits)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= digits else text
