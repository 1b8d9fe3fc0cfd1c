"""Read stack configuration from a `Pulumi.<stack>.yaml` file or from the running Pulumi program.

The offline preview reads stack files directly (there is no Pulumi CLI to do it); the program
reads the same keys through `pulumi.Config`. Both hand the result to `infra.config.parse_platform`,
so validation is identical either way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facts.documents import DocumentError, load_yaml
from facts.preview import SECRET
from facts.stacks import (
    STACK_FILE,
    STACK_NAME_RULE,
    StackFileError,
    StackNameError,
    check_stack_name,
    project_file,
)
from infra.config import (
    PLATFORM_KEY,
    PROJECT_KEY,
    REGION_KEY,
    ConfigError,
    PlatformConfig,
    Problem,
    parse_platform,
)


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


def read_stack_file(path: Path) -> StackFile:
    """Parse a stack file. `secure:` values become placeholders and are listed as secret."""
    match = STACK_FILE.match(path.name)
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
