"""Fixtures shared by every test module."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

PG_ENV = "PROVENANCE_TEST_POSTGRES_URL"
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


@pytest.fixture
def pg_url() -> str:
    """A URL to a fresh, empty PostgreSQL schema (dropped afterwards) on the test server."""
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set but CI is: CI must test PostgreSQL; export {PG_ENV}=\"$(scripts/postgres)\"")
        pytest.skip(f"{PG_ENV} not set; export {PG_ENV}=\"$(scripts/postgres)\" to test PostgreSQL")
    schema = f"stamp_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, connect_args={"connect_timeout": 5})
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in url else "?"
    yield f"{url}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, once per backend: a new SQLite file, or a fresh PostgreSQL schema (:func:`pg_url`)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.sqlite'}"
    return request.getfixturevalue("pg_url")
