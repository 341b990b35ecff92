"""Order and item payloads in the shapes of Orders v0 and Orders 2026-01-01.

Pure functions from the order book's records to JSON-ready dicts, including what is
withheld: Pending orders carry no prices, addresses only exist once an order is
payable, and personal data needs an RDT (v0) or `includedData` (2026-01-01).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from kccsync.simulator.generator import (
    CANCELED,
    PARTIALLY_SHIPPED,
    PENDING,
    SHIPPED,
    UNSHIPPED,
    SimItem,
    SimOrder,
)
from kccsync.simulator.params import iso

#: Statuses for which Amazon includes a shipping address.
ADDRESS_STATUSES = frozenset({UNSHIPPED, PARTIALLY_SHIPPED, SHIPPED})

STATUS_2026 = {
    PENDING: "PENDING",
    UNSHIPPED: "UNSHIPPED",
    PARTIALLY_SHIPPED: "PARTIALLY_SHIPPED",
    SHIPPED: "SHIPPED",
    CANCELED: "CANCELLED",
}


def amount(minor: int) -> str:
    """Minor units as Amazon's decimal string: 3998 -> "39.98"."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole}.{cents:02d}"


def money(minor: int, currency: str) -> dict[str, str]:
    return {"CurrencyCode": currency, "Amount": amount(minor)}


def money_2026(minor: int, currency: str) -> dict[str, str]:
    return {"amount": amount(minor), "currencyCode": currency}


def _day_end(when: datetime, days: int) -> datetime:
    return (when + timedelta(days=days)).replace(hour=23, minute=59, second=59)


def windows(order: SimOrder) -> tuple[datetime, datetime, datetime, datetime]:
    """Ship-by and deliver-by windows: ship within 2 days, deliver in 3-5."""
    p = order.purchase_date
    return (
        p,
        _day_end(p, 2),
        _day_end(p, 3).replace(hour=0, minute=0, second=0),
        _day_end(p, 5),
    )


def _phone_visible(order: SimOrder, now: datetime) -> bool:
    # Hidden for all AFN orders, and for shipped MFN orders past LatestDeliveryDate.
    return not order.is_afn and not (
        order.status == SHIPPED and now > windows(order)[3]
    )


def units_shipped(order: SimOrder, items: tuple[SimItem, ...] | None) -> int:
    if order.status == CANCELED:
        return 0
    if order.all_shipped:
        return order.units
    if items is None:
        return 0
    return sum(order.shipped_quantity(i) for i in items)


def needs_items(order: SimOrder) -> bool:
    """Whether rendering the header needs the items (only for partial shipments)."""
    return not order.all_shipped and bool(order.base_shipped or order.packages)


def order_v0(
    order: SimOrder,
    items: tuple[SimItem, ...] | None,
    *,
    pii: Collection[str],
    now: datetime,
) -> dict[str, Any]:
    """An Order object (getOrders, getOrder); `pii` = the RDT's data elements."""
    market = order.marketplace
    shipped = units_shipped(order, items)
    out: dict[str, Any] = {
        "AmazonOrderId": order.order_id,
        "SellerOrderId": order.order_id,
        "PurchaseDate": iso(order.purchase_date),
        "LastUpdateDate": iso(order.last_update_date),
        "OrderStatus": order.status,
        "FulfillmentChannel": order.fulfillment_channel,
        "SalesChannel": market.sales_channel,
        "ShipServiceLevel": market.ship_service_level,
    }
    if order.paid:
        out["OrderTotal"] = money(order.total, market.currency)
    out |= {
        "NumberOfItemsShipped": shipped,
        "NumberOfItemsUnshipped": 0
        if order.status == CANCELED
        else order.units - shipped,
        "PaymentMethod": "Other",
        "PaymentMethodDetails": ["Standard"],
        "MarketplaceId": market.marketplace_id,
        "ShipmentServiceLevelCategory": "Standard",
        "OrderType": "StandardOrder",
    }
    if not order.is_afn:
        ship_from, ship_by, deliver_from, deliver_by = windows(order)
        out["EarliestShipDate"] = iso(ship_from)
        out["LatestShipDate"] = iso(ship_by)
        out["EarliestDeliveryDate"] = iso(deliver_from)
        if order.status not in (PENDING, CANCELED):
            out["LatestDeliveryDate"] = iso(deliver_by)
    out |= {
        "IsBusinessOrder": False,
        "IsPrime": order.is_prime,
        "IsPremiumOrder": False,
        "IsGlobalExpressEnabled": False,
        "IsReplacementOrder": False,
        "IsSoldByAB": False,
        "IsISPU": False,
        "IsAccessPointOrder": False,
        "HasRegulatedItems": False,
    }
    if order.status in ADDRESS_STATUSES:
        out["ShippingAddress"] = _address_v0(order, "shippingAddress" in pii, now)
    buyer_info: dict[str, str] = {}
    if "buyerInfo" in pii:
        buyer = order.buyer
        buyer_info = {"BuyerEmail": buyer.email, "BuyerName": buyer.name}
    out["BuyerInfo"] = buyer_info
    out["AutomatedShippingSettings"] = {"HasAutomatedShippingSettings": False}
    return out


