"""The order book: a deterministic backlog, arrivals and later status changes.

Everything derives from the seed: order `i` draws from its own generator, so its
payload is the same in every run whatever else happened. Time is whole seconds from
the book's epoch. Nothing runs in the background: `advance(now)` creates the orders
that have arrived and applies the status changes that are due, and every request
calls it first. Items are not stored; they are regenerated from the seed on demand,
which keeps a 10,000-order backlog at a few megabytes.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from kccsync.config import SimulatorSettings
from kccsync.simulator.catalogue import (
    CANCEL_REASONS,
    FIRST_NAMES,
    LAST_NAMES,
    MARKETPLACES,
    PLACES,
    STREETS,
    MarketplaceInfo,
    Product,
    digest_int,
)

PENDING = "Pending"
UNSHIPPED = "Unshipped"
PARTIALLY_SHIPPED = "PartiallyShipped"
SHIPPED = "Shipped"
CANCELED = "Canceled"
STATUSES = (PENDING, UNSHIPPED, PARTIALLY_SHIPPED, SHIPPED, CANCELED)

# Scheduled changes; each applies only from the status it was planned from, so a
# seller's own shipment confirmation or a scripted change wins over the plan.
_PAY, _CANCEL_PENDING, _SHIP_ALL, _SHIP_FIRST, _CANCEL = range(5)


def seeded(*parts: object) -> random.Random:
    """A generator seeded from `parts`, stable across runs and platforms."""
    return random.Random(digest_int(*parts))  # noqa: S311 - simulation, not cryptography


@dataclass(frozen=True, slots=True)
class SimAddress:
    """A shipping address; `postal_code` is None in the deliberately bad ones."""

    name: str
    line1: str
    line2: str | None
    city: str
    region: str
    postal_code: str | None
    country: str
    phone: str
    address_type: str


@dataclass(frozen=True, slots=True)
class Buyer:
    """Who bought the order (personal data) and where it goes."""

    name: str
    email: str
    address: SimAddress


@dataclass(frozen=True, slots=True)
class SimItem:
    """One order line. Money is in minor units (pence, cents)."""

    line: int
    order_item_id: str
    sku: str
    asin: str
    title: str
    quantity: int
    unit_price: int
    #: ItemPrice: the line total (unit price x quantity), VAT-inclusive in EU/UK.
    line_price: int
    #: ItemTax: 0 where prices include VAT, sales tax on top in US/CA.
    item_tax: int
    shipping: int
    shipping_tax: int
    promotion_discount: int
    promotion_id: str | None


@dataclass(frozen=True, slots=True)
class Package:
    """A package confirmed by the seller (confirmShipment)."""

    reference_id: str
    carrier_code: str
    carrier_name: str | None
    shipping_method: str | None
    tracking_number: str
    ship_date: datetime
    confirmed: datetime
    #: (line index, quantity) pairs.
    lines: tuple[tuple[int, int], ...]


@dataclass(slots=True, eq=False)
class SimOrder:
    """An order's header and mutable state. Dates are seconds from the book's epoch."""

    index: int
    order_id: str
    marketplace_id: str
    fulfillment_channel: str
    purchase_s: int
    last_update_s: int
    status: str
    lines: int
    unknown_line: int
    units: int
    total: int
    shipping_total: int
    bad_address: bool
    is_prime: bool
    epoch: datetime
    seed: int
    paid: bool = False
    #: When payment was authorised (Pending -> Unshipped): when the order became
    #: visible to a client that does not ask for Pending orders.
    paid_s: int | None = None
    all_shipped: bool = False
    cancel_reason: str | None = None
    #: Units shipped outside confirmShipment, by line index.
    base_shipped: dict[int, int] | None = None
    #: Packages confirmed by the seller, by packageReferenceId.
    packages: dict[str, Package] | None = None

    @property
    def buyer(self) -> Buyer:
        """Buyer and address, regenerated from the seed (not stored: saves memory)."""
        rng = seeded(self.seed, self.index, "buyer")
        market = self.marketplace
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        tld = market.sales_channel.lower().removeprefix("amazon.")
        email = f"{rng.getrandbits(64):016x}@marketplace.amazon.{tld}"
        address = _address(rng, market.country, name, bad=self.bad_address)
        return Buyer(name, email, address)

    @property
    def marketplace(self) -> MarketplaceInfo:
        return MARKETPLACES[self.marketplace_id]

    @property
    def purchase_date(self) -> datetime:
        return self.epoch + timedelta(seconds=self.purchase_s)

    @property
    def last_update_date(self) -> datetime:
        return self.epoch + timedelta(seconds=self.last_update_s)

    @property
    def is_afn(self) -> bool:
        return self.fulfillment_channel == "AFN"

    def shipped_quantity(self, item: SimItem, *, without: str | None = None) -> int:
        """Units of `item` shipped so far (not counting package `without`)."""
        if self.all_shipped:
            return item.quantity
        shipped = (self.base_shipped or {}).get(item.line, 0)
        for ref, package in (self.packages or {}).items():
            if ref != without:
                shipped += sum(q for line, q in package.lines if line == item.line)
        return min(shipped, item.quantity)


class OrderBook:
    """All orders of one simulated seller, advanced lazily along the clock."""

    def __init__(
        self,
        *,
        seed: int,
        settings: SimulatorSettings,
        marketplace_ids: tuple[str, ...],
        catalogue: tuple[Product, ...],
        epoch: datetime,
        backlog_window: float,
        items_page_size: int,
    ) -> None:
        self.seed = seed
        self.settings = settings
        self.marketplace_ids = marketplace_ids
        self.catalogue = catalogue
        self.epoch = epoch.replace(microsecond=0)
        self.items_page_size = items_page_size
        self.orders: list[SimOrder] = []
        self.by_id: dict[str, SimOrder] = {}
        self._events: list[tuple[int, int, int, int]] = []
        self._seq = 0
        self._arrivals = seeded(seed, "arrivals")
        self._rate = settings.orders_per_hour / 3600.0
        self._next_arrival = self._draw_arrival(0)
        n = settings.backlog_orders
        window = max(1, int(backlog_window))
        step = max(1, window // max(1, n))
        for i in range(n):
            # Spread evenly over the window with a little jitter; all before the epoch.
            purchase = -window + (window * i) // n + (i * 7919 + seed) % step
            self._new_order(min(purchase, -1))
        self.now_s = -math.inf
        self.advance(0.0)

    # -- time ---------------------------------------------------------------------

    def seconds(self, when: datetime) -> float:
        """`when` as seconds from the epoch."""
        return (when - self.epoch).total_seconds()

    def date(self, seconds: float) -> datetime:
        return self.epoch + timedelta(seconds=seconds)

    def _draw_arrival(self, after: float) -> float:
        if self._rate <= 0:
            return math.inf
        return float(math.ceil(after + self._arrivals.expovariate(self._rate)))

    def advance(self, now_s: float) -> None:
        """Create the orders that arrived and apply the changes due by `now_s`."""
        if now_s <= self.now_s:
            return
        self.now_s = now_s
        while self._next_arrival <= now_s:
            self._new_order(int(self._next_arrival))
            self._next_arrival = self._draw_arrival(self._next_arrival)
        events = self._events
        while events and events[0][0] <= now_s:
            at, _, index, kind = heapq.heappop(events)
            self._apply(self.orders[index], kind, at)

    # -- generation ---------------------------------------------------------------

    def _push(self, at: int, index: int, kind: int) -> None:
        self._seq += 1
        heapq.heappush(self._events, (at, self._seq, index, kind))

    def _order_id(self, index: int, market: MarketplaceInfo, rng: random.Random) -> str:
        # 7654321 is coprime to 10**7, so the middle block is unique per index.
        middle = (index * 7_654_321 + self.seed) % 10_000_000
        return f"{market.order_prefix}-{middle:07d}-{rng.randrange(10_000_000):07d}"

    def _new_order(self, purchase_s: int) -> SimOrder:
        s = self.settings
        index = len(self.orders)
        rng = seeded(self.seed, index, "order")
        market = MARKETPLACES[
            self.marketplace_ids[rng.randrange(len(self.marketplace_ids))]
        ]
        afn = rng.random() < s.fba_share
        if rng.random() < s.multi_page_items_share:
            lines = rng.randint(self.items_page_size + 1, 2 * self.items_page_size + 5)
        else:
            lines = rng.choices((1, 2, 3, 4, 5), weights=(70, 18, 6, 4, 2))[0]
        unknown_line = (
            rng.randrange(lines) if rng.random() < s.unknown_sku_share else -1
        )
        bad_address = rng.random() < s.bad_address_share
        order = SimOrder(
            index=index,
            order_id=self._order_id(index, market, rng),
            marketplace_id=market.marketplace_id,
            fulfillment_channel="AFN" if afn else "MFN",
            purchase_s=purchase_s,
            last_update_s=purchase_s,
            status=PENDING,
            lines=lines,
            unknown_line=unknown_line,
            units=0,
            total=0,
            shipping_total=0,
            bad_address=bad_address,
            is_prime=afn or rng.random() < 0.15,
            epoch=self.epoch,
            seed=self.seed,
        )
        items = self.items(order)
        order.units = sum(i.quantity for i in items)
        order.shipping_total = sum(i.shipping for i in items)
        order.total = sum(
            i.line_price
            + i.item_tax
            + i.shipping
            + i.shipping_tax
            - i.promotion_discount
            for i in items
        )
        self.orders.append(order)
        self.by_id[order.order_id] = order
        self._schedule(order, rng)
        return order

    def _schedule(self, order: SimOrder, rng: random.Random) -> None:
        hour = 3600
        pay = order.purchase_s + (
            rng.randint(60, 1800) if rng.random() < 0.9 else rng.randint(hour, 6 * hour)
        )
        if rng.random() < 0.02:  # payment never authorised
            self._push(pay, order.index, _CANCEL_PENDING)
            return
        self._push(pay, order.index, _PAY)
        if order.is_afn:
            self._push(pay + rng.randint(2 * hour, 30 * hour), order.index, _SHIP_ALL)
        else:
            r = rng.random()
            if r < 0.05:  # dispatched outside kccsync
                self._push(
                    pay + rng.randint(4 * hour, 48 * hour), order.index, _SHIP_ALL
                )
            elif r < 0.08 and order.lines >= 2:
                self._push(
                    pay + rng.randint(2 * hour, 24 * hour), order.index, _SHIP_FIRST
                )
        if rng.random() < 0.03:  # buyer cancels while unshipped
            self._push(pay + rng.randint(1800, 36 * hour), order.index, _CANCEL)

    def _apply(self, order: SimOrder, kind: int, at: int) -> None:
        status = order.status
        if kind == _PAY and status == PENDING:
            order.status, order.paid, order.paid_s = UNSHIPPED, True, at
        elif kind in (_CANCEL_PENDING, _CANCEL) and status == (
            PENDING if kind == _CANCEL_PENDING else UNSHIPPED
        ):
            order.status = CANCELED
            order.cancel_reason = CANCEL_REASONS[order.index % len(CANCEL_REASONS)]
        elif kind == _SHIP_ALL and status in (UNSHIPPED, PARTIALLY_SHIPPED):
            order.status, order.all_shipped = SHIPPED, True
        elif kind == _SHIP_FIRST and status == UNSHIPPED:
            first = self.items(order)[0]
            order.status = PARTIALLY_SHIPPED
            order.base_shipped = {first.line: first.quantity}
        else:
            return
        order.last_update_s = at

    def items(self, order: SimOrder) -> tuple[SimItem, ...]:
        """The order's lines, regenerated from the seed (identical every call)."""
        rng = seeded(self.seed, order.index, "items")
        market = order.marketplace
        shipping = (
            0 if rng.random() < 0.5 else _price(rng.randint(2, 4) * 100 + 99, market)
        )
        promo = rng.random() < 0.1
        out = []
        for line in range(order.lines):
            if line == order.unknown_line:
                number = rng.randrange(10_000, 100_000)
                sku = f"ZZ-{number}-X"
                product = Product(sku, f"B0ZZ{number}", f"Unlisted item {number}", 999)
            else:
                product = self.catalogue[rng.randrange(len(self.catalogue))]
            quantity = rng.choices((1, 2, 3), weights=(80, 15, 5))[0]
            unit = _price(product.base_price, market)
            line_price = unit * quantity
            ship = shipping if line == 0 else 0
            discount = (line_price + 5) // 10 if promo and line == 0 else 0
            item_id = rng.randrange(10**14)
            out.append(
                SimItem(
                    line=line,
                    order_item_id=f"{item_id:014d}",
                    sku=product.sku,
                    asin=product.asin,
                    title=product.title,
                    quantity=quantity,
                    unit_price=unit,
                    line_price=line_price,
                    item_tax=_tax(line_price - discount, market),
                    shipping=ship,
                    shipping_tax=_tax(ship, market),
                    promotion_discount=discount,
                    promotion_id="SIM-PROMO-10" if discount else None,
                )
            )
        return tuple(out)

    # -- changes from outside -----------------------------------------------------

    def set_status(self, order: SimOrder, status: str, now_s: float) -> None:
        """Force a status (test scripting); bumps LastUpdateDate to now."""
        if status not in STATUSES:
            raise ValueError(
                f"unknown status {status!r}; use one of {', '.join(STATUSES)}"
            )
        order.status = status
        if not order.paid and status != PENDING:
            order.paid, order.paid_s = True, int(now_s)
        if status == SHIPPED:
            order.all_shipped = True
        if status == CANCELED and order.cancel_reason is None:
            order.cancel_reason = CANCEL_REASONS[0]
        order.last_update_s = max(order.last_update_s, int(now_s))

    def confirm_package(self, order: SimOrder, package: Package, now_s: float) -> None:
        """Record a package (same reference id = edit) and move the order's status."""
        order.packages = {**(order.packages or {}), package.reference_id: package}
        items = self.items(order)
        shipped = [order.shipped_quantity(i) for i in items]
        if all(q >= i.quantity for q, i in zip(shipped, items, strict=True)):
            order.status = SHIPPED
        elif any(shipped):
            order.status = PARTIALLY_SHIPPED
        order.last_update_s = max(order.last_update_s, int(now_s))


