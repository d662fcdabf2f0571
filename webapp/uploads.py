"""Reading an upload into memory: a multipart file field or the raw request body.

Werkzeug spools multipart files over 500 KB to temporary files; :class:`InMemoryRequest`
keeps them in memory instead (the upload limit bounds the size), so uploaded media never
touch the disk. It also refuses a body sent without ``Content-Length`` (``Transfer-Encoding:
chunked``) that goes past the upload limit with 413: werkzeug's own stream stops reading at
the limit and hands over the first bytes as if they were the whole body.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import IO, Any, Iterable

from flask import Request, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

from provenance import detect_mime_type, images

from .errors import AppError

__all__ = ["InMemoryRequest", "Upload", "read_upload", "read_json_object", "is_json", "check_fields", "FORM_CONTENT_TYPES"]

#: Content types whose body is a form, not the file itself.
FORM_CONTENT_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_MAX_NAME = 255


class _CappedStream(LimitedStream):
    """A body stream of unknown length that raises 413 once it passes `limit` bytes (never cuts it).

    It reads up to one byte past the limit: a body of exactly `limit` bytes ends cleanly.
    """

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        super().__init__(stream, limit + 1, is_max=True)
        self.max_bytes = limit

    def readinto(self, b: bytearray) -> int | None:  # type: ignore[override]
        size = super().readinto(b)
        if self.tell() > self.max_bytes:
            raise RequestEntityTooLarge()
        return size


class InMemoryRequest(Request):
    """A request whose multipart files are held in memory, and whose body is refused past the limit."""

    @cached_property
    def stream(self) -> IO[bytes]:  # noqa: D102 (werkzeug API)
        limit = self.max_content_length
        # A server that terminates the body itself (gunicorn) streams it without Content-Length.
        if limit is not None and self.content_length is None and self.environ.get("wsgi.input_terminated"):
            return _CappedStream(self.environ["wsgi.input"], limit)
        return super().stream

    def _get_file_stream(  # noqa: D102 (werkzeug hook)
        self, total_content_length: int | None, content_type: str | None, filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        return io.BytesIO()


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its bytes, the name it was sent with, and its type from its bytes."""

    data: bytes
    name: str | None
    mime: str

    def __repr__(self) -> str:  # never the bytes
        return f"Upload(name={self.name!r}, mime={self.mime!r}, size={len(self.data)})"


def _clean_name(name: str | None) -> str | None:
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())[:_MAX_NAME]
    return name or None


def check_fields(allowed: Iterable[str], *, where: str = "form") -> None:
    """Reject form fields, files and query parameters not in `allowed` (400 ``unknown_field``)."""
    allowed = set(allowed)
    sent = set(request.args) | (set(request.form) | set(request.files) if _is_form() else set())
    unknown = sorted(sent - allowed)
    if unknown:
        raise AppError(
            400, "unknown_field",
            f"Unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"this endpoint takes {', '.join(sorted(allowed)) or 'no fields'}.",
        )


def _is_form() -> bool:
    return (request.mimetype or "") in FORM_CONTENT_TYPES


def read_upload(field: str = "file") -> Upload:
    """The uploaded file: the multipart field `field`, or else the whole raw body.

    Raises
    ------
    AppError
        400 when nothing (or an empty file) was sent, 415 when its bytes are of no type
        provenance reads. (A body over the upload limit is refused with 413 while it is read.)
    """
    if _is_form():
        storage = request.files.get(field)
        if storage is None:
            raise AppError(400, "missing_file", f"Send the file in the multipart field '{field}', or as the raw request body.")
        data = storage.read()
        name = _clean_name(storage.filename)
    else:
        data = request.get_data(cache=False)
        name = _clean_name(request.args.get("name"))
    if not data:
        raise AppError(400, "empty_file", "The upload is empty (0 bytes); send the file itself.")
    mime = detect_mime_type(data[:images.SNIFF_BYTES])
    if mime is None:
        raise AppError(
            415, "unsupported_type",
            "This is not a file type provenance can check. Send an image (JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIC), "
            "a PDF, a video (MP4, MOV) or audio (WAV, MP3, FLAC).",
        )
    return Upload(data, name, mime)


def is_json() -> bool:
    """True when the request body is declared JSON (``application/json``)."""
    return (request.mimetype or "") == "application/json"


def read_json_object(allowed: Iterable[str], *, required: Iterable[str] = ()) -> dict[str, Any]:
    """The request body as a JSON object whose keys are all in `allowed` and include `required`.

    Raises
    ------
    AppError
        400 ``invalid_json`` when the body is not a JSON object, ``unknown_field`` for a key
        outside `allowed`, ``missing_field`` for a missing required one.
    """
    try:
        body = json.loads(request.get_data(cache=True) or b"")
    except (UnicodeDecodeError, ValueError) as exc:
        raise AppError(400, "invalid_json", f"The body is not valid JSON ({exc}).") from None
    if not isinstance(body, dict):
        raise AppError(400, "invalid_json", f"The body must be a JSON object; got {type(body).__name__}.")
    allowed = set(allowed)
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise AppError(
            400, "unknown_field",
            f"Unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; this endpoint takes "
            f"{', '.join(sorted(allowed))}.",
        )
    missing = [k for k in required if k not in body]
    if missing:
        raise AppError(400, "missing_field", f"Missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}.")
    return body
