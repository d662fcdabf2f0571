"""Detection: blind (no original needed) and keyed, with a stated false-positive bound.

Decision rule (derived in ``docs/watermark.md``): a watermark is reported when
the best pilot correlation over all ``N`` synchronisation hypotheses reaches
``SCORE_THRESHOLD`` standard deviations **and** the payload decoded there passes
the key-salted CRC-32. For an unmarked image the pilot scores are close to
standard normal, so ``P(best >= t) <= N * Q(t)``, and a decode of noise passes
the CRC with probability ``2**-32``; the reported ``p_value`` is the product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr

from ..errors import InvalidImageError, InvalidInputError
from ..images import check_image_array
from .coding import CODED_BITS, CRC_BITS, decode_payload
from .masking import luminance
from .patterns import TILE, keyed_pattern, normalise_key
from .sync import (
    DIHEDRAL,
    MAX_WINDOW,
    ShiftPeak,
    candidate_lattices,
    dihedral_spectra,
    fold_identity,
    fold_spectral,
    payload_soft_bits,
    search_shifts,
    spectrum,
    tile_band,
    whiten,
)

__all__ = ["SCORE_THRESHOLD", "MIN_DETECT_SIDE", "MAX_GEOMETRIES", "QUICK_WINDOW", "LATTICE_WINDOW", "SEARCH_MODES", "WatermarkResult", "check_search", "detect", "false_positive_bound"]

#: Pilot score (standard deviations) a hypothesis needs before its payload is decoded.
SCORE_THRESHOLD = 4.5
#: Smallest image side analysed.
MIN_DETECT_SIDE = 96
#: Geometries tried at most: the unchanged grid plus lattice candidates. Over the robustness
#: corpus (22 photos x resize, rotate and combined attacks) every watermark found through a
#: lattice was found at the first or second candidate; a third is kept in reserve.
MAX_GEOMETRIES = 4
#: Side of the centre window of the quick first look (unchanged grid only), for images larger
#: than it: a stamped image that was not resized or rotated is found there in a quarter of the
#: time. It counts as one more geometry in the false-positive bound.
QUICK_WINDOW = 512
#: Side of the centre window the lattice search (autocorrelation, candidate lattices, spectral
#: folds) works on, for windows larger than it. Over the regression set (22 photos x 6
#: resize/rotate attacks) it finds what the full 1024 px window finds, in 14% less time on a
#: 1024 x 1024 unmarked image (and one more resize0.5 copy); at 640 px three copies are lost.
LATTICE_WINDOW = 768
#: ``full`` (a quick look at the centre window first, then the unchanged grid over the full
#: window, then the tile lattice of resized and rotated copies); ``quick`` tries only the
#: unchanged grid over the full window (re-encoded, cropped, flipped, tone-changed copies):
#: several times faster on images without a watermark, one geometry in the bound.
SEARCH_MODES = ("full", "quick")
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
        The geometry at which the watermark was found (1.0, 0.0, False if unchanged).
    """

    detected: bool
    payload: bytes | None
    p_value: float
    score: float
    hypotheses: int
    scale: float | None = None
    rotation_degrees: float | None = None
    mirrored: bool | None = None

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


def _window(y: np.ndarray, size: int = MAX_WINDOW) -> np.ndarray:
    """The centred window of at most `size` pixels a side, sides multiples of 8 (2-D or channels last)."""
    h, w = y.shape[:2]
    wh, ww = min(h, size) // 8 * 8, min(w, size) // 8 * 8
    y0, x0 = (h - wh) // 2, (w - ww) // 2
    return np.ascontiguousarray(y[y0 : y0 + wh, x0 : x0 + ww])