_CALLING_CODES = {
    "GB": 44,
    "DE": 49,
    "FR": 33,
    "IT": 39,
    "ES": 34,
    "NL": 31,
    "US": 1,
    "CA": 1,
}


def _price(base: int, market: MarketplaceInfo) -> int:
    """Scale a base price to the marketplace, keeping the .99 ending."""
    scaled = base * market.price_percent // 100
    return scaled // 100 * 100 + 99


def _tax(amount: int, market: MarketplaceInfo) -> int:
    """Sales tax on top (US/CA); 0 where prices include VAT. Rounded half up."""
    return (amount * market.tax_bp + 5000) // 10000 if amount > 0 else 0


def _fill(template: str, rng: random.Random) -> str:
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return "".join(
        str(rng.randrange(10)) if c == "#" else rng.choice(letters) if c == "@" else c
        for c in template
    )


def _address(rng: random.Random, country: str, name: str, *, bad: bool) -> SimAddress:
    place = rng.choice(PLACES[country])
    street = rng.choice(STREETS[country])
    number = rng.randint(1, 250)
    line1 = (
        f"{street} {number}"
        if country in {"DE", "NL", "IT", "ES"}
        else f"{number} {street}"
    )
    return SimAddress(
        name=name,
        line1=line1,
        line2=f"Flat {rng.randint(1, 40)}" if rng.random() < 0.2 else None,
        city=place.city,
        region=place.region,
        postal_code=None if bad else _fill(place.postcode, rng),
        country=country,
        phone=f"+{_CALLING_CODES[country]} {rng.randrange(10**9, 10**10)}",
        address_type="Commercial" if rng.random() < 0.1 else "Residential",
    )
