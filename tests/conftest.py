"""Shared fixtures: a random generator, a temporary database path."""

from __future__ import annotations

import random
from pathlib import Path

import pytest


@pytest.fixture
def rng() -> random.Random:
    return random.Random(0)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "kccsync.db"
