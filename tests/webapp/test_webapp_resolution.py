"""The C2PA Soft Binding Resolution API (webapp/resolution.py): every route, every error.

Real stamps, real c2pa, a real SQLite registry; every JSON answer is validated against the
published OpenAPI document's schemas (tests/webapp/data, see its README).
"""

from __future__ import annotations

import base64
import copy
import io
import json
from pathlib import Path

import c2pa
import jsonschema
import numpy as np
import pytest
from PIL import Image

from provenance.hashing import pdq_hash_file
from provenance.registry import Registry
from provenance.resolution import MAX_RESULTS, PDQ_ALG, WATERMARK_ALG, active_manifest_store, pdq_similarity

from api_helpers import bearer, error_of, form

DATA = Path(__file__).resolve().parent / "data"
SPEC = json.loads((DATA / "c2pa-soft-binding-openapi.json").read_text())
PREFIX = "/c2pa/v1"


def _schema(name: str) -> dict:
    """A schema of the published document, with its components resolvable (and its one bug corrected)."""
    components = copy.deepcopy(SPEC["components"]["schemas"])
    # The published list puts this oneOf inside each *item*, where no {"alg": ...} can satisfy it.
    components["c2pa.softBindingAlgList"]["properties"]["watermarks"]["items"].pop("oneOf")
    components["c2pa.softBindingAlgList"]["anyOf"] = [{"required": ["watermarks"]}, {"required": ["fingerprints"]}]
    return {**components[name], "components": {"schemas": components}}


