"""The provenance web app: a form for fact-checkers (``ui``) and a JSON API (``api``).

::

    flask --app webapp run                                        # development server
    gunicorn -c webapp/gunicorn_conf.py "webapp:create_app()"    # production (scripts/serve)

Modules, one concern each:

``services``       one Verifier, Stamper and TokenStore per worker process, made on first use
``security``       secret key, security headers (CSP), CSRF token for the form
``limits``         per-client rate limits (flask-limiter)
``errors``         every error as JSON under /api, as an HTML page elsewhere; never a traceback
``uploads``        reading an upload (multipart or raw body) into memory, checking its type
``auth``           bearer tokens: required (with a role) or optional (more detail for a role)
``ui``, ``api``    the blueprints: the form, and the JSON API
``hashbanks``      the hash-bank API: hash, match, bank management
``transparency``   the public transparency page and its JSON
``resolution``     the C2PA Soft Binding Resolution API (``/c2pa/v1``)
``cases``          Take It Down removal requests: /report, /api/v1/cases, /admin/cases
``gunicorn_conf``  the production server's settings, from :class:`provenance.Settings`

Uploaded media are only held in memory for the request: never written to disk or logged.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from flask import Flask

from provenance import Settings

from . import api, cases, errors, hashbanks, limits, resolution, security, services, transparency, ui, uploads

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app.

    Parameters
    ----------
    test_config : mapping, optional
        Flask config overrides (as in flaskr). ``PROVENANCE_SETTINGS`` may hold a
        :class:`provenance.Settings` to use instead of ``Settings.from_env()``. Without it, an
        instance ``config.py`` is read when present.

    Returns
    -------
    Flask

    Raises
    ------
    ConfigError
        If a ``PROVENANCE_*`` variable is wrong.
    """
    settings = (test_config or {}).get("PROVENANCE_SETTINGS") or Settings.from_env()
    app = Flask(__name__, instance_path=str(settings.instance_path), instance_relative_config=True)
    app.request_class = uploads.InMemoryRequest
    app.config.from_mapping(
        PROVENANCE_SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        RATELIMIT_ENABLED=True,
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.update(test_config)
    settings = app.config["PROVENANCE_SETTINGS"]
    app.config["MAX_CONTENT_LENGTH"] = app.config.get("MAX_CONTENT_LENGTH") or settings.max_upload_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]

    security.init_app(app)
    services.init_app(app)
    errors.init_app(app)
    app.register_blueprint(ui.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(hashbanks.bp)
    app.register_blueprint(transparency.bp)
    app.register_blueprint(resolution.bp, url_prefix=settings.resolution_prefix)
    app.add_url_rule("/healthz", "healthz", api.healthz)
    limits.init_app(app)
    cases.init_app(app)  # after limits: it rate-limits its own public endpoints
    return app
