"""Shared fixtures: a random generator, a temporary database path, loop hygiene."""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def rng() -> random.Random:
    return random.Random(0)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "kccsync.db"


@pytest.fixture(autouse=True)
def _owned_event_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """Own the thread's current event loop in plain (non-async) tests.

    looptime's pytest plugin asks the policy for a loop before every test (and so
    creates one); `run_virtual` and `asyncio.run` then set the current loop to
    None and that loop is collected unclosed (a ResourceWarning, an error here).
    Async tests get their loop from pytest-asyncio and are left alone.
    """
    function = getattr(request.node, "function", None)
    if function is not None and inspect.iscoroutinefunction(function):
        yield
        return
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()
