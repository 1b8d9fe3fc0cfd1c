"""Benchmarks of the toolchain: how long the offline commands take, as a user waits for them.

1. `mlp preview <stack>`: the wall time of the whole command (interpreter start, imports, program
   run, rendering) and of `run_preview` alone inside a warm process, five runs each, written with
   the machine they ran on to `infra/benchmarks/preview.json`.
2. `mlp preview --all`, `make demo PIPELINE=0` (the demo without the local pipeline run) and
   commands that import no Pulumi (`mlp --help`, `mlp cost machine`), whole-process wall time,
   into the `after` block of `infra/benchmarks/toolchain.yaml` with the goals they are held to.
   The file's `before` block, measured once before these commands took several stacks, is kept.

3. `--suite`: the test suite as `make test` runs it (pytest on 2 workers), once: its wall time
   against the 4-minute goal, its counts and its slowest tests, into
   `infra/benchmarks/test-suite.yaml`. Not part of `make bench`, which CI runs after the suite.

Run with `make bench` or `python -m infra.bench` (`--toolchain-only` for part 2 alone).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from facts.machine import machine_info
from facts.text import replace_between

RESULTS = Path(__file__).parent / "benchmarks" / "preview.json"
TOOLCHAIN = Path(__file__).parent / "benchmarks" / "toolchain.yaml"
SUITE = Path(__file__).parent / "benchmarks" / "test-suite.yaml"
SUITE_GOAL_S = 240.0
"""The test suite's wall-time goal on 2 cores."""
SUITE_COMMAND = ["pytest", "-n", "2", "-q", "-p", "no:cacheprovider", "--durations=15"]
RUNS = 5
TOOLCHAIN_RUNS = 3
GOALS_S = {"preview_all": 10.0, "demo_without_pipeline": 40.0}
"""Wall-time goals, seconds, on 2 cores."""


def _time(fn, runs: int = RUNS) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(round(time.perf_counter() - start, 3))
    return times


def _median(times: list[float]) -> dict[str, object]:
    return {"median": round(statistics.median(times), 2), "min": min(times), "max": max(times),
            "all": times}


def toolchain(runs: int = TOOLCHAIN_RUNS) -> dict[str, object]:
    """Whole-process wall seconds of the toolchain commands, `runs` each (after one warm-up)."""
    import tempfile

    repo = Path(__file__).resolve().parents[1]
    mlp = [sys.executable, "-m", "mlp"]
    with tempfile.TemporaryDirectory(prefix="toolchain-bench-") as tmp:
        commands = {
            "preview_all": [*mlp, "preview", "--all", "--quiet"],
            "demo_without_pipeline": ["make", "--no-print-directory", "demo", "PIPELINE=0",
                                      f"REPORTS={tmp}/reports"],
            "help": [*mlp, "--help"],
            "cost_machine": [*mlp, "cost", "machine", "n1-standard-8"],
        }
        timings = {}
        for name, command in commands.items():
            def run(c: list[str] = command) -> None:
                subprocess.run(c, check=True, capture_output=True, cwd=repo)

            run()  # warm the file cache
            timings[name] = _median(_time(run, runs))
            print(f"{name}: median {timings[name]['median']:.2f} s wall")
    goals = {name: {"goal_s": goal, "median_s": timings[name]["median"],
                    "met": bool(timings[name]["median"] <= goal)}
             for name, goal in GOALS_S.items()}
    return {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine_info(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "runs": runs, "wall_s": timings, "goals": goals}


def parse_pytest_output(text: str) -> dict[str, object]:
    """Counts from pytest's last line and the slowest tests it lists (`--durations`)."""
    import re

    last = (text.strip().splitlines() or [""])[-1]
    counts = {word: int(n) for n, word in re.findall(
        r"(\d+) (passed|failed|skipped|errors?|deselected)", last)}
    slowest = [{"seconds": float(sec), "phase": phase, "test": test}
               for sec, phase, test in re.findall(r"^([\d.]+)s (call|setup|teardown)\s+(\S+)$",
                                                  text, re.MULTILINE)]
    return {"counts": counts, "slowest": slowest}


def measure_suite() -> dict[str, object]:
    """One run of the suite as `make test` runs it: wall seconds, counts, slowest tests."""
    repo = Path(__file__).resolve().parents[1]
    load = [round(x, 2) for x in os.getloadavg()]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *SUITE_COMMAND], capture_output=True, text=True,
                          cwd=repo)
    wall = round(time.perf_counter() - start, 1)
    found = parse_pytest_output(done.stdout)
    return {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine_info(), "load_average_before": load,
            "command": " ".join(["python -m", *SUITE_COMMAND]), "exit_code": done.returncode,
            "wall_s": wall, **found,
            "goal": {"goal_s": SUITE_GOAL_S, "met": bool(wall <= SUITE_GOAL_S)}}


