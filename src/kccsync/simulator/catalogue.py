"""Static data for the simulated marketplace: stores, the catalogue, addresses.

Pure tables and small helpers; nothing here reads the clock or keeps state.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class MarketplaceInfo:
    """One Amazon store: its id, currency and how its prices treat tax."""

    marketplace_id: str
    country: str
    currency: str
    sales_channel: str
    #: EU/UK prices include VAT (ItemTax "0.00"); US/CA add sales tax on top.
    vat_inclusive: bool
    #: Sales tax added on top, in basis points (0 where prices include VAT).
    tax_bp: int
    #: Price of a catalogue item here, in percent of its base (GBP) price.
    price_percent: int
    #: First block of the 3-7-7 order ids placed here.
    order_prefix: str
    ship_service_level: str


MARKETPLACES: dict[str, MarketplaceInfo] = {
    m.marketplace_id: m
    for m in (
        MarketplaceInfo(
            "A1F83G8C2ARO7P",
            "GB",
            "GBP",
            "Amazon.co.uk",
            True,
            0,
            100,
            "205",
            "Std UK Dom_1",
        ),
        MarketplaceInfo(
            "A1PA6795UKMFR9",
            "DE",
            "EUR",
            "Amazon.de",
            True,
            0,
            115,
            "305",
            "Std DE Dom_1",
        ),
        MarketplaceInfo(
            "A13V1IB3VIYZZH",
            "FR",
            "EUR",
            "Amazon.fr",
            True,
            0,
            115,
            "407",
            "Std FR Dom_1",
        ),
        MarketplaceInfo(
            "APJ6JRA9NG5V4",
            "IT",
            "EUR",
            "Amazon.it",
            True,
            0,
            115,
            "403",
            "Std IT Dom_1",
        ),
        MarketplaceInfo(
            "A1RKKUPIHCS9HS",
            "ES",
            "EUR",
            "Amazon.es",
            True,
            0,
            115,
            "406",
            "Std ES Dom_1",
        ),
        MarketplaceInfo(
            "A1805IZSGTT6HS",
            "NL",
            "EUR",
            "Amazon.nl",
            True,
            0,
            115,
            "408",
            "Std NL Dom_1",
        ),
        MarketplaceInfo(
            "ATVPDKIKX0DER",
            "US",
            "USD",
            "Amazon.com",
            False,
            825,
            125,
            "113",
            "Std US D2D Dom",
        ),
        MarketplaceInfo(
            "A2EUQ1WTGCTBG2",
            "CA",
            "CAD",
            "Amazon.ca",
            False,
            1300,
            170,
            "701",
            "Std CA Dom",
        ),
    )
}

UK = "A1F83G8C2ARO7P"
DE = "A1PA6795UKMFR9"
US = "ATVPDKIKX0DER"

_COLOURS = ("BLK", "WHT", "RED", "BLU", "GRN")
_COLOUR_NAMES = {
    "BLK": "Black",
    "WHT": "White",
    "RED": "Red",
    "BLU": "Blue",
    "GRN": "Green",
}
_ADJECTIVES = ("Classic", "Compact", "Deluxe", "Everyday", "Travel", "Premium", "Eco")
_NOUNS = (
    "Water Bottle",
    "Lunch Box",
    "Desk Lamp",
    "Phone Stand",
    "Notebook",
    "Backpack",
    "Tea Towel",
    "Mug",
    "Cable Organiser",
    "Plant Pot",
)


def digest_int(*parts: object) -> int:
    """A stable 64-bit integer from `parts` (unlike `hash()`, the same in every run)."""
    text = ":".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


@dataclass(frozen=True)
class Product:
    """A catalogue entry: the seller's SKU, Amazon's ASIN, a title, a base price."""

    sku: str
    asin: str
    title: str
    #: Base price in GBP pence, VAT-inclusive; other marketplaces scale it.
    base_price: int


def asin_for(sku: str) -> str:
    """A stable, ASIN-shaped identifier (B0 + 8 base-36 characters) for `sku`."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    n = digest_int("asin", sku)
    chars = []
    for _ in range(8):
        n, r = divmod(n, 36)
        chars.append(alphabet[r])
    return "B0" + "".join(chars)


