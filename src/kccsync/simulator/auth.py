"""Login with Amazon and Restricted Data Tokens, as the simulated marketplace sees them.

`POST /auth/o2/token` exchanges the refresh token for an `Atza|...` access token that
lasts an hour of the marketplace clock; the Tokens API issues `Atz.sprdt|...` RDTs that
unlock personal data on the exact paths they name.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from kccsync.simulator.params import ApiError, invalid

DEFAULT_CLIENT_ID = "sim-client-id"
DEFAULT_CLIENT_SECRET = "sim-client-secret"  # noqa: S105 - the simulator's public demo secret
DEFAULT_REFRESH_TOKEN = "sim-refresh-token"  # noqa: S105 - the simulator's public demo token
TOKEN_PATH = "/auth/o2/token"  # noqa: S105 - a URL path, not a secret
ACCESS_TOKEN_LIFETIME = 3600
RDT_LIFETIME = 3600

#: Paths that take `dataElements` in an RDT (getOrders, getOrder, getOrderItems).
_DATA_PATHS = re.compile(r"^/orders/v0/orders(/\d{3}-\d{7}-\d{7}(/orderItems)?)?$")
#: Every restricted Orders v0 path (real order ids only; no trailing slash).
_RESTRICTED_PATHS = re.compile(
    r"^/orders/v0/orders(/\d{3}-\d{7}-\d{7}"
    r"(/address|/buyerInfo|/orderItems|/orderItems/buyerInfo|/regulatedInfo)?)?$"
)
DATA_ELEMENTS = ("buyerInfo", "shippingAddress", "buyerTaxInformation")


@dataclass(frozen=True)
class Credentials:
    """The LWA application credentials and the seller's refresh token."""

    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    refresh_token: str = DEFAULT_REFRESH_TOKEN


@dataclass
class Grant:
    """An issued access token or RDT. `expires` is in marketplace seconds."""

    token: str
    expires: float
    #: RDT only: (method, path) -> data elements it unlocks there.
    resources: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    @property
    def restricted(self) -> bool:
        return bool(self.resources)


