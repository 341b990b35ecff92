"""Run the real pipeline against in-process simulated channels (tests, `bench`).

Everything here is the daemon's own code (`daemon.build`: client, limiter, tasks,
importer, store); only the channel is the built-in simulator and the clock is
whatever the caller gives, usually virtual time (`clock.run_virtual`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kccsync.clock import Clock
from kccsync.config import Config, Quotas, SimulatorSettings, System
from kccsync.daemon import Runtime, build
from kccsync.models import OrderState
from kccsync.simulator import Marketplace
from kccsync.store import feedback, orders
from kccsync.sync.tasks import WATERMARK, ChannelSync

UK = "A1F83G8C2ARO7P"


def simulator_config(
    database: Path,
    *,
    channels: int = 1,
    settings: SimulatorSettings | None = None,
    quotas: Quotas | None = None,
    restricted_data: bool = True,
    marketplace_ids: Sequence[str] = (UK,),
    orders_interval: str = "2m",
    initial_lookback: str = "7d",
) -> Config:
    """A config of `channels` simulator channels (seeds 1..M apart) on `database`."""
    base = settings or SimulatorSettings()
    channel = {
        "marketplace_ids": list(marketplace_ids),
        "restricted_data": restricted_data,
        "orders_interval": orders_interval,
        "initial_lookback": initial_lookback,
        "quotas": (quotas or Quotas()).model_dump(),
    }
    return Config.model_validate(
        {
            "system": System(database=database).model_dump(),
            "channels": [
                {
                    **channel,
                    "name": f"sim-{n + 1}",
                    "simulator": base.model_copy(
                        update={"seed": base.seed + n}
                    ).model_dump(),
                }
                for n in range(channels)
            ],
        }
    )


def backlog_settings(
    orders: int, seed: int, *, competing_share: float = 0.0
) -> SimulatorSettings:
    """A realistic backlog: multi-page items, 20% FBA, 5% unknown SKUs, 2% bad
    addresses; no new arrivals, so the final store is a fixed target."""
    return SimulatorSettings(
        seed=seed,
        backlog_orders=orders,
        orders_per_hour=0,
        fba_share=0.2,
        unknown_sku_share=0.05,
        bad_address_share=0.02,
        multi_page_items_share=0.03,
        competing_share=competing_share,
    )


@dataclass
class Harness:
    """A built runtime with its simulated marketplaces, runnable in slices."""

    config: Config
    runtime: Runtime
    clock: Clock
    tasks: list[asyncio.Task[None]]

    @classmethod
    async def start(
        cls, config: Config, *, clock: Clock, rng: random.Random | None = None
    ) -> Harness:
        rt = await build(config, clock=clock, rng=rng or random.Random(0))  # noqa: S311
        return cls(config=config, runtime=rt, clock=clock, tasks=[])

    async def restart(self, *, graceful: bool = True) -> None:
        """Stop the daemon and start a new one on the same database and marketplaces.

        `graceful` saves bucket levels as a shutdown does; otherwise only the last
        periodic save survives, as after a crash.
        """
        await self.stop()
        if graceful:
            await self.runtime.close()
        else:
            for client in self.runtime.clients:
                await client.aclose()
            await self.runtime.store.close()
        self.runtime = await build(
            self.config,
            clock=self.clock,
            rng=random.Random(len(self.runtime.syncs)),  # noqa: S311
            marketplaces=self.runtime.marketplaces,
        )
        self.run()

    @property
    def syncs(self) -> list[ChannelSync]:
        return self.runtime.syncs

    def market(self, channel: str | None = None) -> Marketplace:
        """The simulated marketplace of `channel` (the first one by default)."""
        name = channel or self.syncs[0].settings.name
        return self.runtime.marketplaces[name]

    def run(self) -> None:
        """Start every channel's loops, as the daemon does."""
        self.tasks = [asyncio.create_task(s.run()) for s in self.syncs]

    async def stop(self) -> None:
        """Cancel the loops (a shutdown or a crash at this moment)."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks = []

    async def close(self) -> None:
        await self.stop()
        await self.runtime.close()

    async def states(self, sync: ChannelSync) -> dict[str, int]:
        return await self.runtime.store.tx(orders.count_states, sync.channel_id)

    async def settled(self) -> bool:
        """Every channel finished a full orders window and has nothing pending."""
        ids = [sync.channel_id for sync in self.syncs]
        return await self.runtime.store.tx(_settled, ids)

    async def run_until_settled(
        self, *, poll: float = 10.0, limit: float = 30 * 86400.0
    ) -> float:
        """Run until `settled` (checked every `poll` s); the time it took, or raise."""
        start = self.clock.monotonic()
        if not self.tasks:
            self.run()
        while not await self.settled():
            if self.clock.monotonic() - start > limit:
                raise TimeoutError(f"not settled after {limit:.0f} s")
            for task in self.tasks:
                if task.done():
                    task.result()  # a crashed channel: surface it
            await self.clock.sleep(poll)
        return self.clock.monotonic() - start


def _settled(conn: sqlite3.Connection, channel_ids: list[int]) -> bool:
    """`Harness.settled` in one transaction (one round trip for many channels)."""
    for channel_id in channel_ids:
        if feedback.get_state(conn, channel_id, WATERMARK) is None:
            return False
        if orders.count_states(conn, channel_id).get(OrderState.PENDING.value, 0):
            return False
    return True
