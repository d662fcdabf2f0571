"""Per-client rate limits (flask-limiter) on every endpoint that takes an upload or scans the audit log.

Each limited endpoint allows ``PROVENANCE_RATE_LIMIT`` requests per client address, counted
in ``PROVENANCE_RATE_LIMIT_STORAGE`` (default ``memory://``: each server worker counts on
its own, so with N workers a client may get up to N times the limit; use ``redis://`` to
share one count). Behind a reverse proxy, the client address is the proxy's unless the app
is wrapped in werkzeug's ``ProxyFix``; see ``docs/webapp.md``.
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

__all__ = ["LIMITED_ENDPOINTS", "init_app"]

#: Endpoints that take an upload or count the audit log (the expensive ones).
LIMITED_ENDPOINTS = (
    "api.verify", "api.stamp", "ui.verify", "hashes.hash_upload", "hashes.match",
    "transparency.page", "transparency.as_json",
)


def init_app(app: Flask) -> Limiter:
    """Give `app` its own limiter and wrap :data:`LIMITED_ENDPOINTS` (call after registering blueprints)."""
    settings = app.config["PROVENANCE_SETTINGS"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.rate_limit_storage_uri)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter = Limiter(key_func=get_remote_address, default_limits=[], app=app)
    for endpoint in LIMITED_ENDPOINTS:
        app.view_functions[endpoint] = limiter.limit(settings.rate_limit)(app.view_functions[endpoint])
    return limiter
