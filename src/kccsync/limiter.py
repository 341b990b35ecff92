"""Token buckets that model a channel's quotas (DESIGN.md §7).

`TokenBucket` is the pure arithmetic (no asyncio, time passed in); the server side
of the simulator uses it too, so both ends of the wire agree on the maths.
`Limiter` is the one place that waits for a token: one async bucket per channel
operation, fed back by the HTTP layer (`on_throttled` / `on_success`).
`QuotaSet` holds a channel's limiters; `BucketSnapshot` saves them across restarts.

Waiting (`Limiter.acquire`)
---------------------------
Waiters queue FIFO in a deque of futures. Only the waiter at the front (the
*head*) looks at the clock: it asks the bucket how long until one token exists,
sleeps exactly that long (through `Clock.sleep`), takes the token and hands the
head role to the next waiter. Everyone else sleeps on its own future and costs
nothing. A newcomer takes a token at once only when nobody is queued, so nobody
jumps the queue. A cancelled waiter leaves the deque without touching the bucket
(if it was the head, the next waiter becomes head), so it takes no token and
blocks nobody. Anything that changes the bucket from outside (a 429 emptying it,
a rate change, a restore) wakes the head, which recomputes its wait: a waiter is
never late by a stale computation, and there is no polling.

Adapting to a shared account (AIMD)
-----------------------------------
Another system may spend the same seller quota. A bucket that only mirrors the
configured rate then spends tokens the server no longer has and collides
constantly. So the rate adapts, never above a *ceiling* (the configured rate, or
the lower `x-amzn-RateLimit-Limit` the server last announced):

- 429: the bucket is emptied and the rate halved (multiplicative decrease),
  down to at most `max_slowdown` (16) times slower than the ceiling. Only the
  first 429 after a grant cuts: 429s of requests that were already in flight
  when the rate was cut describe the same collision and do not cut again.
- success: the rate grows by a fixed step (additive increase) until the ceiling.
  The step is set at the first cut of a throttling streak so that the halving is
  won back over `recovery_successes` (64) successful calls, whatever the
  remaining share is.
- after a storm (several 429s in a row cut the rate far below the rate that was
  working before it), successes double the rate (slow start, as TCP does after
  a timeout) until it is back to half that rate, then additive increase goes on.
  Without this, an operation as slow as order pages (one a minute) would crawl
  at 1/16 of its rate for hours after another system stopped competing.

The server's own bucket makes the sawtooth cheap: while we run below our share,
the server banks the unused tokens (up to its burst) and we spend them when we
overshoot, so little time is lost as long as the bank never overflows.

Measured (tests/integration/test_limiter_shared.py `run_shared`; burst 30 / 2 s,
a competitor taking half the restore rate from the same server bucket, 2,000
requests, virtual time; workers x latency as shown):

=========================  ===========  ==============  ==========================
bucket                     workers/lat  429 per 100 OK  time / remaining-share min
=========================  ===========  ==============  ==========================
adaptive (this module)     1 / 0 s      1.55            1.0013
adaptive (this module)     4 / 0.2 s    1.60            1.0014
adaptive (this module)     16 / 0.5 s   1.60            1.0031
mirror (configured rate)   1 / 0 s      98.55           1.0003
mirror (configured rate)   4 / 0.2 s    89.60           1.0005
mirror (configured rate)   16 / 0.5 s   78.85           1.0004
=========================  ===========  ==============  ==========================

Persistence
-----------
`Limiter.snapshot` records the level, the rate in force and the ceiling;
`Limiter.restore` credits the wall time elapsed since (never negative), at the
slower of the saved and configured rates, and only ever lowers the level. A
snapshot is exact only if nothing was spent after it was taken.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kccsync.clock import Clock
    from kccsync.config import Quota, Quotas

#: A channel's operations, each with its own bucket (the fields of `config.Quotas`).
OPERATIONS = (
    "orders",
    "order_items",
    "order",
    "shipments",
    "search_orders",
    "restricted_data_token",
)

#: The columns of a persisted snapshot row, in `BucketSnapshot.to_row` order.
ROW_COLUMNS = (
    "channel",
    "operation",
    "tokens",
    "restore_seconds",
    "ceiling_restore_seconds",
    "saved_at",
)

_SAVED_AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass
class TokenBucket:
    """`burst` tokens at most, one more every `restore_seconds`, continuously.

    Time is any monotonic float passed in by the caller; the bucket starts full.
    """

    burst: float
    restore_seconds: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, burst: float, restore_seconds: float, now: float) -> TokenBucket:
        return cls(
            burst=burst, restore_seconds=restore_seconds, tokens=burst, updated=now
        )

    def refill(self, now: float) -> None:
        """Credit the tokens earned since the last update, up to `burst`."""
        if now > self.updated:
            earned = (now - self.updated) / self.restore_seconds
            self.tokens = min(self.burst, self.tokens + earned)
            self.updated = now

    def try_take(self, now: float) -> bool:
        """Take one token if one exists at `now`."""
        self.refill(now)
        # A tiny tolerance absorbs float error: 1 - 1e-9 tokens is one token.
        if self.tokens >= 1.0 - 1e-9:
            self.tokens = max(0.0, self.tokens - 1.0)
            return True
        return False

    def wait_time(self, now: float, needed: float = 1.0) -> float:
        """Seconds from `now` until `needed` tokens exist (0 if they already do)."""
        self.refill(now)
        missing = needed - self.tokens
        return 0.0 if missing <= 1e-9 else missing * self.restore_seconds

    def empty(self, now: float) -> None:
        """Drop every token held at `now` (the server says the quota is spent)."""
        self.refill(now)
        self.tokens = 0.0

    def retime(self, now: float, restore_seconds: float) -> None:
        """From `now` on, earn one token every `restore_seconds`."""
        # Credit the time so far at the old rate before the new one applies.
        self.refill(now)
        self.restore_seconds = restore_seconds


@dataclass(frozen=True, slots=True)
class BucketSnapshot:
    """One operation's bucket as saved across a restart."""

    operation: str
    tokens: float
    #: The restore interval in force when saved (the adaptive rate, not the config).
    restore_seconds: float
    #: The slowest interval the bucket may be asked to go faster than (header).
    ceiling_restore_seconds: float
    #: Aware UTC wall time of the level above.
    saved_at: datetime

    def __post_init__(self) -> None:
        if self.saved_at.tzinfo is None:
            raise ValueError("BucketSnapshot.saved_at must be an aware datetime")
        object.__setattr__(self, "saved_at", self.saved_at.astimezone(UTC))

    def to_row(self, channel: str) -> tuple[str, str, float, float, float, str]:
        """The snapshot as a store row, in `ROW_COLUMNS` order."""
        return (
            channel,
            self.operation,
            self.tokens,
            self.restore_seconds,
            self.ceiling_restore_seconds,
            self.saved_at.strftime(_SAVED_AT_FORMAT),
        )

    @classmethod
    def from_row(cls, row: Sequence[object]) -> BucketSnapshot:
        """Read a row in `ROW_COLUMNS` order (the channel is the caller's key)."""
        if len(row) != len(ROW_COLUMNS):
            raise ValueError(f"expected {len(ROW_COLUMNS)} columns, got {len(row)}")
        _, operation, tokens, restore, ceiling, saved_at = row
        if not isinstance(operation, str) or not isinstance(saved_at, str):
            raise ValueError("operation and saved_at must be text")
        stamp = datetime.fromisoformat(saved_at)
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        return cls(
            operation=operation,
            tokens=_number(tokens),
            restore_seconds=_number(restore),
            ceiling_restore_seconds=_number(ceiling),
            saved_at=stamp,
        )


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


