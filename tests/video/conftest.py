"""Tiny clips made here: a slow pan over a photo, and scenes of smooth random blobs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pathlib import Path

from provenance.video import write_frames

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "samples"
FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "c2pa-fixtures"


def pan_frames(name: str = "kodim08.png", *, size=(320, 240), n: int = 30, step: int = 3):
    img = Image.open(SAMPLES / name).convert("RGB")
    w, h = size
    big = np.asarray(img.resize((w + step * n, int(img.height * (w + step * n) / img.width))))
    for i in range(n):
        yield np.ascontiguousarray(big[:h, i * step : i * step + w])


def blob_scenes(seed: int, seconds: int, *, fps: int = 5, size=(160, 120), scene_s: int = 3):
    """Scenes of smooth random colour blobs, a new scene every `scene_s` seconds, drifting slowly."""
    rng = np.random.default_rng(seed)
    w, h = size
    for s in range(0, seconds, scene_s):
        base = np.asarray(Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize((w + 40, h), Image.Resampling.BICUBIC))
        for i in range(min(scene_s, seconds - s) * fps):
            yield np.ascontiguousarray(base[:, i // 2 : i // 2 + w])


@pytest.fixture(scope="session")
def pan_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "pan.mp4"
    write_frames(path, pan_frames(), fps=15)
    return path


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a test over a second or so of decoding large fixture video")
