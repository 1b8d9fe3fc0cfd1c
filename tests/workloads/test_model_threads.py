"""The predictor's model threads: every CPU it may use but one, from its affinity and cgroup
limit; the flag and variable checked; TensorFlow given the count before it starts."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workloads.cifar10.model_threads import (
    MAX_THREADS,
    THREADS_ENV,
    add_argument,
    cgroup_cpu_limit,
    check_threads,
    default_threads,
    threads_from,
    usable_cpus,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("text", "limit"), [
    ("max 100000\n", None), ("200000 100000\n", 2), ("150000 100000\n", 2),
    ("50000 100000\n", 1), ("0 100000\n", None), ("-1 100000\n", None), ("abc 100000\n", None),
    ("200000\n", None), ("", None), ("200000 0\n", None),
])
def test_the_cgroup_cpu_limit_is_read_from_cpu_max(tmp_path: Path, text: str,
                                                   limit: int | None) -> None:
    (tmp_path / "cpu.max").write_text(text)
    assert cgroup_cpu_limit(tmp_path) == limit


def test_without_a_cgroup_file_the_affinity_counts(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(tmp_path) is None
    assert usable_cpus(tmp_path) == len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    assert usable_cpus(tmp_path) == 1


@pytest.mark.parametrize(("cpus", "threads"), [(1, 1), (2, 1), (8, 7)])
def test_the_event_loop_keeps_one_cpu(cpus: int, threads: int) -> None:
    assert default_threads(cpus) == threads


@given(value=st.one_of(st.integers(), st.text(max_size=6), st.booleans(), st.none(),
                       st.floats(allow_nan=True)))
def test_a_thread_count_is_an_integer_in_range_or_refused_naming_it(value: object) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_THREADS
    if ok:
        assert check_threads(value, "--model-threads") == value
    else:
        with pytest.raises(ValueError, match=r"^--model-threads .* is not allowed; use an "
                                             r"integer in \[0, 1024\]"):
            check_threads(value, "--model-threads")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="serve")
    add_argument(parser)
    return parser


def test_the_flag_wins_then_the_variable_and_bad_values_exit_2(
        capsys: pytest.CaptureFixture[str]) -> None:
    parser = _parser()
    assert threads_from(parser.parse_args(["--model-threads", "3"]), parser,
                        {THREADS_ENV: "5"}) == 3
    assert threads_from(parser.parse_args([]), parser, {THREADS_ENV: " 5 "}) == 5
    assert threads_from(parser.parse_args([]), parser, {}) == default_threads(usable_cpus())
    for args, env, named in ((["--model-threads", "-1"], {}, "--model-threads -1"),
                             ([], {THREADS_ENV: "two"}, f"${THREADS_ENV} 'two'"),
                             ([], {THREADS_ENV: "5000"}, f"${THREADS_ENV} 5000")):
        with pytest.raises(SystemExit) as exit_:
            threads_from(parser.parse_args(args), parser, env)
        assert exit_.value.code == 2
        assert named in capsys.readouterr().err


def test_tensorflow_gets_the_count_before_it_starts() -> None:
    code = ("import tensorflow as tf\n"
            "from workloads.cifar10.model_threads import apply_threads\n"
            "first = apply_threads(1)\n"
            "tf.add(1, 1)\n"  # TensorFlow now runs: its thread count is fixed
            "print(first, apply_threads(3))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-1000:]
    assert done.stdout.split() == ["1", "1"]
    assert "model operations keep 1 thread(s), not 3" in done.stderr


def test_a_huge_variable_is_named_in_one_short_line(capsys: pytest.CaptureFixture[str]) -> None:
    parser = _parser()
    with pytest.raises(SystemExit):
        threads_from(parser.parse_args([]), parser, {THREADS_ENV: "9" * 1_000_000})
    err = capsys.readouterr().err
    assert f"${THREADS_ENV}" in err and len(err) < 500
