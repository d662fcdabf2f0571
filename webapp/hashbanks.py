"""Hash banks in the JSON API (:mod:`provenance.banks`, ``docs/banks.md``).

``POST  /api/v1/hash``                        public: an upload -> its PDQ (+ 8 dihedral variants), MD5, SHA-256
``POST  /api/v1/match``                       token ``match``: an upload, or JSON hashes -> bank matches
``GET   /api/v1/banks``                       token ``admin``: every bank with its counts
``POST  /api/v1/banks``                       token ``admin``: create a bank (201; 409 if the name is taken)
``GET   /api/v1/banks/<name>``                token ``admin``: one bank
``PATCH /api/v1/banks/<name>``                token ``admin``: change label, threshold, enabled, description
``POST  /api/v1/banks/<name>/hashes``         token ``admin``: add hashes (JSON) or import a CSV/JSON hash list; all or nothing
``POST  /api/v1/banks/<name>/withdraw``       token ``admin``: delete hashes; the next match no longer finds them
``GET   /api/v1/banks/<name>/export``         token ``admin``: the bank as a CSV or JSON hash list
``POST  /api/v1/banks/<name>/videos``         token ``admin``: add a video (vPDQ-hashed, not kept) or a vPDQ / JSON video list
``GET   /api/v1/banks/<name>/videos``         token ``admin``: the bank's videos (a re-importable JSON video list)
``POST  /api/v1/banks/<name>/videos/withdraw`` token ``admin``: delete videos by ID

Bank names, labels and distances are only ever returned to tokens that grant ``match``:
they would help someone tweak an image until it slips under a bank's threshold. A match is a
signal for human review, never proof; every match answer carries that note.
Uploads are hashed in memory and dropped; only hashes are kept (in banks) or logged (audit).
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from provenance import HASH_KINDS, REVIEW_NOTE, PerceptualHash, file_digests, pdq_dihedral_hashes_file, video

from .auth import require_token
from .errors import AppError
from .services import get_services
from .uploads import FORM_CONTENT_TYPES, check_fields, is_json, read_json_object, read_upload
from .video import hash_video_upload, is_video_upload

__all__ = ["bp"]

logger = logging.getLogger(__name__)

bp = Blueprint("hashes", __name__, url_prefix="/api/v1")

_BANK_FIELDS = ("label", "threshold", "enabled", "description")
_LIST_TYPES = {"text/csv": "csv", "application/csv": "csv", "text/plain": "csv"}
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


def _limits() -> dict[str, int]:
    """The decoder's limits from the settings, as keyword arguments."""
    settings = current_app.config["PROVENANCE_SETTINGS"]
    return {"max_pixels": settings.max_pixels, "max_decode_bytes": settings.max_decode_bytes}


def _is_image(mime: str) -> bool:
    """A raster image PDQ can hash (SVG is drawn, not decoded: exact digests only)."""
    return mime.startswith("image/") and mime != "image/svg+xml"


# --------------------------------------------------------------------------- hash, match


@bp.post("/hash")
def hash_upload() -> Response:
    """Hash an upload without storing it: PDQ, its quality, 8 dihedral variants, MD5 and SHA-256.

    Non-image media (video, audio, PDF, SVG) get only their MD5 and SHA-256 (``pdq`` is null).
    With ``record=true&content_id=...`` (token ``reviewer``) the hashes also go in the Take It Down
    content index, and the answer lists the ``alerts`` they raise (:mod:`webapp.cases`).
    """
    check_fields(("file", "name", "record", "content_id"))
    record = request.args.get("record", "").lower() in _TRUE
    if record:
        require_token("reviewer")
    upload = read_upload()
    digests = file_digests(upload.data)
    out: dict[str, Any] = {"mime": upload.mime, "pdq": None, "quality": None, "matchable": False,
                           "md5": digests.md5, "sha256": digests.sha256, "dihedral": None}
    if _is_image(upload.mime):
        hashes = pdq_dihedral_hashes_file(upload.data, **_limits())
        out.update(pdq=hashes[0].to_hex(), quality=hashes[0].quality, matchable=hashes[0].is_matchable,
                   dihedral=[h.to_hex() for h in hashes])
    if record:
        from .cases import content_row_or_400, record_content  # the cases blueprint owns the content index
        out["alerts"] = record_content([content_row_or_400(request.args.get("content_id"), out)])
    return jsonify(out)


