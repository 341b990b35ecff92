"""`rules.decide`: what a downloaded order does to the stored one (DESIGN.md §8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from kccsync.models import IMPORTABLE_STATUSES, OrderState
from kccsync.rules import Change, Stored, decide

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)
EARLIER = T0 - timedelta(minutes=5)


def stored(state: OrderState, *, cancelled_after_import: bool = False) -> Stored:
    return Stored(
        state=state, last_update=T0, cancelled_after_import=cancelled_after_import
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Unshipped", Change.INSERT_PENDING),
        ("PartiallyShipped", Change.INSERT_PENDING),
        ("Shipped", Change.INSERT_PENDING),
        ("Canceled", Change.INSERT_CANCELLED),
        ("Pending", Change.SKIP),
        ("PendingAvailability", Change.SKIP),
        ("Unfulfillable", Change.SKIP),
        ("InvoiceUnconfirmed", Change.SKIP),
    ],
)
def test_decide_new_order(status: str, expected: Change) -> None:
    assert decide(None, status, T0) is expected


def test_decide_pending_is_never_inserted() -> None:
    """Amazon's Pending orders are never downloaded, so never imported."""
    assert "Pending" not in IMPORTABLE_STATUSES
    assert decide(None, "Pending", LATER) is Change.SKIP


@pytest.mark.parametrize("state", list(OrderState))
def test_decide_older_update_is_stale(state: OrderState) -> None:
    assert decide(stored(state), "Shipped", EARLIER) is Change.STALE


@pytest.mark.parametrize("state", list(OrderState))
@pytest.mark.parametrize("status", ["Unshipped", "Shipped", "Canceled"])
def test_decide_redelivery_only_updates(state: OrderState, status: str) -> None:
    """The same LastUpdateDate again (an overlapping window) changes nothing."""
    assert decide(stored(state), status, T0) is Change.UPDATE_ONLY


@pytest.mark.parametrize(
    ("state", "status", "cancelled_after_import", "expected"),
    [
        # Ignored stays ignored and cancelled stays cancelled, whatever comes next.
        (OrderState.IGNORED, "Shipped", False, Change.UPDATE_ONLY),
        (OrderState.IGNORED, "Canceled", False, Change.UPDATE_ONLY),
        (OrderState.CANCELLED, "Unshipped", False, Change.UPDATE_ONLY),
        (OrderState.CANCELLED, "Canceled", False, Change.UPDATE_ONLY),
        # Cancellations.
        (OrderState.PENDING, "Canceled", False, Change.CANCEL_BEFORE_IMPORT),
        (OrderState.FAILED, "Canceled", False, Change.CANCEL_BEFORE_IMPORT),
        (OrderState.IMPORTED, "Canceled", False, Change.CANCEL_AFTER_IMPORT),
        (OrderState.IMPORTED, "Canceled", True, Change.UPDATE_ONLY),
        # A failed order that changed gets another import attempt.
        (OrderState.FAILED, "Unshipped", False, Change.REQUEUE_IMPORT),
        (OrderState.FAILED, "Shipped", False, Change.REQUEUE_IMPORT),
        (OrderState.FAILED, "Pending", False, Change.UPDATE_ONLY),
        # Status-only changes of pending and imported orders.
        (OrderState.PENDING, "Shipped", False, Change.UPDATE_ONLY),
        (OrderState.IMPORTED, "Shipped", False, Change.UPDATE_ONLY),
        (OrderState.IMPORTED, "Shipped", True, Change.UPDATE_ONLY),
    ],
)
def test_decide_newer_update(
    state: OrderState,
    status: str,
    cancelled_after_import: bool,
    expected: Change,
) -> None:
    before = stored(state, cancelled_after_import=cancelled_after_import)

    assert decide(before, status, LATER) is expected


def test_decide_compares_instants_not_offsets() -> None:
    """The same instant written with another UTC offset is a re-delivery."""
    plus_one = T0.astimezone(timezone(timedelta(hours=1)))

    assert plus_one.hour != T0.hour
    assert decide(stored(OrderState.FAILED), "Shipped", plus_one) is (
        Change.UPDATE_ONLY
    )
