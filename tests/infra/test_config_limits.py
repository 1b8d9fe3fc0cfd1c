"""Limits Google Cloud enforces, and stack files a careless or hostile hand wrote: each is refused
before any resource is declared, as one line naming the field, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from facts.documents import MAX_DEPTH
from infra.config import (
    GKE_CLUSTER_NODE_QUOTA,
    GKE_MAX_NODES_PER_POOL_ZONE,
    PLATFORM_KEY,
    ConfigError,
    parse_platform,
)
from mlp.cli import app
from tests.infra.conftest import write_stack

runner = CliRunner()


def _refused(config: dict[str, Any], *expected: str) -> str:
    with pytest.raises(ConfigError) as err:
        parse_platform("test", config)
    message = str(err.value)
    for text in expected:
        assert text in message, message
    return message


def _preview_stderr(path: Path) -> str:
    result = runner.invoke(app, ["preview", "-q", "--stack-file", str(path)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_max_nodes_beyond_gke_per_zone_limit(dev_config):
    dev_config[PLATFORM_KEY]["node_pools"][0]["max_nodes"] = 10_000
    message = _refused(dev_config, "node_pools[0].max_nodes: 10000 is not valid; at most 1000")
    assert f"GKE allows {GKE_MAX_NODES_PER_POOL_ZONE} nodes per zone" in message
    assert "\n" not in message


def test_regional_pool_limit_counts_its_zones(dev_config):
    platform = dev_config[PLATFORM_KEY]
    platform["cluster"]["mode"] = "regional"
    platform["zones"] = ["us-central1-a", "us-central1-b", "us-central1-c"]
    platform["node_pools"][1]["zones"] = ["us-central1-c"]
    platform["node_pools"][0]["max_nodes"] = 3 * GKE_MAX_NODES_PER_POOL_ZONE
    parse_platform("test", dev_config)  # 1,000 in each of three zones
    platform["node_pools"][0]["max_nodes"] += 1
    _refused(dev_config, "at most 3000", "spans 3 zone(s)")


def test_pools_together_beyond_the_cluster_size_quota(dev_config):
    platform = dev_config[PLATFORM_KEY]
    platform["cluster"]["mode"] = "regional"
    platform["zones"] = ["us-central1-a", "us-central1-b", "us-central1-c"]
    platform["node_pools"][1]["zones"] = ["us-central1-c"]
    platform["node_pools"][0]["max_nodes"] = 3000
    platform["node_pools"].append({**platform["node_pools"][0], "name": "more"})
    # Each pool is within GKE's 3 x 1000; together they are not within the quota.
    message = _refused(dev_config, "node_pools: [3000, 2, 3000] is not valid; max_nodes add up "
                       f"to 6002, more than GKE's cluster-size quota of {GKE_CLUSTER_NODE_QUOTA}")
    assert "max_nodes: " not in message
    platform["node_pools"][2]["max_nodes"] = GKE_CLUSTER_NODE_QUOTA - 3002
    parse_platform("test", dev_config)


@pytest.mark.parametrize(("network", "path", "says"), [
    ({"subnet_cidr": "10.16.0.0/20"}, "network.pods_cidr", "overlaps subnet_cidr (10.16.0.0/20)"),
    ({"services_cidr": "10.10.4.0/24"}, "network.services_cidr", "overlaps subnet_cidr"),
    ({"master_cidr": "10.20.0.0/28"}, "network.master_cidr", "overlaps services_cidr"),
    ({"master_cidr": "172.16.0.0/24"}, "network.master_cidr", "GKE requires a /28"),
])
def test_network_ranges(dev_config, network, path, says):
    dev_config[PLATFORM_KEY]["network"] = network
    _refused(dev_config, f"{PLATFORM_KEY}.{path}: ", says)


@pytest.mark.parametrize(("labels", "path", "shown"), [
    ({"workload": "x" * 5000}, "labels.workload", "(5000 characters)"),
    ({"workload": "Training"}, "labels.workload", "'Training'"),
    ({"workload": "training-"}, "labels.workload", "'training-'"),
    ({"Workload": "training"}, "labels", "'Workload'"),
    ({"k" * 64: "v"}, "labels", "'kkkk"),
    ({"x/y": "v"}, "labels", "'x/y'"),
    ({f"k{i}": "v" for i in range(64)}, "labels", "64 is not valid; at most 63 labels"),
])
def test_node_pool_labels(dev_config, labels, path, shown):
    dev_config[PLATFORM_KEY]["node_pools"][1]["labels"] = labels
    message = _refused(dev_config, f"node_pools[1].{path}: ", shown)
    assert len(message) < 500


@pytest.mark.parametrize(("taint", "field"), [
    ({"key": "x" * 64, "value": "v"}, "key"),
    ({"key": "nvidia.com/gpu/extra", "value": "v"}, "key"),
    ({"key": "dedicated", "value": "-v"}, "value"),
    ({"key": "dedicated", "value": "v" * 64}, "value"),
])
def test_taints_are_kubernetes_names(dev_config, taint, field):
    dev_config[PLATFORM_KEY]["node_pools"][1]["taints"] = [taint]
    _refused(dev_config, f"node_pools[1].taints[0].{field}: ")


def test_vertex_display_name_length(dev_config):
    dev_config[PLATFORM_KEY]["vertex"] = {"endpoint_display_name": "e" * 129}
    _refused(dev_config, "vertex.endpoint_display_name: ", "at most 128 characters")


def test_deep_config_from_the_program_is_refused(dev_config):
    """`pulumi up` reads the config as JSON, not through our YAML loader: the same limit."""
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(500):
        node["a"] = {}
        node = node["a"]
    dev_config[PLATFORM_KEY]["workloads"]["training"]["values"] = deep
    message = _refused(dev_config, f"nested more than {MAX_DEPTH} levels deep")
    assert "\n" not in message and "workloads.training.values.a.a" in message


def test_one_problem_is_one_line_and_several_one_line_each(dev_config):
    dev_config[PLATFORM_KEY]["network"] = {"master_cidr": "172.16.0.0/24"}
    assert "\n" not in _refused(dev_config)
    dev_config[PLATFORM_KEY]["node_pools"][0]["max_nodes"] = 10_000
    lines = _refused(dev_config).splitlines()
    assert lines[0] == "stack 'test' has 2 invalid settings:"
    assert all(line.startswith(f"  - {PLATFORM_KEY}.") for line in lines[1:])


# Stack files as text: what only the YAML reader sees.

def _stack_text(tmp_path: Path, text: str, name: str = "hostile") -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(text)
    return path


def test_duplicate_keys_name_the_key_and_both_lines(tmp_path):
    dev = (Path(__file__).parents[2] / "stacks" / "Pulumi.dev.yaml").read_text()
    text = dev.replace("        max_nodes: 2\n", "        max_nodes: 2\n        max_nodes: 200\n",
                       1)
    line = _preview_stderr(_stack_text(tmp_path, text))
    first = dev.splitlines().index("        max_nodes: 2") + 1
    assert f"line {first + 1}: duplicate key 'max_nodes' (first at line {first})" in line


def test_a_bare_key_and_its_namespaced_twin_are_duplicates(tmp_path):
    text = "config:\n  platform: {}\n  ml-platform:platform: {}\n"
    line = _preview_stderr(_stack_text(tmp_path, text))
    assert "config keys 'platform' and 'ml-platform:platform' are the same key" in line


@pytest.mark.parametrize(("text", "says"), [
    ("config:\n  gcp:project: &p mlp-dev-000000\n  gcp:region: *p\n",
     "line 2: YAML anchors and aliases (&p / *p) are not allowed"),
    ("config:\n  x: " + "[" * 500 + "]" * 500 + "\n",
     f"line 2: nested more than {MAX_DEPTH} levels deep"),
    ("config:\n  x: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", "nested more than"),
    ("config:\n  x: !!binary aGVsbG8=\n", "tag tag:yaml.org,2002:binary is not allowed"),
    ("config:\n  1: x\n", "config key 1 must be a string"),
    ("config: {unclosed\n", "cannot read it as YAML: line 2, column 1:"),
    ("config:\n  gcp:project: a\x01b\n", "unacceptable character #x0001"),
])
def test_hostile_yaml_is_one_line_never_a_traceback(tmp_path, text, says):
    assert says in _preview_stderr(_stack_text(tmp_path, text))


def test_chart_value_errors_are_one_line(tmp_path, dev_config):
    # The preview renders the serving chart a stack declares (training runs are launched, not
    # declared, so their values are checked by `mlp chart values`, below).
    dev_config[PLATFORM_KEY]["workloads"]["serving"]["values"] = {
        "image": {"tag": "latest"}, "resources": {"limits": {"memory": 4}}}
    line = _preview_stderr(write_stack(tmp_path, "chart", dev_config))
    assert line.startswith("error: stack 'chart': ml-platform:platform.workloads: "
                           "'cifar10-serving' is not valid; the chart does not render")
    assert "image.tag must not be `latest`" in line
    assert "resources.limits.memory must be a string, not" in line


def test_chart_render_command_reads_values_strictly(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("hyperparameters:\n  epochs: 3\n  epochs: 4\n")
    result = runner.invoke(app, ["chart", "render", "cifar10-training", "-f", str(values)])
    assert result.exit_code == 2
    assert "line 3: duplicate key 'epochs' (first at line 2)" in result.stderr
    values.write_text("hyperparameters: {epochs: many}\n")
    result = runner.invoke(app, ["chart", "render", "cifar10-training", "-f", str(values)])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "hyperparameters.epochs must be an integer, not a string" in result.stderr
