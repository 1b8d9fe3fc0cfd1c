"""Shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _forget_root_flags() -> Iterator[None]:
    """`mlp --debug` / `-v` set module state for the invocation; a test that passes them must
    not change what the next test in the same worker prints."""
    yield
    from facts.verbosity import reset

    reset()
