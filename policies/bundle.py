"""A policy pack folder that carries its own code, for `pulumi policy publish`.

`pulumi policy publish` uploads the pack folder as it is, and Pulumi later installs it on other
machines with only its `requirements.txt`. `policies/requirements.txt` installs this repository
(`-e ..`), which a published pack does not have, so the bundle copies the packages the pack
imports (`policies`, `cost` for COST-10's pricing, `facts`) beside `__main__.py`, where the
policy host's `sys.path` finds them, and keeps only the third-party requirements.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from facts.stacks import REPO_ROOT

PACK_DIR = REPO_ROOT / "policies"
PACKAGES = ("facts", "cost", "policies")
"""Packages the pack imports: its own, cost's pricing (COST-10), and the shared facts."""
PACK_FILES = ("PulumiPolicy.yaml", "__main__.py")
SELF = "-e .."
"""The line of `policies/requirements.txt` that installs this repository."""
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "venv", ".gitignore")


class BundleError(ValueError):
    """A folder the bundle must not be written to."""


def requirements() -> list[str]:
    """The published pack's requirements: the pack's own without this repository."""
    lines = (line.strip() for line in (PACK_DIR / "requirements.txt").read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#") and line != SELF]


def write_bundle(out: Path) -> list[Path]:
    """Write the self-contained pack to `out` (new, or empty); return the top-level entries.

    Raises:
        BundleError: if `out` exists and is not an empty folder.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"{out}: the bundle goes into a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    for name in PACK_FILES:
        shutil.copy2(PACK_DIR / name, out / name)
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, out / package, ignore=_SKIP)
    (out / "requirements.txt").write_text(
        "# Written by `mlp policy bundle`: the pack's requirements without this repository,\n"
        "# whose packages sit beside __main__.py.\n" + "\n".join(requirements()) + "\n")
    return sorted(out.iterdir())
