"""The simulator's order generator: determinism, mix, money, arrivals, later updates."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

import pytest

from kccsync.clock import FakeClock
from kccsync.config import SimulatorSettings
from kccsync.simulator.catalogue import DE, MARKETPLACES, UK, US
from kccsync.simulator.generator import (
    CANCELED,
    PARTIALLY_SHIPPED,
    PENDING,
    SHIPPED,
    UNSHIPPED,
)
from kccsync.simulator.marketplace import ITEMS_PAGE_SIZE, Marketplace
from kccsync.simulator.wire import item_v0, order_2026, order_v0


def market(
    seed: int = 7, *, marketplace_ids: tuple[str, ...] = (UK,), **settings: float
) -> Marketplace:
    return Marketplace(
        clock=FakeClock(),
        seed=seed,
        settings=SimulatorSettings.model_validate(settings),
        marketplace_ids=marketplace_ids,
    )


def snapshot(m: Marketplace) -> list[tuple[object, ...]]:
    """Every order's v0 JSON with all personal data, and its items' JSON."""
    now = m.clock.now()
    return [
        (
            order_v0(o, m.book.items(o), pii={"buyerInfo", "shippingAddress"}, now=now),
            [item_v0(o, i) for i in m.book.items(o)],
        )
        for o in m.orders.values()
    ]


def test_generator_same_seed_gives_identical_payloads() -> None:
    a = market(seed=11, backlog_orders=300)
    b = market(seed=11, backlog_orders=300)

    assert snapshot(a) == snapshot(b)


def test_generator_different_seeds_give_different_orders() -> None:
    a = market(seed=1, backlog_orders=50)
    b = market(seed=2, backlog_orders=50)

    assert set(a.orders) != set(b.orders)


def test_generator_order_ids_are_unique_3_7_7() -> None:
    m = market(backlog_orders=2000)

    ids = list(m.orders)
    assert len(set(ids)) == 2000
    assert all(re.fullmatch(r"\d{3}-\d{7}-\d{7}", i) for i in ids)


def test_generator_backlog_spreads_over_window_before_start() -> None:
    m = market(backlog_orders=1000)
    start = m.clock.now()
    dates = [o.purchase_date for o in m.orders.values()]

    assert max(dates) < start
    assert (start - min(dates)).total_seconds() > 5.5 * 86400
    assert all(o.last_update_date >= o.purchase_date for o in m.orders.values())


def test_generator_status_mix_and_fba_share() -> None:
    m = market(backlog_orders=3000, fba_share=0.3)

    statuses = Counter(o.status for o in m.orders.values())
    afn = sum(o.is_afn for o in m.orders.values()) / 3000
    assert set(statuses) == {PENDING, UNSHIPPED, PARTIALLY_SHIPPED, SHIPPED, CANCELED}
    assert 0.25 < afn < 0.35
    # AFN orders are shipped by Amazon; only MFN orders wait for the seller.
    assert all(
        o.status != UNSHIPPED
        for o in m.orders.values()
        if o.is_afn and o.purchase_s < -2 * 86400
    )


def test_generator_multi_page_orders_exceed_items_page() -> None:
    m = market(backlog_orders=20, multi_page_items_share=1.0)

    assert all(len(m.items(i)) > ITEMS_PAGE_SIZE for i in m.orders)


def test_generator_unknown_skus_come_at_their_share() -> None:
    known = {sku for sku, _ in market().catalogue}
    none = market(backlog_orders=200, unknown_sku_share=0.0)
    every = market(backlog_orders=200, unknown_sku_share=1.0)

    assert all(i.sku in known for o in none.orders for i in none.items(o))
    assert all(
        sum(i.sku not in known for i in every.items(o)) == 1 for o in every.orders
    )


def test_generator_bad_addresses_lack_postcode() -> None:
    bad = market(backlog_orders=100, bad_address_share=1.0)
    good = market(backlog_orders=100, bad_address_share=0.0)

    assert all(o.buyer.address.postal_code is None for o in bad.orders.values())
    assert all(o.buyer.address.postal_code for o in good.orders.values())


@pytest.mark.parametrize(
    ("marketplace_id", "currency"),
    [(UK, "GBP"), (DE, "EUR"), (US, "USD"), ("A2EUQ1WTGCTBG2", "CAD")],
)
def test_generator_money_is_consistent_per_marketplace(
    marketplace_id: str, currency: str
) -> None:
    """ItemPrice is the line total; EU/UK gross with tax 0.00, US/CA tax on top;
    OrderTotal = items + tax + shipping - discounts."""
    m = market(backlog_orders=200, marketplace_ids=(marketplace_id,))
    vat_inclusive = MARKETPLACES[marketplace_id].vat_inclusive
    taxed = 0
    for order in m.orders.values():
        if not order.paid:
            continue
        items = [item_v0(order, i) for i in m.items(order.order_id)]
        total = Decimal(0)
        for raw, item in zip(items, m.items(order.order_id), strict=True):
            assert raw["ItemPrice"]["CurrencyCode"] == currency
            assert (
                Decimal(raw["ItemPrice"]["Amount"])
                == Decimal(item.unit_price) * item.quantity / 100
            )
            tax = Decimal(raw["ItemTax"]["Amount"])
            taxed += tax > 0
            if vat_inclusive:
                assert tax == 0
            total += (
                Decimal(raw["ItemPrice"]["Amount"])
                + tax
                + Decimal(raw["ShippingPrice"]["Amount"])
                + Decimal(raw["ShippingTax"]["Amount"])
                - Decimal(raw["PromotionDiscount"]["Amount"])
                - Decimal(raw["ShippingDiscount"]["Amount"])
            )
        header = order_v0(order, None, pii=(), now=m.clock.now())
        assert header["OrderTotal"] == {
            "CurrencyCode": currency,
            "Amount": f"{total:.2f}",
        }
    assert (taxed == 0) is vat_inclusive


def test_generator_pending_orders_have_no_prices() -> None:
    m = market(backlog_orders=3000)
    pending = [o for o in m.orders.values() if o.status == PENDING]

    assert pending
    for order in pending:
        header = order_v0(order, None, pii=(), now=m.clock.now())
        assert "OrderTotal" not in header
        assert "ShippingAddress" not in header
        assert all(
            "ItemPrice" not in item_v0(order, i) for i in m.items(order.order_id)
        )


async def test_generator_orders_arrive_as_the_clock_advances() -> None:
    clock = FakeClock()
    m = Marketplace(
        clock=clock,
        seed=3,
        settings=SimulatorSettings(backlog_orders=10, orders_per_hour=120),
    )
    assert len(m.orders) == 10

    await clock.advance(3600)

    arrived = [o for o in m.orders.values() if o.purchase_s > 0]
    assert 80 < len(arrived) < 160
    assert all(0 < o.purchase_s <= 3600 for o in arrived)
    assert len(m.orders) == 10 + len(arrived)


async def test_generator_later_updates_bump_last_update_date() -> None:
    clock = FakeClock()
    m = Marketplace(
        clock=clock, seed=5, settings=SimulatorSettings(backlog_orders=3000)
    )
    pending = {i: o.last_update_s for i, o in m.orders.items() if o.status == PENDING}
    unshipped_afn = [
        i for i, o in m.orders.items() if o.status == UNSHIPPED and o.is_afn
    ]

    await clock.advance(2 * 86400)

    orders = m.orders
    assert all(orders[i].status in (UNSHIPPED, CANCELED, SHIPPED) for i in pending)
    assert all(orders[i].last_update_s > before for i, before in pending.items())
    assert all(orders[i].status in (SHIPPED, CANCELED) for i in unshipped_afn)


def test_generator_scripted_updates_bump_last_update_date() -> None:
    m = market(backlog_orders=50)
    order_id = next(i for i, o in m.orders.items() if o.status == UNSHIPPED)

    m.cancel_order(order_id)

    assert m.orders[order_id].status == CANCELED
    assert m.orders[order_id].last_update_date == m.clock.now()
    with pytest.raises(ValueError, match="unknown status"):
        m.update_order_status(order_id, "Lost")


def test_generator_10k_backlog_is_lazy_about_items() -> None:
    """A benchmark-sized backlog builds without storing items."""
    m = market(backlog_orders=10_000)

    orders = list(m.orders.values())
    assert len(orders) == 10_000
    assert not hasattr(orders[0], "__dict__")  # slotted: no per-order dict
    assert order_2026(
        orders[0], m.book.items(orders[0]), included=(), now=m.clock.now()
    )
