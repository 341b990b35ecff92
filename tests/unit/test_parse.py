"""SP-API Orders v0 JSON → records: lenient, and readable problems instead of crashes.

The payloads under tests/data/amazon/ are shaped like recorded getOrders and
getOrderItems responses, with every personal value replaced.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kccsync.channels.amazon.parse import (
    error_text,
    item_problem,
    lenient_order,
    order_problem,
    parse_address,
    parse_item,
    parse_items_page,
    parse_order,
    parse_orders_page,
    payload,
)
from kccsync.errors import MalformedResponseError
from kccsync.models import Fulfillment

DATA = Path(__file__).resolve().parents[1] / "data" / "amazon"
FALLBACK = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

Json = dict[str, Any]


def load(name: str) -> Json:
    data: Json = json.loads((DATA / name).read_text(encoding="utf-8"))
    return data


@pytest.fixture
def orders_body() -> Json:
    return load("orders_v0_page.json")


@pytest.fixture
def items_body() -> Json:
    return load("order_items_v0.json")


def first_order(body: Json) -> Json:
    order: Json = copy.deepcopy(body["payload"]["Orders"][0])
    return order


def first_item(body: Json) -> Json:
    item: Json = copy.deepcopy(body["payload"]["OrderItems"][0])
    return item


class TestOrdersPage:
    def test_page_keeps_every_order_with_token_and_window(
        self, orders_body: Json
    ) -> None:
        page = parse_orders_page(orders_body, FALLBACK)

        assert [o.order_id for o in page.orders] == [
            "202-0000000-0000001",
            "202-0000000-0000002",
            "202-0000000-0000003",
        ]
        assert page.next_token == orders_body["payload"]["NextToken"]
        assert page.updated_before == datetime(2026, 3, 1, 8, 58, tzinfo=UTC)

    def test_full_mfn_order(self, orders_body: Json) -> None:
        order = parse_orders_page(orders_body, FALLBACK).orders[0]

        assert order.status == "Unshipped"
        assert order.fulfillment is Fulfillment.MFN
        assert order.marketplace_id == "A1F83G8C2ARO7P"
        assert order.purchase_date == datetime(2026, 2, 28, 18, 4, 11, tzinfo=UTC)
        assert order.last_update == datetime(2026, 3, 1, 8, 15, 2, tzinfo=UTC)
        assert (order.order_total, order.currency) == (Decimal("31.00"), "GBP")
        assert order.buyer_email == "abc123xyz@marketplace.amazon.co.uk"
        assert order.buyer_name == "Jane Example"
        assert order.ship_service_level == "Std UK Dom_1"
        assert order.items is None
        assert order.raw == orders_body["payload"]["Orders"][0]
        address = order.ship_to
        assert address is not None
        assert (address.line1, address.line2, address.postal_code) == (
            "1 Test Street",
            "Flat 2",
            "N1 1AA",
        )
        assert address.redacted is False

    def test_afn_order_without_buyer_info_or_pii(self, orders_body: Json) -> None:
        order = parse_orders_page(orders_body, FALLBACK).orders[1]

        assert order.fulfillment is Fulfillment.AFN
        assert (order.buyer_email, order.buyer_name) == (None, None)
        assert (order.order_total, order.currency) == (None, None)
        assert order.ship_to is not None
        assert order.ship_to.redacted is True
        assert order.ship_to.city == "LEEDS"

    def test_unreadable_order_is_kept_with_a_readable_problem(
        self, orders_body: Json
    ) -> None:
        """A bad PurchaseDate must not sink the page: the order stays, with a reason."""
        stand_in = parse_orders_page(orders_body, FALLBACK).orders[2]
        raw = orders_body["payload"]["Orders"][2]

        problem = order_problem(raw)

        assert stand_in.order_id == "202-0000000-0000003"
        assert stand_in.last_update == FALLBACK
        assert stand_in.fulfillment is Fulfillment.MFN
        assert stand_in.raw == raw
        assert problem == (
            "unreadable order data from the channel: PurchaseDate is not an ISO 8601"
            " date: 'yesterday afternoon'"
        )

    @pytest.mark.parametrize(
        ("token", "before", "expected_token", "expected_before"),
        [
            pytest.param("", "2026-03-01T08:58:00Z", None, True, id="empty-token"),
            pytest.param(None, None, None, False, id="nothing"),
            pytest.param("abc", "not a date", "abc", False, id="odd-before"),
            pytest.param(42, 17, None, False, id="wrong-types"),
        ],
    )
    def test_page_tolerates_odd_token_and_window(
        self,
        orders_body: Json,
        token: object,
        before: object,
        expected_token: str | None,
        expected_before: bool,
    ) -> None:
        orders_body["payload"]["NextToken"] = token
        orders_body["payload"]["LastUpdatedBefore"] = before

        page = parse_orders_page(orders_body, FALLBACK)

        assert page.next_token == expected_token
        assert (page.updated_before is not None) is expected_before

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            pytest.param(None, "no payload", id="none"),
            pytest.param([], "no payload", id="array"),
            pytest.param({"errors": []}, "no payload", id="errors-only"),
            pytest.param({"payload": "x"}, "no payload", id="payload-not-object"),
            pytest.param({"payload": {}}, "no Orders list", id="no-orders"),
            pytest.param(
                {"payload": {"Orders": [{"OrderStatus": "Unshipped"}]}},
                "without an id",
                id="order-without-id",
            ),
            pytest.param(
                {"payload": {"Orders": ["202-1"]}},
                "without an id",
                id="order-not-object",
            ),
        ],
    )
    def test_malformed_page_raises_a_typed_error(
        self, body: object, message: str
    ) -> None:
        with pytest.raises(MalformedResponseError, match=message):
            parse_orders_page(body, FALLBACK)


class TestOrder:
    def test_unknown_extra_fields_are_tolerated(self, orders_body: Json) -> None:
        raw = first_order(orders_body)
        plain = parse_order(raw)
        raw["BrandNewField2027"] = {"nested": [1, 2, 3]}
        raw["BuyerInfo"]["BuyerTaxInfo"] = {"CompanyLegalName": "x"}

        extended = parse_order(raw)

        assert extended == plain
        assert order_problem(raw) is None

    def test_missing_optional_fields(self, orders_body: Json) -> None:
        raw = first_order(orders_body)
        for key in ("OrderTotal", "BuyerInfo", "ShippingAddress", "ShipServiceLevel"):
            del raw[key]

        order = parse_order(raw)

        assert order.order_total is None
        assert order.buyer_email is None
        assert order.ship_to is None
        assert order.ship_service_level is None

    @pytest.mark.parametrize(
        ("amount", "expected"),
        [("31.00", Decimal("31.00")), (31.5, Decimal("31.5")), (7, Decimal(7))],
    )
    def test_amounts_as_strings_or_numbers(
        self, orders_body: Json, amount: object, expected: Decimal
    ) -> None:
        raw = first_order(orders_body)
        raw["OrderTotal"] = {"CurrencyCode": "GBP", "Amount": amount}

        assert parse_order(raw).order_total == expected

    def test_empty_buyer_strings_become_none(self, orders_body: Json) -> None:
        raw = first_order(orders_body)
        raw["BuyerInfo"] = {"BuyerEmail": "", "BuyerName": ""}

        order = parse_order(raw)

        assert (order.buyer_email, order.buyer_name) == (None, None)

    @pytest.mark.parametrize(
        ("key", "value", "expected"),
        [
            ("PurchaseDate", None, "PurchaseDate missing"),
            ("LastUpdateDate", "31/02/2026", "LastUpdateDate is not an ISO 8601"),
            ("OrderStatus", 3, "OrderStatus is not text"),
            ("OrderStatus", "", "OrderStatus missing"),
            ("FulfillmentChannel", "SFP", "FulfillmentChannel 'SFP' is neither"),
            ("FulfillmentChannel", None, "FulfillmentChannel None is neither"),
            ("OrderTotal", "31.00", "OrderTotal is not a Money object"),
            ("OrderTotal", {"Amount": "lots"}, "OrderTotal.Amount is not a decimal"),
            ("OrderTotal", {"Amount": "NaN"}, "OrderTotal.Amount is not a decimal"),
            ("OrderTotal", {"CurrencyCode": "GBP"}, "OrderTotal.Amount is not a"),
            ("MarketplaceId", ["A1"], "MarketplaceId is not text"),
        ],
    )
    def test_bad_field_becomes_a_readable_problem(
        self, orders_body: Json, key: str, value: object, expected: str
    ) -> None:
        raw = first_order(orders_body)
        raw[key] = value

        problem = order_problem(raw)
        stand_in = lenient_order(raw, FALLBACK)

        assert problem is not None
        assert problem.startswith("unreadable order data from the channel: ")
        assert expected in problem
        assert "\n" not in problem
        assert stand_in.order_id == raw["AmazonOrderId"]
        assert stand_in.status == "Unshipped"  # stored, then fails at import
        assert stand_in.raw is raw

    def test_lenient_order_keeps_afn_of_an_unreadable_order(
        self, orders_body: Json
    ) -> None:
        raw = first_order(orders_body)
        raw["FulfillmentChannel"] = "AFN"
        raw["PurchaseDate"] = "soon"

        assert lenient_order(raw, FALLBACK).fulfillment is Fulfillment.AFN

    def test_order_without_id_is_a_problem_not_a_crash(self) -> None:
        problem = order_problem({"OrderStatus": "Unshipped"})

        assert problem == (
            "unreadable order data from the channel: an order without AmazonOrderId"
        )

    def test_offset_dates_become_utc(self, orders_body: Json) -> None:
        raw = first_order(orders_body)
        raw["LastUpdateDate"] = "2026-03-01T10:15:00+02:00"

        assert parse_order(raw).last_update == datetime(2026, 3, 1, 8, 15, tzinfo=UTC)


class TestAddress:
    @pytest.mark.parametrize(
        ("raw", "redacted"),
        [
            ({"Name": "J", "AddressLine1": "1 St", "CountryCode": "GB"}, False),
            ({"AddressLine1": "1 St", "CountryCode": "GB"}, False),
            ({"City": "Leeds", "PostalCode": "LS1", "CountryCode": "GB"}, True),
            ({}, True),
        ],
    )
    def test_redacted_when_name_and_street_are_withheld(
        self, raw: Json, redacted: bool
    ) -> None:
        address = parse_address(raw)

        assert address is not None
        assert address.redacted is redacted

    @pytest.mark.parametrize("raw", [None, "1 Test Street", ["x"]])
    def test_not_an_object_is_no_address(self, raw: object) -> None:
        assert parse_address(raw) is None

    def test_non_text_values_are_dropped(self) -> None:
        address = parse_address(
            {"Name": "J", "AddressLine1": "1 St", "PostalCode": 12345, "City": None}
        )

        assert address is not None
        assert (address.postal_code, address.city) == (None, None)


class TestItems:
    def test_items_page(self, items_body: Json) -> None:
        raw_items, token = parse_items_page(items_body)

        items = [parse_item(raw) for raw in raw_items]

        assert token is None  # "" means no next page
        assert [(i.order_item_id, i.sku, i.quantity) for i in items] == [
            ("11111111111111", "AMZ-WIDGET", 2),
            ("22222222222222", "AMZ-GADGET", 1),
        ]

    def test_full_item_money(self, items_body: Json) -> None:
        item = parse_item(first_item(items_body))

        assert item.title == "Widget, blue"
        assert item.quantity_shipped == 0
        assert item.currency == "GBP"
        assert (item.item_price, item.item_tax) == (Decimal("20.00"), Decimal("3.33"))
        assert (item.shipping_price, item.shipping_tax) == (
            Decimal("4.00"),
            Decimal("0.67"),
        )
        assert item.shipping_discount == Decimal("0.00")
        assert item.promotion_discount == Decimal("2.00")

    def test_lenient_item_numbers_and_missing_optionals(self, items_body: Json) -> None:
        """The second item has a string quantity, a float amount and no extras."""
        item = parse_item(items_body["payload"]["OrderItems"][1])

        assert item.quantity == 1
        assert item.quantity_shipped == 0
        assert item.item_price == Decimal("10.5")
        assert item.title is None
        assert (item.item_tax, item.shipping_price, item.promotion_discount) == (
            None,
            None,
            None,
        )

    def test_unknown_item_fields_are_tolerated(self, items_body: Json) -> None:
        raw = first_item(items_body)
        raw["BuyerRequestedCancel"] = {"IsBuyerRequestedCancel": "false"}

        assert item_problem(raw) is None
        assert parse_item(raw) == parse_item(first_item(items_body))

    @pytest.mark.parametrize(
        ("key", "value", "expected"),
        [
            ("QuantityOrdered", "two", "QuantityOrdered is not a whole number"),
            ("QuantityOrdered", None, "QuantityOrdered is not a whole number"),
            ("QuantityOrdered", True, "QuantityOrdered is not a whole number"),
            ("QuantityOrdered", 1.5, "QuantityOrdered is not a whole number"),
            ("QuantityShipped", "-1", "QuantityShipped is not a whole number"),
            (
                "ItemPrice",
                {"Amount": "12,50"},
                "ItemPrice.Amount is not a decimal amount",
            ),
            ("ItemTax", 3, "ItemTax is not a Money object"),
            ("SellerSKU", 123, "SellerSKU is not text"),
        ],
    )
    def test_bad_item_field_becomes_a_readable_problem(
        self, items_body: Json, key: str, value: object, expected: str
    ) -> None:
        raw = first_item(items_body)
        raw[key] = value

        problem = item_problem(raw)

        assert problem == (
            f"unreadable item data from the channel (11111111111111): {expected}"
        )

    def test_item_without_id_is_a_problem(self, items_body: Json) -> None:
        raw = first_item(items_body)
        del raw["OrderItemId"]

        assert item_problem(raw) == (
            "unreadable item data from the channel (None): OrderItemId missing"
        )

    @pytest.mark.parametrize(
        "body",
        [
            {"payload": {}},
            {"payload": {"OrderItems": "none"}},
            {"payload": {"OrderItems": [1, 2]}},
        ],
    )
    def test_malformed_items_page_raises(self, body: Json) -> None:
        with pytest.raises(MalformedResponseError, match="no OrderItems list"):
            parse_items_page(body)


class TestEnvelope:
    def test_payload_returns_the_member(self, items_body: Json) -> None:
        assert payload(items_body) is items_body["payload"]

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            (
                {"errors": [{"code": "InvalidInput", "message": "Bad date"}]},
                "InvalidInput: Bad date",
            ),
            ({"errors": [{"message": "oops"}]}, "?: oops"),
            ({"errors": [{"code": "QuotaExceeded"}]}, "QuotaExceeded:"),
            ({"errors": []}, "no error details"),
            ({"errors": ["text"]}, "no error details"),
            ("<html>Bad gateway</html>", "no error details"),
            (None, "no error details"),
        ],
    )
    def test_error_text(self, body: object, expected: str) -> None:
        assert error_text(body) == expected
