"""The Pulumi program: read and validate the stack's config, declare the platform, export."""

import pulumi

from infra.config import ConfigError
from infra.placeholders import find_placeholders, placeholder_message, running_offline
from infra.platform import build_platform
from infra.stack_config import load_from_pulumi

try:
    config = load_from_pulumi()
except ConfigError as err:
    # RunError prints the message without a Python traceback.
    raise pulumi.RunError(str(err)) from None

placeholders = find_placeholders(config)
if placeholders and not running_offline():
    raise pulumi.RunError(placeholder_message(pulumi.get_stack(), placeholders))

for key, value in build_platform(config, pulumi.get_stack()).items():
    pulumi.export(key, value)
