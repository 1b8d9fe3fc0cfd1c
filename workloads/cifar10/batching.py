"""Adaptive batching of concurrent predict requests into one model call.

A model on a CPU or GPU answers 16 images in one call several times faster than in 16 calls
(`workloads/cifar10/benchmarks/results.yaml`, `serving`), so the predictor gathers the images of
requests that arrive together and runs them as one batch, then hands each request its own rows.

Adaptive: a request that finds the model idle runs at once, so a lone client waits for nothing.
While the model runs, new requests queue; when it is done the next batch takes everything queued,
up to `max_size` images. Only when the previous batch was larger than what has queued so far
(clients are still sending, their requests still being read) does the batch wait, at most
`max_wait_s`, for that many images. A request is never split, and one of `max_size` images or
more does not queue: it runs at once, beside the batches, as it would with batching off. Queued
behind a batch it would only wait; at 16 clients of 32 images each, queueing them cost a third
of the requests/s (`serving` in `benchmarks/results.yaml`).

KServe's own batcher (`spec.predictor.batcher`, a Go sidecar injected by the controller) is not
used: at KServe v0.20.0 it waits the full `maxLatency` (1 ms at least) for every batch, even a lone
request's; it batches V1 only; it sends one error to every request of a batch when one request
is malformed; and its answers drop fields of ours (`labels`). See `workloads/README.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from facts.text import shown, whole_number

DEFAULT_MAX_SIZE = 8
"""Images per model call. Measured on 2 CPU cores with the model on one thread
(`serving_batch_settings` in `benchmarks/results.yaml`): at 16 one-image clients, batches of 8
serve the most requests/s, since one batch runs while the next one's requests are read; 16 to
64 serve alike, and fewer."""
DEFAULT_MAX_WAIT_MS = 2.0
"""Longest a batch waits for requests still being read (see the module docstring). Measured
there too: at 16 clients, waits of 0 to 5 ms serve alike."""
MAX_SIZE_LIMIT = 4096
"""Larger batches are refused as settings: more images than any request limit allows."""
MAX_WAIT_LIMIT_MS = 1000.0
"""Longer waits are refused as settings: a second of added latency is never what was meant."""
SIZE_ENV = "PREDICTOR_BATCH_MAX_SIZE"
WAIT_ENV = "PREDICTOR_BATCH_MAX_WAIT_MS"


class BatchSettingError(ValueError):
    """A batching setting out of range; the message names the setting, value and range."""


@dataclass(frozen=True)
class BatchSettings:
    """How the predictor batches: `max_size` images per model call (1: every request alone)
    and the longest a batch waits for more while clients are still sending."""

    max_size: int = DEFAULT_MAX_SIZE
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS

    def __post_init__(self) -> None:
        check_max_size(self.max_size, "max_size")
        check_max_wait_ms(self.max_wait_ms, "max_wait_ms")

    @property
    def enabled(self) -> bool:
        return self.max_size > 1


def check_max_size(value: object, where: str) -> int:
    """`value` if it is an integer in [1, MAX_SIZE_LIMIT]; else BatchSettingError."""
    if isinstance(value, bool) or not isinstance(value, int) or not (
            1 <= value <= MAX_SIZE_LIMIT):
        raise BatchSettingError(f"{where} {shown(value)} is not allowed; use an integer in "
                                f"[1, {MAX_SIZE_LIMIT}] (1 turns batching off)")
    return value


def check_max_wait_ms(value: object, where: str) -> float:
    """`value` if it is a finite number of milliseconds in [0, MAX_WAIT_LIMIT_MS]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and 0 <= value <= MAX_WAIT_LIMIT_MS):
        raise BatchSettingError(f"{where} {shown(value)} is not allowed; use milliseconds in "
                                f"[0, {MAX_WAIT_LIMIT_MS:g}]")
    return float(value)


def settings_from_env(environ: Mapping[str, str] | None = None) -> BatchSettings:
    """Defaults for the flags from `PREDICTOR_BATCH_MAX_SIZE` and `PREDICTOR_BATCH_MAX_WAIT_MS`
    (each optional); BatchSettingError naming the variable when one is not a number in range."""
    env = os.environ if environ is None else environ
    size, wait = DEFAULT_MAX_SIZE, DEFAULT_MAX_WAIT_MS
    if env.get(SIZE_ENV, "").strip():
        raw = env[SIZE_ENV].strip()
        size = check_max_size(whole_number(raw), f"${SIZE_ENV}")
    if env.get(WAIT_ENV, "").strip():
        raw = env[WAIT_ENV].strip()
        try:
            number: object = float(raw)
        except ValueError:
            number = raw
        wait = check_max_wait_ms(number, f"${WAIT_ENV}")
    return BatchSettings(size, wait)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The predictor's batching flags (defaults from the environment, then this module)."""
    parser.add_argument(
        "--batch-max-size", type=int, default=None, metavar="IMAGES",
        help=f"images concurrent requests may share in one model call; 1 turns batching off "
             f"(${SIZE_ENV}, else {DEFAULT_MAX_SIZE})")
    parser.add_argument(
        "--batch-max-wait-ms", type=float, default=None, metavar="MS",
        help=f"longest a batch waits for requests still arriving, only while clients keep the "
             f"server busy (${WAIT_ENV}, else {DEFAULT_MAX_WAIT_MS:g})")


