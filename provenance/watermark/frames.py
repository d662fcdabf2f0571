"""The watermark on many frames of one clip: a pattern prepared once, evidence folded over frames.

A video carries the image watermark fixed in time: every frame holds the same keyed tile on
the same size-normalised grid, each frame masked by its own texture. So a single frame (a
screenshot, a frame grab shared as JPEG) verifies with :func:`provenance.watermark.detect`.
Detection over a clip searches each sampled frame's pilot and adds the payload evidence of
the frames that show one, each at its own shift (a codec's motion compensation drags the
pattern along with the picture), before one decode; every decode is counted in the bound
derived in ``docs/watermark.md``, section "Video".

Embedding does the expensive part once per clip (:func:`pattern_plane`: the tile laid out on
the canonical grid and resampled to the frame size); per frame it is a mask from the frame's
own luminance on the canonical grid, one resize of the block mask, a multiply and an add
(:func:`embed_luma`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from ..errors import InvalidImageError
from .coding import CODED_BITS, decode_payload, encode_payload
from .detection import (
    MAX_GEOMETRIES,
    MIN_DETECT_SIDE,
    SCORE_THRESHOLD,
    WatermarkResult,
    check_search,
    detection_frames,
    false_positive_bound,
)
from .embedding import DEFAULT_PSNR, MIN_EMBED_SIDE
from .frame import canonical_luma, canonical_shape, resampling_matrix, uses_canonical_frame
from .masking import BLOCK, block_activity, luminance, mask_from_activity, upsample_mask
from .patterns import TILE, keyed_pattern, normalise_key
from .sync import (
    DIHEDRAL,
    MAX_WINDOW,
    dihedral_spectra,
    fold_identity,
    payload_soft_bits,
    search_shifts,
    tile_band,
    whiten,
)

__all__ = ["FramesResult", "pattern_plane", "embed_luma", "detect_frames"]

#: Luma (limited range, 16-235) moves 219/255 of a grey level per RGB grey level.
_LUMA_SCALE = 219.0 / 255.0
_FLAT_AMPLITUDE_CAP = 1.2
#: Per-frame pilot score (one hypothesis: the clip's shift and orientation) that counts as evidence.
_FRAME_EVIDENCE_Z = SCORE_THRESHOLD
_HYPOTHESES_PER_GEOMETRY = DIHEDRAL * TILE * TILE
#: Per-frame pilot score (over the frame's own shifts) that lets a frame add its payload evidence.
_VOTE_Z = 3.5
#: Frames decoded on their own at most, and frames given the full lattice search.
_SINGLE_DECODES = 4
_LATTICE_FRAMES = 3


@dataclass(frozen=True)
class FramesResult:
    """What :func:`detect_frames` found over a clip's sampled frames.

    Attributes
    ----------
    watermark : WatermarkResult
        The combined decision (its ``p_value`` bounds the whole multi-frame search).
    frames : int
        Frames sampled.
    frames_with_evidence : int
        Frames whose own best pilot score reaches 4.5 (the image threshold); zero when
        nothing was detected.
    frame_scores : tuple of float
        Each frame's best pilot score on the unchanged grid, in the order given.
    """

    watermark: WatermarkResult
    frames: int
    frames_with_evidence: int
    frame_scores: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return self.watermark.to_dict() | {
            "frames_sampled": self.frames,
            "frames_with_evidence": self.frames_with_evidence,
        }


def _origin(secret: bytes, payload: bytes) -> tuple[int, int]:
    """Keyed per-stamp cyclic offset of the tile (the detector searches every shift)."""
    digest = hashlib.sha256(b"provenance.watermark.video.origin\0" + secret + b"\0" + bytes(payload)).digest()
    return int.from_bytes(digest[:2], "big") % TILE, int.from_bytes(digest[2:4], "big") % TILE


def pattern_plane(height: int, width: int, payload: bytes, *, key: bytes | str) -> np.ndarray:
    """The unmasked, unit-RMS watermark pattern for frames of `height` x `width` (float32 (H, W)).

    Laid out on the canonical grid and resampled to the frame (or on the frame's own pixels
    for frames too small for the canonical grid), exactly as :func:`~provenance.watermark.embed`
    lays out an image's. Made once per clip.

    Raises
    ------
    InvalidImageError
        If a side is under 256 pixels.
    InvalidInputError
        If the payload is not 1 to 8 bytes or the key is empty.
    """
    if min(height, width) < MIN_EMBED_SIDE:
        raise InvalidImageError(
            f"The video is {width}x{height}; a watermark needs at least {MIN_EMBED_SIDE}x{MIN_EMBED_SIDE} pixels."
        )
    secret = normalise_key(key)
    pattern = keyed_pattern(secret)
    tile = np.roll(pattern.tile(encode_payload(payload, pattern.salt)), _origin(secret, payload), axis=(0, 1))
    if uses_canonical_frame(height, width):
        hc, wc = canonical_shape(height, width)
        grid = np.tile(tile, (-(-hc // TILE), -(-wc // TILE)))[:hc, :wc]
        plane = (resampling_matrix(height, hc) @ grid) @ resampling_matrix(width, wc).T
        plane = np.asarray(plane, dtype=np.float32)
    else:
        plane = np.tile(tile, (-(-height // TILE), -(-width // TILE)))[:height, :width]
    rms = float(np.sqrt(np.mean(np.square(plane, dtype=np.float64))))
    return (plane / max(rms, 1e-6)).astype(np.float32)


def embed_luma(y: np.ndarray, pattern: np.ndarray, *, psnr: float = DEFAULT_PSNR) -> np.ndarray:
    """Add `pattern`, masked by this frame's texture, to a video frame's luma plane.

    Parameters
    ----------
    y : (H, W) uint8 ndarray
        The frame's Y plane (limited range, as decoded). Not modified.
    pattern : (H, W) float32 ndarray
        From :func:`pattern_plane`.
    psnr : float
        Target fidelity in dB, as for images.

    Returns
    -------
    (H, W) uint8 ndarray
    """
    if y.ndim != 2 or y.dtype != np.uint8 or y.shape != pattern.shape:
        raise InvalidImageError(f"y must be an (H, W) uint8 plane of the pattern's shape {pattern.shape}; got {y.shape} {y.dtype}.")
    h, w = y.shape
    if uses_canonical_frame(h, w):
        hc, wc = canonical_shape(h, w)
        yc = np.asarray(Image.fromarray(y).resize((wc, hc), Image.Resampling.BILINEAR, reducing_gap=2.0), dtype=np.float32)
        block_mask = mask_from_activity(block_activity(yc / np.float32(_LUMA_SCALE)))
        # The block mask is smooth: one bilinear resize from block centres to the frame replaces
        # the image path's mask-then-resample (same strength map to within the interpolation).
        mask = np.asarray(Image.fromarray(block_mask).resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    else:
        block_mask = mask_from_activity(block_activity(y.astype(np.float32) / np.float32(_LUMA_SCALE)))
        mask = upsample_mask(block_mask, 0, h, w)
    target_rms = 255.0 / 10 ** (psnr / 20.0)
    alpha = target_rms / float(np.sqrt(np.mean(block_mask.astype(np.float64) ** 2)))
    alpha = min(alpha, _FLAT_AMPLITUDE_CAP / float(block_mask.min())) * _LUMA_SCALE
    delta = pattern * mask
    delta *= np.float32(alpha)
    out = y.astype(np.int16)
    out += np.rint(delta).astype(np.int16)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


def _window(y: np.ndarray, size: int) -> np.ndarray:
    h, w = y.shape[:2]
    wh, ww = min(h, size) // 8 * 8, min(w, size) // 8 * 8
    y0, x0 = (h - wh) // 2, (w - ww) // 2
    return np.ascontiguousarray(y[y0 : y0 + wh, x0 : x0 + ww])








def _frame_plane(f: np.ndarray, grid: str) -> np.ndarray:
    h, w = f.shape[:2]
    if grid == "canonical":
        y = canonical_luma(f, canonical_shape(h, w))
    else:
        y = luminance(_window(f, MAX_WINDOW))
    return whiten(_window(y, MAX_WINDOW))


def detect_frames(frames: Sequence[np.ndarray], *, key: bytes | str, search: str = "full") -> FramesResult:
    """Look for the watermark in a clip's sampled frames, their evidence combined.

    Three stages, each decode counted in the bound: (1) every frame's pilot is searched on
    the unchanged grid and the payload soft bits of the frames with pilot evidence are added
    at each frame's own shift and orientation, then decoded once (a codec's motion
    compensation drags the pattern along with the picture, so frames disagree on the
    shift); (2) frames whose own pilot passes the image threshold are decoded alone; (3) in
    ``"full"`` mode the best frames get the image detector's lattice search (crops, rotations).

    Parameters
    ----------
    frames : sequence of (H, W, 3) uint8 ndarray
        Frames of one clip (same size), channels last, e.g. from
        :func:`provenance.video.sample_frames`.
    key : bytes or str
    search : {"full", "quick"}

    Raises
    ------
    InvalidImageError
        If there are no frames, sizes differ, or a side is under 96 pixels.
    """
    from .detection import detect  # the image detector, for stage 3

    check_search(search)
    if not frames:
        raise InvalidImageError("frames is empty; pass at least one decoded frame.")
    h, w = frames[0].shape[:2]
    if any(f.shape[:2] != (h, w) for f in frames):
        raise InvalidImageError("frames differ in size; pass frames of one clip.")
    if min(h, w) < MIN_DETECT_SIDE:
        raise InvalidImageError(f"Frames are {w}x{h}; watermark detection needs at least {MIN_DETECT_SIDE} pixels per side.")
    pattern = keyed_pattern(normalise_key(key))
    hyp = decodes = 0
    best = 0.0
    for grid in detection_frames(h, w):
        peaks = []
        for f in frames:
            spectra = dihedral_spectra(tile_band(fold_identity(_frame_plane(f, grid))))
            peaks.append((spectra, search_shifts(spectra, pattern)[0]))
        hyp += len(frames) * _HYPOTHESES_PER_GEOMETRY
        scores = tuple(p.score for _, p in peaks)
        best = max(best, *scores)
        # (1) Fold the payload evidence of every frame with pilot evidence, each at its own peak.
        voters = [(s, p) for s, p in peaks if p.score >= _VOTE_Z]
        candidates = []
        if len(voters) >= 2:
            candidates.append(sum(payload_soft_bits(s, p, pattern, CODED_BITS) * p.score for s, p in voters))
        # (2) Strong frames on their own, strongest first.
        candidates += [payload_soft_bits(s, p, pattern, CODED_BITS) for s, p in sorted(peaks, key=lambda x: -x[1].score)[:_SINGLE_DECODES] if p.score >= SCORE_THRESHOLD]
        for soft in candidates:
            decodes += 1
            payload = decode_payload(soft, pattern.salt)
            if payload is not None:
                top = max(peaks, key=lambda x: x[1].score)[1]
                result = WatermarkResult(
                    detected=True, payload=payload, p_value=false_positive_bound(top.score, hyp, decodes),
                    score=top.score, hypotheses=hyp, scale=1.0, rotation_degrees=0.0,
                    mirrored=top.variant >= 4, frame=grid,
                )
                return FramesResult(result, len(frames), sum(x >= _FRAME_EVIDENCE_Z for x in scores), scores)
    if search == "full":
        # (3) The image detector's lattice search on a few frames spread over the clip.
        for i in np.linspace(0, len(frames) - 1, min(_LATTICE_FRAMES, len(frames))).round().astype(int):
            r = detect(frames[i], key=key, search="full")
            hyp += r.hypotheses
            decodes += MAX_GEOMETRIES * len(detection_frames(h, w))  # at most, per image
            best = max(best, r.score)
            if r.detected:
                result = WatermarkResult(
                    detected=True, payload=r.payload, p_value=false_positive_bound(r.score, hyp, decodes),
                    score=r.score, hypotheses=hyp, scale=r.scale, rotation_degrees=r.rotation_degrees,
                    mirrored=r.mirrored, frame=r.frame,
                )
                return FramesResult(result, len(frames), 1, ())
    result = WatermarkResult(detected=False, payload=None, p_value=false_positive_bound(best, max(hyp, 1)), score=best, hypotheses=hyp)
    return FramesResult(result, len(frames), 0, ())


assert BLOCK == 8
