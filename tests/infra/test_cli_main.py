"""The `mlp` entry point: root flags anywhere, and an unexpected failure as one line."""

from __future__ import annotations

import pytest

from mlp.cli import hoist_global_flags, main


@pytest.mark.parametrize(("argv", "hoisted"), [
    (["train", "--epochs", "1", "--debug"], ["--debug", "train", "--epochs", "1"]),
    (["-v", "preview", "dev"], ["-v", "preview", "dev"]),
    (["preview", "dev", "--verbose", "--", "--debug"],
     ["--verbose", "preview", "dev", "--", "--debug"]),
])
def test_root_flags_move_before_the_subcommand(argv: list[str], hoisted: list[str]) -> None:
    assert hoist_global_flags(argv) == hoisted


def _explode() -> None:
    raise RuntimeError("disk on fire\nsecond line")


@pytest.fixture
def exploding_stacks(monkeypatch: pytest.MonkeyPatch) -> None:
    import facts.stacks as stack_config

    monkeypatch.setattr(stack_config, "stack_names", _explode)
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
