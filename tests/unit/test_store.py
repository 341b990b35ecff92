"""The SQLite store: opening and migrating, orders, imports, actions, feedback."""

from __future__ import annotations

import dataclasses
import sqlite3
import stat
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from kccsync.errors import StoreError
from kccsync.importer import SalesOrderDraft, import_order
from kccsync.models import (
    Address,
    ChannelOrder,
    ChannelOrderItem,
    Fulfillment,
)
from kccsync.store import Store, admin, feedback, orders
from kccsync.store.schema import SCHEMA_VERSION
from kccsync.timeutil import iso

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NOW = iso(T0 + timedelta(hours=1))
UK = "A1F83G8C2ARO7P"


def make_order(
    order_id: str,
    *,
    status: str = "Unshipped",
    updated: timedelta = timedelta(0),
    fulfillment: Fulfillment = Fulfillment.MFN,
    items: tuple[ChannelOrderItem, ...] | None = None,
) -> ChannelOrder:
    return ChannelOrder(
        order_id=order_id,
        purchase_date=T0,
        last_update=T0 + updated,
        status=status,
        fulfillment=fulfillment,
        marketplace_id=UK,
        currency="GBP",
        buyer_email=f"{order_id}@marketplace.example",
        buyer_name="Ada Buyer",
        ship_to=Address(
            name="Ada Buyer",
            line1="1 High Street",
            city="London",
            postal_code="N1 1AA",
            country_code="GB",
        ),
        items=items,
        raw={"AmazonOrderId": order_id, "OrderStatus": status},
    )


def make_item(item_id: str, sku: str = "SKU-1") -> ChannelOrderItem:
    return ChannelOrderItem(
        order_item_id=item_id,
        sku=sku,
        title="Widget",
        quantity=1,
        item_price=Decimal("12.00"),
        item_tax=Decimal("2.00"),
        currency="GBP",
        raw={"OrderItemId": item_id, "SellerSKU": sku},
    )


def pragma(conn: sqlite3.Connection, name: str) -> object:
    return conn.execute(f"PRAGMA {name}").fetchone()[0]


