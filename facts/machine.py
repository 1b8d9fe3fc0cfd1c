"""What a benchmark ran on, recorded beside every committed result."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path


def machine_info(packages: Sequence[str] = ("pulumi", "pulumi-gcp")) -> dict[str, object]:
    """What a benchmark ran on: CPU model, cores, Python, OS and the versions of `packages`
    (keys spelled with `_` for `-`); other benchmarks pass the packages they measure."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "os": platform.platform(),
            **{name.replace("-", "_"): version(name) for name in packages}}
