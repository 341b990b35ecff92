"""SP-API Orders v0 JSON → channel-neutral records. Pure; tested on recorded payloads.

Amazon's payloads are loose: amounts are decimal strings, most fields are
optional, booleans sometimes arrive as strings. One unreadable order must not
sink its page, so an order or item that cannot be read keeps its raw payload and
a `problem`, which the importer turns into a readable error on that order.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from kccsync.errors import MalformedResponseError
from kccsync.models import (
    Address,
    ChannelOrder,
    ChannelOrderItem,
    Fulfillment,
    OrdersPage,
)
from kccsync.timeutil import parse_iso

Json = dict[str, Any]


class _Bad(ValueError):
    pass


def _str(obj: Json, key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad(f"{key} is not text")
    return value


def _req_str(obj: Json, key: str) -> str:
    value = _str(obj, key)
    if not value:
        raise _Bad(f"{key} missing")
    return value


def _date(obj: Json, key: str) -> datetime:
    text = _req_str(obj, key)
    try:
        return parse_iso(text)
    except ValueError:
        raise _Bad(f"{key} is not an ISO 8601 date: {text!r}") from None


def _money(obj: Json, key: str) -> tuple[Decimal | None, str | None]:
    value = obj.get(key)
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise _Bad(f"{key} is not a Money object")
    try:
        amount = Decimal(str(value["Amount"]))
    except (KeyError, InvalidOperation):
        raise _Bad(f"{key}.Amount is not a decimal amount") from None
    if not amount.is_finite():
        raise _Bad(f"{key}.Amount is not a decimal amount")
    currency = value.get("CurrencyCode")
    return amount, currency if isinstance(currency, str) else None


def _int(obj: Json, key: str, default: int | None = None) -> int:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise _Bad(f"{key} is not a whole number")
    return value


def parse_address(raw: object) -> Address | None:
    if not isinstance(raw, dict):
        return None
    fields = {
        "name": "Name",
        "company": "CompanyName",
        "line1": "AddressLine1",
        "line2": "AddressLine2",
        "line3": "AddressLine3",
        "city": "City",
        "county": "County",
        "district": "District",
        "state_or_region": "StateOrRegion",
        "postal_code": "PostalCode",
        "country_code": "CountryCode",
        "phone": "Phone",
    }
    values = {
        k: v if isinstance(v := raw.get(src), str) else None
        for k, src in fields.items()
    }
    # Without a Restricted Data Token Amazon sends only city, region, postcode and
    # country: no name and no street means the personal part was withheld.
    redacted = not values["name"] and not values["line1"]
    return Address(**values, redacted=redacted)


def parse_order(raw: Json) -> ChannelOrder:
    """One v0 `Order`. Raises MalformedResponseError only when it has no usable id."""
    order_id = raw.get("AmazonOrderId")
    if not isinstance(order_id, str) or not order_id:
        raise MalformedResponseError("an order without AmazonOrderId")
    info = raw.get("BuyerInfo")
    buyer: Json = info if isinstance(info, dict) else {}
    total, currency = _money(raw, "OrderTotal")
    channel = raw.get("FulfillmentChannel")
    if channel not in {"MFN", "AFN"}:
        raise _Bad(f"FulfillmentChannel {channel!r} is neither MFN nor AFN")
    return ChannelOrder(
        order_id=order_id,
        purchase_date=_date(raw, "PurchaseDate"),
        last_update=_date(raw, "LastUpdateDate"),
        status=_req_str(raw, "OrderStatus"),
        fulfillment=Fulfillment(channel),
        marketplace_id=_str(raw, "MarketplaceId") or "",
        currency=currency,
        order_total=total,
        buyer_email=_str(buyer, "BuyerEmail") or None,
        buyer_name=_str(buyer, "BuyerName") or None,
        ship_to=parse_address(raw.get("ShippingAddress")),
        ship_service_level=_str(raw, "ShipServiceLevel"),
        raw=raw,
    )


def parse_item(raw: Json) -> ChannelOrderItem:
    item_price, currency = _money(raw, "ItemPrice")
    return ChannelOrderItem(
        order_item_id=_req_str(raw, "OrderItemId"),
        sku=_str(raw, "SellerSKU"),
        title=_str(raw, "Title"),
        quantity=_int(raw, "QuantityOrdered"),
        quantity_shipped=_int(raw, "QuantityShipped", 0),
        item_price=item_price,
        item_tax=_money(raw, "ItemTax")[0],
        shipping_price=_money(raw, "ShippingPrice")[0],
        shipping_tax=_money(raw, "ShippingTax")[0],
        shipping_discount=_money(raw, "ShippingDiscount")[0],
        promotion_discount=_money(raw, "PromotionDiscount")[0],
        currency=currency,
        raw=raw,
    )


def order_problem(raw: Json) -> str | None:
    """Why a stored order payload cannot be read, or None."""
    try:
        parse_order(raw)
    except (_Bad, MalformedResponseError) as exc:
        return f"unreadable order data from the channel: {exc}"
    return None


def item_problem(raw: Json) -> str | None:
    try:
        parse_item(raw)
    except _Bad as exc:
        oid = raw.get("OrderItemId")
        return f"unreadable item data from the channel ({oid}): {exc}"
    return None


def lenient_order(raw: Json, fallback_update: datetime) -> ChannelOrder:
    """Parse an order; if it is unreadable keep its id and raw data for a clear error.

    The stand-in carries status Unshipped so it is stored and fails at import
    with the reason, instead of vanishing.
    """
    try:
        return parse_order(raw)
    except _Bad:
        order_id = str(raw["AmazonOrderId"])
        channel = raw.get("FulfillmentChannel")
        return ChannelOrder(
            order_id=order_id,
            purchase_date=fallback_update,
            last_update=fallback_update,
            status="Unshipped",
            fulfillment=Fulfillment.AFN if channel == "AFN" else Fulfillment.MFN,
            marketplace_id=str(raw.get("MarketplaceId") or ""),
            raw=raw,
        )


def payload(body: object) -> Json:
    """The `payload` member of a v0 response."""
    if not isinstance(body, dict) or not isinstance(body.get("payload"), dict):
        raise MalformedResponseError("response has no payload object")
    result: Json = body["payload"]
    return result


def parse_orders_page(body: object, fallback_update: datetime) -> OrdersPage:
    data = payload(body)
    raw_orders = data.get("Orders")
    if not isinstance(raw_orders, list):
        raise MalformedResponseError("getOrders payload has no Orders list")
    orders = []
    for raw in raw_orders:
        if not isinstance(raw, dict) or not isinstance(raw.get("AmazonOrderId"), str):
            raise MalformedResponseError("getOrders returned an order without an id")
        orders.append(lenient_order(raw, fallback_update))
    token = data.get("NextToken")
    before = data.get("LastUpdatedBefore")
    updated_before = None
    if isinstance(before, str):
        try:
            updated_before = parse_iso(before)
        except ValueError:
            updated_before = None  # the sandbox sends odd values; the caller falls back
    return OrdersPage(
        orders=tuple(orders),
        next_token=token if isinstance(token, str) and token else None,
        updated_before=updated_before,
    )


def parse_items_page(body: object) -> tuple[list[Json], str | None]:
    """Raw items of one getOrderItems page and the next page's token."""
    data = payload(body)
    items = data.get("OrderItems")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise MalformedResponseError("getOrderItems payload has no OrderItems list")
    token = data.get("NextToken")
    return items, token if isinstance(token, str) and token else None


def error_text(body: object) -> str:
    """`code: message` of the first error in an SP-API error envelope."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return f"{first.get('code', '?')}: {first.get('message', '')}".strip()
    return "no error details"
