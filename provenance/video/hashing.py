"""vPDQ video hashes (Meta's PDQ per frame at one frame a second) and file digests.

The text form is vPDQ's file format, one sampled frame a line, so hash lists exchange with
ThreatExchange and HMA's ``vpdq`` signal type::

    <frame number>,<quality>,<PDQ hex>,<timestamp in seconds, 3 decimals>

Matching follows vPDQ's brute-force matcher: a frame of one video matches when some frame
of the other is within ``distance`` bits; frames of quality below ``quality`` are left out;
the result is two percentages, of the query's frames matched and of the compared video's.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InvalidInputError
from ..hashing import DIHEDRAL_NAMES, PerceptualHash, pdq_dihedral_hashes
from ..settings import Settings
from .io import VideoFrame, iter_frames

__all__ = [
    "VPDQ_DISTANCE",
    "VPDQ_QUALITY",
    "VPDQ_MATCH_PERCENT",
    "VideoHash",
    "VpdqFrame",
    "VpdqMatch",
    "hash_video",
    "match_vpdq",
    "parse_vpdq",
]

#: vPDQ's defaults: Hamming distance a frame match allows, and the quality a frame needs.
VPDQ_DISTANCE = 31
VPDQ_QUALITY = 50
_MIRROR = DIHEDRAL_NAMES.index("flip_y")  # the left-right mirror image
#: Both percentages must reach this for a bank match (HMA's default for vPDQ).
VPDQ_MATCH_PERCENT = 80.0


@dataclass(frozen=True)
class VpdqFrame:
    """One sampled frame: its number, PDQ quality, PDQ hash (64 hex) and time in seconds."""

    frame_number: int
    quality: int
    pdq_hex: str
    timestamp: float

    def to_line(self) -> str:
        """This frame as a vPDQ file line."""
        return f"{self.frame_number},{self.quality},{self.pdq_hex},{self.timestamp:.3f}"


@dataclass(frozen=True)
class VideoHash:
    """A video's vPDQ hash (frames at 1 fps) with its MD5 and SHA-256."""

    frames: tuple[VpdqFrame, ...]
    md5: str | None = None
    sha256: str | None = None
    #: PDQ hex of each frame's left-right mirror image (same order as `frames`; empty when not
    #: computed, e.g. parsed from a vPDQ file). Banks match it too: a mirrored re-upload is common.
    mirrored: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def to_vpdq(self) -> str:
        """vPDQ's file format: one line per frame."""
        return "".join(f.to_line() + "\n" for f in self.frames)

    def to_dict(self) -> dict:
        """JSON-ready dict (the frames as vPDQ lines)."""
        return {"md5": self.md5, "sha256": self.sha256, "vpdq": [f.to_line() for f in self.frames]}

    def packed(self, *, quality: int = VPDQ_QUALITY) -> np.ndarray:
        """The frames of at least `quality` as an (N, 32) uint8 array of digests."""
        rows = [bytes.fromhex(f.pdq_hex) for f in self.frames if f.quality >= quality]
        return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(-1, 32)


@dataclass(frozen=True)
class VpdqMatch:
    """vPDQ's two percentages: of the query's frames matched, and of the compared video's."""

    query_match_percent: float
    compared_match_percent: float

    def is_match(self, threshold_percent: float = VPDQ_MATCH_PERCENT, compared_threshold_percent: float | None = None) -> bool:
        """True when the query percentage reaches `threshold_percent` and the compared one its threshold.

        The default compared threshold is 0 (any share): a short clip cut from a long banked
        video matches on the clip's own frames.
        """
        compared = 0.0 if compared_threshold_percent is None else compared_threshold_percent
        return self.query_match_percent >= threshold_percent and self.compared_match_percent > compared

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {"query_match_percent": round(self.query_match_percent, 2), "compared_match_percent": round(self.compared_match_percent, 2)}


def parse_vpdq(text: str) -> tuple[VpdqFrame, ...]:
    """Parse vPDQ file text (blank lines ignored).

    Raises
    ------
    InvalidInputError
        If a line does not have four comma-separated fields of the right kinds.
    """
    frames = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split(",")
        try:
            if len(parts) < 4:
                raise ValueError("fewer than four fields")
            h = PerceptualHash.from_hex(parts[2])
            frames.append(VpdqFrame(int(parts[0]), int(parts[1]), h.to_hex(), float(parts[3])))
        except (ValueError, InvalidInputError) as exc:
            raise InvalidInputError(
                f"vPDQ line {n} is not 'frame,quality,pdq_hex,timestamp' ({exc}): {line[:80]!r}"
            ) from None
    if not frames:
        raise InvalidInputError("The vPDQ hash is empty; expected one 'frame,quality,pdq_hex,timestamp' line per frame.")
    return tuple(frames)


def _digests(path: Path) -> tuple[str, str]:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def hash_video(
    path: str | os.PathLike, *, seconds_per_hash: float = 1.0, settings: Settings | None = None,
    on_frame: Callable[[VideoFrame], None] | None = None,
) -> VideoHash:
    """vPDQ-hash a video (PDQ of the first frame of each `seconds_per_hash` interval) plus MD5 and SHA-256.

    `on_frame`, if given, is called with each hashed frame (the verifier makes its keyframe
    thumbnails from them rather than decoding the clip again).

    Raises
    ------
    InvalidVideoError, VideoTooLargeError
        If the file is unreadable or beyond the limits.
    """
    frames, mirrored = [], []
    for f in iter_frames(path, settings=settings, step_s=seconds_per_hash):
        variants = pdq_dihedral_hashes(f.rgb)  # one DCT: the original (pdq_hash's) and the mirror
        h = variants[0]
        frames.append(VpdqFrame(f.index, h.quality, h.to_hex(), f.time_s))
        mirrored.append(variants[_MIRROR].to_hex())
        if on_frame is not None:
            on_frame(f)
    md5, sha = _digests(Path(path))
    return VideoHash(tuple(frames), md5, sha, tuple(mirrored))


def _matched(a: np.ndarray, b: np.ndarray, distance: int) -> np.ndarray:
    """For each row of `a`, whether some row of `b` is within `distance` bits."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros(len(a), dtype=bool)
    x = np.bitwise_xor(a[:, None, :], b[None, :, :])
    return (np.bitwise_count(x).sum(axis=2, dtype=np.int32) <= distance).any(axis=1)


def match_vpdq(
    query: VideoHash, compared: VideoHash, *, distance: int = VPDQ_DISTANCE, quality: int = VPDQ_QUALITY
) -> VpdqMatch:
    """vPDQ's brute-force match of two video hashes: the share of each one's frames matched, in percent."""
    a, b = query.packed(quality=quality), compared.packed(quality=quality)
    qa = _matched(a, b, distance)
    qb = _matched(b, a, distance)
    return VpdqMatch(
        100.0 * float(qa.mean()) if len(qa) else 0.0,
        100.0 * float(qb.mean()) if len(qb) else 0.0,
    )
