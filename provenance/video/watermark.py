"""The video watermark: the image watermark in every frame, a new keyed shift every 8 frames, evidence folded over frames.

::

    info = embed_video("clip.mp4", "out.mp4", payload, key=key)
    result = detect_video("out.mp4", key=key)        # FramesResult
    result.watermark.detected, result.watermark.payload, result.frames_with_evidence
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InvalidVideoError
from ..settings import Settings
from ..watermark import CANONICAL_SIDE, DEFAULT_PSNR, FramesResult, detect_frames, detect_frames_keys, embed_luma
from ..watermark.frames import ClipPattern
from ..watermark.frame import uses_canonical_frame
from ..watermark.sync import MAX_WINDOW
from .io import VideoInfo, iter_frames, iter_sampled_frames, probe, rewrite_luma

log = logging.getLogger(__name__)

__all__ = ["DETECT_FRAMES", "DETECT_MAX_SIDE", "VIDEO_PSNR", "calibrated_crf", "detection_max_side", "embed_video",
           "detect_video", "detect_video_keys"]

#: Target fidelity of the mark itself in a video frame, dB. Half a dB fainter than an image's:
#: the stamped clip's H.264 re-encode adds its own loss (42-45 dB at CRF 15 to 18 on textured
#: 360p pans), and the clip as delivered must stay at or above 40 dB against its source.
VIDEO_PSNR = DEFAULT_PSNR + 0.5

#: Frames sampled over a clip for detection.
DETECT_FRAMES = 32
#: Detection reads frames shrunk (in FFmpeg's scaler) to the canonical grid's long side, where
#: the mark lives: larger frames would be resampled to it anyway.
DETECT_MAX_SIDE = CANONICAL_SIDE


#: The stamp's trial encode: the clip's first 8 frames, or its first quarter second if longer
#: (each trial is encoded, decoded and compared: stamping time, see docs/watermark.md "Video").
_TRIAL_SECONDS = 0.25
_TRIAL_MIN_FRAMES = 8
_TRIALS = 2
#: A step down aims this far above the target (the step is a model; the trial checks it).
_AIM_DB = 0.25
#: Lowest CRF the trial encodes go down to.
_MIN_CRF = 4
#: CRF steps over which H.264's loss (MSE) halves at these qualities: 4.1-4.3 on a textured
#: pan, 3.3-3.4 on film grain, between CRF 15 and 8 (docs/watermark.md, "Video").
_CRF_PER_HALVING = 4.0
#: RGB levels per limited-range luma level (BT.601: 255 / 219).
_RGB_PER_LUMA = 255.0 / 219.0


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

    Without `crf`, the CRF is ``PROVENANCE_VIDEO_CRF`` lowered as far as the clip needs to keep
    ``PROVENANCE_VIDEO_MIN_PSNR`` against its source (:func:`calibrated_crf`): a grainy or
    finely textured source loses more to the encoder than the mark adds.

    Raises
    ------
    InvalidVideoError, VideoTooLargeError
        If `src` is unreadable or beyond the limits.
    InvalidImageError
        If its frames are smaller than 256 pixels a side.
    """
    settings = settings or Settings()
    info = probe(src, settings=settings)
    h, w = info.height // 2 * 2, info.width // 2 * 2
    patterns = ClipPattern(h, w, payload, key=key)

    def mark(y, i):
        return embed_luma(y[:h, :w], patterns.plane(i), psnr=psnr)

    if crf is None:
        crf = calibrated_crf(src, mark, info, settings=settings)
    return rewrite_luma(src, dst, mark, crf=crf, info=info, settings=settings)


