"""Property-based: the shipped stack files, mutated anywhere with anything, are previewed (exit 0)
or refused with exit 2 and one line per problem; never a traceback."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from facts.stacks import stack_path
from infra.stack_config import read_stack_file
from mlp.cli import app
from tests.infra.conftest import value_paths

runner = CliRunner()
STACKS = ("dev", "prod")
CONFIGS = {s: read_stack_file(stack_path(s)).config for s in STACKS}
TEXTS = {s: stack_path(s).read_text() for s in STACKS}
HEADER = re.compile(r"^error: stack '[a-z0-9-]+' has (\d+) invalid settings:$")




PATHS = {s: value_paths(c) for s, c in CONFIGS.items()}


def _deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"k": value}
    return value


HOSTILE = st.one_of(
    st.none(), st.booleans(), st.text(max_size=30), st.text(min_size=5000, max_size=5000),
    st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([0, -1, 10_000, 2**63]),
    st.floats(allow_nan=False, allow_infinity=False), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
    st.integers(min_value=40, max_value=500).map(_deep),
    st.sampled_from(["10.0.0.0/8", "172.16.0.0/24", "0.0.0.0/0", "n1-standard-96",
                     "nvidia-tesla-a100", "us-east1-b", "Training", "x" * 64]),
)


def assert_clean(result) -> None:
    """Exit 0, or exit 2 whose stderr is one line per problem; no exception escapes."""
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    if result.exit_code == 0:
        return
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines and lines[0].startswith("error: "), lines
    if len(lines) > 1:
        header = HEADER.match(lines[0])
        assert header, lines
        assert len(lines) == 1 + int(header[1]), lines
        assert all(line.startswith("  - ") for line in lines[1:]), lines


def _preview(tmp_path: Path, text: str, stack: str):
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(text)
    return runner.invoke(app, ["preview", "-q", "--stack-file", str(path)])


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), stack=st.sampled_from(STACKS), value=HOSTILE, delete=st.booleans())
def test_mutated_values_are_previewed_or_refused_cleanly(tmp_path_factory, data, stack, value,
                                                         delete) -> None:
    """Property (30 examples): one value of a shipped stack replaced by a wrong type, a huge
    number, a long string or deep nesting, or deleted. Written as JSON, which is YAML, so any
    depth can be expressed."""
    path = data.draw(st.sampled_from(PATHS[stack]), label="path")
    config = copy.deepcopy(CONFIGS[stack])
    *head, last = path
    node: Any = config
    for step in head:
        node = node[step]
    if delete and isinstance(node, dict):
        del node[last]
    else:
        node[last] = value
    text = json.dumps({"config": config})
    assert_clean(_preview(tmp_path_factory.mktemp("s"), text, stack))


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), stack=st.sampled_from(STACKS))
def test_duplicated_lines_are_previewed_or_refused_cleanly(tmp_path_factory, data,
                                                           stack) -> None:
    """Property (20 examples): a line of a shipped stack file written twice, which duplicates a
    key (named with both lines), repeats a list item, or repeats a comment."""
    lines = TEXTS[stack].splitlines(keepends=True)
    i = data.draw(st.integers(min_value=0, max_value=len(lines) - 1), label="line")
    text = "".join([*lines[:i + 1], lines[i], *lines[i + 1:]])
    result = _preview(tmp_path_factory.mktemp("s"), text, stack)
    assert_clean(result)
    key = re.match(r"^\s*([\w:-]+):", lines[i])
    if key and not lines[i].lstrip().startswith("- "):
        assert result.exit_code == 2
        assert f"line {i + 2}: duplicate key '{key[1]}' (first at line {i + 1})" in \
            result.stderr
