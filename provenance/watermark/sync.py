"""Geometric synchronisation: whiten, find the tile lattice, fold, and search shifts.

A crop only shifts the periodic tile cyclically; a resize or rotation changes
the lattice the tiles sit on. Detection therefore

1. whitens the luminance (subtracts a Gaussian low-pass, then divides each 8x8
   block by its local standard deviation) so image content interferes less;
2. estimates candidate lattices (:mod:`.lattice` from the autocorrelation, :mod:`.scales`
   from the band's comb);
3. folds the whitened image modulo each candidate lattice into one
   ``TILE x TILE`` tile (summing the signal of every tile): a reshape-sum for the
   unchanged grid, and for other lattices a few thousand reads of the window's
   spectrum (the folded tile's band is the window's spectrum on the lattice's dual);
4. correlates the folded tile with the keyed pilot over every cyclic shift
   and the 8 dihedral orientations (flips, 90-degree turns) at once, by FFT.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft as sfft

from ..settings import fft_workers_from_env
from .patterns import BAND_CYCLES_PER_PIXEL, BAND_INDEX, TILE, KeyedPattern

__all__ = [
    "MAX_WINDOW",
    "DIHEDRAL",
    "ShiftPeak",
    "fft_workers",
    "whiten",
    "fold_identity",
    "spectrum",
    "fold_spectral",
    "tile_band",
    "dihedral_spectra",
    "search_shifts",
    "payload_soft_bits",
    "parabolic_offsets",
]

#: Detection analyses at most this many pixels per side (a centred window).
MAX_WINDOW = 1024
#: The 8 orientations tried for every lattice.
DIHEDRAL = 8
_HALF = TILE // 2 + 1
_HIGHPASS_CUTOFF = 0.05  # cycles/pixel
_CLIP_SD = 4.0


@lru_cache(maxsize=1)
def fft_workers() -> int:
    """Threads per FFT: ``PROVENANCE_FFT_WORKERS`` (default -1, every core), read on first use.

    Servers that run one worker process per core set it to 1 (``webapp/gunicorn_conf.py``
    does), or each process would start a thread per core and oversubscribe the machine.

    Raises
    ------
    ConfigError
        If the variable is set to something other than a positive whole number or -1.
    """
    return fft_workers_from_env()


def whiten(y: np.ndarray) -> np.ndarray:
    """High-pass and locally normalise luminance `y` (float32 (H, W), H and W multiples of 8).

    The high-pass is `y` minus its Gaussian low-pass (:func:`_lowpass`); each 8x8 block is
    then divided by its RMS (plus one grey level) and clipped at +-4.
    """
    y = np.asarray(y, dtype=np.float32)
    h, w = y.shape
    hp = y - _lowpass(y)
    blocks = hp.reshape(h // 8, 8, w // 8, 8)
    # RMS of each 8x8 block (row sums first: contiguous reductions are 3x faster than axis=(1, 3)).
    energy = np.square(hp).reshape(h // 8, 8, w).sum(axis=1).reshape(h // 8, w // 8, 8).sum(axis=2)
    sd = np.sqrt(energy * np.float32(1 / 64)) + np.float32(1.0)
    blocks /= sd[:, None, :, None]
    np.clip(hp, -_CLIP_SD, _CLIP_SD, out=hp)
    return hp


def _lowpass(y: np.ndarray) -> np.ndarray:
    """Gaussian low-pass of `y` (gain ``exp(-f**2 / cutoff**2)``) computed at a quarter of the resolution.

    The gain is under 0.2% beyond 0.125 cycles/pixel, so the image is averaged over 4x4
    blocks, filtered there by FFT and brought back by bilinear interpolation: 16 times
    fewer samples to transform than a full-resolution filter. It differs from that filter
    by 2-4% of the low-pass's spread on photos (texture aliased by the averaging); detection
    scores over the regression corpus move by under 0.3%.
    """
    h, w = y.shape
    small = y.reshape(h // 4, 4, w).sum(axis=1).reshape(h // 4, w // 4, 4).sum(axis=2)  # 16x the means
    n, m = small.shape
    spec = sfft.rfft2(small, workers=fft_workers())
    spec *= _lowpass_gain(n, m)
    small = sfft.irfft2(spec, s=(n, m), workers=fft_workers()).astype(np.float32, copy=False)
    # Bilinear, 4x per axis: pixel 4i + j sits at (j - 1.5) / 4 of a block from block centre i.
    up = _upsample4(small, axis=1)  # (n, 4m)
    return _upsample4(up, axis=0)  # (4n, 4m)


#: Bilinear 4x upsampling: output pixel 4i + j lies (j - 1.5) / 4 of a sample from sample i,
#: so it is sample i moved towards its neighbour (before for j < 2, after for j >= 2) by these.
_UP_STEPS = ((0, 0.375), (0, 0.125), (1, 0.125), (1, 0.375))


def _upsample4(a: np.ndarray, axis: int) -> np.ndarray:
    """Bilinear 4x upsampling of 2-D float32 `a` along `axis` (edges repeated)."""
    if axis == 1:
        return _upsample4(a.T, 0).T.copy()
    n, m = a.shape
    towards = (np.concatenate([a[:1], a[:-1]]) - a, np.concatenate([a[1:], a[-1:]]) - a)
    out = np.empty((n, 4, m), dtype=np.float32)
    for j, (side, t) in enumerate(_UP_STEPS):
        np.multiply(towards[side], np.float32(t), out=out[:, j])
        out[:, j] += a
    return out.reshape(4 * n, m)


@lru_cache(maxsize=8)
def _lowpass_gain(n: int, m: int) -> np.ndarray:
    """Gain of :func:`_lowpass` on the rfft2 grid of the (n, m) quarter-resolution image (cached)."""
    fy = np.fft.fftfreq(n).astype(np.float32)[:, None] / 4  # in cycles per full-resolution pixel
    fx = np.fft.rfftfreq(m).astype(np.float32)[None, :] / 4
    gain = np.exp(-(fy * fy + fx * fx) / np.float32(_HIGHPASS_CUTOFF**2)) / np.float32(16)  # block sums -> means
    gain.flags.writeable = False
    return gain


def spectrum(yw: np.ndarray) -> np.ndarray:
    """``rfft2`` of the whitened window: shared by the lattice search and the spectral folds."""
    return sfft.rfft2(yw, workers=fft_workers())


def fold_identity(yw: np.ndarray) -> np.ndarray:
    """Sum all TILE x TILE tiles of `yw` (zero-padded) into one tile."""
    h, w = yw.shape
    hp, wp = -(-h // TILE) * TILE, -(-w // TILE) * TILE
    if (hp, wp) != (h, w):
        padded = np.zeros((hp, wp), dtype=np.float32)
        padded[:h, :w] = yw
        yw = padded
    return yw.reshape(hp // TILE, TILE, wp // TILE, TILE).sum(axis=(0, 2))


@lru_cache(maxsize=1)
def _fold_band() -> tuple[np.ndarray, np.ndarray]:
    """Tile frequencies a spectral fold computes, in the rfft2 half plane.

    The pattern's band (:data:`~provenance.watermark.patterns.BAND_INDEX`) plus column 0,
    where turns of the pattern's coefficients land. Returns the flat indices into
    ``(TILE, TILE // 2 + 1)`` and the signed ``(ky, kx)`` of each.
    """
    ky = np.fft.fftfreq(TILE, 1.0 / TILE).astype(int)[:, None] * np.ones((1, _HALF), int)
    kx = np.arange(_HALF)[None, :] * np.ones((TILE, 1), int)
    lo, hi = BAND_CYCLES_PER_PIXEL
    radius = np.hypot(ky, kx) / TILE  # as patterns.py computes it: turns and flips keep it exactly
    jpeg_grid = (ky % (TILE // 8) == 0) & (kx % (TILE // 8) == 0)  # turns and flips keep these on the grid
    idx = np.flatnonzero(((radius >= lo) & (radius <= hi) & ~jpeg_grid).ravel())
    k = np.stack([ky.ravel()[idx], kx.ravel()[idx]], axis=1).astype(np.float64)
    idx.flags.writeable = False
    k.flags.writeable = False
    return idx, k


def fold_spectral(spec: np.ndarray, shape: tuple[int, int], inverse: np.ndarray) -> np.ndarray:
    """Fold along a lattice in the frequency domain: the folded tile's band (see :func:`tile_band`).

    Folding ``yw`` modulo the lattice and taking the tile's DFT at tile frequency ``k`` is the
    window's Fourier transform at image frequency ``inverse.T @ k / TILE`` (cycles per pixel,
    origin at the window centre). That is read off ``rfft2(yw)`` by bilinear interpolation
    between the four nearest bins, for the band's coefficients only: a few thousand reads
    instead of a pass over every pixel (under 1 ms instead of 11 at 1024x1024). Aliased
    frequencies (a downscaled tile) wrap around, as sampling does.

    Parameters
    ----------
    spec : (H, W // 2 + 1) complex ndarray
        ``rfft2`` of the whitened window (:func:`spectrum`).
    shape : (int, int)
        ``(H, W)``, both even.
    inverse : (2, 2) ndarray
        Maps image offsets ``(dy, dx)`` from the window centre to tile coordinates
        ``(uy, ux)`` in tile pixels (the inverse of ``basis.T / TILE``); the image frequency
        of tile frequency ``k`` is then ``basis^-1 k`` cycles per pixel.

    Returns
    -------
    (M,) complex ndarray
        The folded tile's DFT at the band's coefficients, in :func:`tile_band`'s order.

    Raises
    ------
    ValueError
        If a side is odd or `spec` is not the rfft2 of an (H, W) window.
    """
    h, w = shape
    if h % 2 or w % 2 or spec.shape != (h, w // 2 + 1):
        raise ValueError(f"fold_spectral needs the rfft2 of an even-sided window; got {spec.shape} for {shape}.")
    _, k = _fold_band()
    freq = k @ inverse / TILE  # (M, 2): (fy, fx) in cycles per pixel
    by = freq[:, 0] * h
    bx = freq[:, 1] * w
    y0 = np.floor(by)
    x0 = np.floor(bx)
    wy = by - y0
    wx = bx - x0
    y0 = y0.astype(np.int64)
    x0 = x0.astype(np.int64)
    iy = (y0[None, :] + np.array([[0], [0], [1], [1]])).ravel()
    ix = (x0[None, :] + np.array([[0], [1], [0], [1]])).ravel()
    weights = np.stack([(1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx])
    return (weights * _bin(spec, h, w, iy, ix).reshape(4, -1)).sum(axis=0)


def _bin(spec: np.ndarray, h: int, w: int, iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """Centred-origin DFT bins ``(iy, ix)`` (any integers: periodic, Hermitian) of a real window."""
    sign = 1 - 2 * ((iy + ix) & 1)  # origin at (h/2, w/2): (-1)**(iy + ix)
    iy = iy % h
    ix = ix % w
    mirror = ix > w // 2
    iy = np.where(mirror, (h - iy) % h, iy)
    ix = np.where(mirror, w - ix, ix)
    v = spec[iy, ix]
    return np.where(mirror, np.conj(v), v) * sign


def tile_band(tile: np.ndarray) -> np.ndarray:
    """The DFT of a ``TILE x TILE`` tile at the band's coefficients (the order of :func:`_fold_band`)."""
    idx, _ = _fold_band()
    return sfft.rfft2(tile).reshape(-1)[idx]


@lru_cache(maxsize=1)
def _dihedral_maps() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where each orientation's band coefficients come from in the tile's band.

    An orientation is ``V[n] = T[A n + b]`` (``A`` a signed permutation), so
    ``V^(k) = exp(2 pi i (A k) . b / TILE) T^(A k)``; a source with a negative column
    frequency is the conjugate of its mirror. ``A`` and ``b`` are read from the numpy
    operations themselves, so they match ``np.rot90`` and the flip exactly.

    Returns
    -------
    dest : (M,) int ndarray
        Flat rfft2 indices of the pattern band (every orientation's output).
    source : (8, M) int ndarray
        Positions in :func:`_fold_band` order.
    conj : (8, M) bool ndarray
    factor : (8, M) complex64 ndarray
        Unit phase factors.
    """
    idx, k = _fold_band()
    position = np.full(TILE * _HALF, -1)
    position[idx] = np.arange(len(idx))
    dest = BAND_INDEX
    rows, cols = np.divmod(dest, _HALF)
    kd = np.stack([np.where(rows >= TILE // 2, rows - TILE, rows), cols], axis=1).astype(np.int64)
    coords = np.stack(np.mgrid[0:TILE, 0:TILE])  # (2, TILE, TILE): each pixel's own (y, x)
    sources, conjs, factors = [], [], []
    for variant in _orientations(coords.transpose(1, 2, 0)):
        b = variant[0, 0]
        a = np.stack([variant[1, 0] - b, variant[0, 1] - b], axis=1)  # columns: images of (1, 0), (0, 1)
        a = (a + 1) % TILE - 1  # signed unit steps
        ks = kd @ a.T  # rows: (A k) for each k
        phase = np.exp(2j * np.pi * (ks @ b) / TILE)
        conj = ks[:, 1] < 0  # the half plane holds column 0 for both signs of the row frequency
        ks = np.where(conj[:, None], -ks, ks)
        src = position[(ks[:, 0] % TILE) * _HALF + ks[:, 1]]  # all in the band: tests/test_watermark.py checks
        sources.append(src)
        conjs.append(conj)
        factors.append(phase.astype(np.complex64))
    out = (dest, np.stack(sources), np.stack(conjs), np.stack(factors))
    for arr in out:
        arr.flags.writeable = False
    return out


def _orientations(tile: np.ndarray) -> list[np.ndarray]:
    """The 8 dihedral transforms of `tile` (first two axes), in :data:`DIHEDRAL` order."""
    mirrored = tile[:, ::-1]
    return [np.rot90(tile, k) for k in range(4)] + [np.rot90(mirrored, k) for k in range(4)]


def dihedral_spectra(band: np.ndarray) -> np.ndarray:
    """Phase-only rfft2 spectra of the 8 dihedral transforms of a folded tile, shape (8, TILE, TILE//2+1).

    Only the pattern's band is filled (the rest is 0): each orientation's coefficients are
    the tile's own, permuted, conjugated where mirrored and turned by a phase factor.

    Parameters
    ----------
    band : (M,) complex ndarray
        :func:`tile_band` of the tile, or :func:`fold_spectral`.
    """
    dest, source, conj, factor = _dihedral_maps()
    if band.shape != (len(_fold_band()[0]),):
        raise ValueError(f"dihedral_spectra takes a tile's band (tile_band or fold_spectral); got shape {band.shape}.")
    unit = (band / np.maximum(np.abs(band), 1e-12)).astype(np.complex64)
    values = unit[source]
    values = np.where(conj, np.conj(values), values) * factor
    out = np.zeros((DIHEDRAL, TILE * _HALF), dtype=np.complex64)
    out[:, dest] = values
    return out.reshape(DIHEDRAL, TILE, _HALF)


@dataclass(frozen=True)
class ShiftPeak:
    """The best pilot correlation for one orientation."""

    score: float  # in standard deviations under "no watermark"
    variant: int  # dihedral index 0..7
    shift: tuple[float, float]  # sub-pixel (ty, tx)


def search_shifts(spectra: np.ndarray, pattern: KeyedPattern) -> list[ShiftPeak]:
    """Correlate each orientation's spectrum with the pilot over all cyclic shifts.

    Returns one :class:`ShiftPeak` per orientation, best first. Under "no
    watermark" each of the ``TILE**2`` scores per orientation is close to a
    standard normal variable (phase-only spectra, independent phases).
    """
    n = len(pattern.pilot_index)
    flat = spectra.reshape(DIHEDRAL, -1)
    z = np.zeros((DIHEDRAL, TILE * _HALF), dtype=np.complex64)
    z[:, pattern.pilot_index] = flat[:, pattern.pilot_index] * np.conj(pattern.pilot_phase)
    # The pilot avoids columns 0 and TILE/2, so the real part of the one-sided inverse FFT is
    # half the Hermitian (real) inverse: one real transform instead of a complex one.
    corr = sfft.irfft2(z.reshape(DIHEDRAL, TILE, _HALF), s=(TILE, TILE), axes=(-2, -1))
    corr *= np.float32(0.5 * TILE * TILE / np.sqrt(n / 2.0))
    # Every orientation's peak and its parabolic sub-pixel offsets (cyclic), in one pass.
    best = corr.reshape(DIHEDRAL, -1).argmax(axis=1)
    iy, ix = np.divmod(best, TILE)
    v = np.arange(DIHEDRAL)
    centre = corr[v, iy, ix]
    dy = parabolic_offsets(corr[v, (iy - 1) % TILE, ix], centre, corr[v, (iy + 1) % TILE, ix])
    dx = parabolic_offsets(corr[v, iy, (ix - 1) % TILE], centre, corr[v, iy, (ix + 1) % TILE])
    peaks = [ShiftPeak(float(centre[i]), i, (float(iy[i] + dy[i]), float(ix[i] + dx[i]))) for i in range(DIHEDRAL)]
    peaks.sort(key=lambda p: -p.score)
    return peaks


def payload_soft_bits(spectra: np.ndarray, peak: ShiftPeak, pattern: KeyedPattern, n_bits: int) -> np.ndarray:
    """Soft values of the coded bits (positive = bit 0) at a peak's orientation and shift."""
    idx = pattern.payload_index
    ky = pattern.ky.reshape(-1)[idx]
    kx = pattern.kx.reshape(-1)[idx]
    ty, tx = peak.shift
    align = np.exp(2j * np.pi * (ky * ty + kx * tx) / TILE)
    values = np.real(spectra[peak.variant].reshape(-1)[idx] * align * np.conj(pattern.payload_phase))
    return np.bincount(pattern.payload_bit, weights=values, minlength=n_bits)


def parabolic_offsets(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Offset in -0.5..0.5 of the vertex of the parabola through (-1, a), (0, b), (1, c); 0 unless it is a maximum."""
    d = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.clip(0.5 * (a - c) / d, -0.5, 0.5)
    return np.where(d < 0, off, 0.0)
