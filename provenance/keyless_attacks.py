"""Keyless copy and removal attacks on the watermark (issue 13), for the adversarial benchmark.

The adversary knows the published scheme (a tile of :data:`TILE_GUESS` pixels repeated over the
image's size-normalised grid, :mod:`provenance.watermark.frame`) but has no key: the high-passed
luminance of a stamped image, brought to that grid and averaged modulo the tile, estimates the
whole periodic mark. Added to another photo (laid over *its* grid) it plants the stamp's ID there;
subtracted from the stamped image it removes the mark. Both are the attacks of issue 13, written
from its description and adapted to the v2 grid.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .watermark.frame import canonical_shape, resample, uses_canonical_frame

__all__ = ["TILE_GUESS", "estimate_mark", "copy_mark", "remove_mark", "psnr", "resize_to"]

#: The adversary's guess of the tile period on the grid (public in the scheme's documentation).
TILE_GUESS = 128


def _luma(image: np.ndarray) -> np.ndarray:
    return image[:, :, :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _box_mean(x: np.ndarray, size: int = 9) -> np.ndarray:
    pad = size // 2
    p = np.pad(x, pad, mode="reflect")
    c = np.cumsum(np.cumsum(p, axis=0), axis=1)
    c = np.pad(c, ((1, 0), (1, 0)))
    s = c[size:, size:] - c[:-size, size:] - c[size:, :-size] + c[:-size, :-size]
    return s / (size * size)


def _grid_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """The grid the mark lives on: the size-normalised one, or the image's own pixels."""
    return canonical_shape(*shape) if uses_canonical_frame(*shape) else shape


def estimate_mark(stamped: np.ndarray, *, tile: int = TILE_GUESS) -> np.ndarray:
    """The keyless estimate: high-passed luminance on the grid, averaged modulo the tile, ``(tile, tile)`` float."""
    y = _luma(stamped)
    hp = (y - _box_mean(y)).astype(np.float32)
    grid = _grid_shape(hp.shape)
    if grid != hp.shape:
        hp = resample(hp, grid)
    h, w = (hp.shape[0] // tile) * tile, (hp.shape[1] // tile) * tile
    folded = hp[:h, :w].reshape(h // tile, tile, w // tile, tile).mean(axis=(0, 2)).astype(np.float64)
    return folded - folded.mean()


def _tiled(est: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The tile laid over the grid of an image of `shape`, brought to that full size."""
    t = est.shape[0]
    grid = _grid_shape(shape)
    reps = (math.ceil(grid[0] / t), math.ceil(grid[1] / t))
    plane = np.tile(est, reps)[: grid[0], : grid[1]]
    if grid != tuple(shape):
        plane = resample(plane.astype(np.float32), tuple(shape)).astype(np.float64)
    return plane


def _add_luma(image: np.ndarray, delta: np.ndarray) -> np.ndarray:
    out = image[:, :, :3].astype(np.float64) + delta[:, :, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def copy_mark(stamped: np.ndarray, target: np.ndarray, *, psnr_db: float = 38.0) -> np.ndarray:
    """Plant `stamped`'s mark on `target` at about `psnr_db` against `target`."""
    est = _tiled(estimate_mark(stamped), target.shape[:2])
    rms = float(np.sqrt(np.mean(est**2))) or 1.0
    want = 255.0 / 10 ** (psnr_db / 20)
    return _add_luma(target, est * (want / rms))


def remove_mark(stamped: np.ndarray, *, gain: float = 1.0) -> np.ndarray:
    """Subtract `gain` times the keyless estimate from `stamped`."""
    est = _tiled(estimate_mark(stamped), stamped.shape[:2])
    return _add_luma(stamped, -gain * est)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of `b` against `a` over all channels, dB."""
    mse = float(np.mean((a[:, :, :3].astype(np.float64) - b[:, :, :3]) ** 2))
    return 10 * math.log10(255.0**2 / mse) if mse else math.inf


def resize_to(image: np.ndarray, scale: float) -> np.ndarray:
    """Lanczos resize by `scale`."""
    h, w = image.shape[:2]
    return np.asarray(Image.fromarray(image).resize((round(w * scale), round(h * scale)), Image.Resampling.LANCZOS))
