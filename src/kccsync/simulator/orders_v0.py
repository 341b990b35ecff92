"""Orders v0 operations: getOrders, getOrder, getOrderItems, confirmShipment.

Each handler takes the marketplace and one decoded call, validates like Amazon and
returns (status, body). Quotas, authentication and faults are applied before.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kccsync.simulator.generator import (
    CANCELED,
    PENDING,
    SHIPPED,
    Package,
    SimOrder,
)
from kccsync.simulator.paging import Cursor
from kccsync.simulator.params import ApiError, invalid, iso, parse_date, time_window
from kccsync.simulator.quotas import Operation
from kccsync.simulator.records import Call, RecordedShipment
from kccsync.simulator.wire import item_v0, needs_items, order_v0, windows

if TYPE_CHECKING:
    from kccsync.simulator.marketplace import Marketplace

ORDER_ID = re.compile(r"^\d{3}-\d{7}-\d{7}$")

V0_STATUSES = (
    "PendingAvailability",
    "Pending",
    "Unshipped",
    "PartiallyShipped",
    "Shipped",
    "InvoiceUnconfirmed",
    "Canceled",
    "Unfulfillable",
)
#: Without OrderStatuses, Pending orders are not returned.
DEFAULT_STATUSES = frozenset(V0_STATUSES) - {"Pending", "PendingAvailability"}
_EASY_SHIP = (
    "PendingSchedule",
    "PendingPickUp",
    "PendingDropOff",
    "LabelCanceled",
    "PickedUp",
    "DroppedOff",
    "AtOriginFC",
    "AtDestinationFC",
    "Delivered",
    "RejectedByBuyer",
    "Undeliverable",
    "ReturningToSeller",
    "ReturnedToSeller",
    "Lost",
    "OutForDelivery",
    "Damaged",
)
_INVOICE = ("NotRequired", "NotFound", "Processing", "Errored", "Accepted")
_DELIVERY_FILTERS = (
    "EarliestDeliveryDateBefore",
    "EarliestDeliveryDateAfter",
    "LatestDeliveryDateBefore",
    "LatestDeliveryDateAfter",
)
GET_ORDERS_PARAMS = frozenset(
    {
        "CreatedAfter",
        "CreatedBefore",
        "LastUpdatedAfter",
        "LastUpdatedBefore",
        "OrderStatuses",
        "MarketplaceIds",
        "FulfillmentChannels",
        "PaymentMethods",
        "BuyerEmail",
        "SellerOrderId",
        "MaxResultsPerPage",
        "EasyShipShipmentStatuses",
        "ElectronicInvoiceStatuses",
        "NextToken",
        "AmazonOrderIds",
        "ActualFulfillmentSupplySourceId",
        "IsISPU",
        "StoreChainStoreId",
        *_DELIVERY_FILTERS,
    }
)
_NOT_WITH_SELLER_ORDER_ID = (
    "FulfillmentChannels",
    "OrderStatuses",
    "PaymentMethods",
    "LastUpdatedAfter",
    "LastUpdatedBefore",
    "BuyerEmail",
)


def find_order(market: Marketplace, order_id: str) -> SimOrder:
    """The order, or 400 for a malformed id and 404 for an unknown one."""
    if not ORDER_ID.match(order_id):
        raise invalid(f"Invalid orderId {order_id!r}: expected the 3-7-7 format.")
    order = market.book.by_id.get(order_id)
    if order is None:
        raise ApiError(404, "NotFound", f"Order {order_id} was not found.")
    return order


def seller_marketplaces(market: Marketplace, ids: list[str], name: str) -> None:
    bad = [m for m in ids if m not in market.marketplace_ids]
    if bad:
        raise invalid(
            f"Invalid {name} value(s): {', '.join(bad)}.",
            f"This seller sells in {', '.join(market.marketplace_ids)}.",
        )


def get_orders(market: Marketplace, call: Call) -> tuple[int, dict[str, Any]]:
    q = call.query
    q.check_known(GET_ORDERS_PARAMS)
    marketplaces = q.list("MarketplaceIds", most=50)
    if marketplaces is None:
        raise invalid("MarketplaceIds is required.")
    seller_marketplaces(market, marketplaces, "MarketplaceIds")
    scope = ",".join(sorted(marketplaces))
    filters = {k: v for k, v in q.items() if k not in {"NextToken", "MarketplaceIds"}}
    token = q.get("NextToken")
    if token is not None:
        cursor = market.tokens.resolve(
            token, Operation.GET_ORDERS, call.mono, market.faults.next_token_max_age
        )
        _same_search(cursor, scope, filters, "MarketplaceIds")
    else:
        cursor = _new_search(market, call, marketplaces, scope, filters)
    orders = [
        market.book.by_id[i] for i in cursor.ids[cursor.offset :][: cursor.page_size]
    ]
    payload: dict[str, Any] = {
        "Orders": [
            order_v0(
                o,
                market.book.items(o) if needs_items(o) else None,
                pii=call.pii,
                now=call.now,
            )
            for o in orders
        ]
    }
    following = cursor.offset + cursor.page_size
    if following < len(cursor.ids):
        payload["NextToken"] = market.tokens.issue(
            replace(cursor, offset=following), call.mono
        )
    if cursor.echo is not None:
        payload[cursor.echo[0]] = cursor.echo[1]
    return 200, {"payload": payload}


def _same_search(
    cursor: Cursor, scope: str, filters: dict[str, str], name: str
) -> None:
    if cursor.scope != scope:
        raise invalid(f"A NextToken request must repeat the first request's {name}.")
    changed = sorted(k for k, v in filters.items() if cursor.filters.get(k) != v)
    if changed:
        raise invalid(
            f"A NextToken request cannot change the search: {', '.join(changed)}.",
            "Send only the NextToken and the same MarketplaceIds.",
        )


def _new_search(
    market: Marketplace,
    call: Call,
    marketplaces: list[str],
    scope: str,
    filters: dict[str, str],
) -> Cursor:
    q = call.query
    window = time_window(
        q,
        now=call.now,
        names=(
            "CreatedAfter",
            "CreatedBefore",
            "LastUpdatedAfter",
            "LastUpdatedBefore",
        ),
    )
    seller_order_id = q.get("SellerOrderId")
    if seller_order_id is not None:
        clash = [k for k in _NOT_WITH_SELLER_ORDER_ID if k in q.values]
        if clash:
            raise invalid(f"SellerOrderId cannot be combined with {', '.join(clash)}.")
    statuses = frozenset(
        q.list("OrderStatuses", allowed=V0_STATUSES) or DEFAULT_STATUSES
    )
    channels = frozenset(
        q.list("FulfillmentChannels", allowed=("AFN", "MFN")) or ("AFN", "MFN")
    )
    payments = q.list("PaymentMethods", allowed=("COD", "CVS", "Other"))
    order_ids = q.list("AmazonOrderIds", most=50)
    buyer_email = q.get("BuyerEmail")
    page_size = q.integer("MaxResultsPerPage", low=1, high=100, default=100)
    # Filters for features the simulated seller never has: accepted, and match nothing.
    easy_ship = q.list("EasyShipShipmentStatuses", allowed=_EASY_SHIP)
    invoice = q.list("ElectronicInvoiceStatuses", allowed=_INVOICE)
    ispu = q.boolean("IsISPU")
    store = [q.get("ActualFulfillmentSupplySourceId"), q.get("StoreChainStoreId")]
    delivery = {name: q.date(name) for name in _DELIVERY_FILTERS}
    none_match = bool(easy_ship or invoice or ispu or any(s is not None for s in store))
    book = market.book
    after_s, before_s = book.seconds(window.after), book.seconds(window.before)
    wanted = frozenset(marketplaces)
    matches: list[SimOrder] = []
    for o in [] if none_match else book.orders:
        t = o.purchase_s if window.by_created else o.last_update_s
        if not after_s <= t <= before_s or o.status not in statuses:
            continue
        if o.marketplace_id not in wanted or o.fulfillment_channel not in channels:
            continue
        if payments is not None and "Other" not in payments:
            continue
        if order_ids is not None and o.order_id not in order_ids:
            continue
        if buyer_email is not None and o.buyer.email != buyer_email:
            continue
        if seller_order_id is not None and o.order_id != seller_order_id:
            continue
        if any(delivery.values()) and not _delivery_match(o, delivery):
            continue
        matches.append(o)
    if window.by_created:
        matches.sort(key=lambda o: (o.purchase_s, o.index))
    else:
        matches.sort(key=lambda o: (o.last_update_s, o.index))
    return Cursor(
        operation=Operation.GET_ORDERS,
        scope=scope,
        filters=filters,
        ids=[o.order_id for o in matches],
        page_size=page_size,
        echo=(window.echo_name, iso(window.before)),
    )


def _delivery_match(order: SimOrder, bounds: dict[str, datetime | None]) -> bool:
    if order.is_afn:
        return False
    _, _, earliest, latest = windows(order)
    has_latest = order.status not in (PENDING, CANCELED)
    for name, bound in bounds.items():
        if bound is None:
            continue
        if name.startswith("Latest") and not has_latest:
            return False
        value = earliest if name.startswith("Earliest") else latest
        if value > bound if name.endswith("Before") else value < bound:
            return False
    return True


def get_order(
    market: Marketplace, call: Call, order_id: str
) -> tuple[int, dict[str, Any]]:
    call.query.check_known(())
    order = find_order(market, order_id)
    items = market.book.items(order) if needs_items(order) else None
    return 200, {"payload": order_v0(order, items, pii=call.pii, now=call.now)}


def get_order_items(
    market: Marketplace, call: Call, order_id: str
) -> tuple[int, dict[str, Any]]:
    q = call.query
    q.check_known(("NextToken",))
    order = find_order(market, order_id)
    token = q.get("NextToken")
    if token is None:
        cursor = Cursor(
            Operation.GET_ORDER_ITEMS, order_id, {}, page_size=market.items_page_size
        )
    else:
        cursor = market.tokens.resolve(
            token,
            Operation.GET_ORDER_ITEMS,
            call.mono,
            market.faults.next_token_max_age,
        )
        if cursor.scope != order_id:
            raise invalid("This NextToken belongs to another order's items.")
    items = market.book.items(order)
    following = cursor.offset + cursor.page_size
    payload: dict[str, Any] = {
        "AmazonOrderId": order.order_id,
        "OrderItems": [item_v0(order, i) for i in items[cursor.offset : following]],
    }
    if following < len(items):
        payload["NextToken"] = market.tokens.issue(
            replace(cursor, offset=following), call.mono
        )
    return 200, {"payload": payload}


def confirm_shipment(
    market: Marketplace, call: Call, order_id: str
) -> tuple[int, dict[str, Any] | None]:
    """Validate per the model (one package per call), record it, move the status."""
    call.query.check_known(())
    order = find_order(market, order_id)
    body = call.json_body()
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    _known(body, {"marketplaceId", "packageDetail", "codCollectionMethod"}, "body")
    if body.get("marketplaceId") != order.marketplace_id:
        raise invalid(
            "marketplaceId is required and must be the order's marketplace.",
            f"Order {order_id} was placed in {order.marketplace_id}.",
        )
    if "codCollectionMethod" in body and body["codCollectionMethod"] != "DirectPayment":
        raise invalid("codCollectionMethod must be DirectPayment.")
    detail = body.get("packageDetail")
    if not isinstance(detail, dict):
        raise invalid("packageDetail is required and must be an object.")
    package = _package(detail, call)
    if order.is_afn:
        raise invalid(
            f"Order {order_id} is fulfilled by Amazon (AFN); it cannot be confirmed."
        )
    editing = package.reference_id in (order.packages or {})
    if order.status in (PENDING, CANCELED) or (order.status == SHIPPED and not editing):
        raise invalid(f"Order {order_id} is {order.status}; it cannot be confirmed.")
    items = {i.order_item_id: i for i in market.book.items(order)}
    lines: list[tuple[int, int]] = []
    for n, entry in enumerate(detail["orderItems"]):
        item = items.get(entry["orderItemId"])
        if item is None:
            raise invalid(
                f"packageDetail.orderItems[{n}].orderItemId is not in this order."
            )
        if any(line == item.line for line, _ in lines):
            raise invalid(f"packageDetail.orderItems[{n}]: the item is listed twice.")
        left = item.quantity - order.shipped_quantity(
            item, without=package.reference_id
        )
        if entry["quantity"] > left:
            raise invalid(
                f"packageDetail.orderItems[{n}].quantity {entry['quantity']} exceeds "
                f"the {left} unit(s) of item {item.order_item_id} left to ship."
            )
        lines.append((item.line, entry["quantity"]))
    package = replace(package, lines=tuple(lines))
    market.book.confirm_package(order, package, call.now_s)
    market.shipments.append(_recorded(order, package, items, call))
    return 204, None


def _known(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise invalid(f"Unknown field(s) in {where}: {', '.join(unknown)}.")


def _text(detail: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = detail.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid(
            f"packageDetail.{name} is required and must be a non-empty string."
        )
    return value


def _package(detail: dict[str, Any], call: Call) -> Package:
    _known(
        detail,
        {
            "packageReferenceId",
            "carrierCode",
            "carrierName",
            "shippingMethod",
            "trackingNumber",
            "shipDate",
            "shipFromSupplySourceId",
            "orderItems",
        },
        "packageDetail",
    )
    reference = _text(detail, "packageReferenceId", required=True) or ""
    if not re.fullmatch(r"[1-9]\d{0,18}", reference, re.ASCII):
        raise invalid(
            'packageDetail.packageReferenceId must be a positive integer, e.g. "1".'
        )
    carrier = _text(detail, "carrierCode", required=True) or ""
    carrier_name = _text(detail, "carrierName", required=carrier == "Other")
    method = _text(detail, "shippingMethod", required=False)
    tracking = _text(detail, "trackingNumber", required=True) or ""
    _text(detail, "shipFromSupplySourceId", required=False)
    ship_date = parse_date(_text(detail, "shipDate", required=True) or "", "shipDate")
    entries = detail.get("orderItems")
    if not isinstance(entries, list) or not entries:
        raise invalid(
            "packageDetail.orderItems is required and must be a non-empty list."
        )
    for n, entry in enumerate(entries):
        where = f"packageDetail.orderItems[{n}]"
        if not isinstance(entry, dict):
            raise invalid(f"{where} must be an object.")
        _known(entry, {"orderItemId", "quantity", "transparencyCodes"}, where)
        if not isinstance(entry.get("orderItemId"), str):
            raise invalid(f"{where}.orderItemId is required and must be a string.")
        quantity = entry.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise invalid(
                f"{where}.quantity is required and must be a positive integer."
            )
        codes = entry.get("transparencyCodes")
        if codes is not None and not (
            isinstance(codes, list) and all(isinstance(c, str) for c in codes)
        ):
            raise invalid(f"{where}.transparencyCodes must be a list of strings.")
    return Package(
        reference, carrier, carrier_name, method, tracking, ship_date, call.now, ()
    )


def _recorded(
    order: SimOrder, package: Package, items: dict[str, Any], call: Call
) -> RecordedShipment:
    by_line = {i.line: i.order_item_id for i in items.values()}
    return RecordedShipment(
        time=call.now,
        order_id=order.order_id,
        marketplace_id=order.marketplace_id,
        package_reference_id=package.reference_id,
        carrier_code=package.carrier_code,
        carrier_name=package.carrier_name,
        shipping_method=package.shipping_method,
        tracking_number=package.tracking_number,
        ship_date=package.ship_date,
        items=tuple((by_line[line], q) for line, q in package.lines),
        status_after=order.status,
    )
