"""SQL for the Tasks and Notifications views, sync state and saved bucket levels."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class BucketRow:
    operation: str
    tokens: float
    restore_seconds: float
    ceiling_restore_seconds: float
    saved_at: str


def task_ran(
    conn: sqlite3.Connection,
    channel_id: int,
    task: str,
    now: str,
    *,
    success: bool,
    error: str | None = None,
) -> None:
    """Record one run of a sync task; `success` only when it did its job."""
    conn.execute(
        "INSERT INTO tasks (channel_id, task, last_run) VALUES (?, ?, ?)"
        " ON CONFLICT (channel_id, task) DO UPDATE SET last_run = excluded.last_run",
        (channel_id, task, now),
    )
    if success:
        conn.execute(
            "UPDATE tasks SET last_success = ? WHERE channel_id = ? AND task = ?",
            (now, channel_id, task),
        )
    if error is not None:
        conn.execute(
            "UPDATE tasks SET last_error = ?, last_error_at = ?"
            " WHERE channel_id = ? AND task = ?",
            (error, now, channel_id, task),
        )


def raise_notification(
    conn: sqlite3.Connection,
    channel_id: int,
    key: str,
    severity: str,
    message: str,
    details: str | None,
    now: str,
) -> bool:
    """Open a notification, or count one more occurrence; True if it is new."""
    cur = conn.execute(
        "UPDATE notifications SET last_seen = ?, count = count + 1, message = ?,"
        " details = ? WHERE channel_id = ? AND key = ? AND resolved_at IS NULL",
        (now, message, details, channel_id, key),
    )
    if cur.rowcount:
        return False
    conn.execute(
        "INSERT INTO notifications (channel_id, key, severity, message, details,"
        " first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (channel_id, key, severity, message, details, now, now),
    )
    return True


def resolve_notifications(
    conn: sqlite3.Connection, channel_id: int, keys: Sequence[str], now: str
) -> int:
    """Resolve the open notifications with these keys; returns how many closed."""
    total = 0
    for key in keys:
        cur = conn.execute(
            "UPDATE notifications SET resolved_at = ? WHERE channel_id = ? AND key = ?"
            " AND resolved_at IS NULL",
            (now, channel_id, key),
        )
        total += cur.rowcount
    return total


def open_notification_keys(conn: sqlite3.Connection, channel_id: int) -> set[str]:
    rows = conn.execute(
        "SELECT key FROM notifications WHERE channel_id = ? AND resolved_at IS NULL",
        (channel_id,),
    ).fetchall()
    return {str(r[0]) for r in rows}


def get_state(conn: sqlite3.Connection, channel_id: int, key: str) -> str | None:
    row = conn.execute(
        "SELECT value FROM sync_state WHERE channel_id = ? AND key = ?",
        (channel_id, key),
    ).fetchone()
    return None if row is None else str(row[0])


def set_state(conn: sqlite3.Connection, channel_id: int, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO sync_state (channel_id, key, value) VALUES (?, ?, ?)"
        " ON CONFLICT (channel_id, key) DO UPDATE SET value = excluded.value",
        (channel_id, key, value),
    )


def save_buckets(
    conn: sqlite3.Connection, channel_id: int, rows: Sequence[BucketRow]
) -> None:
    conn.executemany(
        "INSERT INTO bucket_state (channel_id, operation, tokens, restore_seconds,"
        " ceiling_restore_seconds, saved_at) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (channel_id, operation) DO UPDATE SET tokens = excluded.tokens,"
        " restore_seconds = excluded.restore_seconds,"
        " ceiling_restore_seconds = excluded.ceiling_restore_seconds,"
        " saved_at = excluded.saved_at",
        [
            (
                channel_id,
                r.operation,
                r.tokens,
                r.restore_seconds,
                r.ceiling_restore_seconds,
                r.saved_at,
            )
            for r in rows
        ],
    )


def load_buckets(conn: sqlite3.Connection, channel_id: int) -> list[BucketRow]:
    rows = conn.execute(
        "SELECT operation, tokens, restore_seconds, ceiling_restore_seconds, saved_at"
        " FROM bucket_state WHERE channel_id = ?",
        (channel_id,),
    ).fetchall()
    return [
        BucketRow(str(r[0]), float(r[1]), float(r[2]), float(r[3]), str(r[4]))
        for r in rows
    ]


def task_succeeded(
    conn: sqlite3.Connection,
    channel_id: int,
    task: str,
    problem_keys: Sequence[str],
    now: str,
) -> int:
    """A task did its job: record it and resolve its open problems (returns count)."""
    task_ran(conn, channel_id, task, now, success=True)
    return resolve_notifications(conn, channel_id, problem_keys, now)


def task_failed(
    conn: sqlite3.Connection,
    channel_id: int,
    task: str,
    key: str,
    severity: str,
    message: str,
    error: str,
    now: str,
) -> bool:
    """A task failed: record the error and raise (or count) its notification."""
    task_ran(conn, channel_id, task, now, success=False, error=error)
    return raise_notification(conn, channel_id, key, severity, message, error, now)
