"""The daemon: builds every channel's object graph from the config and runs it.

The only module that creates real resources (clock, HTTP clients, the database,
signal handlers). Shutdown order: stop new work, let in-flight transactions
finish, save bucket levels, close HTTP clients, close the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import structlog

from kccsync import __version__
from kccsync import simulator as sim
from kccsync.channels.amazon.auth import LwaAuth
from kccsync.channels.amazon.client import AmazonChannel
from kccsync.clock import Clock, default_rng
from kccsync.config import Channel as ChannelConfig
from kccsync.config import Config
from kccsync.errors import ConfigError, DaemonError
from kccsync.limiter import QuotaSet
from kccsync.notify import notify, watchdog_interval
from kccsync.simulator.auth import TOKEN_PATH
from kccsync.store import Store, admin
from kccsync.sync.tasks import (
    IMPORT_CONCURRENCY,
    ActionsInbox,
    ChannelSettings,
    ChannelSync,
)
from kccsync.timeutil import iso

log = structlog.get_logger(__name__)

#: How long shutdown waits for in-flight work before it cancels it.
DRAIN_SECONDS = 10.0
SIMULATOR_BASE_URL = "https://simulator.kccsync.invalid"


@dataclass
class Runtime:
    """Everything one daemon run owns, closed in reverse order."""

    store: Store
    syncs: list[ChannelSync] = field(default_factory=list)
    clients: list[httpx.AsyncClient] = field(default_factory=list)
    marketplaces: dict[str, sim.Marketplace] = field(default_factory=dict)

    async def close(self) -> None:
        for sync in self.syncs:
            with contextlib.suppress(Exception):
                await sync.save_buckets()
        for client in self.clients:
            await client.aclose()
        await self.store.close()


#: Config quota names → the simulator's operation names.
_SIM_OPERATIONS = {
    "orders": "getOrders",
    "order_items": "getOrderItems",
    "order": "getOrder",
    "shipments": "confirmShipment",
    "search_orders": "searchOrders",
    "restricted_data_token": "createRestrictedDataToken",
}


def simulator_quotas(cfg: ChannelConfig) -> dict[str, tuple[float, float]]:
    """The simulated server enforces the channel's configured quotas exactly.

    A client at exactly the server's quota must see no 429 when alone: that is the
    product's promise, and the benchmark measures it on this setting.
    """
    return {
        _SIM_OPERATIONS[name]: (float(q.burst), q.restore_seconds)
        for name, q in cfg.quotas
    }


def _http_for(
    cfg: ChannelConfig, clock: Clock, rt: Runtime
) -> tuple[httpx.AsyncClient, str, tuple[str, str, str]]:
    """The HTTP client, LWA token URL and credentials of one channel."""
    timeout = httpx.Timeout(30.0, connect=10.0)
    headers = {"User-Agent": f"kccsync/{__version__} (Language=Python)"}
    if cfg.simulator is not None:
        market = rt.marketplaces.get(cfg.name)
        if market is None or market.settings != cfg.simulator:
            market = sim.Marketplace(
                clock=clock,
                seed=cfg.simulator.seed,
                settings=cfg.simulator,
                marketplace_ids=tuple(cfg.marketplace_ids),
                quotas=simulator_quotas(cfg),
            )
        rt.marketplaces[cfg.name] = market
        client = httpx.AsyncClient(
            transport=market.transport(),
            base_url=SIMULATOR_BASE_URL,
            timeout=timeout,
            headers=headers,
        )
        creds = (
            sim.DEFAULT_CLIENT_ID,
            sim.DEFAULT_CLIENT_SECRET,
            sim.DEFAULT_REFRESH_TOKEN,
        )
        return client, f"{SIMULATOR_BASE_URL}{TOKEN_PATH}", creds
    if cfg.client_id is None or cfg.client_secret is None or cfg.refresh_token is None:
        raise ConfigError([f"channel {cfg.name}: credentials missing"])  # validated
    client = httpx.AsyncClient(
        base_url=cfg.sp_api_endpoint,
        timeout=timeout,
        headers=headers,
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
    )
    creds = (
        cfg.client_id.get_secret_value(),
        cfg.client_secret.get_secret_value(),
        cfg.refresh_token.get_secret_value(),
    )
    return client, cfg.lwa_token_url, creds


async def build(
    config: Config,
    *,
    clock: Clock,
    rng: random.Random,
    store: Store | None = None,
    marketplaces: dict[str, sim.Marketplace] | None = None,
) -> Runtime:
    """Open the store and build one ChannelSync per enabled channel.

    `marketplaces` hands simulator channels a marketplace that already exists (a
    restart in a test: Amazon's side lives on while the daemon does not).
    """
    rt = Runtime(
        store=store or await Store.open(config.system.database),
        marketplaces=dict(marketplaces or {}),
    )
    # Shared by every channel: one actions poll, a bound on concurrent imports.
    inbox = ActionsInbox(store=rt.store, clock=clock)
    import_slots = asyncio.Semaphore(IMPORT_CONCURRENCY)
    try:
        for cfg in config.channels:
            if not cfg.enabled:
                continue
            known = rt.marketplaces.get(cfg.name)
            http, token_url, (cid, secret, refresh) = _http_for(cfg, clock, rt)
            rt.clients.append(http)
            auth = LwaAuth(
                http=http,
                token_url=token_url,
                client_id=cid,
                client_secret=secret,
                refresh_token=refresh,
                clock=clock,
            )
            quotas = QuotaSet.from_config(cfg.quotas, clock=clock)
            channel = AmazonChannel(
                name=cfg.name,
                http=http,
                auth=auth,
                quotas=quotas,
                clock=clock,
                rng=random.Random(rng.getrandbits(64)),  # noqa: S311 - jitter
                marketplace_ids=list(cfg.marketplace_ids),
                restricted_data=cfg.restricted_data,
            )
            sync = ChannelSync(
                settings=ChannelSettings(
                    name=cfg.name,
                    orders_interval=cfg.orders_interval,
                    status_upload_interval=cfg.status_upload_interval,
                    upload_order_status=cfg.upload_order_status,
                    initial_lookback=cfg.initial_lookback,
                    so_prefix=config.system.so_prefix,
                    so_digits=config.system.so_digits,
                ),
                store=rt.store,
                channel=channel,
                quotas=quotas,
                clock=clock,
                inbox=inbox,
                import_slots=import_slots,
            )
            await sync.start()
            market = rt.marketplaces.get(cfg.name)
            if (
                market is not None
                and market is not known  # a new marketplace: list its SKUs once
                and cfg.simulator
                and cfg.simulator.stock_catalogue
            ):
                now = iso(clock.now())
                for sku, title in market.catalogue:
                    await rt.store.tx(admin.add_stock, sku, [sku], title, now)
            rt.syncs.append(sync)
    except BaseException:
        await rt.close()
        raise
    return rt


@contextlib.asynccontextmanager
async def _signals(
    stop: asyncio.Event, reload: asyncio.Event, install: bool
) -> AsyncIterator[None]:
    """SIGTERM/SIGINT set `stop`; SIGHUP sets `reload` (re-read the config)."""
    loop = asyncio.get_running_loop()
    events = (
        {signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGHUP: reload}
        if install
        else {}
    )
    for sig, event in events.items():
        loop.add_signal_handler(sig, _on_signal, event, sig)
    try:
        yield
    finally:
        for sig in events:
            loop.remove_signal_handler(sig)


def _on_signal(event: asyncio.Event, sig: signal.Signals) -> None:
    log.info("signal_received", signal=sig.name)
    event.set()


async def _watchdog(clock: Clock, interval: float) -> None:
    while True:
        notify("WATCHDOG=1")
        await clock.sleep(interval)


def _try_reload(reader: Callable[[], Config] | None) -> Config | None:
    """The new config after SIGHUP, or None (logged) when it cannot be used.

    A bad file never stops a running daemon: it keeps the config it has.
    """
    if reader is None:
        log.warning("config_reload_unavailable")
        return None
    try:
        return reader()
    except ConfigError as exc:
        log.error("config_reload_failed", problems=exc.problems)
        return None


async def _serve(
    rt: Runtime,
    *,
    clock: Clock,
    stop: asyncio.Event,
    reload: asyncio.Event,
    reader: Callable[[], Config] | None,
) -> Config | None:
    """Run every channel until `stop` (None) or a valid reload (the new config)."""
    tasks = [asyncio.create_task(s.run(), name=s.settings.name) for s in rt.syncs]
    interval = watchdog_interval()
    if interval:
        tasks.append(asyncio.create_task(_watchdog(clock, interval), name="watchdog"))
    new_config: Config | None = None
    try:
        while new_config is None and not stop.is_set():
            stopper = asyncio.create_task(stop.wait())
            reloader = asyncio.create_task(reload.wait())
            woke, _ = await asyncio.wait(
                [stopper, reloader, *tasks], return_when=asyncio.FIRST_COMPLETED
            )
            stopper.cancel()
            reloader.cancel()
            if any(t in woke for t in tasks):
                break  # a channel loop ended: only a crash does that
            if reload.is_set():
                reload.clear()
                new_config = _try_reload(reader)
    finally:
        notify("RELOADING=1" if new_config else "STOPPING=1")
        log.info("daemon_stopping", reload=new_config is not None)
        for task in tasks:
            task.cancel()
        drained, _ = await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
    failed = [t for t in drained if not t.cancelled() and t.exception()]
    for task in failed:
        log.error("channel_crashed", channel=task.get_name(), exc_info=task.exception())
    if failed and not stop.is_set() and new_config is None:
        raise DaemonError(f"channel {failed[0].get_name()} crashed")
    return new_config


async def run(
    config: Config,
    *,
    clock: Clock,
    rng: random.Random | None = None,
    once: bool = False,
    install_signal_handlers: bool = True,
    stop: asyncio.Event | None = None,
    reload: asyncio.Event | None = None,
    reader: Callable[[], Config] | None = None,
) -> int:
    """Run the daemon until a signal (or one pass with `once`); returns an exit code.

    SIGHUP (or `reload`) re-reads the config through `reader`: if it is valid, the
    channels drain and start again on it; if not, the daemon logs why and goes on
    with the config it has.
    """
    stop = stop or asyncio.Event()
    reload = reload or asyncio.Event()
    rng = rng or default_rng()
    async with _signals(stop, reload, install_signal_handlers):
        current: Config | None = config
        # Simulated marketplaces outlive a reload, as Amazon outlives the daemon.
        markets: dict[str, sim.Marketplace] = {}
        while current is not None:
            rt = await build(current, clock=clock, rng=rng, marketplaces=markets)
            markets = rt.marketplaces
            try:
                names = [s.settings.name for s in rt.syncs]
                log.info(
                    "daemon_ready",
                    version=__version__,
                    channels=names,
                    database=str(current.system.database),
                    once=once,
                )
                notify("READY=1\nSTATUS=syncing " + ", ".join(names))
                if once:
                    await asyncio.gather(*(s.run_once() for s in rt.syncs))
                    return 0
                current = await _serve(
                    rt, clock=clock, stop=stop, reload=reload, reader=reader
                )
            except DaemonError:
                return 1
            finally:
                await rt.close()
                log.info("daemon_stopped")
    return 0
