"""Adaptive batching: concurrent requests share model calls, each gets its own rows, a lone
request runs at once, failures reach every request of their batch, settings are checked."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.cifar10.batching import (
    MAX_SIZE_LIMIT,
    SIZE_ENV,
    WAIT_ENV,
    Batcher,
    BatchSettingError,
    BatchSettings,
    check_max_size,
    check_max_wait_ms,
    settings_from_env,
)


class Model:
    """A stand-in model: row i of the answer is the first pixel of image i; records calls."""

    def __init__(self, seconds: float = 0.005, fail: bool = False) -> None:
        self.calls: list[int] = []
        self.seconds = seconds
        self.fail = fail
        self.lock = threading.Lock()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        with self.lock:
            self.calls.append(len(images))
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("device lost")
        return images[:, 0, 0, :1].copy()


def images(n: int, value: float) -> np.ndarray:
    return np.full((n, 32, 32, 3), value, dtype=np.float32)


async def _clients(batcher: Batcher, sizes: list[int], rounds: int = 1) -> list[np.ndarray]:
    async def client(index: int, size: int) -> list[np.ndarray]:
        out = []
        for r in range(rounds):
            out.append(await batcher.predict(images(size, index * 100 + r)))
        return out

    results = await asyncio.gather(*(client(i, n) for i, n in enumerate(sizes)))
    return [row for rows in results for row in rows]


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 12), min_size=1, max_size=12),
       max_size=st.integers(1, 40), wait=st.sampled_from([0.0, 1.0, 3.0]))
def test_every_request_gets_its_own_rows_and_calls_respect_the_max_size(
        sizes: list[int], max_size: int, wait: float) -> None:
    model = Model(seconds=0.001)
    batcher = Batcher(model, BatchSettings(max_size, wait))
    answers = asyncio.run(_clients(batcher, sizes, rounds=2))
    expected = [(i * 100 + r, n) for i, n in enumerate(sizes) for r in range(2)]
    assert [(float(a[0, 0]), len(a)) for a in answers] == [(float(v), n) for v, n in expected]
    assert sum(model.calls) == 2 * sum(sizes)
    # a call is over the max size only when one request alone is larger
    assert all(c <= max(max_size, max(sizes)) for c in model.calls)
    # calls of max_size images or more run beside the batches, so only the multiset is fixed
    assert sorted(model.calls) == sorted(batcher.batches)


def test_concurrent_requests_share_a_model_call() -> None:
    model = Model(seconds=0.02)
    batcher = Batcher(model, BatchSettings(32, 2.0))
    asyncio.run(_clients(batcher, [1] * 16, rounds=3))
    # the first request runs alone; the others queue behind it and go together
    assert len(model.calls) < 16 and max(model.calls) > 1


def test_a_lone_request_does_not_wait_for_company() -> None:
    model = Model(seconds=0.0)
    batcher = Batcher(model, BatchSettings(32, 1000.0))

    async def alone() -> float:
        started = time.perf_counter()
        for value in range(3):
            await batcher.predict(images(1, value))
        return time.perf_counter() - started

    # three requests one after the other: each finds the model idle, none waits 1 s
    assert asyncio.run(alone()) < 1.0
    assert model.calls == [1, 1, 1]


def test_a_request_of_max_size_images_runs_beside_a_batch_instead_of_queueing() -> None:
    model = Model(seconds=0.2)
    batcher = Batcher(model, BatchSettings(8, 1.0))

    async def run() -> tuple[float, float]:
        small = asyncio.ensure_future(batcher.predict(images(2, 1)))
        await asyncio.sleep(0.02)  # the small batch is in the model
        began = time.perf_counter()
        large = await batcher.predict(images(8, 5))
        waited = time.perf_counter() - began
        await small
        return float(large[0, 0]), waited

    value, waited = asyncio.run(run())
    assert value == 5.0 and sorted(model.calls) == [2, 8]
    # queued behind the running batch it would have taken ~0.38 s; beside it ~0.2 s
    assert waited < 0.3


def test_a_model_failure_reaches_every_request_of_its_batch_and_the_next_batch_runs() -> None:
    model = Model(seconds=0.01, fail=True)
    batcher = Batcher(model, BatchSettings(8, 1.0))

    async def run() -> list[object]:
        return await asyncio.gather(*(batcher.predict(images(1, i)) for i in range(4)),
                                    return_exceptions=True)

    outcomes = asyncio.run(run())
    assert all(isinstance(o, RuntimeError) and "device lost" in str(o) for o in outcomes)
    model.fail = False
    assert float(asyncio.run(_clients(batcher, [1]))[0][0, 0]) == 0.0


def test_a_client_that_goes_away_does_not_disturb_the_others() -> None:
    model = Model(seconds=0.05)
    batcher = Batcher(model, BatchSettings(8, 1.0))

    async def run() -> list[float]:
        first = asyncio.ensure_future(batcher.predict(images(1, 1)))
        await asyncio.sleep(0.01)  # the first is in the model; these two queue
        gone = asyncio.ensure_future(batcher.predict(images(1, 2)))
        stays = asyncio.ensure_future(batcher.predict(images(1, 3)))
        await asyncio.sleep(0)
        gone.cancel()
        return [float((await first)[0, 0]), float((await stays)[0, 0])]

    assert asyncio.run(run()) == [1.0, 3.0]


@given(value=st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=5),
                       st.booleans(), st.none()))
def test_max_size_is_an_integer_in_range_or_refused_naming_it(value: object) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_SIZE_LIMIT
    if ok:
        assert check_max_size(value, "--batch-max-size") == value
    else:
        with pytest.raises(BatchSettingError, match=r"^--batch-max-size .* is not allowed; use "
                                                    r"an integer in \[1, 4096\]"):
            check_max_size(value, "--batch-max-size")


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), 1000.5, "2", True])
def test_max_wait_out_of_range_is_refused_naming_it(value: object) -> None:
    with pytest.raises(BatchSettingError, match=r"^--batch-max-wait-ms .* use milliseconds"):
        check_max_wait_ms(value, "--batch-max-wait-ms")


def test_environment_sets_the_defaults_and_bad_values_name_the_variable() -> None:
    assert settings_from_env({SIZE_ENV: "8", WAIT_ENV: "0.5"}) == BatchSettings(8, 0.5)
    assert settings_from_env({}) == BatchSettings()
    with pytest.raises(BatchSettingError, match=rf"^\${SIZE_ENV} '8x' is not allowed"):
        settings_from_env({SIZE_ENV: "8x"})
    with pytest.raises(BatchSettingError, match=rf"^\${WAIT_ENV} 'soon' is not allowed"):
        settings_from_env({WAIT_ENV: "soon"})
    with pytest.raises(BatchSettingError, match=rf"^\${SIZE_ENV} 0 is not allowed"):
        settings_from_env({SIZE_ENV: "0"})


@pytest.mark.parametrize(("argv", "env", "says"), [
    (["--batch-max-size", "0"], {}, "--batch-max-size 0 is not allowed"),
    (["--batch-max-size", "x"], {}, "argument --batch-max-size: invalid int value: 'x'"),
    (["--batch-max-wait-ms", "nan"], {}, "--batch-max-wait-ms nan is not allowed"),
    ([], {SIZE_ENV: "99999"}, f"${SIZE_ENV} 99999 is not allowed"),
])
def test_predictor_refuses_bad_batching_settings_with_exit_2_and_one_line(
        argv: list[str], env: dict[str, str], says: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture, tmp_path) -> None:
    from workloads.cifar10.serve import main

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as done:
        main(["--model-dir", str(tmp_path), *argv])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert says in err[-1] and "Traceback" not in "\n".join(err)


def test_a_huge_variable_is_named_in_one_short_line() -> None:
    with pytest.raises(BatchSettingError) as err:
        settings_from_env({SIZE_ENV: "9" * 1_000_000})
    assert str(err.value).startswith(f"${SIZE_ENV} ") and len(str(err.value)) < 300
