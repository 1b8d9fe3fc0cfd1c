"""Stack names: one rule, checked wherever a name enters, before it becomes a path or part of a
Google Cloud resource name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from facts.stacks import STACK_NAME_MAX, StackNameError, check_stack_name, stack_names, stack_path
from infra.stack_config import StackFile, read_stack_file
from mlp.cli import app
from tests.infra.conftest import write_stack

runner = CliRunner()

SERVICE_ACCOUNT_ID = re.compile(r"^[a-z]([-a-z0-9]{4,28}[a-z0-9])$")
BUCKET_NAME = re.compile(r"^[a-z0-9][-_a-z0-9]{1,61}[a-z0-9]$")


@pytest.mark.parametrize("name", ["dev", "prod", "a", "team-a-2", "abcdefghijklmn"])
def test_valid_names(name: str) -> None:
    assert check_stack_name(name) == name


@pytest.mark.parametrize("name", [
    "", "Dev", "1dev", "-dev", "dev-", "dev_1", "dev.1", "../config/dev", "dev/x",
    "abcdefghijklmno", "dév", "dev\n", None, 3])
def test_invalid_names_name_the_value_and_the_rule(name: object) -> None:
    with pytest.raises(StackNameError) as err:
        check_stack_name(name)
    message = str(err.value)
    assert "\n" not in message
    assert repr(name) in message and f"1-{STACK_NAME_MAX} lowercase letters" in message


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=24))
def test_rule_matches_its_definition(name: str) -> None:
    """Property (200 examples): accepted exactly when the documented rule holds."""
    expected = (0 < len(name) <= STACK_NAME_MAX and name[0] in "abcdefghijklmnopqrstuvwxyz"
                and name[-1] != "-"
                and all(c in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in name))
    try:
        check_stack_name(name)
        accepted = True
    except StackNameError:
        accepted = False
    assert accepted == expected


def test_shipped_stacks_have_valid_names() -> None:
    assert stack_names() == ["dev", "prod", "vertex"]
    for name in stack_names():
        check_stack_name(name)


def test_stack_argument_is_checked_before_it_becomes_a_path() -> None:
    with pytest.raises(StackNameError, match=r"'\.\./stacks/Pulumi\.dev'"):
        stack_path("../stacks/Pulumi.dev")
    result = runner.invoke(app, ["preview", "../stacks/dev"])
    assert result.exit_code == 2
    assert "'../stacks/dev' is not one of 'dev', 'prod', 'vertex'" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("name", ["Prod", "my_stack", "much-too-long-name"])
def test_stack_file_names_are_checked(tmp_path: Path, dev_config, name: str) -> None:
    path = write_stack(tmp_path, name, dev_config)
    with pytest.raises(StackNameError, match=re.escape(f"stack name '{name}' is not valid")):
        read_stack_file(path)
    result = runner.invoke(app, ["preview", "--stack-file", str(path)])
    assert result.exit_code == 2
    assert f"stack name '{name}' is not valid" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_program_checks_the_stack_it_runs_in(tmp_path: Path, dev_config) -> None:
    """`pulumi up -s My_Stack` (no stack file read by us): the program itself refuses."""
    from pulumi import RunError

    from infra.preview import run_preview

    bad = StackFile("My_Stack", tmp_path / "Pulumi.My_Stack.yaml", dev_config)
    with pytest.raises(RunError, match=r"stack: 'My_Stack' is not valid; a stack name is 1-14"):
        run_preview(bad)


def test_longest_name_gives_valid_google_cloud_names(tmp_path: Path, dev_config) -> None:
    """A 14-character stack: every service-account id and bucket name the program declares
    satisfies Google's rules (30 and 63 characters), with nothing truncated."""
    from infra.preview import run_preview

    name = "abcdefghijklmn"
    assert len(name) == STACK_NAME_MAX
    dev_config["gcp:project"] = "p" * 30
    preview = run_preview(read_stack_file(write_stack(tmp_path, name, dev_config)))
    accounts = [r.inputs["accountId"] for r in preview.of_type(
        "gcp:serviceaccount/account:Account")]
    buckets = [r.inputs["name"] for r in preview.of_type("gcp:storage/bucket:Bucket")]
    assert accounts and buckets
    for account in accounts:
        assert SERVICE_ACCOUNT_ID.match(account), account
        assert account.startswith(f"mlp-{name}-")
    for bucket in buckets:
        assert BUCKET_NAME.match(bucket), bucket
        assert bucket.startswith(f"{'p' * 30}-{name}-")
