"""The time seam: the only module that reads real time, sleeps or seeds randomness.

Everything else receives a `Clock` (and a `random.Random`) as an argument, so the
same code runs on the wall clock in production and in virtual time in tests, the
benchmark and the in-process simulator.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import looptime

T = TypeVar("T")

#: The default start of virtual time: a fixed instant, so virtual runs are repeatable.
VIRTUAL_EPOCH = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class Clock(Protocol):
    """What code needs to know about time."""

    def now(self) -> datetime:
        """Aware UTC time, for values that are stored or sent to a channel."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: quotas, timeouts, backoff."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling coroutine for `seconds`."""
        ...


class SystemClock:
    """Production time: the system's UTC clock and the event loop's monotonic clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class LoopClock:
    """Time derived from the running event loop's clock.

    Under a looptime-patched loop this is virtual time: sleeps return at once
    while the loop's clock jumps ahead, and `now()` moves with it, so the dates
    sent to a channel, quota timing and sleeps all agree.
    """

    def __init__(self, *, epoch: datetime = VIRTUAL_EPOCH) -> None:
        self._epoch = epoch
        self._origin: float | None = None

    def _loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    def monotonic(self) -> float:
        return self._loop_time()

    def now(self) -> datetime:
        t = self._loop_time()
        if self._origin is None:
            self._origin = t
        return self._epoch + timedelta(seconds=t - self._origin)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock stepped by hand, for pure unit tests (no event-loop magic).

    `sleep()` parks the caller until `advance()` moves time past its deadline;
    sleepers wake in deadline order (ties in call order).
    """

    def __init__(self, *, start: datetime = VIRTUAL_EPOCH, monotonic: float = 0.0):
        self._start = start
        self._mono0 = monotonic
        self._mono = monotonic
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._mono - self._mono0)

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), fut))
        await fut

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its own deadline."""
        target = self._mono + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._mono = max(self._mono, deadline)
            if not fut.done():
                fut.set_result(None)
            await settle()
        self._mono = target
        await settle()


async def settle(rounds: int = 20) -> None:
    """Let ready callbacks run: a few passes of the loop with no time moving."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def cpu_seconds() -> float:
    """CPU time of the whole process (every thread), for the benchmark's figures."""
    return time.process_time()


def thread_cpu_seconds() -> float:
    """CPU time of the calling thread only (excludes the database thread)."""
    return time.thread_time()


def default_rng() -> random.Random:
    """A randomly seeded generator for production jitter."""
    return random.Random()  # noqa: S311 - jitter, not cryptography


def run_virtual(
    main: Callable[[], Coroutine[Any, Any, T]] | Awaitable[T],
) -> T:
    """Run a coroutine on a fresh event loop whose clock is virtual (looptime).

    Time only moves when every task is waiting on a timer, and then it jumps
    straight to the next deadline; work in executor threads (SQLite) completes
    before time moves. An hour of quota-bound traffic takes a fraction of a
    second, and the same inputs give the same virtual timings every run.
    """
    loop = looptime.new_event_loop(start=0, _enabled=True)
    try:
        asyncio.set_event_loop(loop)
        coro = main() if callable(main) else main
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
