"""The JSON API (webapp/api.py) through Flask's test client: every endpoint and every error code.

Real stamping, real c2pa, a real SQLite registry; nothing mocked.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import jsonschema
import pytest
from PIL import Image

from provenance import Settings
from webapp.api import OPENAPI_PATH

from api_helpers import bearer, error_of, form

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "verification-report.v1.json").read_text())


# --------------------------------------------------------------------------- verify


def test_verify_raw_body_gives_a_schema_valid_report(client, media) -> None:
    r = client.post("/api/v1/verify?name=out.png", data=media.stamped_png, content_type="image/png")
    assert r.status_code == 200 and r.mimetype == "application/json"
    report = r.get_json()
    jsonschema.validate(report, SCHEMA)
    assert report["verdict"]["code"] == "ai_generated_trusted"
    assert report["file"]["name"] == "out.png" and report["watermark"]["stamp_id"] == media.stamp_id
    assert report["file"]["sha256"] == hashlib.sha256(media.stamped_png).hexdigest()
    assert r.headers["Cache-Control"] == "no-store" and "X-RateLimit-Limit" in r.headers


def test_verify_multipart_recovers_stripped_credentials(client, media) -> None:
    r = client.post("/api/v1/verify", **form({"file": (io.BytesIO(media.stripped_jpeg), "copy.jpg")}))
    assert r.status_code == 200
    report = r.get_json()
    assert report["verdict"]["code"] == "ai_generated_recovered"
    assert report["manifest"]["state"] == "absent"
    assert report["registry"]["recovered_because_missing"] is True
    assert report["registry"]["recovered_manifest"]["ai_disclosure"] == "ai_generated"
    assert report["file"]["name"] == "copy.jpg"


def test_verify_unmarked_photo(client, media) -> None:
    r = client.post("/api/v1/verify", data=media.photo_jpeg, content_type="application/octet-stream")
    assert r.status_code == 200 and r.get_json()["verdict"]["code"] == "no_signals"


def test_verify_search_mode_per_request(client, media) -> None:
    # A cropped, metadata-stripped copy: only the full search finds the lattice (a crop rescales
    # the size-normalised grid; a whole-image resize would be found by both).
    with Image.open(io.BytesIO(media.stripped_jpeg)) as im:
        w, h = im.width * 4 // 5, im.height * 4 // 5
        small = im.crop(((im.width - w) // 2, (im.height - h) // 2, (im.width - w) // 2 + w, (im.height - h) // 2 + h))
        out = io.BytesIO()
        small.save(out, "JPEG", quality=90)
    resized = out.getvalue()
    full = client.post("/api/v1/verify", data=resized, content_type="image/jpeg").get_json()
    assert full["watermark"]["status"] == "detected" and full["watermark"]["search"] == "full"
    quick = client.post("/api/v1/verify?search=quick", data=resized, content_type="image/jpeg").get_json()
    assert quick["watermark"]["status"] == "not_detected" and quick["watermark"]["search"] == "quick"
    assert "quick search" in quick["watermark"]["explanation"]
    as_field = client.post("/api/v1/verify", **form({"file": (io.BytesIO(resized), "r.jpg"), "search": "quick"}))
    assert as_field.get_json()["watermark"]["search"] == "quick"
    crops = client.post("/api/v1/verify?search=crops", data=resized, content_type="image/jpeg").get_json()
    assert crops["watermark"]["status"] == "detected" and crops["watermark"]["search"] == "crops"
    assert crops["watermark"]["payload"] == full["watermark"]["payload"]
    bad = client.post("/api/v1/verify?search=fast", data=resized, content_type="image/jpeg")
    assert error_of(bad) == (400, "invalid_input") and "'full' or 'crops' or 'quick'" in bad.get_json()["error"]["message"]


def test_verify_reads_non_image_formats(client, shared_dir: Path) -> None:
    pdf = (shared_dir / "c2pa-fixtures" / "py_pdf-file.pdf").read_bytes()
    r = client.post("/api/v1/verify", **form({"file": (io.BytesIO(pdf), "doc.pdf")}))
    assert r.status_code == 200
    assert r.get_json()["file"]["mime"] == "application/pdf"
    assert r.get_json()["watermark"]["status"] == "not_applicable"


@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({"data": b"", "content_type": "image/png"}, "empty_file"),
        (form({"other": "x"}), "unknown_field"),
        (form({"name": "x"}), "missing_file"),
        (form({"file": (io.BytesIO(b""), "empty.png")}), "empty_file"),
    ],
)
def test_verify_bad_input_is_400(client, kwargs, code) -> None:
    assert error_of(client.post("/api/v1/verify", **kwargs)) == (400, code)


def test_verify_unknown_query_parameter_is_400(client, media) -> None:
    r = client.post("/api/v1/verify?colour=red", data=media.photo_jpeg, content_type="image/jpeg")
    assert error_of(r) == (400, "unknown_field")
    assert "colour" in r.get_json()["error"]["message"]


def test_verify_truncated_image_is_400_and_the_service_keeps_serving(client, media) -> None:
    r = client.post("/api/v1/verify", data=media.photo_jpeg[:2000], content_type="image/jpeg")
    assert error_of(r) == (400, "invalid_image")
    assert client.post("/api/v1/verify", data=media.photo_jpeg, content_type="image/jpeg").status_code == 200


def test_verify_text_is_415(client, media) -> None:
    r = client.post("/api/v1/verify", **form({"file": (io.BytesIO(media.text), "notes.txt")}))
    assert error_of(r) == (415, "unsupported_type")


def test_verify_over_the_byte_limit_is_413(app_factory, media) -> None:
    client = app_factory(max_upload_bytes=10_000).test_client()
    assert error_of(client.post("/api/v1/verify", data=media.photo_jpeg, content_type="image/jpeg")) == (413, "too_large")
    r = client.post("/api/v1/verify", **form({"file": (io.BytesIO(media.photo_jpeg), "a.jpg")}))
    assert error_of(r) == (413, "too_large")


@pytest.mark.slow
def test_verify_decompression_bomb_is_413(client) -> None:
    bomb = io.BytesIO()
    Image.new("L", (20_000, 20_000)).save(bomb, "PNG")  # 400 Mpx of zeros: a few hundred KB
    r = client.post("/api/v1/verify", data=bomb.getvalue(), content_type="image/png")
    assert error_of(r) == (413, "too_large")
    assert "pixel" in r.get_json()["error"]["message"].lower()


def test_verify_rate_limit_is_429(app_factory, media) -> None:
    client = app_factory(rate_limit="2 per minute").test_client()
    for _ in range(2):
        assert client.post("/api/v1/verify", data=media.photo_jpeg, content_type="image/jpeg").status_code == 200
    r = client.post("/api/v1/verify", data=media.photo_jpeg, content_type="image/jpeg")
    assert error_of(r) == (429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0


def test_verify_wrong_method_is_405(client) -> None:
    r = client.get("/api/v1/verify")
    assert error_of(r) == (405, "method_not_allowed") and "POST" in r.headers["Allow"]


def test_unknown_api_path_is_404_json(client) -> None:
    assert error_of(client.get("/api/v1/nothing")) == (404, "not_found")


def test_uploads_are_not_written_to_disk(client, media, web_settings: Settings) -> None:
    before = {p: p.stat().st_size for p in web_settings.instance_path.rglob("*") if p.is_file()}
    client.post("/api/v1/verify", **form({"file": (io.BytesIO(media.photo_jpeg), "a.jpg")}))
    after = [p for p in web_settings.instance_path.rglob("*") if p.is_file()]
    new = [p for p in after if p not in before]
    assert [p for p in new if not p.name.startswith("provenance.sqlite")] == []
    marker = media.photo_jpeg[1000:1064]
    assert not any(marker in p.read_bytes() for p in after)


# --------------------------------------------------------------------------- stamp


def test_stamp_returns_the_stamped_file(client, media, tokens) -> None:
    token = tokens.create("stamp", label="generator").token
    # (multipart bodies over 500 KB make werkzeug's *test client* leak a temporary file: keep it small)
    r = client.post(
        "/api/v1/stamp", headers=bearer(token),
        **form({"file": (io.BytesIO(media.photo_jpeg), "gen.jpg"), "generator": "my-model 2.1", "format": "JPEG"}),
    )
    assert r.status_code == 201 and r.mimetype == "image/jpeg"
    stamp_id = r.headers["X-Provenance-Stamp-Id"]
    assert r.headers["Location"] == f"/api/v1/stamps/{stamp_id}"
    assert f'{stamp_id}.jpg' in r.headers["Content-Disposition"]
    check = client.post("/api/v1/verify", data=r.data, content_type="image/jpeg").get_json()
    assert check["verdict"]["code"] == "ai_generated_trusted" and check["watermark"]["stamp_id"] == stamp_id


def test_stamp_json_response_and_raw_body(client, tokens, shared_dir: Path) -> None:
    token = tokens.create("stamp").token
    photo = (shared_dir / "samples" / "kodim04.png").read_bytes()
    prompt_hash = hashlib.sha256(b"a prompt").hexdigest()
    r = client.post(
        f"/api/v1/stamp?generator=raw-model&prompt_hash={prompt_hash}", data=photo, content_type="image/png",
        headers={**bearer(token), "Accept": "application/json"},
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    data = base64.b64decode(body["file"]["base64"])
    assert body["file"]["mime"] == "image/png" and body["file"]["size"] == len(data)
    assert body["stamp"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["record"] == f"/api/v1/stamps/{body['stamp']['stamp_id']}" and "path" not in body["stamp"]


def test_stamp_needs_a_token(client, media) -> None:
    r = client.post("/api/v1/stamp?generator=x", data=media.photo_jpeg, content_type="image/jpeg")
    assert error_of(r) == (401, "unauthorized") and r.headers["WWW-Authenticate"].startswith("Bearer")
    r = client.post("/api/v1/stamp?generator=x", data=media.photo_jpeg, content_type="image/jpeg",
                    headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert error_of(r) == (401, "unauthorized")
    r = client.post("/api/v1/stamp?generator=x", data=media.photo_jpeg, content_type="image/jpeg",
                    headers=bearer("prov_not-a-real-token"))
    assert error_of(r) == (401, "unauthorized") and 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_revoked_token_stops_working(client, media, tokens) -> None:
    issued = tokens.create("stamp")
    tokens.revoke(issued.info.token_id)
    r = client.post("/api/v1/stamp?generator=x", data=media.photo_jpeg, content_type="image/jpeg",
                    headers=bearer(issued.token))
    assert error_of(r) == (401, "unauthorized")


@pytest.mark.parametrize(
    "query, code",
    [
        ("", "missing_field"),
        ("generator=x&format=GIF", "invalid_input"),
        ("generator=x&prompt_hash=the+prompt", "invalid_input"),
        ("generator=x&response=xml", "invalid_input"),
        ("generator=x&colour=red", "unknown_field"),
    ],
)
def test_stamp_bad_input_is_400(client, media, tokens, query: str, code: str) -> None:
    token = tokens.create("stamp").token
    r = client.post(f"/api/v1/stamp?{query}", data=media.photo_jpeg, content_type="image/jpeg", headers=bearer(token))
    assert error_of(r) == (400, code)


def test_stamp_too_small_image_is_400(client, tokens) -> None:
    small = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(small, "PNG")
    r = client.post("/api/v1/stamp?generator=x", data=small.getvalue(), content_type="image/png",
                    headers=bearer(tokens.create("stamp").token))
    assert error_of(r) == (400, "invalid_image")


def test_stamp_non_image_is_415(client, media, tokens, shared_dir: Path) -> None:
    token = tokens.create("stamp").token
    r = client.post("/api/v1/stamp?generator=x", data=media.text, content_type="text/plain", headers=bearer(token))
    assert error_of(r) == (415, "unsupported_type")
    pdf = (shared_dir / "c2pa-fixtures" / "py_pdf-file.pdf").read_bytes()
    r = client.post("/api/v1/stamp?generator=x", data=pdf, content_type="application/pdf", headers=bearer(token))
    assert error_of(r) == (415, "unsupported_type")


def test_stamp_over_the_limit_is_413(app_factory, media, tokens) -> None:
    client = app_factory(max_upload_bytes=10_000).test_client()
    r = client.post("/api/v1/stamp?generator=x", data=media.photo_jpeg, content_type="image/jpeg",
                    headers=bearer(tokens.create("stamp").token))
    assert error_of(r) == (413, "too_large")


def test_stamp_rate_limit_is_429(app_factory, media, tokens) -> None:
    client = app_factory(rate_limit="1 per minute").test_client()
    headers = bearer(tokens.create("stamp").token)
    assert client.post("/api/v1/stamp", **form({"generator": "x"}), headers=headers).status_code == 400  # counted too
    r = client.post("/api/v1/stamp?generator=x", data=media.photo_jpeg, content_type="image/jpeg", headers=headers)
    assert error_of(r) == (429, "rate_limited")


# --------------------------------------------------------------------------- stamps/<id>


def test_get_stamp_own_and_admin(client, tokens, shared_dir: Path) -> None:
    owner, other = tokens.create("stamp").token, tokens.create("stamp").token
    admin = tokens.create("admin").token
    photo = (shared_dir / "samples" / "kodim04.png").read_bytes()
    made = client.post("/api/v1/stamp?generator=my-model", data=photo, content_type="image/png", headers=bearer(owner))
    stamp_id = made.headers["X-Provenance-Stamp-Id"]

    r = client.get(f"/api/v1/stamps/{stamp_id}", headers=bearer(owner))
    assert r.status_code == 200
    body = r.get_json()
    assert body["stamp"]["stamp_id"] == stamp_id and body["stamp"]["generator"] == "my-model"
    assert body["stamp"]["sha256"] == hashlib.sha256(made.data).hexdigest()
    assert "manifests" in body["manifest"] and body["manifest_store"]["size"] > 0
    assert client.get(f"/api/v1/stamps/{stamp_id.upper()}", headers=bearer(admin)).status_code == 200
    assert error_of(client.get(f"/api/v1/stamps/{stamp_id}", headers=bearer(other))) == (403, "forbidden")


def test_get_stamp_errors(client, tokens, media) -> None:
    admin = tokens.create("admin").token
    assert error_of(client.get(f"/api/v1/stamps/{media.stamp_id}")) == (401, "unauthorized")
    assert error_of(client.get("/api/v1/stamps/not-hex", headers=bearer(admin))) == (400, "invalid_input")
    assert error_of(client.get("/api/v1/stamps/00000000000000ff", headers=bearer(admin))) == (404, "not_found")
    assert error_of(client.get(f"/api/v1/stamps/{media.stamp_id}?x=1", headers=bearer(admin))) == (400, "unknown_field")
    assert client.get(f"/api/v1/stamps/{media.stamp_id}", headers=bearer(admin)).status_code == 200


# --------------------------------------------------------------------------- health, OpenAPI, 500, 503


def test_healthz(client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json()["status"] == "ok"
    assert r.get_json()["registry_schema"] >= 3


def test_registry_down_is_503_without_details(app_factory) -> None:
    client = app_factory(database_url="postgresql+psycopg://nobody:secret@127.0.0.1:1/none").test_client()
    r = client.get("/healthz")
    assert error_of(r) == (503, "unavailable")
    assert "secret" not in r.get_data(as_text=True) and "127.0.0.1" not in r.get_data(as_text=True)


def test_an_unexpected_error_is_500_without_traceback(app_factory) -> None:
    app = app_factory()

    def broken() -> str:
        raise RuntimeError("internal detail /srv/secret/path")

    app.add_url_rule("/api/v1/broken", "broken", broken)
    app.add_url_rule("/broken", "broken_page", broken)
    client = app.test_client()
    r = client.get("/api/v1/broken")
    assert error_of(r) == (500, "internal_error")
    assert "internal detail" not in r.get_data(as_text=True)
    page = client.get("/broken")
    assert page.status_code == 500 and page.mimetype == "text/html"
    assert "internal detail" not in page.get_data(as_text=True) and "Traceback" not in page.get_data(as_text=True)


def test_openapi_documents_every_api_route(app, client) -> None:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    doc = r.get_json()
    assert doc["openapi"].startswith("3.") and doc == json.loads(OPENAPI_PATH.read_text())
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/c2pa/v1/")) or rule.rule == "/healthz":
            path = rule.rule.replace("<", "{").replace(">", "}")
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented
    for path, ops in doc["paths"].items():
        for op in ops.values():
            for status in op["responses"]:
                assert status.isdigit()


def test_big_multipart_uploads_stay_in_memory(app_factory, media) -> None:
    app = app_factory()

    def stream_type() -> str:
        from flask import request

        stream = request.files["file"].stream
        # Held in memory up to the upload limit (a spooled file that has not rolled over to disk).
        return f"{type(stream).__name__} {type(stream._file).__name__}"

    app.add_url_rule("/api/v1/stream-type", "stream_type", stream_type, methods=["POST"])
    assert len(media.stamped_png) > 500 * 1024  # werkzeug would spool this to a temporary file
    r = app.test_client().post("/api/v1/stream-type", **form({"file": (io.BytesIO(media.stamped_png), "big.png")}))
    assert r.get_data(as_text=True) == "SpooledTemporaryFile BytesIO"


def test_a_time_stamp_authority_down_answers_503_not_invalid_file(app_factory, media, tokens) -> None:
    client = app_factory(tsa_url="http://127.0.0.1:9/").test_client()
    token = tokens.create("stamp").token
    r = client.post("/api/v1/stamp?generator=x", data=media.photo_jpeg, content_type="image/jpeg",
                    headers=bearer(token))
    assert error_of(r) == (503, "unavailable")
    assert "time-stamp authority" in r.get_json()["error"]["message"]


def test_server_faults_map_to_5xx_with_a_clear_message(app) -> None:
    from provenance import RegistryUnavailable, ServerFault, SigningError, TimestampAuthorityError
    from webapp.errors import from_provenance_error

    with app.app_context():
        cases = {SigningError("key mismatch"): 500, TimestampAuthorityError("down"): 503,
                 RegistryUnavailable("no server"): 503, ServerFault("other"): 500}
        for exc, status in cases.items():
            err = from_provenance_error(exc)
            assert (err.status, err.code) == (status, "unavailable" if status == 503 else "internal_error")
            assert "try again" in err.message or "our side" in err.message


def test_verify_copied_watermark_is_its_own_verdict(client, media, shared_dir) -> None:
    """Issue 13: the API carries the copied-mark verdict and the image check, schema-valid."""
    import numpy as np

    from provenance import keyless_attacks

    marked = np.array(Image.open(io.BytesIO(media.stamped_png)).convert("RGB"))
    other = np.array(Image.open(shared_dir / "samples" / "kodim04.png").convert("RGB"))
    out = io.BytesIO()
    Image.fromarray(keyless_attacks.copy_mark(marked, other)).save(out, "PNG")
    r = client.post("/api/v1/verify", data=out.getvalue(), content_type="image/png")
    assert r.status_code == 200
    report = r.get_json()
    jsonschema.validate(report, SCHEMA)
    assert report["schema_version"] == "1.3"
    assert report["verdict"]["code"] == "watermark_copied"
    assert report["watermark"]["stamp_id"] == media.stamp_id
    assert report["registry"]["image_check"]["status"] == "mismatch"
