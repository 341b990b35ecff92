"""The simulator against the SP-API contract (docs/reference, ordersV0.json,
orders_2026-01-01.json): status codes, error envelopes, paging, tokens, quotas,
restricted data and fault knobs. In-process transport, virtual time (looptime).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from kccsync.clock import LoopClock
from kccsync.config import SimulatorSettings
from kccsync.simulator import Faults, Marketplace
from kccsync.simulator.catalogue import DE, UK
from kccsync.simulator.generator import PENDING, SHIPPED, UNSHIPPED, SimOrder
from kccsync.simulator.params import iso
from kccsync.simulator.testing import client, login, token_form

pytestmark = pytest.mark.looptime

ORDERS = "/orders/v0/orders"
SEARCH = "/orders/2026-01-01/orders"
RDT_PATH = "/tokens/2021-03-01/restrictedDataToken"
TOKEN_PATH = "/auth/o2/token"
#: Before the whole backlog (which starts six days before the virtual epoch).
AFTER = "2026-02-01T00:00:00Z"
PII_FIELDS = {"Name", "AddressLine1", "Phone", "AddressType"}

Json = dict[str, Any]


@dataclass
class Sim:
    """A marketplace, an in-process client and an LWA access token."""

    market: Marketplace
    http: httpx.AsyncClient
    token: str
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = {"x-amz-access-token": self.token}

    async def get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        token: str | None = None,
    ) -> httpx.Response:
        headers = {"x-amz-access-token": token or self.token}
        return await self.http.get(path, params=params, headers=headers)

    async def orders(self, **params: str) -> httpx.Response:
        return await self.get(
            ORDERS, {"MarketplaceIds": UK, "LastUpdatedAfter": AFTER, **params}
        )

    async def orders_as(self, token: str) -> httpx.Response:
        params = {"MarketplaceIds": UK, "LastUpdatedAfter": AFTER}
        return await self.get(ORDERS, params, token=token)

    async def confirm(self, order_id: str, body: object) -> httpx.Response:
        return await self.http.post(
            f"{ORDERS}/{order_id}/shipmentConfirmation",
            json=body,
            headers=self.headers,
        )

    async def rdt(self, *resources: Json) -> str:
        response = await self.http.post(
            RDT_PATH,
            json={"restrictedResources": list(resources)},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"restrictedDataToken", "expiresIn"}
        assert body["expiresIn"] == 3600
        assert body["restrictedDataToken"].startswith("Atz.sprdt|")
        return str(body["restrictedDataToken"])


def make_market(
    *,
    seed: int = 7,
    backlog: int = 40,
    orders_per_hour: float = 0.0,
    multi_page_items_share: float = 0.0,
    **kwargs: Any,
) -> Marketplace:
    settings = SimulatorSettings(
        seed=seed,
        backlog_orders=backlog,
        orders_per_hour=orders_per_hour,
        multi_page_items_share=multi_page_items_share,
    )
    return Marketplace(clock=LoopClock(), seed=seed, settings=settings, **kwargs)


@contextlib.asynccontextmanager
async def connect(market: Marketplace | None = None) -> AsyncIterator[Sim]:
    market = market or make_market()
    async with client(market) as http:
        yield Sim(market, http, await login(http))


def error_of(response: httpx.Response, status: int, code: str = "InvalidInput") -> Json:
    """The single error of an SP-API error answer, after checking its envelope."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-amzn-RequestId"]
    body = response.json()
    assert list(body) == ["errors"]
    (error,) = body["errors"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], str)
    return dict(error)


def first(market: Marketplace, *, status: str, channel: str = "MFN") -> SimOrder:
    return next(
        o
        for o in market.orders.values()
        if o.status == status and o.fulfillment_channel == channel
    )


