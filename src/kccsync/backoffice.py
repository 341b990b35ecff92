"""Operator commands on the store: views, order actions, dispatch, stock.

The CLI parses and prints; this module opens the database and runs one unit of
work per command. Actions are stored durably and carried out by the daemon.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from kccsync.config import Config
from kccsync.errors import KccsyncError
from kccsync.store import Store, admin
from kccsync.timeutil import iso

ACTION_NAMES = {
    "ignore": "ignore",
    "retry-download": "retry_download",
    "retry-import": "retry_import",
}


class OperationError(KccsyncError):
    """A command could not do what was asked (exit code 1)."""


async def _open(config: Config) -> Store:
    if not config.system.database.exists():
        raise OperationError(
            f"database {config.system.database} does not exist yet: start the daemon "
            "(kccsync run) first"
        )
    return await Store.open(config.system.database)


def _public_order(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "channel": row["channel"],
        "order_id": row["order_id"],
        "state": row["state"],
        "channel_status": row["channel_status"],
        "fulfillment": row["fulfillment"],
        "purchase_date": row["purchase_date"],
        "last_update": row["last_update"],
        "so_code": row["so_code"],
        "customer": row["customer"],
        "error": row["error"],
        "shipping_notification": row["shipping_notification"],
        "cancelled_after_import": bool(row["cancelled_after_import"]),
    }


async def list_orders(
    config: Config, *, channel: str | None, state: str | None
) -> list[dict[str, Any]]:
    store = await _open(config)
    try:
        rows = await store.tx(admin.list_orders, channel, state)
    finally:
        await store.close()
    return [_public_order(r) for r in rows]


async def _resolve(store: Store, ref: str) -> int:
    rows = await store.tx(admin.resolve_ref, ref)
    if not rows:
        raise OperationError(
            f"{ref}: no such order (give a channel order id or SO code)"
        )
    if len(rows) > 1:
        raise OperationError(f"{ref}: matches orders on several channels")
    return rows[0]


async def show_order(config: Config, ref: str) -> dict[str, Any]:
    store = await _open(config)
    try:
        detail = await store.tx(admin.order_detail, await _resolve(store, ref))
    finally:
        await store.close()
    out = _public_order(detail)
    out.update(
        marketplace_id=detail["marketplace_id"],
        items_state=detail["items_state"],
        items=detail["items"],
        sales_order=detail["sales_order"],
        open_actions=detail["open_actions"],
    )
    return out


async def queue_actions(
    config: Config, action: str, refs: Sequence[str], now: datetime
) -> list[str]:
    """Queue an action per order; every reference is checked before any is queued."""
    store = await _open(config)
    try:
        row_ids = [await _resolve(store, ref) for ref in refs]
        for row_id in row_ids:
            await store.tx(admin.queue_action, row_id, ACTION_NAMES[action], iso(now))
    finally:
        await store.close()
    return [f"{ref}: {action} queued" for ref in refs]


async def issue_order(
    config: Config,
    ref: str,
    *,
    carrier: str,
    carrier_name: str | None,
    tracking: str,
    ship_date: datetime,
    now: datetime,
) -> str:
    store = await _open(config)
    try:
        row_id = await _resolve(store, ref)
        detail = await store.tx(admin.order_detail, row_id)
        try:
            hold = not config.channel(detail["channel"]).upload_order_status
        except KeyError:
            raise OperationError(
                f"{ref}: channel {detail['channel']} is not in the config file"
            ) from None
        try:
            return await store.tx(
                admin.issue_order,
                row_id,
                carrier_code=carrier,
                carrier_name=carrier_name,
                tracking_number=tracking,
                ship_date=iso(ship_date),
                hold=hold,
                now=iso(now),
            )
        except ValueError as exc:
            raise OperationError(f"{ref}: {exc}") from None
    finally:
        await store.close()


async def add_stock(
    config: Config,
    code: str,
    skus: Sequence[str],
    description: str | None,
    now: datetime,
) -> str:
    store = await Store.open(config.system.database)
    try:
        moved = await store.tx(
            admin.add_stock, code, list(skus) or [code], description, iso(now)
        )
    finally:
        await store.close()
    note = f" (moved from another stock code: {', '.join(moved)})" if moved else ""
    return f"{code}: SKU {', '.join(skus or [code])}{note}"


def read_stock_csv(path: Path) -> list[tuple[str, str, str | None]]:
    """Rows (stock_code, sku, description) of a stock CSV; errors name the line."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise OperationError(f"{path}: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        header = set(reader.fieldnames or [])
        if not {"stock_code", "sku"} <= header:
            raise OperationError(f"{path}: header must have stock_code and sku columns")
        rows = []
        for number, row in enumerate(reader, start=2):
            code = (row.get("stock_code") or "").strip()
            sku = (row.get("sku") or "").strip()
            if not code or not sku:
                raise OperationError(
                    f"{path}:{number}: stock_code and sku are required"
                )
            rows.append((code, sku, (row.get("description") or "").strip() or None))
    return rows


async def import_stock(config: Config, path: Path, now: datetime) -> int:
    rows = read_stock_csv(path)
    store = await Store.open(config.system.database)
    try:
        for code, sku, description in rows:
            await store.tx(admin.add_stock, code, [sku], description, iso(now))
    finally:
        await store.close()
    return len(rows)


async def list_stock(config: Config) -> list[dict[str, Any]]:
    store = await _open(config)
    try:
        return await store.tx(admin.list_stock)
    finally:
        await store.close()


async def list_tasks(config: Config, channel: str | None) -> list[dict[str, Any]]:
    store = await _open(config)
    try:
        rows = await store.tx(admin.list_tasks, channel)
    finally:
        await store.close()
    return [
        {k: r[k] for k in ("channel", "task", "last_run", "last_success", "last_error")}
        for r in rows
    ]


async def list_notifications(
    config: Config, channel: str | None, *, include_resolved: bool
) -> list[dict[str, Any]]:
    store = await _open(config)
    try:
        rows = await store.tx(
            admin.list_notifications, channel, include_resolved=include_resolved
        )
    finally:
        await store.close()
    return [
        {
            "channel": r["channel"],
            "severity": r["severity"],
            "message": r["message"],
            "details": r["details"],
            "first_seen": r["first_seen"],
            "last_seen": r["last_seen"],
            "count": r["count"],
            "resolved": r["resolved_at"] is not None,
        }
        for r in rows
    ]
