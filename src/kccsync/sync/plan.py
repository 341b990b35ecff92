"""Pure sync decisions: the download window, notification texts, what an error means.

No I/O and no asyncio: functions take the current time as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kccsync.errors import (
    AuthError,
    ChannelError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    RateLimited,
)

#: Amazon serves data about 2 minutes behind; *Before must be at least that old.
DATA_LAG = timedelta(minutes=2)
#: Extra margin for clock skew between us and Amazon.
SKEW_MARGIN = timedelta(seconds=30)
#: Re-read a little before the watermark, so an order updated at the boundary
#: is never missed (upserts are idempotent, so the overlap costs nothing).
OVERLAP = timedelta(minutes=1)

TASK_ORDERS = "orders_download"
TASK_ITEMS = "items_download"
TASK_IMPORT = "import"
TASK_SHIPPING = "shipping_upload"
TASK_ACTIONS = "actions"

#: What each task is doing, for notification texts ("Error downloading orders: ...").
_DOING = {
    TASK_ORDERS: "downloading orders",
    TASK_ITEMS: "downloading order items",
    TASK_SHIPPING: "uploading order status",
    TASK_IMPORT: "importing orders",
    TASK_ACTIONS: "carrying out order actions",
}


@dataclass(frozen=True)
class Window:
    after: datetime
    before: datetime


def download_window(
    watermark: datetime | None, now: datetime, initial_lookback: timedelta
) -> Window | None:
    """The LastUpdatedAfter/Before window for this pass, or None if it is empty."""
    before = now - DATA_LAG - SKEW_MARGIN
    after = (now - initial_lookback) if watermark is None else (watermark - OVERLAP)
    if after >= before:
        return None
    return Window(after=after, before=before)


@dataclass(frozen=True)
class Problem:
    """A channel error as the Notifications view shows it."""

    key: str
    severity: str
    message: str


def describe(task: str, error: ChannelError) -> Problem:
    """Map a channel error raised in `task` to a de-duplicated notification."""
    doing = _DOING.get(task, task)
    if isinstance(error, RateLimited):
        return Problem(
            f"{task}:throttled", "warning", f"Error {doing}: Request is throttled"
        )
    if isinstance(error, AuthError):
        return Problem(f"{task}:auth", "error", f"Error {doing}: {error}")
    if isinstance(error, MalformedResponseError):
        return Problem(f"{task}:malformed", "error", f"Error {doing}: {error}")
    if isinstance(error, InvalidRequestError | NotFoundError):
        return Problem(f"{task}:refused", "error", f"Error {doing}: {error}")
    return Problem(f"{task}:error", "warning", f"Error {doing}: {error}")


def problem_keys(task: str) -> list[str]:
    """Every key `describe` can produce for `task`: resolved together on success."""
    return [
        f"{task}:{k}" for k in ("throttled", "auth", "malformed", "refused", "error")
    ]


def retry_delay(error: ChannelError, interval: float) -> float:
    """How long a loop waits after a failed pass before trying again."""
    if isinstance(error, AuthError):
        return max(interval, 300.0)
    if isinstance(error, RateLimited):
        return min(interval, 60.0)
    return min(interval, 120.0)


SHIPMENT_MAX_ATTEMPTS = 10
