"""Video entries in hash banks (provenance.banks.video_*): add, import, match, withdraw, on SQLite and PostgreSQL.

Clips are made here: scenes of smooth random blobs at 160x120 and 5 fps (a 60 s clip encodes
in about a second).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from provenance.banks import Banks, BankVideoNotFoundError, HashListError, VideoEntry, parse_video_list
from provenance.banks.video_index import build_videos
from provenance.errors import BankNotFoundError, InvalidInputError, InvalidVideoError
from provenance.registry import Registry
from provenance.search import brute_force_search
from provenance.video import write_frames
from provenance.video.hashing import VideoHash, VpdqFrame, hash_video, match_vpdq


def blob_scenes(seed: int, seconds: int, *, fps: int = 5, size=(160, 120), scene_s: int = 3):
    """Scenes of smooth random colour blobs, a new scene every `scene_s` seconds, drifting slowly."""
    rng = np.random.default_rng(seed)
    w, h = size
    for s in range(0, seconds, scene_s):
        base = np.asarray(Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize(
            (w + 40, h), Image.Resampling.BICUBIC))
        for i in range(min(scene_s, seconds - s) * fps):
            yield np.ascontiguousarray(base[:, i // 2 : i // 2 + w])


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("video-banks")
    out = {"long": d / "long.mp4", "clip": d / "clip.mp4", "other": d / "other.mp4", "mirror": d / "mirror.mp4"}
    write_frames(out["long"], blob_scenes(1, 60), fps=5)
    # a mirrored 8 s excerpt cut mid-second (seconds 30.4-38.4)
    write_frames(out["mirror"], [np.ascontiguousarray(f[:, ::-1]) for f in list(blob_scenes(1, 60))[152:192]], fps=5)
    # a 5 s excerpt (seconds 20-25), re-encoded at a lower quality
    write_frames(out["clip"], list(blob_scenes(1, 60))[20 * 5 : 25 * 5], fps=5, crf=28)
    write_frames(out["other"], blob_scenes(2, 12), fps=5)
    return out


@pytest.fixture(scope="module")
def hashes(clips) -> dict[str, VideoHash]:
    return {k: hash_video(p) for k, p in clips.items()}


@pytest.fixture
def banks(db_url: str):
    with Registry(db_url) as reg:
        b = Banks(reg)
        b.create("ncii", label="ncii")
        yield b


def test_excerpt_of_banked_video_matches_and_unrelated_does_not(banks, clips, hashes):
    added = banks.add_video_file("ncii", clips["long"], source="stopncii", case_id="case-1")
    assert added.added == 1 and banks.get("ncii").video_count == 1
    result = banks.match_video_file(clips["clip"])
    assert result.status == "matched" and len(result.matches) == 1
    m = result.matches[0]
    assert m.kind == "vpdq" and m.bank == "ncii" and m.source == "stopncii" and m.case_id == "case-1"
    assert m.query_match_percent >= 80 and 5 <= m.compared_match_percent <= 15
    assert m.banked_frames == len([f for f in hashes["long"].frames if f.quality >= 50])
    # The indexed lookup gives exactly vPDQ's brute-force percentages.
    brute = match_vpdq(hashes["clip"], hashes["long"])
    assert m.query_match_percent == pytest.approx(brute.query_match_percent)
    assert m.compared_match_percent == pytest.approx(brute.compared_match_percent)
    other = banks.match_video_file(clips["other"])
    assert other.status == "no_match" and other.matches == () and other.banks_checked == 2  # ncii and stamped-outputs


def test_mirrored_excerpt_matches_through_its_mirror_hashes(banks, clips, hashes):
    banks.add_videos("ncii", [hashes["long"]])
    (m,) = banks.match_video(hashes["mirror"]).matches
    assert m.variant == "mirrored" and m.query_match_percent >= 80
    assert banks.match_video(hashes["clip"]).matches[0].variant == "original"
    # Without the mirror hashes (a vPDQ file has none) the mirrored copy is not found.
    plain = VideoHash(hashes["mirror"].frames, hashes["mirror"].md5, hashes["mirror"].sha256)
    assert banks.match_video(plain).status == "no_match"


def test_identical_file_matches_by_digest_and_thresholds_apply(banks, clips, hashes):
    banks.add_videos("ncii", [hashes["long"]])
    same = banks.match_video(hashes["long"])
    assert same.matches[0].query_match_percent == 100.0 and same.matches[0].compared_match_percent == 100.0
    # Only the file's SHA-256 (no frames): an exact match.
    exact = banks.match_video(VideoHash((), sha256=hashes["long"].sha256))
    assert [m.kind for m in exact.matches] == ["sha256"]
    # Requiring half of the banked video's frames rules the 5 s excerpt out.
    assert banks.match_video(hashes["clip"], compared_percent=50).status == "no_match"
    assert banks.match_video(hashes["clip"], compared_percent=5).status == "matched"
    strict = Banks(banks.registry, video_compared_percent=50)
    assert strict.match_video(hashes["clip"]).status == "no_match"
    with pytest.raises(InvalidInputError, match="0 to 100"):
        banks.match_video(hashes["clip"], query_percent=120)


def test_vpdq_file_import_export_round_trip_and_duplicates(banks, hashes, tmp_path):
    vpdq = tmp_path / "reported.vpdq"
    vpdq.write_text(hashes["long"].to_vpdq())
    assert banks.import_videos("ncii", vpdq, default_source="threatexchange").added == 1
    with pytest.raises(HashListError, match="already in bank"):
        banks.import_videos("ncii", vpdq)
    assert banks.import_videos("ncii", vpdq, skip_existing=True).skipped == 1
    (entry,) = banks.videos("ncii")
    assert entry.frames == hashes["long"].frames and entry.source == "threatexchange" and entry.video_id >= 1
    # What videos() returns is a re-importable JSON list.
    listing = json.dumps({"videos": [entry.to_dict()]}).encode()
    (again,) = parse_video_list(listing)
    assert again.frames == entry.frames
    # HMA's vPDQ signal JSON: a list of {quality, hash, timestamp}.
    hma = json.dumps([{"quality": f.quality, "hash": f.pdq_hex, "timestamp": f.timestamp} for f in hashes["other"].frames])
    assert banks.import_videos("ncii", hma.encode()).added == 1
    assert banks.match_video(hashes["other"]).status == "matched"


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"0,100,nothex,0.000\n", "line 1"),
    (b"0,100\n", "line 1"),
    (b"\xff\xfe\x00garbage", "UTF-8"),
    (b'{"videos": [{"md5": null}]}', "video 1: missing 'vpdq'"),
    (b'[{"vpdq": []}]', "video 1"),
    (b"0,500," + b"a" * 64 + b",0.000\n", "quality must be 0-100"),
    (b"0,100," + b"a" * 64 + b",-1\n", "timestamp"),
    (b"{not json", "not valid JSON"),
])
def test_corrupt_vpdq_lists_are_refused(banks, data, message):
    with pytest.raises(HashListError, match=message):
        banks.import_videos("ncii", data)
    assert banks.get("ncii").video_count == 0


def test_bad_input_errors(banks, hashes, tmp_path):
    with pytest.raises(InvalidInputError, match="no frames"):
        banks.add_videos("ncii", [VideoHash(())])
    with pytest.raises(InvalidInputError, match="no frames"):
        VideoEntry(())
    empty = tmp_path / "zero.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InvalidVideoError):
        banks.add_video_file("ncii", empty)
    with pytest.raises(BankNotFoundError):
        banks.add_videos("nope", [hashes["long"]])
    with pytest.raises(BankVideoNotFoundError, match="no video with ID 12345"):
        banks.withdraw_videos("ncii", [12345])
    with pytest.raises(InvalidInputError, match="whole number"):
        banks.withdraw_videos("ncii", ["x"])
    with pytest.raises(InvalidInputError, match="VideoHash"):
        banks.match_video("clip.mp4")


def test_withdrawal_and_additions_reach_a_loaded_bank(banks, hashes):
    assert banks.match_video(hashes["clip"]).status == "no_match"  # loads the (empty) bank
    banks.add_videos("ncii", [hashes["long"], hashes["other"]])
    assert banks.match_video(hashes["clip"]).status == "matched"  # appended without a reload
    long_id = next(e.video_id for e in banks.videos("ncii") if e.sha256 == hashes["long"].sha256)
    assert banks.withdraw_videos("ncii", [long_id]) == 1
    assert banks.match_video(hashes["clip"]).status == "no_match"
    assert banks.match_video(hashes["other"]).status == "matched"
    banks.update("ncii", enabled=False)
    assert banks.match_video(hashes["other"]).status == "no_match"  # stamped-outputs is still enabled
    banks.update("stamped-outputs", enabled=False)
    assert banks.match_video(hashes["other"]).status == "not_configured"


def test_flat_video_is_unmatchable_not_no_match(banks, hashes):
    banks.add_videos("ncii", [hashes["long"]])
    flat = VideoHash((VpdqFrame(0, 0, "0" * 64, 0.0),))
    assert banks.match_video(flat).status == "unmatchable"


def test_index_counts_equal_brute_force_over_many_videos():
    # 3,000 synthetic videos of 20 frames (indexed: over 32,768 frames), 50 queries near 3 of them.
    rng = np.random.default_rng(5)
    n_videos, per = 3000, 20
    codes = rng.integers(0, 2**63, size=(n_videos * per, 4), dtype=np.uint64)
    owner = np.repeat(np.arange(n_videos, dtype=np.int32), per)
    snap = build_videos(1, codes, owner, np.arange(1, n_videos + 1))
    assert snap.index.indexed
    picks = np.concatenate([codes[7 * per : 7 * per + 20], codes[99 * per : 99 * per + 10], codes[2500 * per :][:20]])
    flips = np.uint64(1) << rng.integers(0, 64, size=picks.shape, dtype=np.uint64)  # up to 4 bits each
    queries = picks ^ flips
    c = snap.count(queries, 31)
    hits = brute_force_search(codes, queries, 31)
    want = {}
    for q, p in zip(hits.query.tolist(), hits.position.tolist()):
        want.setdefault(int(owner[p]), [set(), set()])
        want[int(owner[p])][0].add(q)
        want[int(owner[p])][1].add(p)
    assert sorted(want) == c.video.tolist() == [7, 99, 2500]
    assert c.query_matched.tolist() == [len(want[v][0]) for v in sorted(want)]
    assert c.banked_matched.tolist() == [len(want[v][1]) for v in sorted(want)]


# ---------------------------------------------------------------- CLI and verify report


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from click.testing import CliRunner

    from provenance.cli import main

    monkeypatch.setenv("PROVENANCE_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("PROVENANCE_DATABASE_URL", raising=False)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)

    return invoke


def test_cli_add_video_list_match_verify_withdraw(run, clips, hashes, tmp_path):
    assert run("bank", "create", "reports", "--label", "ncii").exit_code == 0
    added = run("bank", "add-video", "reports", clips["long"], "--source", "stopncii", "--json")
    assert added.exit_code == 0 and json.loads(added.output)["added"] == 1
    vpdq = tmp_path / "other.vpdq"
    vpdq.write_text(hashes["other"].to_vpdq())
    assert "1 video added" in run("bank", "add-video", "reports", vpdq).output
    again = run("bank", "import", "reports", vpdq)  # `bank import` takes a .vpdq file as a video too
    assert again.exit_code == 1 and "already in bank 'reports'" in again.output
    listing = json.loads(run("bank", "videos", "reports", "--json").output)["videos"]
    assert [v["frame_count"] for v in listing] == [len(hashes["long"].frames), len(hashes["other"].frames)]
    assert listing[0]["sha256"] == hashes["long"].sha256 and listing[1]["sha256"] is None
    assert "2 videos" in run("bank", "list").output
    match = json.loads(run("match", "--json", clips["clip"]).output)
    assert match["kind"] == "video" and match["status"] == "matched"
    assert match["matches"][0]["video_id"] == listing[0]["video_id"] and match["matches"][0]["query_match_percent"] >= 80
    report = json.loads(run("verify", "--json", clips["clip"]).output)["report"]
    assert report["hash_match"]["status"] == "matched"
    assert report["hash_match"]["matches"][0]["compared_match_percent"] < 20
    text = run("verify", clips["clip"]).output
    assert "hash banks: matched" in text and f"video {listing[0]['video_id']}" in text
    unknown = run("bank", "withdraw-video", "reports", "99999")
    assert unknown.exit_code == 1 and "no video with ID 99999" in unknown.output
    bad = tmp_path / "bad.vpdq"
    bad.write_text("0,100,zz,0.0\n")
    refused = run("bank", "add-video", "reports", bad)
    assert refused.exit_code == 1 and "line 1" in refused.output
    assert run("bank", "withdraw-video", "reports", listing[0]["video_id"]).exit_code == 0
    assert json.loads(run("match", "--json", clips["clip"]).output)["status"] == "no_match"


def test_denser_banking_and_threshold_settings(banks, clips, hashes):
    from provenance.errors import ConfigError
    from provenance.settings import Settings

    banks.add_video_file("ncii", clips["other"], seconds_per_hash=0.5)
    (entry,) = banks.videos("ncii")
    assert len(entry.frames) >= 2 * len(hashes["other"].frames) - 1
    with pytest.raises(InvalidInputError, match="seconds_per_hash"):
        banks.add_video_file("ncii", clips["other"], seconds_per_hash=0)
    s = Settings.from_env({"PROVENANCE_VIDEO_BANK_QUERY_PERCENT": "60", "PROVENANCE_VIDEO_BANK_COMPARED_PERCENT": "5.5"})
    assert (s.video_bank_query_percent, s.video_bank_compared_percent) == (60.0, 5.5)
    assert Settings.from_env({}).video_bank_query_percent == 80.0
    for bad in ("120", "-1", "lots"):
        with pytest.raises(ConfigError, match="PROVENANCE_VIDEO_BANK_QUERY_PERCENT"):
            Settings.from_env({"PROVENANCE_VIDEO_BANK_QUERY_PERCENT": bad})
