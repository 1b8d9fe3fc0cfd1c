"""Markers of the preview JSON's wire form, shared by its dataclasses and its schema."""

from __future__ import annotations

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""Pulumi's wire marker for a value unknown at preview; readers treat it as not applicable."""

SECRET = "[secret]"
"""What a secret value reads as offline: `secure:` config values and secret outputs alike."""

SCHEMA_VERSION = 1
"""The version a preview file carries; the schema accepts this one only."""
