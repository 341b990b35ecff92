"""The `kccsync bench` scenarios: the real pipeline against the simulator, measured.

Each scenario builds the daemon's own object graph (`scenario.Harness`: client,
limiter, tasks, importer, store on a fresh SQLite file), runs it in virtual time
against in-process simulated marketplaces and returns a typed result
(`kccsync.bench`). Virtual-time figures repeat exactly for a seed; CPU seconds
and peak RSS are measurements of this process.
"""

from __future__ import annotations

import math
import resource
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from kccsync.bench import (
    ChannelsResult,
    CpuResult,
    DrainResult,
    Options,
    Result,
    SteadyResult,
)
from kccsync.channels.amazon.client import ORDER_STATUSES
from kccsync.clock import LoopClock, cpu_seconds, run_virtual
from kccsync.config import Quota, Quotas
from kccsync.daemon import simulator_quotas
from kccsync.scenario import Harness, backlog_settings, simulator_config
from kccsync.simulator import Marketplace, Operation
from kccsync.store import admin, feedback, orders
from kccsync.sync.plan import DATA_LAG, SKEW_MARGIN
from kccsync.sync.tasks import WATERMARK
from kccsync.timeutil import iso, parse_iso

#: What the daemon downloads (never Pending); an order in one of these is owed.
KEPT_STATUSES = frozenset(ORDER_STATUSES.split(","))
SMALL_ORDERS = 100
#: Quotas "lifted" for the CPU scenario: a burst nothing reaches, instant refill.
LIFTED = Quota(burst=10**9, restore_seconds=1e-6)
#: Operations whose requests spend a quota (the LWA token endpoint has none).
_QUOTA_BOUND = frozenset(Operation) - {Operation.LWA_TOKEN, Operation.UNKNOWN}


# -- measuring ---------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values): always an observed value."""
    if not values:
        return 0.0
    ranked = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ranked)))
    return ranked[rank - 1]


def minimum_seconds(
    counts: Mapping[str, int],
    quotas: Mapping[str, tuple[float, float]],
    share: float = 0.0,
) -> tuple[float, str]:
    """The least time `counts` requests can take under `quotas`, and the binding op.

    A bucket of `burst` tokens gaining one per `restore` seconds can start the
    k-th request at (k - burst) x restore at the earliest. A competitor spending
    `share` of every token leaves (1 - share) of the burst and a restore interval
    of restore / (1 - share), so the last of n requests starts no sooner than
    (n - burst (1 - share)) x restore / (1 - share). The operations run in
    parallel, so the slowest one binds.
    """
    best, binding = 0.0, "none"
    for operation, n in sorted(counts.items()):
        if operation not in quotas or n <= 0:
            continue
        burst, restore = quotas[operation]
        ours = 1.0 - share
        seconds = max(0.0, n - burst * ours) * restore / ours
        if seconds > best:
            best, binding = seconds, operation
    return best, binding


def _ratio(num: float, den: float) -> float:
    return num / den if den else (1.0 if num == 0 else math.inf)


def _pages(market: Marketplace, order_id: str) -> int:
    lines = market.orders[order_id].lines
    return max(1, math.ceil(lines / market.items_page_size))


def _seconds(market: Marketplace, text: str) -> float:
    return market.book.seconds(parse_iso(text))


async def _stored(h: Harness, channel: str) -> list[dict[str, Any]]:
    return await h.runtime.store.tx(admin.list_orders, channel, None)


async def _lost(
    h: Harness, channel_id: int, market: Marketplace, stored: set[str]
) -> int:
    """Orders owed to the store that it does not hold.

    Owed: in a downloaded status and last updated no later than the watermark
    (every window up to it is committed); later changes are not due yet.
    """
    mark = await h.runtime.store.tx(feedback.get_state, channel_id, WATERMARK)
    if mark is None:
        return sum(1 for o in market.orders.values() if o.status in KEPT_STATUSES)
    upto = _seconds(market, mark)
    return sum(
        1
        for oid, o in market.orders.items()
        if o.status in KEPT_STATUSES and o.last_update_s <= upto and oid not in stored
    )