# -- getOrders validation -----------------------------------------------------


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        pytest.param({"LastUpdatedAfter": AFTER}, "MarketplaceIds", id="no-market"),
        pytest.param(
            {"MarketplaceIds": "", "LastUpdatedAfter": AFTER},
            "MarketplaceIds",
            id="empty-market",
        ),
        pytest.param(
            {"MarketplaceIds": "A1BOGUS", "LastUpdatedAfter": AFTER},
            "MarketplaceIds",
            id="foreign-market",
        ),
        pytest.param({"MarketplaceIds": UK}, "required", id="no-after"),
        pytest.param(
            {"MarketplaceIds": UK, "CreatedAfter": AFTER, "LastUpdatedAfter": AFTER},
            "cannot both",
            id="both-afters",
        ),
        pytest.param(
            {
                "MarketplaceIds": UK,
                "CreatedAfter": AFTER,
                "LastUpdatedBefore": "2026-02-02T00:00:00Z",
            },
            "cannot be combined",
            id="created-with-updated-before",
        ),
        pytest.param(
            {
                "MarketplaceIds": UK,
                "LastUpdatedAfter": AFTER,
                "CreatedBefore": "2026-02-02T00:00:00Z",
            },
            "cannot be combined",
            id="updated-with-created-before",
        ),
        pytest.param(
            {
                "MarketplaceIds": UK,
                "LastUpdatedAfter": AFTER,
                "LastUpdatedBefore": "2026-01-31T00:00:00Z",
            },
            "not be earlier",
            id="before-earlier-than-after",
        ),
        pytest.param(
            {"MarketplaceIds": UK, "LastUpdatedAfter": "2026-03-01"},
            "ISO 8601",
            id="date-only",
        ),
        pytest.param(
            {"MarketplaceIds": UK, "LastUpdatedAfter": "2026-03-01T10:00:00"},
            "ISO 8601",
            id="no-offset",
        ),
        pytest.param(
            {"MarketplaceIds": UK, "CreatedAfter": "2026-02-30T10:00:00Z"},
            "not a valid date",
            id="feb-30",
        ),
        pytest.param(
            {"MarketplaceIds": UK, "CreatedAfter": "yesterday"},
            "ISO 8601",
            id="words",
        ),
        pytest.param(
            {"MarketplaceIds": UK, "CreatedAfter": AFTER, "MaxResultsPerPage": "0"},
            "MaxResultsPerPage",
            id="page-0",
        ),
        pytest.param(
            {"MarketplaceIds": UK, "CreatedAfter": AFTER, "MaxResultsPerPage": "101"},
            "MaxResultsPerPage",
            id="page-101",
        ),
        pytest.param(
            {"MarketplaceIds": UK, "CreatedAfter": AFTER, "MaxResultsPerPage": "ten"},
            "MaxResultsPerPage",
            id="page-words",
        ),
        pytest.param(
            {"MarketplaceIds": UK, "CreatedAfter": AFTER, "OrderStatuses": "Bogus"},
            "OrderStatuses",
            id="status-unknown",
        ),
        pytest.param(
            {"MarketplaceIds": UK, "CreatedAfter": AFTER, "OrderStatuses": "shipped"},
            "OrderStatuses",
            id="status-case",
        ),
        pytest.param(
            {"MarketplaceIds": UK, "CreatedAfter": AFTER, "Foo": "bar"},
            "Foo",
            id="unknown-param",
        ),
        pytest.param(
            {"marketplaceIds": UK, "MarketplaceIds": UK, "CreatedAfter": AFTER},
            "marketplaceIds",
            id="camel-case-param",
        ),
        pytest.param(
            {"MarketplaceIds": UK, "CreatedAfter": AFTER, "NextToken": "AbC+dEf/gh=="},
            "NextToken",
            id="forged-next-token",
        ),
    ],
)
async def test_get_orders_rejects_invalid_input(
    params: dict[str, str], fragment: str
) -> None:
    async with connect() as sim:
        response = await sim.get(ORDERS, params)

    error = error_of(response, 400)
    assert fragment in error["message"]
    assert response.headers["x-amzn-RateLimit-Limit"] == "0.0167"


async def test_before_must_be_at_least_two_minutes_before_now() -> None:
    async with connect() as sim:
        now = sim.market.clock.now()
        too_recent = await sim.orders(
            LastUpdatedBefore=iso(now - timedelta(seconds=119))
        )
        created = await sim.get(
            ORDERS,
            {
                "MarketplaceIds": UK,
                "CreatedAfter": AFTER,
                "CreatedBefore": iso(now - timedelta(seconds=60)),
            },
        )
        just_old_enough = await sim.orders(
            LastUpdatedBefore=iso(now - timedelta(minutes=2))
        )
        after_too_recent = await sim.get(
            ORDERS, {"MarketplaceIds": UK, "LastUpdatedAfter": iso(now)}
        )

    assert "2 minutes" in error_of(too_recent, 400)["message"]
    assert "2 minutes" in error_of(created, 400)["message"]
    assert "2 minutes" in error_of(after_too_recent, 400)["message"]
    assert just_old_enough.status_code == 200


async def test_dates_accept_offsets_only_when_the_plus_is_percent_encoded() -> None:
    async with connect() as sim:
        encoded = await sim.orders(LastUpdatedBefore="2026-03-01T12:30:00+01:00")
        raw = await sim.http.get(
            f"{ORDERS}?MarketplaceIds={UK}&LastUpdatedAfter=2026-02-01T01:00:00+01:00",
            headers=sim.headers,
        )
        seen = sim.market.requests[-1].params["LastUpdatedAfter"]

    assert encoded.status_code == 200
    assert encoded.json()["payload"]["LastUpdatedBefore"] == "2026-03-01T11:30:00Z"
    assert seen == "2026-02-01T01:00:00 01:00"  # the raw '+' arrived as a space
    assert "ISO 8601" in error_of(raw, 400)["message"]


