"""``provenance stamp|verify|watermark`` on video: real PyAV, real c2pa, real registry (SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from provenance.cli import main
from provenance.cli.common import EXIT_ERROR, EXIT_OK
from provenance.manifest import read_manifest
from provenance.video import probe, rewrite_luma, write_frames

from .conftest import FIXTURES, pan_frames


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"PROVENANCE_INSTANCE_PATH": str(tmp_path / "instance"), "PROVENANCE_DATABASE_URL": ""}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "gen.mp4"
    write_frames(path, pan_frames(size=(480, 272), n=15, step=4), fps=10)
    return path


def test_stamp_verify_strip_and_recover(env, clip, tmp_path):
    runner = CliRunner()
    out = tmp_path / "stamped.mp4"
    r = runner.invoke(main, ["stamp", str(clip), str(out), "--generator", "video-model 1", "--json"], env=env)
    assert r.exit_code == EXIT_OK, r.output
    stamp = json.loads(r.output.splitlines()[-1])["stamp"]
    assert stamp["mime"] == "video/mp4" and len(stamp["sha256"]) == 64 and stamp["vpdq_frames"] >= 1
    assert read_manifest(out, settings=None).has_manifest
    assert probe(out).frame_count == 15

    r = runner.invoke(main, ["verify", "--json", str(out)], env=env)
    report = json.loads(r.output.splitlines()[-1])["report"]
    assert report["report_version"] == "video-1" and report["verdict"] == "ai_generated_stamped"
    # A clean copy is decided on its first 4 frames; the rest are not decoded.
    mark = report["watermark"]
    assert mark["stamp_id"] == stamp["stamp_id"] and mark["frames_with_evidence"] == mark["frames_sampled"] == 4
    assert report["registry"]["lookup"] == "watermark_id" and not report["registry"]["credentials_recovered"]

    # A platform re-encode drops the C2PA box: the watermark finds the stamp, the registry the credentials.
    plat = tmp_path / "platform.mp4"
    rewrite_luma(out, plat, lambda y, i: y, crf=26, tune=None)
    r = runner.invoke(main, ["verify", str(plat)], env=env)
    assert r.exit_code == EXIT_OK
    assert "ai_generated_stamped" in r.output and "stripped" in r.output and stamp["stamp_id"] in r.output


@pytest.mark.slow
def test_verify_reads_fixture_credentials_and_signals(env):
    r = CliRunner().invoke(main, ["verify", "--json", "--offline-registry", str(FIXTURES / "gen_c.mov")], env=env)
    report = json.loads(r.output.splitlines()[-1])["report"]
    assert report["verdict"] == "credentials_only"
    assert report["container_signals"]["camera_tags"]["com.apple.quicktime.make"] == "Apple"


def test_bad_video_is_a_clear_error(env, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x20ftypisom" + b"junk" * 50)
    r = CliRunner().invoke(main, ["stamp", str(bad), str(tmp_path / "o.mp4"), "--generator", "x"], env=env)
    assert r.exit_code == EXIT_ERROR and "error:" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o.mp4").exists() and not list(tmp_path.glob(".stamp-*"))


def test_watermark_embed_detect_video(env, clip, tmp_path):
    runner = CliRunner()
    out = tmp_path / "w.mp4"
    key = "00112233445566778899aabbccddeeff"
    r = runner.invoke(main, ["watermark", "embed", str(clip), str(out), "--payload", "0102", "--key-hex", key], env=env)
    assert r.exit_code == EXIT_OK, r.output
    r = runner.invoke(main, ["watermark", "detect", "--json", str(out), "--key-hex", key], env=env)
    line = json.loads(r.output.splitlines()[-1])
    assert line["watermark"]["payload"] == "0102" and line["watermark"]["frames_sampled"] == 4
