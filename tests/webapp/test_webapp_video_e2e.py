"""Chromium uploads a stamped clip (re-encoded, credentials stripped) through the form and sees them recovered."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from provenance import Settings
from provenance.stamp import Stamper
from provenance.video import rewrite_luma, write_frames
from provenance.video.stamp import stamp_video
from webapp import create_app

CHROMIUM = Path(os.environ.get("PROVENANCE_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, shared_dir: Path):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing but CI is set: scripts/test installs it")
        pytest.skip(f"{CHROMIUM} is missing; run scripts/test to install it")
    root = tmp_path_factory.mktemp("video-e2e")
    settings = Settings(instance_path=root / "instance")
    photo = np.asarray(Image.open(shared_dir / "samples" / "kodim08.png").convert("RGB"))[:272]
    src, stamped, plat = root / "gen.mp4", root / "stamped.mp4", root / "platform.mp4"
    write_frames(src, (np.ascontiguousarray(photo[:, 4 * i : 4 * i + 480]) for i in range(12)), fps=10)
    with Stamper(settings) as stamper:
        result = stamp_video(stamper, src, stamped, generator="e2e-video-model 2")
    rewrite_luma(stamped, plat, lambda y, i: y, crf=26, tune=None)
    app = create_app({"PROVENANCE_SETTINGS": settings})
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", plat, result.stamp_id
    srv.shutdown()
    thread.join(timeout=10)
    srv.server_close()
    app.extensions["provenance_services"].close()


def test_stamped_clip_shows_recovered_credentials_and_keyframes(setup) -> None:
    base, clip, stamp_id = setup
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            page = browser.new_page()
            page.goto(base + "/")
            page.set_input_files("#file", str(clip))
            page.click("#submit")
            page.wait_for_load_state("load")
            assert stamp_id in page.inner_text("#verdict")
            assert "recovered from the registry" in page.inner_text("#credentials")
            assert "e2e-video-model 2" in page.inner_text("#credentials")
            assert page.locator("#keyframes img").count() >= 3
        finally:
            browser.close()
