"""Fixtures shared by every test module."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

#: ``../shared`` beside the checkout (third-party fixtures; read, never copied).
SHARED = Path(os.environ.get("PROVENANCE_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED}; set PROVENANCE_SHARED")
    return SHARED


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