def calibrated_crf(src: str | os.PathLike, transform, info: VideoInfo, *, settings: Settings) -> int:
    """The highest CRF (from ``settings.video_crf`` down) at which `transform`'s output keeps ``video_min_psnr``.

    Trial-encodes the clip's first 8 frames (a quarter second at most rates) at the configured CRF and measures its mean
    PSNR (RGB, per frame) against the source. If it falls short, the encoder's share of the
    loss (the total less the mark's own, known exactly) sets how many CRF steps to go down
    (its MSE halves about every :data:`_CRF_PER_HALVING` steps, aiming :data:`_AIM_DB` above
    the target), and a second trial checks the step; if that one falls short too, one more
    step is taken unchecked. Returns the configured CRF unchanged when ``video_min_psnr`` is 0.
    """
    crf, target = settings.video_crf, settings.video_min_psnr
    if target <= 0:
        return crf
    frames = max(_TRIAL_MIN_FRAMES, round(info.fps * _TRIAL_SECONDS))
    allowed = 255.0**2 / 10 ** ((target + _AIM_DB) / 10)
    with tempfile.TemporaryDirectory(prefix="provenance-trial-") as tmp:
        trial = Path(tmp) / "trial.mp4"
        for attempt in range(_TRIALS):
            squares = []

            def measured(y, i):
                out = transform(y, i)
                squares.append(float(np.mean(np.square(out.astype(np.float32) - y[: out.shape[0], : out.shape[1]]))))
                return out

            rewrite_luma(src, trial, measured, crf=crf, max_frames=frames, info=info, settings=settings)
            try:
                psnr, mse = _fidelity(src, trial, frames, settings, info)
            except InvalidVideoError as exc:
                # The source passed the limits but its timing did not (a time scale that makes six
                # frames last an hour): name the source, not the trial file.
                raise InvalidVideoError(
                    f"{Path(src).name}: its re-encoded frames could not be read back ({str(exc).replace(trial.name, 'the copy')}). "
                    "The source's timing or frames are inconsistent; re-encode it (e.g. to H.264 MP4) and stamp that."
                ) from exc
            log.info("%s: trial encode %d at CRF %d: %.2f dB (target %.1f)", Path(src).name, attempt + 1, crf, psnr, target)
            if psnr >= target or crf <= _MIN_CRF:
                return crf
            mark_mse = _RGB_PER_LUMA**2 * float(np.mean(squares))
            codec_mse = max(mse - mark_mse, 1e-6)
            room = allowed - mark_mse
            steps = _MIN_CRF if room <= 0 else math.ceil(_CRF_PER_HALVING * math.log2(codec_mse / room))
            crf = max(_MIN_CRF, crf - max(1, steps))
    return crf


def _fidelity(src, out, frames: int, settings: Settings, info: VideoInfo) -> tuple[float, float]:
    """Mean per-frame PSNR (dB) and mean MSE of `out`'s first `frames` frames against `src`'s (RGB)."""
    psnrs, mses = [], []
    sources, outputs = iter_frames(src, settings=settings, info=info), iter_frames(out, settings=settings)
    with contextlib.closing(sources), contextlib.closing(outputs):
        for a, b, _ in zip(sources, outputs, range(frames)):
            h, w = b.rgb.shape[:2]  # the output drops an odd last row or column
            mse = float(np.mean(np.square(a.rgb[:h, :w].astype(np.float32) - b.rgb)))
            mses.append(mse)
            psnrs.append(10 * math.log10(255.0**2 / max(mse, 1e-6)))
    return float(np.mean(psnrs)), float(np.mean(mses))


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
    info: VideoInfo | None = None,
) -> FramesResult:
    """Sample up to `frames` frames spread over the clip and look for the watermark in them together.

    Frames are decoded as detection reads them: a clip whose payload decodes from its first
    frames is not decoded further (``frames`` of the result counts the frames read). `info` is
    `path`'s :func:`~provenance.video.probe`, if the caller has it.
    """
    return detect_video_keys(path, [key], frames=frames, search=search, settings=settings, info=info)[1]


def detect_video_keys(
    path: str | os.PathLike,
    keys: list[bytes | str],
    *,
    frames: int = DETECT_FRAMES,
    search: str = "full",
    settings: Settings | None = None,
    info: VideoInfo | None = None,
) -> tuple[int, FramesResult]:
    """:func:`detect_video` with each of a ring's `keys`: the clip decoded once, the keyless work shared.

    Returns the index of the first key that detected and its result, or of the best-scoring key.
    One key reads frames lazily, as :func:`detect_video` does; several read every sampled frame first.
    """
    info = probe(path, settings=settings) if info is None else info
    sampled = iter_sampled_frames(path, frames, settings=settings, max_side=detection_max_side(info.height, info.width), info=info)
    with contextlib.closing(sampled):
        if len(keys) == 1:
            return 0, detect_frames((f.rgb for f in sampled), key=keys[0], search=search)
        return detect_frames_keys([f.rgb for f in sampled], keys, search=search)

