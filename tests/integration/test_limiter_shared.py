"""The limiter against a simulated SP-API server bucket (`TokenBucket`) that another
client spends too, and across restarts. Virtual time throughout (`run_virtual`).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from kccsync.clock import VIRTUAL_EPOCH, LoopClock, run_virtual
from kccsync.limiter import BucketSnapshot, Limiter, TokenBucket

BURST, RESTORE = 30, 2.0


@dataclass(frozen=True)
class SharedRun:
    """What one run against the shared server bucket measured."""

    requests: int
    successes: int
    throttled: int
    seconds: float
    minimum_seconds: float

    @property
    def throttled_per_100(self) -> float:
        return 100 * self.throttled / self.successes

    @property
    def time_ratio(self) -> float:
        return self.seconds / self.minimum_seconds


def run_shared(
    *,
    adaptive: bool,
    requests: int = 2000,
    competitor_share: float = 0.5,
    workers: int = 4,
    latency: float = 0.2,
) -> SharedRun:
    """Drain `requests` calls through a Limiter while a competitor shares the quota.

    The server is one TokenBucket (burst 30 / 2 s). The competitor is due once
    every 2 s / share (half the restore rate by default) on a fixed schedule and
    takes a token the moment one exists. Our workers acquire a token, call the
    server at once (a 429 if it has no token), learn the answer `latency` later,
    report it to the limiter and, on 429, retry the same request.
    """

    async def main() -> SharedRun:
        clock = LoopClock()
        server = TokenBucket.full(BURST, RESTORE, clock.monotonic())
        limiter = Limiter(
            "order_items",
            burst=BURST,
            restore_seconds=RESTORE,
            clock=clock,
            adaptive=adaptive,
        )
        queue = list(range(requests))
        done: list[int] = []
        throttled = 0

        async def competitor() -> None:
            interval = RESTORE / competitor_share
            due = clock.monotonic()
            while True:
                await clock.sleep(due - clock.monotonic())
                while not server.try_take(clock.monotonic()):
                    await clock.sleep(server.wait_time(clock.monotonic()))
                due += interval

        async def worker() -> None:
            nonlocal throttled
            while queue:
                request = queue.pop()
                while True:
                    await limiter.acquire()
                    accepted = server.try_take(clock.monotonic())
                    await clock.sleep(latency)
                    if accepted:
                        limiter.on_success()
                        done.append(request)
                        break
                    throttled += 1
                    limiter.on_throttled()

        other = asyncio.ensure_future(competitor())
        start = clock.monotonic()
        await asyncio.gather(*(worker() for _ in range(workers)))
        seconds = clock.monotonic() - start
        other.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await other

        assert sorted(done) == list(range(requests))  # none lost, none twice
        assert throttled == limiter.throttled
        return SharedRun(
            requests=requests,
            successes=len(done),
            throttled=throttled,
            seconds=seconds,
            # Our share of the server is (1 - share) / 2 s after its burst.
            minimum_seconds=(requests - BURST) * RESTORE / (1 - competitor_share),
        )

    return run_virtual(main)


@pytest.mark.parametrize(("workers", "latency"), [(1, 0.0), (4, 0.2), (16, 0.5)])
def test_limiter_adaptive_shares_quota_with_competing_client(
    workers: int, latency: float
) -> None:
    """AIMD: no request lost, <= 5 x 429 per 100 successes, time within 5%."""
    run = run_shared(adaptive=True, workers=workers, latency=latency)

    assert run.successes == run.requests
    assert run.throttled_per_100 <= 5.0
    assert run.time_ratio <= 1.05


@pytest.mark.parametrize("competitor_share", [0.2, 0.8])
def test_limiter_adaptive_holds_for_other_competitor_shares(
    competitor_share: float,
) -> None:
    """The same targets hold when the other client takes a fifth or four fifths."""
    run = run_shared(adaptive=True, competitor_share=competitor_share, requests=1000)

    assert run.throttled_per_100 <= 5.0
    assert run.time_ratio <= 1.05


def test_limiter_mirror_collides_with_competing_client() -> None:
    """A bucket that only mirrors the configured rate collides ~20x more often."""
    mirror = run_shared(adaptive=False)
    adaptive = run_shared(adaptive=True)

    assert mirror.successes == mirror.requests
    assert mirror.throttled_per_100 >= 50.0
    assert mirror.throttled_per_100 >= 20 * adaptive.throttled_per_100


# -- save, restart, restore -----------------------------------------------------------


class WallServer:
    """The real server's bucket, on true wall time (it does not restart with us)."""

    def __init__(self) -> None:
        self.bucket = TokenBucket.full(BURST, RESTORE, 0.0)
        self.accepted = 0
        self.throttled = 0

    def call(self, wall: datetime) -> None:
        if self.bucket.try_take((wall - VIRTUAL_EPOCH).total_seconds()):
            self.accepted += 1
        else:
            self.throttled += 1

    def level(self, wall: datetime) -> float:
        self.bucket.refill((wall - VIRTUAL_EPOCH).total_seconds())
        return self.bucket.tokens


