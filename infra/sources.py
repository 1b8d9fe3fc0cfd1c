"""How commands name what they work on: a stack, a stack file or a saved preview.

The one way other domains get a stack's preview (`preview_from`): a saved file is read with the
contract in `facts.preview`; a stack is previewed offline by running the Pulumi program under
Pulumi's mocks, imported only when a stack is previewed. Bad input exits 2 with one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facts.cli import fail

STACK_SOURCES = "give stack names, --all or --stack-file PATH (exactly one of these)"
"""The one message for commands that take several stacks or one stack file."""
StackFileOpt = Annotated[Path | None, typer.Option(
    "--stack-file", help="Any Pulumi.<name>.yaml to use instead of a shipped stack.",
    exists=False, dir_okay=False)]


def resolve_stack_file(stack: str | None, stack_file: Path | None):
    """The `StackFile` named by a stack argument or `--stack-file` (exactly one of them)."""
    from facts.stacks import StackFileError, stack_path
    from infra.stack_config import read_stack_file

    if (stack is None) == (stack_file is None):
        raise fail("give a stack name or --stack-file PATH (exactly one)")
    try:
        return read_stack_file(stack_file if stack_file else stack_path(stack))
    except StackFileError as err:
        raise fail(str(err)) from None


def run_stack_preview(resolved, mode: str = "preview"):
    """Run the offline preview of a read stack file; exit 2 on bad config.

    `mode="apply"` fills the values only the cloud computes with the deterministic values an
    apply would give them (see `infra.preview.run_preview`)."""
    from infra.config import ConfigError
    from infra.preview import run_preview

    try:
        return run_preview(resolved, mode=mode)
    except ConfigError as err:
        raise fail(str(err)) from None


PREVIEW_SOURCES = "give exactly one of: a stack name, --stack-file PATH, --preview FILE"
"""The one message for commands that take a preview from a stack or from a saved file."""


def preview_from(stack: str | None, stack_file: Path | None, preview_file: Path | None,
                 mode: str = "preview"):
    """The preview named by a stack, `--stack-file` or `--preview FILE` (exactly one).

    A stack file is read once and previewed offline; a preview file is loaded and its shape
    checked. Bad input (none or several sources, an unreadable file, invalid config) exits 2.

    Returns:
        ``(preview, stack_file)``: the `StackFile` is None when the preview came from a file.
    """
    from facts.preview import PreviewFileError, load_preview

    if sum(x is not None for x in (stack, stack_file, preview_file)) != 1:
        raise fail(PREVIEW_SOURCES)
    if preview_file is not None:
        try:
            return load_preview(preview_file), None
        except PreviewFileError as err:
            raise fail(str(err)) from None
    resolved = resolve_stack_file(stack, stack_file)
    return run_stack_preview(resolved, mode), resolved
