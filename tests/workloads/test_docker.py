"""The Dockerfiles cannot be built here; check they agree with the code and the lock they ship."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from tests.workloads.conftest import REPO

DOCKER = REPO / "workloads" / "cifar10" / "docker"
DOCKERFILES = sorted(p for p in DOCKER.glob("Dockerfile.*") if p.suffix != ".dockerignore")


def _locked_version(package: str) -> str:
    lock = (REPO / "uv.lock").read_text()
    match = re.search(rf'\[\[package\]\]\nname = "{re.escape(package)}"\nversion = "([^"]+)"',
                      lock)
    assert match, f"{package} not in uv.lock"
    return match.group(1)


def test_both_images_exist() -> None:
    assert [p.name for p in DOCKERFILES] == ["Dockerfile.predictor", "Dockerfile.trainer"]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_bases_are_pinned_and_user_is_not_root(path: Path) -> None:
    text = path.read_text()
    images = re.findall(r"^(?:ARG PYTHON_IMAGE=|FROM )(\S+)", text, flags=re.M)
    for image in images:
        if image.startswith("$"):
            continue
        assert re.search(r":\d+(\.\d+)+", image), f"{image} is not pinned to a version"
    python_image = re.search(r"ARG PYTHON_IMAGE=python:(\d+\.\d+)\.\d+", text)
    assert python_image and python_image.group(1) == "3.11"
    uv_pin = re.search(r"ghcr.io/astral-sh/uv:(\S+)", text)
    assert uv_pin, "uv is not pinned"
    user = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert "uv sync --frozen --no-default-groups --group" in text


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_entrypoint_module_exists(path: Path) -> None:
    entry = re.search(r'^ENTRYPOINT \["python", "-m", "([\w.]+)"\]', path.read_text(), flags=re.M)
    assert entry, "no python -m entry point"
    assert importlib.util.find_spec(entry.group(1)) is not None


def test_predictor_default_command_matches_its_arguments() -> None:
    from workloads.cifar10.serve import build_parser

    cmd = re.search(r"^CMD \[(.*)\]", (DOCKER / "Dockerfile.predictor").read_text(), flags=re.M)
    assert cmd
    args = [a.strip().strip('"') for a in cmd.group(1).split(",")]
    parsed = build_parser().parse_args(args)
    assert (parsed.model_dir, parsed.host, parsed.port) == ("/mnt/models", "0.0.0.0", 8080)


def test_gpu_tensorflow_is_the_locked_cpu_version() -> None:
    """The CUDA build (group trainer-gpu) and the CPU build are one TensorFlow release."""
    assert _locked_version("tensorflow") == _locked_version("tensorflow-cpu")


def test_both_images_use_one_uv_version() -> None:
    versions = {re.search(r"ghcr.io/astral-sh/uv:(\S+)", p.read_text()).group(1)
                for p in DOCKERFILES}
    assert len(versions) == 1