def _json_hashes() -> tuple[tuple[PerceptualHash, ...], str | None, str | None]:
    body = read_json_object(("pdq", "quality", "md5", "sha256", "vpdq"))
    if not any(body.get(k) is not None for k in ("pdq", "md5", "sha256")):
        raise AppError(400, "missing_field", "Send at least one of pdq (64 hex), md5 (32 hex) or sha256 (64 hex).")
    for key in ("pdq", "md5", "sha256"):
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or len(value.strip()) != HASH_KINDS[key]):
            raise AppError(400, "invalid_input",
                           f"{key} must be {HASH_KINDS[key]} hex digits; got {str(value)[:80]!r}.")
    quality = body.get("quality", 100)
    if body.get("pdq") is None:
        if "quality" in body:
            raise AppError(400, "invalid_input", "quality belongs to a pdq hash; send pdq too, or leave quality out.")
        hashes: tuple[PerceptualHash, ...] = ()
    else:
        if isinstance(quality, bool) or not isinstance(quality, int):
            raise AppError(400, "invalid_input", f"quality must be a whole number 0-100; got {quality!r:.40}.")
        hashes = (PerceptualHash.from_hex(body["pdq"], quality=quality),)  # bad hex: InvalidInputError -> 400
    return hashes, body.get("md5"), body.get("sha256")


