"""`kccsync bench` arithmetic and judging, and the simulator facts the bench reads."""

from __future__ import annotations

import argparse

import pytest

from kccsync.bench import (
    SCENARIOS,
    ChannelsResult,
    CpuResult,
    add_bench_arguments,
    checks,
    selected,
)
from kccsync.bench_scenarios import minimum_seconds, percentile
from kccsync.clock import FakeClock
from kccsync.config import SimulatorSettings
from kccsync.simulator.generator import PENDING, UNSHIPPED
from kccsync.simulator.marketplace import Marketplace

QUOTAS = {"getOrderItems": (30.0, 2.0), "getOrders": (6.0, 60.0)}


class TestMinimum:
    def test_items_bind_after_their_burst(self) -> None:
        """130 item requests: 30 from the burst, then one per 2 s."""
        seconds, binding = minimum_seconds({"getOrderItems": 130}, QUOTAS)

        assert (seconds, binding) == (200.0, "getOrderItems")

    def test_the_slowest_operation_binds(self) -> None:
        """Operations run in parallel: 10 pages (4 x 60 s) outlast 100 items."""
        seconds, binding = minimum_seconds(
            {"getOrderItems": 130, "getOrders": 10}, QUOTAS
        )

        assert (seconds, binding) == (240.0, "getOrders")

    def test_a_competitor_shrinks_burst_and_rate(self) -> None:
        """Half the quota left: 15 from the burst, then one per 4 s."""
        seconds, _ = minimum_seconds({"getOrderItems": 130}, QUOTAS, share=0.5)

        assert seconds == (130 - 15) * 4.0

    def test_requests_within_the_burst_cost_nothing(self) -> None:
        """No wait at all, and operations without a quota are ignored."""
        seconds, binding = minimum_seconds(
            {"getOrderItems": 30, "lwaToken": 500}, QUOTAS
        )

        assert (seconds, binding) == (0.0, "none")


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([], 50, 0.0),
        ([5.0], 99, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([float(v) for v in range(1, 101)], 99, 99.0),
        ([3.0, 1.0, 2.0], 100, 3.0),
    ],
)
def test_percentile_is_nearest_rank(
    values: list[float], pct: float, expected: float
) -> None:
    """Always an observed value, so a latency percentile repeats exactly."""
    assert percentile(values, pct) == expected


def _cpu(per_second: float) -> CpuResult:
    return CpuResult(
        scenario="cpu",
        orders=100,
        imported=100,
        lost=0,
        virtual_seconds=1.0,
        cpu_seconds=100 / per_second,
        simulator_cpu_seconds=0.0,
        orders_per_cpu_second=per_second,
        orders_per_daemon_cpu_second=per_second,
        start_rss_mb=50.0,
        peak_rss_mb=60.0,
    )


def test_checks_report_a_missed_target_without_failing() -> None:
    """Targets are judged, not enforced: a slow run is marked, not raised."""
    slow, fast = checks(_cpu(400.0)), checks(_cpu(6000.0))

    assert [(c.figure, c.met) for c in slow] == [("orders per CPU-second", False)]
    assert [c.met for c in fast] == [True]
    assert slow[0].target == ">= 5000"


def test_channels_checks_include_the_rss_ceiling() -> None:
    """500 channels must fit in 150 MB: 151 MB is a miss."""
    result = ChannelsResult(
        scenario="channels",
        channels=500,
        orders_per_channel=10,
        idle_hours=1.0,
        stored=5000,
        imported=4600,
        lost=0,
        throttled=0,
        setup_cpu_seconds=1.0,
        drain_cpu_seconds=1.0,
        idle_cpu_seconds=1.0,
        idle_simulator_cpu_seconds=0.1,
        total_cpu_seconds=3.0,
        cpu_per_idle_channel_hour=0.002,
        idle_requests_per_channel_hour=32.0,
        start_rss_mb=50.0,
        peak_rss_mb=151.0,
    )

    verdicts = {c.figure: c.met for c in checks(result)}

    assert verdicts == {"peak RSS MB": False, "orders lost": True}


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (None, list(SCENARIOS)),
        (["all"], list(SCENARIOS)),
        (["small", "backlog", "small"], ["backlog", "small"]),
        (["cpu", "all"], list(SCENARIOS)),
    ],
)
def test_selected_runs_each_scenario_once_in_table_order(
    names: list[str] | None, expected: list[str]
) -> None:
    """Repeating --scenario never runs one twice; `all` wins."""
    assert selected(names) == expected


@pytest.mark.parametrize(
    "argv",
    [["--orders", "0"], ["--channels", "-3"], ["--orders", "ten"], ["--scenario", "x"]],
)
def test_bad_bench_arguments_exit_2(argv: list[str]) -> None:
    """argparse refuses them with its usage error (exit code 2)."""
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)

    with pytest.raises(SystemExit) as exc:
        parser.parse_args(argv)

    assert exc.value.code == 2


def test_marketplace_records_when_an_order_was_paid() -> None:
    """`paid_s` (when kccsync can first see an order) is set on payment."""
    market = Marketplace(
        clock=FakeClock(),
        settings=SimulatorSettings(backlog_orders=200, orders_per_hour=0),
    )
    orders = list(market.orders.values())
    paid = [o for o in orders if o.paid]
    pending = [o for o in orders if o.status == PENDING]

    assert paid
    assert pending
    assert all(o.paid_s is not None and o.paid_s <= o.last_update_s for o in paid)
    assert all(o.paid_s is None for o in orders if not o.paid)
    market.update_order_status(pending[0].order_id, UNSHIPPED)
    assert pending[0].paid_s == 0


def test_marketplaces_share_one_catalogue() -> None:
    """Hundreds of simulated channels in one process hold a single catalogue."""
    one = Marketplace(clock=FakeClock(), seed=1)
    two = Marketplace(clock=FakeClock(), seed=2)

    assert one.products is two.products
    assert len(one.products) == 120