def _geometry(basis: np.ndarray, variant: int) -> tuple[float, float, bool]:
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
    search : {"full", "quick"}
        ``"quick"`` skips the lattice search for resized and rotated copies: unmarked images
        cost a fraction of the time, but a resized or rotated watermark is not found.

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
    check_image_array(image)
    check_search(search)
    if min(image.shape[:2]) < MIN_DETECT_SIDE:
        raise InvalidImageError(
            f"The image is {image.shape[1]}x{image.shape[0]}; watermark detection needs at least "
            f"{MIN_DETECT_SIDE} pixels per side."
        )
    pattern = keyed_pattern(normalise_key(key))
    identity = np.eye(2) * TILE
    geometries = 0
    decodes = 0
    best: tuple[ShiftPeak, np.ndarray] | None = None

    # Luminance of the analysed window only (a per-pixel map, so crop first).
    # The quick look pays off when stamped images are common (it finds them at a quarter of the
    # cost); the quick search is for streams of mostly unmarked images, where it would only add
    # its cost to every one: that search goes straight to the full-window grid.
    quick = search == "full" and min(image.shape[:2]) // 8 * 8 > QUICK_WINDOW
    y = luminance(_window(image))  # the quick look's window is the centre of this one
    if quick:
        # Quick look: the unchanged grid in the centre window. Most stamped images arrive
        # re-encoded or cropped but not resized, and are found here.
        spectra = dihedral_spectra(tile_band(fold_identity(whiten(_window(y, QUICK_WINDOW)))))
        peak = search_shifts(spectra, pattern)[0]
        best = (peak, identity)
        if peak.score >= SCORE_THRESHOLD:
            decodes += 1
            payload = decode_payload(payload_soft_bits(spectra, peak, pattern, CODED_BITS), pattern.salt)
            if payload is not None:
                return _found(payload, peak, identity, 1, decodes)

    yw = whiten(y)
    # The lattice window's shape, its spectrum and the lattices found in it, made once: the
    # search and the folds share them.
    searched: tuple[tuple[int, int], np.ndarray, list[np.ndarray]] | None = None
    max_geometries = MAX_GEOMETRIES if search == "full" else 1
    while geometries < max_geometries:
        if geometries == 0:
            basis, band = identity, tile_band(fold_identity(yw))
        else:
            if searched is None:
                # The lattice search and its folds use the centre of the window (LATTICE_WINDOW).
                # One candidate more than are tried, in case one of them is the unchanged grid.
                yl = _window(yw, LATTICE_WINDOW)
                spec = spectrum(yl)
                lattices = [b for b in candidate_lattices(yl, limit=MAX_GEOMETRIES, spec=spec) if not _is_identity(b)]
                searched = yl.shape, spec, lattices
            shape, spec, lattices = searched
            if geometries - 1 >= len(lattices):
                break
            basis = lattices[geometries - 1]
            band = fold_spectral(spec, shape, np.linalg.inv(basis.T / TILE))
        geometries += 1
        spectra = dihedral_spectra(band)
        peak = search_shifts(spectra, pattern)[0]
        if best is None or peak.score > best[0].score:
            best = (peak, basis)
        if peak.score < SCORE_THRESHOLD:
            continue
        decodes += 1
        payload = decode_payload(payload_soft_bits(spectra, peak, pattern, CODED_BITS), pattern.salt)
        if payload is not None:
            return _found(payload, peak, basis, geometries + int(quick), decodes)
    hyp = max(geometries + int(quick), 1) * _HYPOTHESES_PER_GEOMETRY
    score = best[0].score if best else 0.0
    return WatermarkResult(
        detected=False, payload=None, p_value=false_positive_bound(score, hyp), score=score, hypotheses=hyp
    )


def _found(payload: bytes, peak: ShiftPeak, basis: np.ndarray, geometries: int, decodes: int) -> WatermarkResult:
    hyp = geometries * _HYPOTHESES_PER_GEOMETRY
    scale, rot, mirrored = _geometry(basis, peak.variant)
    return WatermarkResult(
        detected=True,
        payload=payload,
        p_value=false_positive_bound(peak.score, hyp, decodes),
        score=peak.score,
        hypotheses=hyp,
        scale=scale,
        rotation_degrees=rot,
        mirrored=mirrored,
    )


def _is_identity(basis: np.ndarray) -> bool:
    return bool(np.allclose(np.abs(basis), np.eye(2) * TILE, atol=0.6) or np.allclose(np.abs(basis[::-1]), np.eye(2) * TILE, atol=0.6))
