"""The fact-checkers' form (webapp/ui.py) through Flask's test client: form, CSRF, report page, error pages."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from webapp.security import CSP
from webapp.ui import credential_state, evidence_words


def csrf(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def upload(client, data: bytes, name: str, token: str | None = None):
    form = {"file": FileStorage(io.BytesIO(data), name)}
    if token is not None:
        form["csrf_token"] = token
    # encoded in memory: werkzeug's test client spools big multipart bodies to a file it never closes
    boundary, body = encode_multipart(form)
    return client.post("/verify", data=body, content_type=f"multipart/form-data; boundary={boundary}")


def text(response) -> str:
    return response.get_data(as_text=True)


def test_form_is_accessible_and_self_contained(client) -> None:
    r = client.get("/")
    page = text(r)
    assert r.status_code == 200 and r.headers["Content-Security-Policy"] == CSP
    assert '<html lang="en">' in page and 'name="viewport"' in page
    assert '<label for="file">' in page and 'id="file" name="file"' in page
    assert 'enctype="multipart/form-data"' in page and 'name="csrf_token"' in page
    assert "<script>" not in page and "style=" not in page  # no inline script or style (CSP)
    assert not re.search(r'(src|href)="(https?:)?//', page)  # no external assets
    for asset in ("/static/style.css", "/static/upload.js"):
        with client.get(asset) as r:
            assert r.status_code == 200 and r.headers["X-Content-Type-Options"] == "nosniff"


def test_stamped_image_report(client, media) -> None:
    r = upload(client, media.stamped_png, "stamped.png", csrf(client))
    page = text(r)
    assert r.status_code == 200
    assert "AI-generated" in page and "provenance development signer" in page
    # the cards, in the order the issue asks for
    order = ['id="verdict"', "Preview of the uploaded file", 'id="credentials"', 'id="watermark"',
             'id="hash-match"', 'id="metadata"', "Download report (JSON)", "Raw JSON"]
    positions = [page.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "Trusted" in page and "Made by AI (generative AI)" in page
    assert media.stamp_id in page and "very strong evidence" in page and "below 1 in 10^" in page
    assert "a signal for human review, never proof" in page
    assert 'src="data:image/jpeg;base64,' in page  # the preview, made in memory


def test_report_download_is_the_api_report(client, media) -> None:
    page = text(upload(client, media.stamped_png, "stamped.png", csrf(client)))
    href = re.search(r'id="download" href="data:application/json;base64,([^"]+)" download="([^"]+)"', page)
    report = json.loads(base64.b64decode(href.group(1)))
    assert report["verdict"]["code"] == "ai_generated_trusted" and href.group(2).endswith(".json")
    api = client.post("/api/v1/verify", data=media.stamped_png, content_type="image/png").get_json()
    assert set(report) == set(api) and report["file"]["sha256"] == api["file"]["sha256"]


def test_stripped_copy_shows_recovered_credentials(client, media) -> None:
    page = text(upload(client, media.stripped_jpeg, "copy.jpg", csrf(client)))
    assert "No Content Credentials" in page
    assert 'id="recovered"' in page and "Credentials recovered from the registry" in page
    assert "provenance development signer" in page and "test-diffusion 1.0" in page


def test_unmarked_photo_says_no_signals(client, media, shared_dir) -> None:
    # Not media.photo_jpeg: the stamping tests stamp that photo, and a near-copy of a stamped
    # output is a possible match (issue 13), not "no signals".
    from PIL import Image

    out = io.BytesIO()
    Image.open(shared_dir / "samples" / "kodim08.png").convert("RGB").save(out, "JPEG", quality=85)
    page = text(upload(client, out.getvalue(), "photo.jpg", csrf(client)))
    assert "No provenance signals found" in page and "Not found" in page and "None found" in page


def test_credentials_with_ingredients_show_a_tree(client, shared_dir) -> None:
    data = (shared_dir / "c2pa-fixtures" / "pub_adobe-20220124-CAICAI.jpg").read_bytes()
    page = text(upload(client, data, "adobe.jpg", csrf(client)))
    assert 'class="tree"' in page and "Thumbnail of ingredient" in page
    assert 'class="timeline"' in page


def test_missing_csrf_token_is_refused(client, media) -> None:
    r = upload(client, media.photo_jpeg, "photo.jpg")
    assert r.status_code == 400 and "security token" in text(r)
    r = upload(client, media.photo_jpeg, "photo.jpg", "forged")
    assert r.status_code == 400 and "Reload the page" in text(r)
    assert app_csrf_is_per_session(client, media)


def app_csrf_is_per_session(client, media) -> bool:
    token = csrf(client)
    other = client.application.test_client()
    return upload(other, media.photo_jpeg, "photo.jpg", token).status_code == 400


def test_text_file_gets_the_unsupported_page(client, media) -> None:
    r = upload(client, media.text, "notes.txt", csrf(client))
    assert r.status_code == 415 and r.mimetype == "text/html"
    assert "This file type cannot be checked" in text(r) and "Check another file" in text(r)


def test_too_large_file_gets_its_page(app_factory, media) -> None:
    client = app_factory(max_upload_bytes=10_000).test_client()
    r = upload(client, media.photo_jpeg, "photo.jpg", csrf(client))
    assert r.status_code == 413 and "The file is too large" in text(r) and "MB" in text(r)


def test_corrupt_image_gets_a_clear_page(client, media) -> None:
    r = upload(client, media.photo_jpeg[:3000], "broken.jpg", csrf(client))
    assert r.status_code == 400 and "The upload could not be checked" in text(r)
    assert "Traceback" not in text(r)


def test_empty_upload_and_unknown_page(client) -> None:
    r = upload(client, b"", "empty.png", csrf(client))
    assert r.status_code == 400 and "empty" in text(r)
    r = client.get("/no/such/page")
    assert r.status_code == 404 and r.mimetype == "text/html" and "Page not found" in text(r)


def test_form_uploads_are_rate_limited(app_factory, media) -> None:
    client = app_factory(rate_limit="1 per minute").test_client()
    token = csrf(client)
    assert upload(client, media.photo_jpeg, "a.jpg", token).status_code == 200
    r = upload(client, media.photo_jpeg, "a.jpg", token)
    assert r.status_code == 429 and "Too many uploads" in text(r)


@pytest.mark.parametrize(
    "manifest, key",
    [
        ({"state": "trusted"}, "trusted"),
        ({"state": "valid"}, "valid"),
        ({"state": "invalid", "failures": [{"code": "assertion.dataHash.mismatch"}]}, "altered"),
        ({"state": "invalid", "failures": [{"code": "claimSignature.mismatch"}]}, "altered"),
        ({"state": "invalid", "failures": [{"code": "signingCredential.expired"}]}, "invalid"),
        ({"state": "absent"}, "absent"),
    ],
)
def test_credential_states(manifest, key) -> None:
    assert credential_state(manifest)["key"] == key


@pytest.mark.parametrize(
    "p, words",
    [(None, "not computed"), (0.0, "effectively zero"), (0.5, "0.50 (high: no evidence)"), (3e-12, "below 1 in 10^11 (3.0e-12)")],
)
def test_evidence_words(p, words) -> None:
    assert evidence_words(p) == words


def _keyless(media, shared_dir, *, remove: bool) -> bytes:
    import numpy as np
    from PIL import Image

    from provenance import keyless_attacks

    marked = np.array(Image.open(io.BytesIO(media.stamped_png)).convert("RGB"))
    if remove:
        pixels = keyless_attacks.remove_mark(marked)
    else:
        pixels = keyless_attacks.copy_mark(marked, np.array(Image.open(shared_dir / "samples" / "kodim04.png").convert("RGB")))
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def test_copied_watermark_report_page(client, media, shared_dir) -> None:
    """Issue 13: a mark planted on another photo is called copied, and the stamp's credentials do not apply."""
    page = text(upload(client, _keyless(media, shared_dir, remove=False), "news.png", csrf(client)))
    assert "Copied watermark" in page and media.stamp_id in page
    assert 'id="image-check" data-status="mismatch"' in page
    assert 'data-vouched="no"' in page and "they do not apply to this picture" in page
    assert "Credentials recovered from the registry" not in page


def test_removed_watermark_report_page(client, media, shared_dir) -> None:
    page = text(upload(client, _keyless(media, shared_dir, remove=True), "cleaned.png", csrf(client)))
    assert "Possible match" in page and "watermark is missing" in page and media.stamp_id in page
    assert 'id="near-copies"' in page and 'data-vouched="no"' in page
