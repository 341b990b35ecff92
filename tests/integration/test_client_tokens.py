"""The SP-API client renews dead tokens by itself: access tokens and RDTs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from kccsync.channels.amazon.client import AmazonChannel
from kccsync.clock import LoopClock, run_virtual
from kccsync.config import SimulatorSettings
from kccsync.scenario import Harness, simulator_config
from kccsync.simulator import Operation


def test_orders_page_survives_revoked_access_token_and_rdt(tmp_path: Path) -> None:
    """Both tokens die between two pages: one 403, then both renewed and the
    page (with personal data, so through a fresh RDT) arrives."""

    async def main() -> tuple[int, int, int, bool]:
        clock = LoopClock()
        settings = SimulatorSettings(seed=4, backlog_orders=20, orders_per_hour=0)
        cfg = simulator_config(tmp_path / "kccsync.db", settings=settings)
        h = await Harness.start(cfg, clock=clock)
        try:
            channel = h.syncs[0].channel
            assert isinstance(channel, AmazonChannel)
            market = h.market()
            before = clock.now() - timedelta(minutes=5)
            after = before - timedelta(days=7)
            await channel.list_orders(
                updated_after=after, updated_before=before, next_token=None
            )
            market.expire_access_tokens()
            page = await channel.list_orders(
                updated_after=after, updated_before=before, next_token=None
            )
            named = all(
                o.ship_to is not None and not o.ship_to.redacted and o.ship_to.name
                for o in page.orders
                if o.fulfillment.value == "MFN"
            )
            return (
                market.count(Operation.GET_ORDERS, 403),
                market.count(Operation.CREATE_RDT, 200),
                market.count(Operation.LWA_TOKEN, 200),
                named,
            )
        finally:
            await h.close()

    refused, rdts, logins, named = run_virtual(main)

    assert refused == 1
    assert rdts == 2
    assert logins == 2
    assert named
