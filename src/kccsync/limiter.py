"""Token buckets that model a channel's quotas.

`TokenBucket` is the pure arithmetic (no asyncio, time passed in); the server side
of the simulator uses it too, so both ends of the wire agree on the maths.
"""

from __future__ import annotations

from dataclasses import dataclass


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
        return cls(burst=burst, restore_seconds=restore_seconds, tokens=burst, updated=now)

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
