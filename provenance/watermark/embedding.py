"""Embedding: add the keyed, payload-carrying tile to the luminance, shaped by the mask.

The tile is laid out on the image's size-normalised frame (:mod:`.frame`) and resampled to
the image's pixels; the perceptual mask is computed at full resolution, so the strength
follows the texture the viewer actually sees.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from ..errors import InvalidImageError
from ..images import check_image_array
from .coding import encode_payload
from .field import keyed_field
from .frame import canonical_luma, canonical_shape, resampling_matrix, uses_canonical_frame
from .masking import BLOCK, block_activity, luminance, mask_from_activity, upsample_mask
from .patterns import TILE, keyed_pattern, normalise_key

__all__ = ["DEFAULT_FIELD_SHARE", "DEFAULT_PSNR", "MIN_EMBED_SIDE", "embed"]

#: Target peak signal-to-noise ratio of the marked image, in dB.
DEFAULT_PSNR = 42.0
#: Share of the mark's power in layer B, the non-periodic field (:mod:`.field`), on the canonical grid.
DEFAULT_FIELD_SHARE = 0.0
#: Smallest side that can carry a watermark (two tiles).
MIN_EMBED_SIDE = 2 * TILE
#: Largest pattern RMS in the flattest areas, in grey levels (keeps flat areas clean).
_FLAT_AMPLITUDE_CAP = 1.2
_STRIPE_ROWS = 4 * TILE


def embed(
    image: np.ndarray,
    payload: bytes,
    *,
    key: bytes | str,
    psnr: float = DEFAULT_PSNR,
    field_share: float = DEFAULT_FIELD_SHARE,
) -> np.ndarray:
    """Embed `payload` invisibly in `image` under `key`.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray, or (H, W) grayscale, or (H, W, 4) RGBA
        Channels last. Both sides must be at least 256 pixels. Not modified.
    payload : bytes
        1 to 8 bytes (64 bits), returned exactly by :func:`detect`.
    key : bytes or str
        The operator's secret key; detection needs the same key.
    psnr : float
        Target fidelity in dB (higher is fainter and less robust). Flat images
        get less than this would allow, so that flat areas stay clean.
    field_share : float
        Share of the power given to layer B (:mod:`.field`), in [0, 0.9]; layer A, the
        periodic tile, gets the rest. Images marked on their own pixels carry layer A only.

    Returns
    -------
    ndarray
        Same shape and dtype as `image`; alpha untouched.

    Raises
    ------
    InvalidImageError
        If the image is not uint8 (H, W[, 3|4]) or smaller than 256 x 256, or `psnr` or
        `field_share` is out of range.
    InvalidInputError
        If the payload is not 1 to 8 bytes or the key is empty.
    """
    check_image_array(image)
    h, w = image.shape[:2]
    if min(h, w) < MIN_EMBED_SIDE:
        raise InvalidImageError(
            f"The image is {w}x{h}; a watermark needs at least {MIN_EMBED_SIDE}x{MIN_EMBED_SIDE} pixels. "
            "Embed before downscaling."
        )
    if not 20.0 <= psnr <= 60.0:
        raise InvalidImageError(f"psnr must be between 20 and 60 dB; got {psnr}.")
    if not 0.0 <= field_share <= 0.9:
        raise InvalidImageError(f"field_share must be between 0 and 0.9; got {field_share}.")
    secret = normalise_key(key)
    pattern = keyed_pattern(secret)
    symbols = encode_payload(payload, pattern.salt)
    # Each stamp's tile starts at its own keyed origin (the detector searches every cyclic
    # shift anyway), so stamps of one key do not share pixel positions: averaging many of
    # them no longer builds up the pattern.
    tile = np.roll(pattern.tile(symbols), _origin(secret, payload), axis=(0, 1))

    # The mask is computed on the frame the tile lives in: what hides a pattern is texture at the
    # pattern's own scale (on a 4096 px output the tile's band is 5-20 times coarser than pixels).
    canonical = uses_canonical_frame(h, w)
    frame_shape = canonical_shape(h, w) if canonical else (h, w)
    y = canonical_luma(image, frame_shape, fast=False) if canonical else luminance(image)
    block_mask = mask_from_activity(block_activity(y))
    del y
    # Scale so that the whole-image RMS of the pattern meets the PSNR target (the tile has unit
    # RMS and is independent of the mask, so RMS = alpha * RMS(mask)).
    # Pixels are whole numbers: rounding the pattern adds about 1/12 grey level squared to the
    # error, so the pattern itself aims that much lower (else the mean PSNR lands ~0.06 dB short).
    target_rms = math.sqrt(max(255.0**2 / 10 ** (psnr / 10.0) - 1.0 / 12.0, 1e-6))
    alpha = target_rms / float(np.sqrt(np.mean(block_mask.astype(np.float64) ** 2)))
    alpha = min(alpha, _FLAT_AMPLITUDE_CAP / float(block_mask.min()))
    field = _field_pattern(secret, symbols, frame_shape, field_share) if canonical and field_share > 0 else None
    delta_c = _canonical_delta(tile, block_mask, frame_shape, alpha, field, field_share) if canonical else None
    rows_up = resampling_matrix(h, frame_shape[0]) if canonical else None
    cols_up = resampling_matrix(w, frame_shape[1]).T.tocsr() if canonical else None
    if canonical:
        # Interpolation softens the band a little: restore the canonical RMS (from every 7th row).
        sample = (rows_up[::7] @ delta_c) @ cols_up
        rms = float(np.sqrt(np.mean(np.square(sample, dtype=np.float64))))
        if rms > 0:
            delta_c *= np.float32(np.sqrt(np.mean(np.square(delta_c, dtype=np.float64))) / rms)

    out = image.copy()
    reps_x = -(-w // TILE)
    row_tile = np.tile(tile, (1, reps_x))[:, :w]
    for r0 in range(0, h, _STRIPE_ROWS):
        rows = min(_STRIPE_ROWS, h - r0)
        if delta_c is not None:
            delta = np.asarray((rows_up[r0 : r0 + rows] @ delta_c) @ cols_up)
        else:
            delta = row_tile[np.arange(r0, r0 + rows) % TILE] * upsample_mask(block_mask, r0, rows, w) * np.float32(alpha)
        # Pixels are whole numbers, so rounding the delta rounds the sum: int16 arithmetic
        # at half the memory of float32.
        step = np.rint(delta).astype(np.int16)
        stripe = out[r0 : r0 + rows]
        if image.ndim == 2:
            stripe[...] = np.clip(stripe + step, 0, 255).astype(np.uint8)
        else:
            rgb = stripe[..., :3].astype(np.int16)
            rgb += step[..., None]
            np.clip(rgb, 0, 255, out=rgb)
            stripe[..., :3] = rgb.astype(np.uint8)
    return out


def _origin(secret: bytes, payload: bytes) -> tuple[int, int]:
    """Keyed per-stamp cyclic offset of the tile, in tile pixels."""
    digest = hashlib.sha256(b"provenance.watermark.v2.origin\0" + secret + b"\0" + bytes(payload)).digest()
    return int.from_bytes(digest[:2], "big") % TILE, int.from_bytes(digest[2:4], "big") % TILE


def _field_pattern(secret: bytes, symbols: np.ndarray, frame_shape: tuple[int, int], share: float) -> np.ndarray:
    """Layer B on the canonical grid at its share of the power (float32 (hc, wc))."""
    return keyed_field(secret).pattern(symbols, frame_shape) * np.float32(math.sqrt(share))


def _canonical_delta(
    tile: np.ndarray,
    block_mask: np.ndarray,
    frame_shape: tuple[int, int],
    alpha: float,
    field: np.ndarray | None = None,
    field_share: float = 0.0,
) -> np.ndarray:
    """The masked pattern on the canonical grid (float32 (hc, wc)), before resampling to the image.

    Both layers have unit RMS and are independent, so ``sqrt(1 - share) * A + sqrt(share) * B``
    keeps unit RMS: the PSNR target and the flat-area cap hold for the sum as they did for A.
    """
    hc, wc = frame_shape
    grid = np.tile(tile, (-(-hc // TILE), -(-wc // TILE)))[:hc, :wc]
    if field is not None:
        grid = grid * np.float32(math.sqrt(1.0 - field_share)) + field
    return (grid * upsample_mask(block_mask, 0, hc, wc) * np.float32(alpha)).astype(np.float32)


assert _STRIPE_ROWS % BLOCK == 0
