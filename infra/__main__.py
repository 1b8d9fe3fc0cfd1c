"""The Pulumi program: read and validate the stack's config, declare the platform, export."""

import pulumi

from infra.config import ConfigError
from infra.platform import build_platform
from infra.stack_config import load_from_pulumi

try:
    config = load_from_pulumi()
except ConfigError as err:
    # RunError prints the message without a Python traceback.
    raise pulumi.RunError(str(err)) from None

for key, value in build_platform(config, pulumi.get_stack()).items():
    pulumi.export(key, value)
