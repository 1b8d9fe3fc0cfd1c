"""The policy pack imports the way Pulumi's policy host runs it: from its own folder, with only
what its requirements install, and no `sys.path` edit."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import sysconfig
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from facts.stacks import REPO_ROOT
from policies.bundle import SELF, write_bundle
from policies.pack import all_policies

HOST = Path(__file__).with_name("host.py").read_text()
PREVIEW = REPO_ROOT / "tests" / "cost" / "fixtures" / "preview-prod.json"
PACK = REPO_ROOT / "policies"
REPO_PACKAGES = {"facts", "infra", "workloads", "cost", "policies", "mlp"}
OPTIONAL = {"psutil", "grpc_tools"}
"""Imported only when present (opentelemetry's resource detector, grpcio's proto loader), so a
pack venv without them works; this environment has them for other reasons."""


def _host(pack: Path, isolated: bool) -> dict:
    """Run `pack` as `python -m pulumi.policy` does: a fresh interpreter in the pack folder,
    whose first `sys.path` entry is that folder (`-c` puts the working directory there as `-m`
    does). Isolated: no `site`, so no `.pth` file adds this repository to the path."""
    site = [sysconfig.get_paths()["purelib"]] if isolated else []
    command = [sys.executable, *(["-S"] if isolated else []), "-c", HOST, str(pack),
               str(PREVIEW), *site]
    result = subprocess.run(command, cwd=pack, capture_output=True, text=True, timeout=300,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@cache
def _closure(requirements: tuple[str, ...]) -> set[str]:
    """Every distribution the requirements install, with their own requirements."""
    seen: set[str] = set()
    todo = [Requirement(line) for line in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        todo.extend(Requirement(r) for r in metadata.requires(req.name) or [])
    return seen


def test_the_pack_entry_point_does_not_edit_sys_path():
    tree = ast.parse((PACK / "__main__.py").read_text())
    touched = [node.lineno for node in ast.walk(tree)
               if isinstance(node, ast.Attribute) and node.attr == "path"
               and isinstance(node.value, ast.Name) and node.value.id == "sys"]
    assert touched == []


def test_the_pack_folder_runs_with_this_repository_installed_by_its_requirements():
    assert SELF in (PACK / "requirements.txt").read_text().splitlines()
    ran = _host(PACK, isolated=False)
    assert ran["built"]["policies"] == [p.name for p in all_policies()]
    assert not ran["path_changed"]
    assert Path(ran["files"]["policies.pack"]).parent == PACK


@pytest.fixture(scope="module")
def bundled(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("pack") / "ml-platform"
    write_bundle(out)
    return out, _host(out, isolated=True)


def test_the_published_pack_builds_every_policy_and_checks_a_preview(bundled):
    _, ran = bundled
    assert ran["built"]["policies"] == [p.name for p in all_policies()]
    assert ran["report"]["summary"]["policies"] == len(all_policies())


def test_the_published_pack_imports_only_its_own_copies_and_its_requirements(bundled):
    out, ran = bundled
    requirements = tuple(line for line in (out / "requirements.txt").read_text().splitlines()
                         if line and not line.startswith("#"))
    allowed = _closure(requirements)
    owners = metadata.packages_distributions()
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    outside = {}
    for name, file in ran["files"].items():
        if not file or name.split(".")[0] == "__main__":
            continue
        path = Path(file).resolve()
        top = name.split(".")[0]
        if top in REPO_PACKAGES:
            assert path.is_relative_to(out.resolve()), f"{name} loaded from {path}"
            continue
        third_party = not path.is_relative_to(stdlib) or "site-packages" in path.parts
        dists = {canonicalize_name(d) for d in owners.get(top, [])}
        if top not in OPTIONAL and third_party and not dists & allowed:
            outside[name] = str(path)
    assert outside == {}
    loaded = {name.split(".")[0] for name in ran["files"]}
    assert {"cost", "facts", "policies"} <= loaded  # COST-10 priced the plan with cost's code
    assert not loaded & {"infra", "workloads", "mlp", "tensorflow", "kfp", "pulumi_gcp"}
