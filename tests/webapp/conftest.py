"""Fixtures for the web app tests: real stamped files made once per session with the real Stamper,
then a fresh instance folder (keys, dev CA, SQLite registry holding those stamps) and a fresh app
per test, as flaskr's tests do: no test sees what another wrote."""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from provenance import Settings
from provenance.registry import Registry
from provenance.stamp import Stamper
from provenance.tokens import TokenStore
from webapp import create_app


@dataclass(frozen=True)
class Media:
    """Files the tests upload."""

    stamped_png: bytes
    stamped_jpeg: bytes
    stamp_id: str
    stripped_jpeg: bytes  # the stamped image re-encoded without any metadata
    photo_jpeg: bytes  # an unmarked photo
    text: bytes


@pytest.fixture(scope="session")
def session_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The instance folder the session's media are stamped in; tests get copies (:func:`web_settings`)."""
    return Settings(instance_path=tmp_path_factory.mktemp("web") / "instance")


@pytest.fixture
def web_settings(session_settings: Settings, media: "Media", tmp_path: Path) -> Settings:
    """A fresh instance folder for this test: a copy of the session's (same keys and CA, its stamps)."""
    folder = tmp_path / "instance"
    shutil.copytree(session_settings.instance_path, folder)
    return replace(session_settings, instance_path=folder)


def _jpeg(pixels: np.ndarray | Image.Image, quality: int = 90) -> bytes:
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)  # Pillow writes no EXIF/XMP unless asked
    return out.getvalue()


@pytest.fixture(scope="session")
def media(session_settings: Settings, shared_dir: Path) -> Media:
    photo = shared_dir / "samples" / "kodim03.png"  # 768 x 512
    with Stamper(session_settings) as stamper:
        png = stamper.stamp_image(photo, generator="test-diffusion 1.0", output_format="PNG", requester="tests")
        jpeg = stamper.stamp_image(photo, generator="test-diffusion 1.0", output_format="JPEG", requester="tests")
    stripped = _jpeg(Image.open(io.BytesIO(png.data)))
    unmarked = _jpeg(Image.open(shared_dir / "samples" / "kodim07.png"))
    return Media(png.data, jpeg.data, png.stamp_id, stripped, unmarked, b"just some text, not an image\n" * 10)


@pytest.fixture
def app_factory(web_settings: Settings):
    """Make an app with settings overrides (fields of Settings) and Flask config overrides."""

    def make(config: dict | None = None, **overrides):
        settings = replace(web_settings, **overrides)
        return create_app({"TESTING": True, "PROVENANCE_SETTINGS": settings, **(config or {})})

    return make


@pytest.fixture
def app(app_factory):
    return app_factory()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(web_settings: Settings):
    with Registry.open(web_settings) as registry:
        yield TokenStore(registry)

