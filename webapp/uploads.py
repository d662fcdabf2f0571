"""Reading an upload: a multipart file field or the raw request body.

Werkzeug spools multipart files over 500 KB to temporary files; :class:`InMemoryRequest`
keeps them in memory instead, up to the upload limit (``MAX_CONTENT_LENGTH``), so uploaded
images never touch the disk. Views that take video (:func:`accepts_video`) allow bodies up to
the video limit (``PROVENANCE_VIDEO_MAX_UPLOAD_MB``, 500 by default); a file past the upload
limit then goes on in an unnamed temporary file (already unlinked: it is gone when closed or
when the process ends), and only a video may be that large. It also refuses a body sent
without ``Content-Length`` (``Transfer-Encoding: chunked``) that goes past the limit with 413:
werkzeug's own stream stops reading at the limit and hands over the first bytes as if they
were the whole body.
"""

from __future__ import annotations

import functools
import io
import json
import shutil
import tempfile
from dataclasses import dataclass
from typing import IO, Any, Callable, Iterable, TypeVar

from flask import Request, after_this_request, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

from provenance import detect_mime_type, images

from .errors import AppError

__all__ = [
    "InMemoryRequest",
    "Upload",
    "accepts_video",
    "read_upload",
    "read_json_object",
    "is_json",
    "check_fields",
    "FORM_CONTENT_TYPES",
]

#: Content types whose body is a form, not the file itself.
FORM_CONTENT_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_MAX_NAME = 255
_CHUNK = 1 << 20
_MIB = 1024 * 1024
_View = TypeVar("_View", bound=Callable[..., Any])


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
        return _spool()


def _memory_limit() -> int:
    """The upload limit: files up to it are held in memory (and only video may be larger)."""
    return int(current_app.config["MAX_CONTENT_LENGTH"])


def _spool() -> IO[bytes]:
    # In memory up to the upload limit; past it (only where video is allowed) an unlinked file.
    return tempfile.SpooledTemporaryFile(max_size=_memory_limit(), prefix="provenance-upload-")  # noqa: SIM115


def accepts_video(view: _View) -> _View:
    """Let a view's request body grow to the video upload limit (set before anything reads it)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        video_limit = current_app.config["PROVENANCE_SETTINGS"].video_max_upload_bytes
        request.max_content_length = max(_memory_limit(), video_limit)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its bytes, the name it was sent with, and its type from its bytes.

    A video past the upload limit is not read into memory: ``data`` is then empty and ``file``
    is the (unlinked, temporary) file holding it, ``size`` bytes long.
    """

    data: bytes
    name: str | None
    mime: str
    file: IO[bytes] | None = None
    size: int | None = None

    def __repr__(self) -> str:  # never the bytes
        size = self.size if self.size is not None else len(self.data)
        return f"Upload(name={self.name!r}, mime={self.mime!r}, size={size})"

    def copy_to(self, path: str) -> None:
        """Write the upload's bytes to `path` (in chunks when it is a spooled file)."""
        with open(path, "wb") as out:
            if self.file is None:
                out.write(self.data)
            else:
                self.file.seek(0)
                shutil.copyfileobj(self.file, out, _CHUNK)


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
        stream: IO[bytes] = storage.stream
        name = _clean_name(storage.filename)
    elif request.content_length is not None and request.content_length <= _memory_limit():
        # A body known to fit in memory (every image upload) is read as before; BytesIO shares
        # its bytes, and reading it whole gives them back without a copy.
        stream = io.BytesIO(request.get_data(cache=False))
        name = _clean_name(request.args.get("name"))
    else:
        stream = _spool()
        # Closed with the request, like the form's files (which the request closes itself).
        after_this_request(lambda response: (stream.close(), response)[1])
        shutil.copyfileobj(request.stream, stream, _CHUNK)
        name = _clean_name(request.args.get("name"))
    size = stream.seek(0, 2)
    stream.seek(0)
    if not size:
        raise AppError(400, "empty_file", "The upload is empty (0 bytes); send the file itself.")
    mime = detect_mime_type(stream.read(images.SNIFF_BYTES))
    stream.seek(0)
    if mime is None:
        raise AppError(
            415, "unsupported_type",
            "This is not a file type provenance can check. Send an image (JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIC), "
            "a PDF, a video (MP4, MOV, WebM, MKV, AVI) or audio (WAV, MP3, FLAC).",
        )
    limit = _memory_limit()
    if size > limit:
        if not mime.startswith("video/"):
            raise AppError(
                413, "too_large",
                f"The upload is {size / _MIB:.0f} MB; only videos may be larger than {limit / _MIB:g} MB. Send a smaller file.",
            )
        return Upload(b"", name, mime, file=stream, size=size)
    return Upload(stream.read(), name, mime, size=size)


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
