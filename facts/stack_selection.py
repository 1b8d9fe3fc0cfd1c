"""Several stacks in one command: `mlp preview dev prod`, `mlp policy check --all`.

A command given several stacks runs in one process, so the Pulumi SDK is imported once, and
previews each stack once. Its file options take a `{stack}` placeholder that becomes each
stack's name (`--json reports/preview-{stack}.json`); with several stacks an output option must
have it, so that no stack overwrites another's file. Each stack's output starts with a
`== <stack>` line, a failing stack does not stop the others, and the command exits with the
highest code any stack got (2 bad input, then 1 a finding, then 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

STACK_FIELD = "{stack}"
"""The placeholder a file option writes for each stack's name."""

def stacks_argument(allowed: Callable[[], Sequence[str]] | None = None,
                    what: str = "stacks/Pulumi.<stack>.yaml") -> Any:
    """A variadic stack-name argument: `--help` lists the names, shell completion offers them,
    and any other value is a one-line usage error naming the choices (typer's own choices do
    not take several values)."""
    from facts.cli import completion
    from facts.stacks import stack_names

    names = allowed or stack_names

    def check(values: list[str] | None) -> list[str] | None:
        known = list(names())
        for value in values or ():
            if value not in known:
                raise typer.BadParameter(f"{value!r} is not one of "
                                         f"{', '.join(repr(k) for k in known)}.")
        return values

    return Annotated[list[str] | None, typer.Argument(
        metavar="[STACK]...", show_default=False, callback=check,
        autocompletion=completion(names),
        help=f"Stack names ({what}): {', '.join(names())}. Several run in one process; file "
             "options then take {stack}.")]


StacksArg = stacks_argument()
AllOpt = Annotated[bool, typer.Option("--all", help="Every shipped stack.")]


def chosen_stacks(stacks: Sequence[str] | None, all_stacks: bool,
                  need_file: bool = True) -> list[str]:
    """The stacks named on the command line in order (repeats dropped), or every shipped stack
    with `--all`; with `need_file`, each checked to have a shipped file. Exit 2 naming the bad
    one."""
    from facts.cli import fail
    from facts.stacks import StackFileError, stack_names, stack_path

    if all_stacks and stacks:
        raise fail(f"give stack names or --all, not both (got --all and "
                   f"{' '.join(stacks)})")
    names = stack_names() if all_stacks else list(dict.fromkeys(stacks or []))
    for name in names if need_file else ():
        try:
            stack_path(name)
        except StackFileError as err:
            raise fail(str(err)) from None
    return names


def stack_file_path(template: Path | None, stack: str, several: bool, option: str,
                    output: bool = True) -> Path | None:
    """`template` with `{stack}` replaced by `stack`.

    With several stacks an output path without the placeholder would be written by each of
    them in turn: exit 2 naming the option. An input path without it is shared by every stack.
    """
    from facts.cli import fail
    from facts.stacks import check_stack_name

    if template is None:
        return None
    text = str(template)
    if STACK_FIELD in text:
        return Path(text.replace(STACK_FIELD, check_stack_name(stack)))
    if several and output:
        example = template.with_name(f"{template.stem}-{STACK_FIELD}{template.suffix}")
        raise fail(f"{option} {text}: with several stacks the path needs {STACK_FIELD} (each "
                   f"stack writes its own file), e.g. {example}")
    return template


def check_templates(several: bool, **outputs: Path | None) -> None:
    """Refuse, before any stack runs, output options that several stacks would share.

    `outputs` maps each option as typed (`--json`) with `_` for `-` to its value."""
    for option, template in outputs.items():
        if template is not None and str(template) != "-":
            stack_file_path(template, "x", several, "--" + option.replace("_", "-"))


def for_each_stack(names: Sequence[str], run: Callable[[str], None]) -> None:
    """Run `run(stack)` for every stack, each under a `== <stack>` line when there are
    several; exit with the highest code any of them exited with."""
    from facts.cli import err_console

    codes = []
    for name in names:
        if len(names) > 1:
            typer.echo(f"== {name}")
            err_console().file.flush()
        try:
            run(name)
            codes.append(0)
        except typer.Exit as done:
            codes.append(done.exit_code)
    if len(names) > 1:
        failed = [f"{name} (exit {code})" for name, code in zip(names, codes, strict=True)
                  if code]
        typer.echo(f"== {len(names)} stacks: " + (f"{', '.join(failed)}" if failed
                                                   else "all exit 0"))
    if max(codes, default=0):
        raise typer.Exit(max(codes))
