"""Lattice estimation from the autocorrelation of the whitened canonical grid.

A cropped, rotated or warped copy puts the tiles on a lattice other than the grid. Its
candidates come from the strong peaks of the autocorrelation (the inverse FFT of the spectrally
whitened power, JPEG's 8x8 block harmonics and the axes notched), each refined by a
least-squares fit over its lattice points and ranked by the autocorrelation summed over them;
the unchanged grid is refined the same way for mild perspective. :mod:`.scales` proposes the
lattices of crops and straightened photos from the band's comb instead.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.fft as sfft

from .sync import fft_workers, parabolic_offsets, spectrum

__all__ = ["whitened_power", "scored_lattices", "same_lattice"]

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
    power /= _box_mean(power) + np.float32(1e-6 * power.mean() + 1e-12)
    np.minimum(power, np.float32(_LINE_CAP), out=power)
    power *= _acf_keep(h, w)
    return power


def _box_mean(a: np.ndarray) -> np.ndarray:
    """Mean of each ``_WHITEN_BINS`` x ``_WHITEN_BINS`` neighbourhood (cyclic), float32.

    Three-tap sums of three-tap sums along each axis: the same as
    ``ndi.uniform_filter(a, 9, mode="wrap")`` to float32 rounding, in 40% of its time.
    """
    r = _WHITEN_BINS // 2
    q = np.concatenate([a[-r:], a, a[:r]])
    t3 = q[:-2] + q[1:-1] + q[2:]
    a = t3[:-6] + t3[3:-3] + t3[6:]
    q = np.concatenate([a[:, -r:], a, a[:, :r]], axis=1)
    t3 = q[:, :-2] + q[:, 1:-1] + q[:, 2:]
    a = t3[:, :-6] + t3[:, 3:-3] + t3[:, 6:]
    return a * np.float32(1 / _WHITEN_BINS**2)


assert _WHITEN_BINS == 9  # _box_mean's three-tap sums of three-tap sums are nine bins wide


def _autocorrelation(spec: np.ndarray, shape: tuple[int, int], power: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Normalised autocorrelation around lag 0, shape (2R+1, 2R+1), and R, from :func:`spectrum`."""
    h, w = shape
    if power is None:
        power = whitened_power(spec, shape)
    r = int(min(_MAX_LAG, h // 2 - 1, w // 2 - 1))
    # The inverse FFT, for row lags 0..r only: `power` is real, so along the rows a real
    # forward FFT (conjugated) is the inverse; the negative row lags follow from the
    # symmetry ACF(-ly, lx) = ACF(ly, -lx). A third of the time of a full irfft2.
    rows = sfft.rfft(power, axis=0, workers=fft_workers())[: r + 1]
    np.conjugate(rows, out=rows)
    half = sfft.irfft(rows, n=w, axis=1, workers=fft_workers())  # row lags 0..r (times h), all column lags
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
    dy = parabolic_offsets(region[iy - 1, ix], centre, region[iy + 1, ix])
    dx = parabolic_offsets(region[iy, ix - 1], centre, region[iy, ix + 1])
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