"""The SQLite store: every SQL statement lives in this package.

`Store.tx(fn, *args)` runs one of the package's SQL functions (`orders`,
`feedback`, `admin`) as one transaction on the database thread. Callers name
the unit of work; they never write SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from kccsync.store import admin, feedback, orders
from kccsync.store.db import Database

P = ParamSpec("P")
T = TypeVar("T")

__all__ = ["Store", "admin", "feedback", "orders"]


class Store:
    """An open kccsync database."""

    def __init__(self, db: Database, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> Store:
        """Open (creating it 0600 if new) and migrate the database at `path`."""
        return cls(await Database.open(path), path)

    async def tx(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run `fn(conn, *args, **kwargs)` as one transaction."""
        return await self._db.tx(fn, *args, **kwargs)

    async def close(self) -> None:
        await self._db.close()
