"""The object-ownership catalogue: how it is built, what it says, and the preview's check."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from facts.preview import Preview, PreviewResource
from facts.stacks import REPO_ROOT
from facts.versions import pins
from infra import cli
from infra.charts import split_documents
from infra.ownership import (
    CATALOGUE_PATH,
    CHART_SOURCES,
    CatalogueObject,
    GitTree,
    OwnershipError,
    RemoteRef,
    build_kustomization,
    dump_catalogue,
    find_conflicts,
    footprint,
    load_catalogue,
    main,
    parse_quantity,
    parse_remote,
    preview_footprint,
)
from infra.preview import run_preview
from infra.stack_config import read_stack_file
from mlp.cli import app
from tests.infra.conftest import preview_of, write_stack

KUBEFLOW = "kubeflow"


def _objects(install: str) -> set[tuple[str, str | None, str]]:
    return {(o.kind, o.namespace, o.name) for o in load_catalogue().installs[install].objects}


# --- what the catalogue says the platform relies on -------------------------------------------


def test_pipelines_cluster_scoped_owns_namespace_kubeflow():
    assert ("Namespace", None, KUBEFLOW) in _objects("pipelines-cluster-scoped")
    (ns,) = [o for o in load_catalogue().installs["pipelines-cluster-scoped"].objects
             if o.kind == "Namespace"]
    assert (ns.repo, ns.tag) == ("kubeflow/pipelines", pins()["pipelines_cluster_scoped"].version)
    assert ns.path == "manifests/kustomize/cluster-scoped-resources/namespace.yaml"


def test_pipelines_ships_what_the_platform_patches():
    objects = _objects("pipelines")
    assert ("ConfigMap", KUBEFLOW, "kfp-launcher") in objects
    assert ("ServiceAccount", KUBEFLOW, "pipeline-runner") in objects
    assert ("ServiceAccount", KUBEFLOW, "ml-pipeline-ui") in objects


@pytest.mark.parametrize("install", ["katib", "training-operator"])
def test_installs_through_overlays_do_not_declare_namespace_kubeflow(install):
    assert not [o for o in _objects(install) if o[0] == "Namespace"]
    # ... while upstream's own kustomization does: the overlay is what keeps one owner.
    upstream = load_catalogue().installs[f"{install}-standalone"]
    assert ("Namespace", None, KUBEFLOW) in {(o.kind, o.namespace, o.name)
                                             for o in upstream.objects}
    assert not upstream.installed_by_platform


def test_kserve_runtimes_live_in_their_own_chart():
    assert not [o for o in _objects("kserve-resources") if o[0] == "ClusterServingRuntime"]
    runtimes = load_catalogue().installs["kserve-runtime-configs"]
    assert runtimes.values == {"kserve": {"servingruntime": {"enabled": True}}}
    assert ("ClusterServingRuntime", None, "kserve-tensorflow-serving") in \
        _objects("kserve-runtime-configs")


def test_every_pin_is_catalogued_at_its_version_with_provenance():
    catalogue = load_catalogue()
    for key, pin in pins().items():
        install = catalogue.installs[key.replace("_", "-")]
        assert install.version == pin.version and install.objects
        if pin.install == "kustomize":
            assert install.directory == (pin.overlay or pin.directory)
            # The pinned repository at the pin; a remote base (Argo in Pipelines) at its ref.
            upstream = parse_remote(pin.directory).repo
            assert {o.tag for o in install.objects if o.repo == upstream} == {pin.version}
        for obj in install.objects:
            assert obj.repo.count("/") == 1 and obj.path.endswith((".yaml", ".yml")), obj


def test_only_a_noted_install_was_read_at_another_tag():
    for install in load_catalogue().installs.values():
        source = CHART_SOURCES.get(install.pin)
        release_tag = source.tag(install.version) if source else install.version
        if install.tag not in (release_tag, "working tree"):
            assert install.note and install.version in install.note and install.tag in \
                install.note


def test_footprints_are_the_sum_of_their_workloads():
    pipelines = load_catalogue().installs["pipelines"].footprint
    assert pipelines.cpu_millicores == sum(w.cpu_millicores for w in pipelines.workloads) > 0
    assert pipelines.pods == sum(w.replicas for w in pipelines.workloads)
    kserve = load_catalogue().installs["kserve-resources"].footprint
    assert [w.name for w in kserve.workloads] == ["kserve-controller-manager"]
    assert kserve.cpu_millicores > 0 and kserve.memory_mib > 0


def test_the_data_file_is_what_the_generator_writes():
    """Sorted and deterministic: loading and dumping again gives the committed bytes."""
    text = CATALOGUE_PATH.read_text()
    command = re.search(r"^#   (uv run python -m infra\.ownership refresh .*)$", text, re.M)
    assert command and "--mirrors MIRRORS" in command.group(1)
    assert dump_catalogue(load_catalogue(), command.group(1)) == text


# --- the preview check -------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_shipped_stacks_have_one_owner_per_object(stack):
    assert find_conflicts(preview_of(stack)) == []


def test_stack_serving_with_kserve_runtimes_has_no_conflict(tmp_path, dev_config):
    dev_config["ml-platform:platform"]["workloads"]["serving"]["runtime"] = "tensorflow"
    preview = run_preview(read_stack_file(write_stack(tmp_path, "tfserving", dev_config)))
    assert find_conflicts(preview) == []
    assert "kserve-runtime-configs" in preview_footprint(preview)


def test_katib_and_training_without_pipelines_have_no_conflict(tmp_path, dev_config):
    dev_config["ml-platform:platform"]["kubeflow"]["pipelines"] = False
    preview = run_preview(read_stack_file(write_stack(tmp_path, "nokfp", dev_config)))
    assert find_conflicts(preview) == []
    (ns,) = [r for r in preview.of_type("kubernetes:core/v1:Namespace")
             if r.inputs["metadata"]["name"] == KUBEFLOW]
    (operator,) = [r for r in preview.resources if r.name == "mlp-kubeflow-training-operator"]
    assert ns.urn in operator.depends_on


def _with(preview: Preview, *extra: PreviewResource) -> Preview:
    return dataclasses.replace(preview, resources=[*preview.resources, *extra])


def _replace_directory(preview: Preview, install: str, directory: str) -> Preview:
    return dataclasses.replace(preview, resources=[
        dataclasses.replace(r, inputs={**r.inputs, "directory": directory})
        if r.name == f"mlp-kubeflow-{install}" else r for r in preview.resources])


def test_a_second_kfp_launcher_fails_naming_both_owners():
    planted = PreviewResource(
        urn="urn:pulumi:dev::ml-platform::kubernetes:core/v1:ConfigMap::planted",
        type="kubernetes:core/v1:ConfigMap", name="planted-kfp-launcher", parent=None,
        inputs={"metadata": {"name": "kfp-launcher", "namespace": KUBEFLOW}, "data": {}},
        depends_on=[], protect=False, custom=True)
    (conflict,) = find_conflicts(_with(preview_of("dev"), planted))
    assert (conflict.kind, conflict.namespace, conflict.name) == \
        ("ConfigMap", KUBEFLOW, "kfp-launcher")
    text = str(conflict)
    assert "install pipelines" in text and "resource planted-kfp-launcher" in text
    assert "kubeflow/pipelines@2.17.0:manifests/kustomize/base/pipeline/" \
           "kfp-launcher-configmap.yaml" in text


@pytest.mark.parametrize("install", ["katib", "training-operator"])
def test_bypassing_an_overlay_gives_namespace_kubeflow_two_owners(install):
    pin = pins()[install.replace("-", "_")]
    preview = _replace_directory(preview_of("dev"), install, pin.directory)
    (conflict,) = find_conflicts(preview)
    assert (conflict.kind, conflict.name) == ("Namespace", KUBEFLOW)
    owners = {o.name.split(" [")[0] for o in conflict.owners}
    assert owners == {"install pipelines-cluster-scoped", f"install {install}-standalone"}


def test_a_patch_is_not_an_owner():
    patch = [r for r in preview_of("dev").resources if r.name == "mlp-kubeflow-kfp-launcher"]
    assert patch and patch[0].type == "kubernetes:core/v1:ConfigMapPatch"
    assert find_conflicts(preview_of("dev")) == []


def test_an_install_the_catalogue_does_not_know_is_refused():
    moved = "https://github.com/kubeflow/katib//manifests/v1beta1/installs/katib-standalone?ref=v9"
    with pytest.raises(OwnershipError, match=r"mlp-kubeflow-katib: directory .*ref=v9 .*refresh"):
        find_conflicts(_replace_directory(preview_of("dev"), "katib", moved))


def test_mlp_preview_exits_1_and_names_the_owners(monkeypatch):
    pin = pins()["katib"]
    broken = _replace_directory(preview_of("dev"), "katib", pin.directory)
    monkeypatch.setattr(cli, "run_stack_preview", lambda resolved: broken)
    result = CliRunner().invoke(app, ["preview", "dev", "-q"])
    assert result.exit_code == 1
    assert "Namespace kubeflow has 2 owners" in result.output
    assert "[mlp-kubeflow-katib]" in result.output
    monkeypatch.setattr(cli, "run_stack_preview", lambda resolved: preview_of("dev"))
    assert CliRunner().invoke(app, ["preview", "dev", "-q"]).exit_code == 0


def test_overlays_wrap_exactly_the_pinned_upstream_directory():
    for pin in pins().values():
        if pin.overlay:
            overlay = yaml.safe_load((REPO_ROOT / pin.overlay / "kustomization.yaml").read_text())
            assert overlay["resources"] == [pin.directory]


# --- the generator -----------------------------------------------------------------------------


def _git_repo(root: Path, files: dict[str, str], tag: str) -> Path:
    """A bare repository whose tag holds `files`."""
    work = root / "work"
    for path, text in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t",
                        *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "files")
    git("tag", tag)
    bare = root / "repo"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare


KUSTOMIZE_TREE = {
    "deploy/base/kustomization.yaml": """