def run_process(
    server: WallServer,
    *,
    started: datetime,
    skew: float,
    snapshot: BucketSnapshot | None,
    burst_calls: int,
    run_seconds: float,
) -> tuple[BucketSnapshot, int]:
    """One daemon lifetime: restore, burst `burst_calls` at once, then run, then save.

    The daemon's wall clock reads `skew` seconds off the true time the server
    lives by. Returns the snapshot saved at shutdown and the calls granted at
    the very start (the burst the restored bucket allowed).
    """

    async def main() -> tuple[BucketSnapshot, int]:
        clock = LoopClock(epoch=started)  # a fresh process: monotonic from 0

        def wall() -> datetime:
            return clock.now() + timedelta(seconds=skew)

        limiter = Limiter(
            "order_items", burst=BURST, restore_seconds=RESTORE, clock=clock
        )
        if snapshot is not None:
            limiter.restore(snapshot, wall())

        async def call() -> None:
            await limiter.acquire()
            server.call(clock.now())  # the server lives by true time

        calls = [asyncio.ensure_future(call()) for _ in range(burst_calls)]
        await clock.sleep(0)
        at_once = sum(task.done() for task in calls)
        await clock.sleep(run_seconds)
        for task in calls:
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        return limiter.snapshot(wall()), at_once

    return run_virtual(main)


@pytest.mark.parametrize(
    ("downtime", "skew"),
    [
        (0.5, 0.0),  # crash and immediate restart
        (7.0, 0.0),
        (7.0, -3600.0),  # wall clock set back an hour while we were down
        (600.0, 0.0),  # long enough for the server to refill completely
    ],
)
def test_limiter_restart_never_bursts_past_server_bucket(
    downtime: float, skew: float
) -> None:
    """Save at stop, restore at start, burst at once: the server never says 429."""
    server = WallServer()
    started = VIRTUAL_EPOCH
    snapshot: BucketSnapshot | None = None
    for lifetime in range(6):  # a crash loop: each run spends what it may
        snapshot, at_once = run_process(
            server,
            started=started,
            skew=skew if lifetime else 0.0,
            snapshot=snapshot,
            burst_calls=40,
            run_seconds=3.0,
        )
        stopped = started + timedelta(seconds=3.0)
        started = stopped + timedelta(seconds=downtime)

        assert server.throttled == 0
        if lifetime and skew == 0:
            # Not needlessly timid either: with a true wall clock the restored
            # bucket allows what the server had, give or take the 3 s we ran.
            assert at_once >= min(BURST, int(downtime / RESTORE)) - 1

    assert server.accepted > 0


def test_limiter_restart_from_snapshot_row_matches_server_level() -> None:
    """A snapshot that went through a store row restores the server's exact level."""
    server = WallServer()
    snapshot, _ = run_process(
        server,
        started=VIRTUAL_EPOCH,
        skew=0.0,
        snapshot=None,
        burst_calls=25,
        run_seconds=1.0,
    )
    row = snapshot.to_row("amazon-uk")
    restart = snapshot.saved_at + timedelta(seconds=9.0)

    async def main() -> float:
        clock = LoopClock(epoch=restart)
        limiter = Limiter(
            "order_items", burst=BURST, restore_seconds=RESTORE, clock=clock
        )
        limiter.restore(BucketSnapshot.from_row(row), clock.now())
        return limiter.tokens

    restored = run_virtual(main)

    assert restored == pytest.approx(server.level(restart), abs=1e-6)
