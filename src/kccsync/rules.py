"""Pure rules for what a downloaded order does to the stored one (DESIGN.md §8).

The store applies these inside its upsert transaction; keeping them here keeps
them testable as a table and out of SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from kccsync.models import CANCELLED_STATUS, IMPORTABLE_STATUSES, OrderState


class Change(StrEnum):
    INSERT_PENDING = "insert_pending"  # new order to import
    INSERT_CANCELLED = "insert_cancelled"  # first seen already cancelled: record it
    SKIP = "skip"  # a status kccsync never keeps (Pending, ...)
    STALE = "stale"  # older than what is stored: ignore
    UPDATE_ONLY = "update_only"  # record the new status/payload; nothing else
    REQUEUE_IMPORT = "requeue_import"  # a failed order changed: try the import again
    CANCEL_BEFORE_IMPORT = "cancel_before_import"
    CANCEL_AFTER_IMPORT = "cancel_after_import"  # flag it and notify


@dataclass(frozen=True)
class Stored:
    state: OrderState
    last_update: datetime
    cancelled_after_import: bool


def decide(stored: Stored | None, status: str, last_update: datetime) -> Change:
    """What an incoming order with `status` and `last_update` does to `stored`."""
    cancelled = status == CANCELLED_STATUS
    if stored is None:
        if status in IMPORTABLE_STATUSES:
            return Change.INSERT_PENDING
        return Change.INSERT_CANCELLED if cancelled else Change.SKIP
    if last_update < stored.last_update:
        return Change.STALE
    if last_update == stored.last_update or stored.state in {
        OrderState.IGNORED,
        OrderState.CANCELLED,
    }:
        # A re-delivery, or an order whose fate is settled: an ignored order stays
        # ignored whatever the channel sends later.
        return Change.UPDATE_ONLY
    if cancelled:
        if stored.state is OrderState.IMPORTED:
            if stored.cancelled_after_import:
                return Change.UPDATE_ONLY
            return Change.CANCEL_AFTER_IMPORT
        return Change.CANCEL_BEFORE_IMPORT
    if stored.state is OrderState.FAILED and status in IMPORTABLE_STATUSES:
        return Change.REQUEUE_IMPORT
    return Change.UPDATE_ONLY
