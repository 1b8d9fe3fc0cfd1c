"""The preview JSON contract is checked before `mlp policy check --preview` and `mlp cost stack
--preview` read a file: a wrong type is exit 2 with one line naming the JSON path, never a
traceback; what `mlp preview --json` writes keeps validating."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from facts.preview import UNKNOWN, load_preview
from facts.preview_schema import check_preview
from facts.stacks import stack_names
from mlp.cli import app
from tests.infra.conftest import preview_of, value_paths

runner = CliRunner()

COMMANDS = {
    "policy": (["policy", "check", "prod", "--preview"], (0, 1)),
    "cost": (["cost", "stack", "--preview"], (0,)),
}
"""Each reader of saved previews, and the exit codes it may give on a valid file."""


def _shipped(stack: str = "prod") -> dict[str, Any]:
    return preview_of(stack).to_json()


def _write(tmp_path: Path, data: Any, name: str = "preview.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _invoke(command: str, path: Path):
    argv, _ = COMMANDS[command]
    return runner.invoke(app, [*argv, str(path)])


def _assert_clean_refusal(result, *expected: str) -> str:
    """Exit 2, one line on stderr, no exception escaping the command."""
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("stack", stack_names())
def test_shipped_previews_validate_and_read_back_unchanged(tmp_path: Path, stack: str) -> None:
    data = _shipped(stack)
    check_preview(data)
    assert load_preview(_write(tmp_path, data)) == preview_of(stack)


def _pool(data: dict[str, Any]) -> int:
    return next(i for i, r in enumerate(data["resources"])
                if r["type"] == "gcp:container/nodePool:NodePool"
                and r["inputs"].get("nodeConfig", {}).get("guestAccelerators"))


def _object(data: dict[str, Any], kind: str) -> int:
    return next(i for i, r in enumerate(data["resources"]) if r["inputs"].get("kind") == kind)


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


CASES = [
    # (change, JSON path named in the error)
    (lambda d: d.update(resources=None), "resources: None is not valid"),
    (lambda d: d.update(resources="all"), "resources: 'all' is not valid"),
    (lambda d: d.update(outputs=[]), "outputs: [] is not valid"),
    (lambda d: d.update(stack=7), "stack: 7 is not valid"),
    (lambda d: d.update(stack="../config/dev"),
     "stack: '../config/dev' is not valid; a stack name is 1-14"),
    (lambda d: d.update(schema_version=2), "schema_version: 2 is not valid"),
    (lambda d: d.pop("project"), "project: <missing> is not valid"),
    (lambda d: d["resources"][0].update(inputs="x"), "resources[0].inputs: 'x' is not valid"),
    (lambda d: d["resources"][0].update(type=None), "resources[0].type: None is not valid"),
    (lambda d: d["resources"][0].update(name=True), "resources[0].name: True is not valid"),
    (lambda d: d["resources"][0].update(protect="yes"), "resources[0].protect: 'yes'"),
    (lambda d: d["resources"][_pool(d)]["inputs"]["nodeConfig"]["guestAccelerators"][0]
     .update(count=-1), "inputs.nodeConfig.guestAccelerators[0].count: -1 is not valid"),
    (lambda d: d["resources"][_pool(d)]["inputs"]["autoscaling"].update(totalMaxNodeCount=-5),
     "inputs.autoscaling.totalMaxNodeCount: -5 is not valid; Input should be greater than"),
    (lambda d: d["resources"][_pool(d)]["inputs"]["autoscaling"].update(
        totalMaxNodeCount=10**30), "totalMaxNodeCount: 1000000000000000000000000000000 is not"),
    (lambda d: d["resources"][_pool(d)]["inputs"].update(nodeConfig="n1"),
     "inputs.nodeConfig: 'n1' is not valid"),
    (lambda d: d["resources"][_pool(d)]["inputs"]["nodeConfig"].update(diskSizeGb="big"),
     "inputs.nodeConfig.diskSizeGb: 'big' is not valid"),
    (lambda d: d["resources"][_pool(d)]["inputs"]["nodeConfig"].update(guestAccelerators=[1]),
     "inputs.nodeConfig.guestAccelerators[0]: 1 is not valid"),
    (lambda d: d["resources"][_object(d, "InferenceService")]["inputs"]["spec"]["predictor"]
     .update(minReplicas=-2), "inputs.spec.predictor.minReplicas: -2 is not valid; a count"),
    (lambda d: d["resources"][_object(d, "InferenceService")]["inputs"]["spec"]["predictor"]
     .update(maxReplicas="3"), "inputs.spec.predictor.maxReplicas: '3' is not valid"),
    (lambda d: d["resources"][0].update(inputs=_deep(100)), "nested more than 64 levels deep"),
]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("change", "says"), CASES)
def test_wrong_types_exit_2_naming_the_json_path(tmp_path: Path, command: str, change,
                                                 says: str) -> None:
    data = copy.deepcopy(_shipped())
    change(data)
    _assert_clean_refusal(_invoke(command, _write(tmp_path, data)), "not a preview file" if
                          "nested" not in says else "cannot read preview JSON", says)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("text", "says"), [
    ("[" * 200_000 + "]" * 200_000, "nested more than 64 levels deep"),
    ('{"stack": "prod", "stack": "dev"}', "duplicate key 'stack'"),
    ('{"resources": [NaN]}', "NaN is not a JSON value"),
    ("", "not valid JSON"),
])
def test_unreadable_json_exits_2(tmp_path: Path, command: str, text: str, says: str) -> None:
    _assert_clean_refusal(_invoke(command, _write(tmp_path, text)), says)


def test_unknown_objects_are_not_priced_rather_than_crashing(tmp_path: Path) -> None:
    """Any typed input may be unknown at preview; cost says so instead of failing."""
    data = copy.deepcopy(_shipped())
    pool = data["resources"][_pool(data)]
    pool["inputs"]["nodeConfig"]["guestAccelerators"][0]["count"] = UNKNOWN
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["cost", "stack", "--preview", str(_write(tmp_path, data)),
                                 "--json", str(out)])
    assert result.exit_code == 0, result.output
    [priced] = [r for r in json.loads(out.read_text())["resources"]
                if r["name"] == pool["name"]]
    assert priced["status"] == "not priced"
    assert "accelerator count unknown at preview" in priced["reason"]
    pool["inputs"]["nodeConfig"] = UNKNOWN
    result = runner.invoke(app, ["cost", "stack", "--preview", str(_write(tmp_path, data))])
    assert result.exit_code == 0, result.output
    result = _invoke("policy", _write(tmp_path, data))
    assert result.exit_code in (0, 1), result.output


# Property-based: mutate a shipped preview anywhere, with anything JSON can hold.



@cache
def _targets() -> tuple[list[tuple], list[tuple]]:
    """Every path of the shipped prod preview, and those where readers look hardest (node pools
    and Kubernetes objects); computed on first use, not at collection."""
    base = _shipped()
    paths = [p for p in value_paths(base) if p]
    focus = [p for p in paths if len(p) > 2 and p[0] == "resources" and (
        base["resources"][p[1]]["type"] == "gcp:container/nodePool:NodePool"
        or "kind" in base["resources"][p[1]]["inputs"])]
    return paths, focus


HOSTILE = st.one_of(
    st.none(), st.booleans(), st.text(max_size=20), st.text(min_size=5000, max_size=5000),
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                         max_size=3),
    st.integers(min_value=60, max_value=300).map(_deep), st.just(UNKNOWN),
)


def _mutate(data: dict[str, Any], path: tuple, value: Any, delete: bool) -> None:
    *head, last = path
    node: Any = data
    for step in head:
        node = node[step]
    if delete and isinstance(node, dict):
        del node[last]
    else:
        node[last] = value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(draw=st.data(), focus=st.booleans(), value=HOSTILE, delete=st.booleans())
def test_mutated_previews_never_crash_either_reader(tmp_path_factory, draw, focus, value,
                                                    delete) -> None:
    """Property (60 examples, each through both commands): exit 0/1 on a file that still
    follows the contract, else exit 2 with one line; never a traceback. Half the mutations
    land in node pools and Kubernetes objects."""
    path = draw.draw(st.sampled_from(_targets()[1 if focus else 0]), label="path")
    data = copy.deepcopy(_shipped())
    _mutate(data, path, value, delete)
    preview = _write(tmp_path_factory.mktemp("p"), data)
    for command, (_, ok) in COMMANDS.items():
        result = _invoke(command, preview)
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            (command, path, repr(result.exception))
        if result.exit_code in ok:
            continue
        assert result.exit_code == 2, (command, path, result.output)
        assert len(result.stderr.strip().splitlines()) == 1, (command, path, result.stderr)
