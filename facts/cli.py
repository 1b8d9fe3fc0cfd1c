"""The command line's conventions: one way to fail, and choices that `--help` can list.

Every error a command reports is one line on stderr, `error: <what> <value> ...; <allowed>`, and
exit 2 for bad input (or the code given): raised with `fail`, printed by `usage_error` for typer's
own usage errors (`OneLineGroup`, the `mlp` root's class, sends them there) and by `print_error`
for the argparse entry points the containers run (`ArgumentParser`). `mlp --debug` shows the
traceback behind a failure.

`choice` makes an option or argument a typed choice (`--target`, `--pricing`, `--catalog`,
stack names, chart names), so `--help` and shell completion list what is allowed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from typing import Any, Literal, NoReturn

import typer
from typer.core import TyperGroup

BAD_INPUT = 2
"""Exit code for invalid configuration or arguments, as for a usage error."""


def print_error(message: str) -> None:
    """Write `error: <message>` as one line of stderr (red on a terminal, plain elsewhere)."""
    from rich.markup import escape

    err_console().print(f"[bold red]error:[/] {escape(message)}",
                        highlight=False, soft_wrap=True)


def fail(message: str, code: int = BAD_INPUT) -> typer.Exit:
    """Print a clear error to stderr and return the Exit to raise.

    Called while an exception is handled, and with --debug (or MLP_DEBUG=1), the traceback
    behind the message prints first."""
    from facts.verbosity import print_traceback_if_debug

    print_traceback_if_debug()
    print_error(message)
    return typer.Exit(code)


MAX_MESSAGE = 400
"""Longest usage-error message printed: a hostile value is cut, with its length given."""


def usage_error(err: typer.TyperException) -> int:
    """Print typer's own error (unknown option, missing argument, value not among the choices)
    as one line naming the command; return its exit code (2 for usage errors)."""
    ctx = getattr(err, "ctx", None)
    message = " ".join(err.format_message().replace("Value error, ", "").split())
    if len(message) > MAX_MESSAGE:
        message = f"{message[:MAX_MESSAGE - 40]}... ({len(message)} characters)"
    print_error(f"{ctx.command_path}: {message}" if ctx is not None else message)
    return err.exit_code


class OneLineGroup(TyperGroup):
    """A command group whose own errors (an unknown option, a missing argument, a value not
    among the choices) go through `usage_error`, one line and exit 2, in every sub-command,
    instead of typer's usage block. The `mlp` root uses it, and so does any domain app that is
    also run on its own."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as err:
            if type(err).__name__ == "NoArgsIsHelpError":  # the help is already printed
                sys.exit(err.exit_code)
            sys.exit(usage_error(err))
        except typer.Abort:
            print_error("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: `error: argument --epochs: 0 is out of range; ...`, exit
    2, and no usage block (`-h` prints it)."""

    def error(self, message: str) -> NoReturn:
        print_error(message)
        self.exit(BAD_INPUT)


def choice(names: Iterable[str]) -> Any:
    """A `Literal` of `names`, to annotate an option or argument with: `--help` lists them,
    shell completion offers them, and any other value is a usage error naming them."""
    return Literal[tuple(names)]  # type: ignore[valid-type]


def completion(names: Callable[[], Iterable[str]]) -> Callable[[str], list[str]]:
    """A shell-completion callback offering `names()` (read when completing), for options that
    take a name or a path."""
    def complete(incomplete: str) -> list[str]:
        return [name for name in names() if name.startswith(incomplete)]

    return complete


def stack_choice() -> Any:
    """The shipped stacks as a `choice` (read when a command module is imported)."""
    from facts.stacks import stack_names

    return choice(stack_names())


_ERR_CONSOLE: list[Any] = []


def err_console() -> Any:
    """The stderr console every error and warning line goes through (created once, lazily)."""
    if not _ERR_CONSOLE:
        from rich.console import Console

        _ERR_CONSOLE.append(Console(stderr=True))
    return _ERR_CONSOLE[0]
