"""Plain records shared by the simulator's modules: faults, calls, recorded traffic."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kccsync.simulator.params import Query, invalid


@dataclass
class Faults:
    """Fault knobs; change them at any time, they apply from the next request."""

    #: Share of SP-API requests answered 500 or 503 (after taking a quota token).
    server_error_rate: float = 0.0
    #: Seconds each request waits on the marketplace clock before it is handled.
    latency: float = 0.0
    #: Share of SP-API 200 answers whose JSON body is cut short (not LWA's).
    malformed_rate: float = 0.0
    #: NextTokens older than this (marketplace seconds) are refused as expired;
    #: None: v0 tokens never expire (undocumented) and 2026 tokens last 24 h.
    next_token_max_age: float | None = None
    #: Share of every operation's quota spent by another client on the same account.
    competing_share: float = 0.0
    #: Per-operation shares, overriding `competing_share` (keys: operation names).
    competing_shares: dict[str, float] = field(default_factory=dict)

    def share_for(self, operation: str) -> float:
        return self.competing_shares.get(operation, self.competing_share)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the marketplace saw and answered it."""

    time: datetime
    monotonic: float
    operation: str
    method: str
    path: str
    #: Decoded query parameters (the last value wins if one was repeated).
    params: dict[str, str]
    status: int
    request_id: str


@dataclass(frozen=True)
class RecordedShipment:
    """One accepted confirmShipment call."""

    time: datetime
    order_id: str
    marketplace_id: str
    package_reference_id: str
    carrier_code: str
    carrier_name: str | None
    shipping_method: str | None
    tracking_number: str
    ship_date: datetime
    #: (OrderItemId, quantity) pairs in this package.
    items: tuple[tuple[str, int], ...]
    #: The order's status once the package was recorded.
    status_after: str


@dataclass
class Call:
    """One authorised SP-API request, decoded for a handler."""

    method: str
    path: str
    query: Query
    body: bytes
    content_type: str
    now: datetime
    #: `now` in seconds from the order book's epoch.
    now_s: float
    #: The marketplace's monotonic time (quotas, token ages).
    mono: float
    #: The data elements unlocked by the RDT in use (empty for a plain access token).
    pii: frozenset[str]

    def json_body(self) -> Any:
        """The body as JSON, or 400 when it is not a JSON document."""
        if (
            self.content_type.split(";", maxsplit=1)[0].strip().lower()
            != "application/json"
        ):
            raise invalid("The request body must be sent as application/json.")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, ValueError):
            raise invalid("The request body is not valid JSON.") from None