def _item_waste(market: Marketplace) -> tuple[int, int]:
    """(item requests answered, item pages of the orders they were for)."""
    done = [
        r.path.split("/")[-2]
        for r in market.requests
        if r.operation == Operation.GET_ORDER_ITEMS and r.status == 200
    ]
    return len(done), sum(_pages(market, oid) for oid in set(done))


def _request_counts(market: Marketplace) -> dict[str, int]:
    return dict(sorted(Counter(str(r.operation) for r in market.requests).items()))


async def _drain_result(
    scenario: str, h: Harness, start: float, share: float
) -> DrainResult:
    sync = h.syncs[0]
    market = h.market()
    rows = await _stored(h, sync.settings.name)
    states = Counter(str(r["state"]) for r in rows)
    stored_ids = {str(r["order_id"]) for r in rows}
    item_times = [
        r.monotonic
        for r in market.requests
        if r.operation == Operation.GET_ORDER_ITEMS and r.status == 200
    ]
    end = max(item_times, default=start)
    served = Counter(
        str(r.operation)
        for r in market.requests
        if r.operation in _QUOTA_BOUND and r.status != 429 and r.monotonic <= end
    )
    quotas = simulator_quotas(h.config.channels[0])
    minimum, binding = minimum_seconds(served, quotas, share)
    drain = end - start
    throttled = market.count(status=429)
    successful = sum(
        1 for r in market.requests if r.operation in _QUOTA_BOUND and r.status < 400
    )
    new_orders = [str(r["order_id"]) for r in rows if r["items_state"] == "done"]
    requests, pages = _item_waste(market)
    per_order = _ratio(requests, len(new_orders))
    pages_per_order = _ratio(pages, len(new_orders))
    return DrainResult(
        scenario=scenario,
        orders=market.settings.backlog_orders,
        competing_share=share,
        stored=len(rows),
        imported=states["imported"],
        failed=states["failed"],
        cancelled=states["cancelled"],
        lost=await _lost(h, sync.channel_id, market, stored_ids),
        drain_seconds=drain,
        minimum_seconds=minimum,
        binding_operation=binding,
        ratio=_ratio(drain, minimum),
        efficiency=_ratio(minimum, drain),
        throttled=throttled,
        successful=successful,
        throttled_per_100=100 * _ratio(throttled, successful),
        requests=_request_counts(market),
        new_orders=len(new_orders),
        item_requests=requests,
        item_pages=pages,
        item_requests_per_order=per_order,
        item_pages_per_order=pages_per_order,
        item_request_ratio=_ratio(requests, pages),
    )


# -- scenarios ---------------------------------------------------------------------


def _drain(scenario: str, orders: int, seed: int, share: float = 0.0) -> DrainResult:
    async def main() -> DrainResult:
        with tempfile.TemporaryDirectory(prefix="kccsync-bench-") as tmp:
            settings = backlog_settings(orders, seed, competing_share=share)
            config = simulator_config(Path(tmp) / "bench.db", settings=settings)
            clock = LoopClock()
            h = await Harness.start(config, clock=clock)
            try:
                start = clock.monotonic()
                await h.run_until_settled()
                return await _drain_result(scenario, h, start, share)
            finally:
                await h.close()

    return run_virtual(main)


def backlog(options: Options) -> DrainResult:
    """Drain `options.orders` alone on the account: quota use, request economy."""
    return _drain("backlog", options.orders, options.seed)


def competing(options: Options) -> DrainResult:
    """The backlog while another client spends a share of every quota."""
    return _drain("competing", options.orders, options.seed, options.competing_share)


def small(options: Options) -> DrainResult:
    """A backlog of at most 100 orders, drained mostly from the burst."""
    return _drain("small", min(SMALL_ORDERS, options.orders), options.seed)


