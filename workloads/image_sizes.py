"""Benchmark: what each role installs, from a venv synced with only its dependency group.

Each role's group (`pyproject.toml`: iac, trainer, trainer-gpu, predictor, dev) is synced into a
venv of its own with `uv sync --frozen --no-default-groups --group ROLE`, as the images do, and
the files under its site-packages are added up (bytecode not compiled, unlike the images). The
CUDA build's venv is not synced here (its NVIDIA wheels are several GB): its size is the trainer's
with TensorFlow's CPU build taken out and the locked wheels of the CUDA build put in, at their
compressed size, so a lower bound.

Two checks run in the trainer's venv with only `facts/` and `workloads/` on the path, as in the
image: the pipeline compiles (and `pulumi` cannot be imported there), and the kfp components run
(a local pipeline run on synthetic data: prepare-data, train, evaluate). In the IaC venv, the
deployer's offline commands run: `mlp preview`, `mlp policy check`, `mlp preflight`.

`--before REV` measures the single dependency set every image installed at REV (`uv sync
--no-dev`), once; later runs keep it. Results: `workloads/cifar10/benchmarks/image-sizes.yaml`.
Run with `make bench` or `python -m workloads.image_sizes`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from facts.machine import machine_info
from facts.stacks import REPO_ROOT
from facts.text import replace_between

RESULTS = Path(__file__).parent / "cifar10" / "benchmarks" / "image-sizes.yaml"
ROLES = ("iac", "trainer", "trainer-gpu", "predictor", "dev")
ESTIMATED = "trainer-gpu"
"""The role whose size comes from the lock (see the module docstring)."""
README = REPO_ROOT / "workloads" / "README.md"
DOCKER = Path(__file__).parent / "cifar10" / "docker"
IMAGES = {"trainer": DOCKER / "Dockerfile.trainer", "trainer-gpu": DOCKER / "Dockerfile.trainer",
          "predictor": DOCKER / "Dockerfile.predictor"}
"""The image each role is, and the Dockerfile that builds it."""
IMAGE_PACKAGES = ("facts", "workloads")
"""What the images copy of this repository (tests/layers/test_imports.py keeps it enough)."""
TARGET = {"sys_platform": "linux", "platform_machine": "x86_64", "python": "cp311"}
"""The images' platform: python:3.11 on linux/amd64."""
MB = 1_000_000


