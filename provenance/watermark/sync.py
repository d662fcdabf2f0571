"""Geometric synchronisation: whiten, find the tile lattice, fold, and search shifts.

A crop only shifts the periodic tile cyclically; a resize or rotation changes
the lattice the tiles sit on. Detection therefore

1. whitens the luminance (subtracts a Gaussian low-pass, then divides each 8x8
   block by its local standard deviation) so image content interferes less;
2. estimates candidate lattices from peaks of the autocorrelation of the
   whitened image (JPEG's 8x8 block frequencies notched out), refined by a
   least-squares fit over many lattice points;
3. folds the whitened image modulo each candidate lattice into one
   ``TILE x TILE`` tile (summing the signal of every tile): a reshape-sum for the
   unchanged grid, and for other lattices a few thousand reads of the window's
   spectrum (the folded tile's band is the window's spectrum on the lattice's dual);
4. correlates the folded tile with the keyed pilot over every cyclic shift
   and the 8 dihedral orientations (flips, 90-degree turns) at once, by FFT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft as sfft
import scipy.ndimage as ndi

from ..settings import fft_workers_from_env
from .patterns import BAND_CYCLES_PER_PIXEL, BAND_INDEX, TILE, KeyedPattern

__all__ = [
    "MAX_WINDOW",
    "DIHEDRAL",
    "ShiftPeak",
    "whiten",
    "fold_identity",
    "spectrum",
    "fold_spectral",
    "tile_band",
    "dihedral_spectra",
    "search_shifts",
    "payload_soft_bits",
    "candidate_lattices",
    "same_lattice",
    "scored_lattices",
    "whitened_power",
]

#: Detection analyses at most this many pixels per side (a centred window).
MAX_WINDOW = 1024
#: The 8 orientations tried for every lattice.
DIHEDRAL = 8
_HALF = TILE // 2 + 1
_HIGHPASS_CUTOFF = 0.05  # cycles/pixel
_CLIP_SD = 4.0


@lru_cache(maxsize=1)
def _fft_workers() -> int:
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
    spec = sfft.rfft2(small, workers=_fft_workers())
    spec *= _lowpass_gain(n, m)
    small = sfft.irfft2(spec, s=(n, m), workers=_fft_workers()).astype(np.float32, copy=False)
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
    return sfft.rfft2(yw, workers=_fft_workers())


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
    dy = _parabolas(corr[v, (iy - 1) % TILE, ix], centre, corr[v, (iy + 1) % TILE, ix])
    dx = _parabolas(corr[v, iy, (ix - 1) % TILE], centre, corr[v, iy, (ix + 1) % TILE])
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


# ----------------------------------------------------------------------------------------------
# Lattice estimation from the autocorrelation
# ----------------------------------------------------------------------------------------------
_MIN_PERIOD = 40.0  # scale >= 0.31
_MAX_LAG = 320
_PEAKS = 24
_WHITEN_BINS = 9
_LINE_CAP = 30.0
_PROMOTE_Z = 5.0


def whitened_power(spec: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Spectrally whitened power of :func:`spectrum`, capped, with JPEG harmonics and the axes notched.

    A periodic tile is a comb of sharp lines, image content is smooth: each bin is divided by
    the mean of its 9x9 neighbourhood and capped at 30, so one strong content line weighs
    little against a comb of many. Shared by the autocorrelation and the scale sweep.
    """
    h, w = shape
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    power /= ndi.uniform_filter(power, size=_WHITEN_BINS, mode="wrap") + np.float32(1e-6 * power.mean() + 1e-12)
    np.minimum(power, np.float32(_LINE_CAP), out=power)
    power *= _acf_keep(h, w)
    return power


