"""Verify a video: credentials, watermark over sampled frames, registry, vPDQ hash, container signals.

::

    with Verifier(settings) as verifier:
        report = verify_video(verifier, "clip.mp4")
        report.to_dict()["watermark"]["frames_with_evidence"]
"""

from __future__ import annotations

import base64
import io as _io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from ..banks import REVIEW_NOTE, VideoMatchResult
from ..manifest import ManifestSummary, read_manifest
from ..registry import StampRecord
from ..report import Verifier, evidence_strength
from ..watermark import FramesResult
from .hashing import VideoHash, hash_video
from .io import VideoFrame, VideoInfo, probe, sample_frames
from .watermark import DETECT_FRAMES, detect_video_keys

__all__ = ["REPORT_VERSION", "VideoReport", "verify_video", "container_signals"]

#: Version of the video report's JSON layout.
REPORT_VERSION = "video-1"  # hash_match (banked videos) was added to it without removing anything
#: Substrings of container tags that name generative video tools.
_AI_TOOLS = ("sora", "runway", "pika", "veo", "kling", "luma dream", "dream machine", "synthesia", "stable video",
             "gen-2", "gen-3", "hailuo", "minimax", "midjourney", "firefly", "haiper", "wan2", "hunyuan")
_CAMERA_TAGS = ("com.apple.quicktime.make", "com.apple.quicktime.model", "com.android.manufacturer", "com.android.model", "make", "model")
_THUMBNAILS = 6
_THUMB_SIDE = 160


def container_signals(info: VideoInfo) -> dict[str, Any]:
    """What the container's tags say about the tool or device that made the file."""
    tags = {k.lower(): v for k, v in info.tags.items()}
    ai = sorted({t for t in _AI_TOOLS for v in tags.values() if t in v.lower()})
    camera = {k: tags[k] for k in _CAMERA_TAGS if k in tags}
    return {
        "encoder": tags.get("encoder"),
        "creation_tool": tags.get("com.apple.quicktime.software") or tags.get("software") or tags.get("handler_name"),
        "creation_time": tags.get("creation_time"),
        "camera_tags": camera,
        "ai_tool_tags": ai,
    }


@dataclass(frozen=True)
class VideoReport:
    """Everything found about one video."""

    name: str | None
    info: VideoInfo
    manifest: ManifestSummary
    watermark: FramesResult | None
    key_id: str | None
    registry_record: StampRecord | None
    registry_lookup: str | None
    video_hash: VideoHash
    signals: dict
    thumbnails: tuple[bytes, ...] = field(default=(), repr=False)
    verdict: str = "unknown"
    summary: str = ""
    bank_matches: VideoMatchResult | None = None

    def _hash_match(self, public: bool) -> dict[str, Any]:
        result = self.bank_matches
        if result is None:
            return {"status": "not_configured", "explanation": "No hash bank is configured.", "banks_checked": 0,
                    "query_frames": None, "matches": [], "review_note": REVIEW_NOTE}
        out = result.to_dict()
        if public and result.status in ("matched", "no_match"):
            out.update(status="withheld", matches=[], banks_checked=None, thresholds=None,
                       explanation="Hash-bank results are shown to authorised reviewers only.")
        return out

    def to_dict(self, *, include_thumbnails: bool = False, public: bool = False) -> dict[str, Any]:
        """JSON-ready report (versioned: ``report_version``).

        With ``public=True`` (unauthenticated callers) hash-bank outcomes are withheld, as for images.
        """
        mark = self.watermark
        stamp_id = mark.watermark.payload_hex if mark is not None and mark.watermark.detected else None
        rec = self.registry_record
        return {
            "report_version": REPORT_VERSION,
            "kind": "video",
            "name": self.name,
            "verdict": self.verdict,
            "summary": self.summary,
            "file": self.info.to_dict() | {"sha256": self.video_hash.sha256, "md5": self.video_hash.md5},
            "manifest": self.manifest.to_dict(),
            "watermark": None if mark is None else mark.to_dict() | {
                "key_id": self.key_id, "stamp_id": stamp_id,
                "strength": evidence_strength(mark.watermark.p_value) if mark.watermark.detected else "no evidence",
            },
            "registry": {
                "found": rec is not None,
                "lookup": self.registry_lookup,
                "stamp_id": None if rec is None else rec.stamp_id,
                "generator": None if rec is None else rec.generator,
                "created_at": None if rec is None else rec.created_at.isoformat(),
                "credentials_recovered": rec is not None and not self.manifest.has_manifest,
            },
            "video_hash": self.video_hash.to_dict(),
            "hash_match": self._hash_match(public),
            "container_signals": self.signals,
            "keyframes": [
                ("data:image/jpeg;base64," + base64.b64encode(t).decode()) if include_thumbnails else len(t)
                for t in self.thumbnails
            ],
        }


