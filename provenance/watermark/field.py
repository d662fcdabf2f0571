"""Layer B: a keyed, non-periodic field on the canonical grid carrying the coded payload.

Layer A (:mod:`.patterns`) repeats one tile, so averaging an image modulo the tile estimates it
without the key (fold-and-subtract). Layer B cannot be folded: a band-limited random field over
the whole canonical grid, derived from the key, each 8x8 block of the grid carrying one coded
bit (the field's sign flipped by the bit). It sits at the grid's own origin, so it is read at
the unchanged canonical grid with no search: whole-image resizes and re-encodes keep it, crops
and rotations lose it (layer A covers those).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.fft as sfft
import scipy.sparse as sp

from .coding import CODED_BITS
from .frame import CANONICAL_SIDE
from .patterns import BAND_CYCLES_PER_PIXEL

__all__ = ["FIELD_BLOCK", "FIELD_SIDE", "KeyedField", "keyed_field"]

#: Side of the canonical-grid blocks that each carry one coded bit.
FIELD_BLOCK = 8
#: Side of the square field; a canonical grid (long side ``CANONICAL_SIDE``) uses its corner.
FIELD_SIDE = CANONICAL_SIDE
_DOMAIN = b"provenance.watermark.field.v1\0"


@dataclass(frozen=True, eq=False)
class KeyedField:
    """Layer B's field and bit layout for one key, on a ``FIELD_SIDE`` square.

    A canonical grid of any shape uses the square's top-left corner, so one field serves every
    aspect ratio.

    Attributes
    ----------
    values : (FIELD_SIDE, FIELD_SIDE) float32 ndarray
        The band-limited field, unit RMS.
    bits : (FIELD_SIDE, FIELD_SIDE) int16 ndarray
        The coded bit each pixel carries (constant over each 8x8 block).
    """

    values: np.ndarray
    bits: np.ndarray
    _weights: sp.csr_matrix = field(repr=False)

    def pattern(self, symbols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The field carrying coded `symbols` (+-1, ``CODED_BITS`` of them) on a canonical grid of `shape`.

        Returns
        -------
        (hc, wc) float32 ndarray
            About unit RMS.

        Raises
        ------
        ValueError
            If `shape` does not fit in the field's square.
        """
        hc, wc = _check_shape(shape)
        return self.values[:hc, :wc] * np.asarray(symbols, dtype=np.float32)[self.bits[:hc, :wc]]

    def soft_bits(self, whitened: np.ndarray, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
        """Per-coded-bit correlation of a whitened canonical plane with the field (positive = bit 0).

        Parameters
        ----------
        whitened : (h, w) float32 ndarray
            Whitened luminance of the region of the canonical grid that starts at `origin`.
        origin : (int, int)
            Row and column of `whitened`'s first pixel on the grid.

        Returns
        -------
        (CODED_BITS,) float64 ndarray

        Raises
        ------
        ValueError
            If the region does not fit in the field's square.
        """
        y0, x0 = origin
        h, w = whitened.shape
        _check_shape((y0 + h, x0 + w))
        # One sparse product over the square (the region zero-padded into it): a tenth of the
        # time of a weighted bincount over the region's pixels.
        plane = np.zeros((FIELD_SIDE, FIELD_SIDE), dtype=np.float32)
        plane[y0 : y0 + h, x0 : x0 + w] = whitened
        return (self._weights @ plane.ravel()).astype(np.float64)


def _check_shape(shape: tuple[int, int]) -> tuple[int, int]:
    hc, wc = shape
    if not (0 < hc <= FIELD_SIDE and 0 < wc <= FIELD_SIDE):
        raise ValueError(f"shape must fit in {FIELD_SIDE}x{FIELD_SIDE} (the canonical grid); got {shape}.")
    return hc, wc


@lru_cache(maxsize=8)
def keyed_field(key: bytes) -> KeyedField:
    """Derive layer B's field and block-to-bit layout for `key` (cached)."""
    side = FIELD_SIDE
    digest = hashlib.sha256(_DOMAIN + key).digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(digest[:16], "big")))
    noise = rng.standard_normal((side, side), dtype=np.float32)
    fy = np.fft.fftfreq(side).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(side).astype(np.float32)[None, :]
    radius = np.hypot(fy, fx)
    lo, hi = BAND_CYCLES_PER_PIXEL
    band = sfft.rfft2(noise) * ((radius >= lo) & (radius <= hi))
    values = sfft.irfft2(band, s=(side, side)).astype(np.float32)
    values /= np.float32(np.sqrt(np.mean(np.square(values, dtype=np.float64))))
    # The detector correlates with the field weighted by frequency: whitened image content still
    # has more power at the band's low end, and this tilt is free (it is in the template).
    template = sfft.irfft2(band * radius, s=(side, side)).astype(np.float32)
    # Every coded bit gets the same number of blocks (to within one), spread in keyed order.
    blocks = side // FIELD_BLOCK
    block_bits = (rng.permutation(blocks * blocks) % CODED_BITS).astype(np.int16).reshape(blocks, blocks)
    bits = np.ascontiguousarray(np.repeat(np.repeat(block_bits, FIELD_BLOCK, axis=0), FIELD_BLOCK, axis=1))
    weights = sp.csr_matrix(
        (template.ravel(), (bits.ravel().astype(np.int64), np.arange(bits.size))), shape=(CODED_BITS, bits.size)
    )
    values.flags.writeable = False
    bits.flags.writeable = False
    return KeyedField(values=values, bits=bits, _weights=weights)


assert FIELD_SIDE % FIELD_BLOCK == 0
