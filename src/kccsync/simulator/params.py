"""Request parsing and validation shared by the simulated operations.

Errors are raised as `ApiError` and rendered in SP-API's envelope
`{"errors":[{"code","message","details"}]}`. The rules are at least as strict as
Amazon's: unknown or repeated parameters, naive dates and out-of-range numbers are
refused with 400 `InvalidInput`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

#: Amazon's data lags about two minutes: `*Before` must be at least this far back.
DATA_LAG = timedelta(minutes=2)

_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$",
    re.ASCII,
)


class ApiError(Exception):
    """An SP-API error answer: HTTP status plus one error object."""

    def __init__(self, status: int, code: str, message: str, details: str = "") -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def invalid(message: str, details: str = "") -> ApiError:
    """A 400 InvalidInput error."""
    return ApiError(400, "InvalidInput", message, details)


class Query:
    """Decoded query parameters, each at most once, consumed by name.

    Decoding is form-style, as Amazon's is: a raw `+` becomes a space, so a client
    that forgets to percent-encode a NextToken or a `+01:00` offset is caught.
    """

    def __init__(self, raw: str) -> None:
        self.values: dict[str, str] = {}
        try:
            pairs = parse_qsl(raw, keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise invalid("The query string could not be decoded.") from None
        for key, value in pairs:
            if key in self.values:
                raise invalid(
                    f"Parameter {key} was given more than once.",
                    "Send a list as one comma-separated value.",
                )
            self.values[key] = value

    def check_known(self, allowed: Collection[str]) -> None:
        unknown = sorted(set(self.values) - set(allowed))
        if unknown:
            raise invalid(f"Unknown parameter(s): {', '.join(unknown)}.")

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is not None and value.strip() == "":
            raise invalid(f"Parameter {name} must not be empty.")
        return value

    def items(self) -> Iterable[tuple[str, str]]:
        return self.values.items()

    def list(
        self, name: str, *, allowed: Collection[str] | None = None, most: int = 0
    ) -> list[str] | None:
        """A comma-separated list parameter, each value checked against `allowed`."""
        value = self.get(name)
        if value is None:
            return None
        parts = [p.strip() for p in value.split(",")]
        if any(not p for p in parts):
            raise invalid(f"Parameter {name} has an empty value: {value!r}.")
        if most and len(parts) > most:
            raise invalid(f"Parameter {name} accepts at most {most} values.")
        if allowed is not None:
            bad = [p for p in parts if p not in allowed]
            if bad:
                raise invalid(
                    f"Invalid {name} value(s): {', '.join(bad)}.",
                    f"Allowed values: {', '.join(allowed)}.",
                )
        return parts

    def date(self, name: str) -> datetime | None:
        value = self.get(name)
        return None if value is None else parse_date(value, name)

    def integer(self, name: str, *, low: int, high: int, default: int) -> int:
        value = self.get(name)
        if value is None:
            return default
        if not re.fullmatch(r"\d{1,4}", value.strip(), re.ASCII):
            raise invalid(f"{name} must be a whole number from {low} to {high}.")
        number = int(value)
        if not low <= number <= high:
            raise invalid(f"{name} must be a whole number from {low} to {high}.")
        return number

    def boolean(self, name: str) -> bool | None:
        value = self.get(name)
        if value is None:
            return None
        if value not in {"true", "false"}:
            raise invalid(f"{name} must be true or false.")
        return value == "true"


def parse_date(value: str, name: str) -> datetime:
    """An ISO 8601 date-time with a UTC offset (`Z`, `+hh:mm`) as an aware datetime."""
    text = value.strip()
    if not _ISO.match(text):
        raise invalid(
            f"Invalid {name}: {value!r} is not an ISO 8601 date-time with an offset.",
            "Use e.g. 2026-03-01T10:15:30Z; percent-encode a '+' offset as %2B.",
        )
    match = re.search(r"\.(\d+)", text)
    if match and len(match.group(1)) > 6:  # datetime keeps microseconds only
        text = text.replace(match.group(0), "." + match.group(1)[:6])
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"Invalid {name}: {value!r} is not a valid date.") from None


def iso(when: datetime) -> str:
    """Amazon's date format: UTC, whole seconds, `Z`."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Window:
    """The time filter of an order search: which date, from when, up to when."""

    by_created: bool
    after: datetime
    before: datetime
    #: The echo field: `LastUpdatedBefore` / `CreatedBefore` (or camelCase).
    echo_name: str


def time_window(
    query: Query,
    *,
    now: datetime,
    names: tuple[str, str, str, str],
) -> Window:
    """Validate the created/last-updated window; `names` = createdAfter, createdBefore,
    lastUpdatedAfter, lastUpdatedBefore as the API spells them.

    Exactly one `*After` is required, the two families do not mix, `*Before` must be at
    least two minutes before now and not before its `*After`. Without `*Before` the
    upper bound is now - 2 min (whole seconds), and it is echoed back either way.
    """
    c_after, c_before, u_after, u_before = names
    created_after, created_before = query.date(c_after), query.date(c_before)
    updated_after, updated_before = query.date(u_after), query.date(u_before)
    if created_after is None and updated_after is None:
        raise invalid(f"Either {c_after} or {u_after} is required; neither was given.")
    if created_after is not None and updated_after is not None:
        raise invalid(f"{c_after} and {u_after} cannot both be given.")
    by_created = created_after is not None
    if by_created and updated_before is not None:
        raise invalid(f"{u_before} cannot be combined with {c_after}.")
    if not by_created and created_before is not None:
        raise invalid(f"{c_before} cannot be combined with {u_after}.")
    after = created_after if by_created else updated_after
    before = created_before if by_created else updated_before
    before_name = c_before if by_created else u_before
    after_name = c_after if by_created else u_after
    if after is None:  # unreachable: checked above; narrows the type
        raise invalid(f"Either {c_after} or {u_after} is required.")
    latest = (now - DATA_LAG).replace(microsecond=0)
    if before is None:
        before = latest
        if after > before:
            raise invalid(
                f"{after_name} must be at least 2 minutes before the current time.",
                f"Data lags about 2 minutes; the latest allowed is {iso(latest)}.",
            )
    else:
        if before > now - DATA_LAG:
            raise invalid(
                f"{before_name} must be at least 2 minutes before the current time.",
                f"Data lags about 2 minutes; the latest allowed is {iso(latest)}.",
            )
        if before < after:
            raise invalid(f"{before_name} must not be earlier than {after_name}.")
    return Window(by_created, after, before, before_name)