@pytest.mark.parametrize("size", ["1", "100"])
async def test_max_results_per_page_bounds_are_inclusive(size: str) -> None:
    async with connect() as sim:
        response = await sim.orders(MaxResultsPerPage=size)

    payload = response.json()["payload"]
    assert response.status_code == 200
    assert len(payload["Orders"]) == min(int(size), 40 - _pending(sim.market))


def _pending(market: Marketplace) -> int:
    return sum(o.status == PENDING for o in market.orders.values())


async def test_order_statuses_filter_takes_a_comma_separated_list() -> None:
    async with connect() as sim:
        response = await sim.orders(OrderStatuses="Unshipped,Shipped")
        expected = {
            o.order_id
            for o in sim.market.orders.values()
            if o.status in {UNSHIPPED, SHIPPED}
        }

    orders = response.json()["payload"]["Orders"]
    assert {o["OrderStatus"] for o in orders} <= {"Unshipped", "Shipped"}
    assert {o["AmazonOrderId"] for o in orders} == expected
    assert expected


# -- getOrders paging ---------------------------------------------------------


async def test_next_token_round_trips_percent_encoded_and_fails_raw() -> None:
    async with connect() as sim:
        everything = await sim.orders()
        first_page = await sim.orders(MaxResultsPerPage="15")
        pages = [first_page.json()["payload"]]
        while "NextToken" in pages[-1]:
            token = pages[-1]["NextToken"]
            assert {"+", "/", "="} <= set(token)
            follow = await sim.get(ORDERS, {"MarketplaceIds": UK, "NextToken": token})
            assert follow.status_code == 200, follow.text
            pages.append(follow.json()["payload"])
        token = first_page.json()["payload"]["NextToken"]
        raw = await sim.http.get(
            f"{ORDERS}?MarketplaceIds={UK}&NextToken={token}", headers=sim.headers
        )
        seen_raw = sim.market.requests[-1].params["NextToken"]
        once = quote(token, safe="")
        encoded = await sim.http.get(
            f"{ORDERS}?MarketplaceIds={UK}&NextToken={once}", headers=sim.headers
        )
        double = await sim.http.get(
            f"{ORDERS}?MarketplaceIds={UK}&NextToken={quote(once, safe='')}",
            headers=sim.headers,
        )
        no_market = await sim.get(ORDERS, {"NextToken": token})
        other_market = await sim.get(ORDERS, {"MarketplaceIds": DE, "NextToken": token})

    paged = [o["AmazonOrderId"] for page in pages for o in page["Orders"]]
    single = [o["AmazonOrderId"] for o in everything.json()["payload"]["Orders"]]
    assert len(pages) == 3
    assert paged == single
    assert len(set(paged)) == len(paged)
    assert seen_raw == token.replace("+", " ")
    assert "NextToken" in error_of(raw, 400)["message"]
    assert encoded.status_code == 200
    assert encoded.json()["payload"]["Orders"] == pages[1]["Orders"]
    assert "NextToken" in error_of(double, 400)["message"]
    assert "MarketplaceIds" in error_of(no_market, 400)["message"]
    assert "MarketplaceIds" in error_of(other_market, 400)["message"]


async def test_last_updated_before_is_echoed_on_every_page() -> None:
    async with connect() as sim:
        now = sim.market.clock.now()
        default = await sim.orders(MaxResultsPerPage="30")
        token = default.json()["payload"]["NextToken"]
        second = await sim.get(ORDERS, {"MarketplaceIds": UK, "NextToken": token})
        given = await sim.orders(LastUpdatedBefore="2026-02-28T10:00:00Z")
        created = await sim.get(
            ORDERS,
            {
                "MarketplaceIds": UK,
                "CreatedAfter": AFTER,
                "CreatedBefore": "2026-02-27T00:00:00Z",
            },
        )

    latest = iso(now - timedelta(minutes=2))
    assert default.json()["payload"]["LastUpdatedBefore"] == latest
    assert second.json()["payload"]["LastUpdatedBefore"] == latest
    payload = given.json()["payload"]
    assert payload["LastUpdatedBefore"] == "2026-02-28T10:00:00Z"
    assert all(o["LastUpdateDate"] <= "2026-02-28T10:00:00Z" for o in payload["Orders"])
    created_payload = created.json()["payload"]
    assert created_payload["CreatedBefore"] == "2026-02-27T00:00:00Z"
    assert "LastUpdatedBefore" not in created_payload


async def test_next_token_cannot_change_the_search() -> None:
    async with connect() as sim:
        token = (await sim.orders(MaxResultsPerPage="10")).json()["payload"][
            "NextToken"
        ]
        changed = await sim.get(
            ORDERS,
            {"MarketplaceIds": UK, "NextToken": token, "OrderStatuses": "Shipped"},
        )

    assert "OrderStatuses" in error_of(changed, 400)["message"]


