"""Queries the items loop runs before every batch cost the same with 10 or 10,000 rows.

`kccsync bench` found `orders_to_redownload` reading every row of the channel
(the raw JSON included) before each batch of ten orders: quadratic in the backlog.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kccsync.store import orders
from kccsync.store.db import connect

NOW = "2026-03-01T12:00:00Z"


def _vm_steps(conn: sqlite3.Connection, channel_id: int) -> int:
    """SQLite virtual-machine instructions (in hundreds) for one redownload look."""
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(tick, 100)
    try:
        orders.orders_to_redownload(conn, channel_id, 10)
    finally:
        conn.set_progress_handler(None, 0)
    return steps


def _add_orders(conn: sqlite3.Connection, channel_id: int, start: int, n: int) -> None:
    conn.executemany(
        "INSERT INTO channel_orders (channel_id, order_id, state, channel_status,"
        " fulfillment, marketplace_id, purchase_date, last_update, raw_order,"
        " created_at, updated_at) VALUES (?, ?, 'pending', 'Unshipped', 'MFN',"
        " 'A1F83G8C2ARO7P', ?, ?, ?, ?, ?)",
        [
            (channel_id, f"202-{i:07d}-0000000", NOW, NOW, "{}" * 500, NOW, NOW)
            for i in range(start, start + n)
        ],
    )


def test_redownload_lookup_does_not_grow_with_the_backlog(tmp_path: Path) -> None:
    """With an index on the flagged rows, 5,000 more rows cost no more steps."""
    conn = connect(tmp_path / "kccsync.db")
    try:
        channel_id = orders.ensure_channel(conn, "sim-1", "amazon", NOW)
        _add_orders(conn, channel_id, 0, 10)
        few = _vm_steps(conn, channel_id)
        _add_orders(conn, channel_id, 10, 5000)
        many = _vm_steps(conn, channel_id)
    finally:
        conn.close()

    assert many <= few + 1
