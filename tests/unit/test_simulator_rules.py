"""The simulator's pure rules: server quotas with a competitor, dates, query parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kccsync.simulator.paging import Cursor, NextTokens
from kccsync.simulator.params import ApiError, Query, parse_date, time_window
from kccsync.simulator.quotas import DEFAULT_QUOTAS, Operation, ServerQuota
from kccsync.simulator.wire import amount

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
V0_NAMES = ("CreatedAfter", "CreatedBefore", "LastUpdatedAfter", "LastUpdatedBefore")


class TestServerQuota:
    def test_burst_then_one_token_per_restore_interval(self) -> None:
        quota = ServerQuota(20, 60.0, now=0.0)

        assert all(quota.try_take(0.0) for _ in range(20))
        assert not quota.try_take(59.9)
        assert quota.try_take(60.0)
        assert not quota.try_take(60.0)

    def test_rate_limit_header_is_requests_per_second(self) -> None:
        assert ServerQuota(20, 60.0, now=0.0).rate_limit == "0.0167"
        assert ServerQuota(30, 2.0, now=0.0).rate_limit == "0.5"
        assert ServerQuota(10, 0.5, now=0.0).rate_limit == "2"

    def test_competitor_takes_its_share_of_every_token(self) -> None:
        """Share 0.5 of 30/2s: we start with 15 tokens and earn one per 4 s."""
        quota = ServerQuota(30, 2.0, now=0.0, share=0.5)

        ours = sum(quota.try_take(0.0) for _ in range(30))
        assert ours == 15
        assert not quota.try_take(3.9)
        assert quota.try_take(4.0)
        assert quota.competitor_tokens(100.0) == pytest.approx(15 + 25)

    def test_competitor_share_can_change_later(self) -> None:
        quota = ServerQuota(10, 1.0, now=0.0)
        assert all(quota.try_take(0.0) for _ in range(10))

        quota.set_share(0.75, now=0.0)

        assert not quota.try_take(3.9)
        assert quota.try_take(4.0)

    def test_defaults_are_amazons_published_plans(self) -> None:
        assert DEFAULT_QUOTAS[Operation.GET_ORDERS] == (20, 60.0)
        assert DEFAULT_QUOTAS[Operation.GET_ORDER_ITEMS] == (30, 2.0)
        assert DEFAULT_QUOTAS[Operation.SEARCH_ORDERS] == (20, 180.0)

    def test_invalid_share_is_refused(self) -> None:
        with pytest.raises(ValueError, match="share"):
            ServerQuota(10, 1.0, now=0.0, share=1.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T10:15:30Z", datetime(2026, 3, 1, 10, 15, 30, tzinfo=UTC)),
        (
            "2026-03-01T10:15:30.123Z",
            datetime(2026, 3, 1, 10, 15, 30, 123000, tzinfo=UTC),
        ),
        ("2026-03-01T11:15:30+01:00", datetime(2026, 3, 1, 10, 15, 30, tzinfo=UTC)),
        ("2026-03-01T10:15Z", datetime(2026, 3, 1, 10, 15, tzinfo=UTC)),
    ],
)
def test_parse_date_accepts_iso_8601_with_offset(text: str, expected: datetime) -> None:
    assert parse_date(text, "CreatedAfter") == expected


@pytest.mark.parametrize(
    "text",
    ["2026-03-01", "2026-03-01T10:15:30", "2026-03-01T10:15:30 01:00", "yesterday", ""],
)
def test_parse_date_refuses_naive_or_malformed(text: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_date(text, "CreatedAfter")

    assert (err.value.status, err.value.code) == (400, "InvalidInput")


def test_query_decodes_plus_as_space_and_refuses_repeats() -> None:
    assert Query("NextToken=a+b%2Bc").values == {"NextToken": "a b+c"}
    with pytest.raises(ApiError, match="more than once"):
        Query("MarketplaceIds=A&MarketplaceIds=B")


def test_time_window_defaults_upper_bound_to_two_minutes_ago() -> None:
    window = time_window(
        Query("LastUpdatedAfter=2026-03-01T10:00:00Z"), now=NOW, names=V0_NAMES
    )

    assert window.before == datetime(2026, 3, 1, 11, 58, tzinfo=UTC)
    assert window.echo_name == "LastUpdatedBefore"
    assert not window.by_created


def test_next_tokens_always_contain_plus_slash_equals() -> None:
    tokens = NextTokens(seed=1)

    issued = [tokens.issue(Cursor("getOrders", "", {}), now=0.0) for _ in range(50)]

    assert all({"+", "/", "="} <= set(t) for t in issued)
    assert len(set(issued)) == 50


@pytest.mark.parametrize(
    ("minor", "text"), [(0, "0.00"), (5, "0.05"), (3998, "39.98"), (-390, "-3.90")]
)
def test_amount_is_a_decimal_string(minor: int, text: str) -> None:
    assert amount(minor) == text
