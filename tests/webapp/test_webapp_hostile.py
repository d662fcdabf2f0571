"""Hostile requests (issue 11): corrupt media on every upload endpoint, chunked bodies past the limit,
gunicorn's own error answers, the 413 wording, and the session cookie behind an HTTPS proxy.

The server-level tests run a real gunicorn on loopback and speak raw HTTP to it.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from api_helpers import bearer, error_of, form

from provenance import Settings
from provenance.banks import Banks
from provenance.images import decode_image
from provenance.registry import Registry
from provenance.tokens import TokenStore
from webapp.security import CSP

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "webapp" / "gunicorn_conf.py"
AVIF_DAMAGE_AT = 67_611  # as in tests/test_hostile_input.py


@pytest.fixture(scope="module")
def bad_avif(shared_dir: Path) -> bytes:
    data = bytearray((shared_dir / "c2pa-fixtures" / "gen_sample1.avif").read_bytes())
    data[AVIF_DAMAGE_AT:AVIF_DAMAGE_AT + 64] = b"\xaa" * 64
    return bytes(data)


def _csrf(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


def test_corrupt_avif_is_never_a_500(client, tokens, bad_avif: bytes) -> None:
    # Before: /api/v1/verify, the form, /hash, /match and /stamp all answered 500 (RuntimeError).
    match, stamp = tokens.create("match").token, tokens.create("stamp").token
    answers = {
        "verify": client.post("/api/v1/verify", data=bad_avif, content_type="image/avif"),
        "hash": client.post("/api/v1/hash", data=bad_avif, content_type="image/avif"),
        "match": client.post("/api/v1/match", data=bad_avif, content_type="image/avif", headers=bearer(match)),
        "stamp": client.post("/api/v1/stamp?generator=g", data=bad_avif, content_type="image/avif",
                             headers=bearer(stamp)),
        "form": client.post("/verify", **form({"file": (io.BytesIO(bad_avif), "bad.avif"), "csrf_token": _csrf(client)})),
    }
    for name, r in answers.items():
        assert r.status_code < 500, (name, r.status_code, r.get_data(as_text=True)[:300])
    # The AVIF carries Content Credentials: verify reports them and says the pixels are unreadable.
    assert answers["verify"].get_json()["watermark"]["status"] == "not_decoded"
    assert answers["form"].status_code == 200
    for name in ("hash", "match", "stamp"):
        assert error_of(answers[name]) == (400, "invalid_image"), name


def test_images_over_pillows_guard_quote_the_configured_limit(client) -> None:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 15_000, 15_000, 8, 2, 0, 0, 0)  # 225 MP: over Pillow's own 179 MP guard
    png = b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        for kind, data in ((b"IHDR", ihdr), (b"IDAT", zlib.compress(b"")), (b"IEND", b""))
    )
    r = client.post("/api/v1/verify", data=png, content_type="image/png")
    assert error_of(r) == (413, "too_large")
    message = r.get_json()["error"]["message"]
    assert "120,000,000" in message and "178" not in message and "179" not in message


def test_session_cookie_is_secure_behind_an_https_proxy(app_factory) -> None:
    direct = app_factory().test_client().get("/")
    assert "Secure" not in direct.headers["Set-Cookie"]
    proxied = app_factory(proxy_hops=1).test_client()
    r = proxied.get("/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert "; Secure" in r.headers["Set-Cookie"]
    untrusted = app_factory().test_client().get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in untrusted.headers["Set-Cookie"]  # no proxy configured: the header is not believed


# --------------------------------------------------------------------------- a real gunicorn


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("gunicorn")
    port = _free_port()
    env = {**os.environ, "PROVENANCE_INSTANCE_PATH": str(tmp / "inst"), "PROVENANCE_PORT": str(port),
           "PROVENANCE_WORKERS": "1", "PROVENANCE_MAX_UPLOAD_BYTES": str(200_000),
           "PROVENANCE_DATABASE_URL": ""}
    log = tmp / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "-c", str(CONF), "webapp:create_app()"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield port, tmp / "inst"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def _chunked_post(port: int, path: str, body: bytes, content_type: str, headers: dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        chunks = (body[i:i + 16_384] for i in range(0, len(body), 16_384))
        conn.request("POST", path, body=chunks, headers={"Content-Type": content_type, **(headers or {})},
                     encode_chunked=True)
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        conn.close()


def test_chunked_body_over_the_limit_is_refused_not_cut(server, media) -> None:
    server, _ = server
    # Before: the body was cut at the limit and the first 200,000 bytes were verified (200).
    big = media.photo_jpeg + b"\0" * (250_000 - len(media.photo_jpeg))
    assert len(media.photo_jpeg) < 200_000 < len(big)
    status, body = _chunked_post(server, "/api/v1/verify", big, "image/jpeg")
    assert status == 413 and body["error"]["code"] == "too_large", body
    # A chunked body under the limit is read whole.
    status, body = _chunked_post(server, "/api/v1/verify", media.photo_jpeg, "image/jpeg")
    assert status == 200 and body["file"]["size"] == len(media.photo_jpeg)


def test_chunked_multipart_over_the_limit_is_refused(server, media) -> None:
    port, _ = server
    big = media.photo_jpeg + b"\0" * (250_000 - len(media.photo_jpeg))
    body = form({"file": (io.BytesIO(big), "big.jpg")})
    status, answer = _chunked_post(port, "/api/v1/verify", body["data"], body["content_type"])
    assert status == 413 and answer["error"]["code"] == "too_large", answer


def test_chunked_body_of_exactly_the_limit_is_accepted(server, media) -> None:
    server, _ = server
    exact = media.photo_jpeg + b"\0" * (200_000 - len(media.photo_jpeg))
    status, body = _chunked_post(server, "/api/v1/hash", exact, "image/jpeg")
    assert status == 200 and body["sha256"], body


def test_chunked_bank_import_over_the_limit_imports_nothing(server) -> None:
    # Before: a chunked CSV import over the limit was cut and answered 200 with the rows that fitted.
    port, instance = server
    with Registry.open(Settings().with_instance(instance)) as registry:
        token = TokenStore(registry).create("admin").token
    auth = {"Authorization": f"Bearer {token}"}
    status, _ = _chunked_post(port, "/api/v1/banks", json.dumps({"name": "big", "label": "test"}).encode(),
                              "application/json", auth)
    assert status == 201
    rows = "".join(f"md5,{i:032x}\n" for i in range(6_000)).encode()  # ~225 KB, over the 200,000-byte limit
    status, body = _chunked_post(port, "/api/v1/banks/big/hashes?format=csv", b"kind,hash\n" + rows, "text/csv", auth)
    assert status == 413 and body["error"]["code"] == "too_large", body
    with Registry.open(Settings().with_instance(instance)) as registry:
        assert Banks(registry).entries("big") == []


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET /api/v1/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120))
         + b"\r\n", 431),
        (b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400),
    ],
    ids=["414", "431", "400"],
)
def test_gunicorns_own_errors_have_security_headers_and_json(server, request_bytes: bytes, status: int) -> None:
    got, headers, body = _raw(server[0], request_bytes)
    assert got == status
    assert headers["content-security-policy"] == CSP and headers["x-frame-options"] == "DENY"
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] and error["message"] and "<" not in error["message"]


def test_gunicorns_own_errors_outside_the_api_are_html(server) -> None:
    got, headers, body = _raw(server[0], b"POST /verify HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
    assert got == 400 and headers["content-type"].startswith("text/html")
    assert headers["x-content-type-options"] == "nosniff" and b"<h1>" in body


def test_preview_uses_the_decoders_limits(client, media) -> None:
    page = client.post("/verify", **form({"file": (io.BytesIO(media.photo_jpeg), "a.jpg"), "csrf_token": _csrf(client)}))
    preview = re.search(r'src="data:image/jpeg;base64,([^"]+)"', page.get_data(as_text=True))
    assert page.status_code == 200 and preview is not None
    assert 0 < max(decode_image(base64.b64decode(preview.group(1))).shape[:2]) <= 640


def test_rate_limits_switched_off_leave_the_endpoints_working(app_factory, media) -> None:
    import gc

    client = app_factory({"RATELIMIT_ENABLED": False}).test_client()
    gc.collect()  # before: the limiter was collected and every limited endpoint answered 500
    r = client.post("/api/v1/verify", data=media.photo_jpeg, content_type="image/jpeg")
    assert r.status_code == 200 and "X-RateLimit-Limit" not in r.headers


def test_hash_and_match_honour_the_configured_decode_budget(app_factory, tokens, shared_dir: Path) -> None:
    """/hash and /match decode with PROVENANCE_MAX_DECODE_MB, as verify does (issue 11, finding 5)."""
    png = (shared_dir / "samples" / "kodim03.png").read_bytes()  # 768x512 lossless: no draft decode
    roomy = app_factory().test_client()
    tight = app_factory(max_decode_bytes=2**20).test_client()  # 1 MiB: below a 768x512 decode
    token = tokens.create("admin").token
    for path in ("/api/v1/hash", "/api/v1/match"):
        assert roomy.post(path, data=png, content_type="image/png", headers=bearer(token)).status_code == 200
        r = tight.post(path, data=png, content_type="image/png", headers=bearer(token))
        assert r.status_code == 413, (path, r.get_json())
        assert "PROVENANCE_MAX_DECODE_MB" in r.get_json()["error"]["message"]
