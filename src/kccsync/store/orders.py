"""SQL for channel orders, their items and their import into sales orders.

Every function takes the connection first and runs inside the caller's
transaction (`Database.tx`), so a page of orders or one import is atomic.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kccsync.importer import SalesOrderDraft, StockRef
from kccsync.models import ChannelOrder, ChannelOrderItem, OrderState
from kccsync.rules import Change, Stored, decide
from kccsync.timeutil import iso, parse_iso


@dataclass(frozen=True)
class UpsertResult:
    new: int = 0
    updated: int = 0
    stale: int = 0
    skipped: int = 0
    cancelled_after_import: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportCandidate:
    row_id: int
    order_id: str
    raw_order: str
    raw_items: tuple[str, ...]


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def ensure_channel(conn: sqlite3.Connection, name: str, type_: str, now: str) -> int:
    conn.execute(
        "INSERT INTO channels (name, type, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO NOTHING",
        (name, type_, now),
    )
    row = conn.execute("SELECT id FROM channels WHERE name = ?", (name,)).fetchone()
    return int(row["id"])


def _replace_items(
    conn: sqlite3.Connection, row_id: int, items: Iterable[ChannelOrderItem]
) -> None:
    conn.execute(
        "DELETE FROM channel_order_items WHERE channel_order_id = ?", (row_id,)
    )
    conn.executemany(
        "INSERT INTO channel_order_items (channel_order_id, order_item_id, seller_sku,"
        " raw_item) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(row_id, i.order_item_id, i.sku, _json(i.raw)) for i in items],
    )


def upsert_orders(
    conn: sqlite3.Connection,
    channel_id: int,
    orders: Sequence[ChannelOrder],
    now: str,
) -> UpsertResult:
    """Apply one page of downloaded orders (rules in `kccsync.rules`)."""
    new = updated = stale = skipped = 0
    cancelled_after: list[str] = []
    for order in orders:
        row = conn.execute(
            "SELECT id, state, last_update, cancelled_after_import FROM channel_orders"
            " WHERE channel_id = ? AND order_id = ?",
            (channel_id, order.order_id),
        ).fetchone()
        stored = (
            None
            if row is None
            else Stored(
                state=OrderState(row["state"]),
                last_update=parse_iso(row["last_update"]),
                cancelled_after_import=bool(row["cancelled_after_import"]),
            )
        )
        change = decide(stored, order.status, order.last_update)
        if change is Change.SKIP:
            skipped += 1
            continue
        if change is Change.STALE:
            stale += 1
            continue
        if row is None:
            state = (
                OrderState.PENDING
                if change is Change.INSERT_PENDING
                else OrderState.CANCELLED
            )
            cur = conn.execute(
                "INSERT INTO channel_orders (channel_id, order_id, state,"
                " channel_status,"
                " fulfillment, marketplace_id, purchase_date, last_update, raw_order,"
                " items_state, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    channel_id,
                    order.order_id,
                    state.value,
                    order.status,
                    order.fulfillment.value,
                    order.marketplace_id,
                    iso(order.purchase_date),
                    iso(order.last_update),
                    _json(order.raw),
                    "needed" if order.items is None else "inline",
                    now,
                    now,
                ),
            )
            row_id = int(cur.lastrowid or 0)
            if order.items is not None:
                _replace_items(conn, row_id, order.items)
            new += 1
            continue
        row_id = int(row["id"])
        sets = [
            "channel_status = ?",
            "last_update = ?",
            "raw_order = ?",
            "updated_at = ?",
        ]
        args: list[object] = [
            order.status,
            iso(order.last_update),
            _json(order.raw),
            now,
        ]
        if change is Change.CANCEL_BEFORE_IMPORT:
            sets += ["state = 'cancelled'", "error = NULL"]
        elif change is Change.CANCEL_AFTER_IMPORT:
            sets.append("cancelled_after_import = 1")
            cancelled_after.append(order.order_id)
        elif change is Change.REQUEUE_IMPORT:
            sets += ["state = 'pending'", "error = NULL"]
        if order.items is not None:
            _replace_items(conn, row_id, order.items)
            sets.append("items_state = 'inline'")
        conn.execute(
            f"UPDATE channel_orders SET {', '.join(sets)} WHERE id = ?",  # noqa: S608
            (*args, row_id),
        )
        updated += 1
    return UpsertResult(new, updated, stale, skipped, tuple(cancelled_after))


def orders_needing_items(
    conn: sqlite3.Connection, channel_id: int, limit: int
) -> list[tuple[int, str]]:
    """Pending orders whose items were never downloaded, oldest first."""
    rows = conn.execute(
        "SELECT id, order_id FROM channel_orders"
        " WHERE channel_id = ? AND state = 'pending'"
        " AND items_state = 'needed' AND redownload = 0 ORDER BY id LIMIT ?",
        (channel_id, limit),
    ).fetchall()
    return [(int(r["id"]), str(r["order_id"])) for r in rows]


def orders_to_redownload(
    conn: sqlite3.Connection, channel_id: int, limit: int
) -> list[tuple[int, str]]:
    rows = conn.execute(
        "SELECT id, order_id FROM channel_orders"
        " WHERE channel_id = ? AND redownload = 1"
        " ORDER BY id LIMIT ?",
        (channel_id, limit),
    ).fetchall()
    return [(int(r["id"]), str(r["order_id"])) for r in rows]


def save_items(
    conn: sqlite3.Connection, row_id: int, items: Sequence[ChannelOrderItem], now: str
) -> None:
    _replace_items(conn, row_id, items)
    conn.execute(
        "UPDATE channel_orders SET items_state = 'done', updated_at = ? WHERE id = ?",
        (now, row_id),
    )


def replace_order(
    conn: sqlite3.Connection, row_id: int, order: ChannelOrder, now: str
) -> None:
    """Retry download, first stage: the order as the channel has it now."""
    conn.execute(
        "UPDATE channel_orders SET channel_status = ?, fulfillment = ?,"
        " last_update = ?,"
        " raw_order = ?, redownload = 0, items_state = ?, error = NULL,"
        " state = CASE WHEN ? = 'Canceled' AND state != 'imported' THEN 'cancelled'"
        " ELSE state END, updated_at = ? WHERE id = ?",
        (
            order.status,
            order.fulfillment.value,
            iso(order.last_update),
            _json(order.raw),
            "needed" if order.items is None else "inline",
            order.status,
            now,
            row_id,
        ),
    )
    if order.items is not None:
        _replace_items(conn, row_id, order.items)


def orders_to_import(
    conn: sqlite3.Connection, channel_id: int, limit: int
) -> list[ImportCandidate]:
    rows = conn.execute(
        "SELECT id, order_id, raw_order FROM channel_orders WHERE channel_id = ?"
        " AND state = 'pending' AND items_state != 'needed' AND redownload = 0"
        " ORDER BY id LIMIT ?",
        (channel_id, limit),
    ).fetchall()
    out = []
    for r in rows:
        items = conn.execute(
            "SELECT raw_item FROM channel_order_items WHERE channel_order_id = ?"
            " ORDER BY id",
            (r["id"],),
        ).fetchall()
        out.append(
            ImportCandidate(
                int(r["id"]), r["order_id"], r["raw_order"], tuple(i[0] for i in items)
            )
        )
    return out


def lookup_skus(conn: sqlite3.Connection, skus: Iterable[str]) -> dict[str, StockRef]:
    """Map SKUs to stock items: an explicit SKU mapping first, then the stock code."""
    found: dict[str, StockRef] = {}
    for sku in set(skus):
        row = (
            conn.execute(
                "SELECT s.id, s.code, s.description FROM stock_skus k"
                " JOIN stock_items s ON s.id = k.stock_item_id WHERE k.sku = ?",
                (sku,),
            ).fetchone()
            or conn.execute(
                "SELECT id, code, description FROM stock_items WHERE code = ?", (sku,)
            ).fetchone()
        )
        if row is not None:
            found[sku] = StockRef(int(row[0]), str(row[1]), row[2])
    return found


def _next(conn: sqlite3.Connection, counter: str) -> int:
    row = conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT (name)"
        " DO UPDATE SET value = value + 1 RETURNING value",
        (counter,),
    ).fetchone()
    return int(row[0])


def _customer_id(
    conn: sqlite3.Connection, channel_id: int, draft: SalesOrderDraft, now: str
) -> int:
    c = draft.customer
    row = conn.execute(
        "SELECT id FROM customers WHERE channel_id = ? AND buyer_key = ?",
        (channel_id, c.buyer_key),
    ).fetchone()
    if row is not None:
        return int(row[0])
    code = f"C{_next(conn, 'customer'):06d}"
    cur = conn.execute(
        "INSERT INTO customers (code, channel_id, buyer_key, name, email, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (code, channel_id, c.buyer_key, c.name, c.email, now),
    )
    return int(cur.lastrowid or 0)


def record_import(
    conn: sqlite3.Connection,
    row_id: int,
    draft: SalesOrderDraft,
    so_prefix: str,
    so_digits: int,
    now: str,
) -> str | None:
    """Create the sales order and mark the order imported; None if it is not pending.

    The SO number comes from a counter in this same transaction, so a crash
    either keeps both or neither, and a number is never handed out twice.
    """
    row = conn.execute(
        "SELECT channel_id, state FROM channel_orders WHERE id = ?", (row_id,)
    ).fetchone()
    if row is None or row["state"] != OrderState.PENDING.value:
        return None
    customer_id = _customer_id(conn, int(row["channel_id"]), draft, now)
    so_code = f"{so_prefix}{_next(conn, 'sales_order'):0{so_digits}d}"
    a = draft.ship_to
    cur = conn.execute(
        "INSERT INTO sales_orders (so_code, channel_order_id, customer_id, currency,"
        " goods_total, shipping_total, discount_total, tax_total, order_total,"
        " prices_include_tax, fulfilled_by_channel, ship_name, ship_company,"
        " ship_line1, ship_line2, ship_line3, ship_city, ship_region,"
        " ship_postal_code, ship_country,"
        " ship_phone, created_at) VALUES"
        " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            so_code,
            row_id,
            customer_id,
            draft.currency,
            str(draft.goods_total),
            str(draft.shipping_total),
            str(draft.discount_total),
            str(draft.tax_total),
            str(draft.order_total),
            int(draft.prices_include_tax),
            int(draft.fulfilled_by_channel),
            a.name if a else None,
            a.company if a else None,
            a.line1 if a else None,
            a.line2 if a else None,
            a.line3 if a else None,
            a.city if a else None,
            a.state_or_region if a else None,
            a.postal_code if a else None,
            a.country_code if a else None,
            a.phone if a else None,
            now,
        ),
    )
    so_id = int(cur.lastrowid or 0)
    conn.executemany(
        "INSERT INTO sales_order_lines (sales_order_id, line_no, stock_item_id, sku,"
        " order_item_id, description, quantity, line_total, line_tax)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                so_id,
                n,
                line.stock_item_id,
                line.sku,
                line.order_item_id,
                line.description,
                line.quantity,
                str(line.line_total),
                str(line.line_tax),
            )
            for n, line in enumerate(draft.lines, start=1)
        ],
    )
    conn.execute(
        "UPDATE channel_orders SET state = 'imported', error = NULL, updated_at = ?"
        " WHERE id = ?",
        (now, row_id),
    )
    return so_code


def record_failure(
    conn: sqlite3.Connection, row_id: int, message: str, now: str
) -> None:
    conn.execute(
        "UPDATE channel_orders SET state = 'failed', error = ?, updated_at = ?"
        " WHERE id = ? AND state = 'pending'",
        (message, now, row_id),
    )


def record_results(
    conn: sqlite3.Connection,
    results: Sequence[tuple[int, SalesOrderDraft | str]],
    so_prefix: str,
    so_digits: int,
    now: str,
) -> list[str | None]:
    """Record a batch of import outcomes (a draft, or an error text) in one transaction.

    Each SO code is still allocated in the transaction that records its import.
    Returns the SO code per entry (None for failures and orders no longer pending).
    """
    codes: list[str | None] = []
    for row_id, outcome in results:
        if isinstance(outcome, str):
            record_failure(conn, row_id, outcome, now)
            codes.append(None)
        else:
            codes.append(
                record_import(conn, row_id, outcome, so_prefix, so_digits, now)
            )
    return codes


def clear_redownload(conn: sqlite3.Connection, row_id: int) -> None:
    conn.execute("UPDATE channel_orders SET redownload = 0 WHERE id = ?", (row_id,))


def count_states(conn: sqlite3.Connection, channel_id: int) -> dict[str, int]:
    """How many of the channel's orders are in each state (cheap progress check)."""
    rows = conn.execute(
        "SELECT state, COUNT(*) FROM channel_orders WHERE channel_id = ?"
        " GROUP BY state",
        (channel_id,),
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def imported_at(conn: sqlite3.Connection, channel_id: int) -> dict[str, str]:
    """When each of the channel's imported orders became a sales order (by id)."""
    rows = conn.execute(
        "SELECT o.order_id, s.created_at FROM sales_orders s"
        " JOIN channel_orders o ON o.id = s.channel_order_id WHERE o.channel_id = ?",
        (channel_id,),
    ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}
