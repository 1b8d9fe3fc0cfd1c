"""The benchmark's machine record: infra's base fields plus the workload's packages and GPUs."""

from __future__ import annotations

import os
from importlib import metadata

import pytest

pytest.importorskip("tensorflow")


def test_machine_info_extends_infras_with_the_workloads_packages() -> None:
    from facts.machine import machine_info as base_info
    from workloads.cifar10.bench import machine_info

    info = machine_info()
    base = base_info(())
    assert {key: info[key] for key in base} == base
    assert info["keras"] == metadata.version("keras")
    assert info["kserve"] == metadata.version("kserve")
    assert "pulumi" not in info and info["gpus"] >= 0
    assert 1 <= info["usable_cpus"] <= (os.cpu_count() or 1)
