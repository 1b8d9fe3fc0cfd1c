"""The `mlp` entry point: root flags anywhere, and an unexpected failure as one line."""

from __future__ import annotations

import pytest

from mlp.cli import hoist_global_flags, main


@pytest.mark.parametrize(("argv", "hoisted"), [
    (["train", "--epochs", "1", "--debug"], ["--debug", "train", "--epochs", "1"]),
    (["-v", "preview", "dev"], ["-v", "preview", "dev"]),
    (["preview", "dev", "--verbose", "--", "--debug"],
     ["--verbose", "preview", "dev", "--", "--debug"]),
    # A root flag's spelling as the value of a sub-command's option stays that value.
    (["cost", "per-model", "--model", "-v", "--debug"],
     ["--debug", "cost", "per-model", "--model", "-v"]),
    (["cost", "per-model", "--model=-v", "-v"], ["-v", "cost", "per-model", "--model=-v"]),
    (["preview", "dev", "--json", "--verbose"], ["preview", "dev", "--json", "--verbose"]),
])
def test_root_flags_move_before_the_subcommand(argv: list[str], hoisted: list[str]) -> None:
    assert hoist_global_flags(argv) == hoisted


def _explode(*_: object) -> None:
    raise RuntimeError("disk on fire\nsecond line")


@pytest.fixture
def exploding_stacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """`mlp stacks` fails inside the command, after the root options took effect (the stack
    names themselves are read while the command is built, to offer them as choices)."""
    import typer

    monkeypatch.setattr(typer, "echo", _explode)
    monkeypatch.delenv("MLP_DEBUG", raising=False)


def test_an_unexpected_exception_is_one_line_with_the_debug_hint(
        exploding_stacks, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["stacks"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "error: RuntimeError: disk on fire (run again with --debug (or MLP_DEBUG=1) for the "
        "traceback)"]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_lets_the_traceback_through(exploding_stacks, monkeypatch: pytest.MonkeyPatch,
                                          how: str) -> None:
    argv = ["stacks", "--debug"] if how == "flag" else ["stacks"]
    if how == "env":
        monkeypatch.setenv("MLP_DEBUG", "1")
    with pytest.raises(RuntimeError, match="disk on fire"):
        main(argv)