def schema_sql(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
    ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def order_row(conn: sqlite3.Connection, order_id: str) -> dict[str, object]:
    row = conn.execute(
        "SELECT * FROM channel_orders WHERE order_id = ?", (order_id,)
    ).fetchone()
    assert row is not None, order_id
    return dict(row)


def row_id_of(conn: sqlite3.Connection, order_id: str) -> int:
    return int(str(order_row(conn, order_id)["id"]))


def write_garbage(path: Path) -> None:
    path.write_bytes(b"this is not sqlite, just some text " * 40)


def count_rows(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(db_path)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def channel_id(store: Store) -> int:
    return await store.tx(orders.ensure_channel, "amazon-uk", "amazon", NOW)


async def draft_for(store: Store, order: ChannelOrder) -> SalesOrderDraft:
    """The importer's draft for `order` against the store's catalogue."""
    items = order.items or ()
    catalogue = await store.tx(orders.lookup_skus, [i.sku for i in items if i.sku])
    draft = import_order(order, items, catalogue)
    assert isinstance(draft, SalesOrderDraft), draft
    return draft


async def import_new(
    store: Store,
    channel_id: int,
    order_id: str,
    *,
    prefix: str = "SO",
    digits: int = 6,
) -> str | None:
    """Download `order_id` (items inline) and record its import; its SO code."""
    order = make_order(order_id, items=(make_item(f"{order_id}-1"),))
    await store.tx(orders.upsert_orders, channel_id, [order], NOW)
    row_id = await store.tx(row_id_of, order_id)
    draft = await draft_for(store, order)
    return await store.tx(orders.record_import, row_id, draft, prefix, digits, NOW)


class TestOpen:
    async def test_open_twice_keeps_version_schema_and_data(
        self, db_path: Path
    ) -> None:
        first = await Store.open(db_path)
        await first.tx(orders.ensure_channel, "amazon-uk", "amazon", NOW)
        schema_before = await first.tx(schema_sql)
        await first.close()

        second = await Store.open(db_path)
        try:
            version = await second.tx(pragma, "user_version")
            schema_after = await second.tx(schema_sql)
            channels = await second.tx(
                lambda c: [str(r[0]) for r in c.execute("SELECT name FROM channels")]
            )
        finally:
            await second.close()

        assert version == SCHEMA_VERSION
        assert schema_after == schema_before
        assert channels == ["amazon-uk"]

    async def test_open_refuses_database_from_newer_kccsync(
        self, db_path: Path
    ) -> None:
        await (await Store.open(db_path)).close()
        conn = sqlite3.connect(db_path)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.close()

        with pytest.raises(StoreError) as info:
            await Store.open(db_path)

        message = str(info.value)
        assert f"version {SCHEMA_VERSION + 1}" in message
        assert "newer than this kccsync supports" in message
        assert "\n" not in message

    async def test_open_refuses_a_file_that_is_not_a_database(
        self, db_path: Path
    ) -> None:
        write_garbage(db_path)

        with pytest.raises(StoreError) as info:
            await Store.open(db_path)

        assert str(db_path) in str(info.value)

    async def test_new_database_file_is_private(self, db_path: Path) -> None:
        store = await Store.open(db_path)
        await store.tx(orders.ensure_channel, "amazon-uk", "amazon", NOW)
        created = mode_of(db_path)
        await store.close()
        await (await Store.open(db_path)).close()  # reopening must not loosen it
        reopened = mode_of(db_path)

        assert created == 0o600
        assert reopened == 0o600

    async def test_open_creates_missing_parent_folder(self, tmp_path: Path) -> None:
        path = tmp_path / "var" / "lib" / "kccsync.db"

        store = await Store.open(path)
        await store.close()

        assert path.is_file()
        assert mode_of(path) == 0o600

    async def test_wal_and_foreign_keys_are_on(self, store: Store) -> None:
        journal = await store.tx(pragma, "journal_mode")
        foreign_keys = await store.tx(pragma, "foreign_keys")

        assert str(journal).lower() == "wal"
        assert foreign_keys == 1

    async def test_foreign_key_violation_rolls_back_the_transaction(
        self, store: Store, channel_id: int
    ) -> None:
        def bad(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO stock_items (code, created_at) VALUES ('X', ?)", (NOW,)
            )
            conn.execute(
                "INSERT INTO stock_skus (sku, stock_item_id) VALUES ('X', 9999)"
            )

        with pytest.raises(sqlite3.IntegrityError):
            await store.tx(bad)

        assert await store.tx(admin.list_stock) == []

    async def test_tx_rolls_back_when_the_function_raises(
        self, store: Store, channel_id: int
    ) -> None:
        def half_done(conn: sqlite3.Connection) -> None:
            orders.upsert_orders(conn, channel_id, [make_order("A")], NOW)
            raise RuntimeError("crash mid-unit")

        with pytest.raises(RuntimeError, match="crash mid-unit"):
            await store.tx(half_done)

        assert await store.tx(admin.list_orders, None, None) == []

    async def test_tx_after_close_raises_store_error(self, db_path: Path) -> None:
        store = await Store.open(db_path)
        await store.close()
        await store.close()  # closing twice is harmless

        with pytest.raises(StoreError, match="closed"):
            await store.tx(pragma, "user_version")


class TestUpsert:
    async def test_upsert_counts_new_then_updated(
        self, store: Store, channel_id: int
    ) -> None:
        first = await store.tx(
            orders.upsert_orders, channel_id, [make_order("A"), make_order("B")], NOW
        )
        second = await store.tx(
            orders.upsert_orders,
            channel_id,
            [
                make_order("B", status="Shipped", updated=timedelta(hours=1)),
                make_order("C"),
            ],
            NOW,
        )

        assert (first.new, first.updated) == (2, 0)
        assert (second.new, second.updated) == (1, 1)
        rows = await store.tx(admin.list_orders, None, None)
        assert {r["order_id"]: r["channel_status"] for r in rows} == {
            "A": "Unshipped",
            "B": "Shipped",
            "C": "Unshipped",
        }

    async def test_reupserting_the_same_page_changes_nothing(
        self, store: Store, channel_id: int
    ) -> None:
        page = [make_order("A"), make_order("B", items=(make_item("B-1"),))]
        await store.tx(orders.upsert_orders, channel_id, page, NOW)
        before = await store.tx(admin.list_orders, None, None)

        again = await store.tx(orders.upsert_orders, channel_id, page, NOW)

        assert again.new == 0
        assert await store.tx(admin.list_orders, None, None) == before

    async def test_pending_and_older_updates_are_not_stored(
        self, store: Store, channel_id: int
    ) -> None:
        await store.tx(
            orders.upsert_orders,
            channel_id,
            [make_order("A", updated=timedelta(hours=2))],
            NOW,
        )

        result = await store.tx(
            orders.upsert_orders,
            channel_id,
            [make_order("P", status="Pending"), make_order("A", status="Shipped")],
            NOW,
        )

        assert (result.new, result.skipped, result.stale) == (0, 1, 1)
        rows = await store.tx(admin.list_orders, None, None)
        assert [(r["order_id"], r["channel_status"]) for r in rows] == [
            ("A", "Unshipped")
        ]

    async def test_status_only_update_does_not_need_items_again(
        self, store: Store, channel_id: int
    ) -> None:
        await store.tx(orders.upsert_orders, channel_id, [make_order("A")], NOW)
        needing = await store.tx(orders.orders_needing_items, channel_id, 10)
        await store.tx(orders.save_items, needing[0][0], [make_item("A-1")], NOW)

        await store.tx(
            orders.upsert_orders,
            channel_id,
            [make_order("A", status="Shipped", updated=timedelta(minutes=5))],
            NOW,
        )

        assert [oid for _, oid in needing] == ["A"]
        assert await store.tx(orders.orders_needing_items, channel_id, 10) == []
        row = await store.tx(order_row, "A")
        assert (row["items_state"], row["channel_status"]) == ("done", "Shipped")
        ready = await store.tx(orders.orders_to_import, channel_id, 10)
        assert [len(c.raw_items) for c in ready] == [1]

    async def test_cancel_before_and_after_import(
        self, store: Store, channel_id: int
    ) -> None:
        await store.tx(admin.add_stock, "SKU-1", ["SKU-1"], None, NOW)
        code = await import_new(store, channel_id, "IMP")
        await store.tx(orders.upsert_orders, channel_id, [make_order("NEW")], NOW)
        later = timedelta(hours=1)

        result = await store.tx(
            orders.upsert_orders,
            channel_id,
            [
                make_order("IMP", status="Canceled", updated=later),
                make_order("NEW", status="Canceled", updated=later),
            ],
            NOW,
        )

        assert code is not None
        assert result.cancelled_after_import == ("IMP",)
        states = {
            r["order_id"]: (r["state"], bool(r["cancelled_after_import"]))
            for r in await store.tx(admin.list_orders, None, None)
        }
        assert states == {"IMP": ("imported", True), "NEW": ("cancelled", False)}


class TestImport:
    async def test_record_import_allocates_padded_codes_in_sequence(
        self, store: Store, channel_id: int
    ) -> None:
        await store.tx(admin.add_stock, "SKU-1", ["SKU-1"], "Widget", NOW)

        codes = [
            await import_new(store, channel_id, oid, prefix="KC-", digits=4)
            for oid in ("A", "B", "C")
        ]

        assert codes == ["KC-0001", "KC-0002", "KC-0003"]
        rows = await store.tx(admin.list_orders, None, "imported")
        assert sorted(r["so_code"] for r in rows) == codes

    async def test_so_codes_are_never_reused(
        self, db_path: Path, store: Store, channel_id: int
    ) -> None:
        """A second import of one order gets no code; a reopened store continues."""
        await store.tx(admin.add_stock, "SKU-1", ["SKU-1"], None, NOW)
        first = await import_new(store, channel_id, "A")
        row_a = await store.tx(row_id_of, "A")
        draft = await draft_for(store, make_order("A", items=(make_item("A-1"),)))
        again = await store.tx(orders.record_import, row_a, draft, "SO", 6, NOW)
        await store.close()

        reopened = await Store.open(db_path)
        try:
            second = await import_new(reopened, channel_id, "B")
            sales_orders = await reopened.tx(count_rows, "sales_orders")
        finally:
            await reopened.close()

        assert first is not None
        assert again is None
        assert second is not None
        assert first != second
        assert int(second.removeprefix("SO")) == int(first.removeprefix("SO")) + 1
        assert sales_orders == 2

    async def test_one_customer_per_buyer(self, store: Store, channel_id: int) -> None:
        await store.tx(admin.add_stock, "SKU-1", ["SKU-1"], None, NOW)
        await import_new(store, channel_id, "A")
        await import_new(store, channel_id, "B")
        # Same buyer e-mail (case differs) as A: same customer.
        order = make_order("C", items=(make_item("C-1"),))
        order = dataclasses.replace(order, buyer_email=" A@Marketplace.Example")
        await store.tx(orders.upsert_orders, channel_id, [order], NOW)
        draft = await draft_for(store, order)
        await store.tx(
            orders.record_import, await store.tx(row_id_of, "C"), draft, "SO", 6, NOW
        )

        rows = await store.tx(admin.list_orders, None, "imported")

        customers = {r["order_id"]: r["customer"] for r in rows}
        assert customers["A"] == customers["C"]
        assert customers["A"] != customers["B"]

    async def test_record_failure_keeps_a_readable_error(
        self, store: Store, channel_id: int
    ) -> None:
        await store.tx(orders.upsert_orders, channel_id, [make_order("A")], NOW)
        row_id = await store.tx(row_id_of, "A")
        message = "unknown stock code for SKU WIDGET-9, GADGET-2"

        await store.tx(orders.record_failure, row_id, message, NOW)

        detail = await store.tx(admin.order_detail, row_id)
        assert (detail["state"], detail["error"]) == ("failed", message)
        failed = await store.tx(admin.list_orders, None, "failed")
        assert [r["error"] for r in failed] == [message]

    async def test_record_failure_leaves_imported_orders_alone(
        self, store: Store, channel_id: int
    ) -> None:
        await store.tx(admin.add_stock, "SKU-1", ["SKU-1"], None, NOW)
        code = await import_new(store, channel_id, "A")
        row_id = await store.tx(row_id_of, "A")

        await store.tx(orders.record_failure, row_id, "late failure", NOW)

        detail = await store.tx(admin.order_detail, row_id)
        assert (detail["state"], detail["so_code"], detail["error"]) == (
            "imported",
            code,
            None,
        )

    async def test_record_results_mixes_drafts_and_errors(
        self, store: Store, channel_id: int
    ) -> None:
        await store.tx(admin.add_stock, "SKU-1", ["SKU-1"], None, NOW)
        good = make_order("A", items=(make_item("A-1"),))
        await store.tx(orders.upsert_orders, channel_id, [good, make_order("B")], NOW)
        draft = await draft_for(store, good)
        ids = [await store.tx(row_id_of, oid) for oid in ("A", "B")]

        codes = await store.tx(
            orders.record_results,
            [(ids[0], draft), (ids[1], "items without a price: B-1")],
            "SO",
            6,
            NOW,
        )

        assert codes[1] is None
        assert codes[0] is not None
        states = {
            r["order_id"]: (r["state"], r["so_code"], r["error"])
            for r in await store.tx(admin.list_orders, None, None)
        }
        assert states == {
            "A": ("imported", codes[0], None),
            "B": ("failed", None, "items without a price: B-1"),
        }

    async def test_lookup_skus_prefers_mapping_then_stock_code(
        self, store: Store
    ) -> None:
        await store.tx(admin.add_stock, "WIDGET", ["AMZ-WIDGET"], "A widget", NOW)
        await store.tx(admin.add_stock, "GADGET", [], None, NOW)

        found = await store.tx(
            orders.lookup_skus, ["AMZ-WIDGET", "GADGET", "WIDGET", "NOPE"]
        )

        assert {sku: ref.code for sku, ref in found.items()} == {
            "AMZ-WIDGET": "WIDGET",
            "GADGET": "GADGET",
            "WIDGET": "WIDGET",
        }
        assert found["AMZ-WIDGET"].description == "A widget"


class TestAdmin:
    async def _failed(self, store: Store, channel_id: int, order_id: str) -> int:
        await store.tx(orders.upsert_orders, channel_id, [make_order(order_id)], NOW)
        row_id = await store.tx(row_id_of, order_id)
        await store.tx(orders.record_failure, row_id, "boom", NOW)
        return row_id

    async def _act(self, store: Store, row_id: int, action: str) -> str:
        action_id = await store.tx(admin.queue_action, row_id, action, NOW)
        return await store.tx(admin.apply_action, action_id, row_id, action, NOW)

    async def test_queued_action_is_open_until_applied(
        self, store: Store, channel_id: int
    ) -> None:
        row_id = await self._failed(store, channel_id, "A")
        action_id = await store.tx(admin.queue_action, row_id, "ignore", NOW)
        open_before = await store.tx(admin.open_actions, channel_id)
        detail_before = await store.tx(admin.order_detail, row_id)

        result = await store.tx(admin.apply_action, action_id, row_id, "ignore", NOW)

        assert open_before == [(action_id, row_id, "ignore")]
        assert detail_before["open_actions"] == ["ignore"]
        assert result.startswith("done")
        assert await store.tx(admin.open_actions, channel_id) == []
        detail = await store.tx(admin.order_detail, row_id)
        assert (detail["state"], detail["open_actions"]) == ("ignored", [])

    async def test_ignored_order_stays_ignored_when_channel_updates_it(
        self, store: Store, channel_id: int
    ) -> None:
        row_id = await self._failed(store, channel_id, "A")
        await self._act(store, row_id, "ignore")

        await store.tx(
            orders.upsert_orders,
            channel_id,
            [make_order("A", status="Shipped", updated=timedelta(hours=1))],
            NOW,
        )

        row = await store.tx(order_row, "A")
        assert (row["state"], row["channel_status"]) == ("ignored", "Shipped")

    async def test_retry_download_requeues_order_and_items(
        self, store: Store, channel_id: int
    ) -> None:
        row_id = await self._failed(store, channel_id, "A")

        result = await self._act(store, row_id, "retry_download")

        assert result.startswith("done")
        assert await store.tx(orders.orders_to_redownload, channel_id, 10) == [
            (row_id, "A")
        ]
        row = await store.tx(order_row, "A")
        assert (row["state"], row["error"], row["items_state"]) == (
            "pending",
            None,
            "needed",
        )
        # Not fetched for items nor imported until the order itself came back.
        assert await store.tx(orders.orders_needing_items, channel_id, 10) == []
        assert await store.tx(orders.orders_to_import, channel_id, 10) == []

    async def test_retry_import_clears_the_error(
        self, store: Store, channel_id: int
    ) -> None:
        row_id = await self._failed(store, channel_id, "A")
        await store.tx(orders.save_items, row_id, [make_item("A-1")], NOW)

        result = await self._act(store, row_id, "retry_import")

        assert result.startswith("done")
        row = await store.tx(order_row, "A")
        assert (row["state"], row["error"]) == ("pending", None)
        ready = await store.tx(orders.orders_to_import, channel_id, 10)
        assert [c.order_id for c in ready] == ["A"]

    @pytest.mark.parametrize("action", ["ignore", "retry_download", "retry_import"])
    async def test_actions_on_imported_order_are_refused(
        self, store: Store, channel_id: int, action: str
    ) -> None:
        await store.tx(admin.add_stock, "SKU-1", ["SKU-1"], None, NOW)
        await import_new(store, channel_id, "A")
        row_id = await store.tx(row_id_of, "A")

        result = await self._act(store, row_id, action)

        assert result.startswith("refused")
        assert (await store.tx(order_row, "A"))["state"] == "imported"
        assert await store.tx(admin.open_actions, channel_id) == []

    @pytest.mark.parametrize("action", ["ignore", "retry_import"])
    async def test_actions_on_cancelled_order_are_refused(
        self, store: Store, channel_id: int, action: str
    ) -> None:
        await store.tx(
            orders.upsert_orders, channel_id, [make_order("X", status="Canceled")], NOW
        )
        row_id = await store.tx(row_id_of, "X")

        result = await self._act(store, row_id, action)

        assert "cancelled" in result
        assert result.startswith("refused")
        assert (await store.tx(order_row, "X"))["state"] == "cancelled"

    async def test_list_orders_filters_by_channel_and_state(
        self, store: Store, channel_id: int
    ) -> None:
        other = await store.tx(orders.ensure_channel, "amazon-de", "amazon", NOW)
        await store.tx(orders.upsert_orders, channel_id, [make_order("UK-1")], NOW)
        await store.tx(
            orders.upsert_orders,
            other,
            [make_order("DE-1"), make_order("DE-2", status="Canceled")],
            NOW,
        )

        uk = await store.tx(admin.list_orders, "amazon-uk", None)
        de_pending = await store.tx(admin.list_orders, "amazon-de", "pending")
        everything = await store.tx(admin.list_orders, None, None)

        assert [r["order_id"] for r in uk] == ["UK-1"]
        assert [r["order_id"] for r in de_pending] == ["DE-1"]
        assert sorted(r["order_id"] for r in everything) == ["DE-1", "DE-2", "UK-1"]
        assert {r["channel"] for r in everything} == {"amazon-uk", "amazon-de"}

    async def test_order_detail_shows_items_and_sales_order(
        self, store: Store, channel_id: int
    ) -> None:
        await store.tx(admin.add_stock, "WIDGET", ["SKU-1"], "A widget", NOW)
        code = await import_new(store, channel_id, "A")
        row_id = await store.tx(row_id_of, "A")

        detail = await store.tx(admin.order_detail, row_id)

        assert detail["so_code"] == code
        assert detail["items"] == [{"order_item_id": "A-1", "seller_sku": "SKU-1"}]
        sales = detail["sales_order"]
        assert sales["ship_postal_code"] == "N1 1AA"
        assert [(x["stock_code"], x["sku"], x["quantity"]) for x in sales["lines"]] == [
            ("WIDGET", "SKU-1", 1)
        ]
        assert Decimal(sales["goods_total"]) == Decimal("12.00")

    async def test_resolve_ref_finds_order_id_and_so_code(
        self, store: Store, channel_id: int
    ) -> None:
        await store.tx(admin.add_stock, "SKU-1", ["SKU-1"], None, NOW)
        code = await import_new(store, channel_id, "A")
        assert code is not None
        row_id = await store.tx(row_id_of, "A")

        by_order = await store.tx(admin.resolve_ref, "A")
        by_code = await store.tx(admin.resolve_ref, code)
        missing = await store.tx(admin.resolve_ref, "NOPE")

        assert by_order == by_code == [row_id]
        assert missing == []

    async def test_add_stock_reports_moved_skus(self, store: Store) -> None:
        await store.tx(admin.add_stock, "OLD", ["S1", "S2"], None, NOW)

        moved = await store.tx(admin.add_stock, "NEW", ["S2", "S3"], "new one", NOW)

        assert moved == ["S2"]
        assert await store.tx(admin.list_stock) == [
            {"code": "NEW", "description": "new one", "skus": ["S2", "S3"]},
            {"code": "OLD", "description": None, "skus": ["S1"]},
        ]


class TestFeedback:
    async def test_raise_notification_dedupes_while_open(
        self, store: Store, channel_id: int
    ) -> None:
        times = [iso(T0 + timedelta(minutes=m)) for m in (0, 5, 9)]

        fresh = [
            await store.tx(
                feedback.raise_notification,
                channel_id,
                "orders_throttled",
                "warning",
                "Error downloading orders: Request is throttled",
                f"attempt {n}",
                when,
            )
            for n, when in enumerate(times)
        ]

        assert fresh == [True, False, False]
        rows = await store.tx(admin.list_notifications, None, include_resolved=False)
        assert len(rows) == 1
        note = rows[0]
        assert (note["count"], note["first_seen"], note["last_seen"]) == (
            3,
            times[0],
            times[-1],
        )
        assert note["details"] == "attempt 2"

    async def test_resolve_clears_and_a_new_occurrence_starts_over(
        self, store: Store, channel_id: int
    ) -> None:
        args = ("k", "error", "Error downloading orders", None)
        await store.tx(feedback.raise_notification, channel_id, *args, NOW)
        await store.tx(feedback.raise_notification, channel_id, *args, NOW)

        closed = await store.tx(feedback.resolve_notifications, channel_id, ["k"], NOW)
        closed_again = await store.tx(
            feedback.resolve_notifications, channel_id, ["k"], NOW
        )
        open_keys = await store.tx(feedback.open_notification_keys, channel_id)
        reopened = await store.tx(feedback.raise_notification, channel_id, *args, NOW)

        assert (closed, closed_again) == (1, 0)
        assert open_keys == set()
        assert reopened is True
        everything = await store.tx(
            admin.list_notifications, None, include_resolved=True
        )
        assert sorted((n["count"], n["resolved_at"] is None) for n in everything) == [
            (1, True),
            (2, False),
        ]

    async def test_task_failed_then_succeeded(
        self, store: Store, channel_id: int
    ) -> None:
        await store.tx(
            feedback.task_failed,
            channel_id,
            "orders",
            "orders_error",
            "error",
            "Error downloading orders",
            "HTTP 500",
            iso(T0),
        )
        later = iso(T0 + timedelta(minutes=2))

        resolved = await store.tx(
            feedback.task_succeeded, channel_id, "orders", ["orders_error"], later
        )

        assert resolved == 1
        tasks = await store.tx(admin.list_tasks, "amazon-uk")
        assert [
            (t["task"], t["last_run"], t["last_success"], t["last_error"])
            for t in tasks
        ] == [("orders", later, later, "HTTP 500")]

    async def test_sync_state_round_trips(self, store: Store, channel_id: int) -> None:
        await store.tx(feedback.set_state, channel_id, "watermark", iso(T0))
        await store.tx(feedback.set_state, channel_id, "watermark", NOW)

        value = await store.tx(feedback.get_state, channel_id, "watermark")
        missing = await store.tx(feedback.get_state, channel_id, "other")

        assert (value, missing) == (NOW, None)

    async def test_bucket_rows_round_trip(
        self, db_path: Path, store: Store, channel_id: int
    ) -> None:
        rows: Sequence[feedback.BucketRow] = [
            feedback.BucketRow("orders", 2.5, 60.0, 60.0, iso(T0)),
            feedback.BucketRow("order_items", 30.0, 3.25, 2.0, iso(T0)),
        ]
        await store.tx(feedback.save_buckets, channel_id, rows)
        updated = feedback.BucketRow("orders", 0.0, 75.0, 60.0, NOW)
        await store.tx(feedback.save_buckets, channel_id, [updated])
        await store.close()

        reopened = await Store.open(db_path)
        try:
            loaded = await reopened.tx(feedback.load_buckets, channel_id)
            other = await reopened.tx(feedback.load_buckets, channel_id + 1)
        finally:
            await reopened.close()

        assert sorted(loaded, key=lambda r: r.operation) == [rows[1], updated]
        assert other == []
