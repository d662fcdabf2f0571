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
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft as sfft

from .coding import CODED_BITS
from .patterns import BAND_CYCLES_PER_PIXEL

__all__ = ["FIELD_BLOCK", "KeyedField", "keyed_field"]

#: Side of the canonical-grid blocks that each carry one coded bit.
FIELD_BLOCK = 8
_DOMAIN = b"provenance.watermark.field.v1\0"


@dataclass(frozen=True, eq=False)
class KeyedField:
    """Layer B's field and bit layout for one key and one canonical shape.

    Attributes
    ----------
    values : (hc, wc) float32 ndarray
        The band-limited field, unit RMS.
    bits : (hc, wc) int16 ndarray
        The coded bit each pixel carries (constant over each 8x8 block).
    """

    values: np.ndarray
    bits: np.ndarray

    def pattern(self, symbols: np.ndarray) -> np.ndarray:
        """The field carrying coded `symbols` (+-1, ``CODED_BITS`` of them): float32 (hc, wc), unit RMS."""
        return self.values * np.asarray(symbols, dtype=np.float32)[self.bits]

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
        """
        y0, x0 = origin
        h, w = whitened.shape
        values = self.values[y0 : y0 + h, x0 : x0 + w]
        bits = self.bits[y0 : y0 + h, x0 : x0 + w]
        return np.bincount(bits.ravel(), weights=(whitened * values).ravel(), minlength=CODED_BITS)


@lru_cache(maxsize=16)
def keyed_field(key: bytes, shape: tuple[int, int]) -> KeyedField:
    """Derive layer B's field and block-to-bit layout for `key` on a canonical grid of `shape` (cached)."""
    hc, wc = shape
    digest = hashlib.sha256(_DOMAIN + key + b"\0" + f"{hc}x{wc}".encode()).digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(digest[:16], "big")))
    noise = rng.standard_normal((hc, wc), dtype=np.float32)
    fy = np.fft.fftfreq(hc).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(wc).astype(np.float32)[None, :]
    radius = np.hypot(fy, fx)
    lo, hi = BAND_CYCLES_PER_PIXEL
    values = sfft.irfft2(sfft.rfft2(noise) * ((radius >= lo) & (radius <= hi)), s=(hc, wc)).astype(np.float32)
    values /= np.float32(np.sqrt(np.mean(np.square(values, dtype=np.float64))))
    # Every coded bit gets the same number of blocks (to within one), spread in keyed order.
    hb, wb = -(-hc // FIELD_BLOCK), -(-wc // FIELD_BLOCK)
    block_bits = (rng.permutation(hb * wb) % CODED_BITS).astype(np.int16).reshape(hb, wb)
    bits = np.repeat(np.repeat(block_bits, FIELD_BLOCK, axis=0), FIELD_BLOCK, axis=1)[:hc, :wc]
    values.flags.writeable = False
    bits = np.ascontiguousarray(bits)
    bits.flags.writeable = False
    return KeyedField(values=values, bits=bits)
