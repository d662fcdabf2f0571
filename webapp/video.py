"""Video uploads for ``/api/v1/verify``, ``/api/v1/stamp`` and the form: through a temporary file.

PyAV reads from a path, so an uploaded video is written to a private temporary folder (copied
in chunks from the upload's spooled file when it is large), used, and deleted before the
response goes out (also on errors): nothing is kept.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from provenance import video

from .services import get_services
from .uploads import Upload

__all__ = ["hash_video_upload", "is_video_upload", "verify_video_upload", "stamp_video_upload"]

_SUFFIX = {"video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm", "video/x-matroska": ".mkv", "video/x-m4v": ".m4v",
           "video/avi": ".avi"}


def is_video_upload(upload: Upload) -> bool:
    """True when the upload's bytes are a video container."""
    return upload.mime.startswith("video/")


@contextmanager
def _spooled(upload: Upload) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="provenance-video-") as d:
        path = Path(d) / ("upload" + _SUFFIX.get(upload.mime, ".mp4"))
        upload.copy_to(str(path))
        yield path


def verify_video_upload(upload: Upload, *, search: str | None) -> video.VideoReport:
    """Verify an uploaded video (temporary file deleted afterwards)."""
    with _spooled(upload) as path:
        return video.verify_video(get_services().verifier, path, name=upload.name, search=search)


def hash_video_upload(upload: Upload) -> "video.VideoHash":
    """vPDQ-hash an uploaded video, with its MD5 and SHA-256 (temporary file deleted afterwards)."""
    with _spooled(upload) as path:
        return video.hash_video(path, settings=get_services().settings)


def stamp_video_upload(upload: Upload, *, generator: str, prompt_hash: str | None, requester: str | None) -> tuple[video.VideoStampResult, bytes]:
    """Stamp an uploaded video; returns the result and the stamped MP4's bytes (no file kept)."""
    with _spooled(upload) as path:
        out = path.with_name("stamped.mp4")
        result = video.stamp_video(get_services().stamper, path, out, generator=generator, prompt_hash=prompt_hash, requester=requester)
        return result, out.read_bytes()
