"""Fixtures shared by every test module; the ``postgres`` marker on every test that uses the server, and
``slow`` tests skipped unless ``--run-slow`` (``scripts/test`` passes it, so CI runs everything)."""

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run the tests marked slow (scripts/test does)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test that reaches PostgreSQL (a pg fixture, or a ``postgresql`` parameter) ``postgres``;
    skip the ``slow`` ones unless ``--run-slow`` (or ``CI``) is given, so the everyday run stays short."""
    run_slow = config.getoption("--run-slow") or bool(os.environ.get("CI"))
    skip_slow = pytest.mark.skip(reason="slow: run with --run-slow (scripts/test does)")
    for item in items:
        if not run_slow and "slow" in item.keywords:
            item.add_marker(skip_slow)
        params = getattr(getattr(item, "callspec", None), "params", {})
        uses_pg = {"pg_url", "pg_admin"} & set(getattr(item, "fixturenames", ()))
        if uses_pg or any(isinstance(v, str) and v == "postgresql" for v in params.values()):
            item.add_marker(pytest.mark.postgres)


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
