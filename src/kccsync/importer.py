"""Pure import: channel order + items + stock catalogue → a sales order draft.

No I/O: the caller looks the SKUs up, and the store allocates the SO code and the
customer in the transaction that records the draft. A failure is an
`ImportFailure` whose message is shown to the operator as the order's error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from kccsync.models import (
    IMPORTABLE_STATUSES,
    Address,
    ChannelOrder,
    ChannelOrderItem,
    Fulfillment,
)

#: Marketplaces whose prices include VAT (Amazon's EU and UK stores).
VAT_INCLUSIVE_MARKETPLACES = frozenset(
    {
        "A1F83G8C2ARO7P",  # UK
        "A1PA6795UKMFR9",  # DE
        "A13V1IB3VIYZZH",  # FR
        "APJ6JRA9NG5V4",  # IT
        "A1RKKUPIHCS9HS",  # ES
        "A1805IZSGTT6HS",  # NL
        "AMEN7PMS3EDWL",  # BE
        "A2NODRKZP88ZB9",  # SE
        "A1C3SOZRARQ6R3",  # PL
        "A28R8C7NBKEWEA",  # IE
    }
)

#: Address fields a country's carriers need beyond name, first line and city.
_COUNTRY_REQUIRES: dict[str, tuple[str, ...]] = {
    "GB": ("postal_code",),
    "US": ("postal_code", "state_or_region"),
    "CA": ("postal_code", "state_or_region"),
    "DE": ("postal_code",),
    "FR": ("postal_code",),
    "IT": ("postal_code",),
    "ES": ("postal_code",),
    "NL": ("postal_code",),
    "JP": ("postal_code",),
}
_FIELD_NAMES = {
    "name": "recipient name",
    "line1": "address line 1",
    "city": "city",
    "postal_code": "postcode",
    "state_or_region": "state or region",
    "country_code": "country",
}
ZERO = Decimal("0")


@dataclass(frozen=True)
class StockRef:
    stock_item_id: int
    code: str
    description: str | None = None


@dataclass(frozen=True)
class CustomerDraft:
    """Who bought: matched on (channel, buyer_key) or created."""

    buyer_key: str
    name: str | None
    email: str | None


@dataclass(frozen=True)
class LineDraft:
    stock_item_id: int
    stock_code: str
    sku: str
    order_item_id: str
    description: str | None
    quantity: int
    line_total: Decimal
    line_tax: Decimal


@dataclass(frozen=True)
class SalesOrderDraft:
    customer: CustomerDraft
    ship_to: Address | None
    lines: tuple[LineDraft, ...]
    currency: str | None
    goods_total: Decimal
    shipping_total: Decimal
    discount_total: Decimal
    tax_total: Decimal
    order_total: Decimal
    prices_include_tax: bool
    fulfilled_by_channel: bool


@dataclass(frozen=True)
class ImportFailure:
    message: str


def skus_of(items: Iterable[ChannelOrderItem]) -> set[str]:
    return {item.sku for item in items if item.sku}


def address_problem(order: ChannelOrder) -> str | None:
    """Why the shipping address cannot be used, or None if it can."""
    addr = order.ship_to
    if addr is None:
        return "shipping address missing from the channel's order data"
    if addr.redacted:
        return (
            "shipping address redacted by the channel (no Restricted Data Token): "
            "enable restricted_data for this channel, then Retry download"
        )
    country = (addr.country_code or "").upper()
    required = (
        "name",
        "line1",
        "city",
        "country_code",
        *_COUNTRY_REQUIRES.get(country, ()),
    )
    missing = [
        _FIELD_NAMES[f] for f in required if not (getattr(addr, f) or "").strip()
    ]
    if missing:
        where = f" for {country}" if country else ""
        return f"shipping address incomplete: {', '.join(missing)} missing{where}"
    return None


def _customer(order: ChannelOrder) -> CustomerDraft:
    if order.buyer_email:
        key = "email:" + order.buyer_email.strip().lower()
    elif order.buyer_name:
        postal = order.ship_to.postal_code if order.ship_to else None
        key = f"name:{order.buyer_name.strip().lower()}|{(postal or '').upper()}"
    else:
        # No buyer identity at all (e.g. FBA without personal data): one
        # anonymous customer per channel, like a till's cash-sale account.
        key = "anonymous"
    name = order.buyer_name or (order.ship_to.name if order.ship_to else None)
    return CustomerDraft(buyer_key=key, name=name, email=order.buyer_email)


def _sum(values: Iterable[Decimal | None]) -> Decimal:
    return sum((v for v in values if v is not None), ZERO)


def import_order(
    order: ChannelOrder,
    items: Iterable[ChannelOrderItem],
    catalogue: Mapping[str, StockRef],
) -> SalesOrderDraft | ImportFailure:
    """Build the sales order for `order`, or say why it cannot be imported."""
    if order.status not in IMPORTABLE_STATUSES:
        # Pending (payment not cleared) and Canceled orders are never imported,
        # whatever path brought them here.
        return ImportFailure(f"order status {order.status} is not importable")
    lines_in = [item for item in items if item.quantity > 0]
    problems: list[str] = []
    if not lines_in:
        problems.append("order has no items with a quantity")
    missing_sku = [item.order_item_id for item in lines_in if not item.sku]
    if missing_sku:
        problems.append(f"items without a SKU: {', '.join(missing_sku)}")
    unknown = sorted({i.sku for i in lines_in if i.sku and i.sku not in catalogue})
    if unknown:
        problems.append(f"unknown stock code for SKU {', '.join(unknown)}")
    unpriced = [item.order_item_id for item in lines_in if item.item_price is None]
    if unpriced:
        problems.append(f"items without a price: {', '.join(unpriced)}")
    fba = order.fulfillment is Fulfillment.AFN
    if not fba:
        # Amazon ships FBA orders: their address is Amazon's business, not ours.
        problem = address_problem(order)
        if problem:
            problems.append(problem)
    if problems:
        return ImportFailure("; ".join(problems))

    lines = tuple(
        LineDraft(
            stock_item_id=catalogue[item.sku].stock_item_id,
            stock_code=catalogue[item.sku].code,
            sku=item.sku,
            order_item_id=item.order_item_id,
            description=item.title or catalogue[item.sku].description,
            quantity=item.quantity,
            line_total=item.item_price or ZERO,
            line_tax=item.item_tax or ZERO,
        )
        for item in lines_in
        if item.sku  # checked above; narrows the type
    )
    goods = _sum(line.line_total for line in lines)
    shipping = _sum(item.shipping_price for item in lines_in)
    discount = _sum(i.promotion_discount for i in lines_in) + _sum(
        i.shipping_discount for i in lines_in
    )
    tax = _sum(line.line_tax for line in lines) + _sum(i.shipping_tax for i in lines_in)
    inclusive = order.marketplace_id in VAT_INCLUSIVE_MARKETPLACES
    computed = goods + shipping - discount + (ZERO if inclusive else tax)
    currency = order.currency or next(
        (i.currency for i in lines_in if i.currency), None
    )
    return SalesOrderDraft(
        customer=_customer(order),
        ship_to=order.ship_to,
        lines=lines,
        currency=currency,
        goods_total=goods,
        shipping_total=shipping,
        discount_total=discount,
        tax_total=tax,
        order_total=order.order_total if order.order_total is not None else computed,
        prices_include_tax=inclusive,
        fulfilled_by_channel=fba,
    )
