"""Shipping notifications end to end: issue in the back office, upload to the
simulator on the status-upload interval, never for FBA, held while switched off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kccsync.clock import LoopClock, run_virtual
from kccsync.config import Config, SimulatorSettings
from kccsync.scenario import Harness, simulator_config
from kccsync.simulator import Operation
from kccsync.store import admin

UPLOAD_INTERVAL = 480.0  # the default status_upload_interval, "8m"


def _config(db: Path, *, upload: bool = True) -> Config:
    cfg = simulator_config(
        db, settings=SimulatorSettings(seed=9, backlog_orders=60, orders_per_hour=0)
    )
    channel = cfg.channels[0].model_copy(update={"upload_order_status": upload})
    return cfg.model_copy(update={"channels": [channel]})


async def _rows(h: Harness) -> dict[str, dict[str, Any]]:
    rows = await h.runtime.store.tx(admin.list_orders, None, None)
    return {r["order_id"]: r for r in rows}


async def _issue(h: Harness, order_id: str, tracking: str, *, hold: bool) -> str:
    store = h.runtime.store
    (row_id,) = await store.tx(admin.resolve_ref, order_id)
    now = "2026-03-01T13:00:00Z"
    return await store.tx(
        admin.issue_order,
        row_id,
        carrier_code="Royal Mail",
        carrier_name=None,
        tracking_number=tracking,
        ship_date=now,
        hold=hold,
        now=now,
    )


def _imported(rows: dict[str, dict[str, Any]], fulfillment: str) -> list[str]:
    return [
        oid
        for oid, r in rows.items()
        if r["state"] == "imported"
        and r["fulfillment"] == fulfillment
        and r["channel_status"] == "Unshipped"
    ]


def test_issued_orders_are_uploaded_once_and_fba_never(tmp_path: Path) -> None:
    """Three MFN orders issued: one confirmShipment each within one upload interval,
    with their tracking numbers; the FBA order issued too gets none; the channel's
    later Shipped status costs no item request."""

    async def main() -> None:
        clock = LoopClock()
        h = await Harness.start(_config(tmp_path / "kccsync.db"), clock=clock)
        try:
            await h.run_until_settled()
            market = h.market()
            rows = await _rows(h)
            mfn = _imported(rows, "MFN")[:3]
            afn = [
                o
                for o, r in rows.items()
                if r["state"] == "imported" and r["fulfillment"] == "AFN"
            ][:1]
            assert len(mfn) == 3
            assert len(afn) == 1
            for n, oid in enumerate(mfn):
                text = await _issue(h, oid, f"TRACK{n}", hold=False)
                assert "shipping notification pending" in text
            assert "no shipping notification" in await _issue(
                h, afn[0], "AFN0", hold=False
            )
            items_before = market.count(Operation.GET_ORDER_ITEMS)

            await clock.sleep(UPLOAD_INTERVAL + 300)

            shipped = {s.order_id: s.tracking_number for s in market.shipments}
            assert shipped == {oid: f"TRACK{n}" for n, oid in enumerate(mfn)}
            assert market.count(Operation.CONFIRM_SHIPMENT) == 3
            after = await _rows(h)
            for oid in mfn:
                assert after[oid]["shipping_notification"] == "uploaded"
                assert after[oid]["channel_status"] == "Shipped"
            assert after[afn[0]]["shipping_notification"] is None
            assert market.count(Operation.GET_ORDER_ITEMS) == items_before
        finally:
            await h.close()

    run_virtual(main)


def test_upload_switched_off_holds_notifications(tmp_path: Path) -> None:
    """With upload_order_status = false an issued order's notification is held and
    nothing is sent to the channel, however long the daemon runs."""

    async def main() -> None:
        clock = LoopClock()
        cfg = _config(tmp_path / "kccsync.db", upload=False)
        h = await Harness.start(cfg, clock=clock)
        try:
            await h.run_until_settled()
            rows = await _rows(h)
            oid = _imported(rows, "MFN")[0]
            assert "held" in await _issue(h, oid, "HELD1", hold=True)

            await clock.sleep(3 * UPLOAD_INTERVAL)

            assert h.market().count(Operation.CONFIRM_SHIPMENT) == 0
            assert (await _rows(h))[oid]["shipping_notification"] == "held"
        finally:
            await h.close()

    run_virtual(main)