async def test_pending_orders_are_only_returned_when_asked_for() -> None:
    market = make_market(backlog=40, backlog_window=1800.0)
    async with connect(market) as sim:
        default = await sim.orders()
        pending = await sim.orders(OrderStatuses="Pending")
        pending_order = pending.json()["payload"]["Orders"][0]
        items = await sim.get(f"{ORDERS}/{pending_order['AmazonOrderId']}/orderItems")
        search_default = await sim.get(SEARCH, {"lastUpdatedAfter": AFTER})
        search_pending = await sim.get(
            SEARCH, {"lastUpdatedAfter": AFTER, "fulfillmentStatuses": "PENDING"}
        )
        visible = market.clock.now() - timedelta(minutes=2)
        in_book = {
            o.order_id
            for o in market.orders.values()
            if o.status == PENDING and o.last_update_date <= visible
        }

    statuses = {o["OrderStatus"] for o in default.json()["payload"]["Orders"]}
    assert statuses
    assert "Pending" not in statuses
    pending_ids = {o["AmazonOrderId"] for o in pending.json()["payload"]["Orders"]}
    assert pending_ids == in_book
    assert in_book
    assert "OrderTotal" not in pending_order
    assert "ShippingAddress" not in pending_order
    for item in items.json()["payload"]["OrderItems"]:
        assert "ItemPrice" not in item
        assert "ItemTax" not in item
    default_2026 = {o["orderId"] for o in search_default.json()["orders"]}
    assert default_2026
    assert not default_2026 & in_book
    assert {o["orderId"] for o in search_pending.json()["orders"]} == in_book


# -- authentication -----------------------------------------------------------


async def test_missing_or_unknown_access_token_is_403() -> None:
    async with connect() as sim:
        missing = await sim.http.get(
            ORDERS, params={"MarketplaceIds": UK, "LastUpdatedAfter": AFTER}
        )
        forged = await sim.orders_as("Atza|forged")

    error_of(missing, 403, "MissingAuthenticationToken")
    assert (
        "revoked, malformed or invalid"
        in error_of(forged, 403, "Unauthorized")["details"]
    )
    assert forged.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert "x-amzn-RateLimit-Limit" not in forged.headers


async def test_access_token_expires_after_an_hour() -> None:
    async with connect() as sim:
        await sim.market.clock.sleep(3599)
        still_valid = await sim.orders()
        await sim.market.clock.sleep(1)
        expired = await sim.orders()
        fresh = await login(sim.http)
        renewed = await sim.orders_as(fresh)

    assert still_valid.status_code == 200
    assert "expired" in error_of(expired, 403, "Unauthorized")["details"]
    assert renewed.status_code == 200


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        pytest.param(
            token_form(client_secret="wrong"), 401, "invalid_client", id="secret"
        ),
        pytest.param(token_form(client_id="wrong"), 401, "invalid_client", id="id"),
        pytest.param(
            token_form(refresh_token="Atzr|revoked"), 400, "invalid_grant", id="grant"
        ),
        pytest.param(
            {**token_form(), "grant_type": "client_credentials"},
            400,
            "unsupported_grant_type",
            id="grant-type",
        ),
        pytest.param(
            {k: v for k, v in token_form().items() if k != "grant_type"},
            400,
            "invalid_request",
            id="no-grant-type",
        ),
    ],
)
async def test_lwa_token_errors_use_the_lwa_shape(
    form: dict[str, str], status: int, code: str
) -> None:
    async with connect() as sim:
        response = await sim.http.post(TOKEN_PATH, data=form)

    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == code
    assert body["error_description"]


async def test_lwa_token_exchange_form_and_json() -> None:
    async with connect() as sim:
        form = await sim.http.post(TOKEN_PATH, data=token_form())
        as_json = await sim.http.post(TOKEN_PATH, json=token_form())

    for response in (form, as_json):
        assert response.status_code == 200
        body = response.json()
        assert body["access_token"].startswith("Atza|")
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 3600
    assert form.json()["access_token"] != as_json.json()["access_token"]


# -- restricted data ----------------------------------------------------------


async def test_get_orders_redacts_pii_without_an_rdt_and_shows_it_with_one() -> None:
    async with connect() as sim:
        plain = await sim.orders()
        rdt = await sim.rdt(
            {
                "method": "GET",
                "path": ORDERS,
                "dataElements": ["buyerInfo", "shippingAddress"],
            }
        )
        restricted = await sim.orders_as(rdt)
        address_only = await sim.orders_as(
            await sim.rdt(
                {"method": "GET", "path": ORDERS, "dataElements": ["shippingAddress"]}
            )
        )
        on_other_path = await sim.get(
            f"{ORDERS}/{first(sim.market, status=UNSHIPPED).order_id}", token=rdt
        )

    def with_address(response: httpx.Response) -> list[Json]:
        orders = response.json()["payload"]["Orders"]
        return [o for o in orders if "ShippingAddress" in o]

    redacted = with_address(plain)
    assert redacted
    for order in redacted:
        assert not PII_FIELDS & set(order["ShippingAddress"])
        assert {"City", "CountryCode"} <= set(order["ShippingAddress"])
        assert "BuyerEmail" not in order["BuyerInfo"]
        assert "BuyerName" not in order["BuyerInfo"]
    unredacted = with_address(restricted)
    assert [o["AmazonOrderId"] for o in unredacted] == [
        o["AmazonOrderId"] for o in redacted
    ]
    for order in unredacted:
        assert {"Name", "AddressLine1", "AddressType"} <= set(order["ShippingAddress"])
        assert order["BuyerInfo"]["BuyerEmail"].endswith("amazon.co.uk")
        assert order["BuyerInfo"]["BuyerName"]
    for order in with_address(address_only):
        assert "Name" in order["ShippingAddress"]
        assert order["BuyerInfo"] == {}
    assert "does not cover" in error_of(on_other_path, 403, "Unauthorized")["details"]