def steady(options: Options) -> SteadyResult:
    """Orders arriving for `steady_hours`; a warehouse dispatches MFN orders hourly."""
    hours, rate = options.steady_hours, options.steady_orders_per_hour

    async def main() -> SteadyResult:
        with tempfile.TemporaryDirectory(prefix="kccsync-bench-") as tmp:
            settings = backlog_settings(0, options.seed).model_copy(
                update={"orders_per_hour": rate}
            )
            config = simulator_config(Path(tmp) / "bench.db", settings=settings)
            clock = LoopClock()
            h = await Harness.start(config, clock=clock)
            try:
                h.run()
                left = hours * 3600.0
                while left > 0:  # the warehouse ships once an hour
                    await clock.sleep(min(3600.0, left))
                    left -= 3600.0
                    await _dispatch(h, clock.now())
                await h.run_until_settled()
                return await _steady_result(h, hours, rate)
            finally:
                await h.close()

    return run_virtual(main)


async def _dispatch(h: Harness, now: datetime) -> int:
    """Issue every imported, unshipped MFN order, as the warehouse would."""
    rows = await h.runtime.store.tx(admin.list_orders, None, "imported")
    due = [
        r
        for r in rows
        if r["fulfillment"] == "MFN"
        and r["channel_status"] == "Unshipped"
        and r["shipping_notification"] is None
        and not r["cancelled_after_import"]
    ]
    for r in due:
        await h.runtime.store.tx(
            admin.issue_order,
            int(r["row_id"]),
            carrier_code="Royal Mail",
            carrier_name=None,
            tracking_number=f"RM{r['row_id']:09d}GB",
            ship_date=iso(now),
            hold=False,
            now=iso(now),
        )
    return len(due)


async def _steady_result(h: Harness, hours: float, rate: float) -> SteadyResult:
    sync = h.syncs[0]
    market = h.market()
    rows = await _stored(h, sync.settings.name)
    imported_at = await h.runtime.store.tx(orders.imported_at, sync.channel_id)
    day = hours * 3600.0
    arrived = {
        oid: o.paid_s
        for oid, o in market.orders.items()
        if o.paid_s is not None and 0 <= o.paid_s <= day
    }
    latencies = [
        _seconds(market, imported_at[oid]) - paid
        for oid, paid in arrived.items()
        if oid in imported_at
    ]
    updates = 0
    for r in rows:
        paid_s = market.orders[str(r["order_id"])].paid_s
        if paid_s is not None and _seconds(market, str(r["last_update"])) > paid_s:
            updates += 1
    requests, pages = _item_waste(market)
    stored = {str(r["order_id"]) for r in rows}
    return SteadyResult(
        scenario="steady",
        hours=hours,
        orders_per_hour=rate,
        arrived=len(arrived),
        imported=len(latencies),
        lost=await _lost(h, sync.channel_id, market, stored),
        latency_p50=percentile(latencies, 50),
        latency_p99=percentile(latencies, 99),
        latency_max=max(latencies, default=0.0),
        latency_floor=(DATA_LAG + SKEW_MARGIN).total_seconds(),
        orders_interval=sync.settings.orders_interval,
        item_requests=requests,
        item_pages=pages,
        wasted_item_requests=requests - pages,
        updates_downloaded=updates,
        shipments_uploaded=len(market.shipments),
        throttled=market.count(status=429),
        requests=_request_counts(market),
    )


