"""The offline preview: stacks preview, the JSON round-trips, the CLI fails cleanly."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from facts.preview import PreviewFileError, load_preview
from facts.stacks import stack_names, stack_path
from infra.config import PLATFORM_KEY
from infra.preview import run_preview
from infra.stack_config import read_stack_file
from mlp.cli import app
from tests.infra.conftest import preview_of, write_stack

runner = CliRunner()

# Resource counts per stack for the GKE platform's own types.
GKE_COUNTS = {
    "dev": {"gcp:container/cluster:Cluster": 1, "gcp:container/nodePool:NodePool": 2,
            "ml-platform:gke:NodePool": 2, "gcp:storage/bucket:Bucket": 3,
            "gcp:serviceaccount/account:Account": 4,
            "gcp:serviceaccount/iAMMember:IAMMember": 4,
            # 7 bucket roles of the workloads, and the predictor's feature-log writer
            "gcp:storage/bucketIAMMember:BucketIAMMember": 8,
            "gcp:artifactregistry/repository:Repository": 1,
            "gcp:compute/routerNat:RouterNat": 1},
    "prod": {"gcp:container/cluster:Cluster": 1, "gcp:container/nodePool:NodePool": 3,
             "ml-platform:gke:NodePool": 3, "gcp:storage/bucket:Bucket": 3,
             "gcp:serviceaccount/account:Account": 4},
}


@pytest.mark.parametrize("stack", sorted(GKE_COUNTS))
def test_stack_counts_by_type(stack):
    counts = preview_of(stack).counts()
    for type_, expected in GKE_COUNTS[stack].items():
        assert counts.get(type_) == expected, type_


@pytest.mark.parametrize("stack", stack_names())
def test_every_stack_previews_with_parents_and_known_dependencies(stack):
    preview = preview_of(stack)
    urns = {r.urn for r in preview.resources}
    assert len(urns) == len(preview.resources)
    for r in preview.resources:
        assert r.parent is None or r.parent.endswith("pulumi:pulumi:Stack::ml-platform-" + stack) \
            or r.parent in urns, r.urn
        assert set(r.depends_on) <= urns, r.urn
        if r.type.startswith(("ml-platform:", "kubernetes:helm.sh/v4", "kubernetes:kustomize/v2")):
            assert not r.custom, r.urn  # components: ours and the provider-side ones
        if r.type.startswith("gcp:"):
            assert r.custom, r.urn


def test_previews_in_one_process_do_not_leak_into_each_other():
    first = run_preview(read_stack_file(stack_path("dev")))
    run_preview(read_stack_file(stack_path("prod")))
    again = run_preview(read_stack_file(stack_path("dev")))
    assert again.counts() == first.counts()
    assert all(r.urn.startswith("urn:pulumi:dev::") for r in again.resources)


def test_json_is_written_and_read_back(tmp_path):
    preview = preview_of("dev")
    path = tmp_path / "out" / "dev.json"
    preview.write(path)
    raw = json.loads(path.read_text())
    assert set(raw) == {"schema_version", "stack", "project", "resources", "outputs"}
    assert set(raw["resources"][0]) == {"urn", "type", "name", "parent", "inputs", "depends_on",
                                        "protect", "custom", "ignore_changes",
                                        "delete_before_replace", "retain_on_delete"}
    assert load_preview(path) == preview


def test_exports_name_the_cluster_buckets_and_registry():
    outputs = preview_of("prod").outputs
    assert outputs["clusterName"] == "mlp-prod"
    assert outputs["kubeconfig"] == "[secret]"
    assert outputs["modelsBucket"] == "mlp-prod-000000-prod-models"
    assert outputs["registryUrl"] == "us-central1-docker.pkg.dev/mlp-prod-000000/mlp-prod"


def test_kubeconfig_uses_the_gke_auth_plugin():
    from infra.components.cluster import kubeconfig

    text = kubeconfig("mlp-dev", "203.0.113.10", "Q0E=")
    assert "command: gke-gcloud-auth-plugin" in text and "provideClusterInfo: true" in text
    assert "server: https://203.0.113.10" in text and "auth-provider" not in text


@pytest.mark.parametrize("content", ["{not json", '{"stack": "x"}', '{"stack": "x", "project": "p",'
                                     ' "resources": [{"urn": "u"}], "outputs": {}}'])
def test_malformed_preview_json_is_refused(tmp_path, content):
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(PreviewFileError, match=str(path)):
        load_preview(path)


def test_cli_preview_writes_json(tmp_path):
    out = tmp_path / "dev.json"
    result = runner.invoke(app, ["preview", "dev", "--quiet", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "gcp:container/nodePool:NodePool" in result.output
    assert load_preview(out).stack == "dev"


def test_cli_invalid_config_exits_2_naming_the_field(tmp_path, dev_config):
    dev_config[PLATFORM_KEY]["node_pools"][1]["accelerator"]["count"] = 8
    path = write_stack(tmp_path, "broken", dev_config)
    result = subprocess.run([sys.executable, "-m", "mlp", "preview", "--stack-file",
                             str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "ml-platform:platform.node_pools[1].accelerator.count" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(("args", "says"), [
    (["preview", "nosuchstack"], "'nosuchstack' is not one of 'dev'"),
    (["preview"], "exactly one"),
    (["preview", "dev", "--stack-file", "stacks/Pulumi.dev.yaml"], "exactly one"),
    (["preview", "--stack-file", "README.md"], "Pulumi.<stack>.yaml"),
])
def test_cli_bad_arguments_exit_2(args, says):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert says in result.output


@pytest.mark.parametrize(("content", "says"), [
    ("- just\n- a list\n", "a stack file is a mapping"),
    ("config: [1, 2]\n", "'config' must be a mapping"),
    ("config: {unclosed\n", "cannot read it as YAML"),
])
def test_cli_malformed_stack_files_exit_2(tmp_path, content, says):
    path = tmp_path / "Pulumi.odd.yaml"
    path.write_text(content)
    result = runner.invoke(app, ["preview", "--stack-file", str(path)])
    assert result.exit_code == 2 and says in result.output


def test_preview_json_is_byte_identical_across_processes(tmp_path):
    """Two processes with different hash seeds write the same bytes (sorted keys, sorted lists),
    so a preview committed or compared in review only differs where the plan does."""
    import os
    import subprocess
    import sys

    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"prod-{seed}.json"
        subprocess.run([sys.executable, "-m", "mlp", "preview", "prod", "--quiet",
                        "--json", str(out)], check=True, capture_output=True,
                       env={**os.environ, "PYTHONHASHSEED": seed})
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
