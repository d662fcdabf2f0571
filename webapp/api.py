"""The JSON API under ``/api/v1`` (documented in ``webapp/openapi.json``, served at ``/api/v1/openapi.json``).

``POST /api/v1/verify``          a file (multipart field ``file`` or the raw body) -> verification report
``POST /api/v1/stamp``           bearer token (role stamp) + an image -> the stamped file, or JSON
``GET  /api/v1/stamps/<id>``     bearer token -> the registry record and its manifest
``GET  /healthz``                the registry is reachable

Errors are JSON ``{"error": {"code", "message"}}`` (:mod:`webapp.errors`).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
from pathlib import Path

from flask import Blueprint, Response, jsonify, request, url_for

from provenance import SEARCH_MODES, __version__
from .auth import optional_token, require_token, requester
from .errors import AppError
from .services import get_services
from .uploads import FORM_CONTENT_TYPES, accepts_video, check_fields, read_upload
from .video import is_video_upload, stamp_video_upload, verify_video_upload

__all__ = ["bp", "healthz", "OPENAPI_PATH"]

logger = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: The OpenAPI 3.1 document describing this API.
OPENAPI_PATH = Path(__file__).resolve().parent / "openapi.json"

_STAMP_ID = re.compile(r"[0-9a-fA-F]{16}")
_STAMP_FIELDS = ("file", "generator", "format", "prompt_hash", "title", "response", "name")
_SUFFIX = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/tiff": "tif"}


# --------------------------------------------------------------------------- endpoints


@bp.post("/verify")
@accepts_video
def verify() -> Response:
    """Verify the uploaded file; return the report (``schemas/verification-report.v1.json``).

    Without a token (or with one that does not grant ``match``) the hash-bank outcome is
    withheld (``report.to_dict(public=True)``): bank names, distances and even "no match"
    would help someone evade a bank. A ``match`` or ``admin`` token gets the full report.
    """
    full = optional_token("match")
    check_fields(("file", "name", "search"))
    search = request.values.get("search") or None  # query parameter or form field
    if search is not None and search not in SEARCH_MODES:
        modes = " or ".join(f"'{m}'" for m in SEARCH_MODES)
        raise AppError(400, "invalid_input", f"'search' must be {modes}; got {search[:20]!r}.")
    upload = read_upload()
    if is_video_upload(upload):
        response = jsonify(verify_video_upload(upload, search=search).to_dict(include_thumbnails=True, public=not full))
        response.headers["X-Provenance-View"] = "full" if full else "public"
        response.headers["Vary"] = "Authorization"
        return response
    report = get_services().verifier.verify(upload.data, name=upload.name, search=search)
    response = jsonify(report.to_dict(public=not full))
    response.headers["X-Provenance-View"] = "full" if full else "public"
    response.headers["Vary"] = "Authorization"
    return response


def _field(name: str) -> str | None:
    """A form field (multipart uploads) or query parameter (raw bodies); None when absent or empty."""
    source = request.form if (request.mimetype or "") in FORM_CONTENT_TYPES else request.args
    value = source.get(name)
    return value if value not in (None, "") else None


@bp.post("/stamp")
@accepts_video
def stamp() -> Response:
    """Watermark, sign and record the uploaded image; return the stamped file (or JSON with it)."""
    token = require_token("stamp")
    check_fields(_STAMP_FIELDS)
    generator = _field("generator")
    if generator is None:
        raise AppError(400, "missing_field", "Say which model or service made the image: field 'generator', e.g. 'my-model 2.1'.")
    want = (_field("response") or "").lower()
    if want not in ("", "file", "json"):
        raise AppError(400, "invalid_input", "Field 'response' must be 'file' (the stamped file) or 'json'.")
    if want == "":  # an explicit 'Accept: application/json' asks for JSON; anything else gets the file
        want = "json" if request.accept_mimetypes.best == "application/json" else "file"
    upload = read_upload()
    if is_video_upload(upload):
        return _stamp_video(upload, generator, want, token)
    if not upload.mime.startswith("image/"):
        raise AppError(415, "unsupported_type", f"Only images can be stamped; this is {upload.mime}.")
    result = get_services().stamper.stamp_image(
        upload.data,
        generator=generator,
        output_format=_field("format") or "PNG",
        prompt_hash=_field("prompt_hash"),
        requester=requester(token),
        title=_field("title") or upload.name,
    )
    location = url_for("api.get_stamp", stamp_id=result.stamp_id)
    filename = f"{result.stamp_id}.{_SUFFIX.get(result.mime, 'bin')}"
    if want == "json":
        summary = result.to_dict()
        summary.pop("path", None)
        response = jsonify({
            "stamp": summary,
            "record": location,
            "file": {"filename": filename, "mime": result.mime, "size": len(result.data),
                     "base64": base64.b64encode(result.data).decode("ascii")},
        })
    else:
        response = Response(result.data, mimetype=result.mime)
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.status_code = 201
    response.headers["Location"] = location
    response.headers["X-Provenance-Stamp-Id"] = result.stamp_id
    return response


def _stamp_video(upload, generator: str, want: str, token) -> Response:
    result, data = stamp_video_upload(upload, generator=generator, prompt_hash=_field("prompt_hash"), requester=requester(token))
    location = url_for("api.get_stamp", stamp_id=result.stamp_id)
    filename = f"{result.stamp_id}.mp4"
    if want == "json":
        summary = result.to_dict()
        summary.pop("path", None)
        summary["size"] = len(data)
        response = jsonify({"stamp": summary, "record": location, "file": {
            "filename": filename, "mime": "video/mp4", "size": len(data), "base64": base64.b64encode(data).decode("ascii")}})
    else:
        response = Response(data, mimetype="video/mp4")
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.status_code = 201
    response.headers["Location"] = location
    response.headers["X-Provenance-Stamp-Id"] = result.stamp_id
    return response


@bp.get("/stamps/<stamp_id>")
def get_stamp(stamp_id: str) -> Response:
    """The registry record of a stamp and its manifest (admin: any stamp; stamp role: its own)."""
    token = require_token("stamp")
    check_fields(())
    if not _STAMP_ID.fullmatch(stamp_id):
        raise AppError(400, "invalid_input", f"A stamp ID is 16 hex characters; got {stamp_id[:40]!r}.")
    record = get_services().registry.get_stamp(stamp_id.lower())
    if record is None:
        raise AppError(404, "not_found", f"The registry has no stamp {stamp_id.lower()}.")
    if not token.can("admin") and record.requester != requester(token):
        raise AppError(403, "forbidden", "This token may read only the stamps it made; use an admin token.")
    store = record.manifest_store
    return jsonify({
        "stamp": {
            "stamp_id": record.stamp_id,
            "created_at": record.created_at.isoformat(),
            "generator": record.generator,
            "key_id": record.key_id,
            "sha256": record.sha256,
            "phash": record.phash,
            "prompt_hash": record.prompt_hash,
            "requester": record.requester,
        },
        "manifest": json.loads(record.manifest_json),
        "manifest_store": None if store is None else {
            "mime": "application/c2pa", "size": len(store), "base64": base64.b64encode(store).decode("ascii"),
        },
    })


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI document of this API."""
    response = Response(_openapi_bytes(), mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@functools.cache
def _openapi_bytes() -> bytes:
    return OPENAPI_PATH.read_bytes()


def healthz() -> Response:
    """``{"status": "ok"}`` when the registry answers (503 otherwise)."""
    version = get_services().registry.schema_version
    return jsonify({"status": "ok", "version": __version__, "registry_schema": version})
