"""End-to-end Take It Down in Chromium: the picture is hashed in the browser and never leaves it.

The JavaScript PDQ (webapp/static/pdq.js) is run in Chromium against the Python PDQ on the
PDQ reference images and real photos; then a requester files a case with a photo, the
recorded network traffic is checked for the picture's bytes, a reviewer marks it removed and
the requester's status link shows it.
"""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from provenance import Settings
from provenance.cases import CaseStore
from provenance.hashing import PerceptualHash, file_digests, pdq_hash_file
from provenance.registry import Registry
from provenance.tokens import TokenStore
from webapp import create_app

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("PROVENANCE_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Most bits the browser's PDQ may differ from the server's (decoders and resamplers differ slightly).
MAX_JS_DISTANCE = 10

_HASH_IN_PAGE = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const h = await window.ProvenanceHash.pdqFromBlob(new Blob([bytes]));
  return {pdq: h.pdq, quality: h.quality, md5: window.ProvenanceHash.md5(bytes),
          sha256: await window.ProvenanceHash.sha256(bytes)};
}"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing but CI is set")
        pytest.skip(f"{CHROMIUM} is missing; run scripts/test to install it")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    settings = Settings(instance_path=tmp_path_factory.mktemp("takedown") / "instance")
    app = create_app({"PROVENANCE_SETTINGS": settings})
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", settings
    srv.shutdown()
    thread.join(timeout=10)
    srv.server_close()
    app.extensions["provenance_services"].close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page, errors
    context.close()


def _photos(shared_dir: Path, tmp_path: Path) -> list[Path]:
    ref = sorted((shared_dir / "pdq-reference").glob("*.jpg"))
    out = []
    for name in ("kodim03", "kodim04", "kodim07", "kodim08"):
        path = tmp_path / f"{name}.jpg"
        Image.open(shared_dir / "samples" / f"{name}.png").convert("RGB").save(path, "JPEG", quality=90)
        out.append(path)
    big = tmp_path / "big.jpg"  # larger than 512 px: both sides shrink it first
    Image.open(shared_dir / "samples" / "kodim04.png").convert("RGB").resize((1536, 1024)).save(big, "JPEG", quality=92)
    return ref + out + [big]


def test_javascript_pdq_agrees_with_python(page, server, shared_dir, tmp_path) -> None:
    page, errors = page
    base, _ = server
    page.goto(base + "/report")
    distances = {}
    for path in _photos(shared_dir, tmp_path):
        data = path.read_bytes()
        js = page.evaluate(_HASH_IN_PAGE, base64.b64encode(data).decode())
        py = pdq_hash_file(path)
        digests = file_digests(data)
        assert js["md5"] == digests.md5 and js["sha256"] == digests.sha256, path.name
        distances[path.name] = PerceptualHash.from_hex(js["pdq"]) - py
        assert abs(js["quality"] - py.quality) <= 10, (path.name, js["quality"], py.quality)
    assert max(distances.values()) <= MAX_JS_DISTANCE, distances
    print("JS vs Python PDQ distances:", distances)
    assert not errors, errors


def test_report_with_photo_no_byte_leaves_reviewer_removes_status_shows(page, server, shared_dir, tmp_path) -> None:
    page, errors = page
    base, settings = server
    photo = tmp_path / "me.jpg"
    Image.open(shared_dir / "samples" / "kodim08.png").convert("RGB").save(photo, "JPEG", quality=90)
    picture = photo.read_bytes()
    bodies: list[bytes] = []
    page.on("request", lambda req: bodies.append(req.post_data_buffer or b""))

    page.goto(base + "/report")
    page.fill("#locations", "https://platform.example/p/42")
    page.fill("#description", "A photo of me posted without my consent.")
    page.set_input_files("#pictures", str(photo))
    page.wait_for_selector("#takedown-form[data-hashed='1']")
    page.check("#good_faith")
    page.fill("#signature", "Jane Doe")
    page.fill("#contact", "jane@example.org")
    page.click("#submit")
    page.wait_for_selector("#case-id")
    case_id = page.inner_text("#case-id")
    status_link = page.get_attribute("#status-link", "href")

    sent = b"".join(bodies)
    assert sent and len(sent) < len(picture) // 4
    for offset in range(0, len(picture) - 32, 997):  # no run of the picture's bytes in any request
        assert picture[offset:offset + 32] not in sent
    with Registry.open(settings) as registry:
        case = CaseStore(registry).get(case_id)
    stored = [h for h in case.hashes if h.kind == "pdq"][0]
    assert stored.origin == "browser"
    assert PerceptualHash.from_hex(stored.value) - pdq_hash_file(photo) <= MAX_JS_DISTANCE
    assert {h.value for h in case.hashes if h.kind == "sha256"} == {file_digests(picture).sha256}

    with Registry.open(settings) as registry:
        token = TokenStore(registry).create("reviewer", label="e2e reviewer").token
    page.goto(base + "/admin/login")
    page.fill("#token", token)
    page.click("#sign-in")
    page.wait_for_selector("#cases")
    assert case_id in page.inner_text("#cases")
    page.click(f"text={case_id}")
    page.fill("#note", "post 42 deleted")
    page.click("#mark-removed")
    page.wait_for_selector("#state")
    assert page.inner_text("#state") == "removed"

    page.goto(status_link)
    assert page.inner_text("#state") == "removed"
    assert "e2e reviewer" not in page.content() and "token:" not in page.content()
    assert not errors, errors
