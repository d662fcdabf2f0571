"""Robust keyed invisible watermark.

::

    from provenance import watermark
    marked = watermark.embed(image, payload, key=key)   # (H, W, 3) uint8, <= 8-byte payload
    result = watermark.detect(image, key=key)           # WatermarkResult
    index, result = watermark.detect_keys(image, keys)  # a key ring: keyless work done once
    result.detected, result.payload, result.p_value

Modules: :mod:`.coding` (payload + CRC + convolutional code), :mod:`.patterns`
(keyed tile), :mod:`.masking` (perceptual strength), :mod:`.frame` (the size-normalised grid the
tile lives on), :mod:`.sync` (lattice,
folding, shift search), :mod:`.embedding` and :mod:`.detection`; :mod:`.field` is layer B, the
optional non-periodic field (``embed(..., field_share=)``) that folding cannot estimate.
"""

from __future__ import annotations

from .coding import MAX_PAYLOAD_BYTES
from .detection import SCHEME, SCORE_THRESHOLD, SEARCH_MODES, WatermarkResult, check_search, detect, detect_keys, false_positive_bound
from .frame import CANONICAL_SIDE
from .embedding import DEFAULT_PSNR, MIN_EMBED_SIDE, embed
from .frames import FramesResult, detect_frames, detect_frames_keys, embed_luma, pattern_plane  # video: many frames of one clip

ALGORITHM = "io.github.provenance.watermark.v2"

__all__ = [
    "FramesResult", "detect_frames", "detect_frames_keys", "embed_luma", "pattern_plane",
    "ALGORITHM",
    "CANONICAL_SIDE",
    "DEFAULT_PSNR",
    "MAX_PAYLOAD_BYTES",
    "MIN_EMBED_SIDE",
    "SCHEME",
    "SCORE_THRESHOLD",
    "SEARCH_MODES",
    "WatermarkResult",
    "check_search",
    "detect",
    "detect_keys",
    "embed",
    "false_positive_bound",
]
