"""The command line: argument parsing, output (tables or --json) and exit codes.

Exit codes: 0 ok, 1 the operation failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from kccsync import __version__, backoffice, logs
from kccsync.bench import add_bench_arguments, run_bench
from kccsync.clock import SystemClock
from kccsync.config import Config, load_path, resolve_path
from kccsync.errors import ConfigError, KccsyncError, StoreError
from kccsync.simulator.cli import add_serve_arguments, run_serve
from kccsync.timeutil import parse_iso

T = TypeVar("T")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STATES = ("pending", "imported", "failed", "ignored", "cancelled")


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with a one-line error (its default) and no traceback."""


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kccsync",
        description="Keep a seller's back office in step with Amazon (SP-API).",
        epilog="Config: --config, else $KCCSYNC_CONFIG, else /etc/kccsync/config.toml. "
        "Exit codes: 0 ok, 1 operation failed, 2 usage or config error.",
    )
    parser.add_argument("--config", metavar="PATH", help="the TOML config file")
    parser.add_argument("--version", action="version", version=f"kccsync {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", help="run the daemon (until SIGTERM/SIGINT; SIGHUP re-reads the config)"
    )
    run.add_argument(
        "--once", action="store_true", help="one full pass of every channel, then exit"
    )
    sub.add_parser("check-config", help="validate the config file and summarise it")

    orders = sub.add_parser("orders", help="imported orders and their actions")
    osub = orders.add_subparsers(dest="orders_command", required=True, metavar="ACTION")
    lst = osub.add_parser("list", help="list downloaded orders")
    which = lst.add_mutually_exclusive_group()
    which.add_argument("--channel", metavar="NAME", help="only this channel")
    which.add_argument("--all", action="store_true", help="every channel (default)")
    lst.add_argument("--state", choices=STATES, help="only orders in this state")
    _add_json(lst)
    show = osub.add_parser("show", help="one order in detail")
    show.add_argument("id", metavar="ID", help="channel order id or SO code")
    _add_json(show)
    for name, text in (
        ("ignore", "ignore / don't import these orders"),
        ("retry-download", "download these orders again from scratch (order, items)"),
        ("retry-import", "import these orders again from the stored data"),
    ):
        act = osub.add_parser(name, help=text)
        act.add_argument("ids", nargs="+", metavar="ID")
    issue = osub.add_parser(
        "issue", help="mark an order dispatched (queues its notification)"
    )
    issue.add_argument("id", metavar="ID")
    issue.add_argument(
        "--carrier", required=True, help="carrier code, e.g. Royal Mail, UPS"
    )
    issue.add_argument("--carrier-name", help="carrier name when --carrier is Other")
    issue.add_argument("--tracking", required=True, help="tracking number")
    issue.add_argument("--ship-date", help="ISO 8601 date-time (default: now)")

    stock = sub.add_parser("stock", help="stock items and their SKUs")
    ssub = stock.add_subparsers(dest="stock_command", required=True, metavar="ACTION")
    add = ssub.add_parser("add", help="add a stock item (SKU = code unless --sku)")
    add.add_argument("code")
    add.add_argument("--sku", action="append", default=[], help="a SKU (repeatable)")
    add.add_argument("--description")
    imp = ssub.add_parser("import", help="import stock_code,sku[,description] rows")
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    slist = ssub.add_parser("list", help="list stock items")
    _add_json(slist)

    tasks = sub.add_parser("tasks", help="each sync task's last run, success, error")
    tasks.add_argument("--channel", metavar="NAME")
    _add_json(tasks)
    notes = sub.add_parser("notifications", help="channel problems (open ones)")
    notes.add_argument("--channel", metavar="NAME")
    notes.add_argument("--all", action="store_true", help="include resolved ones")
    _add_json(notes)

    sim = sub.add_parser("simulator", help="the built-in Amazon marketplace simulator")
    simsub = sim.add_subparsers(
        dest="simulator_command", required=True, metavar="ACTION"
    )
    add_serve_arguments(
        simsub.add_parser("serve", help="serve it over HTTP until SIGTERM/SIGINT")
    )
    add_bench_arguments(
        sub.add_parser(
            "bench",
            help="measure the sync pipeline against the simulator (virtual time)",
            description="Run the real sync code against the built-in simulator in "
            "virtual time and report quota efficiency, 429s, requests per "
            "operation, latency, CPU and memory. Needs no config file. Orders "
            "2026-01-01 is not measured yet (no client).",
        )
    )
    return parser


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [
        max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)
    ]
    lines = [
        "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
    ]
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def _emit(data: Any, as_json: bool, columns: Sequence[str] = ()) -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    elif isinstance(data, list):
        print(_table(data, columns))
    else:
        print(data)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _summary(config: Config, path: Path) -> str:
    lines = [
        f"config {path}: OK",
        f"database: {config.system.database}",
        f"sales order codes: {config.system.so_prefix}{1:0{config.system.so_digits}d}",
    ]
    for ch in config.channels:
        source = "built-in simulator" if ch.simulator else ch.sp_api_endpoint
        state = "" if ch.enabled else " (disabled)"
        upload = "on" if ch.upload_order_status else "off (held)"
        lines.append(
            f"channel {ch.name}{state}: {ch.type} {ch.api} via {source}; "
            f"marketplaces {','.join(ch.marketplace_ids)}; orders every "
            f"{ch.orders_interval:g}s; status upload every "
            f"{ch.status_upload_interval:g}s "
            f"({upload}); restricted data {'on' if ch.restricted_data else 'off'}"
        )
    return "\n".join(lines)


