"""The SP-API client on an `httpx.MockTransport`: what it retries and what it raises."""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import pytest

from kccsync.channels.amazon.auth import LwaAuth
from kccsync.channels.amazon.client import AmazonChannel
from kccsync.clock import LoopClock, run_virtual
from kccsync.config import Quotas
from kccsync.errors import MalformedResponseError, TransientError
from kccsync.limiter import QuotaSet
from kccsync.models import ChannelOrderItem

ITEMS = (
    Path(__file__).parents[1] / "data" / "amazon" / "order_items_v0.json"
).read_text()
ORDER_ID = "202-0000000-0000001"
ATTEMPTS = 4


def _fetch_items(
    bodies: list[tuple[int, str]], served: list[int] | None = None
) -> tuple[ChannelOrderItem, ...]:
    """list_items against a server that answers `bodies` in turn (then the last);
    `served` collects the status of every items request."""
    served = [] if served is None else served

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/o2/token":
            return httpx.Response(
                200, json={"access_token": "Atza|t", "expires_in": 3600}
            )
        status, text = bodies[min(len(served), len(bodies) - 1)]
        served.append(status)
        return httpx.Response(status, content=text.encode())

    async def main() -> tuple[ChannelOrderItem, ...]:
        clock = LoopClock()
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(handler), base_url="https://sp.test"
        ) as http:
            channel = AmazonChannel(
                name="t",
                http=http,
                auth=LwaAuth(
                    http=http,
                    token_url="https://sp.test/auth/o2/token",
                    client_id="id",
                    client_secret="secret",
                    refresh_token="Atzr|r",
                    clock=clock,
                ),
                quotas=QuotaSet.from_config(Quotas(), clock=clock),
                clock=clock,
                rng=random.Random(0),
                marketplace_ids=["A1F83G8C2ARO7P"],
                transient_attempts=ATTEMPTS,
            )
            return await channel.list_items(ORDER_ID)

    return run_virtual(main)


def test_client_retries_a_body_cut_short_then_succeeds() -> None:
    """A 200 whose JSON is truncated is a transient fault, not bad data."""
    items = _fetch_items([(200, ITEMS[: len(ITEMS) // 2]), (200, ITEMS)])

    assert [i.sku for i in items] == [
        i["SellerSKU"] for i in json.loads(ITEMS)["payload"]["OrderItems"]
    ]


def test_client_reports_malformed_only_after_every_attempt() -> None:
    served: list[int] = []
    with pytest.raises(MalformedResponseError, match="order_items: response is not"):
        _fetch_items([(200, "{not json")], served)

    assert len(served) == ATTEMPTS


def test_client_retries_5xx_then_gives_up_with_a_transient_error() -> None:
    with pytest.raises(TransientError, match="HTTP 503"):
        _fetch_items([(503, '{"errors": []}')])

    assert _fetch_items([(500, "{}"), (503, "{}"), (200, ITEMS)])
