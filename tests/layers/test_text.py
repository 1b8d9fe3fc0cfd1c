"""The one way the READMEs' generated sections are replaced between their markers."""

from __future__ import annotations

import pytest

from facts.text import replace_between

START, END = "<!-- t:start (made by x) -->", "<!-- t:end -->"


def test_the_start_line_is_kept_and_only_the_section_changes() -> None:
    text = f"intro\n{START}\nold 1\nold 2\n{END}\noutro\n"
    assert replace_between(text, "<!-- t:start", END, "new") == (
        f"intro\n{START}\nnew\n{END}\noutro\n")
    assert replace_between(text, START, END, "new\n") == f"intro\n{START}\nnew\n{END}\noutro\n"


@pytest.mark.parametrize("text", [
    "no markers\n", f"{START}\nonly the start\n", f"{END}\n{START}\n",
    f"{START}", f"{START}{END}\n"])
def test_missing_or_misordered_markers_are_refused_naming_them(text: str) -> None:
    with pytest.raises(ValueError, match=r"t:start .* missing or out of order"):
        replace_between(text, START, END, "new")