async def test_get_order_needs_an_rdt_for_its_exact_path() -> None:
    async with connect() as sim:
        order_id = first(sim.market, status=UNSHIPPED).order_id
        path = f"{ORDERS}/{order_id}"
        plain = await sim.get(path)
        rdt = await sim.rdt(
            {
                "method": "GET",
                "path": path,
                "dataElements": ["buyerInfo", "shippingAddress"],
            }
        )
        restricted = await sim.get(path, token=rdt)
        slash = await sim.http.post(
            RDT_PATH,
            json={"restrictedResources": [{"method": "GET", "path": path + "/"}]},
            headers=sim.headers,
        )
        bad_element = await sim.http.post(
            RDT_PATH,
            json={
                "restrictedResources": [
                    {"method": "GET", "path": path, "dataElements": ["email"]}
                ]
            },
            headers=sim.headers,
        )

    order = plain.json()["payload"]
    assert order["AmazonOrderId"] == order_id
    assert not PII_FIELDS & set(order["ShippingAddress"])
    assert order["BuyerInfo"] == {}
    full = restricted.json()["payload"]
    assert {"Name", "AddressLine1", "Phone"} <= set(full["ShippingAddress"])
    assert full["BuyerInfo"]["BuyerName"]
    assert "trailing slash" in error_of(slash, 400)["details"]
    assert "dataElements" in error_of(bad_element, 400)["message"]


# -- usage plans --------------------------------------------------------------


async def test_burst_plus_one_is_throttled_until_one_restore_interval() -> None:
    async with connect() as sim:
        burst = [await sim.orders() for _ in range(20)]
        throttled = await sim.orders()
        await sim.market.clock.sleep(59.5)
        still_throttled = await sim.orders()
        await sim.market.clock.sleep(0.5)
        restored = await sim.orders()
        again = await sim.orders()

    assert [r.status_code for r in burst] == [200] * 20
    assert {r.headers["x-amzn-RateLimit-Limit"] for r in burst} == {"0.0167"}
    for response in (throttled, still_throttled, again):
        error = error_of(response, 429, "QuotaExceeded")
        assert error["message"] == "You exceeded your quota for the requested resource."
        assert response.headers["x-amzn-ErrorType"] == "TooManyRequestsException"
        # The model lists x-amzn-RateLimit-Limit on 200/400/404, not on 429.
        assert "x-amzn-RateLimit-Limit" not in response.headers
    assert restored.status_code == 200
    assert restored.headers["x-amzn-RateLimit-Limit"] == "0.0167"
    assert sim.market.count("getOrders", status=429) == 3


async def test_each_operation_has_its_own_bucket_and_rate_header() -> None:
    market = make_market()
    async with connect(market) as sim:
        order_id = first(market, status=UNSHIPPED).order_id
        for _ in range(30):
            assert (await sim.get(f"{ORDERS}/{order_id}/orderItems")).status_code == 200
        items_throttled = await sim.get(f"{ORDERS}/{order_id}/orderItems")
        order = await sim.get(f"{ORDERS}/{order_id}")
        search = await sim.get(SEARCH, {"lastUpdatedAfter": AFTER})
        await sim.market.clock.sleep(2)
        items_again = await sim.get(f"{ORDERS}/{order_id}/orderItems")

    error_of(items_throttled, 429, "QuotaExceeded")
    assert order.headers["x-amzn-RateLimit-Limit"] == "0.5"
    assert search.headers["x-amzn-RateLimit-Limit"] == "0.0056"
    assert items_again.headers["x-amzn-RateLimit-Limit"] == "0.5"


# -- getOrderItems ------------------------------------------------------------