class LwaError(Exception):
    """An LWA error answer: `{"error","error_description"}`."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.body = {"error": error, "error_description": description}


class TokenIssuer:
    """Issues and checks access tokens and RDTs; deterministic for a seed."""

    def __init__(self, credentials: Credentials, seed: int) -> None:
        self.credentials = credentials
        self._seed = seed
        self._count = 0
        self._grants: dict[str, Grant] = {}

    def _new_token(self, prefix: str) -> str:
        self._count += 1
        raw = hashlib.sha256(f"{self._seed}:{self._count}:{prefix}".encode()).digest()
        return prefix + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def exchange(self, content_type: str, body: bytes, now_s: float) -> dict[str, Any]:
        """The LWA token endpoint: refresh_token grant, form-encoded (or JSON)."""
        form = _form(content_type, body)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise LwaError(400, "invalid_request", "The request is missing grant_type.")
        if grant_type != "refresh_token":
            raise LwaError(
                400,
                "unsupported_grant_type",
                f"Grant type {grant_type!r} is not supported.",
            )
        creds = self.credentials
        if (form.get("client_id"), form.get("client_secret")) != (
            creds.client_id,
            creds.client_secret,
        ):
            raise LwaError(401, "invalid_client", "Client authentication failed.")
        if not form.get("refresh_token"):
            raise LwaError(
                400, "invalid_request", "The request is missing refresh_token."
            )
        if form["refresh_token"] != creds.refresh_token:
            raise LwaError(
                400,
                "invalid_grant",
                "The request has an invalid grant parameter : refresh_token",
            )
        token = self._new_token("Atza|")
        self._grants[token] = Grant(token, now_s + ACCESS_TOKEN_LIFETIME)
        return {
            "access_token": token,
            "refresh_token": creds.refresh_token,
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME,
        }

    def check(self, token: str | None, now_s: float) -> Grant:
        """The grant behind an `x-amz-access-token` header, or a 403 error."""
        denied = "Access to requested resource is denied."
        if not token:
            raise ApiError(
                403,
                "MissingAuthenticationToken",
                denied,
                "The request has no x-amz-access-token header.",
            )
        grant = self._grants.get(token)
        if grant is None:
            raise ApiError(
                403,
                "Unauthorized",
                denied,
                "The access token you provided is revoked, malformed or invalid.",
            )
        if now_s >= grant.expires:
            raise ApiError(
                403,
                "Unauthorized",
                denied,
                "The access token you provided has expired.",
            )
        return grant

    def expire_all(self, now_s: float) -> None:
        """Fault: every access token and RDT issued so far expires now."""
        for grant in self._grants.values():
            grant.expires = min(grant.expires, now_s)

    def create_rdt(self, body: object, now_s: float) -> dict[str, Any]:
        """createRestrictedDataToken: validate the resources, issue an RDT."""
        if not isinstance(body, dict):
            raise invalid("The request body must be a JSON object.")
        unknown = set(body) - {"restrictedResources", "targetApplication"}
        if unknown:
            raise invalid(f"Unknown field(s): {', '.join(sorted(unknown))}.")
        resources = body.get("restrictedResources")
        if not isinstance(resources, list) or not resources:
            raise invalid("restrictedResources must be a non-empty list.")
        if len(resources) > 50:
            raise invalid("restrictedResources accepts at most 50 resources.")
        granted: dict[tuple[str, str], frozenset[str]] = {}
        for n, resource in enumerate(resources):
            method, path, elements = _resource(resource, n)
            granted[(method, path)] = elements
        token = self._new_token("Atz.sprdt|")
        self._grants[token] = Grant(token, now_s + RDT_LIFETIME, granted)
        return {"restrictedDataToken": token, "expiresIn": RDT_LIFETIME}


def _resource(resource: object, n: int) -> tuple[str, str, frozenset[str]]:
    where = f"restrictedResources[{n}]"
    if not isinstance(resource, dict):
        raise invalid(f"{where} must be an object.")
    unknown = set(resource) - {"method", "path", "dataElements"}
    if unknown:
        raise invalid(f"{where} has unknown field(s): {', '.join(sorted(unknown))}.")
    method, path = resource.get("method"), resource.get("path")
    if method not in {"GET", "PUT", "POST", "DELETE", "PATCH"}:
        raise invalid(f"{where}.method must be GET, PUT, POST, DELETE or PATCH.")
    if not isinstance(path, str) or not _RESTRICTED_PATHS.match(path):
        raise invalid(
            f"{where}.path {path!r} is not a restricted resource.",
            "Use e.g. /orders/v0/orders or /orders/v0/orders/{real order id}, "
            "with no trailing slash.",
        )
    if method != "GET":
        raise invalid(f"{where}.method must be GET for {path}.")
    elements = resource.get("dataElements")
    if elements is None:
        return method, path, frozenset()
    if not _DATA_PATHS.match(path):
        raise invalid(
            f"{where}.dataElements is only allowed for getOrders, getOrder "
            "and getOrderItems."
        )
    if not isinstance(elements, list) or not elements:
        raise invalid(f"{where}.dataElements must be a non-empty list.")
    bad = [e for e in elements if e not in DATA_ELEMENTS]
    if bad:
        raise invalid(
            f"{where}.dataElements has invalid value(s): {', '.join(map(str, bad))}.",
            f"Allowed values: {', '.join(DATA_ELEMENTS)}.",
        )
    return method, path, frozenset(elements)


def _form(content_type: str, body: bytes) -> dict[str, str]:
    media = content_type.split(";", maxsplit=1)[0].strip().lower()
    try:
        if media == "application/x-www-form-urlencoded":
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        if media == "application/json":
            data = json.loads(body)
            if isinstance(data, dict):
                return {str(k): str(v) for k, v in data.items()}
    except (UnicodeDecodeError, ValueError):
        pass
    raise LwaError(
        400, "invalid_request", "Send a form-encoded (or JSON) refresh_token grant."
    )
