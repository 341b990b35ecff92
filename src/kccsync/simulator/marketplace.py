"""The built-in Amazon marketplace: one seller's SP-API subset behind `handle(request)`.

`Marketplace.handle` answers an `httpx.Request` the way Amazon would: LWA tokens, the
Orders v0 and 2026-01-01 reads, confirmShipment and the Tokens API, with server-side
usage plans, Amazon's validation and error envelopes, fault injection, and a record
of every request and shipment. `transport()` plugs it into an `httpx.AsyncClient`
in-process (no sockets, virtual time works); `server.serve` puts it on loopback.

Per request, in Amazon's order: route (404) -> access token (403) -> usage plan
(429) -> injected 5xx -> validation (400) -> unknown order (404) -> answer.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

import httpx

from kccsync.clock import Clock, thread_cpu_seconds
from kccsync.config import SimulatorSettings
from kccsync.simulator import orders_2026, orders_v0
from kccsync.simulator.auth import TOKEN_PATH, Credentials, Grant, LwaError, TokenIssuer
from kccsync.simulator.catalogue import MARKETPLACES, UK, Product, build_catalogue
from kccsync.simulator.generator import CANCELED, OrderBook, SimItem, SimOrder, seeded
from kccsync.simulator.paging import NextTokens
from kccsync.simulator.params import ApiError, Query
from kccsync.simulator.quotas import DEFAULT_QUOTAS, Operation, ServerQuota
from kccsync.simulator.records import Call, Faults, RecordedRequest, RecordedShipment

#: getOrderItems returns at most this many items per page.
ITEMS_PAGE_SIZE = 20
#: The backlog's purchase dates spread over this many seconds before the start.
BACKLOG_WINDOW = 6 * 86400.0

_ROUTES: tuple[tuple[str, re.Pattern[str], Operation], ...] = (
    ("POST", re.compile(rf"^{TOKEN_PATH}$"), Operation.LWA_TOKEN),
    ("GET", re.compile(r"^/orders/v0/orders$"), Operation.GET_ORDERS),
    ("GET", re.compile(r"^/orders/v0/orders/([^/]+)$"), Operation.GET_ORDER),
    (
        "GET",
        re.compile(r"^/orders/v0/orders/([^/]+)/orderItems$"),
        Operation.GET_ORDER_ITEMS,
    ),
    (
        "POST",
        re.compile(r"^/orders/v0/orders/([^/]+)/shipmentConfirmation$"),
        Operation.CONFIRM_SHIPMENT,
    ),
    (
        "POST",
        re.compile(r"^/tokens/2021-03-01/restrictedDataToken$"),
        Operation.CREATE_RDT,
    ),
    ("GET", re.compile(r"^/orders/2026-01-01/orders$"), Operation.SEARCH_ORDERS),
    (
        "GET",
        re.compile(r"^/orders/2026-01-01/orders/([^/]+)$"),
        Operation.GET_ORDER_2026,
    ),
)
_RATE_HEADER_STATUSES = frozenset({200, 204, 400, 404})
#: `x-amzn-ErrorType` as Amazon's gateway sends it on these statuses.
_ERROR_TYPES = {403: "AccessDeniedException", 429: "TooManyRequestsException"}


class Marketplace:
    """One simulated seller account on Amazon, deterministic for a seed.

    Args:
        clock: its `now()` is the marketplace's wall time (order dates, the 2-minute
            rule, token expiry), its `monotonic()` the usage plans' time.
        seed: overrides `settings.seed`; the same seed gives the same payloads.
        settings: generator knobs (backlog, arrival rate, shares) and initial faults.
        marketplace_ids: where the seller sells; orders are spread over them.
        quotas: per-operation (burst, restore_seconds) overriding Amazon's defaults.
        enforce_quotas: False turns the usage plans off (CPU benchmarks).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        seed: int | None = None,
        settings: SimulatorSettings | None = None,
        marketplace_ids: Sequence[str] = (UK,),
        quotas: Mapping[str, tuple[float, float]] | None = None,
        faults: Faults | None = None,
        enforce_quotas: bool = True,
        credentials: Credentials | None = None,
        items_page_size: int = ITEMS_PAGE_SIZE,
        backlog_window: float = BACKLOG_WINDOW,
        catalogue_size: int = 120,
    ) -> None:
        self.clock = clock
        self.settings = settings or SimulatorSettings()
        self.seed = self.settings.seed if seed is None else seed
        unknown = [m for m in marketplace_ids if m not in MARKETPLACES]
        if not marketplace_ids or unknown:
            raise ValueError(f"unknown or no marketplace ids: {unknown or 'none'}")
        self.marketplace_ids = tuple(marketplace_ids)
        self._quota_plan = {
            op: (float(b), float(r)) for op, (b, r) in DEFAULT_QUOTAS.items()
        }
        for name, (burst, restore) in (quotas or {}).items():
            self._quota_plan[Operation(name)] = (float(burst), float(restore))
        self.faults = faults or Faults(
            server_error_rate=self.settings.server_error_rate,
            competing_share=self.settings.competing_share,
        )
        self.enforce_quotas = enforce_quotas
        self.items_page_size = items_page_size
        self.backlog_window = backlog_window
        self.products: tuple[Product, ...] = build_catalogue(catalogue_size)
        self.issuer = TokenIssuer(credentials or Credentials(), self.seed)
        self.tokens = NextTokens(self.seed)
        #: Every request, in arrival order.
        self.requests: list[RecordedRequest] = []
        #: Every accepted confirmShipment package, in order.
        self.shipments: list[RecordedShipment] = []
        self._book: OrderBook | None = None
        self._quotas: dict[Operation, ServerQuota] = {}
        self._fault_rng = seeded(self.seed, "faults")
        self._request_count = 0
        #: CPU seconds spent answering requests (this thread only), so a benchmark
        #: can tell the simulator's share of an in-process run from the client's.
        self.cpu_seconds = 0.0

    # -- public helpers -----------------------------------------------------------

    @property
    def book(self) -> OrderBook:
        """The order book; created (backlog generated) on first use at clock.now()."""
        if self._book is None:
            self._book = OrderBook(
                seed=self.seed,
                settings=self.settings,
                marketplace_ids=self.marketplace_ids,
                catalogue=self.products,
                epoch=self.clock.now(),
                backlog_window=self.backlog_window,
                items_page_size=self.items_page_size,
            )
        return self._book

    @property
    def catalogue(self) -> list[tuple[str, str]]:
        """The seller's catalogue as (SellerSKU, title) pairs."""
        return [(p.sku, p.title) for p in self.products]

    def _advance(self) -> OrderBook:
        book = self.book
        book.advance(book.seconds(self.clock.now()))
        return book

    @property
    def orders(self) -> Mapping[str, SimOrder]:
        """Every order that exists now, by AmazonOrderId (a live, read-only view)."""
        return MappingProxyType(self._advance().by_id)

    def items(self, order_id: str) -> tuple[SimItem, ...]:
        """The order's items (KeyError for an unknown order)."""
        return self.book.items(self.book.by_id[order_id])

    def update_order_status(self, order_id: str, status: str) -> None:
        """Script a later update: set the status now and bump LastUpdateDate."""
        book = self._advance()
        book.set_status(book.by_id[order_id], status, book.now_s)

    def cancel_order(self, order_id: str) -> None:
        """Script a cancellation (bumps LastUpdateDate)."""
        self.update_order_status(order_id, CANCELED)

    def grant_access_token(self) -> str:
        """A valid LWA access token without an HTTP round trip (for tests)."""
        book = self._advance()
        creds = self.issuer.credentials
        form = (
            f"grant_type=refresh_token&refresh_token={creds.refresh_token}"
            f"&client_id={creds.client_id}&client_secret={creds.client_secret}"
        )
        body = self.issuer.exchange(
            "application/x-www-form-urlencoded", form.encode(), book.now_s
        )
        return str(body["access_token"])

    def expire_next_tokens(self) -> None:
        """Fault: every NextToken issued so far is now expired."""
        self.tokens.expire_all()

    def expire_access_tokens(self) -> None:
        """Fault: every access token and RDT issued so far expires now."""
        book = self._advance()
        self.issuer.expire_all(book.now_s)

    def quota(self, operation: str) -> tuple[float, float]:
        """The server's (burst, restore_seconds) for `operation`."""
        return self._quota_plan[Operation(operation)]

    def competitor_tokens(self, operation: str) -> float:
        """Tokens of `operation`'s quota the competing client has taken so far."""
        quota = self._quotas.get(Operation(operation))
        if quota is None:
            return 0.0
        return quota.competitor_tokens(self.clock.monotonic())

    def count(
        self,
        operation: str | None = None,
        status: int | None = None,
        method: str | None = None,
    ) -> int:
        """How many recorded requests match every given criterion."""
        return sum(
            1
            for r in self.requests
            if (operation is None or r.operation == operation)
            and (status is None or r.status == status)
            and (method is None or r.method == method)
        )

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport that serves requests in-process from this marketplace."""
        return MarketplaceTransport(self)

    # -- serving ------------------------------------------------------------------

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as Amazon would."""
        if self.faults.latency > 0:
            await self.clock.sleep(self.faults.latency)
        start = thread_cpu_seconds()
        try:
            return await self._answer(request)
        finally:
            self.cpu_seconds += thread_cpu_seconds() - start

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        now, mono = self.clock.now(), self.clock.monotonic()
        book = self.book
        now_s = book.seconds(now)
        book.advance(now_s)
        self._request_count += 1
        digest = hashlib.sha256(
            f"{self.seed}:{self._request_count}:rid".encode()
        ).digest()
        request_id = str(uuid.UUID(bytes=digest[:16], version=4))
        method, path = request.method, request.url.path
        raw_query = request.url.query.decode("ascii", "replace")
        operation, args = _route(method, path)
        headers = {"x-amzn-RequestId": request_id}
        payload: dict[str, Any] | None
        try:
            if operation is Operation.LWA_TOKEN:
                ctype = request.headers.get("content-type", "")
                status, payload = 200, self.issuer.exchange(ctype, body, now_s)
            else:
                call = self._authorise(request, operation, body, raw_query, now_s, mono)
                status, payload = self._dispatch(operation, args, call)
        except ApiError as exc:
            status = exc.status
            # Amazon always sends `details`, as "" when it has nothing to add.
            error = {"code": exc.code, "message": exc.message, "details": exc.details}
            payload = {"errors": [error]}
            error_type = _ERROR_TYPES.get(status)
            if error_type is not None:
                headers["x-amzn-ErrorType"] = error_type
        except LwaError as exc:
            status, payload = exc.status, exc.body
        quota = self._quotas.get(operation)
        if quota is not None and status in _RATE_HEADER_STATUSES:
            headers["x-amzn-RateLimit-Limit"] = quota.rate_limit
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        self.requests.append(
            RecordedRequest(
                now, mono, operation, method, path, params, status, request_id
            )
        )
        content = b""
        if payload is not None:
            headers["content-type"] = "application/json"
            content = json.dumps(
                payload, separators=(",", ":"), ensure_ascii=False
            ).encode()
            # Like the 5xx knob, only SP-API answers (not LWA's, another host).
            rate = self.faults.malformed_rate
            sp_api = operation is not Operation.LWA_TOKEN
            if (
                sp_api
                and status == 200
                and rate > 0
                and self._fault_rng.random() < rate
            ):
                content = content[: len(content) // 2]
        return httpx.Response(status, headers=headers, content=content)

    def _authorise(
        self,
        request: httpx.Request,
        operation: Operation,
        body: bytes,
        raw_query: str,
        now_s: float,
        mono: float,
    ) -> Call:
        """Token (403), usage plan (429), injected 5xx; then the decoded call."""
        if operation is Operation.UNKNOWN:
            raise ApiError(
                404, "NotFound", f"No resource at {request.method} {request.url.path}."
            )
        token = request.headers.get("x-amz-access-token")
        try:
            grant = self.issuer.check(token, now_s)
        except ApiError as exc:
            if operation is Operation.CONFIRM_SHIPMENT and "invalid" in exc.details:
                # The model lists 401 for confirmShipment's badly formed/invalid token.
                raise ApiError(
                    401,
                    "Unauthorized",
                    "The request's Authorization header is not formatted correctly "
                    "or does not contain a valid token.",
                ) from None
            raise
        pii = _restricted_elements(grant, request.method, request.url.path)
        if self.enforce_quotas:
            quota = self._quota(operation, mono)
            if not quota.try_take(mono):
                raise ApiError(
                    429,
                    "QuotaExceeded",
                    "You exceeded your quota for the requested resource.",
                )
        rate = self.faults.server_error_rate
        if rate > 0 and self._fault_rng.random() < rate:
            if self._fault_rng.random() < 0.5:
                raise ApiError(
                    500, "InternalFailure", "We encountered an internal error."
                )
            raise ApiError(
                503, "ServiceUnavailable", "Service temporarily unavailable."
            )
        return Call(
            method=request.method,
            path=request.url.path,
            query=Query(raw_query),
            body=body,
            content_type=request.headers.get("content-type", ""),
            now=self.book.date(now_s),
            now_s=now_s,
            mono=mono,
            pii=pii,
        )

    def _quota(self, operation: Operation, mono: float) -> ServerQuota:
        quota = self._quotas.get(operation)
        share = self.faults.share_for(operation)
        if quota is None:
            burst, restore = self._quota_plan[operation]
            quota = self._quotas[operation] = ServerQuota(burst, restore, mono, share)
        else:
            quota.set_share(share, mono)
        return quota

    def _dispatch(
        self, operation: Operation, args: tuple[str, ...], call: Call
    ) -> tuple[int, dict[str, Any] | None]:
        if operation is Operation.GET_ORDERS:
            return orders_v0.get_orders(self, call)
        if operation is Operation.GET_ORDER:
            return orders_v0.get_order(self, call, args[0])
        if operation is Operation.GET_ORDER_ITEMS:
            return orders_v0.get_order_items(self, call, args[0])
        if operation is Operation.CONFIRM_SHIPMENT:
            return orders_v0.confirm_shipment(self, call, args[0])
        if operation is Operation.CREATE_RDT:
            call.query.check_known(())
            return 200, self.issuer.create_rdt(call.json_body(), call.now_s)
        if operation is Operation.SEARCH_ORDERS:
            return orders_2026.search_orders(self, call)
        return orders_2026.get_order(self, call, args[0])


def _route(method: str, path: str) -> tuple[Operation, tuple[str, ...]]:
    for route_method, pattern, operation in _ROUTES:
        match = pattern.match(path)
        if match and route_method == method:
            return operation, match.groups()
    return Operation.UNKNOWN, ()


def _restricted_elements(grant: Grant, method: str, path: str) -> frozenset[str]:
    """The data elements an RDT unlocks here; 403 if the RDT does not cover the call."""
    if not grant.restricted:
        return frozenset()
    elements = grant.resources.get((method, path))
    if elements is None:
        raise ApiError(
            403,
            "Unauthorized",
            "Access to requested resource is denied.",
            f"The Restricted Data Token does not cover {method} {path}.",
        )
    return elements


class MarketplaceTransport(httpx.AsyncBaseTransport):
    """`httpx.AsyncClient(transport=market.transport(), base_url=...)`: no sockets."""

    def __init__(self, marketplace: Marketplace) -> None:
        self._marketplace = marketplace

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._marketplace.handle(request)
