"""`kccsync bench`: measure the sync pipeline against the simulator (DESIGN.md §10).

This module holds what the command line needs: the options, the typed results,
the issue's targets, the table and the JSON document. The scenarios themselves
(`kccsync.bench_scenarios`) import the whole daemon, so they load only when a
benchmark runs, and each runs in a fresh process (`run`). Targets are reported,
never enforced: the exit code is 0 whether they are met or not.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from kccsync import __version__, logs

#: Every scenario, in the order `all` runs them.
SCENARIOS = ("backlog", "steady", "competing", "small", "cpu", "channels")
#: Named in the issue but not run: why (shown in the table and the JSON).
NOT_RUN = {
    "api": "Orders 2026-01-01 has no client in the daemon yet; only Orders v0 "
    "is measured",
}


@dataclass(frozen=True)
class Options:
    """Sizes and seed of a run (`kccsync bench` flags and internal knobs)."""

    orders: int = 10_000
    channels: int = 500
    seed: int = 1
    #: Backlog of each channel in the `channels` scenario.
    channel_orders: int = 10
    #: Simulated idle time after the `channels` backlogs have drained.
    idle_hours: float = 1.0
    #: Length and arrival rate of the `steady` scenario.
    steady_hours: float = 24.0
    steady_orders_per_hour: float = 60.0
    #: Share of each quota the competing client spends (`competing`).
    competing_share: float = 0.5


@dataclass(frozen=True)
class DrainResult:
    """A backlog drained on one channel (`backlog`, `competing`, `small`)."""

    scenario: str
    orders: int
    competing_share: float
    stored: int
    imported: int
    failed: int
    cancelled: int
    lost: int
    #: Virtual seconds from start to the last item request of the drain.
    drain_seconds: float
    #: Every token used the moment it exists (our share of it, when competing).
    minimum_seconds: float
    #: The operation whose quota sets the minimum.
    binding_operation: str
    ratio: float
    efficiency: float
    throttled: int
    successful: int
    throttled_per_100: float
    #: Requests per operation (every status).
    requests: dict[str, int]
    new_orders: int
    item_requests: int
    item_pages: int
    item_requests_per_order: float
    item_pages_per_order: float
    item_request_ratio: float


@dataclass(frozen=True)
class SteadyResult:
    """Orders arriving for a simulated period, updated and shipped."""

    scenario: str
    hours: float
    orders_per_hour: float
    #: Orders that became visible (paid) during the period.
    arrived: int
    imported: int
    lost: int
    #: Seconds from an order becoming visible to its sales order, nearest rank.
    latency_p50: float
    latency_p99: float
    latency_max: float
    #: Amazon serves data this far behind (2 min) plus the skew margin.
    latency_floor: float
    orders_interval: float
    item_requests: int
    item_pages: int
    wasted_item_requests: int
    #: Stored orders whose last download was a later version (status, shipment).
    updates_downloaded: int
    shipments_uploaded: int
    throttled: int
    requests: dict[str, int]


@dataclass(frozen=True)
class CpuResult:
    """The backlog with quotas lifted: what the pipeline costs in CPU."""

    scenario: str
    orders: int
    imported: int
    lost: int
    virtual_seconds: float
    cpu_seconds: float
    #: CPU the in-process simulator spent answering (included in `cpu_seconds`).
    simulator_cpu_seconds: float
    orders_per_cpu_second: float
    #: The same without the simulator's share: the daemon's own cost.
    orders_per_daemon_cpu_second: float
    #: Peak RSS with the backlog generated, before the pipeline ran.
    start_rss_mb: float
    peak_rss_mb: float


@dataclass(frozen=True)
class ChannelsResult:
    """Many channels in one process: a small backlog each, then idle."""

    scenario: str
    channels: int
    orders_per_channel: int
    idle_hours: float
    stored: int
    imported: int
    lost: int
    throttled: int
    #: Building the channels (clients, buckets, the simulator's stock catalogue).
    setup_cpu_seconds: float
    drain_cpu_seconds: float
    idle_cpu_seconds: float
    idle_simulator_cpu_seconds: float
    total_cpu_seconds: float
    cpu_per_idle_channel_hour: float
    idle_requests_per_channel_hour: float
    #: Peak RSS before any channel existed (interpreter and libraries).
    start_rss_mb: float
    peak_rss_mb: float


Result = DrainResult | SteadyResult | CpuResult | ChannelsResult


# -- running ---------------------------------------------------------------------


def run_scenario(name: str, options: Options) -> Result:
    """Run one scenario in this process."""
    from kccsync import bench_scenarios  # noqa: PLC0415 - the whole daemon

    return bench_scenarios.RUNNERS[name](options)


def _child_init() -> None:
    logs.configure(fmt="console", level="error", stream=sys.stderr)


def run(
    names: Iterable[str], options: Options, *, isolate: bool = True
) -> dict[str, Result]:
    """Run `names` in order; with `isolate`, each in a fresh (spawned) process.

    A fresh process makes peak RSS and CPU the scenario's own: a process never
    hands freed memory back reliably, so a second scenario would inherit the
    first one's peak.
    """
    results: dict[str, Result] = {}
    for name in names:
        if not isolate:
            results[name] = run_scenario(name, options)
            continue
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=1, mp_context=context, initializer=_child_init
        ) as pool:
            results[name] = pool.submit(run_scenario, name, options).result()
    return results


@dataclass(frozen=True)
class Check:
    """One target of the issue and whether this run met it."""

    figure: str
    value: float
    target: str
    met: bool


def machine_info() -> dict[str, str]:
    """What the figures ran on: CPUs, Python, architecture, OS."""
    return {
        "nproc": str(os.cpu_count()),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "system": platform.system(),
    }


@dataclass(frozen=True)
class Report:
    """Every scenario run, with the options and the machine."""

    options: Options
    results: dict[str, Result]
    machine: dict[str, str] = field(default_factory=machine_info)

    def to_json(self) -> dict[str, Any]:
        return {
            "kccsync": __version__,
            "machine": self.machine,
            "options": asdict(self.options),
            "scenarios": {
                name: {**asdict(r), "targets": [asdict(c) for c in checks(r)]}
                for name, r in self.results.items()
            },
            "not_run": NOT_RUN,
        }


# -- targets -----------------------------------------------------------------------


def _check(figure: str, value: float, op: str, bound: float) -> Check:
    met = {"<=": value <= bound, ">=": value >= bound, "==": value == bound}[op]
    return Check(figure, value, f"{op} {bound:g}", met)


def checks(result: Result) -> list[Check]:
    """The issue's targets for this result (reported, never asserted)."""
    if isinstance(result, DrainResult):
        if result.scenario == "competing":
            return [
                _check("drain / minimum", result.ratio, "<=", 1.05),
                _check("429 per 100 OK", result.throttled_per_100, "<=", 5),
                _check("orders lost", result.lost, "==", 0),
            ]
        return [
            # Quota efficiency >= 0.99 means drain <= 1/0.99 x minimum; the issue
            # states it as <= 1.01, the stricter of the two.
            _check("drain / minimum", result.ratio, "<=", 1.01),
            _check("429 responses", result.throttled, "==", 0),
            _check("item requests / item pages", result.item_request_ratio, "==", 1),
            _check("orders lost", result.lost, "==", 0),
        ]
    if isinstance(result, SteadyResult):
        return [
            _check("wasted item requests", result.wasted_item_requests, "==", 0),
            _check("429 responses", result.throttled, "==", 0),
            _check("orders lost", result.lost, "==", 0),
        ]
    if isinstance(result, CpuResult):
        return [
            _check("orders per CPU-second", result.orders_per_cpu_second, ">=", 5000)
        ]
    return [
        _check("peak RSS MB", result.peak_rss_mb, "<=", 150),
        _check("orders lost", result.lost, "==", 0),
    ]


