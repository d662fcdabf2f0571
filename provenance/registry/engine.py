"""Database URLs, engines (SQLite set up for several processes), and database errors in plain words."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.pool import StaticPool

from ..errors import RegistryError, RegistryUnavailable

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_S",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "create_engine",
    "describe_url",
    "error_reason",
    "is_memory_sqlite",
    "parse_url",
    "translate_error",
]

#: Seconds to wait for a PostgreSQL connection before giving up.
DEFAULT_CONNECT_TIMEOUT_S = 5.0
#: Seconds a SQLite writer waits for another process's write lock.
DEFAULT_BUSY_TIMEOUT_S = 30.0


def is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def describe_url(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return "in-memory SQLite" if is_memory_sqlite(url) else f"SQLite database {url.database}"
    return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def error_reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return lines[0] if lines else type(orig).__name__


def parse_url(url: str) -> URL:
    try:
        parsed = sa.make_url(url)
    except (sa_exc.ArgumentError, ValueError, TypeError):
        raise RegistryError(
            "the registry URL could not be parsed; set PROVENANCE_DATABASE_URL to e.g. "
            "sqlite:////path/to/provenance.sqlite or postgresql+psycopg://user:password@host:5432/dbname"
        ) from None
    backend = parsed.drivername.split("+", 1)[0]
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")  # the driver we install
    elif backend == "postgres":
        parsed = parsed.set(drivername="postgresql+" + parsed.drivername.split("+", 1)[1])
    elif backend not in ("sqlite", "postgresql"):
        raise RegistryError(
            f"unsupported registry database {parsed.drivername!r}; PROVENANCE_DATABASE_URL must start "
            "with sqlite:/// or postgresql+psycopg://"
        )
    return parsed


def create_engine(url: URL, *, connect_timeout_s: float, busy_timeout_s: float) -> Engine:
    try:
        if url.get_backend_name() == "postgresql":
            connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": max(1, round(connect_timeout_s))}
            return sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        if is_memory_sqlite(url):
            engine = sa.create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s})
    except (sa_exc.SQLAlchemyError, ImportError) as exc:
        raise RegistryError(f"cannot use {describe_url(url)}: {error_reason(exc)}; check PROVENANCE_DATABASE_URL") from exc
    _configure_sqlite(engine, busy_timeout_s)
    return engine


def _set_wal(cur: Any, busy_timeout_s: float) -> None:
    """Switch a new SQLite file to WAL. The switch needs an exclusive lock and SQLite does not
    run the busy handler for it, so several processes opening a fresh file at once retry here."""
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    """Real transactions (SQLAlchemy emits BEGIN), WAL, and a busy timeout for multi-process use."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # stop sqlite3 from issuing its own BEGINs
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            _set_wal(cur, busy_timeout_s)
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
        finally:
            cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front so they wait (busy timeout) instead of
        # failing when a read transaction would have to be upgraded.
        write = conn.get_execution_options().get("provenance_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def translate_error(url: URL, action: str, exc: sa_exc.SQLAlchemyError, *, connecting: bool,
                    busy_timeout_s: float) -> RegistryError:
    """The :class:`RegistryError` (or :class:`RegistryUnavailable`) to raise for a database failure."""
    reason, where = error_reason(exc), describe_url(url)
    low = reason.lower()
    if url.get_backend_name() == "postgresql":
        if connecting or getattr(exc, "connection_invalidated", False):
            return RegistryUnavailable(
                f"cannot connect to {where}: {reason}; check PROVENANCE_DATABASE_URL and that the server is running."
            )
        if "permission denied" in low:
            return RegistryError(
                f"registry {action} failed on {where}: {reason}; the role in PROVENANCE_DATABASE_URL needs to "
                "own the database (or have CREATE on its schema)."
            )
        return RegistryError(f"registry {action} failed on {where}: {reason}; check the database server's log.")
    if "unable to open" in low:
        return RegistryUnavailable(
            f"cannot open {where}: {reason}; check that its folder exists and is writable, "
            "or set PROVENANCE_INSTANCE_PATH / PROVENANCE_DATABASE_URL."
        )
    if "locked" in low or "busy" in low:
        return RegistryError(
            f"registry {action} failed: {where} stayed locked by another process for "
            f"{busy_timeout_s:g} s; retry, or look for a stuck process holding it."
        )
    if "readonly" in low or "read-only" in low:
        return RegistryError(f"registry {action} failed: {where} is read-only; make the file and its folder writable.")
    return RegistryError(
        f"registry {action} failed on {where}: {reason}; check that PROVENANCE_DATABASE_URL points at a "
        "provenance registry and the file is not corrupt."
    )