def _address_v0(order: SimOrder, unredacted: bool, now: datetime) -> dict[str, str]:
    a = order.buyer.address
    out: dict[str, str] = {}
    if unredacted:
        out["Name"] = a.name
        out["AddressLine1"] = a.line1
        if a.line2:
            out["AddressLine2"] = a.line2
    out["City"] = a.city
    out["StateOrRegion"] = a.region
    if a.postal_code is not None:
        out["PostalCode"] = a.postal_code
    out["CountryCode"] = a.country
    if unredacted:
        if _phone_visible(order, now):
            out["Phone"] = a.phone
        out["AddressType"] = a.address_type
    return out


def item_v0(order: SimOrder, item: SimItem) -> dict[str, Any]:
    """An OrderItem object (getOrderItems). Pending orders carry no prices."""
    currency = order.marketplace.currency
    out: dict[str, Any] = {
        "ASIN": item.asin,
        "SellerSKU": item.sku,
        "OrderItemId": item.order_item_id,
        "Title": item.title,
        "QuantityOrdered": item.quantity,
        "QuantityShipped": 0
        if order.status == CANCELED
        else order.shipped_quantity(item),
        "ProductInfo": {"NumberOfItems": "1"},
    }
    if order.paid:
        out |= {
            "ItemPrice": money(item.line_price, currency),
            "ItemTax": money(item.item_tax, currency),
            "ShippingPrice": money(item.shipping, currency),
            "ShippingTax": money(item.shipping_tax, currency),
            "ShippingDiscount": money(0, currency),
            "ShippingDiscountTax": money(0, currency),
            "PromotionDiscount": money(item.promotion_discount, currency),
            "PromotionDiscountTax": money(0, currency),
            "PromotionIds": [item.promotion_id] if item.promotion_id else [],
            "IsGift": "false",
        }
        if not order.marketplace.vat_inclusive:
            out["TaxCollection"] = {
                "Model": "MarketplaceFacilitator",
                "ResponsibleParty": "Amazon Services, Inc.",
            }
    out |= {
        "ConditionId": "New",
        "ConditionSubtypeId": "New",
        "IsTransparency": False,
        "SerialNumberRequired": False,
    }
    if order.status == CANCELED and order.cancel_reason:
        out["BuyerRequestedCancel"] = {
            "IsBuyerRequestedCancel": "true",
            "BuyerCancelReason": order.cancel_reason,
        }
    return out


def order_2026(
    order: SimOrder,
    items: tuple[SimItem, ...],
    *,
    included: Collection[str],
    now: datetime,
) -> dict[str, Any]:
    """An Orders 2026-01-01 Order with the `includedData` sections asked for."""
    market = order.marketplace
    currency = market.currency
    out: dict[str, Any] = {
        "orderId": order.order_id,
        "createdTime": iso(order.purchase_date),
        "lastUpdatedTime": iso(order.last_update_date),
        "programs": ["PRIME"] if order.is_prime else [],
        "salesChannel": {
            "channelName": "AMAZON",
            "marketplaceId": market.marketplace_id,
            "marketplaceName": market.sales_channel,
        },
    }
    if "BUYER" in included:
        who = order.buyer
        buyer = {"buyerName": who.name}
        if not order.is_afn:
            buyer["buyerEmail"] = who.email
        out["buyer"] = buyer
    if "RECIPIENT" in included and order.status in ADDRESS_STATUSES:
        out["recipient"] = {"deliveryAddress": _address_2026(order, now)}
    if "PROCEEDS" in included and order.paid:
        out["proceeds"] = {
            "grandTotal": money_2026(order.total, currency),
            "breakdowns": _breakdowns(items, currency),
        }
    if "FULFILLMENT" in included:
        ship_from, ship_by, deliver_from, deliver_by = windows(order)
        fulfillment: dict[str, Any] = {
            "fulfillmentStatus": STATUS_2026[order.status],
            "fulfilledBy": "AMAZON" if order.is_afn else "MERCHANT",
            "fulfillmentServiceLevel": "STANDARD",
        }
        if not order.is_afn:
            fulfillment["shipByWindow"] = {
                "earliestDateTime": iso(ship_from),
                "latestDateTime": iso(ship_by),
            }
            fulfillment["deliverByWindow"] = {
                "earliestDateTime": iso(deliver_from),
                "latestDateTime": iso(deliver_by),
            }
        out["fulfillment"] = fulfillment
    out["orderItems"] = [_item_2026(order, i, included) for i in items]
    if "PACKAGES" in included and not order.is_afn:
        out["packages"] = [
            _package_2026(order, items, ref) for ref in order.packages or {}
        ]
    return out


