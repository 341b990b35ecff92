"""What the channels of one daemon share: one actions poll, a bound on imports.

Polling per channel cost a wake-up and a transaction per channel every two
seconds, most of an idle channel's CPU with hundreds of channels; and hundreds of
channels starting with a backlog all held a parsed import batch at the same
moment (`kccsync bench`, scenario `channels`).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from kccsync.clock import LoopClock, run_virtual
from kccsync.importer import SalesOrderDraft
from kccsync.scenario import Harness, backlog_settings, simulator_config
from kccsync.store import admin, orders
from kccsync.sync.tasks import ACTIONS_POLL, IMPORT_CONCURRENCY, ChannelSync
from kccsync.timeutil import iso


def test_idle_channels_share_one_actions_poll_and_actions_still_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle: no per-channel query at all; a queued action lands within one poll."""
    calls: Counter[str] = Counter()
    open_actions, any_open = admin.open_actions, admin.channels_with_open_actions

    def counted_open(
        conn: sqlite3.Connection, channel_id: int
    ) -> list[tuple[int, int, str]]:
        calls["open_actions"] += 1
        return open_actions(conn, channel_id)

    def counted_any(conn: sqlite3.Connection) -> list[int]:
        calls["channels_with_open_actions"] += 1
        return any_open(conn)

    monkeypatch.setattr(admin, "open_actions", counted_open)
    monkeypatch.setattr(admin, "channels_with_open_actions", counted_any)

    async def main() -> tuple[dict[str, int], str, str]:
        clock = LoopClock()
        config = simulator_config(
            tmp_path / "kccsync.db", channels=3, settings=backlog_settings(40, 5)
        )
        h = await Harness.start(config, clock=clock)
        store = h.runtime.store
        try:
            await h.run_until_settled()
            calls.clear()
            await clock.sleep(60.0)
            idle = dict(calls)
            failed = await store.tx(admin.list_orders, None, "failed")
            target = failed[0]
            await store.tx(
                admin.queue_action, target["row_id"], "ignore", iso(clock.now())
            )
            await clock.sleep(ACTIONS_POLL + 0.5)
            rows = await store.tx(admin.list_orders, target["channel"], None)
            state = next(r["state"] for r in rows if r["row_id"] == target["row_id"])
            return idle, state, str(target["channel"])
        finally:
            await h.close()

    idle, state, channel = run_virtual(main)

    assert state == "ignored"
    assert channel.startswith("sim-")
    assert idle.get("open_actions", 0) == 0
    # One shared look per poll interval for the three channels, not three.
    polls = 60.0 / ACTIONS_POLL
    assert polls - 1 <= idle["channels_with_open_actions"] <= polls + 1


def test_every_channel_gets_its_actions_and_someone_keeps_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Actions on all channels at once: the poller hands over, nothing is missed."""
    polls: Counter[str] = Counter()
    any_open = admin.channels_with_open_actions

    def counted_any(conn: sqlite3.Connection) -> list[int]:
        polls["any"] += 1
        return any_open(conn)

    monkeypatch.setattr(admin, "channels_with_open_actions", counted_any)

    async def main() -> tuple[list[int], int]:
        clock = LoopClock()
        config = simulator_config(
            tmp_path / "kccsync.db", channels=4, settings=backlog_settings(10, 6)
        )
        h = await Harness.start(config, clock=clock)
        store = h.runtime.store
        try:
            await h.run_until_settled()
            for sync in h.syncs:
                rows = await store.tx(admin.list_orders, sync.settings.name, None)
                await store.tx(
                    admin.queue_action, rows[0]["row_id"], "ignore", iso(clock.now())
                )
            await clock.sleep(ACTIONS_POLL + 0.5)
            still_open = [
                len(await store.tx(admin.open_actions, sync.channel_id))
                for sync in h.syncs
            ]
            polls.clear()
            await clock.sleep(20.0)
            return still_open, polls["any"]
        finally:
            await h.close()

    still_open, later_polls = run_virtual(main)

    assert still_open == [0, 0, 0, 0]
    assert 20.0 / ACTIONS_POLL - 1 <= later_polls <= 20.0 / ACTIONS_POLL + 1


def test_import_batches_in_progress_are_bounded_across_channels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never more than the shared bound import at once, yet more than one does."""
    in_flight = peak = 0
    import_batch = ChannelSync._import_batch

    async def counted(
        self: ChannelSync, batch: list[orders.ImportCandidate]
    ) -> list[tuple[int, SalesOrderDraft | str]]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await import_batch(self, batch)
        finally:
            in_flight -= 1

    monkeypatch.setattr(ChannelSync, "_import_batch", counted)

    async def main() -> int:
        clock = LoopClock()
        config = simulator_config(
            tmp_path / "kccsync.db", channels=8, settings=backlog_settings(15, 7)
        )
        h = await Harness.start(config, clock=clock)
        try:
            await h.run_until_settled()
            imported = 0
            for sync in h.syncs:
                imported += (await h.states(sync)).get("imported", 0)
            return imported
        finally:
            await h.close()

    imported = run_virtual(main)

    assert imported > 8 * 10
    assert 1 < peak <= IMPORT_CONCURRENCY
