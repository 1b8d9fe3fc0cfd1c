"""How many threads each model operation gets in the predictor: every CPU it may use but one.

The predictor reads, decodes and answers every request on one event-loop thread while the model
runs on another. TensorFlow's default gives each operation a thread per CPU, so on a small pod
the model's threads and the event loop take turns on the same cores, and a lone request waits
for both. Leaving the event loop one CPU answered a lone one-image request faster than the direct
server, and served 16 clients about as fast as TensorFlow's default (`serving` in
`benchmarks/results.yaml`, which records the setting it ran with).

The CPUs the predictor may use are the fewer of the ones it may run on (`sched_getaffinity`)
and its cgroup's CPU limit (`cpu.max`, which a Kubernetes CPU limit sets), rounded up.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path

from facts.text import shown, whole_number

THREADS_ENV = "PREDICTOR_MODEL_THREADS"
MAX_THREADS = 1024
"""More threads than this are refused as a setting: no machine the catalog knows has as many."""
CGROUP = Path("/sys/fs/cgroup")

log = logging.getLogger("kserve.cifar10")


class ThreadSettingError(ValueError):
    """A thread count out of range; the message names the flag or variable, value and range."""


def cgroup_cpu_limit(root: Path = CGROUP) -> int | None:
    """The cgroup v2 CPU limit, rounded up to whole CPUs; None when there is none or it cannot
    be read (`cpu.max` holds `max PERIOD` without a limit, `QUOTA PERIOD` with one)."""
    try:
        fields = (root / "cpu.max").read_text().split()
    except (OSError, UnicodeDecodeError):
        return None
    if len(fields) != 2 or not all(f.isascii() and f.isdigit() for f in fields):
        return None
    quota, period = int(fields[0]), int(fields[1])
    return math.ceil(quota / period) if quota > 0 and period > 0 else None


def usable_cpus(root: Path = CGROUP) -> int:
    """CPUs this process may use: its affinity, capped by the cgroup's CPU limit."""
    affinity = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                else os.cpu_count() or 1)
    limit = cgroup_cpu_limit(root)
    return max(1, min(affinity, limit) if limit else affinity)


def default_threads(cpus: int) -> int:
    """Every CPU but the event loop's; one on a single CPU."""
    return max(1, cpus - 1)


def check_threads(value: object, where: str) -> int:
    """`value` if it is an integer in [0, MAX_THREADS]; else ThreadSettingError naming `where`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_THREADS:
        raise ThreadSettingError(f"{where} {shown(value)} is not allowed; use an integer in "
                                 f"[0, {MAX_THREADS}] (0 lets TensorFlow use every CPU)")
    return value


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-threads", type=int, default=None, metavar="N",
        help=f"threads each model operation may use; 0 lets TensorFlow use every CPU "
             f"(${THREADS_ENV}, else every CPU the predictor may use but one)")


def threads_from(args: argparse.Namespace, parser: argparse.ArgumentParser,
                 environ: Mapping[str, str] | None = None) -> int:
    """The flag, else the environment, else `default_threads(usable_cpus())`; exit 2 with one
    line naming the flag or variable when a value is out of range."""
    env = os.environ if environ is None else environ
    try:
        if args.model_threads is not None:
            return check_threads(args.model_threads, "--model-threads")
        raw = env.get(THREADS_ENV, "").strip()
        if raw:
            return check_threads(whole_number(raw), f"${THREADS_ENV}")
    except ThreadSettingError as err:
        parser.error(str(err))
    return default_threads(usable_cpus())


def apply_threads(threads: int) -> int:
    """Give TensorFlow's operations `threads` threads (0: its default) before it starts; the
    count in effect. A process whose TensorFlow already runs (tests that serve in-process)
    keeps its count, with a warning."""
    import tensorflow as tf

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        except RuntimeError:
            log.warning("TensorFlow is already running in this process: model operations "
                        "keep %d thread(s), not %d",
                        tf.config.threading.get_intra_op_parallelism_threads(), threads)
    return tf.config.threading.get_intra_op_parallelism_threads()
