"""`python -m kccsync.simulator`: serve the marketplace on loopback until stopped.

The same as `kccsync simulator serve` (see `kccsync.simulator.cli`): prints
`listening on http://HOST:PORT` (flushed) once the port is bound; SIGTERM or
Ctrl-C stop it with exit code 0.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kccsync.simulator.cli import add_serve_arguments, run_serve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kccsync.simulator",
        description="Serve the built-in Amazon marketplace simulator over HTTP.",
    )
    add_serve_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_serve(_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
