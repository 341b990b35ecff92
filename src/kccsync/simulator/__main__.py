"""`python -m kccsync.simulator`: serve the marketplace on loopback until stopped.

Prints `listening on http://HOST:PORT` (flushed) once the port is bound; SIGTERM or
Ctrl-C stop it with exit code 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from kccsync.config import SimulatorSettings
from kccsync.simulator.catalogue import UK
from kccsync.simulator.server import serve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kccsync.simulator",
        description="Serve the built-in Amazon marketplace simulator over HTTP.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    parser.add_argument("--seed", type=int, default=1, help="same seed, same orders")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="marketplace time runs X times faster",
    )
    parser.add_argument(
        "--backlog", type=int, default=None, help="orders waiting at start"
    )
    parser.add_argument(
        "--marketplace-id",
        action="append",
        dest="marketplace_ids",
        help="a marketplace the seller sells in (repeatable; default UK)",
    )
    return parser


async def _run(args: argparse.Namespace) -> None:
    settings = SimulatorSettings(seed=args.seed)
    if args.backlog is not None:
        settings = SimulatorSettings(seed=args.seed, backlog_orders=args.backlog)

    def ready(port: int) -> None:
        sys.stdout.write(f"listening on http://{args.host}:{port}\n")
        sys.stdout.flush()

    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        if task is not None:
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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.time_scale <= 0:
        _parser().error("--time-scale must be > 0")
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
