"""The size-normalised frame the watermark lives in (scheme v2).

The keyed tile is laid out on a *canonical grid*: the image resampled so that its
long side is :data:`CANONICAL_SIDE` pixels. Embedding resamples the tiled pattern from
that grid to the image's own size; detection resamples the received image to the
canonical grid before looking. A whole-image resize (a platform fitting a 4096 px
output to 1080 px, a 2.5x upscale) therefore lands on the same grid, so only crops and
rotations need the lattice search.

Images whose canonical grid would be too small for two tiles a side (banners beyond
2.5:1), or much larger than the image itself (long side under
``CANONICAL_SIDE / MAX_FRAME_UPSCALE``), use their own pixel grid instead (the
*native* frame, as scheme v1 did).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from PIL import Image

from .patterns import TILE

__all__ = [
    "CANONICAL_SIDE",
    "MAX_FRAME_UPSCALE",
    "canonical_luma",
    "canonical_shape",
    "uses_canonical_frame",
    "resample",
    "resampling_matrix",
]

#: Long side of the canonical grid, in pixels.
CANONICAL_SIDE = 640
#: How much larger than the image its canonical grid may be: the tile's band, resampled
#: down to the image, moves up by this factor (0.31 -> 0.39 cycles/pixel at 1.25).
MAX_FRAME_UPSCALE = 1.25


def canonical_shape(height: int, width: int, side: int | None = None) -> tuple[int, int]:
    """(rows, columns) of the canonical grid of a `height` x `width` image (long side `side`)."""
    side = CANONICAL_SIDE if side is None else side
    scale = side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def uses_canonical_frame(height: int, width: int) -> bool:
    """True when an image of this size is marked on the canonical grid (else on its own pixels)."""
    if CANONICAL_SIDE / max(height, width) > MAX_FRAME_UPSCALE:
        return False
    return min(canonical_shape(height, width)) >= 2 * TILE


def resample(plane: np.ndarray, shape: tuple[int, int], *, fast: bool = False) -> np.ndarray:
    """Resample a float32 (H, W) plane to `shape` (rows, columns), antialiased when shrinking.

    Pillow's resampler maps pixel centres to pixel centres and widens its kernel when it
    shrinks, so a downscale does not alias the tile's band. Bicubic by default (embedding:
    the pattern itself is resampled); ``fast=True`` is bilinear, for detection, where the
    band sits well below the new Nyquist frequency and half the time matters more.
    """
    if plane.shape == tuple(shape):
        return np.array(plane, dtype=np.float32)
    im = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))  # mode "F"
    method = Image.Resampling.BILINEAR if fast else Image.Resampling.BICUBIC
    return np.array(im.resize((shape[1], shape[0]), method), dtype=np.float32)


def canonical_luma(image: np.ndarray, shape: tuple[int, int], *, fast: bool = True) -> np.ndarray:
    """BT.601 luminance of a uint8 image resampled to `shape` (antialiased when shrinking), float32.

    Done in Pillow in 8 bits (its luma conversion has the same weights as
    :func:`~provenance.watermark.masking.luminance`): under half the time of a float luminance
    resampled in mode "F", and no full-size float plane. The rounding adds a third of a grey
    level of white noise: pilot scores stay within 1% (benchmarks/RESULTS.md, "Detection cost"),
    and the embedder's mask tells texture levels far apart.

    Parameters
    ----------
    image : (H, W), (H, W, 3) or (H, W, 4) uint8 ndarray
        Alpha, if any, is ignored.
    shape : (int, int)
        (rows, columns) of the result.
    fast : bool
        Bilinear (detection) rather than bicubic (the embedder's mask).
    """
    im = Image.fromarray(np.ascontiguousarray(image[..., :3] if image.ndim == 3 else image))
    if im.mode != "L":
        im = im.convert("L")
    if im.size != (shape[1], shape[0]):
        if fast:
            im = im.resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
        else:
            im = im.resize((shape[1], shape[0]), Image.Resampling.BICUBIC, reducing_gap=3.0)
    return np.asarray(im, dtype=np.float32)


@lru_cache(maxsize=16)
def resampling_matrix(n_out: int, n_in: int) -> sp.csr_matrix:
    """Sparse (n_out, n_in) bicubic resampling matrix along one axis (Pillow's kernel, a = -0.5).

    Pixel centres map to pixel centres; when shrinking the kernel widens by the ratio
    (antialiased), and edges repeat. ``A @ x`` resamples a column `x`; two of these resample
    a plane row stripe by row stripe, so a large output never needs a full-size float plane.
    """
    ratio = n_in / n_out
    support = 2.0 * max(ratio, 1.0)
    centre = (np.arange(n_out) + 0.5) * ratio
    first = np.floor(centre - support).astype(np.int64)
    taps = int(np.ceil(2 * support)) + 1
    j = first[:, None] + np.arange(taps)[None, :]
    x = (j + 0.5 - centre[:, None]) / max(ratio, 1.0)
    ax = np.abs(x)
    a = -0.5
    w = np.where(ax <= 1, (a + 2) * ax**3 - (a + 3) * ax**2 + 1, np.where(ax < 2, a * (ax**3 - 5 * ax**2 + 8 * ax - 4), 0.0))
    w /= w.sum(axis=1, keepdims=True)
    rows = np.repeat(np.arange(n_out), taps)
    m = sp.csr_matrix((w.ravel().astype(np.float32), (rows, np.clip(j, 0, n_in - 1).ravel())), shape=(n_out, n_in))
    m.sum_duplicates()
    return m
