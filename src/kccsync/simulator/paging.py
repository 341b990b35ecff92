"""NextToken / paginationToken state for the simulated marketplace.

Tokens are opaque, base64-shaped strings that always contain `+`, `/` and `=`, so a
client that forgets to percent-encode them (or encodes them twice) sends something
unknown and gets Amazon's 400 "could not decode your NextToken". A token can be
replayed (a retry after a 5xx) until it expires or is evicted.
"""

from __future__ import annotations

import base64
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

from kccsync.simulator.params import invalid


@dataclass
class Cursor:
    """Where the next page starts, and what the search was."""

    operation: str
    #: getOrders: the MarketplaceIds value; searchOrders: marketplaceIds or "";
    #: getOrderItems: the order id.
    scope: str
    #: The first request's other filter parameters, as sent.
    filters: dict[str, str]
    #: The snapshot of matching order ids taken on the first page (orders searches).
    ids: list[str] = field(default_factory=list)
    offset: int = 0
    page_size: int = 100
    #: (name, value) echoed in every page: LastUpdatedBefore / CreatedBefore.
    echo: tuple[str, str] | None = None
    issued: float = 0.0
    seq: int = 0


class NextTokens:
    """Issues tokens for cursors and resolves them (at most `limit` live tokens)."""

    def __init__(self, seed: int, limit: int = 50_000) -> None:
        self._seed = seed
        self._limit = limit
        self._seq = 0
        self._dead_through = 0
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()

    def issue(self, cursor: Cursor, now: float) -> str:
        self._seq += 1
        cursor.seq, cursor.issued = self._seq, now
        digest = hashlib.sha256(f"{self._seed}:{self._seq}:next".encode()).digest()
        # 0xFB 0xFF encode to "+/"; 19 bytes end in "==": every token has all three.
        token = base64.b64encode(b"\xfb\xff" + digest[:17]).decode()
        self._cursors[token] = cursor
        while len(self._cursors) > self._limit:
            self._cursors.popitem(last=False)
        return token

    def resolve(
        self, token: str, operation: str, now: float, max_age: float | None
    ) -> Cursor:
        """The cursor behind `token` for `operation`, or 400 InvalidInput."""
        cursor = self._cursors.get(token)
        if cursor is None or cursor.operation != operation:
            raise invalid(
                "Invalid NextToken: could not decode your NextToken.",
                "Pass the token exactly as received, percent-encoded once.",
            )
        if cursor.seq <= self._dead_through or (
            max_age is not None and now - cursor.issued > max_age
        ):
            raise invalid(
                "The NextToken has expired.", "Restart the search without a NextToken."
            )
        return cursor

    def expire_all(self) -> None:
        """Fault: every token issued so far is expired."""
        self._dead_through = self._seq
