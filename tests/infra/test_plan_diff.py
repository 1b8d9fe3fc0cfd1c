"""Plan diff: update or replace, predicted from the provider's replace-on-change table."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from facts.preview import Preview
from facts.stacks import stack_path
from infra.plan_diff import Change, catalogue, diff
from infra.preview import run_preview
from infra.stack_config import read_stack_file
from mlp.cli import app
from tests.infra.conftest import preview_of, write_stack

POOL = "gcp:container/nodePool:NodePool"
BUCKET = "gcp:storage/bucket:Bucket"
runner = CliRunner()


def changed(preview: Preview, tmp_path, name: str, edit) -> Preview:
    """The preview of stack `name` after `edit(platform_config)` of its shipped file."""
    config = copy.deepcopy(read_stack_file(stack_path(name)).config)
    edit(config["ml-platform:platform"])
    return run_preview(read_stack_file(write_stack(tmp_path, name, config)))


def _pool(platform: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in platform["node_pools"] if p["name"] == name)


def _only(plan, action: str) -> list[Change]:
    return [c for c in plan.changes if c.action == action]


def test_an_unchanged_stack_shows_no_change():
    plan = diff(preview_of("dev"), preview_of("dev"))
    assert {c.action for c in plan.changes} == {"same"} and plan.dangers == []


def test_min_nodes_on_a_gpu_pool_is_an_update(tmp_path):
    new = changed(preview_of("dev"), tmp_path, "dev",
                  lambda p: _pool(p, "gpu-t4-spot").update(min_nodes=1))
    plan = diff(preview_of("dev"), new)
    (update,) = _only(plan, "update")
    assert update.type == POOL and update.changed == ["autoscaling.totalMinNodeCount"]
    assert _only(plan, "replace") == [] and plan.dangers == []


def test_min_nodes_would_replace_a_pool_that_did_not_ignore_its_initial_count(tmp_path):
    """The failure the program no longer has: initialNodeCount is replace-on-change."""
    old = preview_of("dev")
    new = changed(old, tmp_path, "dev", lambda p: _pool(p, "gpu-t4-spot").update(min_nodes=1))
    unguarded = Preview(new.stack, new.project, [
        dataclasses.replace(r, ignore_changes=[]) if r.type == POOL else r
        for r in new.resources], new.outputs)
    (replace,) = _only(diff(old, unguarded), "replace")
    assert replace.forced_by == ["initialNodeCount"]


def test_a_gpu_type_change_replaces_the_pool_deleting_it_first(tmp_path):
    new = changed(preview_of("prod"), tmp_path, "prod", lambda p: _pool(p, "gpu-t4").update(
        accelerator={"type": "nvidia-tesla-v100", "count": 1}))
    plan = diff(preview_of("prod"), new)
    (replace,) = [c for c in _only(plan, "replace") if c.type == POOL]
    assert "nodeConfig.guestAccelerators.type" in replace.forced_by
    assert replace.danger is None  # delete_before_replace avoids the name collision


def test_a_machine_type_change_updates_the_pool_in_place(tmp_path):
    """Since provider 5.10 the node pool's machine type, disk type and size update in place."""
    new = changed(preview_of("prod"), tmp_path, "prod",
                  lambda p: _pool(p, "gpu-t4").update(machine_type="n1-standard-16"))
    (update,) = [c for c in diff(preview_of("prod"), new).changes if c.type == POOL
                 and c.action != "same"]
    assert update.action == "update" and "nodeConfig.machineType" in update.changed


def test_renaming_a_protected_bucket_is_a_dangerous_replace(tmp_path):
    old = preview_of("prod")
    renamed = Preview(old.stack, old.project, [
        dataclasses.replace(r, inputs={**r.inputs, "name": r.inputs["name"] + "-old"})
        if r.type == BUCKET and r.inputs["name"].endswith("-models") else r
        for r in old.resources], old.outputs)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(renamed.to_json()))
    md = tmp_path / "diff.md"
    result = runner.invoke(app, ["preview", "prod", "--against", str(path),
                                 "--diff-json", str(tmp_path / "diff.json"),
                                 "--diff-md", str(md)])
    assert result.exit_code == 1, result.output
    assert "DANGER: protected" in result.output
    data = json.loads((tmp_path / "diff.json").read_text())
    assert data["counts"]["replace"] == 1 and data["dangers"] == 1
    assert "| replace | `gcp:storage/bucket:Bucket`" in md.read_text()


def test_a_fixed_name_replaced_create_before_delete_is_dangerous():
    old = next(r for r in preview_of("prod").of_type(POOL))
    new = dataclasses.replace(old, delete_before_replace=False, inputs={
        **old.inputs, "location": "us-east1"})
    plan = diff(Preview("prod", "p", [old], {}), Preview("prod", "p", [new], {}))
    (replace,) = plan.changes
    assert replace.forced_by == ["location"]
    assert "still holds the name" in (replace.danger or "")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_catalogue_covers_every_google_type_a_stack_declares(stack):
    types = {r.type for r in preview_of(stack).resources
             if r.custom and r.type.startswith("gcp:")}
    assert types - set(catalogue()) == set()


EXPECTED_CHANGES = {
    "pool sizes": lambda p: [pool.update(max_nodes=pool["max_nodes"] + 1)
                             for pool in p["node_pools"]],
    "labels": lambda p: p["labels"].update(team="platform-2"),
    "budget": lambda p: p["budget"].update(amount_usd=p["budget"]["amount_usd"] * 2),
    "retention": lambda p: p.setdefault("storage", {}).update(pipeline_root_retention_days=7),
    "authorized networks": lambda p: p["cluster"]["authorized_networks"].append(
        {"cidr": "192.0.2.0/24", "display_name": "ci"}),
    "maintenance": lambda p: p["cluster"]["maintenance_window"].update(start_time="03:00")
    if "maintenance_window" in p["cluster"] else p["cluster"].update(
        maintenance_window={"start_time": "03:00", "duration_hours": 4, "days": ["SU"]}),
    "serving replicas": lambda p: p["workloads"]["serving"].update(max_replicas=5),
}


@pytest.mark.parametrize("what", sorted(EXPECTED_CHANGES))
def test_changes_users_are_expected_to_make_replace_no_named_resource(tmp_path, what):
    old = preview_of("prod")
    plan = diff(old, changed(old, tmp_path, "prod", EXPECTED_CHANGES[what]))
    assert [c for c in plan.changes if c.action != "same"], "the edit changed nothing"
    replaced = [(c.name, c.forced_by) for c in plan.changes
                if c.action in ("replace", "delete") and c.type.startswith("gcp:")]
    assert replaced == [] and plan.dangers == []
