"""SQL for the operator's side: order views, actions, dispatch, stock list, views."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ACTIONS = ("ignore", "retry_download", "retry_import")


@dataclass(frozen=True)
class ShipmentDue:
    notification_id: int
    order_id: str
    marketplace_id: str
    carrier_code: str
    carrier_name: str | None
    tracking_number: str
    ship_date: str
    attempts: int
    lines: tuple[tuple[str, int], ...]  # (order_item_id, quantity)


_ORDER_VIEW = """
SELECT c.name AS channel, o.id AS row_id, o.order_id, o.state, o.channel_status,
       o.fulfillment, o.marketplace_id, o.purchase_date, o.last_update, s.so_code,
       cu.code AS customer, o.error, n.state AS shipping_notification,
       o.cancelled_after_import, o.items_state, o.redownload
FROM channel_orders o
JOIN channels c ON c.id = o.channel_id
LEFT JOIN sales_orders s ON s.channel_order_id = o.id
LEFT JOIN customers cu ON cu.id = s.customer_id
LEFT JOIN shipping_notifications n ON n.sales_order_id = s.id
"""


def list_orders(
    conn: sqlite3.Connection, channel: str | None, state: str | None
) -> list[dict[str, Any]]:
    where, args = [], []
    if channel is not None:
        where.append("c.name = ?")
        args.append(channel)
    if state is not None:
        where.append("o.state = ?")
        args.append(state)
    sql = _ORDER_VIEW + (" WHERE " + " AND ".join(where) if where else "")
    rows = conn.execute(sql + " ORDER BY o.purchase_date, o.id", args).fetchall()
    return [dict(r) for r in rows]


def resolve_ref(conn: sqlite3.Connection, ref: str) -> list[int]:
    """Row ids for a channel order id or an SO code (several if ambiguous)."""
    rows = conn.execute(
        "SELECT o.id FROM channel_orders o LEFT JOIN sales_orders s"
        " ON s.channel_order_id = o.id WHERE o.order_id = ? OR s.so_code = ?",
        (ref, ref),
    ).fetchall()
    return [int(r[0]) for r in rows]


def order_detail(conn: sqlite3.Connection, row_id: int) -> dict[str, Any]:
    order = dict(conn.execute(_ORDER_VIEW + " WHERE o.id = ?", (row_id,)).fetchone())
    order["items"] = [
        dict(r)
        for r in conn.execute(
            "SELECT order_item_id, seller_sku FROM channel_order_items"
            " WHERE channel_order_id = ? ORDER BY id",
            (row_id,),
        )
    ]
    so = conn.execute(
        "SELECT id, currency, goods_total, shipping_total, discount_total, tax_total,"
        " order_total, prices_include_tax, fulfilled_by_channel, ship_city,"
        " ship_postal_code, ship_country, issued_at FROM sales_orders"
        " WHERE channel_order_id = ?",
        (row_id,),
    ).fetchone()
    order["sales_order"] = None
    if so is not None:
        sales = dict(so)
        sales["lines"] = [
            dict(r)
            for r in conn.execute(
                "SELECT l.line_no, s.code AS stock_code, l.sku, l.order_item_id,"
                " l.description, l.quantity, l.line_total, l.line_tax"
                " FROM sales_order_lines l JOIN stock_items s ON s.id = l.stock_item_id"
                " WHERE l.sales_order_id = ? ORDER BY l.line_no",
                (sales.pop("id"),),
            )
        ]
        order["sales_order"] = sales
    order["open_actions"] = [
        str(r[0])
        for r in conn.execute(
            "SELECT action FROM actions WHERE channel_order_id = ? AND done_at IS NULL"
            " ORDER BY id",
            (row_id,),
        )
    ]
    return order


def queue_action(conn: sqlite3.Connection, row_id: int, action: str, now: str) -> int:
    cur = conn.execute(
        "INSERT INTO actions (channel_order_id, action, requested_at) VALUES (?, ?, ?)",
        (row_id, action, now),
    )
    return int(cur.lastrowid or 0)


def open_actions(
    conn: sqlite3.Connection, channel_id: int
) -> list[tuple[int, int, str]]:
    rows = conn.execute(
        "SELECT a.id, a.channel_order_id, a.action FROM actions a"
        " JOIN channel_orders o ON o.id = a.channel_order_id"
        " WHERE a.done_at IS NULL AND o.channel_id = ? ORDER BY a.id",
        (channel_id,),
    ).fetchall()
    return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]


def channels_with_open_actions(conn: sqlite3.Connection) -> list[int]:
    """Ids of the channels that have actions not yet carried out."""
    rows = conn.execute(
        "SELECT DISTINCT o.channel_id FROM actions a"
        " JOIN channel_orders o ON o.id = a.channel_order_id WHERE a.done_at IS NULL"
    ).fetchall()
    return [int(r[0]) for r in rows]


def apply_action(
    conn: sqlite3.Connection, action_id: int, row_id: int, action: str, now: str
) -> str:
    """Carry out one operator action; the result text is stored with it."""
    row = conn.execute(
        "SELECT state FROM channel_orders WHERE id = ?", (row_id,)
    ).fetchone()
    state = str(row[0])
    if state == "imported":
        result = "refused: the order is already imported"
    elif action == "ignore":
        if state == "cancelled":
            result = "refused: the order was cancelled on the channel"
        else:
            conn.execute(
                "UPDATE channel_orders SET state = 'ignored', updated_at = ?"
                " WHERE id = ?",
                (now, row_id),
            )
            result = "done: ignored"
    elif action == "retry_download":
        # Stage one fetches the order again; stage two (items) follows by itself.
        conn.execute(
            "UPDATE channel_orders SET state = 'pending', error = NULL, redownload = 1,"
            " items_state = 'needed', updated_at = ? WHERE id = ?",
            (now, row_id),
        )
        result = "done: queued for download"
    elif state == "cancelled":
        result = "refused: the order was cancelled on the channel"
    else:
        conn.execute(
            "UPDATE channel_orders SET state = 'pending', error = NULL, updated_at = ?"
            " WHERE id = ?",
            (now, row_id),
        )
        result = "done: queued for import"
    conn.execute(
        "UPDATE actions SET done_at = ?, result = ? WHERE id = ?",
        (now, result, action_id),
    )
    return result


def issue_order(
    conn: sqlite3.Connection,
    row_id: int,
    *,
    carrier_code: str,
    carrier_name: str | None,
    tracking_number: str,
    ship_date: str,
    hold: bool,
    now: str,
) -> str:
    """Mark an imported order dispatched and queue its shipping notification."""
    row = conn.execute(
        "SELECT o.channel_id, o.fulfillment, o.state, s.id AS so_id, s.so_code,"
        " s.issued_at FROM channel_orders o"
        " LEFT JOIN sales_orders s ON s.channel_order_id = o.id WHERE o.id = ?",
        (row_id,),
    ).fetchone()
    if row["so_id"] is None:
        raise ValueError(f"order is {row['state']}, not imported: nothing to dispatch")
    if row["issued_at"] is not None:
        raise ValueError(f"{row['so_code']} was already issued at {row['issued_at']}")
    conn.execute(
        "UPDATE sales_orders SET issued_at = ? WHERE id = ?", (now, row["so_id"])
    )
    if row["fulfillment"] == "AFN":
        return (
            f"{row['so_code']} issued (fulfilled by Amazon: no shipping notification)"
        )
    state = "held" if hold else "pending"
    conn.execute(
        "INSERT INTO shipping_notifications (sales_order_id, channel_id, state,"
        " carrier_code, carrier_name, tracking_number, ship_date, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            row["so_id"],
            row["channel_id"],
            state,
            carrier_code,
            carrier_name,
            tracking_number,
            ship_date,
            now,
        ),
    )
    return f"{row['so_code']} issued; shipping notification {state}"


def set_hold(conn: sqlite3.Connection, channel_id: int, *, hold: bool) -> int:
    """Hold pending notifications (upload switched off) or release held ones."""
    old, new = ("pending", "held") if hold else ("held", "pending")
    cur = conn.execute(
        "UPDATE shipping_notifications SET state = ?"
        " WHERE channel_id = ? AND state = ?",
        (new, channel_id, old),
    )
    return cur.rowcount


def shipments_due(
    conn: sqlite3.Connection, channel_id: int, limit: int
) -> list[ShipmentDue]:
    rows = conn.execute(
        "SELECT n.id, n.sales_order_id, o.order_id, o.marketplace_id, n.carrier_code,"
        " n.carrier_name, n.tracking_number, n.ship_date, n.attempts"
        " FROM shipping_notifications n JOIN sales_orders s ON s.id = n.sales_order_id"
        " JOIN channel_orders o ON o.id = s.channel_order_id"
        " WHERE n.channel_id = ? AND n.state = 'pending' ORDER BY n.id LIMIT ?",
        (channel_id, limit),
    ).fetchall()
    out = []
    for r in rows:
        lines = conn.execute(
            "SELECT order_item_id, quantity FROM sales_order_lines"
            " WHERE sales_order_id = ? ORDER BY line_no",
            (r["sales_order_id"],),
        ).fetchall()
        out.append(
            ShipmentDue(
                int(r["id"]),
                r["order_id"],
                r["marketplace_id"],
                r["carrier_code"],
                r["carrier_name"],
                r["tracking_number"],
                r["ship_date"],
                int(r["attempts"]),
                tuple((str(x[0]), int(x[1])) for x in lines),
            )
        )
    return out


def mark_shipment(
    conn: sqlite3.Connection,
    notification_id: int,
    *,
    uploaded: bool,
    error: str | None,
    give_up: bool,
    now: str,
) -> None:
    if uploaded:
        conn.execute(
            "UPDATE shipping_notifications SET state = 'uploaded', uploaded_at = ?,"
            " attempts = attempts + 1, last_error = NULL WHERE id = ?",
            (now, notification_id),
        )
    else:
        conn.execute(
            "UPDATE shipping_notifications SET attempts = attempts + 1, last_error = ?,"
            " state = CASE WHEN ? THEN 'failed' ELSE state END WHERE id = ?",
            (error, int(give_up), notification_id),
        )


def add_stock(
    conn: sqlite3.Connection,
    code: str,
    skus: Sequence[str],
    description: str | None,
    now: str,
) -> list[str]:
    """Create (or extend) a stock item and map SKUs to it; returns SKUs remapped."""
    conn.execute(
        "INSERT INTO stock_items (code, description, created_at) VALUES (?, ?, ?)"
        " ON CONFLICT (code) DO UPDATE SET description ="
        " COALESCE(excluded.description, stock_items.description)",
        (code, description, now),
    )
    item_id = int(
        conn.execute("SELECT id FROM stock_items WHERE code = ?", (code,)).fetchone()[0]
    )
    moved = []
    for sku in skus:
        old = conn.execute(
            "SELECT stock_item_id FROM stock_skus WHERE sku = ?", (sku,)
        ).fetchone()
        if old is not None and int(old[0]) != item_id:
            moved.append(sku)
        conn.execute(
            "INSERT INTO stock_skus (sku, stock_item_id) VALUES (?, ?)"
            " ON CONFLICT (sku) DO UPDATE SET stock_item_id = excluded.stock_item_id",
            (sku, item_id),
        )
    return moved


def list_stock(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT s.code, s.description, group_concat(k.sku, ' ') AS skus"
        " FROM stock_items s LEFT JOIN stock_skus k ON k.stock_item_id = s.id"
        " GROUP BY s.id ORDER BY s.code"
    ).fetchall()
    return [
        {"code": r[0], "description": r[1], "skus": sorted((r[2] or "").split())}
        for r in rows
    ]


def list_tasks(conn: sqlite3.Connection, channel: str | None) -> list[dict[str, Any]]:
    sql = (
        "SELECT c.name AS channel, t.task, t.last_run, t.last_success, t.last_error,"
        " t.last_error_at FROM tasks t JOIN channels c ON c.id = t.channel_id"
    )
    args: tuple[str, ...] = ()
    if channel is not None:
        sql += " WHERE c.name = ?"
        args = (channel,)
    return [dict(r) for r in conn.execute(sql + " ORDER BY c.name, t.task", args)]


def list_notifications(
    conn: sqlite3.Connection, channel: str | None, *, include_resolved: bool
) -> list[dict[str, Any]]:
    sql = (
        "SELECT c.name AS channel, n.key, n.severity, n.message, n.details,"
        " n.first_seen, n.last_seen, n.count, n.resolved_at"
        " FROM notifications n JOIN channels c ON c.id = n.channel_id WHERE 1 = 1"
    )
    args: list[str] = []
    if channel is not None:
        sql += " AND c.name = ?"
        args.append(channel)
    if not include_resolved:
        sql += " AND n.resolved_at IS NULL"
    return [dict(r) for r in conn.execute(sql + " ORDER BY n.last_seen DESC", args)]
