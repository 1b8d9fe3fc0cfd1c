"""Benchmark of the offline preview: how long `mlp preview <stack>` takes, as a user waits for it.

Measures the wall time of the whole command (interpreter start, imports, program run, rendering)
and of `run_preview` alone inside a warm process, five runs each, and writes the medians with the
machine they ran on to `infra/benchmarks/preview.json`.

Run with `make bench` or `python -m infra.bench`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from facts.machine import machine_info

RESULTS = Path(__file__).parent / "benchmarks" / "preview.json"
RUNS = 5


def _time(fn, runs: int = RUNS) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(round(time.perf_counter() - start, 3))
    return times


def main() -> None:
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


if __name__ == "__main__":
    main()
