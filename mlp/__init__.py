"""The `mlp` command, the roof over the domains: it composes their sub-commands and nothing
imports it."""
