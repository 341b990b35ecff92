"""The built-in Amazon marketplace simulator (in-process transport or loopback HTTP)."""

from kccsync.simulator.auth import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
)
from kccsync.simulator.marketplace import ITEMS_PAGE_SIZE, Marketplace
from kccsync.simulator.quotas import DEFAULT_QUOTAS, Operation
from kccsync.simulator.records import Faults, RecordedRequest, RecordedShipment

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_QUOTAS",
    "DEFAULT_REFRESH_TOKEN",
    "ITEMS_PAGE_SIZE",
    "Faults",
    "Marketplace",
    "Operation",
    "RecordedRequest",
    "RecordedShipment",
]
