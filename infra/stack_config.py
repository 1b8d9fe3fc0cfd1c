"""Read stack configuration from a `Pulumi.<stack>.yaml` file or from the running Pulumi program.

The offline preview reads stack files directly (there is no Pulumi CLI to do it); the program
reads the same keys through `pulumi.Config`. Both hand the result to `infra.config.parse_platform`,
so validation is identical either way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from infra.config import (
    PLATFORM_KEY,
    PROJECT_KEY,
    REGION_KEY,
    ConfigError,
    PlatformConfig,
    Problem,
    parse_platform,
)
from infra.documents import DocumentError, load_yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
_STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[A-Za-z0-9_.-]+)\.ya?ml$")
SECRET = "[secret]"
"""What a secret value reads as offline: `secure:` config values and secret outputs alike."""

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


@dataclass(frozen=True)
class StackFile:
    """A stack's name and its `config:` mapping, values parsed (objects stay objects)."""

    name: str
    path: Path
    config: dict[str, Any]
    secret_keys: frozenset[str] = field(default_factory=frozenset)

    def platform(self) -> PlatformConfig:
        """The validated platform config; raises `ConfigError` naming every bad field."""
        return parse_platform(self.name, self.config)


@cache
def project_file() -> dict[str, Any]:
    """`Pulumi.yaml`, read once per process. Callers must not modify it."""
    return yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())


def stacks_dir() -> Path:
    return REPO_ROOT / project_file().get("stackConfigDir", ".")


def stack_names() -> list[str]:
    """Every stack with a validly named file in the stack config directory, sorted."""
    names = (_STACK_FILE.match(p.name) for p in stacks_dir().iterdir())
    return sorted(m["stack"] for m in names if m and _STACK_NAME.fullmatch(m["stack"]))


def stack_path(stack: str) -> Path:
    """The shipped file of a stack; the name is checked before it becomes a path."""
    check_stack_name(stack)
    path = stacks_dir() / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise StackFileError(f"stack '{stack}' has no file {path}; known stacks: "
                             f"{', '.join(stack_names())}")
    return path


def read_stack_file(path: Path) -> StackFile:
    """Parse a stack file. `secure:` values become placeholders and are listed as secret."""
    match = _STACK_FILE.match(path.name)
    if not match:
        raise StackFileError(f"{path}: a stack file is named Pulumi.<stack>.yaml")
    try:
        check_stack_name(match["stack"])
    except StackNameError as err:
        raise StackNameError(f"{path}: {err}") from None
    try:
        raw = load_yaml(path.read_text(), str(path)) or {}
    except (OSError, UnicodeDecodeError) as err:
        raise StackFileError(f"{path}: cannot read it: {err}") from None
    except DocumentError as err:
        raise StackFileError(str(err)) from None
    if not isinstance(raw, dict):
        raise StackFileError(f"{path}: a stack file is a mapping with a 'config' key")
    config = raw.get("config", {})
    if not isinstance(config, dict):
        raise StackFileError(f"{path}: 'config' must be a mapping, got {type(config).__name__}")
    secrets = set()
    parsed: dict[str, Any] = {}
    written: dict[str, str] = {}
    for key, value in config.items():
        if not isinstance(key, str):
            raise StackFileError(f"{path}: config key {key!r} must be a string such as "
                                 "gcp:project")
        full = key if ":" in key else f"{project_file()['name']}:{key}"
        if full in parsed:
            raise StackFileError(f"{path}: config keys {written[full]!r} and {key!r} are the "
                                 "same key (a key without a namespace is the project's)")
        written[full] = key
        if isinstance(value, dict) and set(value) == {"secure"}:
            secrets.add(full)
            value = SECRET
        parsed[full] = value
    return StackFile(match["stack"], path, parsed, frozenset(secrets))


def pulumi_config_values(stack_file: StackFile) -> dict[str, str]:
    """The stack's config in the form `pulumi.runtime.set_all_config` takes: JSON for objects."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in stack_file.config.items()}


def load_from_pulumi() -> PlatformConfig:
    """Inside a Pulumi program: read the same keys through `pulumi.Config` and validate.

    The stack name is checked first, so a name Google Cloud could not carry stops the program
    before any resource is declared.
    """
    import pulumi

    stack = pulumi.get_stack()
    try:
        check_stack_name(stack)
    except StackNameError:
        raise ConfigError(stack, [Problem("stack", stack, STACK_NAME_RULE)]) from None

    gcp = pulumi.Config("gcp")
    config: dict[str, Any] = {
        PROJECT_KEY: gcp.get("project"),
        REGION_KEY: gcp.get("region"),
        PLATFORM_KEY: pulumi.Config().get_object(PLATFORM_KEY.split(":")[1]),
    }
    return parse_platform(stack, config)
