"""Hostile and odd video through /api/v1/verify, /api/v1/stamp and the form: read, or a clear 4xx;
never a 500, the server keeps serving, and no temporary file survives the request."""

from __future__ import annotations

import io
import re
import sys
import tempfile
from pathlib import Path

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from api_helpers import bearer, error_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "video"))
import hostile_clips as hc  # noqa: E402  (made at test time; tests/video is not a package on this path)


@pytest.fixture(autouse=True)
def private_tmp(monkeypatch, tmp_path) -> Path:
    """The process's temporary folder, for this test only: whatever a request leaves there is seen
    (and other jobs' temporary files, in the shared folder, are not)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _temp_names() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).iterdir()}


def _form(client, data: bytes, name: str):
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data), name), "csrf_token": token})
    return client.post("/verify", data=body, content_type=f"multipart/form-data; boundary={boundary}")


@pytest.mark.parametrize("name", hc.names("refuse"))
def test_broken_video_is_a_4xx_everywhere(client, tokens, tmp_path, name) -> None:
    data = hc.make(name, tmp_path).read_bytes()
    token = tokens.create("stamp").token
    before = _temp_names()
    for r in (client.post("/api/v1/verify", data=data, content_type="application/octet-stream"),
              client.post("/api/v1/stamp?generator=g", data=data, content_type="application/octet-stream",
                          headers=bearer(token))):
        status, code = error_of(r)
        assert 400 <= status < 500 and code in ("invalid_video", "unsupported_type", "empty_file"), (status, code)
    page = _form(client, data, "clip.mp4")
    assert 400 <= page.status_code < 500 and "Traceback" not in page.get_data(as_text=True)
    assert _temp_names() - before == set()
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("name, size", [
    ("vp9_alpha", (352, 288)), ("audio_and_video_mkv", (352, 288)), ("mjpeg_avi", (352, 288)),
    ("rotated_90", (288, 352)), ("truncated_in_mdat", (352, 288)), ("hevc_10bit", (352, 288)),
])
def test_odd_video_is_verified(client, tmp_path, name, size) -> None:
    # WebM and MKV were a 415 (not sniffed as video) before.
    data = hc.make(name, tmp_path).read_bytes()
    before = _temp_names()
    report = client.post("/api/v1/verify", data=data, content_type="application/octet-stream").get_json()
    assert report["report_version"] == "video-1", report
    assert (report["file"]["width"], report["file"]["height"]) == size and report["keyframes"]
    assert _temp_names() - before == set()


@pytest.mark.parametrize("name", ["odd_size", "vp9_alpha"])
def test_odd_video_is_stamped(client, tokens, tmp_path, name) -> None:
    # odd_size (641x361) was a 500 (PyAV refuses odd-sized yuv420p) before.
    data = hc.make(name, tmp_path).read_bytes()
    token = tokens.create("stamp").token
    before = _temp_names()
    r = client.post("/api/v1/stamp?generator=g", data=data, content_type="application/octet-stream", headers=bearer(token))
    assert r.status_code == 201 and r.mimetype == "video/mp4", r.get_data(as_text=True)[:300]
    assert _temp_names() - before == set()


@pytest.mark.parametrize("name", hc.names("image"))
def test_an_image_sent_as_video_is_checked_as_an_image(client, tmp_path, name) -> None:
    data = hc.make(name, tmp_path).read_bytes()
    r = client.post("/api/v1/verify?name=clip.mp4", data=data, content_type="video/mp4")
    assert r.status_code == 200 and "report_version" not in r.get_json() and r.get_json()["verdict"]
