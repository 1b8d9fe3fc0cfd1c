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

from infra.config import PLATFORM_KEY, PROJECT_KEY, REGION_KEY, PlatformConfig, parse_platform

REPO_ROOT = Path(__file__).resolve().parents[1]
_STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[A-Za-z0-9_.-]+)\.ya?ml$")
SECRET = "[secret]"
"""What a secret value reads as offline: `secure:` config values and secret outputs alike."""


class StackFileError(ValueError):
    """A stack file that cannot be read or is not shaped like a Pulumi stack file."""


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
    """Every stack with a file in the stack config directory, sorted."""
    names = (_STACK_FILE.match(p.name) for p in stacks_dir().iterdir())
    return sorted(m["stack"] for m in names if m)


def stack_path(stack: str) -> Path:
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
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise StackFileError(f"{path}: cannot read it as YAML: {err}") from None
    if not isinstance(raw, dict):
        raise StackFileError(f"{path}: a stack file is a mapping with a 'config' key")
    config = raw.get("config", {})
    if not isinstance(config, dict):
        raise StackFileError(f"{path}: 'config' must be a mapping, got {type(config).__name__}")
    secrets = set()
    parsed: dict[str, Any] = {}
    for key, value in config.items():
        full = key if ":" in key else f"{project_file()['name']}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            secrets.add(full)
            value = SECRET
        parsed[full] = value
    return StackFile(match["stack"], path, parsed, frozenset(secrets))


def pulumi_config_values(stack_file: StackFile) -> dict[str, str]:
    """The stack's config in the form `pulumi.runtime.set_all_config` takes: JSON for objects."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in stack_file.config.items()}


def load_from_pulumi() -> PlatformConfig:
    """Inside a Pulumi program: read the same keys through `pulumi.Config` and validate."""
    import pulumi

    gcp = pulumi.Config("gcp")
    config: dict[str, Any] = {
        PROJECT_KEY: gcp.get("project"),
        REGION_KEY: gcp.get("region"),
        PLATFORM_KEY: pulumi.Config().get_object(PLATFORM_KEY.split(":")[1]),
    }
    return parse_platform(pulumi.get_stack(), config)
