"""The SP-API Orders v0 channel: requests, paging, quotas, retries and error mapping.

Every request takes a token from its operation's bucket first. A 429 empties
the bucket (someone else spends the same quota) and the request waits for the
next token; a run of 429s is raised as `RateLimited` so the sync task can say
"Request is throttled". Transport faults, 5xx and 2xx bodies cut short are
retried with jittered backoff (tenacity, sleeping on the injected clock, jitter
from the injected RNG); 401/403 refresh the access token once. 400 and 404 are
not retried.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity.stop import stop_after_attempt

from kccsync.channels.amazon import parse
from kccsync.channels.amazon.auth import LwaAuth
from kccsync.clock import Clock
from kccsync.errors import (
    AuthError,
    ImportProblem,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    RateLimited,
    TransientError,
)
from kccsync.limiter import QuotaSet
from kccsync.models import ChannelOrder, ChannelOrderItem, OrdersPage, Shipment
from kccsync.timeutil import iso

log = structlog.get_logger(__name__)
T = TypeVar("T")

ORDERS_PATH = "/orders/v0/orders"
RDT_PATH = "/tokens/2021-03-01/restrictedDataToken"
#: Statuses asked for (DESIGN.md §2): never Pending; Canceled to see cancellations.
ORDER_STATUSES = "Unshipped,PartiallyShipped,Shipped,Canceled"
PAGE_SIZE = 100
RDT_MARGIN = 60.0
#: The personal data elements a Restricted Data Token is asked for.
PII = ("buyerInfo", "shippingAddress")
#: (path, data elements) of a request that wants a Restricted Data Token.
Restricted = tuple[str, tuple[str, ...]]


class _NotJson(TransientError):
    """A 2xx whose body is not JSON: usually a cut connection, so retried."""


def backoff(
    attempt: int, rng: random.Random, base: float = 1.0, cap: float = 60.0
) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base·2^attempt)]."""
    return rng.uniform(0, min(cap, base * 2**attempt))


def _rate_header(resp: httpx.Response) -> float | None:
    try:
        value = float(resp.headers["x-amzn-RateLimit-Limit"])
    except (KeyError, ValueError):
        return None
    return value if value > 0 else None


