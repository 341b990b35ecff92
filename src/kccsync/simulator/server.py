"""The marketplace over HTTP/1.1 on loopback: asyncio streams plus h11, keep-alive.

`serve()` runs until cancelled. Its clock is the real one, optionally sped up
(`time_scale`), so a daemon on the same machine sees orders arrive and quotas refill
faster than in life; `ready(port)` reports the bound port (0 picks a free one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from http import HTTPStatus

import h11
import httpx

from kccsync.clock import Clock, SystemClock
from kccsync.config import SimulatorSettings
from kccsync.simulator.catalogue import UK
from kccsync.simulator.marketplace import Marketplace

log = logging.getLogger(__name__)

_MAX_BODY = 1 << 20
_PHRASES = frozenset(s.value for s in HTTPStatus)


class ScaledClock:
    """Real time running `scale` times faster, from the moment it is created."""

    def __init__(self, *, scale: float = 1.0, base: Clock | None = None) -> None:
        if scale <= 0:
            raise ValueError("time_scale must be > 0")
        self._base = base or SystemClock()
        self._scale = scale
        self._mono0 = self._base.monotonic()
        self._now0 = self._base.now()

    def _elapsed(self) -> float:
        return (self._base.monotonic() - self._mono0) * self._scale

    def monotonic(self) -> float:
        return self._mono0 + self._elapsed()

    def now(self) -> datetime:
        return self._now0 + timedelta(seconds=self._elapsed())

    async def sleep(self, seconds: float) -> None:
        await self._base.sleep(seconds / self._scale)


async def start(marketplace: Marketplace, host: str, port: int) -> asyncio.Server:
    """Start serving `marketplace` on host:port; the caller owns the server."""
    return await asyncio.start_server(partial(_connection, marketplace), host, port)


async def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    seed: int = 1,
    time_scale: float = 1.0,
    settings: SimulatorSettings | None = None,
    ready: Callable[[int], None] | None = None,
    marketplace_ids: Sequence[str] = (UK,),
) -> None:
    """Run a marketplace over HTTP on host:port until cancelled."""
    market = Marketplace(
        clock=ScaledClock(scale=time_scale),
        seed=seed,
        settings=settings,
        marketplace_ids=marketplace_ids,
    )
    market.book  # noqa: B018 - generate the backlog before the first client waits
    server = await start(market, host, port)
    bound = int(server.sockets[0].getsockname()[1])
    log.info("simulator listening on http://%s:%d (seed %d)", host, bound, seed)
    if ready is not None:
        ready(bound)
    async with server:
        await server.serve_forever()


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> object:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await reader.read(65536))


async def _read_request(
    conn: h11.Connection, reader: asyncio.StreamReader
) -> tuple[h11.Request, bytes] | None:
    event = await _next_event(conn, reader)
    if not isinstance(event, h11.Request):
        return None
    body = bytearray()
    while True:
        part = await _next_event(conn, reader)
        if isinstance(part, h11.Data):
            body += part.data
            if len(body) > _MAX_BODY:
                raise h11.RemoteProtocolError("request body too large", 413)
        elif isinstance(part, h11.EndOfMessage):
            return event, bytes(body)
        else:
            return None


def _to_httpx(request: h11.Request, body: bytes) -> httpx.Request:
    target = request.target.decode("ascii")
    if not target.startswith("/"):
        raise h11.RemoteProtocolError("only origin-form targets are served", 400)
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
    return httpx.Request(
        request.method.decode("ascii"),
        "http://simulator" + target,
        headers=headers,
        content=body,
    )


async def _send(
    conn: h11.Connection,
    writer: asyncio.StreamWriter,
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    if status not in (204, 304):
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("content-length", str(len(body))))
    else:
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    reason = HTTPStatus(status).phrase.encode() if status in _PHRASES else b""
    response = h11.Response(status_code=status, headers=headers, reason=reason)
    writer.write(conn.send(response) or b"")
    if body:
        writer.write(conn.send(h11.Data(data=body)) or b"")
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    await writer.drain()


async def _connection(
    market: Marketplace, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            try:
                received = await _read_request(conn, reader)
                if received is None:
                    break
                request = _to_httpx(*received)
            except h11.RemoteProtocolError as exc:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    status = exc.error_status_hint
                    await _send(conn, writer, status, [("connection", "close")], b"")
                break
            response = await market.handle(request)
            headers = [(k, v) for k, v in response.headers.multi_items()]
            await _send(conn, writer, response.status_code, headers, response.content)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                break
            conn.start_next_cycle()
    except (ConnectionError, h11.LocalProtocolError) as exc:
        log.debug("simulator connection closed: %s", exc)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
