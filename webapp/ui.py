"""The fact-checkers' form: upload a file, read a report in plain words. Works without JavaScript.

``GET /``         the upload form (file picker; drag-and-drop onto it)
``POST /verify``  the report page, rendered from ``VerificationReport.to_dict(public=True)`` plus thumbnails
                  (the form is unauthenticated, so hash-bank outcomes, bank names and distances are withheld)

Nothing is stored: the report page carries its own preview (a small JPEG as a ``data:`` URL)
and its JSON download (a ``data:`` URL too).
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from flask import Blueprint, current_app, render_template

from provenance import VERDICT_CODES, ProvenanceError, VerificationReport, images

from .security import check_csrf
from .services import get_services
from .uploads import Upload, accepts_video, check_fields, read_upload
from .video import is_video_upload, verify_video_upload

__all__ = ["bp", "credential_state", "evidence_words", "verdict_tone"]

logger = logging.getLogger(__name__)

bp = Blueprint("ui", __name__)

_PREVIEW_SIDE = 640
_DATA_URL_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif"}
_FORMAT_MIME = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}

#: Content Credentials states, worded as the CAI Verify site words them.
_STATES = {
    "trusted": ("Trusted", "ok", "The credentials are intact and were signed by a signer on the trust list."),
    "valid": ("Valid, but the signer is not recognised", "warn",
              "The credentials are intact and the file has not changed since signing, but the signer is not on "
              "a trust list, so who signed cannot be confirmed."),
    "altered": ("Altered after signing", "bad",
                "The file has Content Credentials, but its content was changed after they were signed."),
    "invalid": ("Invalid", "bad", "The file has Content Credentials, but they do not check out."),
    "absent": ("No Content Credentials", "none", "The file carries no Content Credentials (they may have been removed)."),
}
_MISMATCH_SUFFIX = ".mismatch"
_DISCLOSURE = {
    "ai_generated": "Made by AI (generative AI)",
    "ai_edited": "Edited with AI",
    "composite": "Partly made with AI (composite)",
    "capture": "Captured by a camera or recorder",
    "unknown": "Not stated",
}
_TONES = {
    "ai_generated_trusted": "ai", "ai_generated_valid": "ai", "ai_edited": "ai", "ai_generated_recovered": "ai",
    "watermark_unregistered": "ai", "watermark_copied": "bad", "watermark_unconfirmed": "warn",
    "stamp_withdrawn": "warn", "possible_match_watermark_missing": "warn", "altered_after_signing": "bad", "credentials_invalid": "bad",
    "credentials_trusted": "ok", "credentials_untrusted": "warn", "metadata_ai": "warn", "no_signals": "none",
}


def credential_state(manifest: dict[str, Any]) -> dict[str, str]:
    """Label, tone and explanation of a manifest's state (``altered`` split out of ``invalid``)."""
    state = manifest.get("state", "absent")
    if state == "invalid" and any(str(f.get("code", "")).endswith(_MISMATCH_SUFFIX) for f in manifest.get("failures", [])):
        state = "altered"
    label, tone, text = _STATES.get(state, _STATES["invalid"])
    return {"key": state, "label": label, "tone": tone, "text": text}


def evidence_words(p_value: float | None) -> str:
    """A false-positive probability for people: 'below 1 in 10^12 (1.0e-12)'."""
    if p_value is None:
        return "not computed"
    if p_value <= 0:
        return "effectively zero"
    if p_value >= 0.01:
        return f"{p_value:.2f} (high: no evidence)"
    exponent = 0
    while p_value < 10.0 ** (-exponent - 1) and exponent < 300:
        exponent += 1
    return f"below 1 in 10^{exponent} ({p_value:.1e})"


def verdict_tone(code: str) -> str:
    """CSS tone of a verdict code: ai, bad, ok, warn or none."""
    return _TONES.get(code, "none")


def _data_url(mime: str | None, data: bytes | None) -> str | None:
    if not data or mime not in _DATA_URL_TYPES:
        return None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _thumb_mime(fmt: str | None) -> str | None:
    if not fmt:
        return None
    fmt = fmt.lower()
    return fmt if "/" in fmt else _FORMAT_MIME.get(fmt)


def _preview(upload: Upload, report: VerificationReport) -> str | None:
    """A small JPEG of the upload, made in memory with the verifier's limits (pixels, memory budget)."""
    if report.file.width is None:  # not decoded: fall back to the credentials' own thumbnail
        return _data_url(_thumb_mime(report.manifest.thumbnail_format), report.manifest.thumbnail)
    settings = current_app.config["PROVENANCE_SETTINGS"]
    try:
        small = images.decode_image(
            upload.data, max_side=_PREVIEW_SIDE, max_pixels=settings.max_pixels,
            max_decode_bytes=settings.max_decode_bytes,
        )
        data = images.encode_image(small, "JPEG", quality=80)
    except ProvenanceError as exc:
        logger.info("no preview: %s", exc)
        return None
    return _data_url("image/jpeg", data)


def _ingredients(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        out.append({
            **item,
            "state_view": credential_state(item),
            "disclosure": _DISCLOSURE.get(item.get("ai_disclosure", "unknown"), item.get("ai_disclosure")),
            "thumbnail_url": _data_url(
                _thumb_mime(item.get("thumbnail_format")),
                base64.b64decode(item["thumbnail_base64"]) if item.get("thumbnail_base64") else None,
            ),
            "children": _ingredients(item.get("children", [])),
        })
    return out


def _view(report: VerificationReport, upload: Upload) -> dict[str, Any]:
    data = report.to_dict(public=True)  # the form is unauthenticated: hash-bank outcomes are withheld
    manifest = data["manifest"]
    with_thumbs = report.manifest.to_dict(include_thumbnails=True)
    recovered = data["registry"].get("recovered_manifest")
    raw = json.dumps(data, indent=2, ensure_ascii=False)
    return {
        "r": data,
        "tone": verdict_tone(data["verdict"]["code"]),
        "verdict_meaning": VERDICT_CODES.get(data["verdict"]["code"], ""),
        "preview_url": _preview(upload, report),
        "cred_state": credential_state(manifest),
        "disclosure": _DISCLOSURE.get(manifest.get("ai_disclosure", "unknown"), manifest.get("ai_disclosure")),
        "ingredients": _ingredients(with_thumbs.get("ingredients", [])),
        "recovered": recovered,
        "recovered_disclosure": None if not recovered else _DISCLOSURE.get(recovered.get("ai_disclosure", "unknown")),
        "evidence": evidence_words(data["watermark"].get("p_value")),
        "raw_json": raw,
        "download_url": "data:application/json;base64," + base64.b64encode(raw.encode("utf-8")).decode("ascii"),
        "download_name": f"provenance-report-{data['file']['sha256'][:12]}.json",
    }


@bp.get("/")
def index() -> str:
    """The upload form."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    return render_template("index.html", max_upload_mb=f"{limit / 1024 / 1024:g}")


@bp.post("/verify")
@accepts_video
def verify() -> str:
    """Check the uploaded file and render its report."""
    check_csrf()
    check_fields(("file", "csrf_token"))
    upload = read_upload()
    if is_video_upload(upload):
        video = verify_video_upload(upload, search=None).to_dict(include_thumbnails=True, public=True)
        tone = "good" if video["verdict"] == "ai_generated_stamped" else "neutral"
        return render_template("video_report.html", r=video, tone=tone)
    report = get_services().verifier.verify(upload.data, name=upload.name)
    return render_template("report.html", **_view(report, upload))
