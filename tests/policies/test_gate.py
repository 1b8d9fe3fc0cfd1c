"""The policy gate fails closed: the config a check uses is the caller's choice (a stack name or
`--config`), never a path or a name taken from the preview file being checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlp.cli import app
from policies.runner import PolicyConfigError, config_for_stack
from tests.policies.conftest import resource
from tests.policies.test_policy_cases import BUDGET, GOOD_CLUSTER, GOOD_POOL, patch

runner = CliRunner()


def _prod_plan_with_violations(tmp_path: Path, stack_label: str) -> Path:
    """A prod plan with mandatory violations under prod's config, labelled `stack_label`."""
    open_cluster = patch(GOOD_CLUSTER, "masterAuthorizedNetworksConfig.cidrBlocks",
                         [{"cidrBlock": "0.0.0.0/0"}])
    open_cluster = patch(open_cluster, "privateClusterConfig.enablePrivateNodes", False)
    runaway_pool = patch(GOOD_POOL, "autoscaling.totalMaxNodeCount", 500)
    resources = [resource("gcp:container/cluster:Cluster", open_cluster, "open"),
                 resource("gcp:container/nodePool:NodePool", runaway_pool, "runaway"),
                 resource("gcp:billing/budget:Budget", BUDGET, "budget")]
    path = tmp_path / "preview-prod.json"
    path.write_text(json.dumps({
        "schema_version": 1, "stack": stack_label, "project": "ml-platform", "outputs": {},
        "resources": [{"urn": r.urn, "type": r.type, "name": r.name, "inputs": r.inputs}
                      for r in resources]}))
    return path


def _mandatory(result) -> int:
    return json.loads(result.stdout)["summary"]["mandatory_violations"]


@pytest.mark.parametrize("label", ["prod", "dev", "vertex"])
def test_the_preview_label_never_chooses_the_config(tmp_path: Path, label: str) -> None:
    """Whatever stack the file says it is, checking it as prod finds prod's mandatory
    violations: a prod plan relabelled `dev` does not get dev's advisory config."""
    plan = _prod_plan_with_violations(tmp_path, label)
    result = runner.invoke(app, ["policy", "check", "prod", "--preview", str(plan),
                                 "--json", "-"])
    assert result.exit_code == 1, result.output
    assert _mandatory(result) >= 3
    assert json.loads(result.stdout)["config"] == "policies/config/prod.json"


@pytest.mark.parametrize("args", [
    [], ["prod"], ["--config", "policies/config/prod.json"], ["dev"]])
def test_the_planted_traversal_fails_closed(tmp_path: Path, args: list[str]) -> None:
    """`"stack": "../config/dev"` used to load dev's all-advisory config by path, and this plan
    passed (exit 0). Such a file breaks the preview contract (`mlp preview` only writes valid
    stack names), so every way of checking it stops at exit 2, naming the field; the label is
    never a path, and with a valid label the violations are found (exit 1, above)."""
    plan = _prod_plan_with_violations(tmp_path, "../config/dev")
    result = runner.invoke(app, ["policy", "check", *args, "--preview", str(plan)])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    if args:
        assert "stack: '../config/dev' is not valid; a stack name is 1-14" in result.stderr


def test_an_explicit_config_checks_the_plan(tmp_path: Path) -> None:
    plan = _prod_plan_with_violations(tmp_path, "dev")
    prod = Path("policies/config/prod.json").resolve()
    result = runner.invoke(app, ["policy", "check", "--preview", str(plan), "--config",
                                 str(prod), "--json", "-"])
    assert result.exit_code == 1, result.output
    assert _mandatory(result) >= 3


def test_a_preview_alone_does_not_choose_its_config(tmp_path: Path) -> None:
    plan = _prod_plan_with_violations(tmp_path, "../config/dev")
    result = runner.invoke(app, ["policy", "check", "--preview", str(plan)])
    assert result.exit_code == 2
    assert "with the stack name whose policy config applies" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [
    ["../config/dev", "--preview", "PLAN"],
    ["../config/dev"],
    ["Prod", "--preview", "PLAN"],
])
def test_stack_names_are_checked_before_they_become_paths(tmp_path: Path,
                                                          args: list[str]) -> None:
    plan = _prod_plan_with_violations(tmp_path, "prod")
    argv = [str(plan) if a == "PLAN" else a for a in args]
    result = runner.invoke(app, ["policy", "check", *argv])
    assert result.exit_code == 2, result.output
    assert f"'{argv[0]}' is not one of 'dev', 'prod', 'vertex'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_misspelt_stack_is_an_error_not_the_defaults(tmp_path: Path) -> None:
    plan = _prod_plan_with_violations(tmp_path, "prod")
    result = runner.invoke(app, ["policy", "check", "prdo", "--preview", str(plan)])
    assert result.exit_code == 2
    assert "'prdo' is not one of 'dev', 'prod', 'vertex'" in result.stderr


def test_config_for_stack_never_builds_a_path_from_its_argument() -> None:
    for name in ("../config/dev", "dev.json", "/etc/passwd", ""):
        with pytest.raises(PolicyConfigError, match="is not valid; a stack name is"):
            config_for_stack(name)
    assert config_for_stack("prod").source == "policies/config/prod.json"


@pytest.mark.parametrize(("content", "says"), [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"all": NaN}', "NaN is not a JSON value"),
    (b"\xff\xfe", "cannot read policy config"),
])
def test_hostile_config_files_exit_2_with_one_line(tmp_path: Path, content, says: str) -> None:
    config = tmp_path / "c.json"
    if isinstance(content, bytes):
        config.write_bytes(content)
    else:
        config.write_text(content)
    plan = _prod_plan_with_violations(tmp_path, "prod")
    result = runner.invoke(app, ["policy", "check", "--preview", str(plan), "--config",
                                 str(config)])
    assert result.exit_code == 2, result.output
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
