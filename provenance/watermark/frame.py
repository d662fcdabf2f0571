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

import numpy as np
from PIL import Image

from .patterns import TILE

__all__ = ["CANONICAL_SIDE", "MAX_FRAME_UPSCALE", "canonical_shape", "uses_canonical_frame", "resample"]

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


def resample(plane: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resample a float32 (H, W) plane to `shape` (rows, columns): bicubic, antialiased when shrinking.

    Pillow's resampler maps pixel centres to pixel centres and widens its kernel when it
    shrinks, so a downscale does not alias the tile's band.
    """
    if plane.shape == tuple(shape):
        return np.array(plane, dtype=np.float32)
    im = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))  # mode "F"
    return np.array(im.resize((shape[1], shape[0]), Image.Resampling.BICUBIC), dtype=np.float32)
