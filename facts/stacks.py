"""Stack names: the one rule for them, and the stacks this repository ships.

A stack name becomes part of Google Cloud resource names and of paths, so every name that enters
the platform (CLI arguments, stack file names, the running Pulumi program, preview files) is
checked here first. Reading a stack's settings is the Pulumi program's (`infra.stack_config`).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[A-Za-z0-9_.-]+)\.ya?ml$")

STACK_NAME_MAX = 14
"""Longest stack name. The platform names service accounts `mlp-<stack>-<role>`, which Google
limits to 30 characters; 14 keeps the `mlp-<stack>` prefix within 18, leaving room for every
role. Bucket names `<project>-<stack>-<role>` (at most 63) fit with a 30-character project id."""
_STACK_NAME = re.compile(rf"^[a-z]([a-z0-9-]{{0,{STACK_NAME_MAX - 2}}}[a-z0-9])?$")
STACK_NAME_RULE = (f"a stack name is 1-{STACK_NAME_MAX} lowercase letters, digits or hyphens, "
                   "starting with a letter and not ending with a hyphen (it becomes part of "
                   "Google Cloud resource names)")


class StackFileError(ValueError):
    """A stack file that cannot be read or is not shaped like a Pulumi stack file."""


class StackNameError(StackFileError):
    """A stack name that Google Cloud names derived from it could not carry."""


def check_stack_name(name: object) -> str:
    """Return `name` if it is a valid stack name, else raise `StackNameError` (one line).

    Every stack name that enters the platform (CLI arguments, stack file names, the running
    Pulumi program, preview files) goes through here before it becomes part of a path or of a
    cloud resource name.
    """
    if not isinstance(name, str) or not _STACK_NAME.fullmatch(name):
        shown = repr(name) if not isinstance(name, str) or len(name) <= 60 else \
            f"{name[:40]!r}... ({len(name)} characters)"
        raise StackNameError(f"stack name {shown} is not valid; {STACK_NAME_RULE}")
    return name


@cache
def project_file() -> dict[str, Any]:
    """`Pulumi.yaml`, read once per process. Callers must not modify it."""
    return yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())


def stacks_dir() -> Path:
    return REPO_ROOT / project_file().get("stackConfigDir", ".")


def stack_names() -> list[str]:
    """Every stack with a validly named file in the stack config directory, sorted."""
    names = (STACK_FILE.match(p.name) for p in stacks_dir().iterdir())
    return sorted(m["stack"] for m in names if m and _STACK_NAME.fullmatch(m["stack"]))


def stack_path(stack: str) -> Path:
    """The shipped file of a stack; the name is checked before it becomes a path."""
    check_stack_name(stack)
    path = stacks_dir() / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise StackFileError(f"stack '{stack}' has no file {path}; known stacks: "
                             f"{', '.join(stack_names())}")
    return path
