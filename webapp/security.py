"""Secret key, security headers and the form's CSRF token.

CSRF: a synchronizer token. The form page puts a random token in Flask's session (a cookie
signed with the app's secret key, ``SameSite=Lax``, ``HttpOnly``) and in a hidden field; a
form POST must send both, and they are compared in constant time. That is what Flask-WTF
does, in a dozen lines and without WTForms, which nothing else here needs. The JSON API is
not cookie-authenticated (bearer tokens or nothing), so it needs no CSRF token.

The secret key comes from ``PROVENANCE_SECRET_KEY_FILE``, or else from ``secret_key`` in the
instance folder, made on first use (atomically, so that several workers starting together
agree on one key).

Behind ``PROVENANCE_PROXY_HOPS`` reverse proxies the app trusts their ``X-Forwarded-For`` and
``X-Forwarded-Proto`` (werkzeug's ``ProxyFix``), and the session cookie is ``Secure`` whenever
the request came over HTTPS (always, with ``SESSION_COOKIE_SECURE``).
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from flask import Flask, Response, request, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from provenance import load_secret_file

from .errors import AppError

__all__ = ["init_app", "csrf_token", "check_csrf", "CSP", "SECURITY_HEADERS", "load_secret_key", "HttpsAwareSessionInterface"]

#: Content Security Policy: our own scripts, styles and images only (plus data: thumbnails).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'; connect-src 'self'"
)
#: Headers on every answer (the app's, and the production server's own error answers).
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
_CSRF_KEY = "csrf_token"
_SECRET_BYTES = 32


def load_secret_key(path: Path) -> bytes:
    """Read the secret key at `path`, making it first if it does not exist.

    Raises
    ------
    ConfigError
        If the file cannot be read or made, or is too short.
    """
    return load_secret_file(path, what="secret key", min_bytes=_SECRET_BYTES, setting="PROVENANCE_SECRET_KEY_FILE")


def csrf_token() -> str:
    """The session's CSRF token (made on first use); put it in every form as ``csrf_token``."""
    token = session.get(_CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[_CSRF_KEY] = token
    return token


def check_csrf() -> None:
    """Raise a 400 :class:`AppError` unless the form's token matches the session's."""
    expected = session.get(_CSRF_KEY)
    sent = request.form.get(_CSRF_KEY, "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise AppError(
            400, "csrf_failed",
            "The form had expired or did not come from this site (its security token did not match). "
            "Reload the page and upload the file again; cookies must be enabled.",
        )


def _add_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``Secure`` on the cookie of every HTTPS request."""

    def get_cookie_secure(self, app: Flask) -> bool:  # noqa: D102 (Flask API)
        return bool(super().get_cookie_secure(app)) or request.is_secure


def init_app(app: Flask) -> None:
    """Set the secret key, add security headers to every response, expose ``csrf_token`` to templates.

    With ``PROVENANCE_PROXY_HOPS`` set, trust that many proxies' ``X-Forwarded-For`` and
    ``X-Forwarded-Proto`` (the client address for rate limits, HTTPS for the cookie).
    """
    hops = app.config["PROVENANCE_SETTINGS"].proxy_hops
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.session_interface = HttpsAwareSessionInterface()
    if not app.config.get("SECRET_KEY"):
        settings = app.config["PROVENANCE_SETTINGS"]
        path = settings.secret_key_path or Path(app.instance_path) / "secret_key"
        app.config["SECRET_KEY"] = load_secret_key(path)
    app.after_request(_add_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