# -- the table ---------------------------------------------------------------------


def _num(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _drain_lines(r: DrainResult) -> list[tuple[str, str]]:
    share = f", competitor takes {r.competing_share:.0%}" if r.competing_share else ""
    return [
        ("backlog", f"{r.orders:,} orders{share}"),
        ("drain time", f"{_num(r.drain_seconds)} s (virtual)"),
        ("theoretical minimum", f"{_num(r.minimum_seconds)} s ({r.binding_operation})"),
        ("drain / minimum", f"{r.ratio:.4f} (efficiency {r.efficiency:.4f})"),
        ("429 responses", f"{r.throttled} ({r.throttled_per_100:.2f} per 100 OK)"),
        ("requests", ", ".join(f"{k} {v:,}" for k, v in r.requests.items())),
        (
            "item requests / new order",
            f"{r.item_requests_per_order:.4f} (item pages / new order "
            f"{r.item_pages_per_order:.4f}; ratio {r.item_request_ratio:.4f})",
        ),
        (
            "orders",
            f"{r.imported:,} imported, {r.failed:,} failed, {r.cancelled:,} "
            f"cancelled, {r.lost} lost",
        ),
    ]


def _steady_lines(r: SteadyResult) -> list[tuple[str, str]]:
    return [
        (
            "arrivals",
            f"{r.arrived:,} orders in {r.hours:g} h ({r.orders_per_hour:g}/h), "
            f"{r.imported:,} imported",
        ),
        (
            "latency p50 / p99 / max",
            f"{_num(r.latency_p50)} / {_num(r.latency_p99)} / {_num(r.latency_max)} s "
            f"(Amazon's lag {r.latency_floor:g} s + a pass every "
            f"{r.orders_interval:g} s)",
        ),
        (
            "item requests",
            f"{r.item_requests:,} for {r.item_pages:,} pages, "
            f"{r.wasted_item_requests} wasted",
        ),
        ("later versions downloaded", f"{r.updates_downloaded:,} (status only)"),
        ("shipments uploaded", f"{r.shipments_uploaded:,}"),
        ("429 responses", str(r.throttled)),
        ("requests", ", ".join(f"{k} {v:,}" for k, v in r.requests.items())),
        ("orders lost", str(r.lost)),
    ]


def _cpu_lines(r: CpuResult) -> list[tuple[str, str]]:
    return [
        ("backlog", f"{r.orders:,} orders, quotas lifted"),
        (
            "CPU",
            f"{r.cpu_seconds:.2f} s, of which the in-process simulator "
            f"{r.simulator_cpu_seconds:.2f} s",
        ),
        ("orders / CPU-second", _num(r.orders_per_cpu_second, 0)),
        ("orders / daemon CPU-second", _num(r.orders_per_daemon_cpu_second, 0)),
        ("peak RSS", f"{r.peak_rss_mb:.1f} MB (before the run {r.start_rss_mb:.1f})"),
        ("orders", f"{r.imported:,} imported, {r.lost} lost"),
    ]


def _channels_lines(r: ChannelsResult) -> list[tuple[str, str]]:
    return [
        (
            "channels",
            f"{r.channels:,} x {r.orders_per_channel} orders, then "
            f"{r.idle_hours:g} h idle",
        ),
        (
            "CPU",
            f"{r.total_cpu_seconds:.2f} s (setup {r.setup_cpu_seconds:.2f}, drain "
            f"{r.drain_cpu_seconds:.2f}, idle {r.idle_cpu_seconds:.2f})",
        ),
        (
            "CPU per idle channel-hour",
            f"{r.cpu_per_idle_channel_hour * 1000:.1f} ms "
            f"({r.idle_requests_per_channel_hour:.1f} requests)",
        ),
        ("peak RSS", f"{r.peak_rss_mb:.1f} MB (before the run {r.start_rss_mb:.1f})"),
        ("orders", f"{r.imported:,} imported, {r.lost} lost, {r.throttled} x 429"),
    ]


def _lines(result: Result) -> list[tuple[str, str]]:
    if isinstance(result, DrainResult):
        return _drain_lines(result)
    if isinstance(result, SteadyResult):
        return _steady_lines(result)
    if isinstance(result, CpuResult):
        return _cpu_lines(result)
    return _channels_lines(result)


def render(report: Report) -> str:
    """The report as a plain-text table: one block per scenario, its targets last."""
    rows: list[tuple[str, str, str]] = []
    for name, result in report.results.items():
        rows += [(name, figure, value) for figure, value in _lines(result)]
        for c in checks(result):
            verdict = "met" if c.met else "MISSED"
            rows.append((name, f"target {c.figure} {c.target}", verdict))
    rows += [(name, "not run", why) for name, why in NOT_RUN.items()]
    width = [max(len(r[i]) for r in rows) for i in (0, 1)]
    m = report.machine
    out = [
        f"kccsync {__version__} bench, seed {report.options.seed}: "
        f"{m['nproc']} CPUs, Python {m['python']}, {m['machine']} {m['system']}",
    ]
    previous = None
    for name, figure, value in rows:
        if name != previous:
            out.append("")
            previous = name
        out.append(f"{name.ljust(width[0])}  {figure.ljust(width[1])}  {value}")
    return "\n".join(out)


# -- the command -------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `bench` options."""
    defaults = Options()
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=(*SCENARIOS, "all"),
        metavar="NAME",
        help=f"one of {', '.join(SCENARIOS)} or all (repeatable; default all)",
    )
    parser.add_argument(
        "--orders",
        type=_positive,
        default=defaults.orders,
        metavar="N",
        help=f"backlog of backlog, competing and cpu (default {defaults.orders:,}); "
        f"small uses at most 100",
    )
    parser.add_argument(
        "--channels",
        type=_positive,
        default=defaults.channels,
        metavar="M",
        help=f"channels in the channels scenario (default {defaults.channels})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=defaults.seed,
        metavar="S",
        help=f"simulator seed; same seed, same virtual figures (default "
        f"{defaults.seed})",
    )


def selected(names: list[str] | None) -> list[str]:
    """The scenarios to run, in `SCENARIOS` order, each once."""
    if not names or "all" in names:
        return list(SCENARIOS)
    return [s for s in SCENARIOS if s in names]


def run_bench(args: argparse.Namespace) -> int:
    """`kccsync bench`: run, then print the table or one JSON document."""
    logs.configure(fmt="console", level="error", stream=sys.stderr)
    options = Options(orders=args.orders, channels=args.channels, seed=args.seed)
    report = Report(options=options, results=run(selected(args.scenario), options))
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render(report) + "\n")
    return 0
