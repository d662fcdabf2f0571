"""Video entries of a bank: what a banked video is, what a video match returns, and vPDQ lists.

A banked video keeps its vPDQ frames (PDQ per frame at one frame a second, with frame
numbers, qualities and timestamps) and, when known, the file's MD5 and SHA-256; never media.
The frames are stored packed, 41 bytes a frame (:data:`FRAME_DTYPE`), and written back out
as vPDQ text on export.

Video lists (import)
--------------------
- vPDQ text, Meta's file format: one video, one ``frame,quality,pdq_hex,timestamp`` line per frame.
- JSON: a video object ``{"vpdq": [lines] or "text", "md5", "sha256", "source", "case_id", "date"}``
  (what :meth:`VideoEntry.to_dict` and ``bank export-videos`` write), a list of them, or
  ``{"videos": [...]}``; or HMA's vPDQ signal JSON, a list of ``{"quality", "hash", "timestamp"}``
  objects (one video; frame numbers are then the positions).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Iterable, Union

import numpy as np

from ..errors import HashListError, InvalidInputError
from ..hashing import PerceptualHash
from ..video.hashing import VideoHash, VpdqFrame, parse_vpdq
from .records import MAX_TEXT, REVIEW_NOTE, as_utc, check_hex_value, label_counts

__all__ = [
    "FRAME_DTYPE",
    "MAX_VIDEO_FRAMES",
    "VideoBankMatch",
    "VideoEntry",
    "VideoListSource",
    "VideoMatchResult",
    "pack_frames",
    "parse_video_list",
    "unpack_frames",
]

#: One stored frame: frame number, PDQ quality, timestamp in milliseconds, PDQ hash (41 bytes).
FRAME_DTYPE = np.dtype([("frame", "<i4"), ("quality", "u1"), ("ms", "<i4"), ("pdq", "u1", (32,))])
#: Most frames one banked video may have (vPDQ at 1 fps: more than 27 hours).
MAX_VIDEO_FRAMES = 100_000
_MAX_LIST_BYTES = 512 * 1024 * 1024

VideoListSource = Union[str, os.PathLike, bytes, IO[bytes]]


def _check_frame(f: VpdqFrame, n: int) -> None:
    if not 0 <= f.frame_number < 2**31:
        raise InvalidInputError(f"vPDQ frame {n}: frame number must be 0 to 2**31-1; got {f.frame_number}.")
    if not 0 <= f.quality <= 100:
        raise InvalidInputError(f"vPDQ frame {n}: quality must be 0-100; got {f.quality}.")
    if not (math.isfinite(f.timestamp) and 0 <= f.timestamp < 2**31 / 1000):
        raise InvalidInputError(f"vPDQ frame {n}: timestamp must be a number of seconds >= 0; got {f.timestamp}.")


@dataclass(frozen=True)
class VideoEntry:
    """One banked video: its vPDQ frames, optional file digests, and where the report came from.

    Raises
    ------
    InvalidInputError
        If there are no frames (a video with zero frames cannot be banked), too many, or a
        field is malformed.
    """

    frames: tuple[VpdqFrame, ...]
    md5: str | None = None
    sha256: str | None = None
    source: str | None = None
    case_id: str | None = None
    listed_at: datetime | None = None
    video_id: int | None = None  # set when read back from a bank

    def __post_init__(self) -> None:
        frames = tuple(self.frames)
        if not frames:
            raise InvalidInputError("The video has no frames to hash (zero decodable frames or an empty vPDQ "
                                    "list); a video entry needs at least one vPDQ frame.")
        if len(frames) > MAX_VIDEO_FRAMES:
            raise InvalidInputError(f"A banked video has at most {MAX_VIDEO_FRAMES:,} vPDQ frames; got {len(frames):,}.")
        for n, f in enumerate(frames, 1):
            if not isinstance(f, VpdqFrame):
                raise InvalidInputError(f"frames must be VpdqFrame values; item {n} is {type(f).__name__}.")
            _check_frame(f, n)
        object.__setattr__(self, "frames", frames)
        for kind in ("md5", "sha256"):
            value = getattr(self, kind)
            if value is not None:
                object.__setattr__(self, kind, check_hex_value(value, kind))
        for name in ("source", "case_id"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT):
                raise InvalidInputError(f"{name} must be text of at most {MAX_TEXT} characters; got {value!r:.80}.")
        if self.listed_at is not None:
            object.__setattr__(self, "listed_at", as_utc(self.listed_at, "listed_at"))

    @classmethod
    def from_hash(cls, video_hash: VideoHash, *, source: str | None = None, case_id: str | None = None,
                  listed_at: datetime | None = None) -> "VideoEntry":
        """An entry for a :class:`~provenance.video.hashing.VideoHash` (frames, MD5, SHA-256)."""
        return cls(video_hash.frames, video_hash.md5, video_hash.sha256, source, case_id, listed_at)

    @property
    def vpdq_sha256(self) -> str:
        """SHA-256 of the vPDQ text: the same frames are the same video (duplicate check)."""
        return hashlib.sha256(self.to_vpdq().encode("ascii")).hexdigest()

    def to_hash(self) -> VideoHash:
        """The frames and digests as a :class:`~provenance.video.hashing.VideoHash`."""
        return VideoHash(self.frames, self.md5, self.sha256)

    def to_vpdq(self) -> str:
        """vPDQ's file format, one line a frame."""
        return "".join(f.to_line() + "\n" for f in self.frames)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values, in the video-list format (re-importable)."""
        return {
            "video_id": self.video_id,
            "md5": self.md5,
            "sha256": self.sha256,
            "frame_count": len(self.frames),
            "source": self.source,
            "case_id": self.case_id,
            "date": None if self.listed_at is None else self.listed_at.isoformat(),
            "vpdq": [f.to_line() for f in self.frames],
        }


def pack_frames(frames: Iterable[VpdqFrame]) -> bytes:
    """vPDQ frames -> the stored bytes (41 a frame, :data:`FRAME_DTYPE`)."""
    frames = tuple(frames)
    out = np.zeros(len(frames), dtype=FRAME_DTYPE)
    out["frame"] = [f.frame_number for f in frames]
    out["quality"] = [f.quality for f in frames]
    out["ms"] = [round(f.timestamp * 1000) for f in frames]
    out["pdq"] = np.frombuffer(bytes.fromhex("".join(f.pdq_hex for f in frames)), dtype=np.uint8).reshape(-1, 32)
    return out.tobytes()


def unpack_frames(blob: bytes) -> tuple[VpdqFrame, ...]:
    """The stored bytes -> vPDQ frames."""
    arr = np.frombuffer(blob, dtype=FRAME_DTYPE)
    hexes = arr["pdq"].tobytes().hex()
    return tuple(VpdqFrame(int(a), int(q), hexes[64 * i : 64 * i + 64], int(ms) / 1000)
                 for i, (a, q, ms) in enumerate(zip(arr["frame"].tolist(), arr["quality"].tolist(), arr["ms"].tolist())))


@dataclass(frozen=True)
class VideoBankMatch:
    """One banked video a query video matched.

    Attributes
    ----------
    bank, label : str
    video_id : int
        The banked video (``provenance bank videos NAME`` lists them).
    kind : str
        ``vpdq`` (frames within `threshold` bits), ``md5`` or ``sha256`` (identical file bytes).
    query_match_percent : float
        Share of the query's frames (quality >= 50) that match some frame of the banked video.
    compared_match_percent : float
        Share of the banked video's frames that match some frame of the query.
    query_frames_matched, query_frames, banked_frames_matched, banked_frames : int
        The counts behind the two percentages.
    threshold : int
        The bank's PDQ distance threshold when it matched.
    """

    bank: str
    label: str
    video_id: int
    kind: str
    query_match_percent: float
    compared_match_percent: float
    query_frames_matched: int
    query_frames: int
    banked_frames_matched: int
    banked_frames: int
    threshold: int
    md5: str | None = None
    sha256: str | None = None
    source: str | None = None
    case_id: str | None = None
    listed_at: datetime | None = None
    variant: str = "original"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (bank names and shares help evade a bank: authenticated callers only)."""
        return {
            "bank": self.bank,
            "label": self.label,
            "video_id": self.video_id,
            "kind": self.kind,
            "query_match_percent": round(self.query_match_percent, 2),
            "compared_match_percent": round(self.compared_match_percent, 2),
            "query_frames_matched": self.query_frames_matched,
            "query_frames": self.query_frames,
            "banked_frames_matched": self.banked_frames_matched,
            "banked_frames": self.banked_frames,
            "threshold": self.threshold,
            "variant": self.variant,
            "md5": self.md5,
            "sha256": self.sha256,
            "source": self.source,
            "case_id": self.case_id,
            "listed_at": None if self.listed_at is None else self.listed_at.isoformat(),
        }