def _address_2026(order: SimOrder, now: datetime) -> dict[str, str]:
    a = order.buyer.address
    out = {"name": a.name, "addressLine1": a.line1}
    if a.line2:
        out["addressLine2"] = a.line2
    out |= {"city": a.city, "stateOrRegion": a.region}
    if a.postal_code is not None:
        out["postalCode"] = a.postal_code
    out["countryCode"] = a.country
    if _phone_visible(order, now):
        out["phone"] = a.phone
    out["addressType"] = a.address_type.upper()
    return out


def _breakdowns(items: Collection[SimItem], currency: str) -> list[dict[str, Any]]:
    sums = {
        "ITEM": sum(i.line_price for i in items),
        "SHIPPING": sum(i.shipping for i in items),
        "TAX": sum(i.item_tax + i.shipping_tax for i in items),
        "DISCOUNT": -sum(i.promotion_discount for i in items),
    }
    return [
        {"type": kind, "subtotal": money_2026(total, currency)}
        for kind, total in sums.items()
        if total or kind == "ITEM"
    ]


def _item_2026(
    order: SimOrder, item: SimItem, included: Collection[str]
) -> dict[str, Any]:
    currency = order.marketplace.currency
    product: dict[str, Any] = {
        "asin": item.asin,
        "title": item.title,
        "sellerSku": item.sku,
        "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
    }
    if order.paid:
        product["price"] = {"unitPrice": money_2026(item.unit_price, currency)}
    out: dict[str, Any] = {
        "orderItemId": item.order_item_id,
        "quantityOrdered": item.quantity,
        "product": product,
    }
    if "PROCEEDS" in included and order.paid:
        total = item.line_price + item.item_tax + item.shipping + item.shipping_tax
        out["proceeds"] = {
            "proceedsTotal": money_2026(total - item.promotion_discount, currency),
            "breakdowns": _breakdowns([item], currency),
        }
    if "PROMOTION" in included and item.promotion_id:
        out["promotion"] = {"breakdowns": [{"promotionId": item.promotion_id}]}
    if "CANCELLATION" in included and order.status == CANCELED:
        out["cancellation"] = {
            "cancellationRequest": {
                "requester": "BUYER",
                "cancelReason": order.cancel_reason,
            }
        }
    if "FULFILLMENT" in included:
        shipped = 0 if order.status == CANCELED else order.shipped_quantity(item)
        unfulfilled = 0 if order.status == CANCELED else item.quantity - shipped
        out["fulfillment"] = {
            "quantityFulfilled": shipped,
            "quantityUnfulfilled": unfulfilled,
        }
    return out


def _package_2026(
    order: SimOrder, items: tuple[SimItem, ...], ref: str
) -> dict[str, Any]:
    package = (order.packages or {})[ref]
    out: dict[str, Any] = {
        "packageReferenceId": package.reference_id,
        "createdTime": iso(package.confirmed),
        "carrier": package.carrier_name or package.carrier_code,
        "shipTime": iso(package.ship_date),
        "trackingNumber": package.tracking_number,
        "packageItems": [
            {"orderItemId": items[line].order_item_id, "quantity": quantity}
            for line, quantity in package.lines
        ],
    }
    if package.shipping_method:
        out["shippingService"] = package.shipping_method
    return out