async def test_get_order_items_pages_with_next_token() -> None:
    market = make_market(backlog=3, multi_page_items_share=1.0)
    async with connect(market) as sim:
        order = first(market, status=UNSHIPPED)
        path = f"{ORDERS}/{order.order_id}/orderItems"
        pages = [(await sim.get(path)).json()["payload"]]
        while "NextToken" in pages[-1]:
            token = pages[-1]["NextToken"]
            assert {"+", "/", "="} <= set(token)
            response = await sim.get(path, {"NextToken": token})
            assert response.status_code == 200, response.text
            pages.append(response.json()["payload"])
        raw = await sim.http.get(
            f"{path}?NextToken={pages[0]['NextToken']}", headers=sim.headers
        )
        other = first(market, status=SHIPPED, channel="AFN").order_id
        wrong_order = await sim.get(
            f"{ORDERS}/{other}/orderItems", {"NextToken": pages[0]["NextToken"]}
        )
        expected = [i.order_item_id for i in market.items(order.order_id)]

    assert len(expected) > 20
    assert len(pages) == -(-len(expected) // 20)
    assert [len(p["OrderItems"]) for p in pages[:-1]] == [20] * (len(pages) - 1)
    assert all(p["AmazonOrderId"] == order.order_id for p in pages)
    ids = [i["OrderItemId"] for p in pages for i in p["OrderItems"]]
    assert ids == expected
    for item in pages[0]["OrderItems"]:
        assert {"ASIN", "OrderItemId", "QuantityOrdered"} <= set(item)
        assert isinstance(item["ItemPrice"]["Amount"], str)
        assert item["IsGift"] == "false"
        assert item["ProductInfo"]["NumberOfItems"] == "1"
    assert "NextToken" in error_of(raw, 400)["message"]
    assert "another order" in error_of(wrong_order, 400)["message"]


async def test_unknown_or_malformed_order_ids() -> None:
    async with connect() as sim:
        unknown = await sim.get(f"{ORDERS}/999-0000000-0000000")
        malformed = await sim.get(f"{ORDERS}/12345/orderItems")
        no_route = await sim.get("/orders/v0/nothing/here/at/all")

    assert "999-0000000-0000000" in error_of(unknown, 404, "NotFound")["message"]
    assert unknown.headers["x-amzn-RateLimit-Limit"] == "0.5"
    assert "3-7-7" in error_of(malformed, 400)["message"]
    error_of(no_route, 404, "NotFound")


# -- confirmShipment ----------------------------------------------------------


def shipment(order: SimOrder, market: Marketplace, **detail: Any) -> Json:
    items = market.items(order.order_id)
    package: Json = {
        "packageReferenceId": "1",
        "carrierCode": "Royal Mail",
        "trackingNumber": "RM123456789GB",
        "shipDate": "2026-03-01T09:00:00Z",
        "orderItems": [
            {"orderItemId": i.order_item_id, "quantity": i.quantity} for i in items
        ],
    }
    package.update(detail)
    return {"marketplaceId": order.marketplace_id, "packageDetail": package}


async def test_confirm_shipment_is_accepted_recorded_and_ships_the_order() -> None:
    market = make_market()
    async with connect(market) as sim:
        order = first(market, status=UNSHIPPED)
        response = await sim.confirm(order.order_id, shipment(order, market))
        after = await sim.get(f"{ORDERS}/{order.order_id}")
        edit = await sim.confirm(
            order.order_id, shipment(order, market, trackingNumber="RM999")
        )

    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["x-amzn-RateLimit-Limit"] == "2"
    assert edit.status_code == 204
    first_record, edited = market.shipments
    assert first_record.order_id == order.order_id
    assert first_record.package_reference_id == "1"
    assert first_record.carrier_code == "Royal Mail"
    assert first_record.tracking_number == "RM123456789GB"
    assert first_record.status_after == "Shipped"
    assert dict(first_record.items) == {
        i.order_item_id: i.quantity for i in market.items(order.order_id)
    }
    assert edited.tracking_number == "RM999"
    payload = after.json()["payload"]
    assert payload["OrderStatus"] == "Shipped"
    assert payload["NumberOfItemsUnshipped"] == 0
    assert payload["LastUpdateDate"] >= payload["PurchaseDate"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        pytest.param({"marketplaceId": None}, "marketplaceId", id="no-market"),
        pytest.param({"marketplaceId": DE}, "marketplaceId", id="wrong-market"),
        pytest.param({"packageDetail": None}, "packageDetail", id="no-package"),
        pytest.param({"extra": 1}, "extra", id="unknown-field"),
        pytest.param(
            {"packageReferenceId": "abc"}, "packageReferenceId", id="ref-not-number"
        ),
        pytest.param({"carrierCode": None}, "carrierCode", id="no-carrier"),
        pytest.param({"carrierCode": "Other"}, "carrierName", id="other-without-name"),
        pytest.param({"trackingNumber": ""}, "trackingNumber", id="no-tracking"),
        pytest.param({"shipDate": "02/21/2022"}, "shipDate", id="us-date"),
        pytest.param({"orderItems": []}, "orderItems", id="no-items"),
        pytest.param(
            {"orderItems": [{"orderItemId": "00000000000000", "quantity": 1}]},
            "not in this order",
            id="foreign-item",
        ),
        pytest.param(
            {"orderItems": [{"orderItemId": "ITEM", "quantity": 0}]},
            "quantity",
            id="zero-quantity",
        ),
        pytest.param(
            {"orderItems": [{"orderItemId": "ITEM", "quantity": 99}]},
            "exceeds",
            id="too-many",
        ),
        pytest.param(
            {"orderItems": [{"orderItemId": 5, "quantity": 1}]},
            "orderItemId",
            id="numeric-item-id",
        ),
    ],
)
async def test_confirm_shipment_rejects_bad_payloads(
    change: dict[str, Any], fragment: str
) -> None:
    market = make_market()
    async with connect(market) as sim:
        order = first(market, status=UNSHIPPED)
        body = shipment(order, market)
        item_id = market.items(order.order_id)[0].order_item_id
        for key, value in change.items():
            target = (
                body
                if key in {"marketplaceId", "packageDetail", "extra"}
                else (body["packageDetail"])
            )
            if value is None:
                del target[key]
            else:
                target[key] = json.loads(json.dumps(value).replace("ITEM", item_id))
        response = await sim.confirm(order.order_id, body)
        status = market.orders[order.order_id].status

    assert fragment in error_of(response, 400)["message"]
    assert market.shipments == []
    assert status == UNSHIPPED


