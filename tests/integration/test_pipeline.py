"""The order pipeline (orders, items, import) against the in-process simulator.

Every test runs the daemon's own code (`kccsync.scenario.Harness` builds it with
`daemon.build`) in virtual time, so hours of quota-bound traffic take seconds.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kccsync.clock import LoopClock, run_virtual
from kccsync.scenario import Harness, backlog_settings, simulator_config
from kccsync.simulator import Operation
from kccsync.simulator.generator import SimOrder
from kccsync.store import admin

BACKLOG = 2000
ITEMS_BURST, ITEMS_RESTORE = 30, 2.0
#: What the daemon asks for (DESIGN.md §2); Canceled is kept as `cancelled`.
KEPT_STATUSES = {"Unshipped", "PartiallyShipped", "Shipped", "Canceled"}


@dataclass(frozen=True)
class Outcome:
    """What a run left in the store and what the simulator saw."""

    rows: list[dict[str, Any]]
    sim_orders: dict[str, SimOrder]
    statuses: Counter[tuple[str, int]]
    item_requests: int
    last_item_request: float
    sales_orders: int


def _outcome(h: Harness, rows: list[dict[str, Any]], sales_orders: int) -> Outcome:
    market = h.market()
    item_times = [
        r.monotonic
        for r in market.requests
        if r.operation == Operation.GET_ORDER_ITEMS and r.status == 200
    ]
    return Outcome(
        rows=rows,
        sim_orders=dict(market.orders),
        statuses=Counter((str(r.operation), r.status) for r in market.requests),
        item_requests=len(item_times),
        last_item_request=max(item_times),
        sales_orders=sales_orders,
    )


async def _snapshot(h: Harness) -> tuple[list[dict[str, Any]], int]:
    rows = await h.runtime.store.tx(admin.list_orders, None, None)
    count = await h.runtime.store.tx(
        lambda conn: int(
            conn.execute("SELECT COUNT(*) FROM sales_orders").fetchone()[0]
        )
    )
    return rows, count


def run_backlog(db: Path, *, restarts: int = 0, seed: int = 5) -> Outcome:
    """Drain the backlog; with `restarts`, stop and restart at random moments."""

    async def main() -> Outcome:
        clock = LoopClock()
        h = await Harness.start(
            simulator_config(db, settings=backlog_settings(BACKLOG, 11)), clock=clock
        )
        try:
            moments = sorted(
                random.Random(seed).uniform(5, 3800) for _ in range(restarts)
            )
            h.run()
            for at in moments:
                await clock.sleep(at - clock.monotonic())
                await h.restart()
            await h.run_until_settled()
            rows, sales = await _snapshot(h)
            return _outcome(h, rows, sales)
        finally:
            await h.close()

    return run_virtual(main)


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return run_backlog(tmp_path_factory.mktemp("straight") / "kccsync.db")


def _by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    ids = [r["order_id"] for r in rows]
    assert len(ids) == len(set(ids)), "an order is stored twice"
    return {r["order_id"]: r for r in rows}


def test_backlog_stores_every_eligible_order_exactly_once(straight: Outcome) -> None:
    stored = _by_id(straight.rows)
    eligible = {
        oid for oid, o in straight.sim_orders.items() if o.status in KEPT_STATUSES
    }

    assert set(stored) == eligible
    assert len(eligible) > 0.95 * BACKLOG  # the generator's Pending share is small
    states = Counter(r["state"] for r in straight.rows)
    assert states["pending"] == 0
    for oid, row in stored.items():
        sim = straight.sim_orders[oid]
        expected = "cancelled" if sim.status == "Canceled" else row["state"]
        assert row["state"] == expected
        assert row["fulfillment"] == sim.fulfillment_channel


def test_backlog_imports_each_order_once_with_unique_so_codes(
    straight: Outcome,
) -> None:
    imported = [r for r in straight.rows if r["state"] == "imported"]
    codes = [r["so_code"] for r in imported]

    assert all(code and code.startswith("SO") for code in codes)
    assert len(codes) == len(set(codes))
    assert straight.sales_orders == len(imported)
    fba = [r for r in imported if r["fulfillment"] == "AFN"]
    assert 0.15 * len(imported) < len(fba) < 0.3 * len(imported)


def test_backlog_failures_name_their_cause(straight: Outcome) -> None:
    stored = _by_id(straight.rows)
    unknown = bad_address = 0
    for oid, row in stored.items():
        sim = straight.sim_orders[oid]
        if row["state"] == "cancelled":
            continue
        if sim.unknown_line >= 0:
            unknown += 1
            assert row["state"] == "failed"
            assert "unknown stock code" in row["error"]
            assert "ZZ-" in row["error"]  # the simulator's unlisted SKUs
        elif sim.bad_address and sim.fulfillment_channel == "MFN":
            bad_address += 1
            assert row["state"] == "failed"
            assert "postcode" in row["error"].lower()
        else:
            assert row["state"] == "imported", (oid, row["error"])
    assert unknown > 0.03 * BACKLOG
    assert bad_address > 0.005 * BACKLOG


def test_backlog_never_throttled_and_drains_at_the_quota_minimum(
    straight: Outcome,
) -> None:
    refused = {k: n for k, n in straight.statuses.items() if k[1] >= 400}
    # Items are the binding quota: after the burst, one request per restore interval.
    minimum = (straight.item_requests - ITEMS_BURST) * ITEMS_RESTORE

    assert refused == {}
    assert straight.last_item_request <= 1.02 * minimum
    needing_items = sum(1 for r in straight.rows if r["state"] != "cancelled")
    assert needing_items <= straight.item_requests


def test_restarts_at_random_moments_give_the_same_store(
    straight: Outcome, tmp_path: Path
) -> None:
    restarted = run_backlog(tmp_path / "kccsync.db", restarts=10)

    def summary(rows: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
        return {r["order_id"]: (r["state"], r["error"]) for r in rows}

    assert summary(restarted.rows) == summary(straight.rows)
    codes = [r["so_code"] for r in restarted.rows if r["so_code"]]
    assert len(codes) == len(set(codes))
    assert restarted.sales_orders == len(codes)
    assert not [k for k in restarted.statuses if k[1] == 429]


# -- updates after import ------------------------------------------------------------


def test_status_only_updates_cost_no_item_request_and_cancellation_is_flagged(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        clock = LoopClock()
        cfg = simulator_config(
            tmp_path / "kccsync.db", settings=backlog_settings(60, 3)
        )
        h = await Harness.start(cfg, clock=clock)
        try:
            await h.run_until_settled()
            market = h.market()
            rows, _ = await _snapshot(h)
            imported = [
                r["order_id"]
                for r in rows
                if r["state"] == "imported" and r["channel_status"] == "Unshipped"
            ]
            assert len(imported) >= 5
            item_calls = market.count(Operation.GET_ORDER_ITEMS)
            for oid in imported[:4]:
                market.update_order_status(oid, "Shipped")
            cancelled = imported[4]
            market.cancel_order(cancelled)

            await clock.sleep(600)  # several orders passes, past the 2-minute lag

            assert market.count(Operation.GET_ORDER_ITEMS) == item_calls
            after = {r["order_id"]: r for r in (await _snapshot(h))[0]}
            for oid in imported[:4]:
                assert after[oid]["channel_status"] == "Shipped"
                assert after[oid]["state"] == "imported"
            assert after[cancelled]["cancelled_after_import"] == 1
            assert after[cancelled]["state"] == "imported"  # the SO is not deleted
            notes = await h.runtime.store.tx(
                admin.list_notifications, None, include_resolved=False
            )
            texts = [n["message"] for n in notes]
            assert any(cancelled in t and "cancelled" in t for t in texts)
        finally:
            await h.close()

    run_virtual(main)


def test_persistent_throttling_is_notified_and_resolves_by_itself(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        clock = LoopClock()
        cfg = simulator_config(
            tmp_path / "kccsync.db", settings=backlog_settings(800, 4)
        )
        h = await Harness.start(cfg, clock=clock)
        market = h.market()
        market.faults.competing_shares[Operation.GET_ORDERS] = 0.995
        store = h.runtime.store
        try:
            h.run()
            message = "Error downloading orders: Request is throttled"
            for _ in range(240):
                await clock.sleep(30)
                notes = await store.tx(
                    admin.list_notifications, None, include_resolved=False
                )
                if any(n["message"] == message for n in notes):
                    break
            else:
                pytest.fail("no throttling notification")
            assert market.count(Operation.GET_ORDERS, 429) > 0
            tasks = await store.tx(admin.list_tasks, None)
            orders_task = next(t for t in tasks if t["task"] == "orders_download")
            assert "throttled" in (orders_task["last_error"] or "")

            market.faults.competing_shares[Operation.GET_ORDERS] = 0.0
            await h.run_until_settled()
            notes = await store.tx(
                admin.list_notifications, None, include_resolved=False
            )
            assert not any(n["message"] == message for n in notes)
            rows, _ = await _snapshot(h)
            kept = {o for o, s in market.orders.items() if s.status in KEPT_STATUSES}
            assert {r["order_id"] for r in rows} == kept  # nothing lost
        finally:
            await h.close()

    run_virtual(main)
