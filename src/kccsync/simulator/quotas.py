"""Server-side usage plans: one token bucket per operation, plus a competing client.

The bucket maths is `kccsync.limiter.TokenBucket`, so both ends of the wire agree.
A competing client with share `s` takes that share of every token the moment it
exists. Lazily, that is the same as our side of the bucket filling at `(1 - s)` of the
published rate and starting with `(1 - s)` of the burst, while the competitor's count
grows by `s` tokens per restore interval (its own tokens are never refused).
"""

from __future__ import annotations

from enum import StrEnum

from kccsync.limiter import TokenBucket


class Operation(StrEnum):
    """Operation names as recorded and as keys of quota overrides."""

    GET_ORDERS = "getOrders"
    GET_ORDER = "getOrder"
    GET_ORDER_ITEMS = "getOrderItems"
    CONFIRM_SHIPMENT = "confirmShipment"
    CREATE_RDT = "createRestrictedDataToken"
    SEARCH_ORDERS = "searchOrders"
    GET_ORDER_2026 = "getOrder2026"
    #: The LWA token endpoint (no usage plan).
    LWA_TOKEN = "lwaToken"  # noqa: S105 - an operation name
    #: A path the simulator does not serve.
    UNKNOWN = "unknown"


#: Amazon's published defaults: (burst, seconds to restore one token).
DEFAULT_QUOTAS: dict[Operation, tuple[float, float]] = {
    Operation.GET_ORDERS: (20, 60.0),
    Operation.GET_ORDER_ITEMS: (30, 2.0),
    Operation.GET_ORDER: (30, 2.0),
    Operation.CONFIRM_SHIPMENT: (10, 0.5),
    Operation.CREATE_RDT: (10, 1.0),
    Operation.SEARCH_ORDERS: (20, 180.0),
    Operation.GET_ORDER_2026: (30, 2.0),
}


class ServerQuota:
    """One operation's bucket on the server, shared with an optional competitor."""

    def __init__(
        self, burst: float, restore_seconds: float, now: float, share: float = 0.0
    ):
        if burst < 1 or restore_seconds <= 0:
            raise ValueError("a quota needs burst >= 1 and restore_seconds > 0")
        if not 0.0 <= share < 1.0:
            raise ValueError("a competing share must be in [0, 1)")
        self.burst = burst
        self.restore_seconds = restore_seconds
        self.share = share
        self.bucket = TokenBucket.full(burst, restore_seconds / (1.0 - share), now)
        self.bucket.tokens = burst * (1.0 - share)
        #: Tokens the competing client has taken so far.
        self.competitor = burst * share
        self._seen = now

    @property
    def rate_limit(self) -> str:
        """`x-amzn-RateLimit-Limit`: the published rate in requests per second."""
        return format(round(1.0 / self.restore_seconds, 4), "g")

    def _account(self, now: float) -> None:
        if now > self._seen:
            self.competitor += self.share * (now - self._seen) / self.restore_seconds
            self._seen = now

    def set_share(self, share: float, now: float) -> None:
        """Change the competitor's share from `now` on (earned tokens are kept)."""
        if share == self.share:
            return
        if not 0.0 <= share < 1.0:
            raise ValueError("a competing share must be in [0, 1)")
        self.bucket.refill(now)
        self._account(now)
        self.share = share
        self.bucket.restore_seconds = self.restore_seconds / (1.0 - share)

    def competitor_tokens(self, now: float) -> float:
        """Tokens the competing client has taken up to `now`."""
        self._account(now)
        return self.competitor

    def try_take(self, now: float) -> bool:
        """Take a token for our request if one exists at `now`."""
        self._account(now)
        return self.bucket.try_take(now)
