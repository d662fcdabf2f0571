"""Detection: blind (no original needed) and keyed, with a stated false-positive bound.

Decision rule (derived in ``docs/watermark.md``): a watermark is reported when
the best pilot correlation over all ``N`` synchronisation hypotheses reaches
``SCORE_THRESHOLD`` standard deviations **and** the payload decoded there passes
the key-salted CRC-32. For an unmarked image the pilot scores are close to
standard normal, so ``P(best >= t) <= N * Q(t)``, and a decode of noise passes
the CRC with probability ``2**-32``; the reported ``p_value`` is the product. When every
decode has failed, the strongest few are list-decoded (:class:`ListRetries`), each path
one more CRC try.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
from scipy.special import log_ndtr

from ..errors import InvalidImageError, InvalidInputError
from ..images import check_image_array
from .coding import CODED_BITS, CRC_BITS, LIST_SIZE, decode_payload, list_decode_payload
from .field import FIELD_SIDE, keyed_field
from .frame import canonical_luma, canonical_shape, uses_canonical_frame
from .masking import luminance
from .patterns import TILE, keyed_pattern, normalise_key
from .sync import (
    DIHEDRAL,
    MAX_WINDOW,
    ShiftPeak,
    dihedral_spectra,
    fold_identity,
    fold_spectral,
    payload_soft_bits,
    search_shifts,
    spectrum,
    tile_band,
    whiten,
)
from .lattice import same_lattice, scored_lattices, whitened_power
from .scales import comb_strength, middle_bands, scale_candidates, stretch_candidates, turn_candidates

__all__ = [
    "SCORE_THRESHOLD",
    "LIST_SCORE",
    "MIN_DETECT_SIDE",
    "MAX_GEOMETRIES",
    "LATTICE_WINDOW",
    "SCHEME",
    "SEARCH_MODES",
    "GEOMETRY_LIMITS",
    "WatermarkResult",
    "ListRetries",
    "centred_window",
    "check_search",
    "detect",
    "detect_keys",
    "detection_frames",
    "false_positive_bound",
    "lattice_geometry",
    "whitened_window",
]

#: The watermark scheme this module embeds and detects (a key records it: :mod:`provenance.keys`).
SCHEME = "v2"
#: Pilot score (standard deviations) a hypothesis needs before its payload is decoded.
SCORE_THRESHOLD = 4.5
#: Pilot score from which a payload the best trellis path does not give may be list-decoded
#: (:func:`.coding.list_decode_payload`) once the whole search has failed. Under it the payload's
#: soft bits are too noisy for the list to help (a coded-bit error rate over about 0.28); the
#: best of a geometry's 131,072 hypotheses reaches it on an unmarked image about once in 400.
LIST_SCORE = 5.5
#: Failed decodes list-decoded at most per search (per key), strongest pilot first.
LIST_DECODES = 3
#: Smallest image side analysed.
MIN_DETECT_SIDE = 96
#: Geometries tried at most per frame: the unchanged grid, then up to six lattices that pass the
#: comb gate (see :func:`_lattices`), strongest comb first.
MAX_GEOMETRIES = 7
#: Lattices proposed by the scale sweep (:mod:`.scales`) and by the autocorrelation, before the
#: comb gate ranks them.
SCALE_PROPOSALS = 2
TURN_PROPOSALS = 1
ACF_PROPOSALS = 20
#: A lattice is searched only if the power spectrum shows its band's comb at least this many
#: standard errors above the mean (:func:`.scales.comb_strength`, keyless). Every lattice that
#: decoded on 22 photos x 7 crop, rotation and keystone attacks at 512 and 1024 px scored >= 3.7
#: (median 45); 90% of the lattices proposed on unmarked photos score under 4.
COMB_GATE = 3.5
#: Side of the centre window the lattice search (autocorrelation, candidate lattices, spectral
#: folds) works on, for windows larger than it (the canonical frame is smaller).
LATTICE_WINDOW = 640
#: ``full`` (the unchanged grid of the size-normalised frame, then the tile lattice of cropped,
#: resized, rotated and photographed copies); ``crops`` (the unchanged grid, then only the scale
#: sweep's lattices: crops that change the long side, such as a feed's square or 4:5 crop);
#: ``quick`` tries only the unchanged grid (whole-image resizes, re-encodes, flips and tone
#: changes are still found): one geometry per frame in the bound.
SEARCH_MODES = ("full", "crops", "quick")
#: Geometries tried at most per frame in each search mode.
GEOMETRY_LIMITS = {"full": MAX_GEOMETRIES, "crops": 1 + SCALE_PROPOSALS, "quick": 1}
_HYPOTHESES_PER_GEOMETRY = DIHEDRAL * TILE * TILE


@dataclass(frozen=True)
class WatermarkResult:
    """What :func:`detect` found.

    Attributes
    ----------
    detected : bool
        True only when the pilot was found and the payload passed its CRC.
    payload : bytes or None
        Exactly the embedded payload, or None.
    p_value : float
        Upper bound on the probability that an unmarked image gives a result
        at least this strong (for a detection: pilot score and a CRC pass).
    score : float
        Best pilot correlation, in standard deviations under "no watermark".
    hypotheses : int
        Synchronisation hypotheses tried (geometries x 8 orientations x shifts).
    scale, rotation_degrees, mirrored
        The geometry at which the watermark was found, relative to the frame it was found in
        (1.0, 0.0, False if the image was only resized as a whole, re-encoded or retoned).
    frame : str or None
        ``"canonical"`` (the size-normalised grid) or ``"native"`` (the image's own pixels).
    scheme : str
        The watermark scheme looked for (:data:`SCHEME`).
    layer : str or None
        ``"periodic"`` (layer A, the tile) or ``"field"`` (layer B, :mod:`.field`, read at the
        unchanged canonical grid once A failed there), or None when nothing was found.
    """

    detected: bool
    payload: bytes | None
    p_value: float
    score: float
    hypotheses: int
    scale: float | None = None
    rotation_degrees: float | None = None
    mirrored: bool | None = None
    frame: str | None = None
    scheme: str = SCHEME
    layer: str | None = None

    @property
    def payload_hex(self) -> str | None:
        """The payload as lowercase hex, or None."""
        return None if self.payload is None else self.payload.hex()

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "detected": self.detected,
            "payload": self.payload_hex,
            "p_value": self.p_value,
            "score": round(self.score, 3),
            "hypotheses": self.hypotheses,
            "scale": None if self.scale is None else round(self.scale, 4),
            "rotation_degrees": None if self.rotation_degrees is None else round(self.rotation_degrees, 2),
            "mirrored": self.mirrored,
            "frame": self.frame,
            "scheme": self.scheme,
            "layer": self.layer,
        }


def false_positive_bound(score: float, hypotheses: int, decodes: int = 0) -> float:
    """Bound on P(unmarked image scores >= `score` over `hypotheses`[, and passes `decodes` CRC tries]).

    ``min(1, N * Q(score)) * (decodes * 2**-32 if decodes else 1)``.
    """
    log_tail = float(log_ndtr(-score)) + math.log(hypotheses)
    p = math.exp(min(0.0, log_tail))
    if decodes:
        p *= min(1.0, decodes * 2.0**-CRC_BITS)
    return p


class ListRetries:
    """The strongest decodes a search failed, list-decoded only when the whole search found nothing.

    A decode is kept if its pilot score reaches `min_score` (default :data:`LIST_SCORE`); at
    most :data:`LIST_DECODES` are kept, highest score first, the earlier on ties (in a clip the
    votes tie on their strongest frame's score, and an earlier vote adds fewer of the later
    frames, which a codec fills with the same errors, dragged along). Each list decode is
    :data:`~.coding.LIST_SIZE` more CRC tries for the false-positive bound, counted by the caller.
    """

    def __init__(self, min_score: float | None = None) -> None:
        self._held: list[tuple[float, int, np.ndarray, object]] = []
        self._offered = 0
        self._min_score = LIST_SCORE if min_score is None else min_score

    def offer(self, soft: np.ndarray, score: float, context: object) -> None:
        """Keep `soft` (failed under the best path, found at pilot `score`) with what reports it."""
        self._offered += 1
        if score >= self._min_score:
            self._held.append((score, self._offered, soft, context))
            self._held.sort(key=lambda h: (-h[0], h[1]))
            del self._held[LIST_DECODES:]

    def decode(self, salt: bytes) -> Iterator[tuple[bytes | None, object]]:
        """List-decode the kept soft bits, strongest first: (payload or None, context) each."""
        for _, _, soft, context in self._held:
            yield list_decode_payload(soft, salt), context


def centred_window(y: np.ndarray, size: int = MAX_WINDOW) -> np.ndarray:
    """The centred window of at most `size` pixels a side, sides multiples of 8 (2-D or channels last)."""
    h, w = y.shape[:2]
    wh, ww = min(h, size) // 8 * 8, min(w, size) // 8 * 8
    y0, x0 = (h - wh) // 2, (w - ww) // 2
    return np.ascontiguousarray(y[y0 : y0 + wh, x0 : x0 + ww])


def lattice_geometry(basis: np.ndarray, variant: int) -> tuple[float, float, bool]:
    """Scale, rotation (degrees) and mirroring of tile lattice `basis` seen in dihedral `variant`.

    As :class:`WatermarkResult` reports them; for detectors built on this module's search.
    """
    scale = math.sqrt(abs(float(np.linalg.det(basis)))) / TILE
    angles = np.degrees(np.arctan2(basis[:, 0], basis[:, 1]))  # angle of each period vector from the x axis
    rot = float(min((((a + 45) % 90) - 45 for a in angles), key=abs))
    mirrored = (variant >= 4) != (np.linalg.det(basis) < 0)
    return scale, rot, bool(mirrored)


def check_search(search: str) -> str:
    """Return `search` if it is one of :data:`SEARCH_MODES`.

    Raises
    ------
    InvalidInputError
        If it is not.
    """
    if search not in SEARCH_MODES:
        raise InvalidInputError(f"search must be one of {', '.join(SEARCH_MODES)}; got {search!r}.")
    return search


def detect(image: np.ndarray, *, key: bytes | str, search: str = "full") -> WatermarkResult:
    """Look for a watermark made with `key`, without the original.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray, or (H, W) grayscale, or (H, W, 4) RGBA
        Possibly resized, cropped, rotated, flipped, re-encoded. Channels last.
    key : bytes or str
        The key used at embedding.
    search : {"full", "crops", "quick"}
        ``"quick"`` skips the lattice search for cropped-and-resized and rotated copies:
        unmarked images cost less, whole-image resizes are still found. ``"crops"`` searches
        the lattices of crops only (:data:`SEARCH_MODES`).

    Returns
    -------
    WatermarkResult
        ``detected`` is False (and ``payload`` None) when nothing is found.

    Raises
    ------
    InvalidImageError
        If the array is not uint8 (H, W[, 3|4]) or a side is under 96 pixels.
    InvalidInputError
        If the key is empty.
    """
    return detect_keys(image, [key], search=search)[1]


def detect_keys(
    image: np.ndarray, keys: Sequence[bytes | str], *, search: str = "full"
) -> tuple[int, WatermarkResult]:
    """Look for a watermark made with any of `keys` (a key ring), doing the keyless work once.

    The result is that of calling :func:`detect` with each key in turn and stopping at the
    first detection, but the size-normalised grid, its whitening, the lattice proposals and
    the folded spectra are made once and shared by every key: a further key costs only its
    shift searches (benchmarks/RESULTS.md, "Key rings").

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray, or (H, W) grayscale, or (H, W, 4) RGBA
        As for :func:`detect`.
    keys : sequence of bytes or str
        The keys to try, in order.
    search : {"full", "crops", "quick"}
        As for :func:`detect`.

    Returns
    -------
    (int, WatermarkResult)
        The index in `keys` of the first key that detected a watermark and its result, or, if
        none did, of the key whose best pilot score was highest and its (undetected) result.
        Each result's bound counts that key's hypotheses; over the ring, multiply its
        ``p_value`` by ``len(keys)`` (a union bound).

    Raises
    ------
    InvalidImageError
        If the array is not uint8 (H, W[, 3|4]) or a side is under 96 pixels.
    InvalidInputError
        If `keys` is empty or a key is empty.
    """
    check_image_array(image)
    check_search(search)
    if not keys:
        raise InvalidInputError("No watermark key was given: pass at least one key.")
    h, w = image.shape[:2]
    if min(h, w) < MIN_DETECT_SIDE:
        raise InvalidImageError(
            f"The image is {w}x{h}; watermark detection needs at least {MIN_DETECT_SIDE} pixels per side."
        )
    secrets = [normalise_key(key) for key in keys]
    patterns = [keyed_pattern(secret) for secret in secrets]
    max_geometries = GEOMETRY_LIMITS[search]
    frames = [_Frame(image, name, crops_only=search == "crops") for name in detection_frames(h, w)]
    best: tuple[int, WatermarkResult] | None = None
    for index, pattern in enumerate(patterns):
        tally = _Tally()
        for frame in frames:
            found = _search_frame(frame, pattern, max_geometries, tally)
            if found is not None:
                payload, peak, basis = found
                return index, _found(payload, peak, basis, frame.name, tally)
            if frame.name == "canonical":
                payload = _search_field(frame, canonical_shape(h, w), secrets[index], pattern, tally)
                if payload is not None:
                    return index, _found_field(payload, frame.name, tally)
        for payload, (peak, basis, name) in tally.retries.decode(pattern.salt):
            tally.decodes += LIST_SIZE
            if payload is not None:
                return index, _found(payload, peak, basis, name, tally)
        hyp = max(tally.geometries, 1) * _HYPOTHESES_PER_GEOMETRY
        score = tally.best_score
        result = WatermarkResult(
            detected=False, payload=None, p_value=false_positive_bound(score, hyp), score=score, hypotheses=hyp
        )
        if best is None or result.score > best[1].score:
            best = (index, result)
    assert best is not None
    return best


def detection_frames(height: int, width: int) -> tuple[str, ...]:
    """The frames :func:`detect` looks in for an image of this size, in order.

    The canonical (size-normalised) grid; for shapes that are marked on their own pixels (small
    images, long banners) that native grid first, then the canonical one.
    """
    canonical = min(canonical_shape(height, width)) >= MIN_DETECT_SIDE
    if uses_canonical_frame(height, width):
        return ("canonical",)
    # An image of this shape may have been marked on its own pixels: look there first (an
    # unchanged small stamp is found on the unchanged grid, not as a lattice at 2x).
    return ("native", "canonical") if canonical else ("native",)


def whitened_window(image: np.ndarray, frame: str) -> np.ndarray:
    """The whitened window the search reads in `frame` (``"canonical"`` or ``"native"``) of an image or video frame."""
    h, w = image.shape[:2]
    y = canonical_luma(image, canonical_shape(h, w)) if frame == "canonical" else luminance(centred_window(image))
    return whiten(centred_window(y))


class _Tally:
    """Geometries tried, payload decodes and the best pilot score so far, over every frame."""

    def __init__(self) -> None:
        self.geometries = 0
        self.decodes = 0
        self.best_score = 0.0
        self.retries = ListRetries()


class _Frame:
    """The keyless analysis of one frame of the received image, made on first use and shared by every key.

    The whitened window, then for each geometry tried (the unchanged grid, then the lattices of
    :func:`_lattices`, made once with the full search's limit) its basis and the folded band's
    dihedral spectra: all a key adds is its shift search and, rarely, a decode.
    """

    def __init__(self, image: np.ndarray, name: str, *, crops_only: bool = False) -> None:
        self.name = name
        self._crops_only = crops_only
        self._image: np.ndarray | None = image
        self._yw: np.ndarray | None = None
        self._lattices: list[tuple[tuple[int, int], np.ndarray, np.ndarray]] | None = None
        self._geometries: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def yw(self) -> np.ndarray:
        if self._yw is None:
            image, self._image = self._image, None  # the frame keeps its window, not the image
            assert image is not None
            self._yw = whitened_window(image, self.name)
        return self._yw

    def geometry(self, g: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Basis and dihedral spectra of geometry `g` (0: the unchanged grid), or None past the last lattice."""
        if g not in self._geometries:
            if g == 0:
                basis, band = np.eye(2) * TILE, tile_band(fold_identity(self.yw))
            else:
                if self._lattices is None:
                    self._lattices = _lattices(centred_window(self.yw, LATTICE_WINDOW), MAX_GEOMETRIES - 1,
                                               crops_only=self._crops_only)
                if g - 1 >= len(self._lattices):
                    return None
                shape, spec, basis = self._lattices[g - 1]
                band = fold_spectral(spec, shape, np.linalg.inv(basis.T / TILE))
            self._geometries[g] = (basis, dihedral_spectra(band))
        return self._geometries[g]


def _search_frame(
    frame: _Frame, pattern, max_geometries: int, tally: _Tally
) -> tuple[bytes, ShiftPeak, np.ndarray] | None:
    """Try the unchanged grid, then lattice candidates, of one frame with one key's pattern."""
    for g in range(max_geometries):
        geometry = frame.geometry(g)
        if geometry is None:
            break
        basis, spectra = geometry
        tally.geometries += 1
        peak = search_shifts(spectra, pattern)[0]
        tally.best_score = max(tally.best_score, peak.score)
        if peak.score < SCORE_THRESHOLD:
            continue
        tally.decodes += 1
        soft = payload_soft_bits(spectra, peak, pattern, CODED_BITS)
        payload = decode_payload(soft, pattern.salt)
        if payload is not None:
            return payload, peak, basis
        tally.retries.offer(soft, peak.score, (peak, basis, frame.name))
    return None


def _search_field(frame: _Frame, grid_shape: tuple[int, int], secret: bytes, pattern, tally: _Tally) -> bytes | None:
    """Layer B's payload (:mod:`.field`), decoded at the unchanged canonical grid from the frame's whitened window.

    One decode, counted in `tally` (layer B has no pilot).
    """
    if max(grid_shape) > FIELD_SIDE:  # only when a design comparison changed CANONICAL_SIDE
        return None
    yw = frame.yw
    # Layer B sits at the grid's own origin; the whitened window is the grid's centred crop.
    origin = ((grid_shape[0] - yw.shape[0]) // 2, (grid_shape[1] - yw.shape[1]) // 2)
    tally.decodes += 1
    return decode_payload(keyed_field(secret).soft_bits(yw, origin), pattern.salt)


# Two proposals are tried separately unless they agree within 1% of a period: a 2-degree turn
# moves a period by 3.5%, and the axis-aligned sweep's lattice would then shadow the rotated one.
_DISTINCT = 0.01


def _lattices(
    yl: np.ndarray, limit: int, *, crops_only: bool = False
) -> list[tuple[tuple[int, int], np.ndarray, np.ndarray]]:
    """The lattices to try after the unchanged grid, in order, each with its window's shape and spectrum.

    On the whole window: the comb sweeps' proposals (axis-aligned: crops; turned by up to 6
    degrees: straightened photos) and the autocorrelation's (the grid refined for mild
    perspective, rotated and general lattices). On its middle half, in rows and in columns:
    the strongest stretched lattice (a photo of a screen: under perspective no one lattice fits
    the whole window, but one fits its middle band). All are ranked by how strongly the spectrum
    shows their comb (:func:`.scales.comb_strength`), those under :data:`COMB_GATE` left out:
    an unmarked image rarely pays for a shift search beyond the grid, and a turned lattice
    that the autocorrelation ranks tenth (its peaks drowned by a texture's) is tried first.
    With `crops_only`, the scale sweep's proposals alone (the ``crops`` search).
    """
    identity = np.eye(2) * TILE
    spec = spectrum(yl)
    power = whitened_power(spec, yl.shape)
    if crops_only:
        swept = [(z, b) for b, z in scale_candidates(power, yl.shape, limit=SCALE_PROPOSALS) if not _is_identity(b)]
        return [(yl.shape, spec, b) for z, b in sorted(swept, key=lambda r: -r[0]) if z >= COMB_GATE][:limit]
    swept = [b for b, _ in scale_candidates(power, yl.shape, limit=SCALE_PROPOSALS)]
    swept += [b for b, _ in turn_candidates(power, yl.shape, limit=TURN_PROPOSALS)]
    acf = [b for b, _ in scored_lattices(yl, limit=ACF_PROPOSALS, spec=spec, prior=identity, power=power)]
    whole: list[np.ndarray] = []
    for b in swept + acf:
        if not _is_identity(b) and not any(same_lattice(b, u, _DISTINCT) for u in whole):
            whole.append(b)
    ranked = [(float(z), yl.shape, spec, b) for z, b in zip(comb_strength(power, yl.shape, whole), whole)]
    for band in middle_bands(yl):
        band_spec = spectrum(band)
        for b, z in stretch_candidates(whitened_power(band_spec, band.shape), band.shape, limit=1):
            ranked.append((z, band.shape, band_spec, b))
    ranked = sorted((r for r in ranked if r[0] >= COMB_GATE), key=lambda r: -r[0])
    return [(shape, spec_, b) for _, shape, spec_, b in ranked[:limit]]


def _found(payload: bytes, peak: ShiftPeak, basis: np.ndarray, frame: str, tally: _Tally) -> WatermarkResult:
    hyp = tally.geometries * _HYPOTHESES_PER_GEOMETRY
    scale, rot, mirrored = lattice_geometry(basis, peak.variant)
    return WatermarkResult(
        detected=True,
        payload=payload,
        p_value=false_positive_bound(peak.score, hyp, tally.decodes),
        score=peak.score,
        hypotheses=hyp,
        scale=scale,
        rotation_degrees=rot,
        mirrored=mirrored,
        frame=frame,
        layer="periodic",
    )


def _found_field(payload: bytes, frame: str, tally: _Tally) -> WatermarkResult:
    # The decision is the CRC; the pilot score only enters the bound (as for layer A).
    hyp = tally.geometries * _HYPOTHESES_PER_GEOMETRY
    return WatermarkResult(
        detected=True,
        payload=payload,
        p_value=false_positive_bound(tally.best_score, hyp, tally.decodes),
        score=tally.best_score,
        hypotheses=hyp,
        scale=1.0,
        rotation_degrees=0.0,
        mirrored=False,
        frame=frame,
        layer="field",
    )


def _is_identity(basis: np.ndarray) -> bool:
    """Whether `basis` is the unchanged grid (up to the order and signs of its vectors)."""
    (a, b), (c, d) = np.abs(basis).tolist()
    near = lambda x, y: abs(x - y) <= 0.6  # noqa: E731
    return (near(a, TILE) and near(b, 0) and near(c, 0) and near(d, TILE)) or (
        near(a, 0) and near(b, TILE) and near(c, TILE) and near(d, 0)
    )
