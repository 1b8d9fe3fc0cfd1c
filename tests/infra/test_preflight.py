"""`mlp preflight`: quotas at maximum size, placeholders, APIs, roles and workload fit."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from facts.stacks import stack_path
from infra.preflight import allocatable, preflight
from infra.stack_config import read_stack_file
from mlp.cli import app
from tests.infra.conftest import preview_of, write_stack

runner = CliRunner()


def report(stack: str):
    return preflight(read_stack_file(stack_path(stack)).platform(), stack, preview_of(stack))


def needs(stack: str, section: str) -> dict[str, str]:
    return {f.what: f.need for f in report(stack).findings if f.section == section}


def test_prod_quotas_at_maximum_size():
    quotas = needs("prod", "quota")
    # gpu-t4 0-6 x 1 T4, gpu-v100 0-3 x 1 V100, all on-demand; three n1-standard-8 pools.
    assert quotas["NVIDIA_T4_GPUS in us-central1"] == "≥ 6"
    assert quotas["NVIDIA_V100_GPUS in us-central1"] == "≥ 3"
    assert quotas["GPUS_ALL_REGIONS (global)"].startswith("≥ 9")
    assert quotas["CPUS in us-central1"] == f"≥ {(6 + 6 + 3) * 8}"
    assert quotas["SSD_TOTAL_GB in us-central1"] == f"≥ {(6 + 6 + 3) * 100}"


def test_spot_pools_need_the_preemptible_gpu_quota():
    quotas = needs("dev", "quota")
    assert "PREEMPTIBLE_NVIDIA_T4_GPUS in us-central1" in quotas
    assert "NVIDIA_T4_GPUS in us-central1" not in quotas


def test_every_placeholder_is_a_todo_with_its_fix():
    todo = {f.what: f.fix for f in report("prod").findings if f.section == "placeholder"}
    assert set(todo) == {"gcp:project", "budget.billing_account",
                         "cluster.authorized_networks[0].cidr",
                         "monitoring.notification_channels[0].address"}
    assert todo["gcp:project"] == "pulumi config set gcp:project <value>"


@pytest.mark.parametrize("stack", ["dev", "prod", "vertex"])
def test_roles_follow_the_declared_resource_types(stack):
    roles = needs(stack, "iam")
    assert "roles/storage.admin" in roles
    assert ("roles/container.admin" in roles) == (stack != "vertex")
    assert ("roles/aiplatform.admin" in roles) == (stack == "vertex")


@pytest.mark.parametrize("stack", ["dev", "prod", "vertex"])
def test_every_declared_type_has_its_roles_in_the_table(stack):
    assert not [f.what for f in report(stack).findings if f.need.startswith("unknown")]


def test_a_type_the_table_does_not_know_is_a_warning_that_names_it(monkeypatch):
    from infra import preflight as module

    known = module.table()
    roles = {k: v for k, v in known["deploy_roles"].items() if k != "gcp:storage/bucket:Bucket"}
    monkeypatch.setattr(module, "table", lambda: {**known, "deploy_roles": roles})
    unknown = [f for f in report("dev").findings if f.need.startswith("unknown")]
    assert [(f.status, f.what) for f in unknown] == [
        ("warn", "roles for gcp:storage/bucket:Bucket")]


def test_allocatable_follows_gkes_reservation_bands():
    cpu, mem = allocatable(4, 15)
    # 6 % of the first core, 1 % of the second, 0.5 % of the next two.
    assert cpu == Decimal("3.92")
    # 25 % of the first 4 GiB, 20 % of the next 4, 10 % of the next 7, and 100 MiB eviction.
    assert mem == Decimal(15) - Decimal("2.5") - Decimal(100) / 1024


def test_shipped_workloads_fit_their_pools():
    fits = [f for f in report("prod").findings if f.section == "capacity"]
    assert {f.what for f in fits} == {"InferenceService cifar10",
                                      "TFJob chief (launched training)",
                                      "Kubeflow and serving on the CPU pools"}
    assert all(f.status == "ok" for f in fits)


def test_a_training_pool_too_small_for_its_job_fails(tmp_path, dev_config):
    """The chart asks 3 CPUs and 12 GiB for the chief: an n1-standard-2 cannot hold it."""
    pools = dev_config["ml-platform:platform"]["node_pools"]
    next(p for p in pools if p["name"] == "gpu-t4-spot")["machine_type"] = "n1-standard-2"
    path = write_stack(tmp_path, "small", dev_config)
    out = tmp_path / "preflight.json"
    result = runner.invoke(app, ["preflight", "--stack-file", str(path), "--json", str(out)])
    assert result.exit_code == 1, result.output
    data = json.loads(out.read_text())
    (bad,) = [f for f in data["findings"] if f["status"] == "fail"]
    assert bad["what"] == "TFJob chief (launched training)" and "does not fit" in bad["need"]
    assert data["failed"] is True


def test_the_shipped_stacks_pass_with_warnings():
    result = runner.invoke(app, ["preflight", "prod", "--json", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert not data["failed"] and {f["status"] for f in data["findings"]} >= {"warn", "todo"}


def test_kubeflows_own_pods_are_counted_from_the_ownership_catalogue():
    (system,) = [f for f in report("prod").findings
                 if f.what == "Kubeflow and serving on the CPU pools"]
    assert system.status == "ok"
    assert "pipelines" in system.need and "2 predictor replica(s)" in system.need
    assert "set no requests and are not counted" in system.need


def test_a_cpu_pool_too_small_for_kubeflow_fails(tmp_path, dev_config):
    """Pipelines alone asks about 0.7 CPU and 3 GiB; one n1-standard-1 (3.75 GB) cannot hold
    Kubeflow and the predictor even at its maximum size."""
    system = dev_config["ml-platform:platform"]["node_pools"][0]
    system.update(machine_type="n1-standard-1", min_nodes=1, max_nodes=1)
    cfg = read_stack_file(write_stack(tmp_path, "tiny", dev_config))
    from infra.preview import run_preview

    result = preflight(cfg.platform(), "tiny", run_preview(cfg))
    (system_finding,) = [f for f in result.findings
                         if f.what == "Kubeflow and serving on the CPU pools"]
    assert system_finding.status == "fail" and result.failed
