from __future__ import annotations

import io

import numpy as np
from PIL import Image

from provenance import watermark
from provenance.video import iter_frames, probe, rewrite_luma, sample_frames, write_frames
from provenance.video.watermark import detect_video, embed_video

from .conftest import pan_frames

KEY = b"video-test-key-0123456789abcdef!"
PAYLOAD = bytes.fromhex("0123456789abcdef")


def test_embed_detect_reencode_and_frame_grab(tmp_path):
    src, marked, again = tmp_path / "src.mp4", tmp_path / "marked.mp4", tmp_path / "crf28.mp4"
    write_frames(src, pan_frames(size=(640, 360), n=20, step=4), fps=10)
    embed_video(src, marked, PAYLOAD, key=KEY)
    assert probe(marked).frame_count == 20
    # Fidelity of the marked clip against the source as decoded.
    a = [f.rgb.astype(np.float64) for f in iter_frames(src)]
    b = [f.rgb for f in iter_frames(marked)]
    psnr = np.mean([10 * np.log10(255**2 / np.mean((x - y) ** 2)) for x, y in zip(a, b)])
    assert psnr >= 38
    # A platform-style re-encode: CRF 28.
    rewrite_luma(marked, again, lambda y, i: y, crf=28, tune=None)
    result = detect_video(again, key=KEY, frames=16)
    assert result.watermark.detected and result.watermark.payload == PAYLOAD
    # Read only as far as a checkpoint (4, 8 or 16 frames) where the clip's vote decodes.
    assert result.frames in (4, 8, 16) and result.frames_with_evidence >= min(4, result.frames)
    assert result.watermark.p_value < 1e-6
    # One frame shared as JPEG 80 verifies as an image.
    buf = io.BytesIO()
    Image.fromarray(b[10]).save(buf, "JPEG", quality=80)
    grab = np.asarray(Image.open(buf).convert("RGB"))
    found = watermark.detect(grab, key=KEY)
    assert found.detected and found.payload == PAYLOAD


def test_unmarked_and_wrong_key(tmp_path, pan_clip):
    assert not detect_video(pan_clip, key=KEY, frames=8).watermark.detected
    src, marked = tmp_path / "src.mp4", tmp_path / "marked.mp4"
    write_frames(src, pan_frames(size=(320, 256), n=30), fps=10)
    embed_video(src, marked, PAYLOAD, key=KEY)
    assert detect_video(marked, key=KEY, frames=8).watermark.payload == PAYLOAD
    wrong = detect_video(marked, key=b"another key", frames=8)
    assert not wrong.watermark.detected and wrong.frames_with_evidence == 0