class Limiter:
    """One async token bucket for one channel operation, shared by its coroutines.

    Args:
        name: the operation (`orders`, `order_items`, ...), used in snapshots.
        burst: tokens the bucket holds at most; it starts full on first use.
        restore_seconds: the configured interval between tokens (the ceiling).
        clock: time and sleep; `acquire` sleeps through nothing else.
        adaptive: cut the rate on 429s (AIMD); False only mirrors the ceiling.
        max_slowdown: how far below the ceiling the rate may be cut (a factor).
        recovery_successes: successful calls that win back one halving.
    """

    def __init__(
        self,
        name: str,
        *,
        burst: int,
        restore_seconds: float,
        clock: Clock,
        adaptive: bool = True,
        max_slowdown: float = 16.0,
        recovery_successes: int = 64,
    ) -> None:
        if burst < 1:
            raise ValueError("burst must be >= 1")
        if not (restore_seconds > 0 and math.isfinite(restore_seconds)):
            raise ValueError("restore_seconds must be a positive number")
        if max_slowdown < 1 or recovery_successes < 1:
            raise ValueError("max_slowdown and recovery_successes must be >= 1")
        self.name = name
        self.burst = burst
        self.configured_restore_seconds = float(restore_seconds)
        self._clock = clock
        self._adaptive = adaptive
        self._max_slowdown = float(max_slowdown)
        self._recovery = recovery_successes
        # Intervals, not rates, are the primary state, so an unthrottled bucket
        # runs at exactly the configured interval with no 1/(1/x) rounding.
        self._ceiling_restore = self.configured_restore_seconds
        self._restore = self.configured_restore_seconds
        # Additive-increase step in tokens/second; reset at each cut. This default
        # only matters when the rate is below the ceiling without a cut (restore).
        self._step = 1.0 / (self._ceiling_restore * 2 * recovery_successes)
        # The rate in force when the current throttling streak began: slow start
        # wins back half of it quickly after a storm (see on_success).
        self._known_good = 1.0 / self._ceiling_restore
        # Created on first use: the clock may need a running loop to be read.
        self._bucket: TokenBucket | None = None
        # FIFO queue; waiters[0] is the head, the only one that sleeps on time.
        self._waiters: deque[asyncio.Future[None]] = deque()
        # The head's current sleep, cancelled to make it recompute (`_wake_head`).
        self._head_sleep: asyncio.Future[None] | None = None
        # True once a token was granted since the last cut (see on_throttled).
        self._cut_armed = True
        #: Tokens handed out by `acquire`.
        self.granted = 0
        #: 429s reported, and successes reported.
        self.throttled = 0
        self.succeeded = 0
        #: 429s in a row since the last success.
        self.throttled_streak = 0

    # -- state ------------------------------------------------------------------

    @property
    def current_restore_seconds(self) -> float:
        """The interval between tokens in force now (adaptive)."""
        return self._restore

    @property
    def ceiling_restore_seconds(self) -> float:
        """The fastest interval allowed: configured, or slower if a header says so."""
        return self._ceiling_restore

    @property
    def waiting(self) -> int:
        """Callers queued in `acquire`."""
        return len(self._waiters)

    @property
    def tokens(self) -> float:
        """Tokens in the bucket now."""
        return self._bucket_now().tokens

    def _bucket_now(self) -> TokenBucket:
        now = self._clock.monotonic()
        if self._bucket is None:
            self._bucket = TokenBucket.full(self.burst, self._restore, now)
        else:
            self._bucket.refill(now)
        return self._bucket

    def _set_restore(self, seconds: float) -> None:
        if seconds != self._restore:
            self._bucket_now().retime(self._clock.monotonic(), seconds)
            self._restore = seconds
            self._wake_head()

    def _wake_head(self) -> None:
        """The bucket changed under the head: make it recompute its wait."""
        if self._head_sleep is not None and not self._head_sleep.done():
            self._head_sleep.cancel()

    # -- waiting ----------------------------------------------------------------

    async def acquire(self) -> None:
        """Wait for a token and take it: first come, first served."""
        bucket = self._bucket_now()
        # Fast path: nobody queued and a token in hand. With a queue, even an
        # available token belongs to the head (it is about to be woken).
        if not self._waiters and bucket.try_take(self._clock.monotonic()):
            self._grant()
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            if self._waiters[0] is not turn:
                # Parked until the waiter ahead leaves (granted or cancelled).
                await turn
            await self._wait_as_head()
        finally:
            self._leave(turn)

    async def _wait_as_head(self) -> None:
        """Sleep until a token exists, then take it (we are the queue's head)."""
        loop = asyncio.get_running_loop()
        while True:
            bucket = self._bucket_now()
            now = self._clock.monotonic()
            delay = bucket.wait_time(now)
            # wait_time and try_take share one tolerance: delay 0 means a token.
            if delay <= 0 and bucket.try_take(now):
                self._grant()
                return
            # Sleep in a task of our own so `_wake_head` can cut the sleep short
            # without cancelling the caller. asyncio.wait returns when the sleep
            # ends either way and raises only if *we* are cancelled. Then loop:
            # the wait is recomputed from the bucket, so a sleep that ended early
            # (woken) or a hair early (clock rounding) simply sleeps the rest.
            sleep = loop.create_task(self._clock.sleep(delay))
            self._head_sleep = sleep
            try:
                await asyncio.wait((sleep,))
            finally:
                self._head_sleep = None
                sleep.cancel()
            if not sleep.cancelled():
                sleep.result()  # surface a clock failure rather than drop it

    def _grant(self) -> None:
        self.granted += 1
        self._cut_armed = True

    def _leave(self, turn: asyncio.Future[None]) -> None:
        """Take `turn` out of the queue; if it was the head, promote the next."""
        if self._waiters and self._waiters[0] is turn:
            self._waiters.popleft()
            # The next waiter may itself be cancelled but not yet unwound: its
            # future is then done, and its own `_leave` passes the head on.
            if self._waiters and not self._waiters[0].done():
                self._waiters[0].set_result(None)
        else:
            self._waiters.remove(turn)

    # -- server feedback --------------------------------------------------------

    def on_throttled(self, rate_limit: float | None = None) -> None:
        """A request got 429: empty the bucket and (adaptive) halve the rate.

        Args:
            rate_limit: `x-amzn-RateLimit-Limit` (requests/second), if sent.
        """
        self.throttled += 1
        self.throttled_streak += 1
        self._adopt_header(rate_limit)
        if self._adaptive and self._cut_armed:
            # Cut once per collision: until a new token is granted, every 429
            # comes from a request that started before this cut.
            self._cut_armed = False
            before = 1.0 / self._restore
            floor = 1.0 / (self._ceiling_restore * self._max_slowdown)
            after = max(before / 2, floor)
            if self.throttled_streak == 1:
                # The first cut of a streak: `before` was working until now.
                self._known_good = before
                self._step = (before - after) / self._recovery
            if after < before:
                self._set_restore(1.0 / after)
        self._bucket_now().empty(self._clock.monotonic())
        self._wake_head()

    def on_success(self, rate_limit: float | None = None) -> None:
        """A request succeeded: end the streak and win the rate back a step.

        Args:
            rate_limit: `x-amzn-RateLimit-Limit` (requests/second), if sent.
        """
        self.succeeded += 1
        self.throttled_streak = 0
        self._adopt_header(rate_limit)
        if self._restore > self._ceiling_restore:
            rate = 1.0 / self._restore
            if rate < self._known_good / 2:
                rate = min(2 * rate, self._known_good / 2)  # slow start
            else:
                rate += self._step
            if rate * self._ceiling_restore >= 1.0:
                self._set_restore(self._ceiling_restore)
            else:
                self._set_restore(1.0 / rate)

    def _adopt_header(self, rate_limit: float | None) -> None:
        """Follow the server's announced rate, never faster than configured."""
        if rate_limit is None or not (rate_limit > 0 and math.isfinite(rate_limit)):
            return
        ceiling = max(self.configured_restore_seconds, 1.0 / rate_limit)
        if ceiling == self._ceiling_restore:
            return
        # Keep "successes per halving won back" the same at the new scale.
        self._step *= self._ceiling_restore / ceiling
        self._ceiling_restore = ceiling
        self._set_restore(self._clamp(self._restore))

    def _clamp(self, seconds: float) -> float:
        """An interval within [ceiling, ceiling * max_slowdown] (ceiling if fixed)."""
        if not self._adaptive:
            return self._ceiling_restore
        return min(
            max(seconds, self._ceiling_restore),
            self._ceiling_restore * self._max_slowdown,
        )

    # -- persistence ------------------------------------------------------------

    def snapshot(self, now_wall: datetime) -> BucketSnapshot:
        """The bucket as of now; `now_wall` is the aware wall time to stamp it."""
        return BucketSnapshot(
            operation=self.name,
            tokens=self._bucket_now().tokens,
            restore_seconds=self._restore,
            ceiling_restore_seconds=self._ceiling_restore,
            saved_at=now_wall,
        )

    def restore(self, snapshot: BucketSnapshot, now_wall: datetime) -> None:
        """Resume from `snapshot`, crediting the wall time elapsed since it.

        The level becomes min(burst, tokens + elapsed / interval), where elapsed
        is clamped at 0 (a clock that went back credits nothing) and interval is
        the slower of the saved and configured ones, so the credit never exceeds
        what the server earned. It never raises the current level: a restore can
        only make the bucket more careful.
        """
        if snapshot.operation != self.name:
            raise ValueError(
                f"snapshot of {snapshot.operation!r} given to {self.name!r}"
            )
        if now_wall.tzinfo is None:
            raise ValueError("now_wall must be an aware datetime")
        ceiling = snapshot.ceiling_restore_seconds
        if ceiling > 0 and math.isfinite(ceiling):
            self._ceiling_restore = max(self.configured_restore_seconds, ceiling)
        saved_restore = snapshot.restore_seconds
        if not (saved_restore > 0 and math.isfinite(saved_restore)):
            saved_restore = self._ceiling_restore
        restore = self._clamp(saved_restore)
        self._step = 1.0 / (restore * self._recovery)
        self._set_restore(restore)

        elapsed = max(0.0, (now_wall - snapshot.saved_at).total_seconds())
        interval = max(saved_restore, self._ceiling_restore)
        saved_tokens = snapshot.tokens if math.isfinite(snapshot.tokens) else 0.0
        level = min(float(self.burst), max(0.0, saved_tokens) + elapsed / interval)
        bucket = self._bucket_now()
        bucket.tokens = min(bucket.tokens, level)
        self._wake_head()


