"""Hostile and odd video through ``provenance verify|stamp|watermark detect|bank add-video``: read, or
exit code 1 (2 for `watermark detect`, which goes on past a bad file) with one clear line; no traceback."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from provenance.cli import main
from provenance.cli.common import EXIT_ERROR, EXIT_OK, EXIT_SOME_FAILED

from . import hostile_clips as hc

KEY = "00112233445566778899aabbccddeeff"


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    env = {"PROVENANCE_INSTANCE_PATH": str(tmp_path_factory.mktemp("hostile-cli") / "instance"), "PROVENANCE_DATABASE_URL": ""}
    r = CliRunner().invoke(main, ["bank", "create", "vb", "--label", "test"], env=env)
    assert r.exit_code == EXIT_OK, r.output
    return env


def _run(env, args):
    r = CliRunner().invoke(main, args, env=env)
    # click's runner catches what escapes: only SystemExit (an exit code) may.
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    return r


@pytest.mark.parametrize("name", hc.names("refuse"))
def test_broken_video_is_one_clear_error_line(env, tmp_path, name):
    path = hc.make(name, tmp_path)
    out = tmp_path / "out.mp4"
    for args, code in ((["verify", str(path)], EXIT_ERROR),
                       (["stamp", str(path), str(out), "--generator", "g"], EXIT_ERROR),
                       (["watermark", "detect", str(path), "--key-hex", KEY], EXIT_SOME_FAILED),
                       (["bank", "add-video", "vb", str(path)], EXIT_ERROR)):
        r = _run(env, args)
        assert r.exit_code == code and path.name in r.output, (args, r.output)
    assert not out.exists() and not list(tmp_path.glob(".stamp-*"))


def test_an_mp4_named_jpg_is_read_as_a_video(env, tmp_path):
    # It was read as an image (and `bank add-video` called it "not UTF-8 text") before.
    path = hc.make("mp4_named_jpg", tmp_path)
    r = _run(env, ["verify", "--json", str(path)])
    assert json.loads(r.output.splitlines()[-1])["report"]["report_version"] == "video-1"
    r = _run(env, ["watermark", "detect", "--json", str(path), "--key-hex", KEY])
    assert json.loads(r.output.splitlines()[-1])["watermark"]["frames_sampled"] >= 1
    assert _run(env, ["bank", "add-video", "vb", str(path), "--skip-existing"]).exit_code == EXIT_OK


@pytest.mark.parametrize("name", ["jpeg_named_mp4", "gif_named_mp4"])
def test_an_image_named_mp4_is_read_as_an_image(env, tmp_path, name):
    path = hc.make(name, tmp_path)
    r = _run(env, ["verify", "--json", str(path)])
    report = json.loads(r.output.splitlines()[-1])["report"]
    assert "report_version" not in report and report["verdict"]["code"]
    r = _run(env, ["bank", "add-video", "vb", str(path)])
    assert r.exit_code == EXIT_ERROR and "not a video but image/" in r.output


def test_mjpeg_in_avi_is_stamped_and_verified(env, tmp_path):
    src = hc.make("mjpeg_avi", tmp_path)
    out = tmp_path / "stamped.mp4"
    r = _run(env, ["stamp", str(src), str(out), "--generator", "g", "--json"])
    assert r.exit_code == EXIT_OK, r.output
    r = _run(env, ["verify", "--json", str(out)])
    assert json.loads(r.output.splitlines()[-1])["report"]["verdict"] == "ai_generated_stamped"
