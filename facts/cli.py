"""The command line's one way to fail: one line on stderr, then exit 2 (or the code given).

Every domain's sub-commands raise what `fail` returns, so a bad argument, an unreadable file or an
invalid stack reads the same everywhere; `mlp --debug` shows the traceback behind it.
"""

from __future__ import annotations

import typer
from rich.console import Console

BAD_INPUT = 2
"""Exit code for invalid configuration or arguments, as for a usage error."""

err_console = Console(stderr=True)


def fail(message: str, code: int = BAD_INPUT) -> typer.Exit:
    """Print a clear error to stderr and return the Exit to raise.

    Called while an exception is handled, and with --debug (or MLP_DEBUG=1), the traceback
    behind the message prints first."""
    from facts.verbosity import print_traceback_if_debug

    print_traceback_if_debug()
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)
