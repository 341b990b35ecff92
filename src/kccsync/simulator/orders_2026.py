"""Orders 2026-01-01 operations: searchOrders and getOrder (items inline, camelCase).

No payload wrapper; personal data comes with `includedData` (BUYER, RECIPIENT) under
the app's roles, not with an RDT. Pagination tokens last 24 hours.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kccsync.simulator.generator import SimOrder
from kccsync.simulator.orders_v0 import find_order, seller_marketplaces
from kccsync.simulator.paging import Cursor
from kccsync.simulator.params import invalid, iso, time_window
from kccsync.simulator.quotas import Operation
from kccsync.simulator.records import Call
from kccsync.simulator.wire import STATUS_2026, order_2026

if TYPE_CHECKING:
    from kccsync.simulator.marketplace import Marketplace

#: Documented: a pagination token is good for 24 hours.
TOKEN_MAX_AGE = 24 * 3600.0

FULFILLMENT_STATUSES = (
    "PENDING_AVAILABILITY",
    "PENDING",
    "UNSHIPPED",
    "PARTIALLY_SHIPPED",
    "SHIPPED",
    "CANCELLED",
    "UNFULFILLABLE",
)
DEFAULT_STATUSES = frozenset(FULFILLMENT_STATUSES) - {"PENDING", "PENDING_AVAILABILITY"}
INCLUDED_DATA = (
    "BUYER",
    "RECIPIENT",
    "PROCEEDS",
    "EXPENSE",
    "PROMOTION",
    "CANCELLATION",
    "FULFILLMENT",
    "PACKAGES",
    "TAX",
    "PAYMENT",
    "FULFILLMENT_ORDERS",
)
SEARCH_PARAMS = frozenset(
    {
        "createdAfter",
        "createdBefore",
        "lastUpdatedAfter",
        "lastUpdatedBefore",
        "fulfillmentStatuses",
        "marketplaceIds",
        "fulfilledBy",
        "maxResultsPerPage",
        "paginationToken",
        "includedData",
    }
)

_PAGE_PARAMS = frozenset(
    {"paginationToken", "marketplaceIds", "includedData", "maxResultsPerPage"}
)


def search_orders(market: Marketplace, call: Call) -> tuple[int, dict[str, Any]]:
    q = call.query
    q.check_known(SEARCH_PARAMS)
    included = frozenset(q.list("includedData", allowed=INCLUDED_DATA) or ())
    marketplaces = q.list("marketplaceIds", most=50)
    if marketplaces is not None:
        seller_marketplaces(market, marketplaces, "marketplaceIds")
    scope = ",".join(sorted(marketplaces or ()))
    # The model: every parameter must be repeated unchanged with a paginationToken,
    # except maxResultsPerPage and includedData, which may change between pages.
    filters = {k: v for k, v in q.items() if k not in _PAGE_PARAMS}
    token = q.get("paginationToken")
    if token is not None:
        max_age = market.faults.next_token_max_age
        cursor = market.tokens.resolve(
            token,
            Operation.SEARCH_ORDERS,
            call.mono,
            TOKEN_MAX_AGE if max_age is None else max_age,
        )
        if cursor.scope != scope:
            raise invalid(
                "A paginationToken request must repeat the first marketplaceIds."
            )
        changed = sorted(k for k, v in filters.items() if cursor.filters.get(k) != v)
        if changed:
            raise invalid(
                "A paginationToken request cannot change the search: "
                + ", ".join(changed)
            )
        if "maxResultsPerPage" in q.values:
            page_size = q.integer("maxResultsPerPage", low=1, high=100, default=100)
            cursor = replace(cursor, page_size=page_size)
    else:
        cursor = _new_search(market, call, marketplaces, scope, filters)
    book = market.book
    page = [book.by_id[i] for i in cursor.ids[cursor.offset :][: cursor.page_size]]
    out: dict[str, Any] = {
        "orders": [
            order_2026(o, book.items(o), included=included, now=call.now) for o in page
        ]
    }
    following = cursor.offset + cursor.page_size
    if following < len(cursor.ids):
        token = market.tokens.issue(replace(cursor, offset=following), call.mono)
        out["pagination"] = {"nextToken": token}
    if cursor.echo is not None:
        out[cursor.echo[0]] = cursor.echo[1]
    return 200, out


def _new_search(
    market: Marketplace,
    call: Call,
    marketplaces: list[str] | None,
    scope: str,
    filters: dict[str, str],
) -> Cursor:
    q = call.query
    window = time_window(
        q,
        now=call.now,
        names=(
            "createdAfter",
            "createdBefore",
            "lastUpdatedAfter",
            "lastUpdatedBefore",
        ),
    )
    statuses = frozenset(
        q.list("fulfillmentStatuses", allowed=FULFILLMENT_STATUSES) or DEFAULT_STATUSES
    )
    fulfilled_by = q.list("fulfilledBy", allowed=("MERCHANT", "AMAZON"))
    channels = {"MERCHANT": "MFN", "AMAZON": "AFN"}
    wanted_channels = frozenset(channels[f] for f in fulfilled_by or channels)
    page_size = q.integer("maxResultsPerPage", low=1, high=100, default=100)
    wanted = frozenset(marketplaces or market.marketplace_ids)
    book = market.book
    after_s, before_s = book.seconds(window.after), book.seconds(window.before)
    matches: list[SimOrder] = [
        o
        for o in book.orders
        if after_s
        <= (o.purchase_s if window.by_created else o.last_update_s)
        <= before_s
        and STATUS_2026[o.status] in statuses
        and o.marketplace_id in wanted
        and o.fulfillment_channel in wanted_channels
    ]
    if window.by_created:
        matches.sort(key=lambda o: (o.purchase_s, o.index))
    else:
        matches.sort(key=lambda o: (o.last_update_s, o.index))
    echo_name = "createdBefore" if window.by_created else "lastUpdatedBefore"
    return Cursor(
        operation=Operation.SEARCH_ORDERS,
        scope=scope,
        filters=filters,
        ids=[o.order_id for o in matches],
        page_size=page_size,
        echo=(echo_name, iso(window.before)),
    )


def get_order(
    market: Marketplace, call: Call, order_id: str
) -> tuple[int, dict[str, Any]]:
    q = call.query
    q.check_known(("includedData",))
    included = frozenset(q.list("includedData", allowed=INCLUDED_DATA) or ())
    order = find_order(market, order_id)
    items = market.book.items(order)
    return 200, {"order": order_2026(order, items, included=included, now=call.now)}