class AmazonChannel:
    """One seller's Amazon marketplace(s) through SP-API Orders v0."""

    def __init__(
        self,
        *,
        name: str,
        http: httpx.AsyncClient,
        auth: LwaAuth,
        quotas: QuotaSet,
        clock: Clock,
        rng: random.Random,
        marketplace_ids: list[str],
        restricted_data: bool = False,
        transient_attempts: int = 5,
        throttle_attempts: int = 6,
    ) -> None:
        self.name = name
        self._http = http
        self._auth = auth
        self._quotas = quotas
        self._clock = clock
        self._rng = rng
        self._marketplaces = ",".join(marketplace_ids)
        self._restricted = restricted_data
        self._transient_attempts = transient_attempts
        self._throttle_attempts = throttle_attempts
        self._rdt: dict[str, tuple[str, float]] = {}

    # -- transport ---------------------------------------------------------------

    async def _once(
        self,
        operation: str,
        method: str,
        path: str,
        query: str,
        body: Mapping[str, Any] | None,
        restricted: Restricted | None,
    ) -> httpx.Response:
        """One quota-paced request; 429s are absorbed here until they persist.

        `restricted` (path, data elements) asks for a Restricted Data Token. It is
        taken *after* the quota token: a wait behind a slowed bucket can outlast a
        cached RDT, and one fetched before the wait would arrive expired.
        """
        limiter = self._quotas[operation]
        refreshed = False
        throttles = 0
        while True:
            await limiter.acquire()
            rdt = await self._restricted_token(*restricted) if restricted else None
            access = rdt or await self._auth.access_token()
            url = path + (f"?{query}" if query else "")
            try:
                resp = await self._http.request(
                    method,
                    url,
                    json=body,
                    headers={
                        "x-amz-access-token": access,
                        "Accept": "application/json",
                    },
                )
            except httpx.TransportError as exc:
                raise TransientError(f"{operation}: {type(exc).__name__}") from None
            status = resp.status_code
            if status == 429:
                throttles += 1
                limiter.on_throttled(_rate_header(resp))
                log.info("request_throttled", operation=operation, streak=throttles)
                if throttles >= self._throttle_attempts:
                    raise RateLimited(
                        "Request is throttled", rate_limit=_rate_header(resp)
                    )
                continue
            if status in {401, 403} and not refreshed:
                # A token can die early (revoked, clock skew): renew it once.
                refreshed = True
                if rdt is not None and restricted is not None:
                    self._rdt.pop(restricted[0], None)
                else:
                    self._auth.invalidate()
                continue
            if status < 400:
                limiter.on_success(_rate_header(resp))
                return resp
            limiter.on_success(_rate_header(resp))  # the quota was not the problem
            detail = parse.error_text(_body(resp))
            request_id = resp.headers.get("x-amzn-RequestId")
            if status >= 500:
                raise TransientError(f"{operation}: HTTP {status} {detail}")
            log.warning(
                "request_refused",
                operation=operation,
                status=status,
                detail=detail,
                request_id=request_id,
            )
            if status in {401, 403}:
                raise AuthError(f"{operation}: access denied ({detail})")
            if status == 404:
                raise NotFoundError(f"{operation}: not found ({detail})")
            raise InvalidRequestError(f"{operation}: HTTP {status} {detail}")

    async def _retried(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call`, retried on transient faults with jittered backoff."""

        def wait(state: RetryCallState) -> float:
            return backoff(state.attempt_number, self._rng)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._transient_attempts),
            wait=wait,
            retry=retry_if_exception_type(TransientError),
            sleep=self._clock.sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _request(
        self,
        operation: str,
        method: str,
        path: str,
        query: str = "",
        body: Mapping[str, Any] | None = None,
        restricted: Restricted | None = None,
    ) -> httpx.Response:
        """`_once`, retried on transient faults."""
        return await self._retried(
            lambda: self._once(operation, method, path, query, body, restricted)
        )

    async def _json(
        self,
        operation: str,
        method: str,
        path: str,
        query: str = "",
        body: Mapping[str, Any] | None = None,
        restricted: Restricted | None = None,
    ) -> object:
        """The decoded JSON answer. A body cut short (a dropped connection, a proxy)
        is retried like a 5xx; only when every attempt fails is it malformed."""

        async def once() -> object:
            resp = await self._once(operation, method, path, query, body, restricted)
            try:
                return resp.json()
            except ValueError:
                raise _NotJson(f"{operation}: response is not JSON") from None

        try:
            return await self._retried(once)
        except _NotJson as exc:
            raise MalformedResponseError(str(exc)) from None

    async def _restricted_token(
        self, path: str, elements: tuple[str, ...]
    ) -> str | None:
        """A Restricted Data Token for `path`, cached until near its expiry."""
        if not self._restricted:
            return None
        now = self._clock.monotonic()
        cached = self._rdt.get(path)
        if cached and now < cached[1] - RDT_MARGIN:
            return cached[0]
        body = {
            "restrictedResources": [
                {"method": "GET", "path": path, "dataElements": list(elements)}
            ]
        }
        data = await self._json("restricted_data_token", "POST", RDT_PATH, body=body)
        if not isinstance(data, dict) or not isinstance(
            data.get("restrictedDataToken"), str
        ):
            raise MalformedResponseError(
                "createRestrictedDataToken: no token in response"
            )
        lifetime = data.get("expiresIn", 3600)
        lifetime = float(lifetime) if isinstance(lifetime, int | float) else 3600.0
        self._rdt[path] = (data["restrictedDataToken"], now + lifetime)
        return str(data["restrictedDataToken"])

    # -- Channel -------------------------------------------------------------------

    async def list_orders(
        self,
        *,
        updated_after: datetime,
        updated_before: datetime,
        next_token: str | None,
    ) -> OrdersPage:
        params = [
            ("MarketplaceIds", self._marketplaces),
            ("LastUpdatedAfter", iso(updated_after)),
            ("LastUpdatedBefore", iso(updated_before)),
            ("OrderStatuses", ORDER_STATUSES),
            ("MaxResultsPerPage", str(PAGE_SIZE)),
        ]
        if next_token:
            params.append(("NextToken", next_token))
        # Encode every value exactly once: NextToken carries '+', '/' and '='.
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params)
        body = await self._json(
            "orders", "GET", ORDERS_PATH, query, restricted=(ORDERS_PATH, PII)
        )
        page = parse.parse_orders_page(body, fallback_update=updated_before)
        if page.updated_before is None:
            page = OrdersPage(page.orders, page.next_token, updated_before)
        return page

    async def get_order(self, order_id: str) -> ChannelOrder:
        path = f"{ORDERS_PATH}/{quote(order_id, safe='')}"
        body = await self._json("order", "GET", path, restricted=(path, PII))
        return parse.lenient_order(parse.payload(body), self._clock.now())

    async def list_items(self, order_id: str) -> tuple[ChannelOrderItem, ...]:
        path = f"{ORDERS_PATH}/{quote(order_id, safe='')}/orderItems"
        items: list[ChannelOrderItem] = []
        token: str | None = None
        while True:
            query = f"NextToken={quote(token, safe='')}" if token else ""
            body = await self._json("order_items", "GET", path, query)
            raw_items, token = parse.parse_items_page(body)
            for raw in raw_items:
                try:
                    items.append(parse.parse_item(raw))
                except ValueError:
                    # Keep the raw data: the import reports what is wrong with it.
                    oid = raw.get("OrderItemId")
                    items.append(
                        ChannelOrderItem(
                            order_item_id=str(oid),
                            sku=None,
                            title=None,
                            quantity=0,
                            raw=raw,
                        )
                    )
            if token is None:
                return tuple(items)

    async def confirm_shipment(self, shipment: Shipment) -> None:
        path = f"{ORDERS_PATH}/{quote(shipment.order_id, safe='')}/shipmentConfirmation"
        package: dict[str, Any] = {
            "packageReferenceId": shipment.package_reference_id,
            "carrierCode": shipment.carrier_code,
            "trackingNumber": shipment.tracking_number,
            "shipDate": iso(shipment.ship_date),
            "orderItems": [
                {"orderItemId": line.order_item_id, "quantity": line.quantity}
                for line in shipment.lines
            ],
        }
        if shipment.carrier_name:
            package["carrierName"] = shipment.carrier_name
        if shipment.shipping_method:
            package["shippingMethod"] = shipment.shipping_method
        body = {"marketplaceId": shipment.marketplace_id, "packageDetail": package}
        await self._request("shipments", "POST", path, body=body)

    def read_order(self, raw: Mapping[str, Any]) -> ChannelOrder:
        problem = parse.order_problem(dict(raw))
        if problem:
            raise ImportProblem(problem)
        return parse.parse_order(dict(raw))

    def read_item(self, raw: Mapping[str, Any]) -> ChannelOrderItem:
        problem = parse.item_problem(dict(raw))
        if problem:
            raise ImportProblem(problem)
        return parse.parse_item(dict(raw))


def _body(resp: httpx.Response) -> object:
    try:
        return resp.json()
    except ValueError:
        return None
