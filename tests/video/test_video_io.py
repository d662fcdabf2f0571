from __future__ import annotations

import numpy as np
import pytest

from provenance.errors import InvalidVideoError, VideoTooLargeError
from provenance.settings import Settings
from provenance.video import iter_frames, probe, rewrite_luma, sample_frames, write_frames

from .conftest import FIXTURES


def test_probe_and_sample(pan_clip):
    info = probe(pan_clip)
    assert (info.width, info.height, info.frame_count, info.codec) == (320, 240, 30, "h264")
    frames = sample_frames(pan_clip, 4)
    assert [f.index for f in frames] == [0, 10, 19, 29]
    assert frames[0].rgb.shape == (240, 320, 3) and frames[0].rgb.dtype == np.uint8


def test_rewrite_keeps_timing_and_audio(tmp_path):
    src = FIXTURES / "rs_video1.mp4"
    out = tmp_path / "out.mp4"
    rewrite_luma(src, out, lambda y, i: y, crf=30, preset="ultrafast")
    a, b = probe(src), probe(out)
    assert b.audio_codec == a.audio_codec == "aac"
    assert b.frame_count == a.frame_count and abs(b.duration_s - a.duration_s) < 0.05
    assert (b.width, b.height) == (a.width, a.height)


def test_rotation_is_honoured(tmp_path):
    import av

    src = tmp_path / "rot.mp4"
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:40, :40] = 255  # top-left marker
    with av.open(str(src), "w") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 320, 240, "yuv420p"
        vs.set_display_rotation(-90)  # players turn it 90 degrees clockwise
        for _ in range(5):
            out.mux(vs.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(vs.encode(None))
    info = probe(src)
    assert info.rotation in (90, 270) and (info.width, info.height) == (240, 320)
    rgb = next(iter_frames(src)).rgb
    assert rgb.shape == (320, 240, 3)
    rewritten = tmp_path / "baked.mp4"
    rewrite_luma(src, rewritten, lambda y, i: y, crf=20)
    assert probe(rewritten).rotation == 0 and next(iter_frames(rewritten)).rgb.shape == (320, 240, 3)


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200, "could not be opened|no video track|no decodable"),
    (b"not a video at all" * 10, "could not be opened"),
])
def test_bad_files_refused(tmp_path, content, message):
    p = tmp_path / "bad.mp4"
    p.write_bytes(content)
    with pytest.raises(InvalidVideoError, match=message):
        sample_frames(p, 4)


def test_truncated_and_audio_only_refused(pan_clip, tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(pan_clip.read_bytes()[: len(pan_clip.read_bytes()) // 3])  # moov at the end: gone
    with pytest.raises(InvalidVideoError):
        probe(cut)
    with pytest.raises(InvalidVideoError, match="no video track"):
        probe(FIXTURES / "gen_sample1.mp3")
    with pytest.raises(InvalidVideoError, match="no decodable frame"):
        sample_frames(FIXTURES / "rs_dashinit.mp4", 2)


def test_limits(pan_clip):
    with pytest.raises(VideoTooLargeError, match="PROVENANCE_VIDEO_MAX_FRAMES"):
        probe(pan_clip, settings=Settings(video_max_frames=10))
    with pytest.raises(VideoTooLargeError, match="PROVENANCE_VIDEO_MAX_PIXELS"):
        probe(pan_clip, settings=Settings(video_max_pixels=1000))
    with pytest.raises(VideoTooLargeError, match="PROVENANCE_VIDEO_MAX_SECONDS"):
        probe(pan_clip, settings=Settings(video_max_seconds=1))
    with pytest.raises(VideoTooLargeError, match="PROVENANCE_VIDEO_MAX_UPLOAD_MB"):
        probe(pan_clip, settings=Settings(video_max_upload_bytes=1000))


def test_webm_vp9_and_mov_read(tmp_path):
    webm = tmp_path / "c.webm"
    write_frames(webm, (np.full((120, 160, 3), i * 20, np.uint8) for i in range(8)), fps=10, codec="libvpx-vp9", crf=40)
    assert probe(webm).codec == "vp9" and len(sample_frames(webm, 3)) == 3
    assert probe(FIXTURES / "gen_c.mov").tags["com.apple.quicktime.make"] == "Apple"


def test_variable_frame_rate_timing_survives_rewrite(tmp_path):
    import av
    from fractions import Fraction

    src, out = tmp_path / "vfr.mp4", tmp_path / "out.mp4"
    pts = [0, 100, 150, 400, 420, 900]  # irregular, time base 1/1000 s
    with av.open(str(src), "w") as c:
        vs = c.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 160, 120, "yuv420p"
        vs.time_base = vs.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(pts):
            f = av.VideoFrame.from_ndarray(np.full((120, 160, 3), 30 * i, np.uint8), format="rgb24")
            f.pts, f.time_base = t, Fraction(1, 1000)
            c.mux(vs.encode(f))
        c.mux(vs.encode(None))
    rewrite_luma(src, out, lambda y, i: y, crf=20)
    times = [round(f.time_s, 3) for f in iter_frames(out)]
    assert times == [round(t / 1000, 3) for t in pts]


def test_odd_pixel_format_and_odd_size_are_read_and_rewritten(tmp_path):
    import av

    src, out = tmp_path / "444.mkv", tmp_path / "out.mp4"
    with av.open(str(src), "w") as c:
        vs = c.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 162, 122, "yuv444p"
        for i in range(5):
            c.mux(vs.encode(av.VideoFrame.from_ndarray(np.full((122, 162, 3), 40 * i, np.uint8), format="rgb24")))
        c.mux(vs.encode(None))
    info = probe(src)
    assert info.pixel_format == "yuv444p" and info.container == "matroska"
    rewrite_luma(src, out, lambda y, i: y, crf=20)
    after = probe(out)
    assert (after.pixel_format, after.width, after.height, after.frame_count) == ("yuv420p", 162, 122, 5)