async def test_confirm_shipment_rejects_non_json_afn_and_unknown_orders() -> None:
    market = make_market()
    async with connect(market) as sim:
        order = first(market, status=UNSHIPPED)
        path = f"{ORDERS}/{order.order_id}/shipmentConfirmation"
        as_form = await sim.http.post(path, data={"a": "b"}, headers=sim.headers)
        broken = await sim.http.post(
            path,
            content=b"{not json",
            headers={**sim.headers, "content-type": "application/json"},
        )
        afn = first(market, status=SHIPPED, channel="AFN")
        for_afn = await sim.confirm(afn.order_id, shipment(afn, market))
        unknown = await sim.confirm("205-0000000-0000000", shipment(order, market))
        bad_token = await sim.http.post(
            path, json=shipment(order, market), headers={"x-amz-access-token": "x"}
        )

    assert "application/json" in error_of(as_form, 400)["message"]
    assert "not valid JSON" in error_of(broken, 400)["message"]
    assert "AFN" in error_of(for_afn, 400)["message"]
    error_of(unknown, 404, "NotFound")
    error_of(bad_token, 401, "Unauthorized")
    assert market.shipments == []


# -- Orders 2026-01-01 --------------------------------------------------------


async def test_search_orders_2026_embeds_items_and_pages() -> None:
    market = make_market()
    async with connect(market) as sim:
        params = {
            "lastUpdatedAfter": AFTER,
            "maxResultsPerPage": "10",
            "includedData": "FULFILLMENT,PROCEEDS",
        }
        first_page = await sim.get(SEARCH, params)
        body = first_page.json()
        token = body["pagination"]["nextToken"]
        second = await sim.get(
            SEARCH,
            {
                "lastUpdatedAfter": AFTER,
                "maxResultsPerPage": "50",
                "paginationToken": token,
            },
        )
        changed = await sim.get(
            SEARCH,
            {"lastUpdatedAfter": "2026-02-02T00:00:00Z", "paginationToken": token},
        )
        one = body["orders"][0]
        single = await sim.get(
            f"{SEARCH}/{one['orderId']}", {"includedData": "FULFILLMENT,PROCEEDS"}
        )
        v0_style = await sim.get(
            SEARCH, {"LastUpdatedAfter": AFTER, "MarketplaceIds": UK}
        )
        both = await sim.get(SEARCH, {"lastUpdatedAfter": AFTER, "createdAfter": AFTER})
        bad_status = await sim.get(
            SEARCH, {"lastUpdatedAfter": AFTER, "fulfillmentStatuses": "Shipped"}
        )
        missing = await sim.get(f"{SEARCH}/205-0000000-0000000")

    assert first_page.status_code == 200
    assert "payload" not in body
    assert set(body) == {"orders", "pagination", "lastUpdatedBefore"}
    assert len(body["orders"]) == 10
    assert {"+", "/", "="} <= set(token)
    for order in body["orders"]:
        assert order["orderItems"]
        for item in order["orderItems"]:
            assert {"orderItemId", "quantityOrdered", "product"} <= set(item)
        assert order["fulfillment"]["fulfillmentStatus"].isupper()
        grand = order["proceeds"]["grandTotal"]
        assert set(grand) == {"amount", "currencyCode"}
        assert isinstance(grand["amount"], str)
    rest = second.json()
    assert second.status_code == 200
    assert "pagination" not in rest  # the larger page size took the rest
    ids = [o["orderId"] for o in body["orders"] + rest["orders"]]
    assert len(ids) == len(set(ids)) == 40 - _pending(market)
    assert "orderItems" in rest["orders"][0]
    assert "fulfillment" not in rest["orders"][0]  # includedData may change too
    assert "lastUpdatedAfter" in error_of(changed, 400)["message"]
    assert set(single.json()) == {"order"}
    assert single.json()["order"] == one
    for response, fragment in (
        (v0_style, "LastUpdatedAfter"),
        (both, "cannot both"),
        (bad_status, "fulfillmentStatuses"),
    ):
        assert fragment in error_of(response, 400)["message"]
    error_of(missing, 404, "NotFound")


