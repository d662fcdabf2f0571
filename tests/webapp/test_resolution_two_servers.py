"""Two installations of our server on loopback, with separate registries and keys.

Server A stamps; server B verifies a metadata-stripped copy and recovers A's credentials through
``PROVENANCE_RESOLVERS`` (A's ``/c2pa/v1``). Both are real werkzeug servers in threads on
127.0.0.1, spoken to over HTTP.
"""

from __future__ import annotations

import io
import json
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
from PIL import Image
from werkzeug.serving import make_server

from provenance import Settings
from provenance.registry import Registry
from provenance.resolution import PDQ_ALG, WATERMARK_ALG
from provenance.tokens import TokenStore
from webapp import create_app

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "verification-report.v1.json").read_text())


@dataclass
class Running:
    url: str
    settings: Settings
    server: object
    thread: threading.Thread


def _serve(settings: Settings) -> Running:
    app = create_app({"PROVENANCE_SETTINGS": settings})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return Running(f"http://127.0.0.1:{server.server_port}", settings, server, thread)


def _stop(running: Running) -> None:
    running.server.shutdown()
    running.server.server_close()
    running.thread.join(5)


def _http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=60) as r:
        return r.status, r.read(), dict(r.headers)


@pytest.fixture(scope="module")
def server_a(tmp_path_factory: pytest.TempPathFactory):
    """Installation A: resolution public, its own instance folder, registry, keys and dev CA."""
    settings = Settings(instance_path=tmp_path_factory.mktemp("a") / "instance", resolution_public=True,
                        watermark_search="quick")
    running = _serve(settings)
    yield running
    _stop(running)


@pytest.fixture(scope="module")
def stamped_by_a(server_a: Running, shared_dir: Path):
    """A stamps kodim03 through its own API; the copy is re-encoded without any metadata."""
    with Registry.open(server_a.settings) as registry:
        token = TokenStore(registry).create("stamp").token
    photo = (shared_dir / "samples" / "kodim03.png").read_bytes()
    status, data, headers = _http("POST", f"{server_a.url}/api/v1/stamp?generator=a-diffusion%202", photo,
                                  {"Authorization": f"Bearer {token}", "Content-Type": "image/png"})
    assert status == 201
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(out, "JPEG", quality=90)
    stripped = out.getvalue()
    assert b"c2pa" not in stripped
    return headers["X-Provenance-Stamp-Id"], stripped


def _verify_on_b(tmp_path: Path, server_a: Running, stripped: bytes, **overrides) -> dict:
    settings = Settings(instance_path=tmp_path / "b", resolvers=(f"{server_a.url}/c2pa/v1",), resolver_timeout_s=10,
                        watermark_search="quick", **overrides)
    running = _serve(settings)
    try:
        status, body, _ = _http("POST", f"{running.url}/api/v1/verify?name=copy.jpg", stripped,
                                {"Content-Type": "image/jpeg"})
    finally:
        _stop(running)
    assert status == 200
    report = json.loads(body)
    jsonschema.validate(report, SCHEMA)
    return report


def test_b_recovers_a_credentials_by_fingerprint(tmp_path: Path, server_a: Running, stamped_by_a) -> None:
    """B has its own watermark key (so no watermark of its own is seen) and trusts A's dev CA."""
    stamp_id, stripped = stamped_by_a
    a_ca = server_a.settings.instance_path / "dev-signing" / "ca.pem"
    report = _verify_on_b(tmp_path, server_a, stripped, trust_anchors=(a_ca,))
    assert report["registry"]["status"] == "not_found"  # B's own registry knows nothing of it
    assert report["watermark"]["detected"] is False
    remote = report["remote_resolution"]
    assert remote["status"] == "recovered"
    found = remote["recovered"]
    assert found["service"] == f"{server_a.url}/c2pa/v1" and found["manifest_id"] == stamp_id
    assert found["alg"] == PDQ_ALG and 88 <= found["similarity_score"] <= 100
    assert found["manifest"]["signature_state"] == "trusted"
    assert found["manifest"]["ai_disclosure"] == "ai_generated"
    assert {"alg": WATERMARK_ALG, "value": stamp_id} in found["manifest"]["soft_bindings"]
    assert server_a.url in report["verdict"]["headline"] and "ai-generated" in report["verdict"]["headline"]
    assert remote["explanation"] in report["verdict"]["reasons"]
    with Registry.open(server_a.settings) as registry:
        assert found["size"] == len(registry.get_stamp(stamp_id).manifest_store)


def test_b_with_a_shared_watermark_key_asks_by_watermark_id(tmp_path: Path, server_a: Running, stamped_by_a) -> None:
    """B detects the watermark (same key file as A), does not hold the ID, and asks A for it."""
    stamp_id, stripped = stamped_by_a
    report = _verify_on_b(tmp_path, server_a, stripped,
                          watermark_keys_path=server_a.settings.instance_path / "dev-watermark.keys")
    assert report["watermark"]["stamp_id"] == stamp_id and report["registry"]["status"] == "not_found"
    assert report["verdict"]["code"] == "watermark_unregistered"
    found = report["remote_resolution"]["recovered"]
    assert found["alg"] == WATERMARK_ALG and found["similarity_score"] == 100 and found["manifest_id"] == stamp_id
    # B does not trust A's development CA: the signature holds, the signer is not trusted, and it says so.
    assert found["manifest"]["signature_state"] == "valid"
    assert "signature valid" in report["verdict"]["headline"]


def test_b_sends_its_token_when_a_needs_one(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                           server_a: Running, stamped_by_a) -> None:
    """A serves resolution to `resolve` tokens only (the default): B without a token is refused, with one it recovers."""
    stamp_id, stripped = stamped_by_a
    private = Settings(instance_path=server_a.settings.instance_path, watermark_search="quick")  # A's registry
    running = _serve(private)
    try:
        with Registry.open(private) as registry:
            token = TokenStore(registry).create("resolve", label="installation B").token
        tokens = tmp_path / "resolver-tokens"
        tokens.write_text(f"{running.url}/c2pa/v1 {token}\n")
        refused = _verify_on_b(tmp_path / "no-token", running, stripped)
        assert refused["remote_resolution"]["status"] == "failed"
        assert "HTTP 401" in refused["remote_resolution"]["attempts"][-1]["detail"]
        report = _verify_on_b(tmp_path / "token", running, stripped, resolver_tokens_path=tokens)
        assert report["remote_resolution"]["status"] == "recovered"
        assert report["remote_resolution"]["recovered"]["manifest_id"] == stamp_id
    finally:
        _stop(running)


def test_b_reports_a_down_server_and_still_verifies(tmp_path: Path, server_a: Running, stamped_by_a) -> None:
    _, stripped = stamped_by_a
    settings = Settings(instance_path=tmp_path / "b2", resolvers=("http://127.0.0.1:9/c2pa/v1",),
                        resolver_timeout_s=2, watermark_search="quick")
    running = _serve(settings)
    try:
        status, body, _ = _http("POST", f"{running.url}/api/v1/verify", stripped, {"Content-Type": "image/jpeg"})
    finally:
        _stop(running)
    report = json.loads(body)
    assert status == 200 and report["remote_resolution"]["status"] == "failed"
    assert report["verdict"]["code"] == "no_signals"
