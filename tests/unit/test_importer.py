"""The importer: channel order + items + catalogue → a sales order draft or a reason."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kccsync.importer import (
    VAT_INCLUSIVE_MARKETPLACES,
    ImportFailure,
    SalesOrderDraft,
    StockRef,
    import_order,
)
from kccsync.models import Address, ChannelOrder, ChannelOrderItem, Fulfillment

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
UK = "A1F83G8C2ARO7P"
DE = "A1PA6795UKMFR9"
US = "ATVPDKIKX0DER"

CATALOGUE = {
    "AMZ-WIDGET": StockRef(1, "WIDGET", "A widget"),
    "AMZ-GADGET": StockRef(2, "GADGET", "A gadget"),
}

GB_ADDRESS = Address(
    name="Ada Buyer",
    line1="1 High Street",
    city="London",
    postal_code="N1 1AA",
    country_code="GB",
)
US_ADDRESS = Address(
    name="Bob Buyer",
    line1="1 Main St",
    city="Seattle",
    state_or_region="WA",
    postal_code="98101",
    country_code="US",
)


def make_order(
    *,
    status: str = "Unshipped",
    fulfillment: Fulfillment = Fulfillment.MFN,
    marketplace: str = UK,
    ship_to: Address | None = GB_ADDRESS,
    email: str | None = "ada@marketplace.example",
    name: str | None = "Ada Buyer",
    total: Decimal | None = None,
    currency: str | None = "GBP",
) -> ChannelOrder:
    return ChannelOrder(
        order_id="203-0000000-0000001",
        purchase_date=T0,
        last_update=T0,
        status=status,
        fulfillment=fulfillment,
        marketplace_id=marketplace,
        currency=currency,
        order_total=total,
        buyer_email=email,
        buyer_name=name,
        ship_to=ship_to,
    )


def make_item(
    item_id: str = "I1",
    sku: str | None = "AMZ-WIDGET",
    *,
    quantity: int = 1,
    price: str | None = "10.00",
    tax: str | None = "1.67",
    shipping: str | None = None,
    shipping_tax: str | None = None,
    shipping_discount: str | None = None,
    promotion: str | None = None,
    title: str | None = "Widget, blue",
) -> ChannelOrderItem:
    def dec(text: str | None) -> Decimal | None:
        return None if text is None else Decimal(text)

    return ChannelOrderItem(
        order_item_id=item_id,
        sku=sku,
        title=title,
        quantity=quantity,
        item_price=dec(price),
        item_tax=dec(tax),
        shipping_price=dec(shipping),
        shipping_tax=dec(shipping_tax),
        shipping_discount=dec(shipping_discount),
        promotion_discount=dec(promotion),
        currency="GBP",
    )


TWO_LINES = (
    make_item(
        "I1",
        "AMZ-WIDGET",
        quantity=2,
        price="20.00",
        tax="3.33",
        shipping="4.00",
        shipping_tax="0.67",
        promotion="2.00",
    ),
    make_item("I2", "AMZ-GADGET", price="10.00", tax="1.67", shipping_discount="1.00"),
)


def draft_of(
    order: ChannelOrder, items: tuple[ChannelOrderItem, ...] = TWO_LINES
) -> SalesOrderDraft:
    outcome = import_order(order, items, CATALOGUE)
    assert isinstance(outcome, SalesOrderDraft), outcome
    return outcome


def failure_of(
    order: ChannelOrder, items: tuple[ChannelOrderItem, ...] = TWO_LINES
) -> str:
    outcome = import_order(order, items, CATALOGUE)
    assert isinstance(outcome, ImportFailure), outcome
    return outcome.message


class TestGoodOrder:
    def test_lines_map_skus_to_stock_items(self) -> None:
        draft = draft_of(make_order())

        assert [
            (ln.stock_item_id, ln.stock_code, ln.sku, ln.order_item_id, ln.quantity)
            for ln in draft.lines
        ] == [
            (1, "WIDGET", "AMZ-WIDGET", "I1", 2),
            (2, "GADGET", "AMZ-GADGET", "I2", 1),
        ]
        assert [ln.line_total for ln in draft.lines] == [
            Decimal("20.00"),
            Decimal("10.00"),
        ]
        assert [ln.line_tax for ln in draft.lines] == [Decimal("3.33"), Decimal("1.67")]

    def test_description_falls_back_to_catalogue(self) -> None:
        items = (make_item(title=None),)

        draft = draft_of(make_order(), items)

        assert draft.lines[0].description == "A widget"

    @pytest.mark.parametrize(
        ("marketplace", "ship_to", "inclusive", "total"),
        [
            # goods 30 + shipping 4 - discounts 3; VAT already in the prices.
            pytest.param(UK, GB_ADDRESS, True, Decimal("31.00"), id="uk-inclusive"),
            pytest.param(
                DE,
                dataclasses.replace(GB_ADDRESS, country_code="DE"),
                True,
                Decimal("31.00"),
                id="de-inclusive",
            ),
            # US prices exclude tax: tax 5.67 is added on top.
            pytest.param(US, US_ADDRESS, False, Decimal("36.67"), id="us-exclusive"),
        ],
    )
    def test_totals_shipping_discounts_and_vat(
        self,
        marketplace: str,
        ship_to: Address,
        inclusive: bool,
        total: Decimal,
    ) -> None:
        draft = draft_of(make_order(marketplace=marketplace, ship_to=ship_to))

        assert draft.goods_total == Decimal("30.00")
        assert draft.shipping_total == Decimal("4.00")
        assert draft.discount_total == Decimal("3.00")
        assert draft.tax_total == Decimal("5.67")
        assert draft.prices_include_tax is inclusive
        assert (marketplace in VAT_INCLUSIVE_MARKETPLACES) is inclusive
        assert draft.order_total == total

    def test_channel_order_total_wins_over_computed(self) -> None:
        draft = draft_of(make_order(total=Decimal("31.50")))

        assert draft.order_total == Decimal("31.50")
        assert draft.goods_total == Decimal("30.00")

    def test_currency_from_order_or_items(self) -> None:
        with_order = draft_of(make_order(currency="EUR"))
        from_items = draft_of(make_order(currency=None))

        assert (with_order.currency, from_items.currency) == ("EUR", "GBP")

    def test_mfn_order_keeps_address_and_is_ours_to_ship(self) -> None:
        draft = draft_of(make_order())

        assert draft.ship_to == GB_ADDRESS
        assert draft.fulfilled_by_channel is False

    def test_zero_quantity_lines_are_dropped(self) -> None:
        items = (*TWO_LINES, make_item("I3", "AMZ-UNKNOWN", quantity=0))

        draft = draft_of(make_order(), items)

        assert [ln.order_item_id for ln in draft.lines] == ["I1", "I2"]

    @pytest.mark.parametrize("status", ["Unshipped", "PartiallyShipped", "Shipped"])
    def test_importable_statuses(self, status: str) -> None:
        """MFN orders already Shipped outside kccsync import like any other."""
        draft = draft_of(make_order(status=status))

        assert len(draft.lines) == 2


class TestFailures:
    @pytest.mark.parametrize(
        ("items", "expected"),
        [
            pytest.param(
                (make_item("I1", "NOPE-1"), make_item("I2", "AMZ-WIDGET")),
                ["unknown stock code for SKU NOPE-1"],
                id="one-unknown",
            ),
            pytest.param(
                (make_item("I1", "ZZZ-2"), make_item("I2", "NOPE-1")),
                ["unknown stock code for SKU NOPE-1, ZZZ-2"],
                id="two-unknown-sorted",
            ),
            pytest.param(
                (make_item("I1", None), make_item("I2", None)),
                ["items without a SKU: I1, I2"],
                id="no-sku",
            ),
            pytest.param(
                (make_item("I1", price=None),),
                ["items without a price: I1"],
                id="no-price",
            ),
            pytest.param(
                (make_item("I1", quantity=0),),
                ["order has no items with a quantity"],
                id="no-quantity",
            ),
            pytest.param((), ["order has no items with a quantity"], id="no-items"),
        ],
    )
    def test_item_problems_name_each_item(
        self, items: tuple[ChannelOrderItem, ...], expected: list[str]
    ) -> None:
        message = failure_of(make_order(), items)

        assert message.split("; ") == expected

    @pytest.mark.parametrize(
        ("ship_to", "expected"),
        [
            pytest.param(
                dataclasses.replace(GB_ADDRESS, postal_code=None),
                "shipping address incomplete: postcode missing for GB",
                id="gb-no-postcode",
            ),
            pytest.param(
                dataclasses.replace(US_ADDRESS, state_or_region="  "),
                "shipping address incomplete: state or region missing for US",
                id="us-blank-state",
            ),
            pytest.param(
                dataclasses.replace(GB_ADDRESS, line1=None, city=""),
                "shipping address incomplete: address line 1, city missing for GB",
                id="gb-no-street-no-city",
            ),
            pytest.param(
                dataclasses.replace(GB_ADDRESS, country_code=None),
                "shipping address incomplete: country missing",
                id="no-country",
            ),
            pytest.param(
                None,
                "shipping address missing from the channel's order data",
                id="no-address",
            ),
        ],
    )
    def test_incomplete_address_names_the_field(
        self, ship_to: Address | None, expected: str
    ) -> None:
        message = failure_of(make_order(ship_to=ship_to))

        assert message == expected

    def test_postcode_optional_where_country_does_not_need_it(self) -> None:
        ie = Address(name="Ada", line1="1 Main St", city="Cork", country_code="IE")

        draft = draft_of(make_order(ship_to=ie))

        assert draft.ship_to == ie

    def test_redacted_address_says_enable_restricted_data(self) -> None:
        redacted = Address(
            city="London", postal_code="N1 1AA", country_code="GB", redacted=True
        )

        message = failure_of(make_order(ship_to=redacted, name=None, email=None))

        assert "redacted" in message
        assert "enable restricted_data" in message
        assert "incomplete" not in message

    def test_all_problems_are_reported_together(self) -> None:
        items = (make_item("I1", "NOPE"), make_item("I2", price=None))

        message = failure_of(make_order(ship_to=None), items)

        assert message.split("; ") == [
            "unknown stock code for SKU NOPE",
            "items without a price: I2",
            "shipping address missing from the channel's order data",
        ]

    @pytest.mark.parametrize("status", ["Pending", "Canceled", "Unfulfillable"])
    def test_orders_not_in_an_importable_status_are_never_imported(
        self, status: str
    ) -> None:
        message = failure_of(make_order(status=status))

        assert status in message
        assert "not importable" in message


class TestFba:
    def test_afn_order_imports_without_address(self) -> None:
        order = make_order(fulfillment=Fulfillment.AFN, ship_to=None)

        draft = draft_of(order)

        assert draft.fulfilled_by_channel is True
        assert draft.ship_to is None
        assert len(draft.lines) == 2

    def test_afn_order_ignores_a_redacted_address(self) -> None:
        redacted = Address(country_code="GB", redacted=True)
        order = make_order(fulfillment=Fulfillment.AFN, ship_to=redacted)

        draft = draft_of(order)

        assert draft.fulfilled_by_channel is True

    def test_afn_order_still_needs_known_skus(self) -> None:
        order = make_order(fulfillment=Fulfillment.AFN, ship_to=None)

        message = failure_of(order, (make_item("I1", "NOPE"),))

        assert message == "unknown stock code for SKU NOPE"


class TestCustomer:
    @pytest.mark.parametrize(
        ("email", "name", "ship_to", "key"),
        [
            pytest.param(
                "  Ada@Marketplace.Example ",
                "Ada Buyer",
                GB_ADDRESS,
                "email:ada@marketplace.example",
                id="email-normalised",
            ),
            pytest.param(
                None,
                " Ada Buyer ",
                dataclasses.replace(GB_ADDRESS, postal_code="n1 1aa"),
                "name:ada buyer|N1 1AA",
                id="name-and-postcode",
            ),
            pytest.param(
                None,
                "Ada Buyer",
                None,
                "name:ada buyer|",
                id="name-without-address",
            ),
            pytest.param(None, None, None, "anonymous", id="anonymous"),
        ],
    )
    def test_customer_key(
        self, email: str | None, name: str | None, ship_to: Address | None, key: str
    ) -> None:
        order = make_order(
            email=email, name=name, ship_to=ship_to, fulfillment=Fulfillment.AFN
        )

        draft = draft_of(order)

        assert draft.customer.buyer_key == key
        assert draft.customer.email == email

    def test_same_buyer_same_key_across_orders(self) -> None:
        first = draft_of(make_order(email="ada@marketplace.example"))
        second = draft_of(make_order(email="ADA@marketplace.example", name="A. B."))
        other = draft_of(make_order(email="bob@marketplace.example"))

        assert first.customer.buyer_key == second.customer.buyer_key
        assert first.customer.buyer_key != other.customer.buyer_key

    def test_customer_name_falls_back_to_recipient(self) -> None:
        draft = draft_of(make_order(name=None))

        assert draft.customer.name == GB_ADDRESS.name
