"""The video watermark: the image watermark in every frame, fixed in time, evidence folded over frames.

::

    info = embed_video("clip.mp4", "out.mp4", payload, key=key)
    result = detect_video("out.mp4", key=key)        # FramesResult
    result.watermark.detected, result.watermark.payload, result.frames_with_evidence
"""

from __future__ import annotations

import contextlib
import os

from ..settings import Settings
from ..watermark import CANONICAL_SIDE, DEFAULT_PSNR, FramesResult, detect_frames, detect_frames_keys, embed_luma, pattern_plane
from ..watermark.frame import uses_canonical_frame
from ..watermark.sync import MAX_WINDOW
from .io import VideoInfo, iter_sampled_frames, probe, rewrite_luma

__all__ = ["DETECT_FRAMES", "DETECT_MAX_SIDE", "VIDEO_PSNR", "detection_max_side", "embed_video", "detect_video",
           "detect_video_keys"]

#: Target fidelity of the mark itself in a video frame, dB. Half a dB fainter than an image's:
#: the stamped clip's H.264 re-encode adds its own loss (42-45 dB at CRF 15 to 18 on textured
#: 360p pans), and the clip as delivered must stay at or above 40 dB against its source.
VIDEO_PSNR = DEFAULT_PSNR + 0.5

#: Frames sampled over a clip for detection.
DETECT_FRAMES = 32
#: Detection reads frames shrunk (in FFmpeg's scaler) to the canonical grid's long side, where
#: the mark lives: larger frames would be resampled to it anyway.
DETECT_MAX_SIDE = CANONICAL_SIDE


def embed_video(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    payload: bytes,
    *,
    key: bytes | str,
    psnr: float = VIDEO_PSNR,
    crf: int | None = None,
    settings: Settings | None = None,
) -> VideoInfo:
    """Watermark every frame of `src` and write MP4 (H.264) to `dst`; returns the source's :class:`VideoInfo`.

    Raises
    ------
    InvalidVideoError, VideoTooLargeError
        If `src` is unreadable or beyond the limits.
    InvalidImageError
        If its frames are smaller than 256 pixels a side.
    """
    info = probe(src, settings=settings)
    h, w = info.height // 2 * 2, info.width // 2 * 2
    pattern = pattern_plane(h, w, payload, key=key)
    return rewrite_luma(src, dst, lambda y, _i: embed_luma(y[:h, :w], pattern, psnr=psnr), crf=crf, settings=settings)


def detection_max_side(height: int, width: int) -> int | None:
    """The long side detection reads frames of a `height` x `width` clip at (None: their own size).

    :data:`DETECT_MAX_SIDE` for clips marked on the canonical grid; a clip marked on its own
    pixels (a banner, a small clip) keeps them, up to twice the detection window (beyond it the
    frames would be large to hold, and are shrunk as before).
    """
    if uses_canonical_frame(height, width) or max(height, width) > 2 * MAX_WINDOW:
        return DETECT_MAX_SIDE
    return None


def detect_video(
    path: str | os.PathLike,
    *,
    key: bytes | str,
    frames: int = DETECT_FRAMES,
    search: str = "full",
    settings: Settings | None = None,
) -> FramesResult:
    """Sample up to `frames` frames spread over the clip and look for the watermark in them together.

    Frames are decoded as detection reads them: a clip whose payload decodes from its first
    frames is not decoded further (``frames`` of the result counts the frames read).
    """
    info = probe(path, settings=settings)
    sampled = iter_sampled_frames(path, frames, settings=settings, max_side=detection_max_side(info.height, info.width))
    with contextlib.closing(sampled):
        return detect_frames((f.rgb for f in sampled), key=key, search=search)


def detect_video_keys(
    path: str | os.PathLike,
    keys: list[bytes | str],
    *,
    frames: int = DETECT_FRAMES,
    search: str = "full",
    settings: Settings | None = None,
) -> tuple[int, FramesResult]:
    """:func:`detect_video` with each of a ring's `keys`: the clip decoded once, the keyless work shared.

    Returns the index of the first key that detected and its result, or of the best-scoring key.
    One key reads frames lazily, as :func:`detect_video` does; several read every sampled frame first.
    """
    if len(keys) == 1:
        return 0, detect_video(path, key=keys[0], frames=frames, search=search, settings=settings)
    info = probe(path, settings=settings)
    sampled = iter_sampled_frames(path, frames, settings=settings, max_side=detection_max_side(info.height, info.width))
    with contextlib.closing(sampled):
        return detect_frames_keys([f.rgb for f in sampled], keys, search=search)

