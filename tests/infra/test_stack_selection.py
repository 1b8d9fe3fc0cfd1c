"""Several stacks in one command: `--all` or names, `{stack}` in file options, one exit code;
and the commands that need no Pulumi do not import it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from facts.stack_selection import for_each_stack, stack_file_path
from facts.stacks import REPO_ROOT, stack_names
from mlp.cli import app

runner = CliRunner()


def test_preview_all_writes_each_stack_what_a_single_preview_writes(tmp_path: Path) -> None:
    """One process previews every stack; each file is byte-identical to its own run's."""
    done = subprocess.run([sys.executable, "-m", "mlp", "preview", "--all", "--quiet",
                           "--json", str(tmp_path / "all-{stack}.json")], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stdout.splitlines() if line.startswith("== ")] == [
        *(f"== {name}" for name in stack_names()), f"== {len(stack_names())} stacks: all exit 0"]
    single = tmp_path / "single.json"
    result = runner.invoke(app, ["preview", "prod", "--quiet", "--json", str(single)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "all-prod.json").read_bytes() == single.read_bytes()
    assert sorted(p.name for p in tmp_path.glob("all-*.json")) == [
        f"all-{name}.json" for name in stack_names()]


@pytest.mark.parametrize(("args", "says"), [
    (["preview", "dev", "prod", "--json", "out.json"],
     "--json out.json: with several stacks the path needs {stack}"),
    (["preview", "--all", "dev"], "give stack names or --all, not both"),
    (["preview", "dev", "nosuchstack"], "'nosuchstack' is not one of 'dev', 'prod', 'vertex'"),
    (["preview", "dev", "../prod"], "'../prod'"),
    (["preview", "dev", "prod", "--against", "old.json"], "--against compares one stack"),
    (["policy", "check", "--all", "--json", "-"], "several stacks cannot share stdout"),
    (["policy", "check", "dev", "prod", "--sarif", "p.sarif"], "--sarif p.sarif: with several"),
    (["preflight", "--all", "--json", "-"], "several stacks cannot share stdout"),
    (["cost", "stack", "--all", "--preview", "p.json"], "holding {stack}"),
    (["cost", "stack", "dev", "prod", "--text", "plan.txt"], "--text plan.txt: with several"),
])
def test_bad_stack_selections_exit_2_before_any_preview(args: list[str], says: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_preview(*_args, **_kwargs):
        raise AssertionError("previewed despite bad arguments")

    monkeypatch.setattr("infra.preview.run_preview", no_preview)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert says in " ".join(result.output.split())


def test_every_stack_runs_and_the_highest_exit_code_wins(capsys: pytest.CaptureFixture) -> None:
    ran = []

    def run(name: str) -> None:
        ran.append(name)
        if name == "b":
            raise typer.Exit(1)
        if name == "c":
            raise typer.Exit(2)

    with pytest.raises(typer.Exit) as done:
        for_each_stack(["a", "b", "c", "d"], run)
    assert done.value.exit_code == 2 and ran == ["a", "b", "c", "d"]
    assert "== 4 stacks: b (exit 1), c (exit 2)" in capsys.readouterr().out
    for_each_stack(["a"], lambda name: None)  # one stack passing: no exit raised


def test_stack_names_are_checked_before_they_become_paths() -> None:
    assert stack_file_path(Path("r/p-{stack}.json"), "dev", True, "--json") == Path(
        "r/p-dev.json")
    assert stack_file_path(Path("usage.yaml"), "dev", True, "--usage", output=False) == Path(
        "usage.yaml")
    with pytest.raises(Exception, match="stack name"):
        stack_file_path(Path("r/{stack}.json"), "../../etc", True, "--json")


def test_policy_check_and_cost_stack_take_every_stack_in_one_run(tmp_path: Path) -> None:
    previews = tmp_path / "preview-{stack}.json"
    assert runner.invoke(app, ["preview", "--all", "--quiet", "--json",
                               str(previews)]).exit_code == 0
    plans = tmp_path / "plan-{stack}.json"
    result = runner.invoke(app, ["cost", "stack", "--all", "--preview", str(previews),
                                 "--json", str(plans)])
    assert result.exit_code == 0, result.output
    policy = tmp_path / "policy-{stack}.json"
    result = runner.invoke(app, ["policy", "check", "--all", "--json", str(policy)])
    assert result.exit_code == 0, result.output
    for name in stack_names():
        assert (tmp_path / f"plan-{name}.json").is_file()
        assert (tmp_path / f"policy-{name}.json").is_file()


PULUMI_FREE = (["--help"], ["cost", "machine", "n1-standard-8"], ["cost", "compare", "--out"],
               ["stacks"])
"""Commands that need no Pulumi SDK (`--out` gets a scratch folder)."""


@pytest.mark.parametrize("args", PULUMI_FREE, ids=" ".join)
def test_commands_that_need_no_pulumi_do_not_import_it(args: list[str], tmp_path: Path) -> None:
    argv = [*args, str(tmp_path)] if args[-1] == "--out" else args
    probe = ("import sys, atexit\n"
             "atexit.register(lambda: print('IMPORTED', sorted({m.split('.')[0] for m in "
             "sys.modules if m.startswith('pulumi')}), file=sys.stderr))\n"
             "from mlp.cli import main\n"
             f"sys.argv = ['mlp', *{argv!r}]\n"
             "main()\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "IMPORTED []" in done.stderr, done.stderr[-500:]


def test_the_readme_toolchain_table_is_generated_from_its_results() -> None:
    import yaml

    from infra.bench import TABLE_END, TABLE_START, TOOLCHAIN, read_suite, toolchain_table

    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index("\n", readme.index(TABLE_START)) + 1
    assert readme[start:readme.index(TABLE_END)] == toolchain_table(
        yaml.safe_load(TOOLCHAIN.read_text()), read_suite()), (
        "run: python -m infra.bench --table README.md")


def test_pytest_counts_and_slowest_tests_are_read_from_its_output() -> None:
    from infra.bench import parse_pytest_output

    text = ("..s.\n== slowest 15 durations ==\n34.14s call     tests/a.py::test_x[1]\n"
            "6.51s setup    tests/b.py::test_y\n== short test summary info ==\n"
            "1 failed, 1436 passed, 1 skipped in 190.52s (0:03:10)\n")
    found = parse_pytest_output(text)
    assert found["counts"] == {"failed": 1, "passed": 1436, "skipped": 1}
    assert found["slowest"] == [
        {"seconds": 34.14, "phase": "call", "test": "tests/a.py::test_x[1]"},
        {"seconds": 6.51, "phase": "setup", "test": "tests/b.py::test_y"}]
    assert parse_pytest_output("") == {"counts": {}, "slowest": []}