RESULT = _schema("c2pa.softBindingQueryResult")
ALG_LIST = _schema("c2pa.softBindingAlgList")
QUERY = _schema("c2pa.softBindingQuery")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _matches(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    jsonschema.validate(body, RESULT)
    return body["matches"]


@pytest.fixture
def resolve_token(tokens) -> str:
    return tokens.create("resolve", label="resolution tests").token


@pytest.fixture
def auth(resolve_token) -> dict[str, str]:
    return bearer(resolve_token)


def _stored(web_settings, stamp_id: str) -> bytes:
    with Registry.open(web_settings) as registry:
        return registry.get_stamp(stamp_id).manifest_store


def _c2pa_validates(store: bytes, trust_pem: bytes) -> dict:
    """Read a store with c2pa-python itself, trusting our dev CA: the manifest store JSON."""
    settings = {"verify": {"verify_trust": True}, "trust": {"trust_anchors": trust_pem.decode("ascii")}}
    with c2pa.Context.from_dict(settings) if hasattr(c2pa.Context, "from_dict") else c2pa.Context() as ctx:
        with c2pa.Reader("application/c2pa", io.BytesIO(store), context=ctx) as reader:
            return json.loads(reader.json())


# --------------------------------------------------------------------------- must show


def test_stamp_strip_then_resolve_through_the_api_alone(client, media, auth, web_settings) -> None:
    # The stripped copy carries no metadata at all: the API has only the watermark ID, or the pixels.
    assert b"c2pa" not in media.stripped_jpeg and b"jumb" not in media.stripped_jpeg
    value = _b64(bytes.fromhex(media.stamp_id))
    found = _matches(client.get(f"{PREFIX}/matches/byBinding", query_string={"alg": WATERMARK_ALG, "value": value},
                                headers=auth))
    assert found == [{"manifestId": media.stamp_id, "similarityScore": 100}]
    by_content = _matches(client.post(f"{PREFIX}/matches/byContent", data=media.stripped_jpeg,
                                      content_type="image/jpeg", headers=auth))
    assert by_content[0] == {"manifestId": media.stamp_id, "similarityScore": 100}

    r = client.get(f"{PREFIX}/manifests/{found[0]['manifestId']}", headers=auth)
    assert r.status_code == 200 and r.mimetype == "application/c2pa"
    store = r.get_data()
    assert store == _stored(web_settings, media.stamp_id)  # byte for byte what was embedded
    # c2pa-python validates it: signed by our CA, the only failure the missing asset's hash.
    ca = (web_settings.instance_path / "dev-signing" / "ca.pem").read_bytes()
    reader_json = _c2pa_validates(store, ca)
    codes = {s["code"] for s in reader_json.get("validation_status") or []}
    assert codes <= {"assertion.dataHash.mismatch"}, codes
    active = reader_json["manifests"][reader_json["active_manifest"]]
    bindings = [a for a in active["assertions"] if a["label"].startswith("c2pa.soft-binding")]
    assert bindings[0]["data"]["alg"] == WATERMARK_ALG
    assert bindings[0]["data"]["blocks"][0]["value"] == media.stamp_id


def test_by_binding_post_and_the_hex_form_of_the_id(client, media, auth) -> None:
    for value in (_b64(bytes.fromhex(media.stamp_id)), _b64(media.stamp_id.encode()),
                  base64.urlsafe_b64encode(bytes.fromhex(media.stamp_id)).decode().rstrip("=")):
        body = {"alg": WATERMARK_ALG, "value": value}
        jsonschema.validate(body, QUERY)
        found = _matches(client.post(f"{PREFIX}/matches/byBinding", json=body, headers=auth))
        assert [m["manifestId"] for m in found] == [media.stamp_id]


def test_by_binding_get_takes_an_unencoded_plus(client, auth, web_settings, media) -> None:
    from provenance.registry import StampRecord

    stamp_id = "fbef" + media.stamp_id[4:]  # base64 of its bytes starts with '++'
    value = _b64(bytes.fromhex(stamp_id))
    assert value.startswith("++")
    with Registry.open(web_settings) as registry:
        if registry.get_stamp(stamp_id) is None:
            registry.record_stamp(StampRecord.new(generator="g", manifest_json="{}", sha256="ab" * 32,
                                                  manifest_store=_stored(web_settings, media.stamp_id), stamp_id=stamp_id))
    r = client.get(f"{PREFIX}/matches/byBinding?alg={WATERMARK_ALG}&value={value}", headers=auth)  # '+' unescaped
    assert [m["manifestId"] for m in _matches(r)] == [stamp_id]


def test_by_binding_pdq_finds_the_stamped_output(client, media, auth) -> None:
    pdq = pdq_hash_file(media.stripped_jpeg)
    found = _matches(client.get(f"{PREFIX}/matches/byBinding", headers=auth, query_string={
        "alg": PDQ_ALG, "value": _b64(bytes.fromhex(pdq.to_hex()))}))
    ids = [m["manifestId"] for m in found]
    assert media.stamp_id in ids
    score = found[ids.index(media.stamp_id)]["similarityScore"]
    assert 88 <= score <= 100  # within the bank's threshold of 31 bits: at least 100 * 225 / 256
    far = bytes(b ^ 0xFF for b in bytes.fromhex(pdq.to_hex()))  # every bit flipped
    assert _matches(client.get(f"{PREFIX}/matches/byBinding", headers=auth, query_string={
        "alg": PDQ_ALG, "value": _b64(far)})) == []


def test_pdq_similarity_scores() -> None:
    assert [pdq_similarity(d) for d in (0, 31, 128, 256)] == [100, 88, 50, 0]


def test_unknown_id_is_no_match_and_unknown_manifest_is_404(client, auth) -> None:
    assert _matches(client.get(f"{PREFIX}/matches/byBinding", headers=auth, query_string={
        "alg": WATERMARK_ALG, "value": _b64(bytes(8))})) == []
    r = client.get(f"{PREFIX}/manifests/0000000000000000", headers=auth)
    assert error_of(r) == (404, "not_found")


@pytest.fixture(scope="module")
def never_stamped() -> bytes:
    """A textured picture no test stamps (the session's registry holds other tests' stamps of the samples)."""
    rng = np.random.default_rng(1616)
    y, x = np.mgrid[0:384, 0:512]
    base = 128 + 60 * np.sin(x / 23.0) * np.cos(y / 31.0)
    pixels = np.clip(base[..., None] + rng.normal(0, 25, (384, 512, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


def test_by_content_unmarked_picture_matches_nothing(client, never_stamped, auth) -> None:
    assert _matches(client.post(f"{PREFIX}/matches/byContent", data=never_stamped,
                                content_type="image/jpeg", headers=auth)) == []


def test_by_content_multipart_alg_and_hint(client, media, auth, never_stamped) -> None:
    r = client.post(f"{PREFIX}/matches/byContent?alg={PDQ_ALG}", headers=auth,
                    **form({"file": (io.BytesIO(media.stripped_jpeg), "copy.jpg")}))
    found = {m["manifestId"]: m["similarityScore"] for m in _matches(r)}
    assert 88 <= found[media.stamp_id] <= 100  # by PDQ alone (other stamps of the same sample may match too)
    r = client.post(f"{PREFIX}/matches/byContent?alg={PDQ_ALG}&maxResults=1", headers=auth,
                    data=media.stripped_jpeg, content_type="image/jpeg")
    assert len(_matches(r)) == 1
    hint = _b64(bytes.fromhex(media.stamp_id))
    found = _matches(client.post(f"{PREFIX}/matches/byContent", headers=auth, data=never_stamped,
                                 content_type="image/jpeg",
                                 query_string={"hintAlg": WATERMARK_ALG, "hintValue": hint}))
    assert found == [{"manifestId": media.stamp_id, "similarityScore": 100}]


def test_manifest_return_active_manifest(client, media, auth, web_settings) -> None:
    stored = _stored(web_settings, media.stamp_id)
    for flag in ("true", "1"):
        r = client.get(f"{PREFIX}/manifests/{media.stamp_id.upper()}?returnActiveManifest={flag}", headers=auth)
        assert r.status_code == 200 and r.get_data() == stored  # one manifest: the store is the active manifest
    assert client.get(f"{PREFIX}/manifests/{media.stamp_id}?returnActiveManifest=false", headers=auth).get_data() == stored
    r = client.get(f"{PREFIX}/manifests/{media.stamp_id}?returnActiveManifest=maybe", headers=auth)
    assert error_of(r) == (400, "invalid_input")
    assert active_manifest_store(stored) == stored


def test_supported_algorithms_is_public_and_follows_the_spec(client) -> None:
    r = client.get(f"{PREFIX}/services/supportedAlgorithms")
    assert r.status_code == 200
    body = r.get_json()
    jsonschema.validate(body, ALG_LIST)
    assert body == {"watermarks": [{"alg": WATERMARK_ALG}], "fingerprints": [{"alg": PDQ_ALG}]}


def test_openapi_lists_the_resolution_routes(app, client) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    documented = {(p, m.upper()) for p, ops in doc["paths"].items() if p.startswith(PREFIX) for m in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX + "/"):
            path = rule.rule.replace("<", "{").replace(">", "}")
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented and len(served) == 5


def test_the_prefix_is_configurable(app_factory, media, resolve_token) -> None:
    client = app_factory(resolution_prefix="/sbr").test_client()
    assert client.get("/sbr/services/supportedAlgorithms").status_code == 200
    assert client.get(f"{PREFIX}/services/supportedAlgorithms").status_code == 404
    r = client.get(f"/sbr/manifests/{media.stamp_id}", headers=bearer(resolve_token))
    assert r.status_code == 200 and r.mimetype == "application/c2pa"


# --------------------------------------------------------------------------- authorisation


ROUTES = [
    ("get", f"{PREFIX}/matches/byBinding?alg={WATERMARK_ALG}&value=AAAAAAAAAAA="),
    ("post", f"{PREFIX}/matches/byBinding"),
    ("post", f"{PREFIX}/matches/byContent"),
    ("get", f"{PREFIX}/manifests/0000000000000000"),
]


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_no_token_is_401_and_wrong_role_is_403(client, tokens, method, url) -> None:
    r = getattr(client, method)(url)
    assert error_of(r) == (401, "unauthorized") and r.headers["WWW-Authenticate"].startswith("Bearer")
    for role in ("match", "stamp"):
        r = getattr(client, method)(url, headers=bearer(tokens.create(role).token))
        assert error_of(r) == (403, "forbidden")
    r = getattr(client, method)(url, headers=bearer("prov_not-a-real-token"))
    assert error_of(r) == (401, "unauthorized")
    revoked = tokens.create("resolve")
    tokens.revoke(revoked.info.token_id)
    assert error_of(getattr(client, method)(url, headers=bearer(revoked.token))) == (401, "unauthorized")


def test_admin_token_may_resolve(client, tokens, media) -> None:
    r = client.get(f"{PREFIX}/manifests/{media.stamp_id}", headers=bearer(tokens.create("admin").token))
    assert r.status_code == 200


def test_public_resolution_needs_no_token_but_rejects_a_bad_one(app_factory, media) -> None:
    client = app_factory(resolution_public=True).test_client()
    found = _matches(client.get(f"{PREFIX}/matches/byBinding", query_string={
        "alg": WATERMARK_ALG, "value": _b64(bytes.fromhex(media.stamp_id))}))
    assert found[0]["manifestId"] == media.stamp_id
    assert client.get(f"{PREFIX}/manifests/{media.stamp_id}").status_code == 200
    r = client.get(f"{PREFIX}/manifests/{media.stamp_id}", headers=bearer("prov_unknown"))
    assert error_of(r) == (401, "unauthorized")


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("query", "status", "code"), [
    ({"alg": "com.example.unknown.1", "value": "AAAAAAAAAAA="}, 400, "invalid_input"),  # unknown algorithm
    ({"alg": "x" * 300, "value": "AAAAAAAAAAA="}, 400, "invalid_input"),  # oversized algorithm name
    ({"alg": "bad alg\u0000", "value": "AAAAAAAAAAA="}, 400, "invalid_input"),
    ({"alg": WATERMARK_ALG, "value": "not base64!"}, 400, "invalid_input"),  # malformed base64
    ({"alg": WATERMARK_ALG, "value": "AAAAA"}, 400, "invalid_input"),  # impossible base64 length
    ({"alg": WATERMARK_ALG, "value": "===="}, 400, "invalid_input"),
    ({"alg": WATERMARK_ALG, "value": _b64(bytes(9))}, 400, "invalid_input"),  # wrong length for an ID
    ({"alg": PDQ_ALG, "value": _b64(bytes(8))}, 400, "invalid_input"),  # wrong length for PDQ
    ({"alg": WATERMARK_ALG, "value": "A" * 3000}, 414, "uri_too_long"),  # oversized value: use POST
    ({"alg": WATERMARK_ALG}, 400, "invalid_input"),  # no value
    ({"value": "AAAAAAAAAAA="}, 400, "invalid_input"),  # no alg
    ({"alg": WATERMARK_ALG, "value": "AAAAAAAAAAA=", "maxResults": "0"}, 400, "invalid_input"),
    ({"alg": WATERMARK_ALG, "value": "AAAAAAAAAAA=", "maxResults": "-5"}, 400, "invalid_input"),
    ({"alg": WATERMARK_ALG, "value": "AAAAAAAAAAA=", "maxResults": "ten"}, 400, "invalid_input"),
    ({"alg": WATERMARK_ALG, "value": "AAAAAAAAAAA=", "extra": "1"}, 400, "unknown_field"),
])
def test_by_binding_get_bad_input(client, auth, query, status, code) -> None:
    assert error_of(client.get(f"{PREFIX}/matches/byBinding", query_string=query, headers=auth)) == (status, code)


def test_huge_max_results_is_clamped(client, media, auth) -> None:
    for n in (str(MAX_RESULTS + 1), "99999999999"):
        found = _matches(client.get(f"{PREFIX}/matches/byBinding", headers=auth, query_string={
            "alg": WATERMARK_ALG, "value": _b64(bytes.fromhex(media.stamp_id)), "maxResults": n}))
        assert len(found) == 1
    r = client.get(f"{PREFIX}/matches/byBinding", headers=auth, query_string={
        "alg": WATERMARK_ALG, "value": "AAAAAAAAAAA=", "maxResults": "9" * 40})
    assert error_of(r) == (400, "invalid_input")


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    ({"json": {"alg": "com.example.unknown.1", "value": "AAAAAAAAAAA="}}, 400, "invalid_input"),
    ({"json": {"alg": WATERMARK_ALG, "value": "%%%"}}, 400, "invalid_input"),
    ({"json": {"alg": WATERMARK_ALG, "value": "A" * 5000}}, 400, "invalid_input"),  # oversized even for POST
    ({"json": {"alg": WATERMARK_ALG, "value": 12}}, 400, "invalid_input"),
    ({"json": {"alg": ["x"], "value": "AAAAAAAAAAA="}}, 400, "invalid_input"),
    ({"json": {"alg": WATERMARK_ALG}}, 400, "missing_field"),
    ({"json": {"alg": WATERMARK_ALG, "value": "AAAAAAAAAAA=", "x": 1}}, 400, "unknown_field"),
    ({"json": ["not", "an", "object"]}, 400, "invalid_json"),
    ({"data": b"{not json", "content_type": "application/json"}, 400, "invalid_json"),
    ({"data": b"alg=x", "content_type": "text/plain"}, 415, "unsupported_type"),
])
def test_by_binding_post_bad_input(client, auth, kwargs, status, code) -> None:
    assert error_of(client.post(f"{PREFIX}/matches/byBinding", headers=auth, **kwargs)) == (status, code)


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    ({"data": b"just some text, not an image\n" * 10, "content_type": "text/plain"}, 415, "unsupported_type"),
    ({"data": b"", "content_type": "image/png"}, 400, "empty_file"),
    ({"data": b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "content_type": "image/png"}, 400, "invalid_image"),
    ({"data": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "content_type": "application/pdf"}, 415,
     "unsupported_type"),
])
def test_by_content_bad_uploads(client, auth, kwargs, status, code) -> None:
    assert error_of(client.post(f"{PREFIX}/matches/byContent", headers=auth, **kwargs)) == (status, code)


