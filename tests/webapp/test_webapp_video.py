"""Video through the API: stamp a clip, re-encode it, verify; bad video is a 400; no temporary file kept."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from provenance.video import rewrite_luma, write_frames

import numpy as np
from PIL import Image

from api_helpers import bearer


def _clip(tmp_path: Path, shared_dir: Path) -> bytes:
    photo = np.asarray(Image.open(shared_dir / "samples" / "kodim08.png").convert("RGB"))[:272]
    p = tmp_path / "gen.mp4"
    write_frames(p, (np.ascontiguousarray(photo[:, 4 * i : 4 * i + 480]) for i in range(12)), fps=10)
    return p.read_bytes()


def _leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("provenance-video-*")}


def test_stamp_and_verify_video(client, tokens, tmp_path, shared_dir) -> None:
    before = _leftovers()
    token = tokens.create("stamp").token
    r = client.post("/api/v1/stamp?generator=video-model", data=_clip(tmp_path, shared_dir), content_type="video/mp4", headers=bearer(token))
    assert r.status_code == 201 and r.mimetype == "video/mp4", r.get_data(as_text=True)[:300]
    stamp_id = r.headers["X-Provenance-Stamp-Id"]
    stamped = tmp_path / "stamped.mp4"
    stamped.write_bytes(r.data)
    plat = tmp_path / "platform.mp4"
    rewrite_luma(stamped, plat, lambda y, i: y, crf=26, tune=None)
    report = client.post("/api/v1/verify", data=plat.read_bytes(), content_type="video/mp4").get_json()
    assert report["report_version"] == "video-1" and report["verdict"] == "ai_generated_stamped"
    assert report["registry"]["stamp_id"] == stamp_id and report["registry"]["credentials_recovered"]
    assert report["keyframes"] and report["keyframes"][0].startswith("data:image/jpeg;base64,")
    assert _leftovers() == before


def test_broken_video_is_a_400(client) -> None:
    before = _leftovers()
    body = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 300
    r = client.post("/api/v1/verify", data=body, content_type="video/mp4")
    assert r.status_code in (400, 415), r.get_data(as_text=True)
    assert r.get_json()["error"]["code"] in ("invalid_video", "unsupported_type")
    assert _leftovers() == before
    assert client.get("/healthz").status_code == 200


def test_a_video_past_the_upload_limit_is_streamed_and_an_image_is_not(app_factory, tmp_path, shared_dir) -> None:
    # The image upload limit set below the clip's size: the clip goes on through an unlinked
    # spooled file (only video may be that large), an image of the same size is a 413.
    clip = _clip(tmp_path, shared_dir)
    limit = len(clip) // 2
    client = app_factory({"MAX_CONTENT_LENGTH": limit}).test_client()
    before = _leftovers()
    for send in ({"data": clip, "content_type": "video/mp4"},
                 {"data": {"file": (io.BytesIO(clip), "clip.mp4")}, "content_type": "multipart/form-data"}):
        r = client.post("/api/v1/verify", **send)
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        assert r.get_json()["report_version"] == "video-1"
    png = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)).save(png, "PNG")
    assert len(png.getvalue()) > limit
    r = client.post("/api/v1/verify", data=png.getvalue(), content_type="image/png")
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "too_large"
    assert "only videos may be larger" in r.get_json()["error"]["message"]
    # Endpoints that take no video keep the upload limit for every file.
    assert client.post("/api/v1/hash", data=clip, content_type="video/mp4").status_code == 413
    assert _leftovers() == before
    assert client.get("/healthz").status_code == 200
