"""sd_notify: one datagram to `$NOTIFY_SOCKET` (READY=1, WATCHDOG=1, STOPPING=1).

A few lines of our own beat a dependency: the protocol is a datagram of
newline-separated KEY=VALUE pairs; a leading '@' means the abstract namespace.
"""

from __future__ import annotations

import os
import socket


def notify(message: str) -> bool:
    """Send `message` to systemd; False (and no error) when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError:
        return False
    return True


def watchdog_interval() -> float | None:
    """Half the watchdog timeout systemd asked for, or None when there is none."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None
