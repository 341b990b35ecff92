"""Login with Amazon: refresh token → access tokens, cached until near expiry.

One refresh at a time however many coroutines ask (an asyncio.Lock); tokens are
renewed `REFRESH_MARGIN` seconds before they expire. Tokens are never logged.
"""

from __future__ import annotations

import asyncio

import httpx
import structlog

from kccsync.clock import Clock
from kccsync.errors import AuthError, TransientError

REFRESH_MARGIN = 60.0
log = structlog.get_logger(__name__)

#: LWA error codes worth retrying (as Amazon's own Python SDK does).
_RETRYABLE = {"server_error", "temporarily_unavailable"}


def needs_refresh(expires_at: float | None, now: float) -> bool:
    """True when there is no token or it expires within the margin."""
    return expires_at is None or now >= expires_at - REFRESH_MARGIN


class LwaAuth:
    """Access tokens for one seller authorisation."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        clock: Clock,
    ) -> None:
        self._http = http
        self._url = token_url
        self._form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
        }
        self._clock = clock
        self._token: str | None = None
        self._expires_at: float | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0

    def invalidate(self) -> None:
        """Forget the cached token (after a 401/403 that may mean it expired early)."""
        self._token = None
        self._expires_at = None

    async def access_token(self) -> str:
        if self._token and not needs_refresh(self._expires_at, self._clock.monotonic()):
            return self._token
        async with self._lock:
            # Another waiter may have refreshed while we queued for the lock.
            now = self._clock.monotonic()
            if self._token and not needs_refresh(self._expires_at, now):
                return self._token
            self._token, lifetime = await self._refresh()
            self._expires_at = now + lifetime
            self.refreshes += 1
            return self._token

    async def _refresh(self) -> tuple[str, float]:
        try:
            resp = await self._http.post(
                self._url,
                data=self._form,
                headers={"Accept": "application/json"},
            )
        except httpx.TransportError as exc:
            raise TransientError(
                f"LWA token request failed: {type(exc).__name__}"
            ) from None
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code == 200 and isinstance(body, dict):
            token = body.get("access_token")
            lifetime = body.get("expires_in", 3600)
            if isinstance(token, str) and token and isinstance(lifetime, int | float):
                log.debug("lwa_token_refreshed", expires_in=lifetime)
                return token, float(lifetime)
            raise TransientError("LWA token response without access_token")
        code = body.get("error", "") if isinstance(body, dict) else ""
        text = f"LWA token refused ({resp.status_code} {code})".replace(" )", ")")
        if resp.status_code >= 500 or code in _RETRYABLE:
            raise TransientError(text)
        raise AuthError(text + ": check client_id, client_secret and refresh_token")
