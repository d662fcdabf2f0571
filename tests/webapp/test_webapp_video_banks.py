"""Banked videos through the API: add a video (hashed, not kept) and a vPDQ list, match an excerpt,
verify with and without a match token, withdraw; bad input is a 4xx and the app keeps serving."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from provenance.tokens import TokenStore
from provenance.registry import Registry
from provenance.video import write_frames
from provenance.video.hashing import hash_video

from api_helpers import bearer, error_of, form


def _scenes(seed: int, seconds: int, fps: int = 5, size=(160, 120)):
    rng = np.random.default_rng(seed)
    w, h = size
    for s in range(0, seconds, 3):
        base = np.asarray(Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize(
            (w + 40, h), Image.Resampling.BICUBIC))
        for i in range(min(3, seconds - s) * fps):
            yield np.ascontiguousarray(base[:, i // 2 : i // 2 + w])


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("api-video-banks")
    out = {"long": d / "long.mp4", "clip": d / "clip.mp4", "other": d / "other.mp4"}
    write_frames(out["long"], _scenes(1, 30), fps=5)
    write_frames(out["clip"], list(_scenes(1, 30))[10 * 5 : 15 * 5], fps=5, crf=28)
    write_frames(out["other"], _scenes(2, 9), fps=5)
    return out


def _leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("provenance-video-*")}


def test_bank_videos_match_verify_withdraw(app, client, web_settings, videos) -> None:
    before = _leftovers()
    with Registry.open(web_settings) as reg:
        store = TokenStore(reg)
        admin, match = bearer(store.create("admin").token), bearer(store.create("match").token)
    assert client.post("/api/v1/banks", json={"name": "vids", "label": "ncii"}, headers=admin).status_code == 201
    r = client.post("/api/v1/banks/vids/videos?source=stopncii", data=videos["long"].read_bytes(),
                    content_type="video/mp4", headers=admin)
    assert r.status_code == 200 and r.get_json()["added"] == 1, r.get_json()
    vpdq = hash_video(videos["other"]).to_vpdq()
    r = client.post("/api/v1/banks/vids/videos", data=vpdq, content_type="text/plain", headers=admin)
    assert r.get_json()["added"] == 1
    listed = client.get("/api/v1/banks/vids/videos", headers=admin).get_json()["videos"]
    assert [v["source"] for v in listed] == ["stopncii", None] and listed[0]["frame_count"] >= 29
    # An excerpt matches the long video: upload, and the same as vPDQ JSON.
    m = client.post("/api/v1/match", **form({"file": (io.BytesIO(videos["clip"].read_bytes()), "clip.mp4")}), headers=match).get_json()
    assert m["kind"] == "video" and m["status"] == "matched" and m["matches"][0]["video_id"] == listed[0]["video_id"]
    assert m["matches"][0]["query_match_percent"] >= 80
    frames = hash_video(videos["clip"]).to_dict()["vpdq"]
    m2 = client.post("/api/v1/match", json={"vpdq": frames}, headers=match).get_json()
    assert m2["status"] == "matched" and m2["matches"][0]["query_match_percent"] == m["matches"][0]["query_match_percent"]
    # verify: full with a match token, withheld without.
    full = client.post("/api/v1/verify", data=videos["clip"].read_bytes(), content_type="video/mp4", headers=match)
    assert full.get_json()["hash_match"]["status"] == "matched" and full.headers["X-Provenance-View"] == "full"
    public = client.post("/api/v1/verify", data=videos["clip"].read_bytes(), content_type="video/mp4").get_json()
    assert public["hash_match"]["status"] == "withheld" and public["hash_match"]["matches"] == []
    assert "vids" not in json.dumps(public)
    # Withdraw; unknown IDs are a 404.
    r = client.post("/api/v1/banks/vids/videos/withdraw", json={"video_ids": [listed[0]["video_id"]]}, headers=admin)
    assert r.get_json()["withdrawn"] == 1
    assert error_of(client.post("/api/v1/banks/vids/videos/withdraw", json={"video_ids": [424242]}, headers=admin)) == (404, "not_found")
    m3 = client.post("/api/v1/match", json={"vpdq": frames}, headers=match).get_json()
    assert m3["status"] == "no_match"
    assert _leftovers() == before


def test_bad_video_bank_input_is_a_4xx(client, web_settings) -> None:
    with Registry.open(web_settings) as reg:
        store = TokenStore(reg)
        admin, match = bearer(store.create("admin").token), bearer(store.create("match").token)
    assert client.post("/api/v1/banks", json={"name": "vids", "label": "ncii"}, headers=admin).status_code == 201
    cases = [
        client.post("/api/v1/banks/vids/videos", data="0,100,nothex,0.0\n", content_type="text/plain", headers=admin),
        client.post("/api/v1/banks/vids/videos", data="", content_type="text/plain", headers=admin),
        client.post("/api/v1/banks/vids/videos", data=b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 300,
                    content_type="video/mp4", headers=admin),
        client.post("/api/v1/banks/vids/videos/withdraw", json={"video_ids": ["x"]}, headers=admin),
        client.post("/api/v1/match", json={"vpdq": ["1,2,3"]}, headers=match),
        client.post("/api/v1/match", json={"vpdq": [], "pdq": "0" * 64}, headers=match),
        client.post("/api/v1/banks/nope/videos", data="0,100," + "a" * 64 + ",0.0\n", content_type="text/plain", headers=admin),
    ]
    for r in cases:
        status, _code = error_of(r)
        assert 400 <= status < 500, r.get_json()
    assert client.post("/api/v1/banks/vids/videos", data="x", content_type="text/plain").status_code == 401
    assert client.get("/healthz").status_code == 200
