"""`make demo`'s bookkeeping: run each step quietly, record it, and summarise the run.

    python -m mlp.demo start                      # forget the previous run's records
    python -m mlp.demo step NAME -- ARGS...       # run `mlp ARGS...`, record it
    python -m mlp.demo summary                    # print the table, write index.html

A step's output goes to `<reports>/logs/<name>.log`; the terminal gets one line per step: its
result, its time and the files it wrote under the reports folder (found by comparing the folder
before and after). `summary` prints every step as a table and writes `<reports>/index.html`,
which links each file (cost report, previews, preflight, policy results, plans) and each log.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

RECORDS = "steps.jsonl"
"""File under `<reports>/logs/` that holds one JSON record per finished step."""
TAIL_LINES = 20
"""Lines of a failed step's log printed to the terminal."""


@dataclass(frozen=True)
class Step:
    """One finished step of the demo."""

    name: str
    command: str
    code: int
    seconds: float
    files: list[str] = field(default_factory=list)
    log: str = ""

    @property
    def result(self) -> str:
        return "ok" if self.code == 0 else f"failed (exit {self.code})"


def _logs(reports: Path) -> Path:
    return reports / "logs"


def _snapshot(reports: Path) -> dict[str, int]:
    """Every file under `reports` (logs excluded) with its modification time in ns."""
    logs = _logs(reports)
    return {str(p): p.stat().st_mtime_ns for p in sorted(reports.rglob("*"))
            if p.is_file() and logs not in p.parents and p.name != "index.html"}


def slug(name: str) -> str:
    """A step name as a file name: `cost stack dev` → `cost-stack-dev`."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "step"


def start(reports: Path) -> None:
    """Begin a run: create the folders and forget the previous run's step records."""
    _logs(reports).mkdir(parents=True, exist_ok=True)
    (_logs(reports) / RECORDS).write_text("")


def run_step(reports: Path, name: str, args: Sequence[str]) -> Step:
    """Run `mlp ARGS` with its output in the step's log; record and return what it did."""
    logs = _logs(reports)
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{slug(name)}.log"
    before = _snapshot(reports)
    started = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.call([sys.executable, "-m", "mlp", *args], stdout=out,
                               stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "120"})
    seconds = time.perf_counter() - started
    after = _snapshot(reports)
    written = [path for path, mtime in after.items() if before.get(path) != mtime]
    step = Step(name, "mlp " + " ".join(args), code, round(seconds, 1), written, str(log))
    with (logs / RECORDS).open("a") as records:
        records.write(json.dumps(asdict(step), sort_keys=True) + "\n")
    return step


MAX_LISTED = 5
"""More files than this from one step are shown as their folder and a count."""


def shown_files(files: Sequence[str]) -> list[str]:
    """A step's files for the terminal: each one, or their common folder and how many."""
    if len(files) <= MAX_LISTED:
        return list(files)
    return [f"{os.path.commonpath(files)}/ ({len(files)} files)"]


def report_step(step: Step) -> str:
    """The line the terminal gets for a step."""
    files = ", ".join(shown_files(step.files)) or "no files"
    return f"  {step.result} in {step.seconds:.1f} s: {files} (log: {step.log})"


def read_steps(reports: Path) -> list[Step]:
    """The steps recorded since `start`, in the order they ran."""
    path = _logs(reports) / RECORDS
    if not path.is_file():
        return []
    return [Step(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def print_summary(steps: Sequence[Step], index: Path) -> None:
    """The summary table of every step, then where the index page is."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="make demo", title_justify="left")
    for column in ("step", "result", "time", "files written"):
        table.add_column(column, no_wrap=column != "files written")
    for step in steps:
        style = "green" if step.code == 0 else "red"
        table.add_row(step.name, f"[{style}]{step.result}[/]", f"{step.seconds:.1f} s",
                      "\n".join(shown_files(step.files)) or "—")
    console = Console(width=max(120, Console().width))
    console.print(table)
    total = sum(s.seconds for s in steps)
    console.print(f"{len(steps)} steps in {total:.1f} s; every file is linked from {index}",
                  highlight=False)


def index_html(steps: Sequence[Step], reports: Path) -> str:
    """The index page: each step with its result, time, log and the files it wrote."""
    def link(path: str) -> str:
        target = os.path.relpath(path, reports)
        return f'<a href="{html.escape(target)}">{html.escape(target)}</a>'

    rows = []
    for step in steps:
        files = "<br>".join(link(f) for f in step.files) or "—"
        rows.append(
            f"<tr><td>{html.escape(step.name)}</td>"
            f"<td class=\"{'ok' if step.code == 0 else 'failed'}\">"
            f"{html.escape(step.result)}</td><td>{step.seconds:.1f} s</td><td>{files}</td>"
            f"<td>{link(step.log)}</td></tr>")
    body = "\n".join(rows)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ml-platform demo</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; vertical-align: top; }}
.ok {{ color: #060; }} .failed {{ color: #a00; font-weight: bold; }}
</style></head>
<body>
<h1>ml-platform demo</h1>
<p>What <code>make demo</code> ran, offline: each stack's preview, preflight, cost and policy
results, the cost comparison and a local pipeline run.</p>
<table>
<tr><th>step</th><th>result</th><th>time</th><th>files written</th><th>log</th></tr>
{body}
</table>
</body></html>
"""


def summary(reports: Path) -> int:
    """Print the summary and write the index; exit 1 when a recorded step failed."""
    steps = read_steps(reports)
    index = reports / "index.html"
    index.write_text(index_html(steps, reports))
    print_summary(steps, index)
    return 0 if all(s.code == 0 for s in steps) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlp.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("start")
    step = commands.add_parser("step")
    step.add_argument("name")
    step.add_argument("args", nargs=argparse.REMAINDER)
    commands.add_parser("summary")
    ns = parser.parse_args(argv)
    if ns.command == "start":
        start(ns.reports)
        return 0
    if ns.command == "summary":
        return summary(ns.reports)
    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    if not args:
        parser.error("step needs the mlp arguments after --")
    print(f"=== {ns.name}: mlp {' '.join(args)}", flush=True)
    done = run_step(ns.reports, ns.name, args)
    print(report_step(done), flush=True)
    if done.code != 0:
        lines = Path(done.log).read_text(errors="replace").splitlines()
        print("\n".join(f"  | {line}" for line in lines[-TAIL_LINES:]), file=sys.stderr)
    return done.code


if __name__ == "__main__":
    sys.exit(main())
