"""Server faults (5xx, truncated JSON) cost time, never orders: the store ends the
same as a fault-free run, and the problems are notified and resolved by themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kccsync.clock import LoopClock, run_virtual
from kccsync.config import SimulatorSettings
from kccsync.scenario import Harness, simulator_config
from kccsync.store import admin


def _drain(
    db: Path, *, errors: float = 0.0, malformed: float = 0.0
) -> tuple[dict[str, tuple[str, Any]], list[dict[str, Any]], int]:
    """(order id -> (state, error)), every notification, SP-API 5xx/bad answers."""

    async def main() -> tuple[dict[str, tuple[str, Any]], list[dict[str, Any]], int]:
        clock = LoopClock()
        settings = SimulatorSettings(seed=21, backlog_orders=300, orders_per_hour=0)
        h = await Harness.start(simulator_config(db, settings=settings), clock=clock)
        market = h.market()
        market.faults.server_error_rate = errors
        market.faults.malformed_rate = malformed
        try:
            await h.run_until_settled()
            rows = await h.runtime.store.tx(admin.list_orders, None, None)
            notes = await h.runtime.store.tx(
                admin.list_notifications, None, include_resolved=True
            )
            faults = sum(1 for r in market.requests if r.status >= 500)
            return (
                {r["order_id"]: (r["state"], r["error"]) for r in rows},
                notes,
                faults,
            )
        finally:
            await h.close()

    return run_virtual(main)


def test_server_faults_lose_nothing_and_notifications_resolve(tmp_path: Path) -> None:
    clean, clean_notes, _ = _drain(tmp_path / "clean.db")
    faulty, notes, faults = _drain(tmp_path / "faulty.db", errors=0.3, malformed=0.1)

    assert faults > 50  # the knob really fired
    assert faulty == clean
    assert clean_notes == []
    assert notes, "persistent faults should have been notified"
    assert [n["message"] for n in notes if n["resolved_at"] is None] == []
