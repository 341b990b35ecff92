"""The channel interface the sync tasks use: typed, free of any wire format."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from kccsync.models import ChannelOrder, ChannelOrderItem, OrdersPage, Shipment


class Channel(Protocol):
    """A sales channel as the sync tasks see it."""

    name: str

    async def list_orders(
        self,
        *,
        updated_after: datetime,
        updated_before: datetime,
        next_token: str | None,
    ) -> OrdersPage:
        """One page of orders changed in the window (first page when no token)."""
        ...

    async def get_order(self, order_id: str) -> ChannelOrder:
        """One order, fetched again from scratch (Retry download)."""
        ...

    async def list_items(self, order_id: str) -> tuple[ChannelOrderItem, ...]:
        """All items of an order, every page."""
        ...

    async def confirm_shipment(self, shipment: Shipment) -> None:
        """Upload one shipping notification."""
        ...

    def read_order(self, raw: Mapping[str, Any]) -> ChannelOrder:
        """Rebuild a stored order payload; raises ImportProblem if unreadable."""
        ...

    def read_item(self, raw: Mapping[str, Any]) -> ChannelOrderItem:
        """Rebuild a stored item payload; raises ImportProblem if unreadable."""
        ...
