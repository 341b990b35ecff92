"""The simulator's command line, shared by `python -m kccsync.simulator` and
`kccsync simulator serve`: the arguments and the runner that serves until stopped.

`run_serve` prints `listening on http://HOST:PORT` (flushed) once the port is bound;
SIGTERM or SIGINT stop it with exit code 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from kccsync.config import SimulatorSettings
from kccsync.simulator.catalogue import MARKETPLACES, UK
from kccsync.simulator.server import serve


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, not {value}")
    return value


def _time_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, not {text}")
    return value


def _backlog(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def _marketplace_id(text: str) -> str:
    if text not in MARKETPLACES:
        known = ", ".join(sorted(MARKETPLACES))
        raise argparse.ArgumentTypeError(
            f"unknown marketplace {text!r} (one of {known})"
        )
    return text


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `serve` options (host, port, seed, time scale, backlog, markets)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument(
        "--port", type=_port, default=0, help="port (0: a free one; default 0)"
    )
    parser.add_argument("--seed", type=int, default=1, help="same seed, same orders")
    parser.add_argument(
        "--time-scale",
        type=_time_scale,
        default=1.0,
        metavar="X",
        help="marketplace time runs X times faster (> 0; default 1)",
    )
    parser.add_argument(
        "--backlog", type=_backlog, default=None, help="orders waiting at start"
    )
    parser.add_argument(
        "--marketplace-id",
        type=_marketplace_id,
        action="append",
        dest="marketplace_ids",
        metavar="ID",
        help="a marketplace the seller sells in (repeatable; default UK)",
    )


async def _serve(args: argparse.Namespace) -> None:
    settings = SimulatorSettings(seed=args.seed)
    if args.backlog is not None:
        settings = SimulatorSettings(seed=args.seed, backlog_orders=args.backlog)

    def ready(port: int) -> None:
        sys.stdout.write(f"listening on http://{args.host}:{port}\n")
        sys.stdout.flush()

    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await serve(
            args.host,
            args.port,
            seed=args.seed,
            time_scale=args.time_scale,
            settings=settings,
            ready=ready,
            marketplace_ids=args.marketplace_ids or (UK,),
        )


def run_serve(args: argparse.Namespace) -> int:
    """Serve the marketplace until SIGTERM/SIGINT; 0 then, 1 if it cannot start."""
    try:
        asyncio.run(_serve(args))
    except OSError as exc:  # e.g. the port is taken or the address is not local
        where = f"{args.host}:{args.port}"
        sys.stderr.write(f"simulator: cannot serve on {where}: {exc}\n")
        return 1
    return 0