def settings_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> BatchSettings:
    """The batching the flags, else the environment, else the defaults ask for; exit 2 with
    one line naming the flag or variable when a value is out of range."""
    try:
        settings = settings_from_env()
        size = settings.max_size if args.batch_max_size is None else check_max_size(
            args.batch_max_size, "--batch-max-size")
        wait = settings.max_wait_ms if args.batch_max_wait_ms is None else check_max_wait_ms(
            args.batch_max_wait_ms, "--batch-max-wait-ms")
    except BatchSettingError as err:
        parser.error(str(err))
    return BatchSettings(size, wait)


@dataclass
class _Pending:
    images: np.ndarray
    future: asyncio.Future


class Batcher:
    """Runs `infer` on batches of the images that concurrent `predict` calls bring.

    One batch runs at a time, in `executor` (the loop's default when None), so the event loop
    keeps reading requests meanwhile; requests of `max_size` images or more run beside it. Lives
    on one event loop: the server's.
    """

    def __init__(self, infer: Callable[[np.ndarray], np.ndarray], settings: BatchSettings,
                 executor: object = None) -> None:
        self.infer = infer
        self.settings = settings
        self._executor = executor
        self._queue: deque[_Pending] = deque()
        self._queued_images = 0
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._last_size = 0
        self.batches: list[int] = []
        """Images per model call so far, newest last (the most recent 1,000), for tests and
        benchmarks."""

    async def predict(self, images: np.ndarray) -> np.ndarray:
        """The model's rows for `images`, computed in a batch with whatever else is queued."""
        loop = asyncio.get_running_loop()
        if len(images) >= self.settings.max_size:  # a batch already: it shares nothing
            self._record(len(images))
            return await loop.run_in_executor(self._executor, self.infer, images)
        future = loop.create_future()
        self._queue.append(_Pending(images, future))
        self._queued_images += len(images)
        if self._arrived is not None:
            self._arrived.set()
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._worker = loop.create_task(self._run())
        return await future

    def _record(self, size: int) -> None:
        self.batches = [*self.batches[-999:], size]

    def _take(self) -> list[_Pending]:
        """The queue's head requests, as many as fit `max_size` images (always at least one)."""
        taken: list[_Pending] = []
        size = 0
        while self._queue:
            head = self._queue[0]
            if taken and size + len(head.images) > self.settings.max_size:
                break
            taken.append(self._queue.popleft())
            self._queued_images -= len(head.images)
            size += len(head.images)
        return taken

    async def _arrival(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Wait until a request arrives or `deadline` (loop time) passes, whichever is first.

        Callers look at the queue afterwards: a request may arrive while the loop is busy
        elsewhere, past the deadline, and is queued all the same."""
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        self._arrived = asyncio.Event()
        try:
            await asyncio.wait_for(self._arrived.wait(), remaining)
        except TimeoutError:
            pass
        finally:
            self._arrived = None

    async def _gather(self, loop: asyncio.AbstractEventLoop) -> list[_Pending]:
        """The next batch, waiting up to `max_wait` for as many images as the last batch had
        when fewer have queued."""
        target = min(self.settings.max_size, self._last_size)
        deadline = loop.time() + self.settings.max_wait_ms / 1000
        while self._queued_images < target and loop.time() < deadline:
            await self._arrival(loop, deadline)
        return self._take()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue and self._last_size > 1:
                # Clients of a batch send again once answered: wait up to max_wait for them
                # before going idle.
                await self._arrival(loop, loop.time() + self.settings.max_wait_ms / 1000)
            if not self._queue:  # idle: the next request starts a worker and runs at once
                self._last_size = 0
                return
            batch = await self._gather(loop)
            images = (batch[0].images if len(batch) == 1
                      else np.concatenate([p.images for p in batch]))
            self._last_size = len(images)
            self._record(len(images))
            try:
                rows = await loop.run_in_executor(self._executor, self.infer, images)
            except Exception as err:  # every request of the batch gets the model's failure
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(err)
                continue
            start = 0
            for pending in batch:
                end = start + len(pending.images)
                if not pending.future.done():  # a client that went away cancelled its future
                    pending.future.set_result(rows[start:end])
                start = end