def write_toolchain(after: dict[str, object], path: Path = TOOLCHAIN) -> None:
    """Replace the `after` block of the toolchain results, keeping the recorded `before`."""
    import yaml

    previous = yaml.safe_load(path.read_text()) if path.exists() else {}
    data = {"before": (previous or {}).get("before"), "after": after}
    path.write_text("# Written by `python -m infra.bench` (make bench): `after` is regenerated, "
                    "`before` kept.\n" + yaml.safe_dump(data, sort_keys=False))
    print(f"written {path}")


TABLE_START = "<!-- toolchain-table:start"
TABLE_END = "<!-- toolchain-table:end -->"
ROWS = (("preview_all", "`mlp preview` of every stack"),
        ("demo_without_pipeline", "`make demo PIPELINE=0`"))


def toolchain_table(data: dict[str, object], suite: dict[str, object] | None = None) -> str:
    """The before/after table of `toolchain.yaml`, with each goal and whether it is met, and
    the test suite's last timing (`test-suite.yaml`) when there is one."""
    before = (data.get("before") or {}).get("wall_s", {})  # type: ignore[union-attr]
    after = data.get("after") or {}
    lines = ["| command | before (s) | after (s) | goal | |", "|---|---|---|---|---|"]
    for key, label in ROWS:
        then = before.get(key, {}).get("median")
        now = (after.get("wall_s") or {}).get(key, {}).get("median")  # type: ignore[union-attr]
        goal = (after.get("goals") or {}).get(key, {})  # type: ignore[union-attr]
        met = {True: "**met**", False: "not met"}.get(goal.get("met"), "not measured")
        lines.append(f"| {label} | {then if then is not None else '—'} | "
                     f"{now if now is not None else '—'} | ≤ {GOALS_S[key]:g} s | {met} |")
    if suite:
        met = "**met**" if suite["goal"]["met"] else "not met"  # type: ignore[index]
        lines.append(f"| `make test` ({suite['counts'].get('passed', 0):,} tests, 2 workers; "  # type: ignore[union-attr]
                     f"measured {suite['measured_at']}) | — | {suite['wall_s']} | "
                     f"≤ {SUITE_GOAL_S:g} s | {met} |")
    when = after.get("measured_at", "not yet")
    load = after.get("load_average")
    lines += ["", f"Before: {(data.get('before') or {}).get('commit', '?')}, one process per "  # type: ignore[union-attr]
              f"stack; after: measured {when}"
              + (f", load average {load[0]:g}" if load else "") + "."]
    return "\n".join(lines) + "\n"


def read_suite(path: Path = SUITE) -> dict[str, object] | None:
    """The last test-suite timing, or None before the first `--suite` run."""
    import yaml

    return (yaml.safe_load(path.read_text()) or None) if path.exists() else None


def write_table(markdown: Path, path: Path = TOOLCHAIN) -> None:
    """Replace the toolchain table between the markers of `markdown`."""
    import yaml

    table = toolchain_table(yaml.safe_load(path.read_text()) or {}, read_suite())
    try:
        markdown.write_text(replace_between(markdown.read_text(), TABLE_START, TABLE_END, table))
    except (OSError, ValueError) as err:
        raise SystemExit(f"error: {markdown}: {err}") from None
    print(f"toolchain table written to {markdown}")


def main(argv: Sequence[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["--table"] and len(args) == 2:
        write_table(Path(args[1]))
        return
    if "--suite" in args:
        import yaml

        result = measure_suite()
        if result["exit_code"] != 0:  # a failed run's time is not the suite's: keep the last
            raise SystemExit(f"error: the test suite failed (exit {result['exit_code']}, "
                             f"{result['counts']}); {SUITE} is unchanged")
        SUITE.write_text("# Written by `python -m infra.bench --suite`; regenerate, do not "
                         "edit.\n" + yaml.safe_dump(result, sort_keys=False))
        print(f"test suite: {result['wall_s']} s wall, {result['counts']}; written {SUITE}")
        return
    if "--toolchain-only" in args:
        write_toolchain(toolchain())
        return
    from facts.stacks import stack_names, stack_path
    from infra.preview import run_preview
    from infra.stack_config import read_stack_file

    results: dict[str, object] = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                                  "machine": machine_info(), "runs": RUNS, "stacks": {}}
    for stack in stack_names():
        command = [sys.executable, "-m", "mlp", "preview", stack, "--quiet"]
        cli = _time(lambda c=command: subprocess.run(c, check=True, capture_output=True))
        stack_file = read_stack_file(stack_path(stack))
        run_preview(stack_file)  # warm the imports once
        warm = _time(lambda s=stack_file: run_preview(s))
        results["stacks"][stack] = {  # type: ignore[index]
            "resources": len(run_preview(stack_file).resources),
            "cli_wall_s": {"median": statistics.median(cli), "all": cli},
            "in_process_s": {"median": statistics.median(warm), "all": warm},
        }
        print(f"mlp preview {stack}: median {statistics.median(cli):.2f} s wall "
              f"({statistics.median(warm):.2f} s in a warm process)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {RESULTS}")
    write_toolchain(toolchain())


if __name__ == "__main__":
    main()
