"""Reports, plans and findings are the same bytes for the same inputs, so diffs in review show
only what changed. (Preview JSON across processes: tests/infra/test_preview.py.)"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mlp.cli import app

runner = CliRunner()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_the_same_inputs_write_the_same_bytes(tmp_path):
    runs = []
    for n in (1, 2):
        out = tmp_path / f"run{n}"
        for args in (["cost", "compare", "--out", str(out / "cost")],
                     ["cost", "stack", "prod", "--json", str(out / "plan.json"),
                      "--text", str(out / "plan.txt")],
                     ["preflight", "prod", "--json", str(out / "preflight.json")]):
            result = runner.invoke(app, args)
            assert result.exit_code == 0, (args, result.output)
        runs.append(_files(out))
    assert set(runs[0]) >= {"cost/report.html", "cost/results.json", "plan.json",
                            "preflight.json"}
    assert runs[0] == runs[1]
