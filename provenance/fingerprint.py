"""A compact fingerprint of a stamped output, and whether an upload shows (part of) it.

A watermark ID says which stamp a mark came from, not that the picture is the stamped one:
the mark can be estimated without the key and added to any photo. So before the verifier
vouches for a stamp's credentials it checks the pixels against a fingerprint kept at stamping:
a small grayscale thumbnail of the *output* (never of an upload), about 4 KB.

::

    fp = make_fingerprint(marked)                   # at stamping, (H, W, 3) uint8
    blob = fp.to_bytes()                            # stored in the registry
    match = compare_fingerprint(upload, Fingerprint.from_bytes(blob),
                                scale=result.scale, rotation_degrees=result.rotation_degrees,
                                mirrored=result.mirrored)
    match.similarity, match.status                  # "match", "mismatch" or "inconclusive"

The comparison undoes the geometry the watermark detector recovered (scale, small rotation,
mirroring) at thumbnail resolution, tries the four quarter turns, and takes the best normalised
cross-correlation over every translation (for the whole upload and for its centre, without a
possible window bar or frame), so crops, resizes and rotations of the output match
while an unrelated photo does not. It uses only the detector's public geometry and the two
pictures, never the watermark's tile or internals; when the geometry is missing or wrong the
whole-picture fits (the upload resized to the thumbnail's width or height) are tried too.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from .errors import InvalidInputError

__all__ = [
    "FINGERPRINT_SIDE",
    "MATCH_SIMILARITY",
    "MISMATCH_SIMILARITY",
    "Fingerprint",
    "FingerprintMatch",
    "compare_fingerprint",
    "make_fingerprint",
]

#: Long side of the stored thumbnail, in pixels (64 -> at most 4 KB).
FINGERPRINT_SIDE = 64
#: Best correlation at or above which the upload shows the stamped picture.
MATCH_SIMILARITY = 0.80
#: Best correlation below which it does not; between the two the check is inconclusive.
MISMATCH_SIMILARITY = 0.45

_VERSION = 1
_HEADER = struct.Struct(">BHHBB")  # version, output width, height, thumbnail width, height
#: Overlap below which a correlation says little (thumbnail pixels per side, and in all).
_MIN_OVERLAP_SIDE = 12
_MIN_OVERLAP_PIXELS = 320
#: Thumbnail standard deviation (0-255 grey levels) below which the picture is too flat to compare.
_MIN_CONTRAST = 4.0
#: Fraction of each side also trimmed off the upload, for window bars, borders and captions.
_TRIM = 0.12


@dataclass(frozen=True)
class Fingerprint:
    """A grayscale thumbnail of a stamped output.

    Attributes
    ----------
    width, height : int
        Size of the output it was made from, in pixels.
    thumbnail : (h, w) uint8 ndarray
        Luma, long side :data:`FINGERPRINT_SIDE`.
    """

    width: int
    height: int
    thumbnail: np.ndarray

    def to_bytes(self) -> bytes:
        """The stored form: a 7-byte header then the thumbnail's bytes."""
        th, tw = self.thumbnail.shape
        return _HEADER.pack(_VERSION, self.width, self.height, tw, th) + self.thumbnail.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Fingerprint":
        """Read :meth:`to_bytes` output.

        Raises
        ------
        InvalidInputError
            If `data` is not a fingerprint of this version.
        """
        data = bytes(data)
        if len(data) < _HEADER.size:
            raise InvalidInputError("A fingerprint is at least 7 bytes; this one is shorter (corrupt registry row?).")
        version, width, height, tw, th = _HEADER.unpack_from(data)
        if version != _VERSION or len(data) != _HEADER.size + tw * th or not (tw and th and width and height):
            raise InvalidInputError(
                f"Not a version-{_VERSION} image fingerprint ({len(data)} bytes, version {version}); "
                "it was written by another release or is corrupt."
            )
        thumb = np.frombuffer(data, np.uint8, count=tw * th, offset=_HEADER.size).reshape(th, tw)
        return cls(int(width), int(height), thumb)


@dataclass(frozen=True)
class FingerprintMatch:
    """How well an upload matches a fingerprint.

    Attributes
    ----------
    status : str
        ``match``, ``mismatch`` or ``inconclusive`` (too flat or too small an overlap to tell,
        or a similarity between :data:`MISMATCH_SIMILARITY` and :data:`MATCH_SIMILARITY`).
    similarity : float or None
        Best normalised cross-correlation (-1 to 1) over the geometries and translations tried.
    overlap : float
        Fraction of the stamped picture's area the upload covers at the best match (0-1).
    explanation : str
        Plain words.
    """

    status: str
    similarity: float | None
    overlap: float
    explanation: str

    def to_dict(self) -> dict:
        """JSON-ready values."""
        return {
            "status": self.status,
            "similarity": None if self.similarity is None else round(self.similarity, 3),
            "overlap": round(self.overlap, 3),
            "explanation": self.explanation,
        }


