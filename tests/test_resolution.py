"""provenance.resolution: the JUMBF cut, the lookups, and the client against real misbehaving HTTP servers.

The servers are stdlib HTTP servers on 127.0.0.1 answering what each test scripts: slow,
garbage, malformed, oversized, or a manifest that does not validate.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import struct
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import jsonschema
import pytest
from PIL import Image

from provenance import InvalidInputError, ManifestError, ResolverError, Settings
from provenance.banks import Banks
from provenance.manifest import read_manifest
from provenance.registry import Registry
from provenance.report import Verifier
from provenance.resolution import (
    MAX_JSON_BYTES,
    PDQ_ALG,
    WATERMARK_ALG,
    ResolverClient,
    active_manifest_store,
    check_alg,
    check_max_results,
    decode_value,
    find_by_binding,
    manifest_boxes,
    manifest_store_for,
    resolve_remotely,
)
from provenance.stamp import Stamper

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "verification-report.v1.json").read_text())


@pytest.fixture(scope="module")
def stamped(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path):
    """A stamp in its own instance: (settings, stamp_id, stored manifest store, stripped JPEG)."""
    settings = Settings(instance_path=tmp_path_factory.mktemp("sbr") / "instance")
    with Stamper(settings) as stamper:
        result = stamper.stamp_image(shared_dir / "samples" / "kodim03.png", generator="test-diffusion 1.0",
                                     output_format="PNG", requester="tests")
    with Registry.open(settings) as registry:
        store = registry.get_stamp(result.stamp_id).manifest_store
    out = io.BytesIO()
    Image.open(io.BytesIO(result.data)).convert("RGB").save(out, "JPEG", quality=90)
    return settings, result.stamp_id, store, out.getvalue()


# --------------------------------------------------------------------------- jumbf


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_active_manifest_of_a_two_manifest_store_is_the_last(stamped) -> None:
    _, _, store, _ = stamped
    (only,), (_, d0, _, d1) = manifest_boxes(store)
    assert only.label.startswith("urn:c2pa:")
    manifest = store[only.start:only.end]
    # An older manifest (same box under another label) before the active one.
    older = manifest.replace(only.label.encode(), b"urn:c2pa:00000000-0000-4000-8000-000000000000", 1)
    two = _box(b"jumb", store[d0:d1] + older + manifest)
    labels = [m.label for m in manifest_boxes(two)[0]]
    assert labels == ["urn:c2pa:00000000-0000-4000-8000-000000000000", only.label]
    assert active_manifest_store(two) == store  # the active one, rewrapped: the original bytes
    assert active_manifest_store(store) is store


@pytest.mark.parametrize("data", [
    b"", b"\x00\x00\x00\x10jumb", b"not jumbf at all", _box(b"jumb", _box(b"jumd", b"\x00" * 16 + b"\x03other\x00")),
    _box(b"free", b""), _box(b"jumb", b"") + _box(b"jumb", b""),
])
def test_not_a_store_raises_manifest_error(data: bytes) -> None:
    with pytest.raises(ManifestError):
        active_manifest_store(data)


# --------------------------------------------------------------------------- server-side checks


@pytest.mark.parametrize(("value", "expected"), [
    ("AAEC", b"\x00\x01\x02"), ("AAE", b"\x00\x01"), ("-_8", b"\xfb\xff"), ("+/8=", b"\xfb\xff"),
])
def test_decode_value_accepts_both_alphabets(value: str, expected: bytes) -> None:
    assert decode_value(value) == expected


@pytest.mark.parametrize("value", ["", "   ", "a b", "A", "AA=A", "A" * 5000, None, 7, "=="])
def test_decode_value_rejects(value) -> None:
    with pytest.raises(InvalidInputError):
        decode_value(value)


@pytest.mark.parametrize(("raw", "expected"), [(None, 10), ("", 10), ("1", 1), ("100", 100), ("101", 100),
                                               (10 ** 9, 100)])
def test_max_results(raw, expected: int) -> None:
    assert check_max_results(raw) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "x", True, 0, "1" * 13])
def test_max_results_rejects(raw) -> None:
    with pytest.raises(InvalidInputError):
        check_max_results(raw)


@pytest.mark.parametrize("alg", ["", "com.adobe.trustmark.Q", "a" * 257, "x y", None])
def test_check_alg_rejects(alg) -> None:
    with pytest.raises(InvalidInputError):
        check_alg(alg)


def test_lookups_on_a_postgres_registry(pg_url: str, stamped) -> None:
    """The same lookups on PostgreSQL: a stamp recorded there is found by ID and by PDQ."""
    settings, _, _, stripped = stamped
    pg = replace(settings, database_url=pg_url)
    with Stamper(pg) as stamper:
        result = stamper.stamp_image(stripped, generator="g", output_format="PNG", requester="tests")
    with Registry.open(pg) as registry:
        banks = Banks(registry)
        found = find_by_binding(registry, banks, WATERMARK_ALG, bytes.fromhex(result.stamp_id))
        assert [m.manifest_id for m in found] == [result.stamp_id]
        assert manifest_store_for(registry, result.stamp_id) == registry.get_stamp(result.stamp_id).manifest_store
        phash = registry.get_stamp(result.stamp_id).phash
        by_pdq = find_by_binding(registry, banks, PDQ_ALG, bytes.fromhex(phash))
        assert by_pdq[0].manifest_id == result.stamp_id and by_pdq[0].similarity_score == 100


# --------------------------------------------------------------------------- a scripted HTTP server

Route = Callable[[BaseHTTPRequestHandler], tuple[int, str, bytes]]


class _Scripted:
    """A real HTTP server on 127.0.0.1 whose answers each test sets per path (query string ignored)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self.auth: list[str | None] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                path = self.path.split("?", 1)[0]
                scripted.requests.append(f"{self.command} {self.path}")
                scripted.auth.append(self.headers.get("Authorization"))
                length = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(length) if length else b""
                route = scripted.routes.get(path)
                status, ctype, body, *extra = route(self) if route else (404, "application/json", b'{"error": "none"}')
                try:
                    self.send_response(status)
                    for name, value in (extra[0] if extra else {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/c2pa/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def json(self, path: str, body: object, status: int = 200) -> None:
        self.routes["/c2pa/v1" + path] = lambda h: (status, "application/json", json.dumps(body).encode())

    def raw(self, path: str, body: bytes, ctype: str = "application/c2pa", delay_s: float = 0.0) -> None:
        def route(h):
            time.sleep(delay_s)
            return 200, ctype, body
        self.routes["/c2pa/v1" + path] = route

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def remote():
    server = _Scripted()
    yield server
    server.close()


ALGS = {"watermarks": [{"alg": WATERMARK_ALG}], "fingerprints": [{"alg": PDQ_ALG}]}
BINDING = [(WATERMARK_ALG, base64.b64encode(bytes(8)).decode())]


def _validate_with(settings: Settings):
    def validate(store: bytes):
        summary = read_manifest(store, mime="application/c2pa", settings=settings)
        # A store alone cannot match an asset's hash, and the dev CA is trusted nowhere: those aside, it must hold.
        bad = [f for f in summary.failures if not f.trust_only and not f.code.endswith("Hash.mismatch")]
        return summary, ("invalid" if summary.error or bad or not summary.has_manifest else "valid")
    return validate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_client_reads_a_well_behaved_service(remote, stamped) -> None:
    settings, stamp_id, store, _ = stamped
    remote.json("/services/supportedAlgorithms", ALGS)
    remote.json("/matches/byBinding", {"matches": [{"manifestId": stamp_id, "similarityScore": 100}]})
    remote.raw(f"/manifests/{stamp_id}", store)
    client = ResolverClient(remote.base, timeout_s=2)
    assert client.supported_algorithms() == {WATERMARK_ALG, PDQ_ALG}
    assert client.by_binding(WATERMARK_ALG, "AAAAAAAAAAA=")[0].manifest_id == stamp_id
    assert client.manifest(stamp_id) == store
    got = resolve_remotely([remote.base], BINDING, _validate_with(settings), timeout_s=2)
    assert got.status == "recovered" and got.recovered.service == remote.base and got.recovered.size == len(store)
    assert [a.outcome for a in got.attempts] == ["matched"]
    assert f"POST /c2pa/v1/matches/byBinding?maxResults=3" in remote.requests


def test_a_service_that_times_out(remote) -> None:
    remote.raw("/services/supportedAlgorithms", json.dumps(ALGS).encode(), "application/json", delay_s=2.5)
    started = time.monotonic()
    got = resolve_remotely([remote.base], BINDING, _validate_with(Settings()), timeout_s=1)
    assert time.monotonic() - started < 2.4
    assert got.status == "failed" and "within 1.0 s" in got.attempts[0].detail
    with pytest.raises(ResolverError, match="within"):
        ResolverClient(remote.base, timeout_s=1).supported_algorithms()


def test_a_service_that_is_not_there() -> None:
    base = f"http://127.0.0.1:{_free_port()}/c2pa/v1"
    got = resolve_remotely([base], BINDING, _validate_with(Settings()), timeout_s=1)
    assert got.status == "failed" and "cannot connect" in got.explanation


@pytest.mark.parametrize(("algs", "matches", "why"), [
    (b"<html>not json</html>", None, "not JSON"),
    (json.dumps([1, 2]).encode(), None, "did not answer an object"),
    (json.dumps({"watermarks": "all"}).encode(), None, "malformed 'watermarks'"),
    (json.dumps(ALGS).encode(), {"matches": "many"}, "'matches' list"),
    (json.dumps(ALGS).encode(), {"matches": [{"manifestId": 5}]}, "malformed match"),
    (json.dumps(ALGS).encode(), {"matches": [{"manifestId": "a", "similarityScore": 500}]}, "malformed match"),
    (json.dumps(ALGS).encode(), {"matches": [{"manifestId": "a", "similarityScore": True}]}, "malformed match"),
    (json.dumps(ALGS).encode(), [], "'matches' list"),
    (b"[" * (MAX_JSON_BYTES + 10), None, "larger than"),
])
def test_a_service_that_answers_garbage(remote, algs, matches, why) -> None:
    remote.raw("/services/supportedAlgorithms", algs, "application/json")
    if matches is not None:
        remote.json("/matches/byBinding", matches)
    got = resolve_remotely([remote.base], BINDING, _validate_with(Settings()), timeout_s=2)
    assert got.status == "failed" and got.recovered is None
    assert why in got.attempts[-1].detail


def test_http_errors_and_unsupported_algorithms(remote) -> None:
    remote.json("/services/supportedAlgorithms", {"fingerprints": [{"alg": "com.example.fp"}]})
    got = resolve_remotely([remote.base], BINDING, _validate_with(Settings()), timeout_s=2)
    assert got.status == "not_found" and [a.outcome for a in got.attempts] == ["unsupported"]
    remote.json("/services/supportedAlgorithms", ALGS)
    remote.json("/matches/byBinding", {"error": "no"}, status=500)
    got = resolve_remotely([remote.base], BINDING, _validate_with(Settings()), timeout_s=2)
    assert got.status == "failed" and "HTTP 500" in got.attempts[0].detail


@pytest.mark.parametrize("tamper", ["garbage", "flipped", "empty"])
def test_a_service_that_returns_a_manifest_that_does_not_validate(remote, stamped, tamper) -> None:
    settings, stamp_id, store, _ = stamped
    body = {"garbage": b"\x00" * 200, "flipped": store[:-40] + bytes(b ^ 0x55 for b in store[-40:]), "empty": b""}[tamper]
    remote.json("/services/supportedAlgorithms", ALGS)
    remote.json("/matches/byBinding", {"matches": [{"manifestId": stamp_id}]})
    remote.raw(f"/manifests/{stamp_id}", body)
    got = resolve_remotely([remote.base], BINDING, _validate_with(settings), timeout_s=2)
    assert got.status in ("recovered_invalid", "failed", "not_found") and got.status != "recovered"
    assert any(a.outcome in ("invalid_manifest", "error") for a in got.attempts)


def test_an_endpoint_outside_the_configured_services_is_not_followed(remote, stamped) -> None:
    settings, stamp_id, store, _ = stamped
    remote.json("/services/supportedAlgorithms", ALGS)
    remote.json("/matches/byBinding", {"matches": [{"manifestId": stamp_id, "endpoint": "http://169.254.169.254/x"}]})
    got = resolve_remotely([remote.base], BINDING, _validate_with(settings), timeout_s=2)
    assert got.status == "not_found" and "not in PROVENANCE_RESOLVERS" in got.attempts[0].detail
    assert not any("manifests" in r for r in remote.requests)


def test_a_token_goes_to_its_own_service_only(stamped) -> None:
    one, two = _Scripted(), _Scripted()
    try:
        for server in (one, two):
            server.json("/services/supportedAlgorithms", ALGS)
            server.json("/matches/byBinding", {"matches": []})
        got = resolve_remotely([one.base, two.base + "/"], BINDING, _validate_with(Settings()), timeout_s=2,
                               tokens={one.base: "prov_for-one"})
        assert got.status == "not_found" and len(got.attempts) == 2
        assert one.auth == ["Bearer prov_for-one"] * 2 and two.auth == [None, None]
    finally:
        one.close()
        two.close()


def test_redirects_are_not_followed() -> None:
    one, two = _Scripted(), _Scripted()
    try:
        two.json("/services/supportedAlgorithms", ALGS)
        one.routes["/c2pa/v1/services/supportedAlgorithms"] = lambda h: (
            302, "text/plain", b"", {"Location": two.base + "/services/supportedAlgorithms"})
        got = resolve_remotely([one.base], BINDING, _validate_with(Settings()), timeout_s=2, tokens={one.base: "prov_x"})
        assert got.status == "failed" and "redirects are not followed" in got.attempts[0].detail
        assert two.requests == []  # neither the request nor the token went there
    finally:
        one.close()
        two.close()


def test_load_resolver_tokens(tmp_path: Path) -> None:
    from provenance import ConfigError
    from provenance.resolution import load_resolver_tokens

    good = tmp_path / "tokens"
    good.write_text("# resolvers\nhttps://a.example/c2pa/v1/ prov_a\n\nhttp://127.0.0.1:8001/c2pa/v1 prov_b\n")
    assert load_resolver_tokens(good) == {"https://a.example/c2pa/v1": "prov_a", "http://127.0.0.1:8001/c2pa/v1": "prov_b"}
    for text in ("https://a.example prov_a extra\n", "prov_a\n", "ftp://a prov_a\n"):
        good.write_text(text)
        with pytest.raises(ConfigError, match="line 1"):
            load_resolver_tokens(good)
    with pytest.raises(ConfigError, match="Cannot read"):
        load_resolver_tokens(tmp_path / "missing")


def test_verification_completes_when_every_resolver_fails(remote, stamped, tmp_path: Path) -> None:
    """A stripped copy verified by another installation whose resolvers misbehave: a full report all the same."""
    _, stamp_id, store, stripped = stamped
    remote.json("/services/supportedAlgorithms", ALGS)
    remote.json("/matches/byBinding", {"matches": [{"manifestId": stamp_id}]})
    remote.raw(f"/manifests/{stamp_id}", store[:-40] + bytes(b ^ 0x55 for b in store[-40:]))  # signature broken
    dead = f"http://127.0.0.1:{_free_port()}/c2pa/v1"
    other = Settings(instance_path=tmp_path / "other", resolvers=(dead, remote.base), resolver_timeout_s=2,
                     watermark_search="quick")
    with Verifier(other) as verifier:
        report = verifier.verify(stripped, name="copy.jpg")
    data = report.to_dict()
    jsonschema.validate(data, SCHEMA)
    remote_part = data["remote_resolution"]
    assert remote_part["status"] == "recovered_invalid"
    assert remote_part["recovered"]["manifest"]["signature_state"] == "invalid"
    outcomes = {(a["service"], a["outcome"]) for a in remote_part["attempts"]}
    assert (dead, "error") in outcomes
    assert any(s == remote.base and o == "invalid_manifest" for s, o in outcomes)
    assert data["verdict"]["code"] == "no_signals"  # nothing validated: the verdict does not rely on it
    assert remote_part["explanation"] in data["verdict"]["reasons"]


def test_resolvers_are_off_by_default(stamped, tmp_path: Path) -> None:
    _, _, _, stripped = stamped
    with Verifier(Settings(instance_path=tmp_path / "offline", watermark_search="quick")) as verifier:
        data = verifier.verify(stripped).to_dict()
    assert "remote_resolution" not in data


def test_resolver_settings_from_env() -> None:
    s = Settings.from_env({"PROVENANCE_RESOLVERS": "http://127.0.0.1:8001/c2pa/v1/, https://r.example/sbr",
                           "PROVENANCE_RESOLVER_TIMEOUT": "3", "PROVENANCE_RESOLUTION_PUBLIC": "1",
                           "PROVENANCE_RESOLUTION_PREFIX": "/sbr/v1/", "PROVENANCE_RESOLVER_TOKENS": "/etc/tokens"})
    assert s.resolver_tokens_path == Path("/etc/tokens")
    assert s.resolvers == ("http://127.0.0.1:8001/c2pa/v1", "https://r.example/sbr")
    assert (s.resolver_timeout_s, s.resolution_public, s.resolution_prefix) == (3, True, "/sbr/v1")
    d = Settings.from_env({})
    assert (d.resolvers, d.resolution_public, d.resolution_prefix) == ((), False, "/c2pa/v1")


@pytest.mark.parametrize(("name", "value"), [
    ("PROVENANCE_RESOLVERS", "ftp://x.example"), ("PROVENANCE_RESOLVERS", "http://a b"),
    ("PROVENANCE_RESOLVER_TIMEOUT", "0"), ("PROVENANCE_RESOLUTION_PUBLIC", "maybe"),
    ("PROVENANCE_RESOLUTION_PREFIX", "/api/v1"), ("PROVENANCE_RESOLUTION_PREFIX", "no-slash"),
])
def test_bad_resolver_settings(name: str, value: str) -> None:
    from provenance import ConfigError

    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_public_names_are_pinned() -> None:
    from provenance import resolution

    assert set(resolution.__all__) == {
        "DEFAULT_MAX_RESULTS", "MAX_ALG_CHARS", "MAX_JSON_BYTES", "MAX_RESULTS", "MAX_STORE_BYTES", "MAX_VALUE_CHARS",
        "PDQ_ALG", "SUPPORTED_ALGORITHMS", "WATERMARK_ALG", "ManifestBox", "RecoveredManifest", "RemoteAttempt",
        "RemoteMatch", "RemoteResolution", "ResolutionMatch", "ResolverClient", "active_manifest_store",
        "binding_value", "check_alg", "check_manifest_id", "check_max_results", "decode_value", "find_by_binding",
        "find_by_content", "load_resolver_tokens", "manifest_boxes", "manifest_store_for", "pdq_similarity", "resolve_remotely",
        "soft_binding_queries", "supported_algorithms",
    }
    assert all(hasattr(resolution, name) for name in resolution.__all__)


def test_soft_binding_queries_order_and_encoding() -> None:
    from provenance.resolution import soft_binding_queries

    queries = soft_binding_queries(
        watermark_id="00112233445566ff",
        soft_bindings=[(WATERMARK_ALG, "00112233445566FF"), ("com.example.wm.1", "cXVlcnk="), (WATERMARK_ALG, "zz")],
        pdq_hex="ab" * 32,
    )
    assert queries == [
        (WATERMARK_ALG, base64.b64encode(bytes.fromhex("00112233445566ff")).decode()),  # once, though named twice
        ("com.example.wm.1", "cXVlcnk="),  # another vendor's value, as written
        (WATERMARK_ALG, "zz"),  # not an ID of ours: passed on as written, the service will judge it
        (PDQ_ALG, base64.b64encode(b"\xab" * 32).decode()),
    ]
    assert soft_binding_queries(watermark_id=None) == []


def test_another_vendors_soft_binding_in_broken_credentials_is_asked_about(remote, stamped, tmp_path: Path) -> None:
    """A file whose credentials no longer validate names another vendor's watermark: the verifier asks for it."""
    from provenance.signing import ai_generated_manifest, load_credentials, sign_asset

    _, stamp_id, store, _ = stamped
    other = Settings(instance_path=tmp_path / "vendor", resolvers=(remote.base,), resolver_timeout_s=2,
                     watermark_search="quick")
    out = io.BytesIO()
    Image.new("RGB", (256, 192), (40, 120, 200)).save(out, "JPEG", quality=90)
    manifest = ai_generated_manifest(generator="vendor-model", watermark_id="0011223344556677",
                                     watermark_alg="com.example.wm.1")
    signed = bytearray(sign_asset(out.getvalue(), "image/jpeg", manifest, load_credentials(other)))
    signed[-20] ^= 0xFF  # change the pixels' bytes after signing: the credentials no longer validate
    bodies: list[dict] = []

    def by_binding(handler):
        bodies.append(json.loads(handler.body))
        return 200, "application/json", json.dumps({"matches": [{"manifestId": stamp_id, "similarityScore": 97}]}).encode()

    remote.json("/services/supportedAlgorithms", {"watermarks": [{"alg": "com.example.wm.1"}]})
    remote.routes["/c2pa/v1/matches/byBinding"] = by_binding
    remote.raw(f"/manifests/{stamp_id}", store)
    with Verifier(other) as verifier:
        report = verifier.verify(bytes(signed))
    assert report.manifest.state == "invalid"
    assert bodies == [{"alg": "com.example.wm.1", "value": "0011223344556677"}]
    got = report.remote_resolution
    assert got.status == "recovered" and got.recovered.alg == "com.example.wm.1" and got.recovered.similarity_score == 97
    assert got.recovered.signature_state == "valid"  # A's development CA is not trusted by this installation
    jsonschema.validate(report.to_dict(), SCHEMA)


def test_by_content_does_not_resolve_a_copied_mark(stamped, shared_dir: Path) -> None:
    """Issue 13 at the resolution API: a keyless copy of the mark on another photo is not our manifest."""
    import numpy as np

    from provenance import keyless_attacks
    from provenance.keys import load_keyring
    from provenance.resolution.server import find_by_content

    settings, stamp_id, _, stripped = stamped
    with Registry.open(settings) as registry:
        banks = Banks(registry)
        keyring = load_keyring(settings)
        kwargs = dict(registry=registry, banks=banks, keyring=keyring, max_pixels=settings.max_pixels)
        genuine = find_by_content(stripped, **kwargs)
        assert [(m.manifest_id, m.similarity_score) for m in genuine if m.alg == WATERMARK_ALG] == [(stamp_id, 100)]
        marked = np.asarray(Image.open(io.BytesIO(stripped)).convert("RGB"))
        other = np.asarray(Image.open(shared_dir / "samples" / "kodim04.png").convert("RGB"))
        out = io.BytesIO()
        Image.fromarray(keyless_attacks.copy_mark(marked, other)).save(out, "PNG")
        from provenance import watermark

        assert watermark.detect(np.asarray(Image.open(out).convert("RGB")), key=keyring.active.secret).detected
        assert all(m.manifest_id != stamp_id for m in find_by_content(out.getvalue(), **kwargs))
