"""`kccsync simulator serve` as a real process over real HTTP: it binds, prints
where, answers LWA, getOrders (with paging) and getOrderItems, and stops cleanly on
SIGTERM.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time

import httpx
import pytest

from kccsync.simulator.catalogue import UK
from kccsync.simulator.testing import token_form
from tests.e2e.processes import reap

#: A broken server fails the test after this long instead of hanging it.
STARTUP_TIMEOUT = 15.0
LISTENING = re.compile(rb"^listening on (http://127\.0\.0\.1:(\d+))$")


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The first line `proc` writes to stdout, or fail after `timeout` seconds."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    buffer = b""
    while b"\n" not in buffer:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"no 'listening on' line within {timeout:g}s: {buffer!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                pytest.fail(
                    f"simulator exited (rc={proc.poll()}) before listening: {buffer!r}"
                )
            buffer += chunk
    return buffer.split(b"\n", 1)[0].rstrip(b"\r")


@pytest.mark.parametrize(
    "args",
    [
        ["--time-scale", "0"],
        ["--time-scale", "nan"],
        ["--port", "70000"],
        ["--backlog", "-1"],
        ["--marketplace-id", "NOPE"],
    ],
)
@pytest.mark.parametrize("entry", ["kccsync", "python -m kccsync.simulator"])
def test_bad_serve_arguments_exit_2_with_one_error_line(
    args: list[str], entry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from kccsync import cli
    from kccsync.simulator import __main__ as simulator_main

    def run() -> int:
        if entry == "kccsync":
            return cli.main(["simulator", "serve", *args])
        return simulator_main.main(args)

    with pytest.raises(SystemExit) as exited:
        run()

    assert exited.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert args[0] in errors[0]


@pytest.mark.e2e
def test_simulator_serve_speaks_sp_api_over_http_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kccsync",
            "simulator",
            "serve",
            "--port",
            "0",
            "--seed",
            "7",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        match = LISTENING.match(_read_line(proc, STARTUP_TIMEOUT))
        assert match is not None
        base_url = match.group(1).decode()
        assert int(match.group(2)) > 0

        with httpx.Client(base_url=base_url, timeout=10.0) as http:
            login = http.post("/auth/o2/token", data=token_form())
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            assert token.startswith("Atza|")
            headers = {"x-amz-access-token": token}

            params = {
                "MarketplaceIds": UK,
                "LastUpdatedAfter": "2020-01-01T00:00:00Z",
                "MaxResultsPerPage": "50",
            }
            first = http.get("/orders/v0/orders", params=params, headers=headers)
            assert first.status_code == 200, first.text
            assert first.headers["x-amzn-RateLimit-Limit"] == "0.0167"
            assert first.headers["x-amzn-RequestId"]
            page = first.json()["payload"]
            assert len(page["Orders"]) == 50
            assert page["LastUpdatedBefore"].endswith("Z")
            next_token = page["NextToken"]
            assert {"+", "/", "="} <= set(next_token)

            second = http.get(
                "/orders/v0/orders",
                params={"MarketplaceIds": UK, "NextToken": next_token},
                headers=headers,
            )
            assert second.status_code == 200, second.text
            ids = [o["AmazonOrderId"] for o in page["Orders"]]
            more = [o["AmazonOrderId"] for o in second.json()["payload"]["Orders"]]
            assert more
            assert not set(ids) & set(more)

            order_id = ids[0]
            items = http.get(
                f"/orders/v0/orders/{order_id}/orderItems", headers=headers
            )
            assert items.status_code == 200, items.text
            payload = items.json()["payload"]
            assert payload["AmazonOrderId"] == order_id
            assert payload["OrderItems"]
            assert all(i["OrderItemId"] for i in payload["OrderItems"])

            denied = http.get(f"/orders/v0/orders/{order_id}/orderItems")
            assert denied.status_code == 403
            assert denied.json()["errors"][0]["code"] == "MissingAuthenticationToken"

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        reap(proc)
