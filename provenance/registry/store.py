"""The :class:`Registry`: stamps and the audit log in one SQL database, and the transactions
every table owner in that database (banks, tokens, transparency) runs through."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Mapping

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from ..errors import DuplicateStampError, InvalidInputError, RegistryError
from ..settings import Settings
from .engine import (
    DEFAULT_BUSY_TIMEOUT_S,
    DEFAULT_CONNECT_TIMEOUT_S,
    create_engine,
    describe_url,
    is_memory_sqlite,
    parse_url,
    translate_error,
)
from .migrations import apply_migrations
from .records import (
    AUDIT_KINDS,
    STAMPED_VERDICT,
    AuditEvent,
    StampRecord,
    check_sha256,
    check_stamp_id,
    check_text,
    check_time,
    encode_detail,
    row_to_event,
    row_to_record,
)
from .schema import MAX_VERDICT, STAMPED_OUTPUTS_BANK, audit_log, bank_entries, hash_banks, schema_version, stamps, utc_now

__all__ = ["Registry", "transaction"]

log = logging.getLogger(__name__)

# The statements of every verification, built once: SQLAlchemy then reuses their compiled
# form without rebuilding and re-keying a new statement object per call.
_GET_STAMP = sa.select(stamps).where(stamps.c.stamp_id == sa.bindparam("stamp_id"))
_FIND_BY_SHA256 = (
    sa.select(stamps)
    .where(stamps.c.sha256 == sa.bindparam("sha256"))
    .order_by(stamps.c.created_at.desc(), stamps.c.stamp_id)
    .limit(1)
)
_INSERT_EVENT = audit_log.insert()


class Registry:
    """The stamp registry and audit log in one SQL database.

    Opening it applies any pending migrations. Use it as a context manager, or
    call :meth:`close` (idempotent). Thread-safe: each call takes its own
    pooled connection.

    Parameters
    ----------
    url : str
        SQLAlchemy URL: ``sqlite:///path.sqlite`` or ``postgresql+psycopg://...``
        (``postgresql://`` and ``postgres://`` are read as psycopg).
    connect_timeout_s : float, optional
        How long to wait for a PostgreSQL server.
    busy_timeout_s : float, optional
        How long a SQLite writer waits for another process's write lock.

    Raises
    ------
    RegistryError
        If the URL is unusable, the database unreachable, or its schema newer than this code.
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    ) -> None:
        if not isinstance(url, str) or not url.strip():
            raise InvalidInputError("url must be a SQLAlchemy database URL string, e.g. 'sqlite:///provenance.sqlite'.")
        self._url = parse_url(url.strip())
        self._engine: Engine | None = create_engine(
            self._url, connect_timeout_s=connect_timeout_s, busy_timeout_s=busy_timeout_s
        )
        self._busy_timeout_s = busy_timeout_s
        try:
            with self._translate_errors("connect", connecting=True):
                self._engine.connect().close()
            with self._translate_errors("migration"):
                version = apply_migrations(self._engine)
        except BaseException:
            self.close()
            raise
        log.debug("registry open: %s (schema version %d)", describe_url(self._url), version)

    @classmethod
    def open(cls, settings: Settings, **kwargs: Any) -> "Registry":
        """Open the registry `settings` name, creating the SQLite file's folder if needed.

        Raises
        ------
        RegistryError
            If the folder cannot be created or the database cannot be opened.
        """
        url = settings.effective_database_url
        parsed = parse_url(url)
        if parsed.get_backend_name() == "sqlite" and not is_memory_sqlite(parsed):
            folder = Path(parsed.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RegistryError(
                    f"cannot create the registry folder {folder}: {exc.strerror or exc}; set "
                    "PROVENANCE_INSTANCE_PATH to a writable folder (or PROVENANCE_DATABASE_URL to another database)."
                ) from exc
        return cls(url, **kwargs)

    # ---- lifecycle

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self._url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._url.get_backend_name()

    def close(self) -> None:
        """Release every pooled connection. Safe to call twice."""
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._engine is None

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Registry {self.url} ({state})>"

    # ---- plumbing

    @contextmanager
    def _translate_errors(self, action: str, *, connecting: bool = False) -> Iterator[None]:
        try:
            yield
        except DuplicateStampError:
            raise
        except sa_exc.SQLAlchemyError as exc:
            raise translate_error(self._url, action, exc, connecting=connecting, busy_timeout_s=self._busy_timeout_s) from exc

    @contextmanager
    def _transaction(self, action: str, *, write: bool) -> Iterator[Connection]:
        engine = self._engine
        if engine is None:
            raise RegistryError("the registry is closed; open a new Registry.")
        with self._translate_errors(action, connecting=True):
            conn = engine.connect()
        try:
            with self._translate_errors(action):
                if write:
                    conn.execution_options(provenance_write=True)
                with conn.begin():
                    yield conn
        finally:
            conn.close()

    def _insert_stamp(self, conn: Connection, record: StampRecord) -> None:
        if not isinstance(record, StampRecord):
            raise InvalidInputError(f"record must be a StampRecord; got {type(record).__name__}.")
        values = {c.name: getattr(record, c.name) for c in stamps.columns}
        try:
            conn.execute(stamps.insert().values(**values))
        except sa_exc.IntegrityError as exc:
            raise DuplicateStampError(
                f"stamp ID {record.stamp_id} is already in the registry; nothing was recorded. "
                "Draw a new ID with new_stamp_id() and stamp again."
            ) from exc
        conn.execute(
            audit_log.insert().values(
                occurred_at=utc_now(),
                kind="stamp",
                sha256=record.sha256,
                verdict=STAMPED_VERDICT,
                stamp_id=record.stamp_id,
                detail_json=None,
            )
        )
        if record.phash is not None:
            self._bank_stamp(conn, record)

    def _bank_stamp(self, conn: Connection, record: StampRecord) -> None:
        """Add the stamp's PDQ hash to the stamped-outputs bank (skipped if that bank was removed)."""
        # Bump the bank's version first: the row lock serialises concurrent stamps (PostgreSQL),
        # so the duplicate check below sees every committed entry.
        bumped = conn.execute(
            hash_banks.update()
            .where(hash_banks.c.name == STAMPED_OUTPUTS_BANK)
            .values(version=hash_banks.c.version + 1, updated_at=utc_now())
        )
        if bumped.rowcount == 0:
            return
        bank_id = conn.scalar(sa.select(hash_banks.c.bank_id).where(hash_banks.c.name == STAMPED_OUTPUTS_BANK))
        exists = conn.scalar(
            sa.select(bank_entries.c.entry_id).where(
                bank_entries.c.bank_id == bank_id, bank_entries.c.kind == "pdq", bank_entries.c.value == record.phash
            )
        )
        if exists is not None:  # the same picture stamped twice: one bank entry is enough
            return
        conn.execute(
            bank_entries.insert().values(
                bank_id=bank_id, kind="pdq", value=record.phash, source=record.generator,
                case_id=record.stamp_id, added_at=record.created_at,
            )
        )
        conn.execute(
            hash_banks.update()
            .where(hash_banks.c.bank_id == bank_id)
            .values(entry_count=hash_banks.c.entry_count + 1, pdq_count=hash_banks.c.pdq_count + 1)
        )

    # ---- stamps

    @contextmanager
    def recording(self, record: StampRecord) -> Iterator[None]:
        """Record `record` and its audit row, committed only if the ``with`` block succeeds.

        The stamp row and its ``stamp`` audit event are inserted first (so an ID
        collision stops the caller before it writes anything), then the block
        runs, then the transaction commits. On SQLite the write lock is held
        for the block's duration, so keep it short (write one file).

        Raises
        ------
        DuplicateStampError
            If the ID is taken (before the block runs).
        RegistryError
            If the database fails, including at commit after the block ran; the
            caller should then remove the file it wrote.
        """
        with self._transaction("stamp", write=True) as conn:
            self._insert_stamp(conn, record)
            yield

    def record_stamp(self, record: StampRecord) -> None:
        """Record `record` and its ``stamp`` audit event in one transaction.

        Raises
        ------
        DuplicateStampError
            If a stamp with this ID exists; nothing is changed.
        RegistryError
            If the database fails; nothing is changed.
        """
        with self.recording(record):
            pass

    def get_stamp(self, stamp_id: str) -> StampRecord | None:
        """Return the stamp with this ID, or None.

        Raises
        ------
        InvalidInputError
            If `stamp_id` is not 16 hex characters.
        """
        stamp_id = check_stamp_id(stamp_id)
        with self._transaction("lookup", write=False) as conn:
            row = conn.execute(_GET_STAMP, {"stamp_id": stamp_id}).first()
        return None if row is None else row_to_record(row)

    def find_by_sha256(self, sha256: str) -> StampRecord | None:
        """Return the newest stamp whose output file has this SHA-256, or None.

        Raises
        ------
        InvalidInputError
            If `sha256` is not 64 hex characters.
        """
        sha256 = check_sha256(sha256)
        with self._transaction("lookup", write=False) as conn:
            row = conn.execute(_FIND_BY_SHA256, {"sha256": sha256}).first()
        return None if row is None else row_to_record(row)

    def stamp_phashes(self, *, since: datetime | None = None) -> list[tuple[str, str, datetime]]:
        """Return ``(stamp_id, phash, created_at)`` of the stamps with a PDQ hash, oldest first.

        For the verifier's near-copy lookup, which keeps its own index and asks only for what
        was added since its last refresh (stamps are never deleted).

        Parameters
        ----------
        since : datetime, optional
            Only stamps created at or after this (timezone-aware) time.

        Raises
        ------
        InvalidInputError
            If `since` is naive.
        """
        s = stamps
        query = sa.select(s.c.stamp_id, s.c.phash, s.c.created_at).where(s.c.phash.is_not(None))
        if since is not None:
            query = query.where(s.c.created_at >= check_time(since, "since"))
        query = query.order_by(s.c.created_at, s.c.stamp_id)
        with self._transaction("lookup", write=False) as conn:
            return [(r[0], r[1], r[2]) for r in conn.execute(query)]

    def withdraw_stamp(self, stamp_id: str, *, at: datetime | None = None) -> StampRecord:
        """Mark a stamp as withdrawn: verification then no longer vouches for its credentials.

        The row stays (the audit trail and near-copy lookups still name it); the time is
        kept and the first withdrawal wins.

        Raises
        ------
        InvalidInputError
            If `stamp_id` is malformed or not in the registry.
        RegistryError
            If the database fails.
        """
        stamp_id = check_stamp_id(stamp_id)
        when = utc_now() if at is None else check_time(at, "at")
        with self._transaction("withdraw", write=True) as conn:
            conn.execute(
                stamps.update()
                .where(stamps.c.stamp_id == stamp_id, stamps.c.withdrawn_at.is_(None))
                .values(withdrawn_at=when)
            )
            row = conn.execute(_GET_STAMP, {"stamp_id": stamp_id}).first()
        if row is None:
            raise InvalidInputError(f"No stamp {stamp_id} in the registry; check the ID (16 hex characters).")
        return row_to_record(row)

    def count_stamps(self) -> int:
        """Return how many stamps are recorded."""
        with self._transaction("count", write=False) as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(stamps)))

    # ---- audit log

    def log_event(
        self,
        kind: str,
        *,
        sha256: str,
        verdict: str,
        stamp_id: str | None = None,
        detail: Mapping | None = None,
    ) -> None:
        """Append one event to the audit log (there is no way to change or delete it).

        Parameters
        ----------
        kind : str
            One of :data:`AUDIT_KINDS`.
        sha256 : str
            SHA-256 of the media, 64 hex characters.
        verdict : str
            Short outcome, at most 64 characters.
        stamp_id : str, optional
            The stamp concerned, 16 hex characters.
        detail : dict, optional
            JSON-serialisable, at most :data:`MAX_DETAIL_BYTES`: hashes and scores, never media.

        Raises
        ------
        InvalidInputError
            If an argument is malformed.
        RegistryError
            If the database fails.
        """
        if kind not in AUDIT_KINDS:
            raise InvalidInputError(f"kind must be one of {', '.join(AUDIT_KINDS)}; got {kind!r}.")
        values = {
            "occurred_at": utc_now(),
            "kind": kind,
            "sha256": check_sha256(sha256),
            "verdict": check_text(verdict, "verdict", max_len=MAX_VERDICT),
            "stamp_id": None if stamp_id is None else check_stamp_id(stamp_id),
            "detail_json": encode_detail(detail),
        }
        with self._transaction("audit", write=True) as conn:
            conn.execute(_INSERT_EVENT, values)

    def audit_events(self, *, since: datetime | None = None, limit: int | None = None) -> list[AuditEvent]:
        """Return audit events, oldest first.

        Parameters
        ----------
        since : datetime, optional
            Only events at or after this (timezone-aware) time.
        limit : int, optional
            At most this many (the oldest matching ones).

        Raises
        ------
        InvalidInputError
            If `since` is naive or `limit` is not a positive whole number.
        """
        query = sa.select(audit_log).order_by(audit_log.c.event_id)
        if since is not None:
            query = query.where(audit_log.c.occurred_at >= check_time(since, "since"))
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
                raise InvalidInputError(f"limit must be a positive whole number or None; got {limit!r}.")
            query = query.limit(limit)
        with self._transaction("audit read", write=False) as conn:
            return [row_to_event(row) for row in conn.execute(query)]

    # ---- schema

    @property
    def schema_version(self) -> int:
        """The highest migration version applied to this database."""
        with self._transaction("schema read", write=False) as conn:
            return int(conn.scalar(sa.select(sa.func.coalesce(sa.func.max(schema_version.c.version), 0))))



def transaction(registry: Registry, action: str, *, write: bool) -> AbstractContextManager[Connection]:
    """One transaction on `registry`'s database, for the modules that own tables in it.

    Banks, tokens and transparency figures query their tables (:mod:`provenance.registry.schema`)
    through this, so that every connection, lock and error message comes from one place. Not
    part of provenance's public API.

    Parameters
    ----------
    registry : Registry
    action : str
        What is being done, for error messages (``"bank import"``).
    write : bool
        Take the write lock up front (SQLite ``BEGIN IMMEDIATE``).

    Raises
    ------
    RegistryError
        If the registry is closed or the database fails; the transaction is rolled back.
    """
    return registry._transaction(action, write=write)
