"""Video: read and write clips (:mod:`.io`), watermark them (:mod:`.watermark`), hash them
(:mod:`.hashing`, vPDQ), and stamp (:mod:`.stamp`) and verify (:mod:`.verify`) them.
"""

from __future__ import annotations

from .io import VIDEO_EXTENSIONS, VideoFrame, VideoInfo, iter_frames, probe, rewrite_luma, sample_frames, write_frames

__all__ = [
    "VIDEO_EXTENSIONS",
    "VideoFrame",
    "VideoInfo",
    "iter_frames",
    "probe",
    "rewrite_luma",
    "sample_frames",
    "write_frames",
]