def _autocorrelation(spec: np.ndarray, shape: tuple[int, int], power: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Normalised autocorrelation around lag 0, shape (2R+1, 2R+1), and R, from :func:`spectrum`."""
    h, w = shape
    if power is None:
        power = whitened_power(spec, shape)
    r = int(min(_MAX_LAG, h // 2 - 1, w // 2 - 1))
    # The inverse FFT, for row lags 0..r only: `power` is real, so along the rows a real
    # forward FFT (conjugated) is the inverse; the negative row lags follow from the
    # symmetry ACF(-ly, lx) = ACF(ly, -lx). A third of the time of a full irfft2.
    rows = sfft.rfft(power, axis=0, workers=_fft_workers())[: r + 1]
    np.conjugate(rows, out=rows)
    half = sfft.irfft(rows, n=w, axis=1, workers=_fft_workers())  # row lags 0..r (times h), all column lags
    top = np.concatenate([half[:, w - r :], half[:, : r + 1]], axis=1)  # column lags -r..r
    region = np.concatenate([top[:0:-1, ::-1], top])
    return region / max(float(region[r, r]), 1e-12), r


@lru_cache(maxsize=8)
def _acf_keep(h: int, w: int) -> np.ndarray:
    """1 where the power spectrum of an (h, w) window enters the autocorrelation, else 0 (cached per shape)."""
    fy = np.abs(np.fft.fftfreq(h))[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    # Notch JPEG's 8x8 block harmonics (points where both frequencies are multiples of 1/8).
    near_y = np.abs(fy * 8 - np.round(fy * 8)) * h / 8 < 1.5
    near_x = np.abs(fx * 8 - np.round(fx * 8)) * w / 8 < 1.5
    drop = (near_y & near_x) | (np.hypot(fy, fx) < 0.03)
    # The window's borders (and JPEG block edges) put energy on the frequency axes: drop them.
    drop |= (fy * h < 2.5) | (fx * w < 2.5)
    keep = (~drop).astype(np.float32)
    keep.flags.writeable = False
    return keep


@lru_cache(maxsize=4)
def _peak_domain(r: int) -> np.ndarray:
    """Flat indices of the lags a lattice peak may sit at: upper half plane, beyond the minimum period."""
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    ok = (np.hypot(yy, xx) >= _MIN_PERIOD) & ((yy > 0) | ((yy == 0) & (xx > 0)))
    idx = np.flatnonzero(ok.ravel())
    idx.flags.writeable = False
    return idx


_NEIGHBOURS_5 = np.stack(np.mgrid[-2:3, -2:3], axis=-1).reshape(-1, 2)
_NEIGHBOURS_3 = np.stack(np.mgrid[-1:2, -1:2], axis=-1).reshape(-1, 2)  # row-major: (-1,-1), (-1,0), ...
_PEAK_SHORTLIST = 4096


def _local_peaks(region: np.ndarray, r: int) -> np.ndarray:
    """Strongest local maxima (dy, dx, value) in the upper half plane beyond the minimum period.

    A local maximum is the largest value of its 5x5 neighbourhood (cyclic). Only the
    ``_PEAK_SHORTLIST`` largest values are examined: when at least ``_PEAKS`` maxima are among
    them, no maximum outside can rank higher, so the answer is that of a full scan.
    """
    n = 2 * r + 1
    flat = region.ravel()
    domain = _peak_domain(r)
    vals = flat[domain]
    k = min(_PEAK_SHORTLIST, len(vals))
    while True:
        cand = domain[np.argpartition(vals, len(vals) - k)[len(vals) - k :]] if k < len(vals) else domain
        py, px = np.divmod(cand, n)
        neigh = region[(py[:, None] + _NEIGHBOURS_5[:, 0]) % n, (px[:, None] + _NEIGHBOURS_5[:, 1]) % n]
        cand = cand[flat[cand] >= neigh.max(axis=1)]
        if len(cand) >= _PEAKS or k == len(vals):
            break
        k = min(4 * k, len(vals))
    top = cand[np.argsort(flat[cand])[::-1][:_PEAKS]]
    py, px = np.divmod(top, n)
    return np.stack([py - r, px - r, flat[top]], axis=1)


def _refine(region: np.ndarray, r: int, bases: np.ndarray) -> np.ndarray:
    """Least-squares fit of lattice bases (P, 2, 2) (rows v1, v2) to sub-pixel ACF peaks, all at once.

    Each lattice point ``m v1 + n v2`` (``|m|, |n| <= 4``) inside the lag window moves to the
    largest value of its 3x3 neighbourhood, then to its parabolic sub-pixel peak; the basis
    is fitted to those points weighted by their ACF value (through the 2x2 normal equations).
    A basis with fewer than 3 usable points is returned unchanged.
    """
    mn = _COEFFS  # (K, 2)
    pts = np.einsum("kj,pjd->pkd", mn, bases)  # (P, K, 2)
    iy = np.round(pts[..., 0]).astype(np.intp) + r
    ix = np.round(pts[..., 1]).astype(np.intp) + r
    ok = (np.max(np.abs(pts), axis=2) <= r - 2) & (iy >= 1) & (iy < 2 * r) & (ix >= 1) & (ix < 2 * r)
    iy = np.where(ok, iy, r)  # park unusable points at the centre; their weight is 0
    ix = np.where(ok, ix, r)
    win = region[iy[..., None] + _NEIGHBOURS_3[:, 0], ix[..., None] + _NEIGHBOURS_3[:, 1]]
    j = np.argmax(win, axis=2)
    iy, ix = iy - 1 + j // 3, ix - 1 + j % 3
    ok &= (iy >= 1) & (iy < 2 * r) & (ix >= 1) & (ix < 2 * r)
    iy = np.where(ok, iy, r)
    ix = np.where(ok, ix, r)
    centre = region[iy, ix]
    dy = _parabolas(region[iy - 1, ix], centre, region[iy + 1, ix])
    dx = _parabolas(region[iy, ix - 1], centre, region[iy, ix + 1])
    t = np.stack([iy - r + dy, ix - r + dx], axis=2)  # (P, K, 2)
    weight = np.where(ok, np.clip(centre, 0, None) + 1e-6, 0.0)  # 0 for unusable points
    gram = np.einsum("pk,ki,kj->pij", weight, mn, mn)
    rhs = np.einsum("pk,ki,pkj->pij", weight, mn, t)
    fitted = bases.astype(np.float64, copy=True)
    det = gram[:, 0, 0] * gram[:, 1, 1] - gram[:, 0, 1] * gram[:, 1, 0]
    scale = gram[:, 0, 0] * gram[:, 1, 1]
    regular = (ok.sum(axis=1) >= 3) & (det > 1e-9 * scale)
    if np.any(regular):
        fitted[regular] = np.linalg.solve(gram[regular], rhs[regular])
    for p in np.flatnonzero((ok.sum(axis=1) >= 3) & ~regular):  # collinear points: lstsq's minimum-norm fit
        sw = np.sqrt(weight[p, ok[p]])[:, None]
        fitted[p] = np.linalg.lstsq(mn[ok[p]] * sw, t[p, ok[p]] * sw, rcond=None)[0]
    return fitted


def _lattice_scores(region: np.ndarray, r: int, bases: np.ndarray, noise: float) -> np.ndarray:
    """Sum of the normalised ACF over each basis's lattice points in the lag window, as a z-score.

    For a stack of bases (P, 2, 2); a point's value is the largest in its 3x3 neighbourhood.
    `noise` is ``np.std(region)``, computed once by the caller. Fewer than 4 points: -inf.
    """
    pts = np.einsum("kj,pjd->pkd", _COEFFS, bases)
    ok = np.max(np.abs(pts), axis=2) <= r - 2
    vals = _acf_at(region, r, pts.reshape(-1, 2)).reshape(ok.shape)  # -inf only where not ok
    count = ok.sum(axis=1)
    mean = np.where(ok, vals, 0.0).sum(axis=1) / np.maximum(count, 1)
    return np.where(count >= 4, mean / (noise + 1e-12) * np.sqrt(count), -np.inf)


_m, _n = np.meshgrid(np.arange(-4, 5), np.arange(-4, 5), indexing="ij")
_COEFFS = np.stack([_m.ravel(), _n.ravel()], axis=1)[(_m.ravel() != 0) | (_n.ravel() != 0)].astype(np.float64)
del _m, _n


def _parabolas(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Offset in -0.5..0.5 of the vertex of the parabola through (-1, a), (0, b), (1, c); 0 unless it is a maximum."""
    d = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.clip(0.5 * (a - c) / d, -0.5, 0.5)
    return np.where(d < 0, off, 0.0)


def _reduce(basis: np.ndarray) -> np.ndarray:
    """Gauss-Lagrange reduction to the two shortest lattice vectors."""
    # Plain floats: called on hundreds of 2x2 bases per detection, where NumPy's per-call
    # overhead was 5 ms of a 40 ms search.
    (uy, ux), (vy, vx) = basis.tolist()
    for _ in range(16):
        uu, vv = uy * uy + ux * ux, vy * vy + vx * vx
        if uu > vv:
            uy, ux, vy, vx, uu = vy, vx, uy, ux, vv
        if uu < 1.0:
            break
        mu = round((uy * vy + ux * vx) / uu)
        if mu == 0:
            break
        vy, vx = vy - mu * uy, vx - mu * ux
    return np.array([[uy, ux], [vy, vx]])


def _acf_at(region: np.ndarray, r: int, pts: np.ndarray) -> np.ndarray:
    """Largest ACF value in the 3x3 neighbourhood of each lag in `pts` (N, 2); -inf outside."""
    iy = np.round(pts[:, 0]).astype(int) + r
    ix = np.round(pts[:, 1]).astype(int) + r
    out = np.full(len(pts), -np.inf)
    ok = (iy >= 1) & (iy < 2 * r) & (ix >= 1) & (ix < 2 * r)
    if np.any(ok):
        out[ok] = region[iy[ok, None] + _NEIGHBOURS_3[:, 0], ix[ok, None] + _NEIGHBOURS_3[:, 1]].max(axis=1)
    return out


def _promote(region: np.ndarray, r: int, basis: np.ndarray, noise: float) -> np.ndarray:
    """Replace `basis` by a finer lattice while a half-period vector is itself a strong ACF peak.

    Content or a weak axis can make the autocorrelation suggest twice the true
    period; the true lattice then has points halfway between the candidate's.
    """
    for _ in range(2):
        halves = [basis[0] / 2, basis[1] / 2, (basis[0] + basis[1]) / 2]
        vals = _acf_at(region, r, np.stack(halves))
        best = int(np.argmax(vals))
        runner_up = float(np.max(np.delete(vals, best)))
        if vals[best] < _PROMOTE_Z * noise or vals[best] < 3 * max(runner_up, 0.0) or np.hypot(
            *halves[best]
        ) < _MIN_PERIOD * 0.9:
            break
        h = halves[best]
        other = basis[1] if best == 0 else basis[0]
        basis = _reduce(np.stack([h, other]))
    return basis


def candidate_lattices(
    yw: np.ndarray,
    *,
    limit: int = 5,
    spec: np.ndarray | None = None,
    prior: np.ndarray | None = None,
    power: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Candidate tile lattices of `yw`, most plausible first (see :func:`scored_lattices`)."""
    return [basis for basis, _ in scored_lattices(yw, limit=limit, spec=spec, prior=prior, power=power)]


_PRIOR_STEPS = 3


def scored_lattices(
    yw: np.ndarray,
    *,
    limit: int = 5,
    spec: np.ndarray | None = None,
    prior: np.ndarray | None = None,
    power: np.ndarray | None = None,
) -> list[tuple[np.ndarray, float]]:
    """Candidate tile lattices of `yw`, most plausible first.

    Each strong autocorrelation peak ``v`` proposes a square lattice
    ``(v, rot90(v))`` (resize and rotation keep the tile square) and a general
    one with its best partner peak (aspect changes). Candidates are refined by
    least squares over their lattice points and ranked by the autocorrelation
    summed over all those points, so a lone content peak ranks low.

    Parameters
    ----------
    yw : (H, W) float32 ndarray
        Whitened window, H and W even.
    limit : int
        Most candidates returned.
    spec : ndarray, optional
        ``spectrum(yw)``, when the caller already has it.
    prior : (2, 2) ndarray, optional
        An expected lattice (the unchanged grid): refined to the autocorrelation's nearby
        points and returned first, whatever its score. Mild perspective (a photo of a
        screen) leaves the lattice within a few percent of the grid, where content peaks
        elsewhere can outrank it.
    power : ndarray, optional
        ``whitened_power(spec, yw.shape)``, when the caller already has it.

    Returns
    -------
    list of ((2, 2) ndarray, float)
        Each basis (rows are the image offsets ``(dy, dx)`` of one tile period along
        each tile axis) with its lattice score: the autocorrelation summed over the
        lattice points, in standard deviations of the autocorrelation.
    """
    region, r = _autocorrelation(spectrum(yw) if spec is None else spec, yw.shape, power)
    if r < _MIN_PERIOD + 4:
        return []
    noise = float(np.std(region))
    first: list[tuple[np.ndarray, float]] = []
    if prior is not None:
        near = np.asarray(prior, dtype=np.float64)
        for _ in range(_PRIOR_STEPS):  # each step moves every lattice point by at most a pixel
            near = _reduce(_refine(region, r, near[None])[0])
        if _plausible(near):
            first = [(near, float(_lattice_scores(region, r, near[None], noise)[0]))]
    peaks = _local_peaks(region, r)
    if len(peaks) < 1:
        return first
    vecs, vals = peaks[:, :2], peaks[:, 2]
    # Partners of a peak: roughly orthogonal, of similar length (an aspect-changing resize).
    lengths = np.hypot(vecs[:, 0], vecs[:, 1])
    cosine = np.abs(vecs @ vecs.T) / np.outer(lengths, lengths)
    ratio = lengths[None, :] / lengths[:, None]
    partner = (cosine < 0.5) & (ratio > 0.7) & (ratio < 1.43)
    np.fill_diagonal(partner, False)
    proposals: list[np.ndarray] = []
    for i in range(min(10, len(peaks))):
        v1 = vecs[i]
        proposals.append(np.stack([v1, np.array([-v1[1], v1[0]])]))
        js = np.flatnonzero(partner[i])
        if len(js):
            proposals.append(np.stack([v1, vecs[js[np.argmax(vals[js])]]]))
    unique_proposals: list[np.ndarray] = []
    seen: set[bytes] = set()
    for proposal in proposals:
        proposal = _reduce(proposal)
        if not _plausible(proposal) or proposal.tobytes() in seen:  # an exact repeat scores the same
            continue
        seen.add(proposal.tobytes())
        unique_proposals.append(proposal)
    to_refine: list[np.ndarray] = []
    if unique_proposals:
        # A promotion needs a half-period point at least _PROMOTE_Z noise high: one vectorised
        # read of every proposal's three half-period points finds the few that may promote.
        b = np.stack(unique_proposals)
        halves = np.stack([b[:, 0] / 2, b[:, 1] / 2, (b[:, 0] + b[:, 1]) / 2], axis=1)
        may_promote = _acf_at(region, r, halves.reshape(-1, 2)).reshape(-1, 3).max(axis=1) >= _PROMOTE_Z * noise
        for proposal, check in zip(unique_proposals, may_promote.tolist()):
            promoted = _promote(region, r, proposal, noise) if check else proposal
            to_refine += [proposal] if promoted is proposal else [proposal, promoted]
    scored: list[tuple[float, np.ndarray]] = []
    if to_refine:
        refined = [b for b in map(_reduce, _refine(region, r, np.stack(to_refine))) if _plausible(b)]
        if refined:
            scored = list(zip(_lattice_scores(region, r, np.stack(refined), noise).tolist(), refined))
    scored.sort(key=lambda s: -s[0])
    if scored:
        # The pilot decides between the best lattice and its index-2 refinements
        # (the ACF of a downscaled tile can show only a checkerboard sublattice).
        top_score, top = scored[0]
        halves = (top[0] / 2, top[1] / 2, (top[0] + top[1]) / 2)
        finer = [_reduce(np.stack([h, top[1] if i == 0 else top[0]])) for i, h in enumerate(halves)]
        finer = [f for f in finer if _plausible(f)]
        finer_scored = list(zip(_lattice_scores(region, r, np.stack(finer), noise).tolist(), finer)) if finer else []
        scored = [scored[0]] + sorted(finer_scored, key=lambda s: -s[0]) + scored[1:]
    unique: list[tuple[np.ndarray, float]] = []
    for score, b in scored:
        if not any(same_lattice(b, u) for u, _ in unique):
            unique.append((b, score))
            if len(unique) == limit:
                break
    # The refined grid goes first unless a candidate already is that lattice (a candidate refined
    # from its own peaks is the more accurate of the two: a 2 degree turn is 4.5 px at 128).
    if first and not any(same_lattice(first[0][0], u) for u, _ in unique):
        unique = (first + unique)[:limit]
    return unique


def _plausible(basis: np.ndarray) -> bool:
    (uy, ux), (vy, vx) = basis.tolist()
    shortest = min(math.hypot(uy, ux), math.hypot(vy, vx))
    return shortest >= _MIN_PERIOD * 0.9 and abs(uy * vx - ux * vy) >= 0.5 * _MIN_PERIOD**2


def same_lattice(a: np.ndarray, b: np.ndarray, tolerance: float = 0.05) -> bool:
    """Whether bases `a` and `b` span the same lattice (each vector within `tolerance` of a period)."""
    # Plain floats: detection compares a few hundred pairs of 2x2 bases.
    (a11, a12), (a21, a22) = a.tolist()
    (b11, b12), (b21, b22) = b.tolist()
    det = b11 * b22 - b12 * b21
    if abs(det) < 1e-12:
        return False
    # Coordinates of a's vectors in b's basis: solve c @ b = a row by row.
    coeffs = [((a11 * b22 - a12 * b21) / det, (a12 * b11 - a11 * b12) / det),
              ((a21 * b22 - a22 * b21) / det, (a22 * b11 - a21 * b12) / det)]
    if any(abs(c - round(c)) >= tolerance for row in coeffs for c in row):
        return False
    (c11, c12), (c21, c22) = [(round(x), round(y)) for x, y in coeffs]
    return abs(abs(c11 * c22 - c12 * c21) - 1) < 0.5