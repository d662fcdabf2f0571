"""Scale sweep: lattice proposals for cropped copies, read off the band's comb in the power spectrum.

A crop changes the received image's long side, so on the canonical grid the tile comes back
axis-aligned but at an unknown scale ``s`` (1/0.71 for a crop to 71% of each side, 1.5 for a
3:2 output cropped to a square). The mark then puts a comb of lines in the power spectrum at
``k / (TILE * s)`` cycles per pixel for every tile frequency ``k`` of the band. Summing the
whitened power (:func:`~provenance.watermark.lattice.whitened_power`) over exactly those points
is a matched filter for the comb that only counts the band's frequencies, where the mark
lives; the autocorrelation sums every frequency, and on textures and periodic content its
strongest peaks are the content's own (docs/watermark.md, "Synchronisation").

The sweep runs over a log-spaced range of scales with the band's inner ring (coarse: its
points move least with the scale), keeps the strongest local maxima and twice their scale (a
comb at ``s / 2`` meets every other line of the comb at ``s``), and refines each with every
band point. It proposes lattices only: the pilot correlation decides, as for every geometry.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .patterns import BAND_INDEX, TILE

__all__ = [
    "SCALE_RANGE",
    "TURN_RANGE",
    "STRETCH_RANGE",
    "band_points",
    "comb_strength",
    "scale_candidates",
    "turn_candidates",
    "stretch_candidates",
    "middle_bands",
]

#: Scales swept (tile size on the canonical grid over ``TILE``): crops down to 40% of a side,
#: canvases extended to twice the content.
SCALE_RANGE = (0.5, 2.5)
_COARSE_STEP = 0.004  # in log scale: an inner-ring point moves at most ~0.4 bin between steps
_COARSE_RING = 20.0  # tile frequencies of the coarse sweep's points (the band starts at 11.5)
_FINE_SPAN = 0.003  # the coarse step's half, plus a margin
_FINE_STEP = 0.0005  # the band's outer points (radius 40) move about 0.15 bin per step at s = 1.4
_COARSE_PEAKS = 3


@lru_cache(maxsize=1)
def band_points() -> tuple[np.ndarray, np.ndarray]:
    """Signed tile frequencies ``(ky, kx)`` of the band (all of it, and the coarse ring's)."""
    rows, cols = np.divmod(BAND_INDEX, TILE // 2 + 1)
    k = np.stack([np.where(rows >= TILE // 2, rows - TILE, rows), cols], axis=1).astype(np.float64)
    k.flags.writeable = False
    return k, _ring(k, 0.0, _COARSE_RING, 1)


def _ring(k: np.ndarray, lo: float, hi: float, stride: int) -> np.ndarray:
    """Every `stride`-th band point whose tile-frequency radius is in [lo, hi] (read-only)."""
    radius = np.hypot(k[:, 0], k[:, 1])
    ring = k[(radius >= lo) & (radius <= hi)][::stride]
    ring.flags.writeable = False
    return ring


def _standard_errors(strength: np.ndarray, power: np.ndarray, points: int) -> np.ndarray:
    """Mean power over `points` comb points, as standard errors above the power's mean."""
    return (strength - float(power.mean())) / (float(power.std()) + 1e-12) * np.sqrt(points)


@lru_cache(maxsize=1)
def _coarse_scales() -> np.ndarray:
    lo, hi = SCALE_RANGE
    scales = np.exp(np.arange(np.log(lo), np.log(hi), _COARSE_STEP))
    scales.flags.writeable = False
    return scales


def _comb_index(shape: tuple[int, int], scales: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Flat indices into the rfft2 half plane of the comb points ``k / (TILE * s)`` (nearest bin), (S, M)."""
    h, w = shape
    inv = (1.0 / (TILE * np.asarray(scales, dtype=np.float64))).astype(np.float32)
    iy = np.rint(np.multiply.outer(inv, (k[:, 0] * h).astype(np.float32))).astype(np.int32)  # (S, M)
    ix = np.rint(np.multiply.outer(inv, (k[:, 1] * w).astype(np.float32))).astype(np.int32)
    return _flat_bins(iy, ix, shape)


def _flat_bins(iy: np.ndarray, ix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Flat rfft2 half-plane indices of signed int32 bins ``(iy, ix)`` of an (H, W) window (changes them in place).

    Beyond the Nyquist frequency a comb aliases, as sampling does; the half plane holds the
    other half as conjugates at ``(-fy, -fx)``.
    """
    h, w = shape
    if ix.min() < 0 or ix.max() > w // 2:
        ix %= w
        mirror = ix > w // 2
        np.negative(iy, out=iy, where=mirror)
        np.subtract(w, ix, out=ix, where=mirror)
    iy %= h
    iy *= w // 2 + 1
    iy += ix
    return iy


@lru_cache(maxsize=12)
def _coarse_index(shape: tuple[int, int]) -> np.ndarray:
    """:func:`_comb_index` of the coarse sweep for one window shape (cached: most traffic has a few shapes)."""
    index = _comb_index(shape, _coarse_scales(), band_points()[1])
    index.flags.writeable = False
    return index


def comb_strength(power: np.ndarray, shape: tuple[int, int], bases: list[np.ndarray]) -> np.ndarray:
    """How strongly the whitened power shows each lattice's comb, in standard errors above its mean.

    The mean whitened power over the band's comb points of each basis (rows the period
    vectors, as ``sync.fold_spectral`` takes them), nearest bin, less the power's mean, over
    the standard error of a mean of that many bins. Keyless: it sees that *a* tile of this
    band repeats on the lattice, not whose. About 0 for a lattice the image does not repeat on.
    """
    k, _ = band_points()
    h, w = shape
    if not bases:
        return np.zeros(0)
    inverse = np.linalg.inv(np.stack(bases).transpose(0, 2, 1) / TILE)  # (P, 2, 2)
    f = np.matmul(k[None], inverse / TILE)  # (P, M, 2) cycles per pixel
    iy = np.rint(f[..., 0] * h).astype(np.int32)
    ix = np.rint(f[..., 1] * w).astype(np.int32)
    return _standard_errors(_comb_means(power, _flat_bins(iy, ix, shape)), power, len(k))


def _comb_means(power: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Mean whitened power over each row of comb points."""
    return power.ravel().take(index).mean(axis=-1)


def scale_candidates(power: np.ndarray, shape: tuple[int, int], *, limit: int = 2) -> list[tuple[np.ndarray, float]]:
    """Axis-aligned square lattices whose comb the whitened power shows most, best first.

    Parameters
    ----------
    power : (H, W // 2 + 1) float32 ndarray
        :func:`~provenance.watermark.lattice.whitened_power` of the window.
    shape : (int, int)
        The window's ``(H, W)``.
    limit : int
        Most lattices returned.

    Returns
    -------
    list of ((2, 2) ndarray, float)
        Each basis (``TILE * s`` times the identity) with its comb strength: the mean whitened
        power over the band's comb points, in standard deviations above the power's mean.
    """
    k, _ = band_points()
    scales = _coarse_scales()
    coarse = _comb_means(power, _coarse_index(tuple(shape)))
    peaks = np.flatnonzero((coarse[1:-1] >= coarse[:-2]) & (coarse[1:-1] > coarse[2:])) + 1
    peaks = peaks[np.argsort(-coarse[peaks])[:_COARSE_PEAKS]]
    seeds = np.concatenate([scales[peaks], 2 * scales[peaks]])
    seeds = seeds[seeds <= SCALE_RANGE[1]]
    if not len(seeds):
        return []
    offsets = np.exp(np.arange(-_FINE_SPAN, _FINE_SPAN + _FINE_STEP / 2, _FINE_STEP))
    fine_scales = np.multiply.outer(seeds, offsets)  # (seeds, offsets)
    fine = _comb_means(power, _comb_index(shape, fine_scales.ravel(), k)).reshape(fine_scales.shape)
    best = np.argmax(fine, axis=1)
    found = fine_scales[np.arange(len(seeds)), best]
    z = _standard_errors(fine[np.arange(len(seeds)), best], power, len(k))
    out: list[tuple[np.ndarray, float]] = []
    for i in np.argsort(-z):
        if any(abs(np.log(found[i] / np.abs(b[0, 0]) * TILE)) < 0.01 for b, _ in out):
            continue
        out.append((np.eye(2) * TILE * found[i], float(z[i])))
        if len(out) == limit:
            break
    return out


# ----------------------------------------------------------------------------------------------
# Turned lattices: a photo straightened by a few degrees and cropped to fill its frame
# ----------------------------------------------------------------------------------------------
#: Turns swept (degrees, either way) and the scales that go with them: straightening by up to 6
#: degrees and cropping to fill enlarges the tile by up to about 20%.
TURN_RANGE = (0.8, 6.2)
_TURN_SCALES = (0.97, 1.22)
# A turned comb shows only in the band's outer rings (content's residual power is strongest at
# low frequencies: on gravel the comb's mean power is 1.0x the average at tile radius 11-16 and
# 2.0x at 35-40), where a point moves 5 * 40 bins per radian of turn: the grid is fine.
_TURN_RING = (30.0, 40.5)
_TURN_STRIDE = 6
_TURN_SCALE_STEP = 0.0035  # log scale: an outer point moves at most ~0.35 bin between steps
_TURN_STEP = 0.2  # degrees: the same
# Coarse peaks refined (each ~0.1 ms). The coarse sweep reads every sixth outer point, so on a
# texture the tile's peak can rank third to sixth there and still refine to the strongest: grass at
# 2048 px turned 2 degrees ranks it third (refined comb 8.2, the first two under 2.1).
_TURN_SEEDS = 6


@lru_cache(maxsize=1)
def _turn_grid() -> tuple[np.ndarray, np.ndarray]:
    lo, hi = _TURN_SCALES
    scales = np.exp(np.arange(np.log(lo), np.log(hi), _TURN_SCALE_STEP))
    turns = np.arange(TURN_RANGE[0], TURN_RANGE[1] + 1e-9, _TURN_STEP)
    turns = np.concatenate([-turns[::-1], turns])
    s, t = np.repeat(scales, len(turns)), np.tile(turns, len(scales))
    for a in (s, t):
        a.flags.writeable = False
    return s, t


def _turned_index(shape: tuple[int, int], scales: np.ndarray, turns: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Flat rfft2 indices of the comb points of lattices ``TILE * s * R(theta)``, (P, M), nearest bin."""
    h, w = shape
    theta = np.radians(np.asarray(turns, dtype=np.float64))
    inv = 1.0 / (TILE * np.asarray(scales, dtype=np.float64))
    c, sn = (np.cos(theta) * inv).astype(np.float32), (np.sin(theta) * inv).astype(np.float32)
    ky, kx = k[:, 0].astype(np.float32), k[:, 1].astype(np.float32)
    # k R / (TILE s) with R = [[cos, -sin], [sin, cos]], as sync.fold_spectral maps it.
    iy = np.rint((np.multiply.outer(c, ky) + np.multiply.outer(sn, kx)) * np.float32(h)).astype(np.int32)
    ix = np.rint((np.multiply.outer(c, kx) - np.multiply.outer(sn, ky)) * np.float32(w)).astype(np.int32)
    return _flat_bins(iy, ix, shape)


@lru_cache(maxsize=1)
def _turn_points() -> np.ndarray:
    return _ring(band_points()[0], *_TURN_RING, _TURN_STRIDE)


@lru_cache(maxsize=12)
def _turn_index(shape: tuple[int, int]) -> np.ndarray:
    # int32: 2.6 MB a shape (take() converts it at about 0.1 ms a call); 15-25 ms to make. Twelve
    # shapes cover the common aspect ratios in both orientations; a rarer shape pays that once.
    s, t = _turn_grid()
    index = _turned_index(shape, s, t, _turn_points())
    index.flags.writeable = False
    return index


def turn_candidates(power: np.ndarray, shape: tuple[int, int], *, limit: int = 2) -> list[tuple[np.ndarray, float]]:
    """Square lattices turned by 0.8-6.2 degrees (and enlarged up to 22%) whose comb shows most.

    A coarse sweep over (scale, turn) with every sixth point of the band's outer rings, the
    six strongest peaks (each hiding its neighbours), then scale, turn and scale refined with every other
    band point. Same parameters and result as :func:`scale_candidates`; the bases are
    ``TILE * s * R(theta)``.
    """
    shape = (int(shape[0]), int(shape[1]))
    k, _ = band_points()
    grid_s, grid_t = _turn_grid()
    values = _comb_means(power, _turn_index(shape))
    log_s = np.log(grid_s)
    alive = np.ones(len(values), dtype=bool)
    seeds = []
    for _ in range(max(limit + 1, _TURN_SEEDS)):
        i = int(np.argmax(np.where(alive, values, -np.inf)))
        if not alive[i]:
            break
        seeds.append(i)
        alive &= ~((np.abs(log_s - log_s[i]) < 0.02) & (np.abs(grid_t - grid_t[i]) < 1.0))
    s, t = grid_s[seeds].copy(), grid_t[seeds].copy()
    scale_steps = np.exp(np.arange(-0.002, 0.00201, 0.0005))
    turn_steps = np.arange(-0.1, 0.1001, 0.025)
    rows = np.arange(len(s))
    strength = np.zeros(len(s))
    for axis in ("scale", "turn", "scale"):
        if axis == "scale":
            cs, ct = np.multiply.outer(s, scale_steps), np.repeat(t[:, None], len(scale_steps), axis=1)
        else:
            cs, ct = np.repeat(s[:, None], len(turn_steps), axis=1), np.add.outer(t, turn_steps)
        fine = _comb_means(power, _turned_index(shape, cs.ravel(), ct.ravel(), k[::2])).reshape(cs.shape)
        best = np.argmax(fine, axis=1)
        s, t, strength = cs[rows, best], ct[rows, best], fine[rows, best]
    z = _standard_errors(strength, power, len(k[::2]))
    out = []
    for i in np.argsort(-z)[:limit]:
        theta = np.radians(t[i])
        rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        out.append((TILE * s[i] * rotation, float(z[i])))
    return out


# ----------------------------------------------------------------------------------------------
# Stretched lattices: the middle band of a copy under perspective (a photo of a screen)
# ----------------------------------------------------------------------------------------------
#: Row and column scales swept (each on its own) around the grid: a 3% keystone leaves the middle
#: half of the picture about 1.5% narrower than the grid, give or take 0.75%.
STRETCH_RANGE = (0.94, 1.04)
_STRETCH_RING = (26.0, 40.5)
_STRETCH_STRIDE = 4
# An outer point (radius 40) moves 40 * (side / TILE) * step bins: at most ~0.4 bin between steps.
_STRETCH_BINS = 0.8


def _stretch_steps(side: int) -> np.ndarray:
    step = _STRETCH_BINS / (40.0 * side / TILE)
    lo, hi = STRETCH_RANGE
    return np.arange(lo, hi + step / 2, step)


@lru_cache(maxsize=1)
def _stretch_points() -> np.ndarray:
    return _ring(band_points()[0], *_STRETCH_RING, _STRETCH_STRIDE)


def _stretch_index(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Flat rfft2 indices of the comb points of lattices ``diag(TILE * r, TILE * c)``, (P, M), nearest bin."""
    h, w = shape
    iy = np.rint(np.multiply.outer(1.0 / (TILE * rows), k[:, 0] * h)).astype(np.int32)
    ix = np.rint(np.multiply.outer(1.0 / (TILE * cols), k[:, 1] * w)).astype(np.int32)
    return _flat_bins(iy, ix, shape)


@lru_cache(maxsize=16)
def _stretch_grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, cols = np.meshgrid(_stretch_steps(shape[0]), _stretch_steps(shape[1]), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    index = _stretch_index(shape, rows, cols, _stretch_points())
    for a in (rows, cols, index):
        a.flags.writeable = False
    return rows, cols, index


def stretch_candidates(power: np.ndarray, shape: tuple[int, int], *, limit: int = 1) -> list[tuple[np.ndarray, float]]:
    """Lattices stretched or squeezed along rows and columns (0.94-1.04 each) whose comb shows most.

    For a band of a copy under perspective: across the middle half of a 3% keystone the
    tile is about 1.5% narrower, with little else changed. The grid itself is left out (the
    unchanged grid's search covers it). Same parameters and result as :func:`scale_candidates`;
    the bases are ``diag(TILE * r, TILE * c)``.
    """
    shape = (int(shape[0]), int(shape[1]))
    k, _ = band_points()
    rows, cols, index = _stretch_grid(shape)
    values = _comb_means(power, index)
    values[(np.abs(rows - 1) < 0.003) & (np.abs(cols - 1) < 0.003)] = -np.inf
    out: list[tuple[np.ndarray, float]] = []
    for i in np.argsort(-values)[: 4 * limit]:
        if any(abs(rows[i] - b[0, 0] / TILE) < 0.01 and abs(cols[i] - b[1, 1] / TILE) < 0.01 for b, _ in out):
            continue
        strength = _comb_means(power, _stretch_index(shape, rows[i : i + 1], cols[i : i + 1], k))
        out.append((np.diag([TILE * rows[i], TILE * cols[i]]), float(_standard_errors(strength, power, len(k))[0])))
        if len(out) == limit:
            break
    return out


def middle_bands(window: np.ndarray) -> list[np.ndarray]:
    """The middle half of a whitened window in rows and in columns, at least two tiles across (even sides).

    Where :func:`stretch_candidates` looks: under perspective no one lattice fits a whole window,
    but one fits its middle band.
    """
    h, w = window.shape
    bands = []
    rows = min(h, max(h // 4 * 2, 2 * TILE)) // 2 * 2
    if rows >= 2 * TILE:
        bands.append(window[(h - rows) // 2 : (h - rows) // 2 + rows])
    cols = min(w, max(w // 4 * 2, 2 * TILE)) // 2 * 2
    if cols >= 2 * TILE:
        bands.append(window[:, (w - cols) // 2 : (w - cols) // 2 + cols])
    return [np.ascontiguousarray(b) for b in bands]
