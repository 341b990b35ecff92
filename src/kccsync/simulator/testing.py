"""Helpers for tests that talk to the simulator (they ship in the package, like
structlog's `testing`): an SP-API client on the in-process transport and LWA login.
"""

from __future__ import annotations

import httpx

from kccsync.simulator.auth import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    TOKEN_PATH,
)
from kccsync.simulator.marketplace import Marketplace

#: Any base URL works on the in-process transport; this one looks like Amazon's.
BASE_URL = "https://sellingpartnerapi-eu.amazon.com"


def client(marketplace: Marketplace, *, base_url: str = BASE_URL) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` served in-process by `marketplace` (close it after)."""
    return httpx.AsyncClient(transport=marketplace.transport(), base_url=base_url)


def token_form(
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    refresh_token: str = DEFAULT_REFRESH_TOKEN,
) -> dict[str, str]:
    """The LWA refresh-token grant, as a form."""
    return {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client_id,
        "client_secret": client_secret,
    }


async def login(http: httpx.AsyncClient) -> str:
    """Exchange the default refresh token for an access token over `http`."""
    response = await http.post(TOKEN_PATH, data=token_form())
    response.raise_for_status()
    return str(response.json()["access_token"])
