"""The watermark on many frames of one clip: patterns prepared per segment, evidence folded over frames.

A video carries the image watermark in every frame: the keyed tile on the size-normalised grid,
each frame masked by its own texture, the tile moved to a new keyed shift every
:data:`SEGMENT_FRAMES` frames (:class:`ClipPattern`; fixed for a whole clip, it was estimated
by averaging the frames). So a single frame (a screenshot, a frame grab shared as JPEG)
verifies with :func:`provenance.watermark.detect`. Detection over a clip searches each sampled
frame's pilot and adds the payload evidence of the frames that show one, each at its own shift
(its segment's, and a codec's motion compensation drags the pattern along with the picture),
before one decode; it stops reading frames once that decodes. Crops, letterboxes and rescales
are found once for the whole clip (the frames' power spectra, which ignore shifts, and a keyed
scale sweep), every frame then folded on the lattice found. Every decode is counted in the bound derived in ``docs/watermark.md``, section "Video".

Embedding does the expensive part once per segment (:func:`pattern_plane`: the tile laid out on
the canonical grid and resampled to the frame size); per frame it is a mask from the frame's
own luminance on the canonical grid, one resize of the block mask, a multiply and an add
(:func:`embed_luma`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from ..errors import InvalidImageError, InvalidInputError
from .coding import CODED_BITS, LIST_SIZE, decode_payload, encode_payload
from .detection import (
    ACF_PROPOSALS,
    COMB_GATE,
    LATTICE_WINDOW,
    MAX_GEOMETRIES,
    MIN_DETECT_SIDE,
    SCALE_PROPOSALS,
    TURN_PROPOSALS,
    SCORE_THRESHOLD,
    ListRetries,
    WatermarkResult,
    centred_window,
    check_search,
    detection_frames,
    false_positive_bound,
    lattice_geometry,
    whitened_window,
)
from .embedding import DEFAULT_PSNR, MIN_EMBED_SIDE
from .frame import canonical_shape, resampling_matrix, uses_canonical_frame
from .masking import BLOCK, block_activity, mask_from_activity, upsample_mask
from .lattice import same_lattice, scored_lattices, whitened_power
from .patterns import TILE, keyed_pattern, normalise_key
from .scales import SCALE_RANGE, comb_strength, middle_bands, scale_candidates, stretch_candidates, turn_candidates
from .sync import (
    DIHEDRAL,
    dihedral_spectra,
    fold_identity,
    fold_spectral,
    parabolic_offsets,
    payload_soft_bits,
    search_shifts,
    spectrum,
    tile_band,
)

__all__ = ["SEGMENT_FRAMES", "ClipPattern", "FramesResult", "pattern_plane", "segment_shift", "embed_luma", "detect_frames",
           "detect_frames_keys"]

#: Frames that share one keyed shift of the tile (a quarter to half a second of video). A pattern
#: fixed for a whole clip is estimated by averaging its frames and subtracted (a zoom lost its
#: mark at 42.7 dB); one that moves every frame costs a still shot 9x the bytes and flickers; 16
#: frames still let an attacker who averages each segment remove it at 39.9 dB, 8 frames not
#: above 28 dB (docs/watermark.md, "Temporal design").
SEGMENT_FRAMES = 8
#: Luma (limited range, 16-235) moves 219/255 of a grey level per RGB grey level.
_LUMA_SCALE = 219.0 / 255.0
_FLAT_AMPLITUDE_CAP = 1.2
#: Per-frame pilot score (one hypothesis: the clip's shift and orientation) that counts as evidence.
_FRAME_EVIDENCE_Z = SCORE_THRESHOLD
_HYPOTHESES_PER_GEOMETRY = DIHEDRAL * TILE * TILE
#: Per-frame pilot score (over the frame's own shifts) that lets a frame add its payload evidence,
#: and the score the second, sharper vote counts a frame's weight from.
_VOTE_Z = 3.5
_SHARP_Z = 4.5
#: Frames after which the unchanged grid's vote is tried before more frames are read.
_CHECKPOINTS = (4, 8, 16)
#: Frames decoded on their own at most on the unchanged grid.
_SINGLE_DECODES = 4
#: Lattices beyond the unchanged grid searched over the whole clip (as for one image).
_CLIP_LATTICES = MAX_GEOMETRIES - 1
#: Proposals closer than this (in periods) are one lattice; the unchanged grid is within 0.6 px.
_DISTINCT = 0.01
#: A keyed sweep's scale is folded unless a comb lattice already tried is this close (in periods):
#: the keyed scale is the precise one, and 0.1% off the pilot's peak costs a frame 1-2 of its score.
_SAME_FOLD = 0.0005
_IDENTITY_TOLERANCE = 0.6 / TILE
#: Frames spread over the clip (the first included) whose own spectra propose lattices, and that
#: a lattice must show the pilot in (best score at least :data:`_LATTICE_Z`; their best over the
#: 131,072 hypotheses a frame is 4.4-5.4 on noise) before every frame is folded on it.
_PROPOSING_FRAMES = 8
_LATTICE_Z = 5.5
#: A clip's failed decodes are list-decoded from this pilot score (an image's from
#: :data:`~.detection.LIST_SCORE`, 5.5): a clip's best frame of 32 reaches 5.5 on 42% of unmarked
#: checks and 6.0 on 5% (500 clips x 2 keys), and 6.0 lost none of 71 list recoveries on 79
#: near-limit copies (docs/watermark.md, "List decoding").
_CLIP_LIST_SCORE = 6.0
#: The keyed scale sweep: frames it reads (the first: a clip starts on a keyframe, where the mark
#: is strongest), its log-scale step (the band's outer points move at most a third of a tile bin
#: between steps), and the scales it hands on.
_SWEEP_FRAMES = 1
_SWEEP_STEP = 0.016
_SWEEP_KEEP = 2


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


def segment_shift(key: bytes | str, payload: bytes, segment: int) -> tuple[int, int]:
    """The keyed cyclic shift (grid pixels, each 0 to ``TILE - 1``) of the tile in a clip's `segment`.

    Frames ``SEGMENT_FRAMES * segment`` to ``SEGMENT_FRAMES * (segment + 1) - 1`` share it.
    """
    digest = hashlib.sha256(
        b"provenance.watermark.video.segment\0" + normalise_key(key) + b"\0" + bytes(payload) + segment.to_bytes(8, "big")
    ).digest()
    return int.from_bytes(digest[:2], "big") % TILE, int.from_bytes(digest[2:4], "big") % TILE


class ClipPattern:
    """A clip's watermark patterns, frame by frame: the tile moves to a new keyed shift every segment.

    :func:`pattern_plane` for the frame's segment (:func:`segment_shift`), the current segment's
    plane kept: one plane is made per :data:`SEGMENT_FRAMES` frames.
    """

    def __init__(self, height: int, width: int, payload: bytes, *, key: bytes | str) -> None:
        self._args = (height, width, bytes(payload), key)
        self._plane = pattern_plane(height, width, payload, key=key, shift=segment_shift(key, payload, 0))
        self._segment = 0

    def plane(self, index: int) -> np.ndarray:
        """The pattern of frame `index` (0 is the clip's first)."""
        segment = index // SEGMENT_FRAMES
        if segment != self._segment:
            h, w, payload, key = self._args
            self._plane = pattern_plane(h, w, payload, key=key, shift=segment_shift(key, payload, segment))
            self._segment = segment
        return self._plane


def pattern_plane(
    height: int, width: int, payload: bytes, *, key: bytes | str, shift: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """The unmasked, unit-RMS watermark pattern for frames of `height` x `width` (float32 (H, W)).

    Laid out on the canonical grid and resampled to the frame (or on the frame's own pixels
    for frames too small for the canonical grid), exactly as :func:`~provenance.watermark.embed`
    lays out an image's. `shift` moves the tile cyclically by that many grid pixels beyond the
    stamp's keyed origin (the detector searches every shift): :class:`ClipPattern` makes one
    plane per segment at :func:`segment_shift`.

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
    oy, ox = _origin(secret, payload)
    tile = np.roll(pattern.tile(encode_payload(payload, pattern.salt)), (oy + shift[0], ox + shift[1]), axis=(0, 1))
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


@dataclass(frozen=True)
class _ClipLattice:
    """A lattice proposed for the whole clip, with each frame's window spectrum it is folded in."""

    comb: float
    basis: np.ndarray
    shape: tuple[int, int]
    spectra: tuple[np.ndarray, ...]


def _spread(n: int, k: int) -> list[int]:
    """At most `k` indices spread evenly over ``range(n)``, the first included."""
    return sorted(set(np.linspace(0, n - 1, min(k, n)).round().astype(int).tolist()))


def _clip_lattices(planes: Sequence[np.ndarray], limit: int) -> tuple[list[_ClipLattice], tuple[np.ndarray, ...]]:
    """The lattices the clip's frames share, strongest comb first, each over :data:`COMB_GATE`.

    The whitened power spectrum ignores where the tile sits, so the frames' powers add even
    when a codec's motion compensation moved the pattern between frames: the comb sweeps
    (crops, turns, and stretches in the middle bands) and the autocorrelation run on the sum.
    The sum does not average a pan's content away (its power is as shift-invariant as the
    tile's) while the tile fades in predicted frames, so each frame's own crop and turn
    sweeps propose too, and a lattice ranks by its comb on the sum or in its strongest frame.
    The unchanged grid is left out. Returns the lattices and every frame's window spectrum.
    """
    identity = np.eye(2) * TILE
    windows = [centred_window(p, LATTICE_WINDOW) for p in planes]
    shape = windows[0].shape
    specs = tuple(spectrum(yl) for yl in windows)
    powers = [whitened_power(s, shape) for s in specs]
    total = sum(powers)
    proposals = [b for b, _ in scale_candidates(total, shape, limit=SCALE_PROPOSALS)]
    proposals += [b for b, _ in turn_candidates(total, shape, limit=TURN_PROPOSALS)]
    proposing = _spread(len(planes), _PROPOSING_FRAMES)
    for power in (powers[i] for i in proposing):
        proposals += [b for b, _ in scale_candidates(power, shape, limit=SCALE_PROPOSALS)]
        proposals += [b for b, _ in turn_candidates(power, shape, limit=TURN_PROPOSALS)]
    proposals += [b for b, _ in scored_lattices(windows[0], limit=ACF_PROPOSALS, spec=specs[0], prior=identity, power=total)]
    whole: list[np.ndarray] = []
    for b in proposals:
        if not same_lattice(b, identity, _IDENTITY_TOLERANCE) and not any(same_lattice(b, u, _DISTINCT) for u in whole):
            whole.append(b)
    ranked = []
    if whole:
        combs = np.max([comb_strength(p, shape, whole) for p in [total, *(powers[i] for i in proposing)]], axis=0)
        ranked = [_ClipLattice(float(z), b, shape, specs) for z, b in zip(combs, whole)]
    by_band = list(zip(*(middle_bands(windows[i]) for i in proposing)))  # [(band of each proposing frame), ...]
    for bands in by_band:
        band_specs = [spectrum(b) for b in bands]
        band_power = sum(whitened_power(s, bands[0].shape) for s in band_specs)
        for b, z in stretch_candidates(band_power, bands[0].shape, limit=1):
            ranked.append(_ClipLattice(z, b, bands[0].shape, tuple(band_specs)))
    ranked = sorted((r for r in ranked if r.comb >= COMB_GATE), key=lambda r: -r.comb)
    return ranked[:limit], specs


def _keyed_scales(specs: Sequence[np.ndarray], shape: tuple[int, int], pattern) -> tuple[list[np.ndarray], int]:
    """Axis-aligned lattices (crops, letterboxed or rescaled copies) the pilot itself finds.

    The keyless comb misses a tile drowned by a textured picture that the keyed pilot
    still sees: on the first :data:`_SWEEP_FRAMES` frames spread over the clip, the pilot is
    searched at every scale of :data:`~provenance.watermark.scales.SCALE_RANGE` (log step
    :data:`_SWEEP_STEP`), the frames' best scores added; the strongest local maxima are
    refined to a quarter step.
    Proposes only (the clip's vote decides). Returns the bases and the folds searched.
    """
    picks = _spread(len(specs), _SWEEP_FRAMES)

    def scores(scales: np.ndarray) -> np.ndarray:
        out = np.zeros(len(scales))
        for j, sc in enumerate(scales):
            inverse = np.eye(2) / sc
            out[j] = sum(search_shifts(dihedral_spectra(fold_spectral(specs[i], shape, inverse)), pattern)[0].score for i in picks)
        return out

    lo, hi = SCALE_RANGE
    coarse = np.exp(np.arange(np.log(lo), np.log(hi), _SWEEP_STEP))
    values = scores(coarse)
    folds = len(coarse) * len(picks)
    peaks = np.flatnonzero((values[1:-1] >= values[:-2]) & (values[1:-1] > values[2:])) + 1
    bases = []
    for i in peaks[np.argsort(-values[peaks])[:_SWEEP_KEEP]]:
        fine = coarse[i] * np.exp(np.arange(-3, 4) * _SWEEP_STEP / 4)
        fine_values = scores(fine)
        folds += len(fine) * len(picks)
        j = int(np.argmax(fine_values))
        # The pilot's peak over scale is narrow (about 0.7% wide at half height on a 640 px window,
        # where a quarter step is 0.4%): the vertex of the parabola through the best fine scale
        # and its neighbours lands within a tenth of a step.
        offset = float(parabolic_offsets(*fine_values[j - 1 : j + 2])) if 0 < j < len(fine) - 1 else 0.0
        bases.append(np.eye(2) * TILE * fine[j] * np.exp(offset * _SWEEP_STEP / 4))
    return bases, folds


def _vote(peaks: list, pattern, *, single: bool = True) -> list[tuple[np.ndarray, float]]:
    """Soft bits to decode: the voters' evidence summed (two weightings) and the strongest frame alone.

    Every frame with a pilot score of at least :data:`_VOTE_Z` votes at its own shift and
    orientation, weighted by its score; the second sum weights by the score's excess over
    :data:`_SHARP_Z` (a frame's best over its 131,072 hypotheses is about 4.5 on noise, so
    frames the codec emptied add little). At most three decodes, each with the best pilot
    score behind it (which decides whether it may be list-decoded).
    """
    voters = [(s, p) for s, p in peaks if p.score >= _VOTE_Z]
    candidates = []
    if len(voters) >= 2:
        bits = [(payload_soft_bits(s, p, pattern, CODED_BITS), p.score) for s, p in voters]
        top = max(z for _, z in bits)
        candidates.append((sum(b * z for b, z in bits), top))
        sharp = [(b, z - _SHARP_Z) for b, z in bits if z > _SHARP_Z]
        if len(sharp) >= 2:
            candidates.append((sum(b * z for b, z in sharp), top))
    s, p = max(peaks, key=lambda x: x[1].score)
    if single and p.score >= SCORE_THRESHOLD:
        candidates.append((payload_soft_bits(s, p, pattern, CODED_BITS), p.score))
    return candidates


class _Tally:
    """Hypotheses searched, payload decodes made and the best pilot score, over the whole clip."""

    def __init__(self) -> None:
        self.hypotheses = 0
        self.decodes = 0
        self.best = 0.0
        self.retries = ListRetries(_CLIP_LIST_SCORE)

    def search(self, spectra: np.ndarray, pattern) -> tuple[np.ndarray, object]:
        peak = search_shifts(spectra, pattern)[0]
        self.hypotheses += _HYPOTHESES_PER_GEOMETRY
        self.best = max(self.best, peak.score)
        return spectra, peak

    def decode(self, soft: np.ndarray, pattern, score: float, context: tuple) -> bytes | None:
        """Decode under the best path; a failure with a strong pilot is kept for :meth:`list_decode`."""
        self.decodes += 1
        payload = decode_payload(soft, pattern.salt)
        if payload is None:
            self.retries.offer(soft, score, context)
        return payload

    def list_decode(self, pattern, n: int) -> FramesResult | None:
        """The clip's last resort: list-decode the strongest failed decodes (``(peaks, grid, basis)`` each)."""
        for payload, (peaks, grid, basis) in self.retries.decode(pattern.salt):
            self.decodes += LIST_SIZE
            if payload is not None:
                return _found(payload, peaks, self, n, grid, basis)
        return None


def _found(payload: bytes, peaks: list, tally: _Tally, frames: int, grid: str, basis: np.ndarray | None = None) -> FramesResult:
    top = max(peaks, key=lambda x: x[1].score)[1]
    if basis is None:
        scale, rotation, mirrored = 1.0, 0.0, top.variant >= 4
    else:
        scale, rotation, mirrored = lattice_geometry(basis, top.variant)
    scores = tuple(p.score for _, p in peaks)
    result = WatermarkResult(
        detected=True, payload=payload, p_value=false_positive_bound(top.score, tally.hypotheses, tally.decodes),
        score=top.score, hypotheses=tally.hypotheses, scale=scale, rotation_degrees=rotation,
        mirrored=mirrored, frame=grid,
    )
    return FramesResult(result, frames, sum(x >= _FRAME_EVIDENCE_Z for x in scores), scores)


def detect_frames(frames: Iterable[np.ndarray], *, key: bytes | str, search: str = "full") -> FramesResult:
    """Look for the watermark in a clip's sampled frames, their evidence combined.

    Three stages, each decode counted in the bound: (1) every frame's pilot is searched on
    the unchanged grid and the payload soft bits of the frames with pilot evidence are added
    at each frame's own shift and orientation, then decoded (a codec's motion compensation
    drags the pattern along with the picture, so frames disagree on the shift); this is tried
    after 4, 8 and 16 frames as well, and the frames still to come are not read once a payload
    decodes; (2) the strongest frames are decoded alone; (3) in ``"full"`` mode the clip's
    lattices (crops, rescaled and letterboxed copies, turns) are found once from the frames'
    summed power spectra, each frame's own, and a keyed scale sweep on a few frames, and every
    frame is folded on each of them and voted as in (1). If nothing decoded, the three failed
    decodes with the strongest pilots are list-decoded (:class:`~.detection.ListRetries`).

    Parameters
    ----------
    frames : iterable of (H, W, 3) uint8 ndarray
        Frames of one clip (same size), channels last, in time order, e.g. from
        :func:`provenance.video.iter_sampled_frames`; read only as far as needed.
    key : bytes or str
    search : {"full", "crops", "quick"}
        ``"quick"`` skips the clip's lattice search (stage 3); ``"crops"`` runs it as ``"full"``
        does (one search per clip: the image mode's saving matters little here).

    Raises
    ------
    InvalidImageError
        If there are no frames, sizes differ, or a side is under 96 pixels.
    """
    check_search(search)
    return _detect_frames(frames, keyed_pattern(normalise_key(key)), search, _Keyless())


def detect_frames_keys(
    frames: Iterable[np.ndarray], keys: Sequence[bytes | str], *, search: str = "full"
) -> tuple[int, FramesResult]:
    """:func:`detect_frames` with each of `keys` in turn, the keyless work done once.

    The frames' whitened planes and the clip's lattices do not depend on the key; a further
    key of a ring costs its shift searches and decodes only. The frames are all read (and kept)
    first. Returns the index of the first key that detected and its result, or, if none did,
    of the key whose best pilot score was highest.

    Raises
    ------
    InvalidImageError
        As :func:`detect_frames`.
    InvalidInputError
        If `keys` is empty or a key is empty.
    """
    check_search(search)
    if not keys:
        raise InvalidInputError("No watermark key was given: pass at least one key.")
    patterns = [keyed_pattern(normalise_key(key)) for key in keys]
    frames = list(frames)
    keyless = _Keyless()
    best: tuple[int, FramesResult] | None = None
    for index, pattern in enumerate(patterns):
        result = _detect_frames(frames, pattern, search, keyless)
        if result.watermark.detected:
            return index, result
        if best is None or result.watermark.score > best[1].watermark.score:
            best = (index, result)
    assert best is not None
    return best


class _Keyless:
    """Each frame's whitened plane per grid and the clip's lattices per grid, kept for the next key."""

    def __init__(self) -> None:
        self.planes: dict[tuple[int, str], np.ndarray] = {}
        self.lattices: dict[str, tuple[list[_ClipLattice], tuple[np.ndarray, ...]]] = {}

    def plane(self, n: int, f: np.ndarray, grid: str) -> np.ndarray:
        if (n, grid) not in self.planes:
            self.planes[(n, grid)] = whitened_window(f, grid)
        return self.planes[(n, grid)]

    def clip_lattices(self, grid: str, planes: Sequence[np.ndarray]) -> tuple[list[_ClipLattice], tuple[np.ndarray, ...]]:
        if grid not in self.lattices:  # every key reads the same frames, so the same planes
            self.lattices[grid] = _clip_lattices(planes, _CLIP_LATTICES)
        return self.lattices[grid]


def _detect_frames(frames: Iterable[np.ndarray], pattern, search: str, keyless: _Keyless) -> FramesResult:
    """:func:`detect_frames` for one key's pattern; `keyless` keeps what another key can reuse."""
    tally = _Tally()
    grids: tuple[str, ...] = ()
    planes: dict[str, list[np.ndarray]] = {}
    peaks: dict[str, list] = {}
    n = 0
    for f in frames:
        if n == 0:
            h, w = f.shape[:2]
            if min(h, w) < MIN_DETECT_SIDE:
                raise InvalidImageError(f"Frames are {w}x{h}; watermark detection needs at least {MIN_DETECT_SIDE} pixels per side.")
            grids = detection_frames(h, w)
            planes = {g: [] for g in grids}
            peaks = {g: [] for g in grids}
        elif f.shape[:2] != (h, w):
            raise InvalidImageError("frames differ in size; pass frames of one clip.")
        n += 1
        for grid in grids:
            yw = keyless.plane(n, f, grid)
            planes[grid].append(yw)
            peaks[grid].append(tally.search(dihedral_spectra(tile_band(fold_identity(yw))), pattern))
        if n in _CHECKPOINTS:
            # (1) early: a clean copy is decided on its first frames; the rest are never decoded.
            for grid in grids:
                for soft, score in _vote(peaks[grid], pattern, single=False):
                    payload = tally.decode(soft, pattern, score, (list(peaks[grid]), grid, None))
                    if payload is not None:
                        return _found(payload, peaks[grid], tally, n, grid)
    if n == 0:
        raise InvalidImageError("frames is empty; pass at least one decoded frame.")
    for grid in grids:
        # (1) every frame read, and (2) the strongest frames on their own.
        candidates = _vote(peaks[grid], pattern, single=False) if n not in _CHECKPOINTS else []
        ranked = sorted(peaks[grid], key=lambda x: -x[1].score)[:_SINGLE_DECODES]
        candidates += [(payload_soft_bits(s, p, pattern, CODED_BITS), p.score) for s, p in ranked if p.score >= SCORE_THRESHOLD]
        for soft, score in candidates:
            payload = tally.decode(soft, pattern, score, (peaks[grid], grid, None))
            if payload is not None:
                return _found(payload, peaks[grid], tally, n, grid)
    if search != "quick":
        # (3) The clip's lattices: first those the power spectra show, then the keyed sweep's.
        for grid in grids:
            lattices, specs = keyless.clip_lattices(grid, planes[grid])
            found = _search_lattices(lattices, pattern, tally, n, grid)
            if found is not None:
                return found
            if grid != "canonical":
                continue  # on a frame's own pixels a crop is only a shift: the unchanged grid's search has it
            shape = centred_window(planes[grid][0], LATTICE_WINDOW).shape
            swept, folds = _keyed_scales(specs, shape, pattern)
            tally.hypotheses += folds * _HYPOTHESES_PER_GEOMETRY
            swept = [b for b in swept if not any(same_lattice(b, lat.basis, _SAME_FOLD) for lat in lattices if lat.shape == shape)]
            found = _search_lattices([_ClipLattice(0.0, b, shape, specs) for b in swept], pattern, tally, n, grid)
            if found is not None:
                return found
    found = tally.list_decode(pattern, n)
    if found is not None:
        return found
    result = WatermarkResult(
        detected=False, payload=None, p_value=false_positive_bound(tally.best, max(tally.hypotheses, 1)),
        score=tally.best, hypotheses=tally.hypotheses,
    )
    return FramesResult(result, n, 0, ())


def _search_lattices(lattices: list[_ClipLattice], pattern, tally: _Tally, n: int, grid: str) -> FramesResult | None:
    """Fold every frame on each lattice the proposing frames show the pilot on, and decode the clip's vote."""
    for lattice in lattices:
        inverse = np.linalg.inv(lattice.basis.T / TILE)
        first = _spread(len(lattice.spectra), _PROPOSING_FRAMES)
        peaks = {i: tally.search(dihedral_spectra(fold_spectral(lattice.spectra[i], lattice.shape, inverse)), pattern) for i in first}
        if max(p.score for _, p in peaks.values()) < _LATTICE_Z:
            continue
        for i, spec in enumerate(lattice.spectra):
            if i not in peaks:
                peaks[i] = tally.search(dihedral_spectra(fold_spectral(spec, lattice.shape, inverse)), pattern)
        peaks = [peaks[i] for i in range(len(lattice.spectra))]
        for soft, score in _vote(peaks, pattern):
            payload = tally.decode(soft, pattern, score, (peaks, grid, lattice.basis))
            if payload is not None:
                return _found(payload, peaks, tally, n, grid, lattice.basis)
    return None


assert BLOCK == 8