def _orders(args: argparse.Namespace, config: Config) -> int:
    cmd = args.orders_command
    now = SystemClock().now()
    if cmd == "list":
        rows = _run(
            backoffice.list_orders(config, channel=args.channel, state=args.state)
        )
        cols = (
            "channel",
            "order_id",
            "state",
            "channel_status",
            "fulfillment",
            "purchase_date",
            "so_code",
            "customer",
            "shipping_notification",
            "error",
        )
        _emit(rows, args.json, cols)
    elif cmd == "show":
        detail = _run(backoffice.show_order(config, args.id))
        text = detail if args.json else json.dumps(detail, indent=2, default=str)
        _emit(text, args.json)
    elif cmd == "issue":
        ship_date = parse_iso(args.ship_date) if args.ship_date else now
        print(
            _run(
                backoffice.issue_order(
                    config,
                    args.id,
                    carrier=args.carrier,
                    carrier_name=args.carrier_name,
                    tracking=args.tracking,
                    ship_date=ship_date,
                    now=now,
                )
            )
        )
    else:
        for line in _run(backoffice.queue_actions(config, cmd, args.ids, now)):
            print(line)
        print("The running daemon carries these out within seconds.")
    return EXIT_OK


def _stock(args: argparse.Namespace, config: Config) -> int:
    now = SystemClock().now()
    if args.stock_command == "add":
        print(
            _run(
                backoffice.add_stock(config, args.code, args.sku, args.description, now)
            )
        )
    elif args.stock_command == "import":
        count = _run(backoffice.import_stock(config, args.file, now))
        print(f"{count} SKU rows imported from {args.file}")
    else:
        _emit(
            _run(backoffice.list_stock(config)),
            args.json,
            ("code", "description", "skus"),
        )
    return EXIT_OK


def _dispatch(args: argparse.Namespace) -> int:
    path = resolve_path(args.config)
    config = load_path(path)
    if args.command == "check-config":
        print(_summary(config, path))
        return EXIT_OK
    if args.command == "run":
        from kccsync import daemon  # noqa: PLC0415 - keep admin commands fast to start

        logs.configure(fmt=config.system.log_format, level=config.system.log_level)
        return _run(
            daemon.run(
                config,
                clock=SystemClock(),
                once=args.once,
                reader=lambda: load_path(path),
            )
        )
    logs.configure(fmt="console", level="warning", stream=sys.stderr)
    if args.command == "orders":
        return _orders(args, config)
    if args.command == "stock":
        return _stock(args, config)
    if args.command == "tasks":
        rows = _run(backoffice.list_tasks(config, args.channel))
        _emit(
            rows,
            args.json,
            ("channel", "task", "last_run", "last_success", "last_error"),
        )
        return EXIT_OK
    rows = _run(
        backoffice.list_notifications(config, args.channel, include_resolved=args.all)
    )
    cols = (
        "channel",
        "severity",
        "message",
        "count",
        "first_seen",
        "last_seen",
        "resolved",
    )
    _emit(rows, args.json, cols)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `kccsync` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "simulator":  # needs no config file
        return run_serve(args)
    if args.command == "bench":  # needs no config file either
        return run_bench(args)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"kccsync: config error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"kccsync: database error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KccsyncError as exc:
        print(f"kccsync: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
