"""Getting GPUs: the capacity catalog, the stack settings it checks, and the example stack's
preview (flex-start pools through Kueue, a time-shared pool, G2 + L4, a persistent resource)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from typer.testing import CliRunner

from facts.capacity import (
    GKE_NODEPOOL_LABEL,
    MAX_RUN_ANNOTATION,
    QUEUE_LABEL,
    capacity,
    image_fits,
)
from facts.hardware import catalog
from facts.stacks import REPO_ROOT
from infra.charts import CHARTS_DIR
from infra.config import PLATFORM_KEY, ConfigError, parse_platform
from infra.kueue import (
    API_VERSION,
    chart_values,
    integrations,
    queue_objects,
    queue_specs,
)
from infra.ownership import load_catalogue
from infra.preview import Preview, run_preview
from infra.stack_config import read_stack_file
from mlp.cli import app
from tests.infra.conftest import write_stack

EXAMPLE = REPO_ROOT / "stacks" / "examples" / "Pulumi.capacity.yaml"
POOL = "gcp:container/nodePool:NodePool"
runner = CliRunner()


def example_config() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(EXAMPLE.read_text())["config"])


def _pools(config: dict[str, Any]) -> list[dict[str, Any]]:
    return config[PLATFORM_KEY]["node_pools"]


def _problem(config: dict[str, Any]):
    with pytest.raises(ConfigError) as info:
        parse_platform("capacity", config)
    assert len(info.value.problems) == 1, info.value.problems
    assert "\n" not in str(info.value)
    return info.value.problems[0]


_example_preview: list[Preview] = []


def example_preview() -> Preview:
    if not _example_preview:
        _example_preview.append(run_preview(read_stack_file(EXAMPLE)))
    return _example_preview[0]


def _resource(preview: Preview, name: str):
    return next(r for r in preview.resources if r.name == name)


# --- the catalog ---------------------------------------------------------------------------


def test_catalog_names_only_hardware_the_hardware_catalog_knows():
    cap, hw = capacity(), catalog()
    for family, gpus in cap.flex_start.families.items():
        assert set(gpus) <= set(hw.families[family].accelerators_attachable), family
    assert set(cap.sharing.accelerators) <= set(hw.accelerators)
    assert set(cap.vertex.flex_start_accelerators) <= set(hw.accelerators)
    assert set(cap.compute_capability) == set(hw.accelerators)
    # N1 with attached GPUs is general purpose, not accelerator-optimized: no flex-start there.
    assert "n1" not in cap.flex_start.families
    assert cap.flex_start.source.startswith("https://cloud.google.com/")


def test_charts_allow_exactly_the_sharing_range_the_catalog_allows():
    share = capacity().sharing
    for chart in ("cifar10-training", "cifar10-serving"):
        schema = json.loads((CHARTS_DIR / chart / "values.schema.json").read_text())
        sharing = schema["definitions"]["gpuSharing"]
        assert set(sharing["properties"]["strategy"]["enum"]) == {"", *share.strategies}
        assert sharing["properties"]["maxClientsPerGpu"]["maximum"] == share.max_clients
        assert sharing["then"]["properties"]["maxClientsPerGpu"]["minimum"] == share.min_clients


def test_the_serving_chart_asks_for_the_catalogued_tf_serving_gpu_build():
    values = yaml.safe_load((CHARTS_DIR / "cifar10-serving" / "values.yaml").read_text())
    raw = yaml.safe_load((REPO_ROOT / "facts" / "data" / "capacity.yaml").read_text())
    assert values["tensorflowGpuVersion"] == raw["gpu_images"]["tf-serving-gpu"]["tag"]


@pytest.mark.parametrize(("image", "gpu", "runs"), [
    ("trainer-gpu", "nvidia-l4", True),          # sm_89 binaries
    ("trainer-gpu", "nvidia-tesla-t4", True),    # 7.5 runs the sm_70 binaries
    ("trainer-gpu", "nvidia-tesla-p4", True),    # 6.1 runs the sm_60 binaries
    ("tf-serving-gpu", "nvidia-l4", True),       # compute_80 PTX, compiled by the driver
])
def test_gpu_images_have_code_and_drivers_for_each_gpu(image, gpu, runs):
    fit = next(f for f in image_fits() if f.image == image and f.gpu == gpu)
    assert fit.runs is runs


def test_capability_rules_refuse_code_a_gpu_cannot_run():
    trainer = capacity().images["trainer-gpu"]
    assert not trainer.runs_on("5.2")   # older than every binary and PTX it carries
    assert trainer.runs_on("9.0")       # compute_90 PTX
    assert not capacity().images["predictor"].uses_gpu


# --- stack settings ------------------------------------------------------------------------


def test_the_example_stack_is_valid():
    cfg = read_stack_file(EXAMPLE).platform()
    pools = {p.name: p for p in cfg.node_pools}
    assert pools["gpu-l4-queued"].queued and pools["gpu-l4-queued"].flex_start
    assert pools["gpu-t4-shared"].shared is not None
    assert cfg.kubeflow.kueue and cfg.vertex.persistent_resource is not None


REFUSALS = [
    ("flex-start on a GPU the catalog does not list for it",
     lambda c: _pools(c)[1].update(machine_type="n1-standard-8",
                                   accelerator={"type": "nvidia-tesla-t4"}),
     "node_pools[1].provisioning", "flex-start provisions nvidia-l4 on g2 machines"),
    ("a workload asking for 2 GPUs on a time-shared pool",
     lambda c: c[PLATFORM_KEY]["workloads"]["serving"].update(values={"gpu": {"count": 2}}),
     "workloads.serving.values.gpu.count", "at most 1 nvidia.com/gpu"),
    ("too many clients per GPU",
     lambda c: _pools(c)[2]["accelerator"]["sharing"].update(max_clients_per_gpu=64),
     "node_pools[2].accelerator.sharing.max_clients_per_gpu", "2 to 48 containers"),
    ("spot and flex-start at once", lambda c: _pools(c)[1].update(spot=True),
     "node_pools[1].spot", "two provisioning models"),
    ("a run longer than flex-start allows", lambda c: _pools(c)[1].update(max_run_hours=200),
     "node_pools[1].max_run_hours", "at most 168 hours"),
    ("queued provisioning without Kueue",
     lambda c: c[PLATFORM_KEY]["kubeflow"].update(kueue=False),
     "node_pools[1].provisioning", "set kubeflow.kueue: true"),
    ("a run limit on a standard pool", lambda c: _pools(c)[3].update(max_run_hours=12),
     "node_pools[3].max_run_hours", "only flex-start pools"),
    ("a flex-start pool kept warm", lambda c: _pools(c)[1].update(min_nodes=1),
     "node_pools[1].min_nodes", "scales from zero"),
    ("flex-start without a GPU",
     lambda c: (_pools(c)[1].update(machine_type="n1-standard-8", accelerator=None),
                c[PLATFORM_KEY]["workloads"]["training"].update(gpu_pool=None)),
     "node_pools[1].provisioning", "has no accelerator"),
    ("a persistent resource GPU that does not attach",
     lambda c: c[PLATFORM_KEY]["vertex"]["persistent_resource"].update(
         accelerator_type="nvidia-l4"),
     "vertex.persistent_resource.accelerator_type", "attaches only to g2"),
    ("a persistent resource on a stack without Vertex AI",
     lambda c: c[PLATFORM_KEY].update(flavor="kubeflow"),
     "vertex.persistent_resource", "has no Vertex AI"),
]


@pytest.mark.parametrize(("change", "field", "says"), [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
def test_an_unsupported_combination_is_refused_in_one_line(change, field, says):
    config = example_config()
    change(config)
    problem = _problem(config)
    assert problem.path == f"{PLATFORM_KEY}.{field}"
    assert says in problem.allowed


def test_the_cli_refuses_before_any_resource_with_exit_2(tmp_path):
    config = example_config()
    _pools(config)[1].update(machine_type="n1-standard-8", accelerator={"type": "nvidia-tesla-t4"})
    path = write_stack(tmp_path, "capacity", config)
    result = runner.invoke(app, ["preview", "--stack-file", str(path), "--quiet"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "node_pools[1].provisioning" in lines[0], result.output


FAMILY_MACHINE = {"n1": "n1-standard-8", "g2": "g2-standard-8"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(family=st.sampled_from(sorted(FAMILY_MACHINE)),
       gpu=st.sampled_from(sorted(catalog().accelerators)),
       provisioning=st.sampled_from(["flex-start", "queued"]))
def test_flex_start_is_accepted_exactly_where_the_catalog_lists_it(family, gpu, provisioning):
    config = example_config()
    machine = FAMILY_MACHINE[family]
    if gpu not in catalog().families[family].accelerators_attachable:
        return  # an attachment error, tested with the hardware catalog
    _pools(config)[1].update(machine_type=machine, provisioning=provisioning,
                             accelerator={"type": gpu, "count": 1})
    supported = capacity().flex_start.supports(family, gpu)
    if supported:
        parse_platform("capacity", config)
    else:
        assert _problem(config).path.endswith("node_pools[1].provisioning")


@settings(max_examples=60, deadline=None)
@given(clients=st.integers(min_value=-5, max_value=200))
def test_clients_per_gpu_are_accepted_exactly_in_the_catalog_range(clients):
    config = example_config()
    _pools(config)[2]["accelerator"]["sharing"]["max_clients_per_gpu"] = clients
    share = capacity().sharing
    if share.min_clients <= clients <= share.max_clients:
        cfg = parse_platform("capacity", config)
        assert cfg.node_pools[2].shared.max_clients_per_gpu == clients
    else:
        assert "max_clients_per_gpu" in _problem(config).path


@settings(max_examples=60, deadline=None)
@given(hours=st.one_of(st.integers(min_value=-10, max_value=400), st.text(max_size=5),
                       st.floats(allow_nan=True)))
def test_max_run_hours_is_a_whole_number_within_the_limit(hours):
    config = example_config()
    _pools(config)[1]["max_run_hours"] = hours
    try:  # the config models read numbers as pydantic's lax mode does ("12" is 12)
        whole = TypeAdapter(int).validate_python(hours)
    except ValidationError:
        whole = None
    ok = whole is not None and 1 <= whole <= capacity().flex_start.max_run_hours
    if ok:
        parse_platform("capacity", config)
    else:
        with pytest.raises(ConfigError) as info:
            parse_platform("capacity", config)
        assert any("max_run_hours" in p.path for p in info.value.problems)


# --- the example stack's preview --------------------------------------------------------------


def test_preview_shows_the_capacity_inputs_of_each_pool():
    preview = example_preview()
    queued = _resource(preview, "mlp-gpu-l4-queued-pool").inputs
    assert queued["nodeConfig"]["flexStart"] is True
    assert queued["nodeConfig"]["maxRunDuration"] == "86400s"
    assert queued["queuedProvisioning"] == {"enabled": True}
    assert queued["nodeConfig"]["reservationAffinity"] == {
        "consumeReservationType": "NO_RESERVATION"}
    assert queued["autoscaling"]["totalMinNodeCount"] == 0
    assert queued["autoscaling"]["locationPolicy"] == "ANY"
    shared = _resource(preview, "mlp-gpu-t4-shared-pool").inputs
    assert shared["nodeConfig"]["guestAccelerators"][0]["gpuSharingConfig"] == {
        "gpuSharingStrategy": "TIME_SHARING", "maxSharedClientsPerGpu": 4}
    assert "flexStart" not in shared["nodeConfig"] or not shared["nodeConfig"]["flexStart"]
    l4 = _resource(preview, "mlp-gpu-l4-spot-pool").inputs
    assert l4["nodeConfig"]["machineType"] == "g2-standard-8"
    assert l4["nodeConfig"]["guestAccelerators"][0]["type"] == "nvidia-l4"


def test_preview_declares_kueue_and_one_queue_chain_per_queued_pool():
    preview = example_preview()
    chart = _resource(preview, "mlp-kubeflow-kueue")
    assert chart.inputs["chart"] == "oci://registry.k8s.io/kueue/charts/kueue"
    assert chart.inputs["values"] == chart_values()
    kinds = {r.type.rsplit(":", 1)[1]: r for r in preview.resources
             if r.type.startswith(f"kubernetes:{API_VERSION}:")}
    assert set(kinds) == {"ResourceFlavor", "ProvisioningRequestConfig", "AdmissionCheck",
                          "ClusterQueue", "LocalQueue"}
    for r in kinds.values():
        assert chart.urn in r.depends_on, r.name  # after Kueue's CRDs and webhook
    flavor = kinds["ResourceFlavor"].inputs["spec"]
    assert flavor["nodeLabels"] == {GKE_NODEPOOL_LABEL: "gpu-l4-queued"}
    assert any(t["key"] == "cloud.google.com/gke-queued" for t in flavor["tolerations"])
    assert kinds["ProvisioningRequestConfig"].inputs["spec"]["provisioningClassName"] == \
        "queued-provisioning.gke.io"
    queue = kinds["ClusterQueue"].inputs["spec"]
    assert queue["admissionChecksStrategy"]["admissionChecks"] == [{"name": "gpu-l4-queued"}]


def test_a_queue_holds_the_pool_at_its_maximum_size():
    cfg = read_stack_file(EXAMPLE).platform()
    (spec,) = queue_specs(cfg)
    shape = catalog().machine("g2-standard-8")
    assert (spec.cpu, spec.memory_gib, spec.gpus) == (4 * shape.vcpus, 4 * shape.memory_gb, 4)
    queue = next(o for o in queue_objects(spec) if o["kind"] == "ClusterQueue")
    quotas = {r["name"]: r["nominalQuota"]
              for r in queue["spec"]["resourceGroups"][0]["flavors"][0]["resources"]}
    assert quotas == {"cpu": 32, "memory": "128Gi", "nvidia.com/gpu": 4}
    assert [o["metadata"].get("namespace") for o in queue_objects(spec)
            if o["kind"] == "LocalQueue"] == ["ml-training", "kubeflow"]


def test_kueue_kinds_the_platform_declares_are_crds_of_the_pinned_install():
    install = load_catalogue().installs["kueue"]
    crds = {o.name for o in install.objects if o.kind == "CustomResourceDefinition"}
    spec = queue_specs(read_stack_file(EXAMPLE).platform())[0]
    for obj in queue_objects(spec):
        assert f"{obj['kind'].lower()}s.kueue.x-k8s.io" in crds, obj["kind"]
    assert install.values == chart_values()


def test_the_pinned_kueue_admits_tfjobs_because_the_platform_turns_it_on():
    frameworks = integrations()
    assert "kubeflow.org/tfjob" in frameworks and "pod" in frameworks
    assert "batch/job" in frameworks


def test_stacks_without_kueue_declare_none(dev_config):
    preview = run_preview(read_stack_file(REPO_ROOT / "stacks" / "Pulumi.dev.yaml"))
    assert not any("kueue" in r.type or "kueue" in r.name for r in preview.resources)
    pools = [r for r in preview.resources if r.type == POOL]
    assert all("queuedProvisioning" not in r.inputs or r.inputs["queuedProvisioning"] is None
               for r in pools)


def test_the_persistent_resource_is_declared_and_exported():
    preview = example_preview()
    res = _resource(preview, "mlp-vertex-persistent-resource").inputs
    assert res["name"] == "cifar10-reserved"
    pool = res["resourcePools"][0]
    assert pool["machineSpec"] == {"machineType": "n1-standard-8",
                                   "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 1}
    assert pool["replicaCount"] == "1"
    assert preview.outputs["vertexPersistentResource"] == "cifar10-reserved"


def test_launched_training_on_the_queued_pool_carries_kueue_metadata():
    from infra.charts import render
    from infra.components.cifar10 import launch_values

    cfg = read_stack_file(EXAMPLE).platform()
    (tfjob,) = render(CHARTS_DIR / "cifar10-training", launch_values(cfg, "capacity"),
                      release="cifar10", namespace="ml-training")
    assert tfjob["metadata"]["labels"][QUEUE_LABEL] == "gpu-l4-queued"
    assert tfjob["metadata"]["annotations"] == {MAX_RUN_ANNOTATION: "86400"}
    pod = tfjob["spec"]["tfReplicaSpecs"]["Chief"]["template"]["spec"]
    assert pod["nodeSelector"]["cloud.google.com/gke-accelerator"] == "nvidia-l4"


def test_example_stack_file_is_where_the_readme_says(tmp_path):
    assert Path(EXAMPLE).is_file()
    assert "stacks/examples/Pulumi.capacity.yaml" in (REPO_ROOT / "README.md").read_text()


def test_flex_start_pools_need_preemptible_gpu_quota():
    from infra.preflight import quotas, serving_workloads

    cfg = read_stack_file(EXAMPLE).platform()
    needed = {f.what: f.need for f in quotas(cfg)}
    # 4 queued-provisioning L4 nodes and 2 Spot L4 nodes, one L4 each
    assert needed["PREEMPTIBLE_NVIDIA_L4_GPUS in us-central1"] == "≥ 6"
    assert "NVIDIA_L4_GPUS in us-central1" not in needed
    (predictor,) = serving_workloads(cfg, example_preview())  # a KServe runtime's model block
    assert (predictor.pool, predictor.gpus) == ("gpu-t4-shared", 1)
