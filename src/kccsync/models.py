"""Channel-neutral records: what the sync tasks, the store and the importer exchange.

A channel client maps its wire format to these; nothing here knows SP-API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

#: Channel statuses that can be imported (Amazon's Pending is never asked for).
IMPORTABLE_STATUSES = frozenset({"Unshipped", "PartiallyShipped", "Shipped"})
CANCELLED_STATUS = "Canceled"


class OrderState(StrEnum):
    """Where an order stands in kccsync (`orders list` state column)."""

    PENDING = "pending"  # downloaded, not yet imported
    IMPORTED = "imported"
    FAILED = "failed"
    IGNORED = "ignored"
    CANCELLED = "cancelled"  # cancelled on the channel before it was imported


class Fulfillment(StrEnum):
    MFN = "MFN"  # the merchant ships
    AFN = "AFN"  # fulfilled by Amazon (FBA)


class ShippingState(StrEnum):
    """State of an order's shipping notification (status upload)."""

    PENDING = "pending"
    HELD = "held"  # upload_order_status = false
    UPLOADED = "uploaded"
    FAILED = "failed"


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class Address:
    """A postal address as the channel sent it; `redacted` when PII was withheld."""

    name: str | None = None
    company: str | None = None
    line1: str | None = None
    line2: str | None = None
    line3: str | None = None
    city: str | None = None
    county: str | None = None
    district: str | None = None
    state_or_region: str | None = None
    postal_code: str | None = None
    country_code: str | None = None
    phone: str | None = None
    redacted: bool = False


@dataclass(frozen=True)
class ChannelOrder:
    """One order as downloaded, with the raw payload kept for re-import."""

    order_id: str
    purchase_date: datetime
    last_update: datetime
    status: str  # the channel's own status word (Unshipped, Shipped, Canceled, ...)
    fulfillment: Fulfillment
    marketplace_id: str
    currency: str | None = None
    order_total: Decimal | None = None
    buyer_email: str | None = None
    buyer_name: str | None = None
    ship_to: Address | None = None
    ship_service_level: str | None = None
    #: Items carried inline by the channel (Orders 2026-01-01); None = fetch separately.
    items: tuple[ChannelOrderItem, ...] | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ChannelOrderItem:
    """One order line as downloaded. Prices are line totals (Amazon's ItemPrice)."""

    order_item_id: str
    sku: str | None
    title: str | None
    quantity: int
    quantity_shipped: int = 0
    item_price: Decimal | None = None
    item_tax: Decimal | None = None
    shipping_price: Decimal | None = None
    shipping_tax: Decimal | None = None
    shipping_discount: Decimal | None = None
    promotion_discount: Decimal | None = None
    currency: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class OrdersPage:
    """One page of changed orders and where the window ends."""

    orders: tuple[ChannelOrder, ...]
    next_token: str | None
    #: The upper bound the channel applied (Amazon echoes LastUpdatedBefore).
    updated_before: datetime | None


@dataclass(frozen=True)
class ShipmentLine:
    order_item_id: str
    quantity: int


@dataclass(frozen=True)
class Shipment:
    """A shipping notification to upload (one package)."""

    order_id: str
    marketplace_id: str
    package_reference_id: str
    carrier_code: str
    tracking_number: str
    ship_date: datetime
    lines: tuple[ShipmentLine, ...]
    carrier_name: str | None = None
    shipping_method: str | None = None
