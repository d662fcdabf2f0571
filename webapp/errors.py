"""Errors: JSON ``{"error": {"code", "message"}}`` under ``/api`` (and ``/healthz``), an HTML page elsewhere.

=====  ==========================  ============================================================
HTTP   code                        when
=====  ==========================  ============================================================
400    ``bad_request`` and others  missing or empty file, unknown field, bad value, corrupt image,
                                   malformed JSON (``invalid_json``) or hash list (``invalid_hash_list``)
401    ``unauthorized``            no bearer token, or an unknown or revoked one
403    ``forbidden``               the token's role does not allow this
404    ``not_found``               no such page, stamp or hash bank
405    ``method_not_allowed``
409    ``exists``                  a hash bank with this name exists already
413    ``too_large``               upload over the byte limit, or image over the pixel limit
415    ``unsupported_type``        not an image, PDF, video or audio file
429    ``rate_limited``            too many requests from this client
500    ``internal_error``          a bug, or a server fault such as signing with a bad certificate:
                                   logged (with its traceback for bugs), which is never sent
503    ``unavailable``             the registry database or the time-stamp authority cannot be reached
=====  ==========================  ============================================================
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from provenance import (
    BankExistsError,
    BankNotFoundError,
    ConfigError,
    HashListError,
    ImageTooLargeError,
    InvalidImageError,
    InvalidVideoError,
    VideoTooLargeError,
    InvalidInputError,
    ManifestError,
    ProvenanceError,
    RegistryError,
    ServerFault,
    SigningError,
    TimestampAuthorityError,
)

__all__ = ["AppError", "init_app", "from_provenance_error", "wants_json"]

logger = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "exists", 413: "too_large", 414: "uri_too_long", 415: "unsupported_type", 429: "rate_limited", 500: "internal_error", 503: "unavailable",
}
_TITLES = {
    400: "The upload could not be checked", 401: "Sign-in needed", 403: "Not allowed", 404: "Page not found",
    405: "Not allowed here", 409: "Already there", 413: "The file is too large", 415: "This file type cannot be checked",
    429: "Too many uploads", 500: "Something went wrong on our side", 503: "The service is unavailable",
}


class AppError(Exception):
    """An error with an HTTP status, a stable machine code and a message for people."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def from_provenance_error(exc: ProvenanceError) -> AppError:
    """Map a library error to an :class:`AppError` (its message is meant for users, except config errors)."""
    message = " ".join(str(exc).split())
    if isinstance(exc, BankNotFoundError):  # before InvalidInputError, their base
        return AppError(404, "not_found", message)
    if isinstance(exc, BankExistsError):
        return AppError(409, "exists", message)
    if isinstance(exc, HashListError):
        return AppError(400, "invalid_hash_list", message)
    if isinstance(exc, (ImageTooLargeError, VideoTooLargeError)):
        return AppError(413, "too_large", message)
    if isinstance(exc, InvalidVideoError):
        return AppError(400, "invalid_video", message)
    if isinstance(exc, InvalidImageError):
        return AppError(400, "invalid_image", message)
    if isinstance(exc, InvalidInputError):
        return AppError(400, "invalid_input", message)
    # Server faults before ManifestError: a SigningError is both, and not the caller's fault.
    if isinstance(exc, RegistryError):
        logger.error("registry error: %s", message)
        return AppError(503, "unavailable", "The registry database cannot be reached; try again shortly.")
    if isinstance(exc, TimestampAuthorityError):
        logger.error("time-stamp authority error: %s", message)
        return AppError(503, "unavailable", "The time-stamp authority used for signing is not answering; try again shortly.")
    if isinstance(exc, SigningError):
        logger.error("signing error: %s", message)
        return AppError(500, "internal_error", "Signing failed on our side; its operator has been told in the log.")
    if isinstance(exc, ServerFault):
        logger.error("server fault: %s", message)
        return AppError(500, "internal_error", "Something went wrong on our side; the error was logged.")
    if isinstance(exc, ManifestError):
        return AppError(400, "invalid_file", message)
    if isinstance(exc, ConfigError):
        logger.error("configuration error: %s", message)
        return AppError(500, "internal_error", "The server is misconfigured; its operator has been told in the log.")
    logger.error("unexpected provenance error: %s", message)
    return AppError(500, "internal_error", "Something went wrong on our side; the error was logged.")


def wants_json() -> bool:
    """True for API requests: answer with JSON rather than an HTML page."""
    prefix = current_app.config["PROVENANCE_SETTINGS"].resolution_prefix + "/"  # the resolution API's
    return request.path.startswith(("/api/", prefix)) or request.path == "/healthz"


def _respond(err: AppError) -> Response:
    if wants_json():
        response = jsonify({"error": {"code": err.code, "message": err.message}})
    else:
        page = render_template(
            "error.html", status=err.status, title=_TITLES.get(err.status, "Error"), code=err.code, message=err.message,
        )
        response = make_response(page)
    response.status_code = err.status
    response.headers.update(err.headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def _http_message(exc: HTTPException) -> str:
    if exc.code == 413:
        limit = request.max_content_length or current_app.config.get("MAX_CONTENT_LENGTH") or 0
        return f"The upload is larger than the limit of {limit / 1024 / 1024:g} MB; send a smaller file."
    if exc.code == 429:
        return f"Too many requests from your address ({exc.description}); wait a little and try again."
    if exc.code == 404:
        return "There is nothing at this address."
    if exc.code == 405:
        return f"{request.method} is not allowed here."
    if exc.code == 400:
        return exc.description or "The request could not be understood."
    return exc.description or exc.name


def init_app(app: Flask) -> None:
    """Register the handlers: AppError, library errors, HTTP errors and anything else (500)."""

    @app.errorhandler(AppError)
    def _app_error(exc: AppError):
        return _respond(exc)

    @app.errorhandler(ProvenanceError)
    def _provenance_error(exc: ProvenanceError):
        return _respond(from_provenance_error(exc))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        err = AppError(status, _HTTP_CODES.get(status, "error"), _http_message(exc))
        response = _respond(err)
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        if status == 429:
            retry = getattr(exc, "retry_after", None)
            if retry:
                response.headers["Retry-After"] = str(retry)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return _respond(AppError(500, "internal_error", "Something went wrong on our side; the error was logged."))
