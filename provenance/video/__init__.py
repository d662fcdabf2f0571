"""Video: read and write clips (:mod:`.io`), watermark them (:mod:`.watermark`), hash them
(:mod:`.hashing`, vPDQ), and stamp (:mod:`.stamp`) and verify (:mod:`.verify`) them.
"""

from __future__ import annotations

from .io import (
    VIDEO_EXTENSIONS,
    VideoFrame,
    VideoInfo,
    is_video_file,
    iter_frames,
    iter_sampled_frames,
    probe,
    rewrite_luma,
    sample_frames,
    write_frames,
)

__all__ = [
    "VIDEO_EXTENSIONS",
    "VideoFrame",
    "VideoInfo",
    "is_video_file",
    "iter_frames",
    "iter_sampled_frames",
    "probe",
    "rewrite_luma",
    "sample_frames",
    "write_frames",
]

# Stamping and verifying need the registry, signing and the report: imported on first use (PEP 562),
# so reading frames stays light.
_LAZY = {
    "stamp_video": "stamp",
    "VideoStampResult": "stamp",
    "verify_video": "verify",
    "VideoReport": "verify",
    "hash_video": "hashing",
    "parse_vpdq": "hashing",
    "VideoHash": "hashing",
}
__all__ += list(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'provenance.video' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value