def _uv(*args: str, cwd: Path, env_dir: Path | None = None) -> str:
    env = {**os.environ, **({"UV_PROJECT_ENVIRONMENT": str(env_dir)} if env_dir else {})}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(["uv", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"uv {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def pruned(role: str) -> list[str]:
    """The site-packages paths the role's image deletes after its sync (`ARG PRUNE`)."""
    if role not in IMAGES:
        return []
    found = re.search(r'^ARG PRUNE="([^"]*)"', IMAGES[role].read_text(), flags=re.M)
    return found.group(1).split() if found else []


def site_packages(venv: Path) -> Path:
    (site,) = venv.glob("lib/python*/site-packages")
    return site


def tree_bytes(folder: Path) -> int:
    """Bytes of the files under `folder` (links not followed, each file once)."""
    seen, total = set(), 0
    for root, _, files in os.walk(folder):
        for name in files:
            st = os.lstat(os.path.join(root, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def distribution_bytes(site: Path, name: str) -> int:
    """Installed bytes of one distribution, from its RECORD."""
    from importlib.metadata import distributions

    for dist in distributions(path=[str(site)]):
        if _norm(dist.metadata["Name"]) == _norm(name):
            return sum((site / f).stat().st_size for f in dist.files or []
                       if (site / f).is_file())
    raise LookupError(f"{name} is not installed in {site}")


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def pinned(group: str, cwd: Path) -> dict[str, str]:
    """name → version the group installs on the images' platform (`uv export`, markers
    evaluated)."""
    from packaging.markers import Marker

    env = {"sys_platform": TARGET["sys_platform"], "platform_machine": TARGET["platform_machine"],
           "platform_system": "Linux", "os_name": "posix", "python_version": "3.11",
           "python_full_version": "3.11.11", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "extra": ""}
    out = _uv("export", "--frozen", "--no-default-groups", "--group", group, "--no-hashes",
              "--no-header", "--no-annotate", "--no-emit-project", cwd=cwd)
    found = {}
    for line in out.splitlines():
        spec, _, marker = line.partition(" ; ")
        if "==" not in spec or (marker and not Marker(marker).evaluate(env)):
            continue
        name, version = spec.split("==")
        found[_norm(name.split("[")[0])] = version
    return found


def wheel_bytes(lock: dict[str, Any], name: str, version: str) -> int:
    """Compressed size of the locked wheel of `name==version` for the images' platform."""
    for package in lock["package"]:
        if _norm(package["name"]) != name or package.get("version") != version:
            continue
        for wheel in package.get("wheels", []):
            tags = wheel["url"].rsplit("/", 1)[1].removesuffix(".whl").split("-")[-3:]
            python, _, plat = tags
            if (python in (TARGET["python"], "py3", "py2.py3") or "abi3" in tags[1]) and \
                    (plat == "any" or ("x86_64" in plat and "linux" in plat)):
                return int(wheel["size"])
    raise LookupError(f"no locked linux x86_64 wheel of {name}=={version}")


def estimate_gpu(cwd: Path, trainer_site: Path) -> dict[str, Any]:
    """The CUDA build: the trainer's venv, less what only it installs, plus the locked wheels
    only the CUDA build installs (compressed: a lower bound)."""
    lock = tomllib.loads((cwd / "uv.lock").read_text())
    cpu, gpu = pinned("trainer", cwd), pinned("trainer-gpu", cwd)
    only_cpu = sorted(set(cpu) - set(gpu))
    only_gpu = {n: v for n, v in gpu.items() if n not in cpu or cpu[n] != v}
    removed = sum(distribution_bytes(trainer_site, n) for n in only_cpu)
    added = {n: wheel_bytes(lock, n, v) for n, v in sorted(only_gpu.items())}
    total = tree_bytes(trainer_site) - removed + sum(added.values())
    return {"bytes": total, "mb": round(total / MB), "how": (
        f"estimate, a lower bound: the trainer venv (pruned as the image is) without "
        f"{', '.join(only_cpu)} "
        f"({round(removed / MB)} MB), plus the compressed locked wheels of "
        f"{len(added)} packages only the CUDA build installs ({round(sum(added.values()) / MB)} "
        "MB: " + ", ".join(f"{n} {round(b / MB)}" for n, b in added.items()) + ")")}


def measure(roles: tuple[str, ...], scratch: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    sizes: dict[str, Any] = {}
    venvs: dict[str, Path] = {}
    for role in roles:
        if role == ESTIMATED:
            continue
        venvs[role] = scratch / f"venv-{role}"
        _uv("sync", "--frozen", "--no-default-groups", "--group", role, "--no-install-project",
            "-q", cwd=REPO_ROOT, env_dir=venvs[role])
        site = site_packages(venvs[role])
        for path in pruned(role):
            shutil.rmtree(site / path)
        total = tree_bytes(site)
        count = len(list(site.glob("*.dist-info")))
        removed = f", then deleted as the image does: {', '.join(pruned(role))}" \
            if pruned(role) else ""
        sizes[role] = {"bytes": total, "mb": round(total / MB), "distributions": count,
                       "how": f"measured: uv sync --frozen --no-default-groups --group {role}"
                              + removed}
    if ESTIMATED in roles:
        sizes[ESTIMATED] = estimate_gpu(REPO_ROOT, site_packages(venvs["trainer"]))
    return sizes, venvs


def measure_before(rev: str, scratch: Path) -> dict[str, Any]:
    """Every image's single dependency set at `rev` (`uv sync --frozen --no-dev`), and the dev
    machine's (`uv sync --frozen`); the CUDA image swapped TensorFlow's CPU build for the CUDA
    one outside the lock, estimated as today's locked wheels."""
    tree = scratch / "before"
    tree.mkdir()
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        text = subprocess.run(["git", "show", f"{rev}:{name}"], cwd=REPO_ROOT, check=True,
                              capture_output=True, text=True).stdout
        (tree / name).write_text(text)
    venv = scratch / "venv-before"
    _uv("sync", "--frozen", "--no-dev", "--no-install-project", "-q", cwd=tree, env_dir=venv)
    site = site_packages(venv)
    everything = tree_bytes(site)
    one_set = {"bytes": everything, "mb": round(everything / MB),
               "distributions": len(list(site.glob("*.dist-info"))),
               "how": f"measured at {rev}: uv sync --frozen --no-dev (one set for every image)"}
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    gpu = pinned("trainer-gpu", REPO_ROOT)
    swap = {n: v for n, v in gpu.items() if n == "tensorflow" or n.startswith("nvidia-")}
    added = sum(wheel_bytes(lock, n, v) for n, v in swap.items())
    removed = distribution_bytes(site, "tensorflow-cpu")
    gpu_total = everything - removed + added
    dev_venv = scratch / "venv-before-dev"
    _uv("sync", "--frozen", "--no-install-project", "-q", cwd=tree, env_dir=dev_venv)
    dev = tree_bytes(site_packages(dev_venv))
    return {"rev": rev, "roles": {
        "iac": {**one_set}, "trainer": {**one_set}, "predictor": {**one_set},
        "trainer-gpu": {"bytes": gpu_total, "mb": round(gpu_total / MB), "how": (
            "estimate, a lower bound: the one set without tensorflow-cpu, plus the compressed "
            "wheels of tensorflow[and-cuda] as locked today (the image installed them unlocked)")},
        "dev": {"bytes": dev, "mb": round(dev / MB),
                "how": f"measured at {rev}: uv sync --frozen (the dev group on top)"}}}


def _image_tree(scratch: Path) -> Path:
    """This repository as the images hold it: only `facts/` and `workloads/`."""
    app = scratch / "app"
    for package in IMAGE_PACKAGES:
        shutil.copytree(REPO_ROOT / package, app / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return app


def _in_image(venv: Path, app: Path, code: str, timeout: float) -> subprocess.CompletedProcess:
    env = {"PATH": f"{venv}/bin:/usr/bin:/bin", "PYTHONPATH": str(app), "HOME": str(app.parent),
           "MPLCONFIGDIR": str(app.parent / "mpl"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=app, env=env,
                          capture_output=True, text=True, timeout=timeout)


COMPILE = """
import importlib.util, sys
from pathlib import Path
from workloads.pipelines.pipeline import compile_pipeline
compile_pipeline("kubeflow", Path("compiled.yaml"))
print(importlib.util.find_spec("pulumi") is None,
      any(m.split(".")[0] == "pulumi" for m in sys.modules))
"""

RUN_COMPONENTS = """
from pathlib import Path
from workloads.pipelines.submit import run_local
run = run_local(Path("runs"), {"accuracy_threshold": "1.0"}, quiet=True)
print(",".join(run.tasks), run.accuracy)
"""


def check_trainer(venv: Path, scratch: Path) -> dict[str, Any]:
    """Compile the pipeline and run its components in the trainer's venv, as the image would."""
    app = _image_tree(scratch)
    started = time.perf_counter()
    compiled = _in_image(venv, app, COMPILE, timeout=300)
    if compiled.returncode:
        raise RuntimeError(f"compile in the trainer venv failed: {compiled.stderr[-2000:]}")
    absent, loaded = compiled.stdout.split()
    golden = REPO_ROOT / "tests" / "pipelines" / "golden" / "cifar10-pipeline-kubeflow.yaml"
    same = _documents((app / "compiled.yaml").read_text()) == _documents(golden.read_text())
    compile_s = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    ran = _in_image(venv, app, RUN_COMPONENTS, timeout=900)
    if ran.returncode:
        raise RuntimeError(f"components in the trainer venv failed: {ran.stderr[-2000:]}")
    tasks, accuracy = ran.stdout.split()[-2:]
    return {"compile": {"pulumi_importable": absent != "True", "pulumi_loaded": loaded == "True",
                        "same_as_golden": same, "seconds": compile_s},
            "components": {"tasks": tasks.split(","), "test_accuracy": float(accuracy),
                           "seconds": round(time.perf_counter() - started, 1)}}


IAC_COMMANDS = (("preview", "dev", "--quiet"), ("policy", "check", "dev"), ("preflight", "dev"))
"""What a deployer runs before `pulumi up`, in the IaC group's venv."""


def check_iac(venv: Path) -> dict[str, Any]:
    """Run the deployer's offline commands in the IaC venv, this repository on the path."""
    env = {"PATH": f"{venv}/bin:/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT),
           "HOME": tempfile.gettempdir()}
    codes = {}
    for command in IAC_COMMANDS:
        done = subprocess.run([str(venv / "bin" / "python"), "-m", "mlp", *command],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode:
            raise RuntimeError(f"mlp {' '.join(command)} in the iac venv: exit "
                               f"{done.returncode}: {done.stderr[-2000:]}")
        codes["mlp " + " ".join(command)] = done.returncode
    return {"exit_codes": codes}


def _documents(text: str) -> list[Any]:
    """A compiled pipeline's YAML documents without the volatile `sdkVersion` (as the golden
    files hold them)."""
    docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    for doc in docs:
        doc.pop("sdkVersion", None)
    return docs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.image_sizes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", metavar="REV",
                        help="also measure the single dependency set of commit REV")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the compile and component runs in the trainer venv")
    args = parser.parse_args(argv)
    old = yaml.safe_load(RESULTS.read_text()) if RESULTS.exists() else {}
    with tempfile.TemporaryDirectory(prefix="image-sizes-") as tmp:
        scratch = Path(tmp)
        before = measure_before(args.before, scratch) if args.before else old.get("before")
        if before is None:
            parser.error("no earlier results to compare with: give --before REV once")
        after, venvs = measure(ROLES, scratch)
        checks = None if args.no_check else {"trainer": check_trainer(venvs["trainer"], scratch),
                                             "iac": check_iac(venvs["iac"])}
    smaller = {role: round(1 - after[role]["bytes"] / before["roles"][role]["bytes"], 3)
               for role in ROLES}
    results = {
        "measured": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": {**machine_info(()), "uv": _uv("--version", cwd=REPO_ROOT).split()[1]},
        "unit": "bytes of the files under site-packages (1 MB = 10^6 bytes); bytecode not "
                "compiled (the images compile it)",
        "images": {role: path.name for role, path in IMAGES.items()},
        "before": before, "after": after, "smaller_by": smaller,
        "checks": checks if checks is not None else old.get("checks"),
    }
    RESULTS.write_text("# Written by `python -m workloads.image_sizes` (make bench).\n"
                       + yaml.safe_dump(results, sort_keys=False, width=100))
    for role in ROLES:
        print(f"{role:12} {before['roles'][role]['mb']:>6} MB -> {after[role]['mb']:>6} MB "
              f"({smaller[role]:.0%} smaller)")
    README.write_text(with_table(README.read_text(), results))
    print(f"table written to {README.relative_to(REPO_ROOT)}")
    return 0


README_START = "<!-- image-sizes:start (from cifar10/benchmarks/image-sizes.yaml) -->"
README_END = "<!-- image-sizes:end -->"


def table(results: dict[str, Any]) -> list[str]:
    """The README's rows: each group's MB before and after, and how much smaller."""
    rows = ["| group | before | after | smaller by |", "|---|---|---|---|"]
    for role in ROLES:
        before, after = results["before"]["roles"][role]["mb"], results["after"][role]["mb"]
        note = " (estimate)" if role == ESTIMATED else ""
        rows.append(f"| `{role}` | {before:,} | {after:,} | "
                    f"{results['smaller_by'][role]:.0%}{note} |")
    return rows


def with_table(text: str, results: dict[str, Any]) -> str:
    """`text` with the rows between the image-sizes markers replaced."""
    return replace_between(text, README_START, README_END, "\n".join(table(results)))


if __name__ == "__main__":
    sys.exit(main())
