"""Keyed patterns: which tile frequencies carry the pilot and the payload, with what phases.

The watermark lives in a ``TILE x TILE`` tile repeated over the image. In the
tile's 2-D real FFT, coefficients whose frequency lies in the band
``BAND_CYCLES_PER_PIXEL`` are used; a key-seeded generator picks a quarter of
them for the pilot (known phases, used for detection and synchronisation) and
spreads the coded payload over the rest. Without the key the phases are
uniformly random, so the pattern can be neither read nor forged by guessing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft as sfft

from ..errors import InvalidInputError
from .coding import CODED_BITS

__all__ = ["TILE", "BAND_CYCLES_PER_PIXEL", "BAND_INDEX", "KeyedPattern", "keyed_pattern", "normalise_key"]

TILE = 128
BAND_CYCLES_PER_PIXEL = (0.09, 0.31)
_PILOT_FRACTION = 0.25
_DOMAIN = b"provenance.watermark.v1\0"


def normalise_key(key: bytes | str) -> bytes:
    """Return the key as bytes.

    Raises
    ------
    InvalidInputError
        If the key is empty or not bytes/str.
    """
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray)):
        raise InvalidInputError(f"key must be bytes or str; got {type(key).__name__}.")
    if len(key) == 0:
        raise InvalidInputError("key is empty; pass the operator's secret watermark key (e.g. 32 random bytes).")
    return bytes(key)


@dataclass(frozen=True, eq=False)
class KeyedPattern:
    """Everything derived from one key.

    Attributes
    ----------
    pilot_index, payload_index : (N,) int ndarray
        Flat indices into the ``(TILE, TILE // 2 + 1)`` rfft2 array.
    pilot_phase, payload_phase : (N,) complex ndarray
        Unit phasors of the pattern at those coefficients.
    payload_bit : (N,) int ndarray
        Which coded bit each payload coefficient carries.
    freq_y, freq_x : (N,) int ndarrays
        Signed frequency indices of the pilot coefficients (for phase shifts).
    salt : bytes
        Key-derived CRC salt.
    """

    pilot_index: np.ndarray
    pilot_phase: np.ndarray
    payload_index: np.ndarray
    payload_phase: np.ndarray
    payload_bit: np.ndarray
    ky: np.ndarray  # (TILE, TILE//2+1) signed row frequency
    kx: np.ndarray
    salt: bytes

    def tile(self, symbols: np.ndarray) -> np.ndarray:
        """Spatial ``(TILE, TILE)`` float32 tile carrying coded `symbols` (+-1), unit RMS."""
        spectrum = np.zeros((TILE, TILE // 2 + 1), dtype=np.complex128)
        flat = spectrum.reshape(-1)
        flat[self.pilot_index] = self.pilot_phase
        flat[self.payload_index] = self.payload_phase * symbols[self.payload_bit]
        tile = sfft.irfft2(spectrum, s=(TILE, TILE))
        tile /= np.sqrt(np.mean(tile**2))
        return tile.astype(np.float32)


def _band_indices() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ky = np.fft.fftfreq(TILE, 1.0 / TILE).astype(int)[:, None] * np.ones((1, TILE // 2 + 1), int)
    kx = np.arange(TILE // 2 + 1)[None, :] * np.ones((TILE, 1), int)
    radius = np.hypot(ky, kx) / TILE
    lo, hi = BAND_CYCLES_PER_PIXEL
    usable = (radius >= lo) & (radius <= hi)
    usable &= (kx > 0) & (kx < TILE // 2)  # columns with no conjugate twin inside the half plane
    jpeg_grid = (ky % (TILE // 8) == 0) & (kx % (TILE // 8) == 0)
    usable &= ~jpeg_grid
    return np.flatnonzero(usable.ravel()), ky, kx


_BAND, _KY, _KX = _band_indices()
_BAND.flags.writeable = False
#: Flat indices into the tile's ``(TILE, TILE // 2 + 1)`` rfft2 array of every coefficient a
#: pattern uses (pilot and payload, for any key).
BAND_INDEX = _BAND


@lru_cache(maxsize=64)
def keyed_pattern(key: bytes) -> KeyedPattern:
    """Derive the pilot and payload layout for `key` (cached)."""
    digest = hashlib.sha256(_DOMAIN + key).digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(digest[:16], "big")))
    order = rng.permutation(_BAND)
    n_pilot = int(round(_PILOT_FRACTION * len(order)))
    pilot, payload = np.sort(order[:n_pilot]), order[n_pilot:]
    # Spread coded bits evenly over payload coefficients, in keyed order.
    bits = np.arange(len(payload)) % CODED_BITS
    phases = np.exp(2j * np.pi * rng.random(len(order)))
    return KeyedPattern(
        pilot_index=pilot,
        pilot_phase=phases[:n_pilot],
        payload_index=payload,
        payload_phase=phases[n_pilot:],
        payload_bit=bits,
        ky=_KY,
        kx=_KX,
        salt=digest[16:24],
    )
