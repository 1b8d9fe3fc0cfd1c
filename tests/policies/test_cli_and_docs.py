"""`mlp policy check` / `table`: exit codes, JSON and SARIF outputs, bad input, README drift,
config validation, and unknown-at-preview handling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facts.preview import UNKNOWN
from facts.stacks import REPO_ROOT
from mlp.cli import app
from policies.pack import all_policies
from policies.render import TABLE_END, TABLE_START, policy_table
from policies.runner import PolicyConfigError, resolve_config
from tests.policies.conftest import resource, run
from tests.policies.test_policy_cases import BUDGET, GOOD_CLUSTER, GOOD_POOL, patch

runner = CliRunner()


def _preview_file(tmp_path: Path, resources: list) -> Path:
    path = tmp_path / "preview.json"
    path.write_text(json.dumps({"schema_version": 1, "stack": "prod", "project": "ml-platform",
                                "outputs": {}, "resources": [
                                    {"urn": r.urn, "type": r.type, "name": r.name,
                                     "inputs": r.inputs} for r in resources]}))
    return path


def test_readme_table_matches_code() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    block = text[text.index(TABLE_START) + len(TABLE_START):text.index(TABLE_END)].strip()
    assert block == policy_table(all_policies()), "run `mlp policy table --write README.md`"


def test_every_policy_has_its_own_id() -> None:
    """One id per policy, numbered without gaps within each domain (SEC-01, SEC-02, ...)."""
    ids = [p.rule.id for p in all_policies()]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    for prefix in ("SEC", "WL", "REL", "COST"):
        numbers = [int(i.split("-")[1]) for i in ids if i.startswith(prefix + "-")]
        assert numbers == list(range(1, len(numbers) + 1)), prefix


def test_the_pack_refuses_two_policies_with_one_id(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from policies import security

    first = security.POLICIES[0]
    twin = dataclasses.replace(security.POLICIES[1].rule, id=first.rule.id)
    monkeypatch.setattr(security.POLICIES[1], "rule", twin)
    with pytest.raises(ValueError, match=f"duplicate policy ids: \\['{first.rule.id}'\\]"):
        all_policies()


def test_check_exit_codes_json_and_sarif(tmp_path: Path) -> None:
    good = [resource("gcp:container/cluster:Cluster", GOOD_CLUSTER, "ok"),
            resource("gcp:billing/budget:Budget", BUDGET, "budget")]
    preview = _preview_file(tmp_path, good)
    result = runner.invoke(app, ["policy", "check", "prod", "--preview", str(preview)])
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output

    bad = [resource("gcp:container/cluster:Cluster",
                    patch(GOOD_CLUSTER, "masterAuthorizedNetworksConfig.cidrBlocks",
                          [{"cidrBlock": "0.0.0.0/0"}]), "open"), good[1]]
    sarif, out = tmp_path / "p.sarif", tmp_path / "p.json"
    result = runner.invoke(app, ["policy", "check", "prod", "--preview",
                                 str(_preview_file(tmp_path, bad)), "--json", str(out),
                                 "--sarif", str(sarif)])
    assert result.exit_code == 1, result.output
    assert "CRITICAL" in result.output and "gke-authorized-networks" in result.output
    report = json.loads(out.read_text())
    assert report["passed"] is False and report["summary"]["mandatory_violations"] == 1
    log = json.loads(sarif.read_text())
    assert log["version"] == "2.1.0"
    [res] = log["runs"][0]["results"]
    assert res["ruleId"] == "gke-authorized-networks" and res["level"] == "error"
    rule_ids = {r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert rule_ids == {p.name for p in all_policies()}


def test_check_of_a_stack_previews_once_and_names_its_file_in_sarif(tmp_path: Path,
                                                                   monkeypatch) -> None:
    from facts.preview import load_preview

    bad = [resource("gcp:container/cluster:Cluster",
                    patch(GOOD_CLUSTER, "masterAuthorizedNetworksConfig.cidrBlocks",
                          [{"cidrBlock": "0.0.0.0/0"}]), "open"),
           resource("gcp:billing/budget:Budget", BUDGET, "budget")]
    saved = _preview_file(tmp_path, bad)
    calls = []

    def fake_run_preview(stack_file, mode="preview"):
        calls.append(stack_file.name)
        return load_preview(saved)

    monkeypatch.setattr("infra.preview.run_preview", fake_run_preview)
    sarif = tmp_path / "s.sarif"
    for args in (["dev"], ["--stack-file", str(REPO_ROOT / "stacks" / "Pulumi.dev.yaml")]):
        result = runner.invoke(app, ["policy", "check", *args, "--sarif", str(sarif)])
        # An open control plane breaks a security policy: mandatory even in dev.
        assert result.exit_code == 1, result.output
        [res] = json.loads(sarif.read_text())["runs"][0]["results"]
        uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri == "stacks/Pulumi.dev.yaml"
    assert calls == ["dev", "dev"]


@pytest.mark.parametrize(("args", "message"), [
    ([], "give a stack name or --stack-file PATH"),
    (["dev", "--stack-file", "stacks/Pulumi.dev.yaml"], "give a stack name or --stack-file"),
    (["--stack-file", "stacks/Pulumi.dev.yaml", "--preview", "x.json"], "--preview FILE with"),
    (["--preview", "x.json"], "--preview FILE with the stack name"),
    (["dev", "--preview", "missing.json"], "cannot read preview JSON"),
    (["no-such-stack"], "no-such-stack"),
])
def test_check_bad_input_exits_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["policy", "check", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_check_bad_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"node-pool-caps": {"maxGpusPerPool": "many"}}))
    preview = _preview_file(tmp_path, [])
    result = runner.invoke(app, ["policy", "check", "--preview", str(preview),
                                 "--config", str(config)])
    assert result.exit_code == 2
    assert "node-pool-caps.maxGpusPerPool is 'many'; allowed: integer" in result.output


@pytest.mark.parametrize(("raw", "message"), [
    ({"all": "strict"}, "all is 'strict'; allowed: advisory"),
    ({"no-such-policy": "mandatory"}, "unknown policy 'no-such-policy'"),
    ({"node-pool-caps": {"maxGpus": 3}}, "maxGpus is not a property of node-pool-caps"),
    ({"required-cost-labels": {"requiredLabels": [1]}}, "allowed: array"),
])
def test_config_errors_name_field_value_and_allowed(raw: dict, message: str) -> None:
    with pytest.raises(PolicyConfigError, match=message):
        resolve_config(raw, "c.json")


def test_shipped_configs_are_valid_and_prod_is_stricter() -> None:
    dev = resolve_config(json.loads((REPO_ROOT / "policies/config/dev.json").read_text()), "dev")
    prod = resolve_config(json.loads((REPO_ROOT / "policies/config/prod.json").read_text()),
                          "prod")
    mandatory_in_dev = {name for name, level in dev.levels.items() if level.value == "mandatory"}
    assert "gke-authorized-networks" in mandatory_in_dev
    assert {level.value for level in dev.levels.values()} == {"advisory", "mandatory"}
    assert all(prod.levels[name].value == "mandatory" for name in mandatory_in_dev)
    assert prod.levels["gke-authorized-networks"].value == "mandatory"
    assert prod.properties["serving-probes-and-replicas"]["minReplicas"] == 2


def test_allow_lists_name_only_catalogued_hardware() -> None:
    from facts.hardware import catalog

    known_gpus = set(catalog().accelerators)
    families = set(catalog().families)
    for stack in ("dev", "prod"):
        props = json.loads((REPO_ROOT / f"policies/config/{stack}.json").read_text())
        hardware = props["node-pool-allowed-hardware"]
        assert set(hardware["allowedAccelerators"]) <= known_gpus
        assert set(hardware["allowedMachineFamilies"]) <= families


def test_hardware_allow_list_defaults_are_the_hardware_catalog() -> None:
    from facts.hardware import catalog

    [policy] = [p for p in all_policies() if p.rule.name == "node-pool-allowed-hardware"]
    defaults = policy.rule.defaults()
    assert defaults["allowedMachineFamilies"] == list(catalog().families)
    assert defaults["allowedAccelerators"] == list(catalog().accelerators)
    assert "nvidia-tesla-t4" in defaults["allowedAccelerators"]


def test_unknown_values_are_not_applicable_never_passed() -> None:
    pool = patch(GOOD_POOL, "nodeConfig.serviceAccount", UNKNOWN)
    report = run(["gke-no-default-node-sa", "gke-metadata-server"],
                 [resource("gcp:container/nodePool:NodePool", pool)])
    assert report.unknown_values == 1
    [na] = report.not_applicable
    assert na.policy == "gke-no-default-node-sa" and na.cause == "unknown"
    assert ".nodeConfig.serviceAccount" in na.reason
    assert report.violations == [] and report.checks == 2


def test_exempt_upstream_objects_are_counted() -> None:
    from tests.policies.conftest import container, pod_spec

    daemonset = {"apiVersion": "apps/v1", "kind": "DaemonSet",
                 "metadata": {"name": "nvidia-driver-installer", "namespace": "kube-system"},
                 "spec": {"template": {"spec": pod_spec(
                     container() | {"securityContext": {"privileged": True}})}}}
    report = run("workload-no-privileged",
                 [resource("kubernetes:apps/v1:DaemonSet", daemonset)])
    assert report.violations == [] and report.count("exempt") == 1
    daemonset["metadata"]["namespace"] = "ml-training"
    report = run("workload-no-privileged", [resource("kubernetes:apps/v1:DaemonSet", daemonset)])
    assert report.mandatory
