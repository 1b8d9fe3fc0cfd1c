"""The README's `uv run mlp ...` examples run as written, offline.

Every command line of the README's bash blocks is extracted (continuation lines joined). A line
that needs something this machine lacks carries a trailing `# needs: <what>` (cloud, cluster, a
terminal of its own, a long training) and is skipped; every other one runs in-process, in order,
from a scratch copy of the repository, and must exit 0. Previews are cached per stack file and
mode for the run, because several examples preview the same stack (a preview is deterministic:
see tests/infra/test_preview.py).
"""

from __future__ import annotations

import copy
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facts.stacks import REPO_ROOT
from mlp.cli import app

README = REPO_ROOT / "README.md"
NEEDS = re.compile(r"#\s*needs:\s*(?P<what>[^;#]+)")
PREFIX = ["uv", "run", "mlp"]


@dataclass(frozen=True)
class Example:
    """One `uv run mlp` command of the README."""

    line: int
    text: str
    needs: str | None

    @property
    def args(self) -> list[str]:
        return shlex.split(self.text, comments=True)[len(PREFIX):]


def readme_examples(text: str) -> list[Example]:
    """Every `uv run mlp` command in the bash blocks of `text`, with its `# needs:` mark."""
    found: list[Example] = []
    in_block, pending, start = False, "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("```"):
            in_block, pending = line == "```bash", ""
            continue
        if not in_block:
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        command, pending = pending + line, ""
        if command.split()[:len(PREFIX)] == PREFIX:
            mark = NEEDS.search(command)
            found.append(Example(start, command, mark["what"].strip() if mark else None))
    return found


EXAMPLES = readme_examples(README.read_text())
OFFLINE = [e for e in EXAMPLES if e.needs is None]


def test_the_readme_has_offline_examples_and_marks_the_rest() -> None:
    assert len(OFFLINE) >= 20, [e.text for e in OFFLINE]
    assert {e.needs.split()[0] for e in EXAMPLES if e.needs} >= {"cloud", "cluster"}
    for example in OFFLINE:
        # A placeholder or a shell variable cannot run as written: it must be marked.
        assert not re.search(r"[$<>]", " ".join(example.args)), (example.line, example.text)


def test_extraction_joins_continued_lines_and_reads_marks() -> None:
    text = ("```bash\nuv run mlp a --x 1 \\\n  --y 2   # note\nuv run mlp b  # needs: cloud; "
            "why\ncurl x\n```\n```text\nuv run mlp c\n```\n")
    found = readme_examples(text)
    assert [(e.line, e.args, e.needs) for e in found] == [
        (2, ["a", "--x", "1", "--y", "2"], None), (4, ["b"], "cloud")]


@pytest.fixture
def scratch_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory that reads like the repository root; what the examples write stays
    in it (README.md is a copy, build/ and reports/ are fresh)."""
    for entry in REPO_ROOT.iterdir():
        if entry.name not in ("README.md", "build", "reports", "artifacts", ".git"):
            (tmp_path / entry.name).symlink_to(entry)
    (tmp_path / "README.md").write_text(README.read_text())
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cached_previews(monkeypatch: pytest.MonkeyPatch) -> None:
    import infra.preview as preview

    real, cache = preview.run_preview, {}

    def run_preview(stack_file, mode: str = "preview"):
        key = (str(Path(stack_file.path).resolve()), mode)
        if key not in cache:
            cache[key] = real(stack_file, mode=mode)
        return copy.deepcopy(cache[key])

    monkeypatch.setattr(preview, "run_preview", run_preview)


def test_the_readme_offline_examples_run_as_written(scratch_repo: Path, cached_previews) -> None:
    runner = CliRunner()
    timings = []
    for example in OFFLINE:
        started = time.monotonic()
        result = runner.invoke(app, example.args)
        timings.append((round(time.monotonic() - started, 1), example.text))
        assert result.exit_code == 0, (f"README line {example.line}: {example.text}\n"
                                       f"{result.output}")
    assert (scratch_repo / "README.md").read_text() == README.read_text()
    assert (scratch_repo / "build" / "prod.json").is_file()
    assert (scratch_repo / "build" / "policy.sarif").is_file()
    assert (scratch_repo / "build" / "cifar10" / "model" / "1" / "saved_model.pb").is_file()
    written = {p.name for p in scratch_repo.iterdir() if not p.is_symlink()}
    assert written <= {"README.md", "build", "reports"}, written