@functools.cache
def build_catalogue(size: int = 120) -> tuple[Product, ...]:
    """The seller's catalogue: the same `size` products in every run.

    Immutable, so every marketplace in a process shares one copy (hundreds of
    simulated channels in one benchmark would otherwise hold one each).
    """
    products = []
    for i in range(size):
        colour = _COLOURS[i % len(_COLOURS)]
        number = 1001 + i // len(_COLOURS)
        sku = f"KCC-{number}-{colour}"
        noun = _NOUNS[(i // len(_COLOURS)) % len(_NOUNS)]
        adjective = _ADJECTIVES[(i // (len(_COLOURS) * len(_NOUNS))) % len(_ADJECTIVES)]
        title = f"{adjective} {noun}, {_COLOUR_NAMES[colour]}"
        # Prices from 4.99 to 89.99, always ending in .99.
        base = 499 + (digest_int("price", sku) % 86) * 100
        products.append(Product(sku, asin_for(sku), title, base))
    return tuple(products)


@dataclass(frozen=True)
class Place:
    """A city with its region and a postcode template (`#` digit, `@` letter)."""

    city: str
    region: str
    postcode: str


PLACES: dict[str, tuple[Place, ...]] = {
    "GB": (
        Place("LONDON", "Greater London", "SW1A #@@"),
        Place("MANCHESTER", "Greater Manchester", "M# #@@"),
        Place("LEEDS", "West Yorkshire", "LS# #@@"),
        Place("BRISTOL", "Bristol", "BS# #@@"),
        Place("EDINBURGH", "Midlothian", "EH# #@@"),
    ),
    "DE": (
        Place("BERLIN", "Berlin", "10###"),
        Place("HAMBURG", "Hamburg", "20###"),
        Place("MÜNCHEN", "Bayern", "80###"),
        Place("KÖLN", "Nordrhein-Westfalen", "50###"),
    ),
    "FR": (
        Place("PARIS", "Île-de-France", "750##"),
        Place("LYON", "Auvergne-Rhône-Alpes", "6900#"),
        Place("MARSEILLE", "Provence-Alpes-Côte d'Azur", "130##"),
    ),
    "IT": (
        Place("ROMA", "RM", "001##"),
        Place("MILANO", "MI", "201##"),
        Place("TORINO", "TO", "101##"),
    ),
    "ES": (
        Place("MADRID", "Madrid", "280##"),
        Place("BARCELONA", "Barcelona", "080##"),
        Place("VALENCIA", "Valencia", "460##"),
    ),
    "NL": (
        Place("AMSTERDAM", "Noord-Holland", "10## @@"),
        Place("UTRECHT", "Utrecht", "35## @@"),
    ),
    "US": (
        Place("SEATTLE", "WA", "981##"),
        Place("AUSTIN", "TX", "787##"),
        Place("DENVER", "CO", "802##"),
        Place("BOSTON", "MA", "021##"),
    ),
    "CA": (
        Place("TORONTO", "ON", "M5V #@#"),
        Place("VANCOUVER", "BC", "V6B #@#"),
    ),
}

STREETS: dict[str, tuple[str, ...]] = {
    "GB": ("High Street", "Station Road", "Church Lane", "Victoria Road"),
    "DE": ("Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schulstraße"),
    "FR": ("Rue de la Paix", "Avenue Victor Hugo", "Rue du Moulin"),
    "IT": ("Via Roma", "Via Garibaldi", "Corso Italia"),
    "ES": ("Calle Mayor", "Avenida de la Constitución", "Calle Real"),
    "NL": ("Kerkstraat", "Dorpsstraat", "Molenweg"),
    "US": ("Main Street", "Oak Avenue", "Maple Drive", "2nd Street"),
    "CA": ("King Street", "Queen Street", "Front Street"),
}

FIRST_NAMES = (
    "Alex",
    "Sam",
    "Jamie",
    "Maria",
    "Jonas",
    "Chloé",
    "Luca",
    "Ana",
    "Priya",
    "Tom",
)
LAST_NAMES = (
    "Smith",
    "Müller",
    "Martin",
    "Rossi",
    "García",
    "de Vries",
    "Johnson",
    "Brown",
)
CANCEL_REASONS = (
    "Order created by mistake",
    "Found a better price",
    "Delivery too slow",
)
