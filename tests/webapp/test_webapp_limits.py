"""Rate-limit counting (webapp.limits): memory:// counts in SweptMemoryStorage, one sweeper thread per process."""

from __future__ import annotations

import threading
import time

import pytest
from limits.storage import MemoryStorage, storage_from_string

from webapp.limits import SweptMemoryStorage, _storage_uri


def test_memory_uri_counts_in_the_swept_storage_and_others_are_kept() -> None:
    assert isinstance(storage_from_string(_storage_uri("memory://")), SweptMemoryStorage)
    assert issubclass(SweptMemoryStorage, MemoryStorage)
    assert _storage_uri("redis://cache:6379/0") == "redis://cache:6379/0"
    assert _storage_uri("memcached://a:11211") == "memcached://a:11211"


def test_app_counts_in_the_swept_storage(app) -> None:
    (limiter,) = app.extensions["limiter"]
    assert isinstance(limiter.storage, SweptMemoryStorage)


def test_requests_start_no_thread_each(app_factory, media, monkeypatch: pytest.MonkeyPatch) -> None:
    # MemoryStorage started a new timer thread on a hit once its last one (10 ms) had ended:
    # on every verification. The swept storage starts its one sweeper on the first hit only.
    client = app_factory().test_client()
    started: list[str] = []
    real_start = threading.Thread.start

    def counting_start(self: threading.Thread) -> None:
        started.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    for _ in range(4):
        assert client.get("/api/v1/transparency").status_code == 200
        time.sleep(0.02)  # longer than MemoryStorage's timer
    assert started.count("rate-limit-sweeper") <= 1
    assert len(started) <= 1, started


def test_limits_still_count_and_expired_counters_are_swept() -> None:
    storage = SweptMemoryStorage()
    assert [storage.incr("client-a", 60) for _ in range(3)] == [1, 2, 3]
    storage.incr("client-b", 0)  # expires at once
    storage.sweep()
    assert storage.get("client-a") == 3
    assert "client-b" not in storage.storage and "client-b" not in storage.expirations
    assert sum(t.name == "rate-limit-sweeper" and t.is_alive() for t in threading.enumerate()) >= 1


def test_limited_views_work_with_rate_limiting_disabled(app_factory) -> None:
    # With RATELIMIT_ENABLED=False flask-limiter does not register itself: once collected, every
    # wrapped view raised ReferenceError (a 500). The app now keeps its limiter.
    import gc

    client = app_factory({"RATELIMIT_ENABLED": False}).test_client()
    gc.collect()
    r = client.get("/api/v1/transparency")
    assert r.status_code == 200 and "X-RateLimit-Limit" not in r.headers