@pytest.mark.parametrize(("query", "status", "code"), [
    ("alg=com.example.unknown.1", 400, "invalid_input"),
    ("maxResults=0", 400, "invalid_input"),
    (f"hintAlg={WATERMARK_ALG}", 400, "invalid_input"),  # hintValue missing
    (f"hintAlg={WATERMARK_ALG}&hintValue=***", 400, "invalid_input"),
    ("colour=red", 400, "unknown_field"),
])
def test_by_content_bad_parameters(client, media, auth, query, status, code) -> None:
    r = client.post(f"{PREFIX}/matches/byContent?{query}", headers=auth, data=media.photo_jpeg, content_type="image/jpeg")
    assert error_of(r) == (status, code)


def test_by_content_tiny_image_is_no_match_not_an_error(client, auth) -> None:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(out, "PNG")
    assert _matches(client.post(f"{PREFIX}/matches/byContent", headers=auth, data=out.getvalue(),
                                content_type="image/png")) == []


@pytest.mark.parametrize("manifest_id", ["xyz", "0" * 15, "0" * 17, "urn:c2pa:1234", "..%2F..%2Fetc"])
def test_malformed_manifest_id_is_400(client, auth, manifest_id) -> None:
    r = client.get(f"{PREFIX}/manifests/{manifest_id}", headers=auth)
    assert error_of(r) in {(400, "invalid_input"), (404, "not_found")}
    assert r.status_code == 400 or "/" in manifest_id or "%2F" in manifest_id


def test_errors_under_the_prefix_are_json(client, auth) -> None:
    assert error_of(client.get(f"{PREFIX}/nothing-here")) == (404, "not_found")
    r = client.delete(f"{PREFIX}/manifests/0000000000000000", headers=auth)
    assert error_of(r) == (405, "method_not_allowed")
    r = client.get(f"{PREFIX}/services/supportedAlgorithms?x=1")
    assert error_of(r) == (400, "unknown_field")


def test_oversized_upload_is_413(app_factory, media, resolve_token) -> None:
    client = app_factory({"MAX_CONTENT_LENGTH": 1000}).test_client()
    r = client.post(f"{PREFIX}/matches/byContent", data=media.stripped_jpeg, content_type="image/jpeg",
                    headers=bearer(resolve_token))
    assert error_of(r) == (413, "too_large")
