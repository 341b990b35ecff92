"""`daemon.run` in-process, in virtual time: stop, reload on SIGHUP, bad reloads."""

from __future__ import annotations

import asyncio
from pathlib import Path

from structlog.testing import capture_logs

from kccsync import daemon
from kccsync.clock import LoopClock, run_virtual
from kccsync.config import Config, SimulatorSettings
from kccsync.errors import ConfigError
from kccsync.scenario import simulator_config
from kccsync.store import Store, admin


def _settings() -> SimulatorSettings:
    return SimulatorSettings(seed=7, backlog_orders=20, orders_per_hour=0)


async def _orders_by_channel(database: Path) -> dict[str, int]:
    store = await Store.open(database)
    try:
        rows = await store.tx(admin.list_orders, None, None)
    finally:
        await store.close()
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["channel"]] = counts.get(row["channel"], 0) + 1
    return counts


def test_daemon_reload_adds_a_channel_and_survives_a_bad_file(tmp_path: Path) -> None:
    """A valid SIGHUP reload restarts on the new config (a new channel syncs); a bad
    file is logged and the daemon goes on; SIGTERM then stops it with exit 0."""
    db = tmp_path / "kccsync.db"
    one = simulator_config(db, channels=1, settings=_settings())
    two = simulator_config(db, channels=2, settings=_settings())
    next_config: list[Config | ConfigError] = [two]

    def reader() -> Config:
        value = next_config[0]
        if isinstance(value, ConfigError):
            raise value
        return value

    async def main() -> tuple[int, dict[str, int], dict[str, int], bool]:
        clock = LoopClock()
        stop, reload = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(
            daemon.run(
                one,
                clock=clock,
                install_signal_handlers=False,
                stop=stop,
                reload=reload,
                reader=reader,
            )
        )
        await clock.sleep(600)
        before = await _orders_by_channel(db)
        reload.set()
        await clock.sleep(600)
        after = await _orders_by_channel(db)
        next_config[0] = ConfigError(["kccsync.toml: channels: must not be empty"])
        reload.set()
        await clock.sleep(60)
        alive = not task.done()
        stop.set()
        return await task, before, after, alive

    with capture_logs() as events:
        code, before, after, alive = run_virtual(main)

    assert code == 0
    assert set(before) == {"sim-1"}
    assert set(after) == {"sim-1", "sim-2"}
    assert after["sim-1"] == before["sim-1"]  # the same orders, none twice
    assert alive
    failed = [e for e in events if e["event"] == "config_reload_failed"]
    assert failed
    assert failed[0]["problems"] == ["kccsync.toml: channels: must not be empty"]
    readies = [e for e in events if e["event"] == "daemon_ready"]
    assert [r["channels"] for r in readies] == [["sim-1"], ["sim-1", "sim-2"]]


def test_daemon_reload_without_reader_keeps_running(tmp_path: Path) -> None:
    """With no way to re-read the config, SIGHUP is logged and changes nothing."""
    config = simulator_config(tmp_path / "kccsync.db", settings=_settings())

    async def main() -> tuple[int, bool]:
        clock = LoopClock()
        stop, reload = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(
            daemon.run(
                config,
                clock=clock,
                install_signal_handlers=False,
                stop=stop,
                reload=reload,
            )
        )
        await clock.sleep(30)
        reload.set()
        await clock.sleep(30)
        alive = not task.done()
        stop.set()
        return await task, alive

    with capture_logs() as events:
        code, alive = run_virtual(main)

    assert (code, alive) == (0, True)
    names = [e["event"] for e in events]
    assert "config_reload_unavailable" in names
    assert names.count("daemon_ready") == 1