def _thumb(rgb) -> bytes:
    im = Image.fromarray(rgb)
    im.thumbnail((_THUMB_SIDE, _THUMB_SIDE))
    buf = _io.BytesIO()
    im.save(buf, "JPEG", quality=80)
    return buf.getvalue()


class _ThumbnailPicker:
    """Called with each frame vPDQ hashes; keeps a thumbnail of the first frame at or after each
    of :data:`_THUMBNAILS` times spread over the clip (one for several when frames are far apart)."""

    def __init__(self, duration_s: float) -> None:
        self._targets = [k * duration_s / _THUMBNAILS for k in range(_THUMBNAILS)]
        self._next = 0
        self._thumbs: list[bytes] = []

    def __call__(self, frame: VideoFrame) -> None:
        passed = self._next
        while passed < len(self._targets) and frame.time_s + 1e-6 >= self._targets[passed]:
            passed += 1
        if passed > self._next:
            self._thumbs.append(_thumb(frame.rgb))
            self._next = passed

    @property
    def thumbnails(self) -> tuple[bytes, ...]:
        return tuple(self._thumbs)


def verify_video(
    verifier: Verifier, path: str | os.PathLike, *, name: str | None = None, search: str | None = None,
    frames: int = DETECT_FRAMES,
) -> VideoReport:
    """Verify the video at `path` with the keys, trust and registry of `verifier`.

    Raises
    ------
    InvalidVideoError, VideoTooLargeError
        If the file is unreadable or beyond the limits.
    """
    settings = verifier.settings
    search = search or settings.watermark_search
    p = Path(path)
    info = probe(p, settings=settings)
    anchors = (verifier.credentials.ca_pem,) if verifier.credentials.ca_pem else ()
    manifest = read_manifest(p, mime="video/mp4" if info.container == "mov" else None, settings=settings, extra_trust_anchors=anchors)
    mark, key_id = None, None
    if min(info.width, info.height) >= 96:
        # Frames decoded as detection reads them (one key): a marked clip is decided on its first few.
        keys = [key.secret for key in verifier.keyring]
        index, mark = detect_video_keys(p, keys, frames=frames, search=search, settings=settings, info=info)
        key_id = verifier.keyring.keys[index].key_id if mark.watermark.detected else None
    # The keyframe strip comes from the frames vPDQ decodes anyway (one a second), spread over the clip.
    picks = _ThumbnailPicker(info.duration_s)
    video_hash = hash_video(p, settings=settings, on_frame=picks)
    thumbs = picks.thumbnails
    if len(thumbs) < _THUMBNAILS and info.frame_count > len(thumbs):  # a clip of a few seconds: a few more frames
        thumbs = tuple(_thumb(f.rgb) for f in sample_frames(p, _THUMBNAILS, settings=settings, max_side=2 * _THUMB_SIDE))
    record, lookup = None, None
    if verifier.registry is not None:
        if mark is not None and mark.watermark.detected and len(mark.watermark.payload or b"") == 8:
            record, lookup = verifier.registry.get_stamp(mark.watermark.payload_hex), "watermark_id"
        if record is None:
            record = verifier.registry.find_by_sha256(video_hash.sha256)
            lookup = "sha256" if record is not None else None
    # Banked videos: every enabled bank's frames in one index per bank (provenance.banks.video_index).
    bank_matches = None if verifier.banks is None else verifier.banks.check_video(video_hash)
    detected = mark is not None and mark.watermark.detected
    if detected and record is not None:
        verdict = "ai_generated_stamped"
        summary = (f"Our watermark (stamp {record.stamp_id}) was found in {mark.frames_with_evidence} of {mark.frames} "
                   f"sampled frames: made by {record.generator} on {record.created_at:%Y-%m-%d %H:%M} UTC.")
        if not manifest.has_manifest:
            summary += " The file's Content Credentials were stripped; the registry holds the original ones."
    elif detected:
        verdict = "watermark_unregistered"
        summary = f"Our watermark was found (ID {mark.watermark.payload_hex}) but the registry has no such stamp."
    elif manifest.has_manifest:
        verdict = "credentials_only"
        summary = f"No watermark of ours; the file carries Content Credentials ({manifest.state})."
    else:
        verdict = "no_evidence"
        summary = "No watermark of ours and no Content Credentials were found."
    return VideoReport(
        name=name or p.name, info=info, manifest=manifest, watermark=mark, key_id=key_id,
        registry_record=record, registry_lookup=lookup, video_hash=video_hash,
        signals=container_signals(info), thumbnails=thumbs, verdict=verdict, summary=summary,
        bank_matches=bank_matches,
    )
