"""The SQLite connection: one thread, WAL, migrations, one transaction per call.

Why stdlib `sqlite3` on one thread through `loop.run_in_executor` rather than
aiosqlite: aiosqlite resolves results from its own thread with
`call_soon_threadsafe`, which a virtual-time loop (looptime) cannot see, so
virtual-time runs drifted by tens of fake seconds, differently every run. Work
submitted with `run_in_executor` is tracked by looptime: time does not move
while a query runs, and benchmark figures repeat exactly. One thread also means
one writer, so SQLite never sees two writers from this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from kccsync.errors import StoreError
from kccsync.store.schema import MIGRATIONS, SCHEMA_VERSION

P = ParamSpec("P")
T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only (0600), if it is new."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)


def connect(path: Path) -> sqlite3.Connection:
    """Open, configure and migrate the database at `path` (synchronous)."""
    if str(path) != ":memory:":
        try:
            _create_private(path)
        except OSError as exc:
            raise StoreError(f"cannot create database {path}: {exc.strerror}") from None
    try:
        conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=10
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from None
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"cannot use database {path}: {exc}") from None
    except StoreError:
        conn.close()
        raise
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.chmod(f"{path}{suffix}", 0o600)
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations; refuse a database from a newer kccsync."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"database schema version {version} is newer than this kccsync supports "
            f"({SCHEMA_VERSION}): upgrade kccsync or use another database file"
        )
    for number in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[number - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (executescript would COMMIT early)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


class Database:
    """Runs functions on the connection in its own thread, each in one transaction."""

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._executor = executor
        self._closed = False

    @classmethod
    async def open(cls, path: Path) -> Database:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kccsync-db")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, connect, path)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(conn, executor)

    def _in_tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def tx(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run `fn(conn, *args, **kwargs)` in one write transaction on the db thread."""
        if self._closed:
            raise StoreError("database is closed")
        loop = asyncio.get_running_loop()

        def call(conn: sqlite3.Connection) -> T:
            return fn(conn, *args, **kwargs)

        return await loop.run_in_executor(self._executor, self._in_tx, call)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._conn.close)
        self._executor.shutdown(wait=True)