def _luma(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise InvalidInputError("image must be an (H, W[, 3|4]) uint8 array, channels last.")
    if image.ndim == 2:
        return image.astype(np.float32)
    rgb = image[:, :, :3].astype(np.float32)
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def _shrink(luma: np.ndarray, width: int, height: int) -> np.ndarray:
    # Box filter: an area average, so the thumbnail of a resized copy is the same thumbnail.
    im = Image.fromarray(luma.astype(np.float32), mode="F")
    return np.asarray(im.resize((max(1, width), max(1, height)), Image.Resampling.BOX), dtype=np.float32)


def make_fingerprint(image: np.ndarray) -> Fingerprint:
    """Fingerprint a stamped output.

    Parameters
    ----------
    image : (H, W[, 3|4]) uint8 ndarray
        The marked output, channels last; not changed.

    Returns
    -------
    Fingerprint

    Raises
    ------
    InvalidInputError
        If `image` is not a uint8 image or has a side over 65535 pixels.
    """
    luma = _luma(image)
    h, w = luma.shape
    if max(h, w) > 0xFFFF or min(h, w) < 1:
        raise InvalidInputError(f"Cannot fingerprint a {w}x{h} image; sides must be 1-65535 pixels.")
    f = FINGERPRINT_SIDE / max(h, w)
    thumb = _shrink(luma, max(1, round(w * f)), max(1, round(h * f)))
    return Fingerprint(int(w), int(h), np.clip(np.rint(thumb), 0, 255).astype(np.uint8))


def _best_ncc(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Best NCC of `a` and `b` over translations where, per axis, the shorter slides within the longer.

    Returns the correlation and the overlap in pixels.
    """
    (ha, wa), (hb, wb) = a.shape, b.shape
    ly, lx = min(ha, hb), min(wa, wb)
    if ly < _MIN_OVERLAP_SIDE or lx < _MIN_OVERLAP_SIDE or ly * lx < _MIN_OVERLAP_PIXELS:
        return -1.0, 0
    wa_ = sliding_window_view(a, (ly, lx))  # (ha-ly+1, wa-lx+1, ly, lx)
    wb_ = sliding_window_view(b, (ly, lx))
    # Per axis one of the two has a single position, so the product below is (ny, nx).
    ca = wa_ - wa_.mean(axis=(2, 3), keepdims=True)
    cb = wb_ - wb_.mean(axis=(2, 3), keepdims=True)
    na = np.sqrt((ca * ca).sum(axis=(2, 3)))
    nb = np.sqrt((cb * cb).sum(axis=(2, 3)))
    dot = np.einsum("ijyx,klyx->ijkl", ca, cb, optimize=True)
    ncc = dot / np.maximum(na[:, :, None, None] * nb[None, None, :, :], 1e-6)
    return float(ncc.max()), ly * lx


def _inner(patch: np.ndarray, degrees: float) -> np.ndarray:
    """The largest centred axis-aligned rectangle free of the corners a rotation brought in."""
    h, w = patch.shape
    t = abs(math.radians(degrees))
    if t < 1e-6:
        return patch
    sin, cos = math.sin(t), math.cos(t)
    # Inner rectangle of a w x h rectangle rotated by t (both sides shrink by the same rule).
    if min(w, h) <= 2 * sin * cos * max(w, h) or abs(sin - cos) < 1e-10:
        x = 0.5 * min(w, h)
        iw, ih = (x / sin, x / cos) if w >= h else (x / cos, x / sin)
    else:
        cos2 = cos * cos - sin * sin
        iw, ih = (w * cos - h * sin) / cos2, (h * cos - w * sin) / cos2
    iw, ih = max(1, int(iw) - 1), max(1, int(ih) - 1)
    y0, x0 = (h - ih) // 2, (w - iw) // 2
    return patch[y0 : y0 + ih, x0 : x0 + iw]


def _rotate(patch: np.ndarray, degrees: float) -> np.ndarray:
    im = Image.fromarray(patch, mode="F").rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False)
    return _inner(np.asarray(im, dtype=np.float32), degrees)


def _orientations(patch: np.ndarray, mirrored: bool | None) -> list[np.ndarray]:
    flips = (False, True) if mirrored is None else (bool(mirrored),)
    h, w = patch.shape
    ty, tx = round(h * _TRIM), round(w * _TRIM)
    # The whole upload, and its centre: a screenshot's window bar or a frame around the picture
    # would otherwise pull the correlation down.
    crops = (patch, patch[ty : h - ty, tx : w - tx]) if ty and tx else (patch,)
    out = []
    for crop in crops:
        for flip in flips:
            p = crop[:, ::-1] if flip else crop
            out.extend(np.ascontiguousarray(np.rot90(p, k)) for k in range(4))
    return out


def compare_fingerprint(
    image: np.ndarray,
    fingerprint: Fingerprint,
    *,
    scale: float | None = None,
    rotation_degrees: float | None = None,
    mirrored: bool | None = None,
    frame: str | None = None,
) -> FingerprintMatch:
    """Does `image` show (part of) the picture `fingerprint` was made from?

    Parameters
    ----------
    image : (H, W[, 3|4]) uint8 ndarray
        The upload, channels last; not changed.
    fingerprint : Fingerprint
        The stamped output's fingerprint.
    scale, rotation_degrees, mirrored : optional
        The geometry the watermark detector recovered (upload size over output size, rotation,
        mirroring); None when unknown. The sign of the rotation is not relied on.
    frame : {"canonical", "native"}, optional
        The grid the detector found the mark on (``WatermarkResult.frame``). On the canonical
        (size-normalised) grid, `scale` is relative to that grid and is converted to upload pixels
        per output pixel here.

    Returns
    -------
    FingerprintMatch

    Raises
    ------
    InvalidInputError
        If `image` is not a uint8 image.
    """
    thumb = fingerprint.thumbnail.astype(np.float32)
    th, tw = thumb.shape
    if float(thumb.std()) < _MIN_CONTRAST:
        return FingerprintMatch("inconclusive", None, 0.0, "The stamped picture is too flat to compare by its thumbnail.")
    luma = _luma(image)
    h, w = luma.shape
    f = tw / fingerprint.width  # thumbnail pixels per output pixel
    if frame == "canonical" and scale is not None and math.isfinite(scale) and scale > 0:
        # Both pictures are normalised to one long side, so a crop that shortens the long side
        # reads there as an enlargement; in pixels it is the scale times the ratio of long sides.
        scale = scale * max(h, w) / max(fingerprint.width, fingerprint.height)
    factors: list[float] = []
    if scale is not None and math.isfinite(scale) and scale > 0:
        factors.append(f / scale)
    for uw, uh in ((w, h), (h, w)):  # the whole picture, upright or turned a quarter
        factors += [tw / uw, th / uh]
    rot = 0.0 if rotation_degrees is None or not math.isfinite(rotation_degrees) else float(rotation_degrees)
    angles = (0.0,) if abs(rot) < 0.5 else (rot, -rot, 0.0)
    best, best_px = -1.0, 0
    best_at: tuple[float, float, int] | None = None
    done: list[float] = []
    for factor in factors:
        if any(abs(factor / d - 1) < 0.02 for d in done):
            continue
        done.append(factor)
        small = _shrink(luma, round(w * factor), round(h * factor))
        for angle in angles:
            patch = _rotate(small, angle) if angle else small
            for i, variant in enumerate(_orientations(patch, mirrored)):
                ncc, px = _best_ncc(thumb, variant)
                if ncc > best:
                    best, best_px, best_at = ncc, px, (factor, angle, i)
    if best_at is not None and MISMATCH_SIMILARITY <= best < MATCH_SIMILARITY:
        # Translations are whole thumbnail pixels (12-60 pixels of an output): on a texture,
        # whose thumbnail has detail at its own Nyquist frequency, half a pixel off costs much
        # of the correlation. Try the best fit again a quarter, a half and three quarters over.
        factor, angle, i = best_at
        for oy, ox in ((a, b) for a in range(4) for b in range(4) if a or b):
            dy, dx = round(oy / (4 * factor)), round(ox / (4 * factor))
            if dy >= h or dx >= w:
                continue
            sub = luma[dy:, dx:]
            small = _shrink(sub, round(sub.shape[1] * factor), round(sub.shape[0] * factor))
            patch = _rotate(small, angle) if angle else small
            variants = _orientations(patch, mirrored)
            ncc, px = _best_ncc(thumb, variants[i]) if i < len(variants) else (-1.0, 0)
            if ncc > best:
                best, best_px = ncc, px
    overlap = best_px / (th * tw)
    if best_px == 0:
        return FingerprintMatch("inconclusive", None, 0.0,
                                "The picture covers too little of the stamped picture to compare.")
    if best >= MATCH_SIMILARITY:
        status, words = "match", "shows the stamped picture"
    elif best < MISMATCH_SIMILARITY:
        status, words = "mismatch", "does not show the stamped picture"
    else:
        status, words = "inconclusive", "may or may not show the stamped picture"
    return FingerprintMatch(
        status, best, min(1.0, overlap),
        f"At thumbnail resolution the picture {words} (best correlation {best:.2f} over "
        f"{100 * min(1.0, overlap):.0f}% of its area).",
    )