def cpu(options: Options) -> CpuResult:
    """The backlog with every quota lifted: orders imported per CPU-second."""
    lifted = Quotas(**dict.fromkeys(Quotas.model_fields, LIFTED))

    async def main() -> CpuResult:
        with tempfile.TemporaryDirectory(prefix="kccsync-bench-") as tmp:
            settings = backlog_settings(options.orders, options.seed)
            config = simulator_config(
                Path(tmp) / "bench.db", settings=settings, quotas=lifted
            )
            clock = LoopClock()
            h = await Harness.start(config, clock=clock)
            try:
                market = h.market()
                market.book  # noqa: B018 - generate the backlog before measuring
                start_rss = peak_rss_mb()
                start, cpu0 = clock.monotonic(), cpu_seconds()
                await h.run_until_settled(poll=1.0)
                spent = cpu_seconds() - cpu0
                sync = h.syncs[0]
                rows = await _stored(h, sync.settings.name)
                imported = sum(1 for r in rows if r["state"] == "imported")
                stored = {str(r["order_id"]) for r in rows}
                own = spent - market.cpu_seconds
                return CpuResult(
                    scenario="cpu",
                    orders=options.orders,
                    imported=imported,
                    lost=await _lost(h, sync.channel_id, market, stored),
                    virtual_seconds=clock.monotonic() - start,
                    cpu_seconds=spent,
                    simulator_cpu_seconds=market.cpu_seconds,
                    orders_per_cpu_second=_ratio(imported, spent),
                    orders_per_daemon_cpu_second=_ratio(imported, own),
                    start_rss_mb=start_rss,
                    peak_rss_mb=peak_rss_mb(),
                )
            finally:
                await h.close()

    return run_virtual(main)


def channels(options: Options) -> ChannelsResult:
    """`options.channels` channels with a small backlog each, then idle."""
    idle = options.idle_hours * 3600.0

    async def main() -> ChannelsResult:
        with tempfile.TemporaryDirectory(prefix="kccsync-bench-") as tmp:
            settings = backlog_settings(options.channel_orders, options.seed)
            config = simulator_config(
                Path(tmp) / "bench.db", channels=options.channels, settings=settings
            )
            clock = LoopClock()
            start_rss, cpu0 = peak_rss_mb(), cpu_seconds()
            h = await Harness.start(config, clock=clock)
            try:
                markets = list(h.runtime.marketplaces.values())
                cpu_built = cpu_seconds()
                await h.run_until_settled(poll=60.0)
                cpu1 = cpu_seconds()
                requests0 = sum(len(m.requests) for m in markets)
                sim0 = sum(m.cpu_seconds for m in markets)
                await clock.sleep(idle)
                cpu2 = cpu_seconds()
                idle_requests = sum(len(m.requests) for m in markets) - requests0
                idle_sim = sum(m.cpu_seconds for m in markets) - sim0
                stored = imported = lost = 0
                for sync in h.syncs:
                    market = h.market(sync.settings.name)
                    rows = await _stored(h, sync.settings.name)
                    ids = {str(r["order_id"]) for r in rows}
                    stored += len(rows)
                    imported += sum(1 for r in rows if r["state"] == "imported")
                    lost += await _lost(h, sync.channel_id, market, ids)
                channel_hours = options.channels * options.idle_hours
                return ChannelsResult(
                    scenario="channels",
                    channels=options.channels,
                    orders_per_channel=options.channel_orders,
                    idle_hours=options.idle_hours,
                    stored=stored,
                    imported=imported,
                    lost=lost,
                    throttled=sum(m.count(status=429) for m in markets),
                    setup_cpu_seconds=cpu_built - cpu0,
                    drain_cpu_seconds=cpu1 - cpu_built,
                    idle_cpu_seconds=cpu2 - cpu1,
                    idle_simulator_cpu_seconds=idle_sim,
                    total_cpu_seconds=cpu2 - cpu0,
                    cpu_per_idle_channel_hour=_ratio(cpu2 - cpu1, channel_hours),
                    idle_requests_per_channel_hour=_ratio(idle_requests, channel_hours),
                    start_rss_mb=start_rss,
                    peak_rss_mb=peak_rss_mb(),
                )
            finally:
                await h.close()

    return run_virtual(main)


RUNNERS: dict[str, Callable[[Options], Result]] = {
    "backlog": backlog,
    "steady": steady,
    "competing": competing,
    "small": small,
    "cpu": cpu,
    "channels": channels,
}