class QuotaSet(Mapping[str, Limiter]):
    """A channel's limiters, keyed by operation name."""

    def __init__(self, limiters: Iterable[Limiter]) -> None:
        self._limiters = {limiter.name: limiter for limiter in limiters}

    @classmethod
    def from_config(cls, quotas: Quotas, *, clock: Clock) -> QuotaSet:
        """One limiter per operation in `quotas`, all on `clock`."""
        limiters = []
        for name in OPERATIONS:
            quota: Quota = getattr(quotas, name)
            limiters.append(
                Limiter(
                    name,
                    burst=quota.burst,
                    restore_seconds=quota.restore_seconds,
                    clock=clock,
                )
            )
        return cls(limiters)

    def __getitem__(self, operation: str) -> Limiter:
        return self._limiters[operation]

    def __iter__(self) -> Iterator[str]:
        return iter(self._limiters)

    def __len__(self) -> int:
        return len(self._limiters)

    def snapshots(self, now_wall: datetime) -> list[BucketSnapshot]:
        """Every bucket as of now, stamped `now_wall`."""
        return [limiter.snapshot(now_wall) for limiter in self._limiters.values()]

    def restore(self, snapshots: Iterable[BucketSnapshot], now_wall: datetime) -> None:
        """Restore each bucket from its snapshot; unknown operations are skipped."""
        for snapshot in snapshots:
            limiter = self._limiters.get(snapshot.operation)
            if limiter is not None:
                limiter.restore(snapshot, now_wall)
