"""`kccsync run` as a real process on the built-in simulator, on the wall clock.

It imports orders, speaks sd_notify (READY, WATCHDOG, STOPPING) to a socket that
stands in for systemd, stops with exit 0 on SIGTERM, and a second start resumes
from the saved watermark without downloading or importing anything twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import reap

#: A broken daemon fails the test after this long instead of hanging it.
DEADLINE = 60.0
#: systemd's TimeoutStopSec in systemd/kccsync.service.
STOP_TIMEOUT = 30.0

CONFIG = """
[system]
database = "kccsync.db"
log_format = "json"

[[channels]]
name = "e2e"
marketplace_ids = ["A1F83G8C2ARO7P"]
restricted_data = true

[channels.simulator]
seed = 5
backlog_orders = 25
orders_per_hour = 0
"""


@dataclass
class Daemon:
    """A running `kccsync run` whose stdout JSON lines are collected as they come."""

    proc: subprocess.Popen[bytes]
    events: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw.append(line)
            # Every stdout line should be JSON: the test asserts it on `raw`.
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("event") == event]

    def wait_for(self, event: str) -> dict[str, Any]:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            found = self.named(event)
            if found:
                return found[0]
            if self.proc.poll() is not None:
                pytest.fail(f"daemon exited ({self.proc.returncode}) before {event}")
            time.sleep(0.05)
        pytest.fail(f"no {event} within {DEADLINE:g}s")


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def _start(config: Path, env: dict[str, str]) -> Daemon:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kccsync", "--config", str(config), "run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **env},
        )
        procs.append(proc)
        daemon = Daemon(proc)
        threading.Thread(target=daemon._pump, daemon=True).start()
        return daemon

    yield _start
    for proc in procs:
        reap(proc)


def _settled(db: Path) -> tuple[str, int] | None:
    """(watermark, orders) once a window completed and no order is pending."""
    if not db.exists():
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        mark = conn.execute(
            "SELECT value FROM sync_state WHERE key = 'orders_watermark'"
        ).fetchone()
        counts = dict(
            conn.execute(
                "SELECT state, COUNT(*) FROM channel_orders GROUP BY state"
            ).fetchall()
        )
    except sqlite3.OperationalError:
        return None  # schema not created yet
    finally:
        conn.close()
    if mark is None or counts.get("pending", 0) or not counts:
        return None
    return str(mark[0]), sum(counts.values())


def _wait_settled(db: Path, *, newer_than: str = "") -> tuple[str, int]:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        state = _settled(db)
        if state is not None and state[0] > newer_than:
            return state
        time.sleep(0.1)
    pytest.fail(f"store not settled within {DEADLINE:g}s")


def _sales_orders(db: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT co.order_id, so.so_code FROM sales_orders so"
            " JOIN channel_orders co ON co.id = so.channel_order_id"
            " ORDER BY so.so_code"
        ).fetchall()
    finally:
        conn.close()
    return [(str(a), str(b)) for a, b in rows]


def _stop(daemon: Daemon) -> int:
    daemon.proc.send_signal(signal.SIGTERM)
    return daemon.proc.wait(timeout=STOP_TIMEOUT)


def _notify_socket(tmp_path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    return sock


def _received(sock: socket.socket) -> list[str]:
    messages: list[str] = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            return messages


@pytest.mark.e2e
def test_daemon_imports_notifies_systemd_stops_and_resumes(
    tmp_path: Path, start: Any
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    db = tmp_path / "kccsync.db"
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "400000"}

    with _notify_socket(tmp_path) as sock:
        first = start(config, env | {"WATCHDOG_PID": ""})
        ready = first.wait_for("daemon_ready")
        mark, stored = _wait_settled(db)
        imported_first = _sales_orders(db)
        time.sleep(0.5)  # a few watchdog periods (0.2 s each)
        code = _stop(first)
        messages = _received(sock)

    assert code == 0
    assert ready["channels"] == ["e2e"]
    assert first.named("order_imported")
    assert len(imported_first) == len(first.named("order_imported"))
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert all(line.lstrip().startswith(b"{") for line in first.raw)
    assert messages[0].startswith("READY=1")
    assert "WATCHDOG=1" in messages
    assert messages[-1] == "STOPPING=1"
    assert first.named("daemon_stopped")
    started = first.named("orders_download_started")
    assert started[0]["resumed"] is False

    second = start(config, {})
    second_mark, _ = _wait_settled(db, newer_than=mark)
    assert _stop(second) == 0

    resumed = second.named("orders_download_started")[0]
    assert resumed["resumed"] is True
    assert resumed["updated_after"] < mark  # the watermark minus the overlap
    pages = second.named("orders_page_fetched")
    assert pages
    assert sum(p["new"] for p in pages) == 0  # seen before: no items asked again
    assert not second.named("order_imported")
    assert _sales_orders(db) == imported_first
    assert _settled(db) == (second_mark, stored)


@pytest.mark.e2e
def test_daemon_sighup_with_a_broken_config_keeps_running(
    tmp_path: Path, start: Any
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)

    daemon = start(config, {})
    daemon.wait_for("daemon_ready")
    config.write_text(CONFIG.replace("seed = 5", "seed = 'five'"))
    daemon.proc.send_signal(signal.SIGHUP)
    failed = daemon.wait_for("config_reload_failed")
    alive = daemon.proc.poll() is None
    code = _stop(daemon)

    assert alive
    assert code == 0
    assert "channels[0].simulator.seed" in failed["problems"][0]
    assert len(daemon.named("daemon_ready")) == 1