def _json_video(body: dict[str, Any]) -> "video.VideoHash":
    if "pdq" in body or "quality" in body:
        raise AppError(400, "invalid_input", "Send either an image's pdq or a video's vpdq, not both.")
    lines = body["vpdq"]
    if isinstance(lines, list) and all(isinstance(x, str) for x in lines):
        lines = "\n".join(lines)
    if not isinstance(lines, str):
        raise AppError(400, "invalid_input", "vpdq must be a list of 'frame,quality,pdq_hex,timestamp' lines (or one text).")
    for key in ("md5", "sha256"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise AppError(400, "invalid_input", f"{key} must be a hex string.")
    # Bad lines: InvalidInputError -> 400; bad digests are refused by match_video the same way.
    return video.VideoHash(video.parse_vpdq(lines), body.get("md5"), body.get("sha256"))


def _video_match(result) -> Response:
    return jsonify({**result.to_dict(), "kind": "video"})


@bp.post("/match")
def match() -> Response:
    """Check an upload (or hashes computed elsewhere) against every enabled bank; token ``match``."""
    require_token("match")
    banks = get_services().banks
    if is_json():
        check_fields(())
        body = read_json_object(("pdq", "quality", "md5", "sha256", "vpdq"))
        if body.get("vpdq") is not None:  # a video's vPDQ frames (with its digests, optionally)
            return _video_match(banks.check_video(_json_video(body), audit=True))
        hashes, md5, sha256 = _json_hashes()
        result = banks.check(hashes, md5=md5, sha256=sha256, audit=True)
    else:
        check_fields(("file", "name"))
        upload = read_upload()
        if is_video_upload(upload):
            return _video_match(banks.check_video(hash_video_upload(upload), audit=True))
        if _is_image(upload.mime):
            result = banks.match_file(upload.data, **_limits(), audit=True)
        else:  # video, audio, PDF: exact digests only
            digests = file_digests(upload.data)
            result = banks.check((), md5=digests.md5, sha256=digests.sha256, audit=True)
    return jsonify({**result.to_dict(), "review_note": REVIEW_NOTE})


# --------------------------------------------------------------------------- bank management


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise AppError(400, "invalid_input", f"{name} must be true or false; got {value!r:.40}.")


def _check_types(body: dict[str, Any]) -> dict[str, Any]:
    """Reject values of the wrong JSON type (the library checks ranges and formats)."""
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise AppError(400, "invalid_input", f"enabled must be true or false; got {body['enabled']!r:.40}.")
    if "threshold" in body and (isinstance(body["threshold"], bool) or not isinstance(body["threshold"], int)):
        raise AppError(400, "invalid_input", f"threshold must be a whole number of bits; got {body['threshold']!r:.40}.")
    for key in ("name", "label", "description"):
        if key in body and not isinstance(body[key], str):
            raise AppError(400, "invalid_input", f"{key} must be text; got {body[key]!r:.40}.")
    return body


@bp.get("/banks")
def list_banks() -> Response:
    """Every bank with its counts (admin)."""
    require_token("admin")
    check_fields(())
    return jsonify({"banks": [b.to_dict() for b in get_services().banks.list()]})


@bp.post("/banks")
def create_bank() -> Response:
    """Create an empty bank (admin): JSON ``{name, label, threshold?, enabled?, description?}``."""
    require_token("admin")
    _require_json()
    check_fields(())
    body = _check_types(read_json_object(("name",) + _BANK_FIELDS, required=("name", "label")))
    bank = get_services().banks.create(body.pop("name"), **body)
    response = jsonify(bank.to_dict())
    response.status_code = 201
    response.headers["Location"] = url_for("hashes.get_bank", name=bank.name)
    return response


@bp.get("/banks/<name>")
def get_bank(name: str) -> Response:
    """One bank with its counts (admin)."""
    require_token("admin")
    check_fields(())
    return jsonify(get_services().banks.get(name).to_dict())


@bp.patch("/banks/<name>")
def update_bank(name: str) -> Response:
    """Change a bank's label, threshold, enabled flag or description (admin); applies to the next match."""
    require_token("admin")
    _require_json()
    check_fields(())
    body = _check_types(read_json_object(_BANK_FIELDS))
    if not body:
        raise AppError(400, "missing_field", f"Send at least one of {', '.join(_BANK_FIELDS)}.")
    if any(v is None for v in body.values()):
        raise AppError(400, "invalid_input", "Fields may not be null; leave out what should not change.")
    return jsonify(get_services().banks.update(name, **body).to_dict())


def _require_json() -> None:
    if not is_json():
        raise AppError(415, "unsupported_type", "Send a JSON body with 'Content-Type: application/json'.")


@bp.post("/banks/<name>/hashes")
def add_hashes(name: str) -> Response:
    """Add hashes to a bank (admin), all or nothing.

    ``application/json``: ``{"hashes": [hex or {hash, kind, quality, source, case_id, date}], "skip_existing": false}``.
    A hash-list file (CSV or JSON, as ``export`` writes): multipart field ``file`` (with fields
    ``skip_existing`` and ``format``), or the raw body as ``text/csv`` (query ``skip_existing``, ``format``).
    """
    require_token("admin")
    banks = get_services().banks
    if is_json():
        check_fields(())
        body = read_json_object(("hashes", "skip_existing"), required=("hashes",))
        if not isinstance(body["hashes"], list):
            raise AppError(400, "invalid_input", "hashes must be a list of hex strings or hash-list objects.")
        skip = _bool(body.get("skip_existing", False), "skip_existing")
        data, fmt = json.dumps(body["hashes"]).encode("utf-8"), "json"
    else:
        mimetype = request.mimetype or ""
        is_form = mimetype in FORM_CONTENT_TYPES
        check_fields(("file", "skip_existing", "format"))
        fields = request.form if is_form else request.args
        if is_form:
            storage = request.files.get("file")
            if storage is None:
                raise AppError(400, "missing_file", "Send the hash list in the multipart field 'file'.")
            data, filename = storage.read(), storage.filename or ""
            suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
            fmt = fields.get("format") or (suffix if suffix in ("csv", "json") else None)
        elif mimetype in _LIST_TYPES:
            data, fmt = request.get_data(cache=False), fields.get("format") or _LIST_TYPES[mimetype]
        else:
            raise AppError(415, "unsupported_type", "Send JSON (application/json), a CSV hash list (text/csv) "
                           f"or a multipart upload with field 'file'; got {mimetype or 'no Content-Type'}.")
        if not data:
            raise AppError(400, "empty_file", "The hash list is empty; send at least one hash.")
        skip = _bool(fields.get("skip_existing", "false"), "skip_existing")
    result = banks.import_hashes(name, data, format=fmt, skip_existing=skip)
    return jsonify(result.to_dict())


@bp.post("/banks/<name>/withdraw")
def withdraw_hashes(name: str) -> Response:
    """Delete hashes from a bank (admin), all or nothing: ``{"hashes": [hex], "kind": "pdq", "missing_ok": false}``."""
    require_token("admin")
    _require_json()
    check_fields(())
    body = read_json_object(("hashes", "kind", "missing_ok"), required=("hashes",))
    hashes, kind = body["hashes"], body.get("kind", "pdq")
    if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
        raise AppError(400, "invalid_input", "hashes must be a list of hex strings.")
    if not isinstance(kind, str):
        raise AppError(400, "invalid_input", f"kind must be one of {', '.join(HASH_KINDS)}.")
    missing_ok = _bool(body.get("missing_ok", False), "missing_ok")
    withdrawn = get_services().banks.withdraw(name, hashes, kind=kind.lower(), missing_ok=missing_ok)
    return jsonify({"bank": name, "withdrawn": withdrawn})


@bp.get("/banks/<name>/export")
def export_bank(name: str) -> Response:
    """The bank as a re-importable hash list (admin): ``?format=csv`` (default) or ``json``."""
    require_token("admin")
    check_fields(("format",))
    fmt = request.args.get("format", "csv").lower()
    if fmt not in ("csv", "json"):
        raise AppError(400, "invalid_input", f"format must be csv or json; got {fmt[:20]!r}.")
    out = io.StringIO()
    get_services().banks.export(name, out, format=fmt)
    response = Response(out.getvalue(), mimetype="text/csv" if fmt == "csv" else "application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response



# --------------------------------------------------------------------------- banked videos


@bp.post("/banks/<name>/videos")
def add_videos(name: str) -> Response:
    """Add videos to a bank (admin), all or nothing.

    A video file (multipart field ``file`` or the raw body): vPDQ-hashed with its MD5 and
    SHA-256, then dropped. A video list: vPDQ text (``text/plain``), or JSON (``application/json``:
    a video object, a list of them, ``{"videos": [...]}`` or HMA's vPDQ JSON). Fields / query
    parameters ``source``, ``case_id`` (for entries without them) and ``skip_existing``.
    """
    require_token("admin")
    banks = get_services().banks
    mimetype = request.mimetype or ""
    fields = request.form if mimetype in FORM_CONTENT_TYPES else request.args
    check_fields(("file", "name", "source", "case_id", "skip_existing"))
    skip = _bool(fields.get("skip_existing", "false"), "skip_existing")
    source, case_id = fields.get("source"), fields.get("case_id")
    if mimetype in ("application/json", "text/plain"):
        data = request.get_data(cache=False)
        if not data:
            raise AppError(400, "empty_file", "The video list is empty; send vPDQ lines or a JSON video list.")
        result = banks.import_videos(name, data, skip_existing=skip, default_source=source, case_id=case_id)
        return jsonify(result.to_dict())
    upload = read_upload()
    if not is_video_upload(upload):
        raise AppError(415, "unsupported_type", "Send a video (MP4, MOV, WebM, MKV), vPDQ text (text/plain) or a "
                       f"JSON video list (application/json); got {upload.mime}.")
    return jsonify(banks.add_video_hash(name, hash_video_upload(upload), source=source, case_id=case_id,
                                        skip_existing=skip).to_dict())


@bp.get("/banks/<name>/videos")
def list_videos(name: str) -> Response:
    """The bank's videos (admin): ``{"bank", "videos": [{video_id, md5, sha256, frame_count, vpdq, ...}]}``."""
    require_token("admin")
    check_fields((), where="query")
    return jsonify({"bank": name, "videos": [e.to_dict() for e in get_services().banks.videos(name)]})


@bp.post("/banks/<name>/videos/withdraw")
def withdraw_videos(name: str) -> Response:
    """Delete videos from a bank by ID (admin), all or nothing: ``{"video_ids": [1, 2], "missing_ok": false}``."""
    require_token("admin")
    _require_json()
    check_fields(())
    body = read_json_object(("video_ids", "missing_ok"), required=("video_ids",))
    ids = body["video_ids"]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise AppError(400, "invalid_input", "video_ids must be a non-empty list of whole numbers (IDs from GET .../videos).")
    missing_ok = _bool(body.get("missing_ok", False), "missing_ok")
    return jsonify({"bank": name, "withdrawn": get_services().banks.withdraw_videos(name, ids, missing_ok=missing_ok)})
