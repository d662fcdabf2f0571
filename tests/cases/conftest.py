"""Fixtures for the case tests: a real registry (SQLite and PostgreSQL) and a clock tests move by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from provenance.cases import CaseStore
from provenance.registry import Registry


class ManualClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc))


@pytest.fixture
def registry(db_url: str):
    with Registry(db_url) as reg:
        yield reg


@pytest.fixture
def sent() -> list:
    return []


@pytest.fixture
def store(registry: Registry, clock: ManualClock, sent: list) -> CaseStore:
    return CaseStore(registry, clock=clock, notify=lambda event, payload: sent.append((event, payload)))
