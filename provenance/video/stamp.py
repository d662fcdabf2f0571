"""Stamp an AI-generated video: watermark every frame, sign C2PA in the MP4, record it.

The same steps as :mod:`provenance.stamp` for images, with the video's own pieces: the
frames are marked while re-encoding (:func:`~provenance.video.watermark.embed_video`), the
manifest is signed into the MP4 by c2pa's BMFF support, and the record carries the output's
SHA-256 and the PDQ of its middle frame (a frame grab finds it); the vPDQ hash is returned.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import struct
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, InvalidVideoError, ManifestError
from ..hashing import pdq_hash
from ..manifest import read_manifest
from ..registry import StampRecord, new_stamp_id
from ..signing import ai_generated_manifest, sign_asset
from ..stamp import Stamper
from .hashing import VideoHash, hash_video
from .io import VideoInfo, sample_frames
from .watermark import embed_video

__all__ = ["VIDEO_MIME", "VideoStampResult", "bmff_manifest_store", "stamp_video"]

logger = logging.getLogger(__name__)

VIDEO_MIME = "video/mp4"


@dataclass(frozen=True)
class VideoStampResult:
    """One stamped video (written to `path`)."""

    stamp_id: str
    key_id: str
    path: Path
    sha256: str
    phash: str
    video_hash: VideoHash = field(repr=False)
    generator: str
    created_at: datetime
    source: VideoInfo

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "stamp_id": self.stamp_id,
            "key_id": self.key_id,
            "path": str(self.path),
            "mime": VIDEO_MIME,
            "size": self.path.stat().st_size if self.path.exists() else None,
            "sha256": self.sha256,
            "phash": self.phash,
            "md5": self.video_hash.md5,
            "vpdq_frames": len(self.video_hash.frames),
            "generator": self.generator,
            "created_at": self.created_at.isoformat(),
            "width": self.source.width // 2 * 2,
            "height": self.source.height // 2 * 2,
            "duration_s": round(self.source.duration_s, 3),
        }


#: The ``uuid`` box type C2PA gives its manifest store in ISO BMFF files (MP4, MOV).
_C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")


def bmff_manifest_store(data: bytes) -> bytes | None:
    """The C2PA manifest store (JUMBF) in an MP4's top-level C2PA ``uuid`` box, or None.

    The registry keeps it, as it keeps an image's: when a copy of the clip (or a frame grabbed
    from it) has lost its credentials, the recorded ones are read, signature checked, from it.
    """
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > len(data):
                return None
            size, header = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = len(data) - pos
        if size < header:
            return None
        if kind == b"uuid" and data[pos + header : pos + header + 16] == _C2PA_UUID:
            # uuid, version and flags (4), a NUL-terminated purpose, then for "manifest" an
            # 8-byte offset (to a Merkle map, 0 when none) and the store itself.
            body = data[pos + header + 20 : pos + size]
            purpose, _, rest = body.partition(b"\0")
            store = rest[8:] if purpose == b"manifest" else None
            return store if store and store[4:8] == b"jumb" else None
        pos += size
    return None


def stamp_video(
    stamper: Stamper,
    in_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    generator: str,
    prompt_hash: str | None = None,
    requester: str | None = None,
) -> VideoStampResult:
    """Watermark, sign and record the video at `in_path`; write the MP4 to `out_path`.

    The output appears complete and recorded, or not at all (temporary files in the target
    folder, renamed inside the registry transaction).

    Raises
    ------
    InvalidVideoError, VideoTooLargeError
        If the input is unreadable or beyond the limits.
    InvalidInputError
        On a bad argument or output path (the output must end in .mp4 or .m4v).
    ManifestError, RegistryError
        If signing or recording fails; nothing is written.
    """
    out = Path(out_path)
    if out.suffix.lower() not in (".mp4", ".m4v"):
        raise InvalidInputError(f"A stamped video is written as MP4; name the output .mp4 (got {out.name}).")
    if not out.parent.is_dir():
        raise InvalidInputError(f"The output folder {out.parent} does not exist; create it first.")
    if not generator or not str(generator).strip() or len(generator) > 256:
        raise InvalidInputError("generator must name the model or service (1-256 characters), e.g. 'my-video-model 1.0'.")
    if prompt_hash is not None and (len(prompt_hash) != 64 or any(c not in "0123456789abcdefABCDEF" for c in prompt_hash)):
        raise InvalidInputError("prompt_hash must be the SHA-256 of the prompt, 64 hex digits.")
    key = stamper.keyring.active
    stamp_id = new_stamp_id()
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".stamp-") as tmp:
        marked = Path(tmp) / "marked.mp4"
        info = embed_video(in_path, marked, bytes.fromhex(stamp_id), key=key.secret, settings=stamper.settings)
        manifest = ai_generated_manifest(generator=generator, watermark_id=stamp_id, prompt_hash=prompt_hash, title=out.name)
        # c2pa signs from bytes; the stamped clip is a compressed MP4 within the upload limit.
        signed = sign_asset(marked.read_bytes(), VIDEO_MIME, manifest, stamper.credentials)
        anchors = (stamper.credentials.ca_pem,) if stamper.credentials.ca_pem else ()
        summary = read_manifest(signed, mime=VIDEO_MIME, settings=stamper.settings, extra_trust_anchors=anchors)
        if summary.state not in ("valid", "trusted") or summary.manifest_json is None:
            raise ManifestError(
                f"The signed video did not validate ({summary.state}: {summary.explanation}); nothing was written."
            )
        staged = Path(tmp) / f"signed-{secrets.token_hex(4)}.mp4"
        staged.write_bytes(signed)
        store = bmff_manifest_store(signed)
        del signed
        try:
            video_hash = hash_video(staged, settings=stamper.settings)
            frames = sample_frames(staged, 3, settings=stamper.settings)
        except InvalidVideoError as exc:
            # The source passed the limits, but its timing said otherwise (e.g. a header whose
            # time scale makes six frames last an hour): name the source, not the staging file.
            raise InvalidVideoError(
                f"{Path(in_path).name}: its stamped copy could not be read back ({str(exc).replace(staged.name, 'the copy')}). "
                "The source's timing or frames are inconsistent; re-encode it (e.g. to H.264 MP4) and stamp that."
            ) from exc
        middle = frames[len(frames) // 2]
        phash = pdq_hash(middle.rgb).to_hex()
        sha256 = video_hash.sha256 or hashlib.sha256(staged.read_bytes()).hexdigest()
        record = StampRecord.new(
            stamp_id=stamp_id, generator=generator, manifest_json=summary.manifest_json, manifest_store=store,
            sha256=sha256, phash=phash, prompt_hash=prompt_hash, requester=requester, key_id=key.key_id,
        )
        renamed = False
        try:
            with stamper.registry.recording(record):
                os.replace(staged, out)
                renamed = True
        except BaseException:
            if renamed:
                out.unlink(missing_ok=True)
            raise
    logger.info("stamped video %s -> %s (%s)", stamp_id, out, generator)
    return VideoStampResult(stamp_id, key.key_id, out, sha256, phash, video_hash, generator, record.created_at, info)
