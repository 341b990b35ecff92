"""Unit tests for the quota model: TokenBucket maths, Limiter waiting and AIMD,
snapshots and QuotaSet. Time is virtual (looptime via `run_virtual`, or FakeClock).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kccsync.clock import VIRTUAL_EPOCH, FakeClock, LoopClock, run_virtual, settle
from kccsync.config import Quota, Quotas
from kccsync.limiter import (
    OPERATIONS,
    ROW_COLUMNS,
    BucketSnapshot,
    Limiter,
    QuotaSet,
    TokenBucket,
)

EPS = 1e-5


def _limiter(
    clock: LoopClock | FakeClock,
    *,
    burst: int = 30,
    restore_seconds: float = 2.0,
    adaptive: bool = True,
) -> Limiter:
    return Limiter(
        "order_items",
        burst=burst,
        restore_seconds=restore_seconds,
        clock=clock,
        adaptive=adaptive,
    )


def _virtual(body: Callable[[LoopClock], Awaitable[None]]) -> None:
    """Run `body(clock)` on a virtual-time loop."""

    async def main() -> None:
        await body(LoopClock())

    run_virtual(main)


# -- TokenBucket --------------------------------------------------------------


def test_bucket_wait_time_counts_missing_tokens_at_rate() -> None:
    """An empty bucket needs one restore interval per missing token."""
    bucket = TokenBucket.full(2, 3.0, now=0.0)

    assert bucket.try_take(0.0)
    assert bucket.try_take(0.0)
    assert not bucket.try_take(0.0)
    assert bucket.wait_time(0.0) == 3.0
    assert bucket.wait_time(1.5, needed=2) == pytest.approx(4.5)


def test_bucket_retime_credits_elapsed_time_at_old_rate() -> None:
    """Changing the interval keeps what was earned before the change."""
    bucket = TokenBucket(burst=10, restore_seconds=2.0, tokens=0.0, updated=0.0)

    bucket.retime(4.0, 1.0)
    bucket.refill(5.0)

    assert bucket.tokens == pytest.approx(3.0)
    bucket.empty(5.0)
    assert bucket.tokens == 0.0


# -- Limiter: waiting -----------------------------------------------------------


def test_limiter_grants_burst_at_once_then_one_per_interval() -> None:
    """A full bucket grants `burst` at once, then one token per interval."""
    times: list[float] = []

    async def body(clock: LoopClock) -> None:
        limiter = _limiter(clock, burst=3, restore_seconds=2.0)

        async def one() -> None:
            await limiter.acquire()
            times.append(clock.monotonic())

        await asyncio.gather(*(one() for _ in range(6)))

    _virtual(body)

    assert times == pytest.approx([0, 0, 0, 2, 4, 6])


def test_limiter_waits_on_fake_clock_until_token_exists() -> None:
    """With a hand-stepped clock the waiter wakes exactly when its token exists."""

    async def main() -> None:
        clock = FakeClock()
        limiter = _limiter(clock, burst=1, restore_seconds=5.0)
        await limiter.acquire()
        waiter = asyncio.ensure_future(limiter.acquire())
        await clock.advance(4.999)
        assert not waiter.done()
        await clock.advance(0.001)
        await settle()

        assert waiter.done()
        assert limiter.granted == 2

    asyncio.run(main())


def test_limiter_drains_10000_requests_in_exact_minimum_time() -> None:
    """10,000 grants on burst 30 / 2 s end at (10,000 - 30) x 2 s, no later."""
    last: list[float] = []

    async def body(clock: LoopClock) -> None:
        limiter = _limiter(clock, burst=30, restore_seconds=2.0)

        async def one() -> None:
            await limiter.acquire()
            last.append(clock.monotonic())

        await asyncio.gather(*(one() for _ in range(10_000)))

    _virtual(body)

    assert len(last) == 10_000
    assert last == sorted(last)
    assert (10_000 - 30) * 2.0 <= last[-1] < (10_000 - 30) * 2.0 + 2.0
    assert last[-1] == pytest.approx((10_000 - 30) * 2.0, abs=EPS)


def test_limiter_cancelled_waiters_leave_accounting_exact() -> None:
    """100 waiters cancelled at random moments take no token and delay nobody."""
    burst, interval, count = 30, 2.0, 400
    rng = random.Random(6)
    grants: dict[int, float] = {}
    state: dict[str, float] = {}

    async def body(clock: LoopClock) -> None:
        limiter = _limiter(clock, burst=burst, restore_seconds=interval)

        async def one(index: int) -> None:
            await limiter.acquire()
            grants[index] = clock.monotonic()

        tasks = [asyncio.ensure_future(one(i)) for i in range(count)]
        # Cancel between token times (odd seconds) so no cancel ties a grant;
        # every fourth cancel hits the current head, the rest anyone queued.
        moments = sorted(rng.randrange(1, 400, 2) for _ in range(100))
        for n, moment in enumerate(moments):
            await clock.sleep(moment - clock.monotonic())
            pending = [i for i, task in enumerate(tasks) if not task.done()]
            victim = pending[0] if n % 4 == 0 else rng.choice(pending)
            tasks[victim].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        state["granted"] = limiter.granted
        state["waiting"] = limiter.waiting
        # The bucket is empty at the last grant; five intervals later, five tokens.
        await clock.sleep(5 * interval)
        state["tokens"] = limiter.tokens

    _virtual(body)

    order = sorted(grants, key=lambda i: (grants[i], i))
    times = [grants[i] for i in order]
    expected = [max(0, k + 1 - burst) * interval for k in range(len(times))]

    assert len(grants) == count - 100
    assert order == sorted(order)  # FIFO among the survivors
    assert times == pytest.approx(expected, abs=EPS)
    assert state["granted"] == len(grants)
    assert state["waiting"] == 0
    assert state["tokens"] == pytest.approx(5.0, abs=EPS)


def test_limiter_cancelling_head_and_next_together_promotes_the_one_after() -> None:
    """The head and its successor cancelled at once: the third waiter is served."""
    times: dict[str, float] = {}

    async def body(clock: LoopClock) -> None:
        limiter = _limiter(clock, burst=1, restore_seconds=4.0)
        await limiter.acquire()

        async def named(name: str) -> None:
            await limiter.acquire()
            times[name] = clock.monotonic()

        b, c, d = (asyncio.ensure_future(named(n)) for n in "bcd")
        await clock.sleep(1.0)
        b.cancel()
        c.cancel()
        await asyncio.gather(b, c, d, return_exceptions=True)

        assert b.cancelled()
        assert c.cancelled()
        assert limiter.granted == 2

    _virtual(body)

    assert times == pytest.approx({"d": 4.0})


def test_limiter_cancelled_after_promotion_passes_the_head_on() -> None:
    """A waiter cancelled just after it became head takes no token."""
    times: dict[str, float] = {}

    async def body(clock: LoopClock) -> None:
        limiter = _limiter(clock, burst=1, restore_seconds=4.0)
        await limiter.acquire()
        tasks: dict[str, asyncio.Future[None]] = {}

        async def first() -> None:
            await limiter.acquire()
            times["b"] = clock.monotonic()
            tasks["c"].cancel()  # c was promoted in this very step

        async def named(name: str) -> None:
            await limiter.acquire()
            times[name] = clock.monotonic()

        tasks["b"] = asyncio.ensure_future(first())
        tasks["c"] = asyncio.ensure_future(named("c"))
        tasks["d"] = asyncio.ensure_future(named("d"))
        await asyncio.gather(*tasks.values(), return_exceptions=True)

        assert tasks["c"].cancelled()
        assert limiter.granted == 3

    _virtual(body)

    assert times == pytest.approx({"b": 4.0, "d": 8.0})


@dataclass(frozen=True)
class _Case:
    burst: int
    restore_tenths: int
    arrivals: list[int]  # tenths of a second
    cancels: list[int | None]  # tenths after arrival (+0.05 s), or never


@st.composite
def _cases(draw: st.DrawFn) -> _Case:
    burst = draw(st.integers(1, 5))
    restore_tenths = draw(st.sampled_from([5, 10, 20, 30]))
    gaps = draw(st.lists(st.integers(0, 40), min_size=1, max_size=25))
    arrivals = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    cancels = draw(
        st.lists(
            st.none() | st.integers(0, 60),
            min_size=len(arrivals),
            max_size=len(arrivals),
        )
    )
    return _Case(burst, restore_tenths, arrivals, cancels)


def _reference(case: _Case) -> list[Fraction | None]:
    """Grant times by exact discrete simulation (FIFO, work-conserving)."""
    burst = Fraction(case.burst)
    restore = Fraction(case.restore_tenths, 10)
    tokens, updated = burst, Fraction(case.arrivals[0], 10)  # full on first use
    previous = updated
    out: list[Fraction | None] = []
    for arrival, cancel in zip(case.arrivals, case.cancels, strict=True):
        at = max(Fraction(arrival, 10), previous)  # not before the one ahead
        level = min(burst, tokens + (at - updated) / restore)
        if level < 1:  # wait for the token to exist
            at += (1 - level) * restore
            level = Fraction(1)
        cancelled_at = (
            None if cancel is None else Fraction(arrival + cancel, 10) + Fraction(1, 20)
        )
        if cancelled_at is not None and cancelled_at < at:
            out.append(None)  # gone before its token: takes nothing
            continue
        tokens, updated, previous = level - 1, at, at
        out.append(at)
    return out


def _run_case(case: _Case) -> tuple[dict[int, float], int]:
    grants: dict[int, float] = {}
    counted: list[int] = []

    async def body(clock: LoopClock) -> None:
        limiter = _limiter(
            clock, burst=case.burst, restore_seconds=case.restore_tenths / 10
        )

        async def one(index: int) -> None:
            await limiter.acquire()
            grants[index] = clock.monotonic()

        async def cancel_at(task: asyncio.Future[None], moment: float) -> None:
            await clock.sleep(moment - clock.monotonic())
            task.cancel()

        pending: list[asyncio.Future[None]] = []
        for index, (arrival, cancel) in enumerate(
            zip(case.arrivals, case.cancels, strict=True)
        ):
            delay = arrival / 10 - clock.monotonic()
            if delay > 0:
                await clock.sleep(delay)
            task = asyncio.ensure_future(one(index))
            pending.append(task)
            if cancel is not None:
                moment = (arrival + cancel) / 10 + 0.05
                pending.append(asyncio.ensure_future(cancel_at(task, moment)))
        await asyncio.gather(*pending, return_exceptions=True)
        counted.append(limiter.granted)

    _virtual(body)
    return grants, counted[0]


@settings(max_examples=50, deadline=None)
@given(_cases())
def test_limiter_matches_reference_model_for_random_arrivals(case: _Case) -> None:
    """Random arrivals and cancels: grants are FIFO, exact and within the bucket."""
    expected = _reference(case)
    grants, granted = _run_case(case)

    assert granted == len(grants)
    assert set(grants) == {i for i, t in enumerate(expected) if t is not None}
    for index, at in grants.items():
        reference = expected[index]
        assert reference is not None
        assert at == pytest.approx(float(reference), abs=EPS)
    # Never more than the bucket: the k-th grant needs k + 1 - burst refills.
    times = sorted(grants.values())
    start = case.arrivals[0] / 10
    for k, at in enumerate(times):
        assert at >= start + (k + 1 - case.burst) * case.restore_tenths / 10 - EPS
    # FIFO: in arrival order, grant times never go back.
    in_order = [grants[i] for i in sorted(grants)]
    assert in_order == sorted(in_order)


# -- Limiter: server feedback (AIMD, headers) ---------------------------------------


def test_limiter_throttle_empties_bucket_and_halves_rate() -> None:
    """A 429 drops every token and doubles the interval; the retry waits for it."""
    seen: dict[str, float] = {}

    async def body(clock: LoopClock) -> None:
        limiter = _limiter(clock, burst=5, restore_seconds=2.0)
        await limiter.acquire()
        limiter.on_throttled()
        seen["tokens"] = limiter.tokens
        seen["restore"] = limiter.current_restore_seconds
        await limiter.acquire()
        seen["retry_at"] = clock.monotonic()
        seen["streak"] = limiter.throttled_streak
        seen["throttled"] = limiter.throttled

    _virtual(body)

    assert seen == {
        "tokens": 0.0,
        "restore": 4.0,
        "retry_at": pytest.approx(4.0),
        "streak": 1,
        "throttled": 1,
    }


def test_limiter_success_wins_rate_back_over_recovery_successes() -> None:
    """After a cut, 64 successes restore the configured rate, and no further."""
    clock = FakeClock()
    limiter = _limiter(clock, restore_seconds=2.0)
    limiter.on_throttled()
    limiter.on_throttled()  # the same collision: no second cut
    assert limiter.current_restore_seconds == 4.0
    assert limiter.throttled_streak == 2

    rates = []
    for _ in range(63):
        limiter.on_success()
        rates.append(1 / limiter.current_restore_seconds)
    assert limiter.throttled_streak == 0
    assert rates == sorted(rates)
    assert limiter.current_restore_seconds > 2.0

    limiter.on_success()
    limiter.on_success()

    assert limiter.current_restore_seconds == 2.0
    assert limiter.succeeded == 65


def test_limiter_cuts_again_only_after_a_new_grant() -> None:
    """Each collision after a fresh grant halves again, down to max_slowdown."""

    async def body(clock: LoopClock) -> None:
        limiter = _limiter(clock, burst=1, restore_seconds=1.0)
        intervals = []
        for _ in range(8):
            await limiter.acquire()
            limiter.on_throttled()
            intervals.append(limiter.current_restore_seconds)

        assert intervals == [2, 4, 8, 16, 16, 16, 16, 16]
        assert limiter.throttled_streak == 8

    _virtual(body)


def test_limiter_mirror_keeps_configured_rate_on_throttle() -> None:
    """The non-adaptive bucket empties on 429 but keeps the configured rate."""
    clock = FakeClock()
    limiter = _limiter(clock, restore_seconds=2.0, adaptive=False)

    limiter.on_throttled()

    assert limiter.tokens == 0.0
    assert limiter.current_restore_seconds == 2.0


def test_limiter_adopts_lower_header_rate() -> None:
    """A lower x-amzn-RateLimit-Limit becomes the ceiling and the rate."""
    clock = FakeClock()
    limiter = _limiter(clock, restore_seconds=2.0)  # 0.5 requests/second

    limiter.on_success(rate_limit=0.25)

    assert limiter.ceiling_restore_seconds == 4.0
    assert limiter.current_restore_seconds == 4.0
    limiter.on_throttled(rate_limit=0.25)
    assert limiter.current_restore_seconds == 8.0
    for _ in range(100):
        limiter.on_success(rate_limit=0.25)
    assert limiter.current_restore_seconds == 4.0  # won back to the header's rate


def test_limiter_ignores_higher_header_rate() -> None:
    """A header rate above the configured one never speeds the bucket up."""
    clock = FakeClock()
    limiter = _limiter(clock, restore_seconds=2.0)

    limiter.on_success(rate_limit=5.0)
    limiter.on_throttled(rate_limit=5.0)
    for _ in range(200):
        limiter.on_success(rate_limit=5.0)

    assert limiter.ceiling_restore_seconds == 2.0
    assert limiter.current_restore_seconds == 2.0
    assert limiter.configured_restore_seconds == 2.0


def test_limiter_ignores_malformed_header_rate() -> None:
    """Zero, negative or non-finite header rates change nothing."""
    clock = FakeClock()
    limiter = _limiter(clock, restore_seconds=2.0)

    for bad in (0.0, -1.0, float("nan"), float("inf")):
        limiter.on_success(rate_limit=bad)

    assert limiter.ceiling_restore_seconds == 2.0


def test_limiter_head_waiter_follows_rate_change() -> None:
    """A waiter already asleep is re-timed when the rate is won back."""
    seen: dict[str, float] = {}

    async def body(clock: LoopClock) -> None:
        limiter = _limiter(clock, burst=1, restore_seconds=2.0)
        await limiter.acquire()
        limiter.on_throttled()  # empty, interval 4 s
        waiter = asyncio.ensure_future(limiter.acquire())
        await clock.sleep(1.0)  # a quarter token earned at 4 s per token
        for _ in range(64):
            limiter.on_success()  # back to 2 s: 0.75 token missing -> 1.5 s
        await waiter
        seen["at"] = clock.monotonic()

    _virtual(body)

    assert seen["at"] == pytest.approx(2.5)


def test_limiter_rejects_bad_settings() -> None:
    """Burst below 1 or a non-positive interval is refused."""
    clock = FakeClock()

    with pytest.raises(ValueError, match="burst"):
        Limiter("orders", burst=0, restore_seconds=1, clock=clock)
    with pytest.raises(ValueError, match="restore_seconds"):
        Limiter("orders", burst=1, restore_seconds=0, clock=clock)


# -- snapshots ------------------------------------------------------------------------


def _snapshot(
    tokens: float, *, restore: float = 2.0, ceiling: float = 2.0
) -> BucketSnapshot:
    return BucketSnapshot(
        operation="order_items",
        tokens=tokens,
        restore_seconds=restore,
        ceiling_restore_seconds=ceiling,
        saved_at=VIRTUAL_EPOCH,
    )


@pytest.mark.parametrize(
    ("tokens", "elapsed", "expected"),
    [
        (3.0, 10.0, 8.0),  # 3 + 10 s / 2 s
        (3.0, 0.0, 3.0),
        (3.0, -100.0, 3.0),  # wall clock went back: no credit
        (25.0, 60.0, 30.0),  # capped at burst
        (0.0, 1.0, 0.5),
    ],
)
def test_limiter_restore_credits_elapsed_wall_time(
    tokens: float, elapsed: float, expected: float
) -> None:
    """Restored level is min(burst, tokens + elapsed / interval), elapsed >= 0."""
    limiter = _limiter(FakeClock(), burst=30, restore_seconds=2.0)

    limiter.restore(_snapshot(tokens), VIRTUAL_EPOCH + timedelta(seconds=elapsed))

    assert limiter.tokens == pytest.approx(expected)


def test_limiter_restore_credits_at_the_slower_saved_rate() -> None:
    """A bucket saved while slowed down credits time at the slowed rate."""
    limiter = _limiter(FakeClock(), burst=30, restore_seconds=2.0)

    limiter.restore(
        _snapshot(0.0, restore=8.0, ceiling=4.0),
        VIRTUAL_EPOCH + timedelta(seconds=16),
    )

    assert limiter.tokens == pytest.approx(2.0)
    assert limiter.current_restore_seconds == 8.0
    assert limiter.ceiling_restore_seconds == 4.0


def test_limiter_restore_never_raises_the_level() -> None:
    """Restoring a fuller snapshot into a used bucket keeps the lower level."""

    async def body(clock: LoopClock) -> None:
        limiter = _limiter(clock, burst=5, restore_seconds=2.0)
        for _ in range(5):
            await limiter.acquire()
        limiter.restore(_snapshot(5.0), clock.now())

        assert limiter.tokens == 0.0

    _virtual(body)


def test_limiter_restore_keeps_rates_within_configured_bounds() -> None:
    """A snapshot faster than the config (config changed) is slowed to it."""
    limiter = _limiter(FakeClock(), restore_seconds=2.0)

    limiter.restore(_snapshot(0.0, restore=0.5, ceiling=0.5), VIRTUAL_EPOCH)

    assert limiter.ceiling_restore_seconds == 2.0
    assert limiter.current_restore_seconds == 2.0


def test_limiter_restore_rejects_other_operation_and_naive_time() -> None:
    """A snapshot of another operation, or a naive wall time, is refused."""
    limiter = Limiter("orders", burst=6, restore_seconds=60, clock=FakeClock())

    with pytest.raises(ValueError, match="order_items"):
        limiter.restore(_snapshot(1.0), VIRTUAL_EPOCH)
    with pytest.raises(ValueError, match="aware"):
        limiter.restore(
            BucketSnapshot("orders", 1.0, 60.0, 60.0, VIRTUAL_EPOCH),
            datetime(2026, 3, 1, 12, 0, 0),  # noqa: DTZ001 - naive on purpose
        )


def test_snapshot_round_trips_through_store_row() -> None:
    """to_row gives plain values in ROW_COLUMNS order; from_row reads them back."""
    saved = BucketSnapshot(
        operation="orders",
        tokens=2.5,
        restore_seconds=120.0,
        ceiling_restore_seconds=60.0,
        saved_at=datetime(
            2026, 3, 1, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1))
        ),
    )

    row = saved.to_row("amazon-uk")

    assert row == (
        "amazon-uk",
        "orders",
        2.5,
        120.0,
        60.0,
        "2026-03-01T12:00:00.123456Z",
    )
    assert len(row) == len(ROW_COLUMNS)
    assert BucketSnapshot.from_row(row) == saved
    assert saved.saved_at.tzinfo is UTC


def test_snapshot_rejects_naive_time_and_bad_rows() -> None:
    """Snapshots need an aware saved_at; rows need six well-typed columns."""
    with pytest.raises(ValueError, match="aware"):
        BucketSnapshot("orders", 1.0, 60.0, 60.0, datetime(2026, 3, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="columns"):
        BucketSnapshot.from_row(("amazon-uk", "orders"))
    with pytest.raises(ValueError, match="number"):
        BucketSnapshot.from_row(("c", "orders", None, 1.0, 1.0, "2026-03-01T12:00:00Z"))


# -- QuotaSet -------------------------------------------------------------------------


def test_quota_set_builds_one_limiter_per_configured_operation() -> None:
    """from_config maps every Quotas field to a limiter with its burst and rate."""
    quotas = Quotas(orders=Quota(burst=20, restore_seconds=30))

    quota_set = QuotaSet.from_config(quotas, clock=FakeClock())

    assert set(quota_set) == set(OPERATIONS) == set(Quotas.model_fields)
    assert quota_set["orders"].burst == 20
    assert quota_set["orders"].configured_restore_seconds == 30.0
    assert quota_set["shipments"].configured_restore_seconds == 0.5
    assert len(quota_set) == 6


def test_quota_set_restores_its_own_snapshots() -> None:
    """snapshots() then restore() on a fresh set carries levels and rates over."""

    async def body(clock: LoopClock) -> None:
        before = QuotaSet.from_config(Quotas(), clock=clock)
        for _ in range(4):
            await before["orders"].acquire()
        before["order_items"].on_throttled()
        saved = before.snapshots(clock.now())

        after = QuotaSet.from_config(Quotas(), clock=clock)
        stray = BucketSnapshot("gone", 1.0, 1.0, 1.0, clock.now())
        after.restore([*saved, stray], clock.now() + timedelta(seconds=60))

        assert after["orders"].tokens == pytest.approx(3.0)  # 2 left + 60 s / 60 s
        assert after["order_items"].current_restore_seconds == 4.0
        assert after["order_items"].tokens == pytest.approx(15.0)
        assert after["shipments"].tokens == pytest.approx(10.0)

    _virtual(body)