@dataclass(frozen=True)
class VideoMatchResult:
    """The outcome of checking one video against every enabled bank's videos.

    Attributes
    ----------
    status : str
        ``matched``, ``no_match``, ``unmatchable`` (no frame of quality >= 50 and no exact
        match: too flat to hash, which is *not* "no match") or ``not_configured`` (no enabled bank).
    matches : tuple of VideoBankMatch
        Highest query share first.
    banks_checked : int
    query_frames : int
        The query's frames of quality >= 50 (the ones searched).
    query_match_percent, compared_match_percent : float
        The thresholds both shares had to reach.
    explanation : str
    """

    status: str
    matches: tuple[VideoBankMatch, ...]
    banks_checked: int
    query_frames: int
    query_match_percent: float
    compared_match_percent: float
    explanation: str

    @property
    def labels(self) -> dict[str, int]:
        """How many banked videos matched per bank label."""
        return label_counts(self.matches)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (authenticated callers only)."""
        return {
            "status": self.status,
            "explanation": self.explanation,
            "banks_checked": self.banks_checked,
            "query_frames": self.query_frames,
            "thresholds": {"query_match_percent": self.query_match_percent,
                           "compared_match_percent": self.compared_match_percent},
            "matches": [m.to_dict() for m in self.matches],
            "review_note": REVIEW_NOTE,
        }


# ---------------------------------------------------------------- parsing video lists


def _read(source: VideoListSource) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), "list"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            if path.stat().st_size > _MAX_LIST_BYTES:
                raise HashListError(f"{path}: a video list is at most {_MAX_LIST_BYTES >> 20} MiB.")
            return path.read_bytes(), path.name
        except OSError as exc:
            raise HashListError(f"Cannot read the video list {path}: {exc.strerror or exc}.") from None
    if hasattr(source, "read"):
        data = source.read(_MAX_LIST_BYTES + 1)
        if isinstance(data, str):
            data = data.encode("utf-8")
        if len(data) > _MAX_LIST_BYTES:
            raise HashListError(f"A video list is at most {_MAX_LIST_BYTES >> 20} MiB.")
        return data, "list"
    raise InvalidInputError(f"A video list is a path, bytes or a binary file; got {type(source).__name__}.")


def _frames_from_json(value: Any, where: str) -> tuple[VpdqFrame, ...]:
    if isinstance(value, str):
        return parse_vpdq(value)
    if not isinstance(value, list) or not value:
        raise InvalidInputError(f"{where}: vpdq must be vPDQ text or a non-empty list of lines or frame objects.")
    if all(isinstance(v, str) for v in value):
        return parse_vpdq("\n".join(value))
    frames = []
    for n, item in enumerate(value):
        if not isinstance(item, dict) or "hash" not in item:
            raise InvalidInputError(f"{where}, frame {n + 1}: expected a vPDQ line or a {{quality, hash, timestamp}} object.")
        try:
            quality = item.get("quality", 100)
            if isinstance(quality, bool) or not isinstance(quality, int):
                raise ValueError(f"quality {quality!r} is not a whole number")
            stamp = item.get("timestamp", float(n))
            if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
                raise ValueError(f"timestamp {stamp!r} is not a number")
            frame = item.get("frame_number", n)
            if isinstance(frame, bool) or not isinstance(frame, int):
                raise ValueError(f"frame_number {frame!r} is not a whole number")
            h = PerceptualHash.from_hex(str(item["hash"]))
        except (ValueError, InvalidInputError) as exc:
            raise InvalidInputError(f"{where}, frame {n + 1}: {exc}") from None
        frames.append(VpdqFrame(frame, quality, h.to_hex(), float(stamp)))
    return tuple(frames)


def _entry_from_json(item: Any, where: str) -> VideoEntry:
    if not isinstance(item, dict):
        raise InvalidInputError(f"{where}: expected an object with a 'vpdq' field.")
    if "vpdq" not in item:
        raise InvalidInputError(f"{where}: missing 'vpdq' (the video's vPDQ lines).")
    date = item.get("date")
    if date is not None:
        try:
            date = datetime.fromisoformat(str(date))
        except ValueError:
            raise InvalidInputError(f"{where}: date must be ISO 8601 (2024-05-01 or 2024-05-01T12:00:00Z); got {date!r:.40}.") from None
    return VideoEntry(_frames_from_json(item["vpdq"], where), item.get("md5"), item.get("sha256"),
                      item.get("source"), item.get("case_id"), date)


def parse_video_list(source: VideoListSource, *, max_videos: int = 1_000_000) -> list[VideoEntry]:
    """Parse a vPDQ file or a JSON video list (see the module doc) into video entries.

    Raises
    ------
    HashListError
        If the list is empty, malformed (with the line, video or frame number), or too long.
    """
    data, name = _read(source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HashListError(f"{name}: a video list is UTF-8 text (vPDQ lines or JSON); this file is not. "
                            "To bank a video file, pass the video itself.") from None
    stripped = text.lstrip()
    try:
        if not stripped:
            raise InvalidInputError("the list is empty; expected vPDQ lines or JSON")
        if stripped[0] not in "[{":
            return [VideoEntry(parse_vpdq(text))]
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
        if isinstance(doc, dict) and "videos" in doc:
            doc = doc["videos"]
        if isinstance(doc, dict):
            return [_entry_from_json(doc, "video 1")]
        if not isinstance(doc, list) or not doc:
            raise InvalidInputError("expected a video object, a non-empty list of them, or {\"videos\": [...]}")
        if all(isinstance(x, dict) and "hash" in x and "vpdq" not in x for x in doc):  # HMA's signal JSON
            return [VideoEntry(_frames_from_json(doc, "video 1"))]
        if len(doc) > max_videos:
            raise InvalidInputError(f"{len(doc):,} videos is more than one import takes ({max_videos:,})")
        return [_entry_from_json(item, f"video {n}") for n, item in enumerate(doc, 1)]
    except HashListError:
        raise
    except InvalidInputError as exc:
        raise HashListError(f"{name}: {exc}. Nothing was imported.") from None

