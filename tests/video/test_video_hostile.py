"""Hostile and odd video files (made by :mod:`.hostile_clips`) through the reader, the sniffing, and stamping."""

from __future__ import annotations

import numpy as np
import pytest

from provenance.errors import InvalidVideoError, VideoTooLargeError
from provenance.images import detect_mime_type
from provenance.settings import Settings
from provenance.stamp import Stamper
from provenance.video import is_video_file, iter_frames, probe, rewrite_luma, sample_frames
from provenance.video.stamp import stamp_video

from . import hostile_clips as hc


@pytest.mark.parametrize("name", hc.names("read"))
def test_odd_videos_are_read(name, tmp_path):
    path = hc.make(name, tmp_path)
    info = probe(path)
    frames = sample_frames(path, 4)
    assert frames and info.frame_count >= 1 and info.duration_s > 0
    for f in frames:
        assert f.rgb.dtype == np.uint8 and f.rgb.shape == (info.height, info.width, 3)


@pytest.mark.parametrize("name", hc.names("refuse") + hc.names("image"))
def test_broken_and_non_videos_are_refused_clearly(name, tmp_path):
    path = hc.make(name, tmp_path)
    with pytest.raises(InvalidVideoError) as err:
        sample_frames(path, 4)
    message = str(err.value)
    assert path.name in message and len(message) > 40
    if hc.CASES[name][1] == "image":  # FFmpeg would decode a JPEG or GIF as a one-frame "video"
        assert "image, not a video container" in message


@pytest.mark.parametrize("name, expected", [
    ("mp4_named_jpg", True), ("jpeg_named_mp4", False), ("gif_named_mp4", False), ("apng", False),
    ("text_named_mov", True),  # bytes of no known type: the suffix decides, and reading it says what is wrong
    ("vp9_alpha", True), ("audio_and_video_mkv", True), ("mjpeg_avi", True), ("png_alpha_mov", True),
])
def test_the_bytes_decide_whether_a_file_is_a_video(name, expected, tmp_path):
    assert is_video_file(hc.make(name, tmp_path)) is expected


def test_webm_and_matroska_are_sniffed_as_video(tmp_path):
    assert detect_mime_type(hc.make("vp9_alpha", tmp_path).read_bytes()[:4096]) == "video/webm"
    assert detect_mime_type(hc.make("audio_and_video_mkv", tmp_path).read_bytes()[:4096]) == "video/x-matroska"


def test_a_live_webm_is_counted_limited_and_sampled_over_its_length(tmp_path):
    # No duration and no frame count in its header: the packets are counted.
    path = hc.make("webm_no_cues", tmp_path)
    info = probe(path)
    assert info.frame_count == 20 and info.duration_s == pytest.approx(2.0, abs=0.15)
    assert [f.index for f in sample_frames(path, 4)] == [0, 6, 13, 19]
    with pytest.raises(VideoTooLargeError, match="PROVENANCE_VIDEO_MAX_FRAMES"):
        probe(path, settings=Settings(video_max_frames=10))
    with pytest.raises(VideoTooLargeError, match="PROVENANCE_VIDEO_MAX_SECONDS"):
        probe(path, settings=Settings(video_max_seconds=1))


def test_a_moov_cut_short_is_a_clear_error(tmp_path):
    # FFmpeg finds the track but no codec parameters: once an AttributeError (a 500 in the app).
    with pytest.raises(InvalidVideoError, match="codec cannot be read"):
        probe(hc.make("truncated_in_moov", tmp_path))


@pytest.fixture(scope="module")
def stamper(tmp_path_factory):
    with Stamper(Settings(instance_path=tmp_path_factory.mktemp("hostile") / "instance")) as s:
        yield s


def test_odd_sizes_rotation_and_odd_formats_are_stamped(stamper, tmp_path):
    # odd_size was an AssertionError (PyAV refuses odd-sized yuv420p), resolution_change an InvalidImageError
    # (frames of two sizes), repeated_timestamps an FFmpeg EINVAL when flushing (times written twice).
    for name, size in (("odd_size", (640, 360)), ("rotated_90", (288, 352)), ("hevc_10bit", (352, 288)),
                       ("resolution_change", None), ("repeated_timestamps", (352, 288))):
        src = hc.make(name, tmp_path)
        before = probe(src)
        out = tmp_path / f"{name}-stamped.mp4"
        result = stamp_video(stamper, src, out, generator="g")
        after = probe(out)
        size = size or (before.width, before.height)  # a clip that changes size is read at the size FFmpeg reports
        assert (after.width, after.height, after.rotation, after.pixel_format) == (*size, 0, "yuv420p"), name
        assert after.frame_count == before.frame_count and result.stamp_id


def test_stamping_turns_the_picture_as_players_do(stamper, tmp_path):
    src = hc.make("rotated_90", tmp_path)
    first = sample_frames(src, 1)[0].rgb  # display orientation
    out = tmp_path / "rot-stamped.mp4"
    stamp_video(stamper, src, out, generator="g")
    again = sample_frames(out, 1)[0].rgb
    assert again.shape == first.shape
    assert np.abs(again.astype(int) - first.astype(int)).mean() < 6  # the same picture, not a turned one


def test_a_source_whose_timing_lies_is_refused_naming_it(stamper, tmp_path):
    src = hc.make("absurd_timescale", tmp_path)  # six frames in a 1-tick-a-second track: one lasts 1024 s
    with pytest.raises(InvalidVideoError) as err:
        stamp_video(stamper, src, tmp_path / "o.mp4", generator="g")
    assert str(err.value).startswith("timescale_one.mp4:") and "signed-" not in str(err.value)
    assert not (tmp_path / "o.mp4").exists() and not list(tmp_path.glob(".stamp-*"))


def test_a_variable_rate_clip_keeps_its_duration_when_rewritten(tmp_path):
    # B-frames made the stamped MP4's header say 0.53 s for a clip whose frames run to 0.9 s (1.0 s long).
    src = hc.make("vfr", tmp_path)
    out = tmp_path / "out.mp4"
    rewrite_luma(src, out, lambda y, i: y)
    assert [round(f.time_s, 3) for f in iter_frames(out)] == [0.0, 0.04, 0.06, 0.3, 0.32, 0.9]
    assert probe(out).duration_s >= 0.9 and abs(probe(out).duration_s - probe(src).duration_s) < 0.1
    cfr = hc.make("moov_at_end", tmp_path)  # a constant-rate clip keeps its B-frames
    rewrite_luma(cfr, tmp_path / "cfr.mp4", lambda y, i: y)
    assert abs(probe(tmp_path / "cfr.mp4").duration_s - probe(cfr).duration_s) < 0.01


def test_a_cover_picture_is_not_the_video(tmp_path):
    # An audio MP4's artwork was taken for the video track: "90,000 frames; the limit is 36,000" (a 413).
    with pytest.raises(InvalidVideoError, match="no video track .*cover picture"):
        probe(hc.make("audio_with_cover", tmp_path))
    info = probe(hc.make("video_after_cover", tmp_path))
    assert (info.codec, info.frame_count, info.audio_codec) == ("h264", 6, "aac")
