"""One lock, one dependency group per role: the images install only theirs, the CUDA build is
locked, and the committed size benchmark says what each group weighs and that it runs."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from facts.stacks import REPO_ROOT
from workloads.image_sizes import IMAGES, RESULTS, ROLES, pinned, pruned

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
GROUPS = PYPROJECT["dependency-groups"]
SIZES = yaml.safe_load(RESULTS.read_text())


def test_every_role_has_a_group_and_dev_is_the_default():
    assert set(ROLES) <= set(GROUPS)
    assert PYPROJECT["tool"]["uv"]["default-groups"] == ["dev"]


@pytest.mark.parametrize("role", sorted(IMAGES))
def test_each_image_installs_only_its_group_exactly_as_locked(role):
    text = IMAGES[role].read_text()
    syncs = re.findall(r"uv sync ([^\n\\]*)", text)
    assert syncs and all("--frozen" in s and "--no-default-groups" in s for s in syncs), syncs
    variant = "gpu" if role == "trainer-gpu" else "cpu"
    assert (f'--group {role}' in text or f"{variant}) group={role} ;;" in text), role
    copied = re.findall(r"^COPY (?!--from)(\S+) \./", text, flags=re.M)
    assert [c for c in copied if "." not in c] == ["facts", "workloads"]
    assert pruned(role) == ["tensorflow/include"]


def test_the_cuda_build_is_locked_and_never_shares_a_venv_with_the_cpu_build():
    cpu, gpu = pinned("trainer", REPO_ROOT), pinned("trainer-gpu", REPO_ROOT)
    assert "tensorflow-cpu" in cpu and "tensorflow" not in cpu
    assert "tensorflow" in gpu and "tensorflow-cpu" not in gpu
    assert {"nvidia-cudnn-cu12", "nvidia-cublas-cu12"} <= set(gpu)
    conflicts = PYPROJECT["tool"]["uv"]["conflicts"]
    assert [{"group": "trainer-gpu"}, {"group": "trainer"}] in conflicts


@pytest.mark.parametrize("role", ["trainer", "predictor"])
def test_no_image_group_carries_the_iac_toolchain_or_the_report_libraries(role):
    installed = pinned(role, REPO_ROOT)
    assert not {"pulumi", "pulumi-gcp", "pulumi-kubernetes", "helm-python-sdk",
                "kubernetes-validate", "matplotlib"} & set(installed)


def test_the_committed_sizes_cover_every_role_and_the_predictor_is_40_percent_smaller():
    before, after = SIZES["before"]["roles"], SIZES["after"]
    assert set(before) == set(after) == set(ROLES)
    for role in ROLES:
        assert after[role]["mb"] == round(after[role]["bytes"] / 1e6)
        assert SIZES["smaller_by"][role] == round(1 - after[role]["bytes"] /
                                                  before[role]["bytes"], 3)
    assert after["predictor"]["bytes"] <= 0.6 * before["predictor"]["bytes"]
    assert "estimate" in after["trainer-gpu"]["how"]


def test_the_committed_checks_passed():
    trainer = SIZES["checks"]["trainer"]
    assert trainer["compile"] == {**trainer["compile"], "pulumi_importable": False,
                                  "pulumi_loaded": False, "same_as_golden": True}
    assert trainer["components"]["tasks"] == ["prepare-data", "train", "evaluate"]
    assert set(SIZES["checks"]["iac"]["exit_codes"].values()) == {0}


def test_the_readme_table_is_the_committed_results():
    text = (REPO_ROOT / "workloads" / "README.md").read_text()
    table = text.split("<!-- image-sizes:start")[1].split("<!-- image-sizes:end")[0]
    for role in ROLES:
        before, after = SIZES["before"]["roles"][role]["mb"], SIZES["after"][role]["mb"]
        row = f"| `{role}` | {before:,} | {after:,} | {SIZES['smaller_by'][role]:.0%}"
        assert row in table, row


def test_compiling_the_pipeline_loads_no_pulumi(tmp_path):
    code = ("import sys; from pathlib import Path\n"
            "from workloads.pipelines.pipeline import compile_pipeline\n"
            f"compile_pipeline('vertex', Path({str(tmp_path / 'p.yaml')!r}))\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'pulumi', 'pulumi_gcp', 'pulumi_kubernetes', 'infra', 'cost', 'policies'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "[]"
