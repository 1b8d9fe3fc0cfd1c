"""Stack configuration: shipped stacks parse; each class of invalid config names its field."""

from __future__ import annotations

from typing import Any

import pytest

from facts.stacks import stack_names, stack_path
from infra.config import PLATFORM_KEY, ConfigError, parse_platform
from infra.stack_config import read_stack_file


def _pools(config: dict[str, Any]) -> list[dict[str, Any]]:
    return config[PLATFORM_KEY]["node_pools"]


def _error(config: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_platform("test", config)
    return info.value


@pytest.mark.parametrize("stack", stack_names())
def test_shipped_stacks_are_valid(stack):
    cfg = read_stack_file(stack_path(stack)).platform()
    assert cfg.project and cfg.region in ("us-central1",)


def test_defaults_fill_what_the_stack_leaves_out():
    cfg = read_stack_file(stack_path("dev")).platform()
    assert cfg.network.master_cidr == "172.16.0.0/28"
    assert cfg.cluster.maintenance_window.duration_hours == 4
    assert cfg.node_pools[0].disk_type == "pd-balanced"
    assert cfg.location == "us-central1-c"


def test_prod_is_a_cpu_pool_per_zone_plus_gpu_pools():
    cfg = read_stack_file(stack_path("prod")).platform()
    cpu = cfg.node_pools[0]
    assert cpu.accelerator is None and cpu.min_nodes == len(cfg.zones) <= cpu.max_nodes
    gpus = {p.accelerator.type: p for p in cfg.node_pools if p.accelerator}
    assert set(gpus) == {"nvidia-tesla-t4", "nvidia-tesla-v100"}
    assert all(p.min_nodes == 0 and not p.spot for p in gpus.values())
    assert cfg.location == "us-central1" and cfg.cluster.mode == "regional"


def test_t4_on_an_e2_machine(dev_config):
    _pools(dev_config)[1]["machine_type"] = "e2-standard-8"
    (p,) = _error(dev_config).problems
    assert p.path == "ml-platform:platform.node_pools[1].accelerator.type"
    assert p.value == "nvidia-tesla-t4"
    assert "attaches only to n1 machines, not e2-standard-8" in p.allowed
    assert "e2-standard-8 takes: no GPUs" in p.allowed


def test_eight_t4s_on_n1_standard_4(dev_config):
    pool = _pools(dev_config)[1]
    pool["machine_type"], pool["accelerator"]["count"] = "n1-standard-4", 8
    (p,) = _error(dev_config).problems
    assert p.path == "ml-platform:platform.node_pools[1].accelerator.count"
    assert p.value == 8 and "counts of 1, 2, 4" in p.allowed


def test_v100_in_a_zone_without_v100(dev_config):
    dev_config["gcp:region"] = "us-east1"
    dev_config[PLATFORM_KEY]["zones"] = ["us-east1-d"]
    _pools(dev_config)[1]["accelerator"]["type"] = "nvidia-tesla-v100"
    (p,) = _error(dev_config).problems
    assert p.path == "ml-platform:platform.node_pools[1].accelerator.type"
    assert "not offered in us-east1-d" in p.allowed and "us-east1-c" in p.allowed


def test_pool_zone_override_without_the_gpu(dev_config):
    dev_config[PLATFORM_KEY]["zones"] = ["us-central1-a", "us-central1-c"]
    dev_config[PLATFORM_KEY]["cluster"]["mode"] = "regional"
    pool = _pools(dev_config)[1]
    pool["accelerator"]["type"], pool["zones"] = "nvidia-tesla-p100", ["us-central1-a"]
    (p,) = _error(dev_config).problems
    assert (p.path, p.value) == ("ml-platform:platform.node_pools[1].zones", "us-central1-a")


def test_min_greater_than_max(dev_config):
    _pools(dev_config)[1]["min_nodes"] = 5
    (p,) = _error(dev_config).problems
    assert (p.path, p.value) == ("ml-platform:platform.node_pools[1].min_nodes", 5)
    assert "at most max_nodes (2)" in p.allowed


def test_unknown_region(dev_config):
    dev_config["gcp:region"] = "mars-north1"
    (p,) = _error(dev_config).problems
    assert (p.path, p.value) == ("gcp:region", "mars-north1")
    assert "us-central1" in p.allowed


def test_zone_of_another_region(dev_config):
    dev_config[PLATFORM_KEY]["zones"] = ["europe-west4-a"]
    problems = _error(dev_config).problems
    assert problems[0].path == "ml-platform:platform.zones[0]"
    assert "zones of us-central1" in problems[0].allowed


def test_host_too_big_for_one_v100(dev_config):
    pool = _pools(dev_config)[1]
    pool["machine_type"], pool["accelerator"]["type"] = "n1-standard-32", "nvidia-tesla-v100"
    (p,) = _error(dev_config).problems
    assert p.path == "ml-platform:platform.node_pools[1].machine_type"
    assert "at most 12 vCPUs" in p.allowed and "would fit with 4 GPUs" in p.allowed


def test_g2_gpu_count_is_fixed_by_the_shape(dev_config):
    pool = _pools(dev_config)[1]
    pool["machine_type"], pool["accelerator"] = "g2-standard-24", {"type": "nvidia-l4", "count": 1}
    (p,) = _error(dev_config).problems
    assert p.path.endswith("accelerator.count") and "exactly 2" in p.allowed


def test_misspelled_key_is_named(dev_config):
    _pools(dev_config)[0]["max_node"] = 3
    (p,) = _error(dev_config).problems
    assert p.path == "ml-platform:platform.node_pools[0].max_node"
    assert "unknown key" in p.allowed


def test_wrong_type_is_named(dev_config):
    _pools(dev_config)[0]["max_nodes"] = "many"
    (p,) = _error(dev_config).problems
    assert (p.path, p.value) == ("ml-platform:platform.node_pools[0].max_nodes", "many")


def test_open_control_plane_is_refused(dev_config):
    dev_config[PLATFORM_KEY]["cluster"]["authorized_networks"] = [
        {"cidr": "0.0.0.0/0", "display_name": "anyone"}]
    (p,) = _error(dev_config).problems
    assert p.path == "ml-platform:platform.cluster.authorized_networks[0].cidr"


def test_zonal_cluster_needs_exactly_one_zone(dev_config):
    dev_config[PLATFORM_KEY]["zones"] = ["us-central1-a", "us-central1-c"]
    (p,) = _error(dev_config).problems
    assert p.path == "ml-platform:platform.zones" and "exactly one zone" in p.allowed


def test_only_gpu_pools_leave_system_pods_nowhere(dev_config):
    del _pools(dev_config)[0]
    (p,) = _error(dev_config).problems
    assert p.path == "ml-platform:platform.node_pools" and "untainted CPU pool" in p.allowed


def test_duplicate_pool_names(dev_config):
    _pools(dev_config)[1]["name"] = "system"
    assert any(p.path.endswith("[1].name") for p in _error(dev_config).problems)


def test_missing_project_and_all_problems_reported_together(dev_config):
    del dev_config["gcp:project"]
    err = _error(dev_config)
    assert err.problems[0].path == "gcp:project"
    assert "pulumi config set gcp:project" in str(err)


def test_every_problem_is_listed_in_one_error(dev_config):
    _pools(dev_config)[1]["min_nodes"] = 9
    _pools(dev_config)[1]["accelerator"]["count"] = 3
    message = str(_error(dev_config))
    assert "2 invalid settings:" in message
    assert "node_pools[1].min_nodes" in message and "node_pools[1].accelerator.count" in message


def test_a_boot_disk_too_small_for_the_images_is_refused(dev_config):
    _pools(dev_config)[0]["disk_size_gb"] = 10
    (p,) = _error(dev_config).problems
    assert "disk_size_gb" in p.path and p.value == 10
