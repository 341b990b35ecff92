"""`kccsync bench` scenarios at small sizes: consistent, complete and repeatable.

Each scenario runs the daemon's real pipeline against the simulator in virtual
time. Sizes are small so the whole file takes seconds; the figures the issue
sets targets for are reported by `kccsync bench`, not asserted here, except the
ones that must hold at any size (no 429 alone, nothing lost, nothing wasted).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, replace

import pytest

from kccsync import cli, logs
from kccsync.bench import (
    ChannelsResult,
    CpuResult,
    DrainResult,
    Options,
    SteadyResult,
    run,
)
from kccsync.bench_scenarios import backlog, channels, competing, cpu, small, steady
from kccsync.config import Quotas

SMALL = Options(
    orders=400,
    channels=4,
    seed=3,
    channel_orders=5,
    idle_hours=0.5,
    steady_hours=2.0,
)
ITEMS = Quotas().order_items


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """`kccsync bench` configures logging; later tests capture their own."""
    yield
    logs.reset()


@pytest.fixture(scope="module")
def alone() -> DrainResult:
    return backlog(SMALL)


@pytest.fixture(scope="module")
def shared() -> DrainResult:
    return competing(SMALL)


def _consistent(r: DrainResult) -> None:
    assert r.ratio == pytest.approx(r.drain_seconds / r.minimum_seconds)
    assert r.efficiency == pytest.approx(r.minimum_seconds / r.drain_seconds)
    # Nothing can beat every token being used the moment it exists.
    assert r.drain_seconds >= r.minimum_seconds - 1e-6
    assert r.stored == r.imported + r.failed + r.cancelled
    assert r.item_requests <= r.requests["getOrderItems"]  # 429s are not answers
    assert r.lost == 0


class TestBacklog:
    def test_result_is_consistent_and_nothing_is_lost(self, alone: DrainResult) -> None:
        """Ratios match the times, every stored order ends in a final state."""
        _consistent(alone)

        assert alone.orders == SMALL.orders
        assert alone.imported > 0.8 * SMALL.orders

    def test_minimum_follows_the_item_quota(self, alone: DrainResult) -> None:
        """Items bind: (requests - burst) x restore, from the configured quota."""
        expected = (alone.item_requests - ITEMS.burst) * ITEMS.restore_seconds

        assert alone.binding_operation == "getOrderItems"
        assert alone.minimum_seconds == pytest.approx(expected)

    def test_alone_there_is_no_429_and_no_wasted_item_request(
        self, alone: DrainResult
    ) -> None:
        """Every item request is one page of a new order, fetched once."""
        assert alone.throttled == 0
        assert alone.item_requests == alone.requests["getOrderItems"]
        assert alone.item_requests == alone.item_pages
        assert alone.item_request_ratio == 1.0
        assert alone.item_requests_per_order == pytest.approx(
            alone.item_pages_per_order
        )
        assert alone.item_pages_per_order > 1.0  # multi-page orders are in the mix


class TestCompeting:
    def test_result_is_consistent_and_nothing_is_lost(
        self, shared: DrainResult
    ) -> None:
        """The minimum is our half of the quota; the drain cannot beat it."""
        _consistent(shared)

        assert shared.competing_share == 0.5
        assert shared.throttled > 0  # the other client really is there
        assert shared.throttled_per_100 == pytest.approx(
            100 * shared.throttled / shared.successful
        )

    def test_sharing_halves_the_rate(
        self, alone: DrainResult, shared: DrainResult
    ) -> None:
        """Half the tokens: the remaining-share minimum is about twice as long."""
        assert shared.minimum_seconds > 1.9 * alone.minimum_seconds
        assert shared.drain_seconds > alone.drain_seconds

    def test_figures_repeat_exactly_for_a_seed(self, shared: DrainResult) -> None:
        """Throttling, adaptive rates and retries included: same seed, same run."""
        assert competing(SMALL) == shared


def test_small_is_repeatable_and_differs_by_seed() -> None:
    """Same seed, identical virtual figures; another seed, another backlog."""
    first, second = small(SMALL), small(SMALL)
    other = small(replace(SMALL, seed=4))

    assert first == second
    assert asdict(first) != asdict(other)
    assert first.orders == 100
    assert first.throttled == 0
    assert first.lost == 0


def test_steady_wastes_no_item_request_on_status_updates() -> None:
    """Orders arrive, change status and ship; only new orders cost item requests."""
    r = steady(SMALL)

    assert isinstance(r, SteadyResult)
    assert r.arrived > 60
    assert r.imported > 0.8 * r.arrived
    assert r.updates_downloaded > 0
    assert r.shipments_uploaded > 0
    assert r.wasted_item_requests == 0
    assert r.item_requests == r.item_pages
    assert r.throttled == 0
    assert r.lost == 0
    # Amazon serves data 2.5 minutes behind; an orders pass runs every 2.
    assert r.latency_floor <= r.latency_p50 <= r.latency_p99 <= r.latency_max
    assert r.latency_max <= r.latency_floor + r.orders_interval + 60


def test_steady_is_repeatable() -> None:
    """Latency percentiles come from virtual time: the same run twice."""
    options = replace(SMALL, steady_hours=1.0)

    assert steady(options) == steady(options)


def test_cpu_counts_orders_per_cpu_second() -> None:
    """Quotas lifted: the drain takes almost no virtual time, CPU is measured."""
    r = cpu(replace(SMALL, orders=150))

    assert isinstance(r, CpuResult)
    assert r.lost == 0
    assert r.imported > 100
    assert r.virtual_seconds < 60
    assert 0 < r.simulator_cpu_seconds < r.cpu_seconds
    assert r.orders_per_cpu_second == pytest.approx(r.imported / r.cpu_seconds)
    assert r.orders_per_daemon_cpu_second > r.orders_per_cpu_second
    assert r.peak_rss_mb >= r.start_rss_mb > 0


def test_channels_drain_then_idle() -> None:
    """Every channel drains its backlog; idle CPU is counted per channel-hour."""
    r = channels(SMALL)

    assert isinstance(r, ChannelsResult)
    assert r.channels == SMALL.channels
    assert r.stored > 0.9 * SMALL.channels * SMALL.channel_orders
    assert r.lost == 0
    assert r.throttled == 0
    channel_hours = SMALL.channels * SMALL.idle_hours
    assert r.cpu_per_idle_channel_hour == pytest.approx(
        r.idle_cpu_seconds / channel_hours
    )
    # Idle still polls orders: one pass every 2 minutes, 30 an hour.
    assert 30 <= r.idle_requests_per_channel_hour <= 40
    assert r.total_cpu_seconds == pytest.approx(
        r.setup_cpu_seconds + r.drain_cpu_seconds + r.idle_cpu_seconds
    )


def test_run_isolated_returns_the_same_figures_as_in_process() -> None:
    """A scenario in a fresh process gives the in-process result."""
    options = replace(SMALL, orders=60)

    assert run(["small"], options) == {"small": small(options)}


def test_cli_json_prints_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    """`kccsync bench --json --scenario small --orders 50`: one parseable document."""
    code = cli.main(["bench", "--json", "--scenario", "small", "--orders", "50"])

    out = capsys.readouterr().out
    doc = json.loads(out)  # raises on anything but exactly one document
    assert code == 0
    assert list(doc["scenarios"]) == ["small"]
    result = doc["scenarios"]["small"]
    assert result["orders"] == 50
    assert result["lost"] == 0
    assert {t["figure"] for t in result["targets"]} >= {"drain / minimum"}
    assert "api" in doc["not_run"]
    assert doc["machine"]["nproc"]


def test_cli_table_names_figures_and_targets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without --json: a table with the figures, each target's verdict."""
    code = cli.main(["bench", "--scenario", "small", "--orders", "30"])

    out = capsys.readouterr().out
    assert code == 0
    assert "drain / minimum" in out
    assert "target 429 responses == 0" in out
    assert "not run" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)