resources: [namespace.yaml, app.yaml, crd/]
configMapGenerator:
  - name: hashed
    literals: [a=1]
  - name: fixed
    literals: [b=2]
    options: {disableNameSuffixHash: true}
""",
    "deploy/base/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
    "deploy/base/app.yaml": """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: elsewhere}
spec:
  template:
    spec:
      containers:
        - {name: app, resources: {requests: {cpu: 250m, memory: 128Mi}}}
        - {name: sidecar}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web}
""",
    "deploy/base/crd/kustomization.yaml": "resources: [crd.yaml]\n",
    "deploy/base/crd/crd.yaml": """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec: {scope: Cluster, names: {kind: Widget}}
""",
    "deploy/overlay/kustomization.yaml": """
namespace: shop
resources:
  - ../base
  - https://github.com/example/extras//manifests?ref=v2
replicas:
  - {name: web, count: 3}
patches:
  - target: {kind: Namespace, name: shop}
    patch: |-
      $patch: delete
      apiVersion: v1
      kind: Namespace
      metadata: {name: shop}
  - path: bigger.yaml
""",
    "deploy/overlay/bigger.yaml": """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
        - {name: app, resources: {requests: {cpu: "1"}}}
""",
}


def test_walking_a_kustomization_at_a_tag(tmp_path):
    main_repo = _git_repo(tmp_path / "main", KUSTOMIZE_TREE, "v1")
    extras = _git_repo(tmp_path / "extras", {
        "manifests/kustomization.yaml": "resources: [role.yaml]\n",
        "manifests/role.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n"
                               "metadata: {name: reader}\n"}, "v2")
    remotes = {"example/extras": extras}

    def resolve(ref: RemoteRef) -> GitTree:
        return GitTree(remotes[ref.repo], ref.repo, ref.ref)

    built = build_kustomization(GitTree(main_repo, "example/main", "v1"), "deploy/overlay",
                                resolve)
    found = {(b.doc["kind"], b.doc["metadata"].get("namespace"), b.doc["metadata"]["name"],
              b.tag, b.path, b.hash_suffix) for b in built}
    assert found == {
        ("Deployment", "shop", "web", "v1", "deploy/base/app.yaml", False),
        ("ServiceAccount", "shop", "web", "v1", "deploy/base/app.yaml", False),
        ("CustomResourceDefinition", None, "widgets.example.com", "v1",
         "deploy/base/crd/crd.yaml", False),
        ("ConfigMap", "shop", "hashed", "v1", "deploy/base/kustomization.yaml", True),
        ("ConfigMap", "shop", "fixed", "v1", "deploy/base/kustomization.yaml", False),
        ("Role", "shop", "reader", "v2", "manifests/role.yaml", False),
    }
    # The patch raised one container's request; replicas multiply; a bare container is named.
    (web,) = footprint(b.doc for b in built).workloads
    assert (web.replicas, web.cpu_millicores, web.memory_mib) == (3, 3000, 384.0)
    assert web.containers_without_requests == ["sidecar"]


def test_walking_refuses_what_it_cannot_model(tmp_path):
    repo = _git_repo(tmp_path, {"k/kustomization.yaml": "namePrefix: x-\nresources: []\n"}, "v1")
    with pytest.raises(OwnershipError, match=r"unsupported field.*namePrefix"):
        build_kustomization(GitTree(repo, "o/r", "v1"), "k", lambda ref: None)
    with pytest.raises(OwnershipError, match="no tag or commit 'v9'"):
        GitTree(repo, "o/r", "v9")


def test_remote_urls_in_both_spellings():
    assert parse_remote("https://github.com/kubeflow/trainer//manifests/overlays/standalone"
                        "?ref=v1.9.4") == RemoteRef("kubeflow/trainer",
                                                    "manifests/overlays/standalone", "v1.9.4")
    assert parse_remote("https://github.com/argoproj/argo-workflows/manifests/base/crds/minimal"
                        "?ref=v4.0.5&timeout=60s") == RemoteRef(
        "argoproj/argo-workflows", "manifests/base/crds/minimal", "v4.0.5")
    assert parse_remote("../base") is None
    with pytest.raises(OwnershipError, match="without \\?ref="):
        parse_remote("https://github.com/o/r//x")


@pytest.mark.parametrize(("value", "unit", "expected"), [
    ("100m", "cpu", 100), ("2", "cpu", 2000), ("0.5", "cpu", 500),
    ("512Mi", "memory", 512), ("1Gi", "memory", 1024), ("1000000", "memory", 1e6 / 2**20)])
def test_quantities(value, unit, expected):
    assert parse_quantity(value, unit) == pytest.approx(expected)


def test_a_bad_quantity_is_named():
    with pytest.raises(OwnershipError, match="'lots' is not a Kubernetes quantity"):
        parse_quantity("lots", "cpu")


def test_refresh_needs_a_mirror_folder(tmp_path, capsys):
    assert main(["refresh", "--mirrors", str(tmp_path / "none")]) == 2
    assert "--mirrors" in capsys.readouterr().err
    assert main(["refresh", "--mirrors", str(tmp_path), "--tag", "nope=v1"]) == 2
    assert "--tag 'nope=v1'" in capsys.readouterr().err


def test_helm_documents_split_as_helm_splits_them():
    text = "a: 1\n---# a comment after the separator\nb: 2\n---\n\n---\nc: 3\n"
    assert split_documents(text) == [{"a": 1}, {"b": 2}, {"c": 3}]


def test_catalogue_objects_are_keyed_by_group_kind_namespace_name():
    obj = CatalogueObject("ConfigMap", "", KUBEFLOW, "kfp-launcher", "o/r", "t", "p.yaml")
    assert obj.key() == ("", "ConfigMap", KUBEFLOW, "kfp-launcher")