# -- determinism --------------------------------------------------------------


async def _transcript(seed: int) -> list[bytes]:
    market = make_market(seed=seed, backlog=60, orders_per_hour=120.0)
    async with connect(market) as sim:
        await sim.market.clock.sleep(1800)
        out: list[bytes] = []
        page = await sim.orders(MaxResultsPerPage="25")
        out.append(page.content)
        token = page.json()["payload"]["NextToken"]
        follow = await sim.get(ORDERS, {"MarketplaceIds": UK, "NextToken": token})
        out.append(follow.content)
        for order in page.json()["payload"]["Orders"][:5]:
            items = await sim.get(f"{ORDERS}/{order['AmazonOrderId']}/orderItems")
            out.append(items.content)
        search = await sim.get(SEARCH, {"createdAfter": AFTER})
        out.append(search.content)
    return out


async def test_same_seed_gives_byte_identical_payloads() -> None:
    a = await _transcript(7)
    b = await _transcript(7)
    c = await _transcript(8)

    assert a == b
    assert len(a) == len(c)
    assert all(x != y for x, y in zip(a, c, strict=True))


# -- fault knobs --------------------------------------------------------------


async def test_server_error_rate_answers_500_and_503() -> None:
    market = make_market(faults=Faults(server_error_rate=1.0))
    async with connect(market) as sim:
        order_id = first(market, status=UNSHIPPED).order_id
        failed = [await sim.get(f"{ORDERS}/{order_id}") for _ in range(12)]
        market.faults.server_error_rate = 0.0
        healthy = await sim.get(f"{ORDERS}/{order_id}")

    assert {r.status_code for r in failed} == {500, 503}
    for response in failed:
        code = (
            "InternalFailure" if response.status_code == 500 else "ServiceUnavailable"
        )
        error_of(response, response.status_code, code)
    assert healthy.status_code == 200


async def test_malformed_rate_cuts_json_bodies_short() -> None:
    market = make_market(faults=Faults(malformed_rate=1.0))
    async with connect(market) as sim:
        broken = await sim.orders()
        error = await sim.orders(MaxResultsPerPage="0")

    assert broken.status_code == 200
    assert broken.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)
    error_of(error, 400)  # error answers stay well-formed


async def test_expired_next_token_is_400() -> None:
    market = make_market()
    async with connect(market) as sim:
        token = (await sim.orders(MaxResultsPerPage="10")).json()["payload"][
            "NextToken"
        ]
        market.expire_next_tokens()
        expired = await sim.get(ORDERS, {"MarketplaceIds": UK, "NextToken": token})
        market.faults.next_token_max_age = 60.0
        fresh = (await sim.orders(MaxResultsPerPage="10")).json()["payload"][
            "NextToken"
        ]
        young = await sim.get(ORDERS, {"MarketplaceIds": UK, "NextToken": fresh})
        await sim.market.clock.sleep(61)
        aged = await sim.get(ORDERS, {"MarketplaceIds": UK, "NextToken": fresh})

    assert "expired" in error_of(expired, 400)["message"]
    assert young.status_code == 200
    assert "expired" in error_of(aged, 400)["message"]


async def test_expire_access_tokens_fault_revokes_tokens_and_rdts() -> None:
    market = make_market()
    async with connect(market) as sim:
        rdt = await sim.rdt({"method": "GET", "path": ORDERS})
        before = await sim.orders_as(rdt)
        market.expire_access_tokens()
        expired = await sim.orders()
        expired_rdt = await sim.orders_as(rdt)
        renewed = await sim.orders_as(await login(sim.http))

    assert before.status_code == 200
    assert "expired" in error_of(expired, 403, "Unauthorized")["details"]
    assert "expired" in error_of(expired_rdt, 403, "Unauthorized")["details"]
    assert renewed.status_code == 200


async def test_latency_and_competing_share_knobs() -> None:
    market = make_market(faults=Faults(latency=5.0, competing_share=0.5))
    async with connect(market) as sim:
        start = market.clock.monotonic()
        statuses = [(await sim.orders()).status_code for _ in range(11)]
        elapsed = market.clock.monotonic() - start

    assert elapsed == pytest.approx(55.0)
    # Half of getOrders' burst of 20 went to the other client.
    assert statuses == [200] * 10 + [429]
    assert market.competitor_tokens("getOrders") == pytest.approx(10 + 0.5 * 50 / 60)
