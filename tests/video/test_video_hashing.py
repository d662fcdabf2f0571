from __future__ import annotations

import pytest

from provenance.errors import InvalidInputError
from provenance.video import write_frames
from provenance.video.hashing import hash_video, match_vpdq, parse_vpdq

from .conftest import blob_scenes


@pytest.fixture(scope="module")
def banked(tmp_path_factory):
    d = tmp_path_factory.mktemp("vpdq")
    long = d / "long.mp4"
    write_frames(long, blob_scenes(1, 60), fps=5)
    return d, hash_video(long)


def test_vpdq_one_frame_a_second_in_vpdq_format(banked):
    _, h = banked
    assert 59 <= len(h.frames) <= 61
    lines = h.to_vpdq().splitlines()
    number, quality, hexhash, ts = lines[3].split(",")
    assert int(number) == 15 and len(hexhash) == 64 and ts == "3.000" and 0 <= int(quality) <= 100
    assert parse_vpdq(h.to_vpdq()) == h.frames
    assert len(h.md5) == 32 and len(h.sha256) == 64


def test_excerpt_matches_unrelated_does_not(banked):
    d, h = banked
    clip = d / "clip.mp4"
    frames = list(blob_scenes(1, 60))[20 * 5 : 25 * 5]
    write_frames(clip, frames, fps=5, crf=23)
    m = match_vpdq(hash_video(clip), h)
    assert m.query_match_percent >= 80 and 5 <= m.compared_match_percent <= 15
    assert m.is_match()
    other = d / "other.mp4"
    write_frames(other, blob_scenes(2, 10), fps=5)
    m2 = match_vpdq(hash_video(other), h)
    assert not m2.is_match() and m2.query_match_percent < 30


def test_parse_vpdq_refuses_bad_lines():
    with pytest.raises(InvalidInputError, match="line 1"):
        parse_vpdq("0,100,nothex,0.000\n")
    with pytest.raises(InvalidInputError, match="empty"):
        parse_vpdq("\n")
