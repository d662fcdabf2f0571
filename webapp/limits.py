"""Per-client rate limits (flask-limiter) on every endpoint that takes an upload or scans the audit log.

Each limited endpoint allows ``PROVENANCE_RATE_LIMIT`` requests per client address, counted
in ``PROVENANCE_RATE_LIMIT_STORAGE`` (default ``memory://``: each server worker counts on
its own, so with N workers a client may get up to N times the limit; use ``redis://`` to
share one count). Behind a reverse proxy, the client address is the proxy's unless the app
is wrapped in werkzeug's ``ProxyFix``; see ``docs/webapp.md``.

``memory://`` counts in :class:`SweptMemoryStorage`: limits' ``MemoryStorage`` with one
long-lived thread per process that drops expired counters, instead of the new 10 ms timer
thread ``MemoryStorage`` starts on a hit whenever its last one has finished, which is on
every verification (they take longer than 10 ms). Starting a thread made each request wait
until the new thread ran, and the timer then took the GIL from the next request.
"""

from __future__ import annotations

import os
import threading
import time

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import MemoryStorage

__all__ = ["LIMITED_ENDPOINTS", "SWEEP_INTERVAL_S", "SweptMemoryStorage", "init_app"]

#: Endpoints that take an upload or count the audit log (the expensive ones).
LIMITED_ENDPOINTS = (
    "api.verify", "api.stamp", "ui.verify", "hashes.hash_upload", "hashes.match",
    "transparency.page", "transparency.as_json",
)
#: How often the sweeper of :class:`SweptMemoryStorage` drops expired counters (memory only:
#: a counter is checked for expiry whenever it is read).
SWEEP_INTERVAL_S = 1.0
_SCHEME = "provenance-memory"


class SweptMemoryStorage(MemoryStorage):
    """limits' in-memory storage, swept by one daemon thread per process (made again after a fork).

    Counting is ``MemoryStorage``'s own; only the scheduling of its expiry sweep differs.
    """

    STORAGE_SCHEME = [_SCHEME]  # registers the scheme with limits

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str) -> None:
        self._sweeper: threading.Thread | None = None
        self._sweeper_pid = 0
        self._sweeper_lock = threading.Lock()
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    def sweep(self) -> None:
        """Drop expired counters and moving-window entries now."""
        self._MemoryStorage__expire_events()  # type: ignore[attr-defined]

    def _sweep_forever(self) -> None:
        while True:
            time.sleep(SWEEP_INTERVAL_S)
            self.sweep()

    # MemoryStorage calls this (name-mangled) on every hit; it started a new Timer thread there.
    def _MemoryStorage__schedule_expiry(self) -> None:
        sweeper = self._sweeper
        if sweeper is not None and self._sweeper_pid == os.getpid() and sweeper.is_alive():
            return
        with self._sweeper_lock:
            if self._sweeper is None or self._sweeper_pid != os.getpid() or not self._sweeper.is_alive():
                self._sweeper = threading.Thread(target=self._sweep_forever, name="rate-limit-sweeper", daemon=True)
                self._sweeper_pid = os.getpid()
                self._sweeper.start()


def _storage_uri(uri: str) -> str:
    """``memory://`` counts in :class:`SweptMemoryStorage`; other storages are used as given."""
    scheme, sep, rest = uri.partition("://")
    return f"{_SCHEME}{sep}{rest}" if sep and scheme == "memory" else uri


def init_app(app: Flask) -> Limiter:
    """Give `app` its own limiter and wrap :data:`LIMITED_ENDPOINTS` (call after registering blueprints)."""
    settings = app.config["PROVENANCE_SETTINGS"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.rate_limit_storage_uri)
    app.config["RATELIMIT_STORAGE_URI"] = _storage_uri(app.config["RATELIMIT_STORAGE_URI"])
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter = Limiter(key_func=get_remote_address, default_limits=[], app=app)
    # The wrapped views hold the limiter weakly; with RATELIMIT_ENABLED = False flask-limiter keeps no
    # reference either, and every limited endpoint answered 500 once it was collected.
    app.extensions["provenance_limiter"] = limiter
    for endpoint in LIMITED_ENDPOINTS:
        app.view_functions[endpoint] = limiter.limit(settings.rate_limit)(app.view_functions[endpoint])
    return limiter
