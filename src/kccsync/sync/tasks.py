"""One channel's sync tasks: orders, items, import, actions, shipping notifications.

Glue only: loops acquire work from the store, call the channel, write results
back (one transaction per page or batch) and log. Rules live in `sync.plan`,
`kccsync.rules` and `kccsync.importer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog

from kccsync.channels.base import Channel
from kccsync.clock import Clock
from kccsync.errors import (
    ChannelError,
    ImportProblem,
    InvalidRequestError,
    NotFoundError,
)
from kccsync.importer import ImportFailure, SalesOrderDraft, import_order, skus_of
from kccsync.limiter import BucketSnapshot, QuotaSet
from kccsync.models import ChannelOrder, ChannelOrderItem, Shipment, ShipmentLine
from kccsync.store import Store, admin, feedback, orders
from kccsync.sync import plan
from kccsync.timeutil import iso, iso_precise, parse_iso

log = structlog.get_logger(__name__)

WATERMARK = "orders_watermark"
ITEMS_BATCH = 10
IMPORT_BATCH = 200
#: Import batches in progress at once across all channels (see `import_ready`).
IMPORT_CONCURRENCY = 4
ACTIONS_POLL = 2.0
BUCKET_SAVE_INTERVAL = 60.0


@dataclass(frozen=True)
class ChannelSettings:
    """What the tasks need from a channel's config."""

    name: str
    orders_interval: float
    status_upload_interval: float
    upload_order_status: bool
    initial_lookback: float
    so_prefix: str
    so_digits: int


class ActionsInbox:
    """Which channels have operator actions waiting: one poll for every channel.

    The CLI queues actions from another process, so the daemon polls the database.
    Polling per channel cost a wake-up and a transaction per channel every
    `ACTIONS_POLL` seconds: most of an idle channel's CPU once there are hundreds
    of channels (`kccsync bench`, scenario `channels`). Here one waiting channel
    at a time polls for all of them; the others sleep until a poll names them,
    or until the poller leaves (then one of them takes over). An action is still
    carried out within one poll interval.
    """

    def __init__(
        self, *, store: Store, clock: Clock, max_age: float = ACTIONS_POLL
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_age = max_age
        self._due: set[int] = set()
        self._polling = False
        self._changed = asyncio.Event()

    def _notify(self) -> None:
        # Wake everyone waiting now; later waiters wait on a fresh event.
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, channel_id: int) -> None:
        """Return once `channel_id` has open actions (they may be gone by then)."""
        while channel_id not in self._due:
            if self._polling:
                await self._changed.wait()
                continue
            self._polling = True
            try:
                while channel_id not in self._due:
                    found = await self.store.tx(admin.channels_with_open_actions)
                    # Only news wakes the sleepers: ids already due (a channel busy
                    # with its actions, a disabled channel's) wake nobody again.
                    new = set(found) - self._due
                    if new:
                        self._due |= new
                        self._notify()
                    if channel_id not in self._due:
                        await self.clock.sleep(self.max_age)
            finally:
                self._polling = False
                self._notify()
        self._due.discard(channel_id)


