"""ISO 8601 UTC text for stored and displayed times (sortable as text)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(dt: datetime) -> str:
    """`2026-03-01T10:15:30Z`: seconds precision, UTC."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_precise(dt: datetime) -> str:
    """`2026-03-01T10:15:30.123456Z`: for instants that need sub-second accuracy."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Parse ISO 8601 (with `Z` or an offset) into an aware UTC datetime."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)
