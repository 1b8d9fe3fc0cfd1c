"""Shipped placeholders never reach the cloud: a real run stops before declaring anything."""

from __future__ import annotations

import pulumi
import pytest

from facts.stacks import stack_path
from infra import placeholders
from infra.placeholders import find_placeholders
from infra.preview import run_preview
from infra.stack_config import read_stack_file
from tests.infra.conftest import preview_of, write_stack


@pytest.mark.parametrize("stack", ["dev", "prod", "vertex"])
def test_every_shipped_stack_is_flagged(stack):
    found = {p.key for p in find_placeholders(read_stack_file(stack_path(stack)).platform())}
    assert "gcp:project" in found
    if stack != "vertex":
        assert "budget.billing_account" in found
        assert "cluster.authorized_networks[0].cidr" in found


def test_real_values_are_not_flagged(tmp_path, dev_config):
    dev_config["gcp:project"] = "acme-ml-dev"
    platform = dev_config["ml-platform:platform"]
    platform["budget"]["billing_account"] = "01A2B3-C4D5E6-F7A8B9"
    platform["cluster"]["authorized_networks"] = [{"cidr": "34.120.0.0/24",
                                                   "display_name": "office"}]
    platform["monitoring"]["notification_channels"] = [{"address": "ml-oncall@acme.io"}]
    cfg = read_stack_file(write_stack(tmp_path, "real", dev_config)).platform()
    assert find_placeholders(cfg) == []


def test_an_example_domain_alert_address_is_a_placeholder(tmp_path, dev_config):
    """RFC 2606 reserves example.com/.net/.org: alerts sent there reach nobody."""
    dev_config["ml-platform:platform"]["monitoring"]["notification_channels"] = [
        {"address": "ops@acme.io"}, {"address": "Team@Example.NET"}]
    cfg = read_stack_file(write_stack(tmp_path, "mail", dev_config)).platform()
    assert [(p.key, p.value) for p in find_placeholders(cfg) if "monitoring" in p.key] == [
        ("monitoring.notification_channels[1].address", "Team@Example.NET")]


def test_a_narrower_documentation_range_is_still_a_placeholder(tmp_path, dev_config):
    dev_config["ml-platform:platform"]["cluster"]["authorized_networks"] = [
        {"cidr": "192.0.2.128/25", "display_name": "docs"}]
    cfg = read_stack_file(write_stack(tmp_path, "docs", dev_config)).platform()
    assert [p.value for p in find_placeholders(cfg)
            if p.key.startswith("cluster.")] == ["192.0.2.128/25"]


def test_offline_preview_runs_with_placeholders():
    assert preview_of("dev").resources


def test_a_real_run_with_placeholders_declares_nothing(monkeypatch):
    """Outside the mocks the program raises before its first resource, naming every value."""
    monkeypatch.setattr(placeholders, "running_offline", lambda: False)
    with pytest.raises(pulumi.RunError) as info:
        run_preview(read_stack_file(stack_path("prod")))
    message = str(info.value)
    assert "nothing was created" in message and "\n" not in message
    for value in ("mlp-prod-000000", "000000-000000-000000", "198.51.100.0/24"):
        assert value in message