class ChannelSync:
    """The sync tasks of one channel, sharing its store, channel client and quotas."""

    def __init__(
        self,
        *,
        settings: ChannelSettings,
        store: Store,
        channel: Channel,
        quotas: QuotaSet,
        clock: Clock,
        inbox: ActionsInbox | None = None,
        import_slots: asyncio.Semaphore | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.channel = channel
        self.quotas = quotas
        self.clock = clock
        self.inbox = inbox
        self.import_slots = import_slots
        self.channel_id = 0
        self._work = asyncio.Event()  # set when orders may need items or import
        # Bucket rates at the last save if every bucket was full then (see below).
        self._saved_full: list[tuple[str, float, float]] | None = None
        self.log = log.bind(channel=settings.name)

    def _now(self) -> str:
        return iso(self.clock.now())

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Register the channel, restore saved quota levels, apply the upload switch."""
        self.channel_id = await self.store.tx(
            orders.ensure_channel, self.settings.name, "amazon", self._now()
        )
        rows = await self.store.tx(feedback.load_buckets, self.channel_id)
        snaps = [
            BucketSnapshot(
                operation=r.operation,
                tokens=r.tokens,
                restore_seconds=r.restore_seconds,
                ceiling_restore_seconds=r.ceiling_restore_seconds,
                saved_at=parse_iso(r.saved_at),
            )
            for r in rows
            if r.operation in self.quotas
        ]
        self.quotas.restore(snaps, self.clock.now())
        await self.store.tx(
            admin.set_hold, self.channel_id, hold=not self.settings.upload_order_status
        )

    async def save_buckets(self) -> None:
        snaps = self.quotas.snapshots(self.clock.now())
        rates = [
            (s.operation, s.restore_seconds, s.ceiling_restore_seconds) for s in snaps
        ]
        full = all(s.tokens >= self.quotas[s.operation].burst - 1e-9 for s in snaps)
        if full and rates == self._saved_full:
            # Every bucket full, at the rates already saved: the saved rows restore
            # to exactly this (a full bucket), so an idle channel skips the write.
            # A bucket that is not full is always saved: its level moves with time.
            return
        rows = [
            feedback.BucketRow(
                s.operation,
                s.tokens,
                s.restore_seconds,
                s.ceiling_restore_seconds,
                iso_precise(s.saved_at),
            )
            for s in snaps
        ]
        await self.store.tx(feedback.save_buckets, self.channel_id, rows)
        self._saved_full = rates if full else None

    async def run(self) -> None:
        """Run every loop until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(
                self._every(self.settings.orders_interval, self.sync_orders)
            )
            group.create_task(self.items_loop())
            group.create_task(self._actions_loop())
            group.create_task(self._every(BUCKET_SAVE_INTERVAL, self.save_buckets))
            if self.settings.upload_order_status:
                group.create_task(
                    self._every(
                        self.settings.status_upload_interval, self.upload_shipments
                    )
                )

    async def run_once(self) -> None:
        """One pass: actions, orders, every item, import, shipping notifications."""
        await self.apply_actions()
        await self.sync_orders()
        while await self.fetch_items():
            pass
        await self.import_ready()
        if self.settings.upload_order_status:
            await self.upload_shipments()

    async def _every(
        self, interval: float, job: Callable[[], Awaitable[object]]
    ) -> None:
        while True:
            try:
                await job()
            except Exception:
                # Channel faults are handled inside each job; this is the last line
                # of defence (e.g. the database locked for too long): log, go on.
                self.log.exception("task_pass_crashed", job=job.__name__)
            await self.clock.sleep(interval)

    # -- feedback --------------------------------------------------------------------

    async def _succeeded(self, task: str) -> None:
        resolved = await self.store.tx(
            feedback.task_succeeded,
            self.channel_id,
            task,
            plan.problem_keys(task),
            self._now(),
        )
        if resolved:
            self.log.info("notification_resolved", task=task)

    async def _failed(self, task: str, error: ChannelError) -> None:
        problem = plan.describe(task, error)
        new = await self.store.tx(
            feedback.task_failed,
            self.channel_id,
            task,
            problem.key,
            problem.severity,
            problem.message,
            str(error),
            self._now(),
        )
        self.log.warning(
            "task_failed", task=task, error=str(error), notification_new=new
        )

    # -- orders ----------------------------------------------------------------------

    async def sync_orders(self) -> bool:
        """Download every page of changed orders; True when the window completed."""
        raw = await self.store.tx(feedback.get_state, self.channel_id, WATERMARK)
        watermark = parse_iso(raw) if raw else None
        window = plan.download_window(
            watermark,
            self.clock.now(),
            timedelta(seconds=self.settings.initial_lookback),
        )
        if window is None:
            return True
        self.log.info(
            "orders_download_started",
            updated_after=iso(window.after),
            updated_before=iso(window.before),
            resumed=watermark is not None,
        )
        token: str | None = None
        restarted = False
        pages = 0
        while True:
            try:
                page = await self.channel.list_orders(
                    updated_after=window.after,
                    updated_before=window.before,
                    next_token=token,
                )
            except InvalidRequestError as exc:
                if token is not None and not restarted:
                    # A NextToken the channel no longer accepts: restart the window
                    # from the last committed watermark (pages are idempotent).
                    self.log.info("orders_window_restarted", reason=str(exc))
                    token, restarted = None, True
                    continue
                await self._failed(plan.TASK_ORDERS, exc)
                return False
            except ChannelError as exc:
                await self._failed(plan.TASK_ORDERS, exc)
                return False
            result = await self.store.tx(
                orders.upsert_orders, self.channel_id, page.orders, self._now()
            )
            pages += 1
            self.log.info(
                "orders_page_fetched",
                page=pages,
                count=len(page.orders),
                new=result.new,
                updated=result.updated,
                next_token=page.next_token is not None,
            )
            for order_id in result.cancelled_after_import:
                await self._cancelled_after_import(order_id)
            if result.new or result.updated:
                # Only a stored change can need items or an import; an empty page
                # (an idle channel's every pass) must not wake the items loop.
                self._work.set()
            await self._succeeded(plan.TASK_ORDERS)
            if page.next_token is None:
                # Every page is committed: only now may the watermark move.
                upper = page.updated_before or window.before
                await self.store.tx(
                    feedback.set_state, self.channel_id, WATERMARK, iso(upper)
                )
                return True
            token = page.next_token

    async def _cancelled_after_import(self, order_id: str) -> None:
        now = self._now()
        message = f"Order {order_id} was cancelled on the channel after it was imported"
        await self.store.tx(
            feedback.raise_notification,
            self.channel_id,
            f"cancelled:{order_id}",
            "warning",
            message,
            "Check the sales order before it is dispatched.",
            now,
        )
        self.log.warning("order_cancelled_after_import", order_id=order_id)

    # -- items and import ------------------------------------------------------------

    async def items_loop(self) -> None:
        while True:
            try:
                did = await self.fetch_items()
            except ChannelError as exc:
                await self.clock.sleep(
                    plan.retry_delay(exc, self.settings.orders_interval)
                )
                continue
            except Exception:
                self.log.exception("task_pass_crashed", job="items")
                await self.clock.sleep(self.settings.orders_interval)
                continue
            await self.import_ready()
            if not did:
                self._work.clear()
                await self._work.wait()

    async def fetch_items(self) -> bool:
        """Re-download and fetch items for one batch; False when there was nothing."""
        redownload = await self.store.tx(
            orders.orders_to_redownload, self.channel_id, ITEMS_BATCH
        )
        for row_id, order_id in redownload:
            await self._redownload(row_id, order_id)
        batch = await self.store.tx(
            orders.orders_needing_items, self.channel_id, ITEMS_BATCH
        )
        for row_id, order_id in batch:
            try:
                items = await self.channel.list_items(order_id)
            except (NotFoundError, InvalidRequestError) as exc:
                await self.store.tx(
                    orders.record_failure,
                    row_id,
                    f"items download refused: {exc}",
                    self._now(),
                )
                continue
            except ChannelError as exc:
                await self._failed(plan.TASK_ITEMS, exc)
                raise
            await self.store.tx(orders.save_items, row_id, items, self._now())
            self.log.debug("order_items_fetched", order_id=order_id, count=len(items))
            await self._succeeded(plan.TASK_ITEMS)
        if batch:
            await self.import_ready()
        return bool(batch or redownload)

    async def _redownload(self, row_id: int, order_id: str) -> None:
        """Retry download, stage one: the order itself; stage two is its items."""
        try:
            order = await self.channel.get_order(order_id)
        except (NotFoundError, InvalidRequestError) as exc:
            await self.store.tx(
                orders.record_failure, row_id, f"download refused: {exc}", self._now()
            )
            await self.store.tx(orders.clear_redownload, row_id)
            return
        except ChannelError as exc:
            await self._failed(plan.TASK_ITEMS, exc)
            raise
        await self.store.tx(orders.replace_order, row_id, order, self._now())
        self.log.info("order_redownloaded", order_id=order_id)

    async def import_ready(self) -> int:
        """Import every order whose data is complete; returns how many were imported."""
        imported = 0
        while True:
            # Shared by every channel: hundreds of channels starting with a backlog
            # would otherwise each hold a parsed batch at the same moment (peak RSS).
            async with self.import_slots or contextlib.nullcontext():
                batch = await self.store.tx(
                    orders.orders_to_import, self.channel_id, IMPORT_BATCH
                )
                if not batch:
                    return imported
                results = await self._import_batch(batch)
                codes = await self.store.tx(
                    orders.record_results,
                    results,
                    self.settings.so_prefix,
                    self.settings.so_digits,
                    self._now(),
                )
            for cand, (_, outcome), code in zip(batch, results, codes, strict=True):
                if code is not None:
                    imported += 1
                    self.log.info(
                        "order_imported", order_id=cand.order_id, so_code=code
                    )
                elif isinstance(outcome, str):
                    self.log.info(
                        "order_import_failed", order_id=cand.order_id, error=outcome
                    )
            await self.store.tx(
                feedback.task_ran,
                self.channel_id,
                plan.TASK_IMPORT,
                self._now(),
                success=True,
            )

    async def _import_batch(
        self, batch: list[orders.ImportCandidate]
    ) -> list[tuple[int, SalesOrderDraft | str]]:
        """Run the importer over a batch: a draft or an error text per order."""
        parsed: list[tuple[ChannelOrder, list[ChannelOrderItem]] | str] = []
        for cand in batch:
            try:
                order = self.channel.read_order(json.loads(cand.raw_order))
                items = [self.channel.read_item(json.loads(r)) for r in cand.raw_items]
            except ImportProblem as exc:
                parsed.append(str(exc))
                continue
            parsed.append((order, items))
        wanted: set[str] = set()
        for entry in parsed:
            if not isinstance(entry, str):
                wanted |= skus_of(entry[1])
        catalogue = await self.store.tx(orders.lookup_skus, wanted)
        results: list[tuple[int, SalesOrderDraft | str]] = []
        for cand, entry in zip(batch, parsed, strict=True):
            if isinstance(entry, str):
                results.append((cand.row_id, entry))
                continue
            outcome = import_order(entry[0], entry[1], catalogue)
            if isinstance(outcome, ImportFailure):
                results.append((cand.row_id, outcome.message))
            else:
                results.append((cand.row_id, outcome))
        return results

    # -- actions -----------------------------------------------------------------------

    async def _actions_loop(self) -> None:
        """Poll for actions alone, or sleep until the shared inbox names us."""
        inbox = self.inbox
        if inbox is None:
            await self._every(ACTIONS_POLL, self.apply_actions)
            return

        async def when_due() -> int:
            try:
                await inbox.wait(self.channel_id)
            except Exception:
                # The poll failed (the database locked, say): no tight retry loop.
                await self.clock.sleep(ACTIONS_POLL)
                raise
            return await self.apply_actions()

        # No pause between passes: `wait` blocks until the next poll names us.
        await self._every(0.0, when_due)

    async def apply_actions(self) -> int:
        """Carry out every open operator action of this channel."""
        todo = await self.store.tx(admin.open_actions, self.channel_id)
        for action_id, row_id, action in todo:
            result = await self.store.tx(
                admin.apply_action, action_id, row_id, action, self._now()
            )
            self.log.info("order_action_done", action=action, result=result)
        if todo:
            self._work.set()
            await self.import_ready()
        return len(todo)

    # -- shipping notifications ------------------------------------------------------

    async def upload_shipments(self) -> int:
        due = await self.store.tx(admin.shipments_due, self.channel_id, 100)
        uploaded = 0
        for item in due:
            shipment = Shipment(
                order_id=item.order_id,
                marketplace_id=item.marketplace_id,
                package_reference_id="1",
                carrier_code=item.carrier_code,
                carrier_name=item.carrier_name,
                tracking_number=item.tracking_number,
                ship_date=parse_iso(item.ship_date),
                lines=tuple(ShipmentLine(oid, qty) for oid, qty in item.lines),
            )
            try:
                await self.channel.confirm_shipment(shipment)
            except (InvalidRequestError, NotFoundError) as exc:
                await self.store.tx(
                    admin.mark_shipment,
                    item.notification_id,
                    uploaded=False,
                    error=str(exc),
                    give_up=True,
                    now=self._now(),
                )
                await self._failed(plan.TASK_SHIPPING, exc)
                continue
            except ChannelError as exc:
                give_up = item.attempts + 1 >= plan.SHIPMENT_MAX_ATTEMPTS
                await self.store.tx(
                    admin.mark_shipment,
                    item.notification_id,
                    uploaded=False,
                    error=str(exc),
                    give_up=give_up,
                    now=self._now(),
                )
                await self._failed(plan.TASK_SHIPPING, exc)
                return uploaded
            await self.store.tx(
                admin.mark_shipment,
                item.notification_id,
                uploaded=True,
                error=None,
                give_up=False,
                now=self._now(),
            )
            uploaded += 1
            self.log.info("shipping_notification_uploaded", order_id=item.order_id)
        await self._succeeded(plan.TASK_SHIPPING)
        return uploaded


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
