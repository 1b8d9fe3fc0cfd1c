"""Every API a declared resource needs is enabled by the stack that declares it.

Mocks answer for any resource whether or not its API is on; the first real `pulumi up` does not.
The table `infra/data/services.yaml` maps each resource type (and each feature switched on by an
input) to its service; these tests hold every shipped stack, and variants of it, to that table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from facts.preview import Preview
from infra.preview import run_preview
from infra.stack_config import read_stack_file
from tests.infra.conftest import preview_of, write_stack

TABLE = yaml.safe_load((Path(__file__).parents[2] / "infra" / "data" / "services.yaml")
                       .read_text())
SERVICE = "gcp:projects/service:Service"


def _dig(inputs: dict[str, Any], path: str) -> Any:
    value: Any = inputs
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def missing_services(preview: Preview) -> list[str]:
    """`type name: service` for each resource whose service the preview does not enable."""
    enabled = {r.inputs["service"] for r in preview.of_type(SERVICE)}
    missing = []
    for r in preview.resources:
        if not (r.custom and r.type.startswith("gcp:")):
            continue
        assert r.type in TABLE["resource_types"], (
            f"{r.type} is declared but missing from infra/data/services.yaml")
        needed = set(TABLE["resource_types"][r.type])
        for feature in TABLE["features"]:
            value = _dig(r.inputs, feature["input"])
            off = feature["disabled_values"]
            if r.type == feature["type"] and value is not None and value not in off:
                needed.add(feature["service"])
        missing += [f"{r.type} {r.name}: {s}" for s in sorted(needed - enabled)]
    return missing


@pytest.mark.parametrize("stack", ["dev", "prod", "vertex"])
def test_shipped_stacks_enable_every_api_their_resources_need(stack):
    assert missing_services(preview_of(stack)) == []


def test_binary_authorization_enforced_needs_its_api():
    preview = preview_of("prod")
    (cluster,) = preview.of_type("gcp:container/cluster:Cluster")
    assert cluster.inputs["binaryAuthorization"]["evaluationMode"] != "DISABLED"
    assert "binaryauthorization.googleapis.com" in {
        r.inputs["service"] for r in preview.of_type(SERVICE)}


def test_a_missing_service_is_reported():
    """The check itself can fail: drop the KMS API from prod's preview and it names it."""
    preview = preview_of("prod")
    pruned = Preview(preview.stack, preview.project, [
        r for r in preview.resources
        if not (r.type == SERVICE and r.inputs["service"] == "cloudkms.googleapis.com")],
        preview.outputs)
    assert any(m.endswith(": cloudkms.googleapis.com") and "KeyRing" in m
               for m in missing_services(pruned))


def test_stack_without_budget_or_kms_enables_neither(tmp_path, dev_config):
    platform = dev_config["ml-platform:platform"]
    platform.pop("budget", None)
    platform.setdefault("cluster", {})["secrets_encryption"] = False
    preview = run_preview(read_stack_file(write_stack(tmp_path, "lean", dev_config)))
    assert missing_services(preview) == []
    enabled = {r.inputs["service"] for r in preview.of_type(SERVICE)}
    assert not enabled & {"billingbudgets.googleapis.com", "cloudkms.googleapis.com"}


def test_the_capacity_example_enables_every_api_its_resources_need():
    example = Path(__file__).parents[2] / "stacks" / "examples" / "Pulumi.capacity.yaml"
    preview = run_preview(read_stack_file(example))
    assert any(r.type == "gcp:vertex/aiPersistentResource:AiPersistentResource"
               for r in preview.resources)
    assert missing_services(preview) == []
