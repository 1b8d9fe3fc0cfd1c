"""Shared fixtures: previews of the shipped stacks, computed once per test process."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from facts.preview import Preview
from facts.stacks import stack_path
from infra.preview import run_preview
from infra.stack_config import read_stack_file

_cache: dict[tuple[str, str], Preview] = {}


def preview_of(stack: str, mode: str = "preview") -> Preview:
    if (stack, mode) not in _cache:
        _cache[(stack, mode)] = run_preview(read_stack_file(stack_path(stack)), mode=mode)
    return _cache[(stack, mode)]


@pytest.fixture
def dev_config() -> dict[str, Any]:
    """A deep copy of the dev stack's config mapping, for tests to break one field at a time."""
    return copy.deepcopy(read_stack_file(stack_path("dev")).config)


def write_stack(tmp_path: Path, name: str, config: dict[str, Any]) -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


def value_paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Every path (keys and list indexes) below `value`, for tests that mutate one value."""
    out = [path] if path else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += value_paths(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += value_paths(child, (*path, i))
    return out
