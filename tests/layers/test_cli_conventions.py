"""The `mlp` command's conventions: `-h` everywhere, choices that `--help` and shell completion
list, and every error one line through `facts.cli`, exit 2 for bad input."""

from __future__ import annotations

from typing import get_args

import pytest
import typer
from typer.testing import CliRunner

from cost.catalog import Pricing, snapshots
from facts.stacks import stack_names
from infra.charts import chart_names
from mlp.cli import app
from workloads.pipelines.settings import TARGETS, SubmitTarget
from workloads.tuning.space import space_names

runner = CliRunner()


def _commands(group, path=()):
    for name, command in sorted(group.commands.items()):
        yield (*path, name)
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_the_walk_finds_every_domain():
    tops = {path[0] for path in COMMANDS}
    assert {"preview", "stacks", "preflight", "chart", "cost", "policy", "pipeline", "vertex",
            "train", "serve", "model"} <= tops


@pytest.mark.parametrize("path", [(), *COMMANDS], ids=lambda p: " ".join(p) or "mlp")
def test_every_command_answers_dash_h(path):
    result = runner.invoke(app, [*path, "-h"], prog_name="mlp")
    assert result.exit_code == 0, result.output
    assert "usage" in result.output.lower()


def _complete(words: str) -> list[str]:
    env = {"_MLP_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    result = runner.invoke(app, [], prog_name="mlp", env=env)
    assert result.exit_code == 0, result.output
    return result.output.split()


@pytest.mark.parametrize(("words", "expected"), [
    ("mlp preview ", stack_names()),
    ("mlp preflight ", stack_names()),
    ("mlp cost stack ", stack_names()),
    ("mlp policy check ", stack_names()),
    ("mlp chart values cifar10-training ", stack_names()),
    ("mlp chart render ", chart_names()),
    ("mlp cost machine n1-standard-8 --pricing ", list(get_args(Pricing))),
    ("mlp cost machine n1-standard-8 --catalog ", snapshots()),
    ("mlp cost per-model --catalog ", snapshots()),
    ("mlp pipeline compile --target ", list(TARGETS)),
    ("mlp pipeline run --target ", list(get_args(SubmitTarget))),
    ("mlp vertex tune --space ", space_names()),
])
def test_choices_are_offered_by_shell_completion(words, expected):
    assert expected and _complete(words) == expected


@pytest.mark.parametrize(("path", "listed"), [
    (["preview"], stack_names()),
    (["pipeline", "compile"], list(TARGETS)),
    (["cost", "stack"], snapshots()),
])
def test_help_lists_the_choices(path, listed):
    text = " ".join(runner.invoke(app, [*path, "--help"], prog_name="mlp").output.split())
    assert all(name in text for name in listed), text


def _one_line_error(result, *parts: str) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    assert all(part in lines[0] for part in parts), lines[0]
    return lines[0]


@pytest.mark.parametrize(("argv", "parts"), [
    (["preview", "nosuch"], ["mlp preview", "'nosuch'", "'dev', 'prod', 'vertex'"]),
    (["pipeline", "compile", "--target", "kfp"], ["--target", "'kfp'", "'local'"]),
    (["cost", "machine", "n1-standard-8", "--pricing", "cheap"], ["--pricing", "'cheap'",
                                                                  "'cud-3y'"]),
    (["cost", "per-model", "--catalog", "1999-01-01"], ["--catalog", "'1999-01-01'"]),
    (["preview", "dev", "--bogus"], ["mlp preview", "--bogus"]),
    (["chart", "render"], ["mlp chart render", "name"]),
    (["nosuchcommand"], ["nosuchcommand"]),
    (["train", "--epochs", "0"], ["--epochs", "0 is out of range", "[1, 10000]"]),
    (["train", "--optimizer", "lamb"], ["--optimizer", "'lamb'"]),
])
def test_usage_errors_are_one_line_and_exit_2(argv, parts):
    _one_line_error(runner.invoke(app, argv, prog_name="mlp"), *parts)


def test_a_huge_value_is_cut_in_the_message():
    line = _one_line_error(runner.invoke(app, ["preview", "x" * 100_000], prog_name="mlp"),
                           "characters)")
    assert len(line) < 500
