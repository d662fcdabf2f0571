"""End-to-end: the real app on a live loopback server, driven by Debian's headless Chromium (Playwright).

One browser per session; screenshots go to ``test-artifacts/`` (git-ignored). Playwright never
downloads a browser here: it launches ``/usr/bin/chromium`` (``scripts/test`` installs it).
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from provenance import Settings
from provenance.banks import Banks
from provenance.hashing import pdq_hash_file
from provenance.stamp import Stamper
from webapp import create_app

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("PROVENANCE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _need(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing but CI is set: scripts/test installs it")
    pytest.skip(f"{what} is missing; run scripts/test to install it")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _need(str(CHROMIUM))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path):
    root = tmp_path_factory.mktemp("e2e")
    settings = Settings(instance_path=root / "instance")
    with Stamper(settings) as stamper:
        stamped = stamper.stamp_image(shared_dir / "samples" / "kodim03.png", generator="e2e-diffusion 3", output_format="JPEG")
    paths = {"stamped": root / "stamped.jpg", "stripped": root / "stripped.jpg", "text": root / "notes.txt",
             "reported": root / "reported.jpg"}
    paths["stamped"].write_bytes(stamped.data)
    Image.open(io.BytesIO(stamped.data)).save(paths["stripped"], "JPEG", quality=88)  # no metadata kept
    paths["text"].write_text("not an image\n")
    Image.open(shared_dir / "samples" / "kodim07.png").convert("RGB").save(paths["reported"], "JPEG", quality=90)
    return settings, paths


@pytest.fixture(scope="module")
def server(files):
    settings, _ = files
    app = create_app({"PROVENANCE_SETTINGS": settings})
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(timeout=10)
    srv.server_close()
    app.extensions["provenance_services"].close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page, errors
    context.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _upload(page, base: str, path: Path) -> None:
    page.goto(base + "/")
    page.set_input_files("#file", str(path))
    page.click("#submit")
    page.wait_for_load_state("load")


def test_stamped_image_shows_ai_generated_and_signer(page, server, files) -> None:
    page, errors = page
    _upload(page, server, files[1]["stamped"])
    assert "AI-generated" in page.inner_text("#verdict")
    assert "provenance development signer" in page.inner_text("#cc-signer")
    assert page.inner_text("#cc-state") == "Trusted"
    assert "Made by AI" in page.inner_text("#cc-ai")
    assert page.is_visible("#watermark") and "Found" in page.inner_text("#watermark")
    _shot(page, "e2e-stamped")
    assert errors == []  # no CSP violations or script errors


def test_stripped_copy_shows_recovered_credentials(page, server, files) -> None:
    page, errors = page
    _upload(page, server, files[1]["stripped"])
    assert "recovered from the registry" in page.inner_text("#verdict")
    assert page.inner_text("#cc-state") == "No Content Credentials"
    assert "provenance development signer" in page.inner_text("#recovered-signer")
    page.click("summary")  # the raw JSON disclosure opens with the keyboard-reachable summary
    assert '"ai_generated_recovered"' in page.inner_text("pre.raw")
    _shot(page, "e2e-stripped")
    assert errors == []


def test_text_file_shows_the_error_page(page, server, files) -> None:
    page, _ = page
    _upload(page, server, files[1]["text"])
    assert page.inner_text("h1") == "This file type cannot be checked"
    assert page.is_visible("text=Check another file")
    _shot(page, "e2e-text-error")


def test_form_is_usable_with_the_keyboard_and_on_a_phone(browser, server) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    page.goto(server + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    focus = []
    for _ in range(4):
        page.keyboard.press("Tab")
        focus.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    assert "file" in focus and "submit" in focus
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
    _shot(page, "e2e-phone-form")
    context.close()


def test_transparency_page_shows_the_table(page, server) -> None:
    page, errors = page
    page.goto(server + "/")
    page.click("footer >> text=Transparency")
    page.wait_for_load_state("load")
    assert page.inner_text("h1") == "Transparency"
    assert page.is_visible("#per-day-table")
    assert page.locator("#per-day-table tbody tr").count() == 30  # the last 30 days, quiet ones included
    assert int(page.inner_text("#total-verifications")) >= 0
    _shot(page, "e2e-transparency")
    assert errors == []


def test_reported_image_shows_no_bank_name_to_the_public(page, server, files) -> None:
    page, errors = page
    settings, paths = files
    with Banks.open(settings) as banks:
        if "e2e-helpline-bank" not in {b.name for b in banks.list()}:
            banks.create("e2e-helpline-bank", label="e2e-label")
            banks.add("e2e-helpline-bank", [pdq_hash_file(paths["reported"])])
    _upload(page, server, paths["reported"])
    card = page.inner_text("#hash-match")
    assert "Shown to reviewers only" in page.inner_text("#hash-status") and "never proof" in card
    html = page.content()
    assert "e2e-helpline-bank" not in html and "e2e-label" not in html
    _shot(page, "e2e-bank-public")
    assert errors == []
