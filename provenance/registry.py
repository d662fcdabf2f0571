"""The registry: a durable record of every stamp, and an append-only audit log.

One SQL database holds both. By default it is a SQLite file in the instance
folder (:attr:`Settings.effective_database_url`); set ``PROVENANCE_DATABASE_URL``
to a ``postgresql+psycopg://`` URL to share one registry between machines.
SQLAlchemy Core talks to either.

Tables
------
``schema_version``  one row per applied migration step (version, name, time)
``stamps``          one row per stamped output: ID, time, generator, manifest, hashes
``audit_log``       append-only stamp / verify / match events: hashes and verdicts, never media
``hash_banks``      named banks of reported hashes: label, threshold, enabled, change counters
``bank_entries``    hashes in the banks (PDQ, MD5, SHA-256) with source, case ID and date; never media

Every stamp with a perceptual hash is also added to the ``stamped-outputs`` bank in the
same transaction (see :mod:`provenance.banks`).
``api_tokens``      web API bearer tokens: SHA-256 of the token, role, label, times (:mod:`provenance.tokens`)

The schema is versioned: :data:`MIGRATIONS` is an ordered list of steps, and
opening a registry applies the missing ones in one transaction (on PostgreSQL
under an advisory lock, on SQLite under ``BEGIN IMMEDIATE``), so several web
workers may start at once. To change the schema, append a :class:`Migration`;
never edit one that has shipped.

Writes are transactional. ``with registry.recording(record): write_output()``
inserts the stamp and its audit row, runs the block, and commits only if the
block returns; if it raises, nothing is recorded.

Errors: bad arguments raise :class:`~provenance.errors.InvalidInputError`; an
unreachable or failing database raises :class:`~provenance.errors.RegistryError`
(a duplicate stamp ID raises its subclass :class:`DuplicateStampError`).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.pool import StaticPool

from .errors import InvalidInputError, RegistryError
from .settings import Settings

__all__ = [
    "AUDIT_KINDS",
    "STAMPED_OUTPUTS_BANK",
    "MAX_DETAIL_BYTES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "AuditEvent",
    "DuplicateStampError",
    "Migration",
    "Registry",
    "StampRecord",
    "new_stamp_id",
]

log = logging.getLogger(__name__)

#: Event kinds the audit log accepts.
AUDIT_KINDS = ("stamp", "verify", "match")
#: Largest audit ``detail`` accepted, as UTF-8 JSON bytes.
MAX_DETAIL_BYTES = 4096
#: Seconds to wait for a PostgreSQL connection before giving up.
DEFAULT_CONNECT_TIMEOUT_S = 5.0
#: Seconds a SQLite writer waits for another process's write lock.
DEFAULT_BUSY_TIMEOUT_S = 30.0
#: Audit verdict written with every recorded stamp.
STAMPED_VERDICT = "stamped"
#: Bank that every stamped output's PDQ hash goes into (made by migration 3).
STAMPED_OUTPUTS_BANK = "stamped-outputs"
#: Default PDQ match threshold of a bank, in bits (Meta's recommendation).
DEFAULT_BANK_THRESHOLD = 31

_MIGRATION_LOCK_KEY = 0x70726F76656E616E  # "provenan": pg_advisory_xact_lock key
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_MAX_TEXT = 256
_MAX_VERDICT = 64
_MAX_FINGERPRINT_BYTES = 65536


class DuplicateStampError(RegistryError):
    """A stamp with this ID is already recorded; draw a new ID and retry."""


# --------------------------------------------------------------------------- values


def new_stamp_id() -> str:
    """Return a random 64-bit stamp ID as 16 lowercase hex characters."""
    return secrets.token_hex(8)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _check_hex(value: object, pattern: re.Pattern, name: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        shown = repr(value) if not isinstance(value, str) or len(value) <= 80 else f"{value[:80]!r}..."
        raise InvalidInputError(f"{name} must be {what}; got {shown}.")
    return value.lower()


def _check_stamp_id(value: object, name: str = "stamp_id") -> str:
    return _check_hex(value, _HEX16, name, "16 hex characters (a 64-bit ID, see new_stamp_id())")


def _check_sha256(value: object, name: str = "sha256") -> str:
    return _check_hex(value, _HEX64, name, "64 hex characters (a SHA-256 digest)")


def _check_text(value: object, name: str, *, max_len: int = _MAX_TEXT, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise InvalidInputError(f"{name} must be a non-empty string of at most {max_len} characters; got {value!r:.100}.")
    return value


def _check_time(value: object, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(f"{name} must be a timezone-aware datetime (e.g. datetime.now(timezone.utc)); got {value!r}.")
    return value.astimezone(timezone.utc)


@dataclass(frozen=True)
class StampRecord:
    """One stamped output, as the registry keeps it.

    Hex fields are normalised to lowercase and `created_at` to UTC on construction.

    Attributes
    ----------
    stamp_id : str
        The 64-bit watermark ID, 16 hex characters.
    created_at : datetime
        When the stamp was made (timezone-aware).
    generator : str
        What produced the media, e.g. ``"my-diffusion-v2"``.
    manifest_json : str
        The C2PA manifest definition as JSON text.
    manifest_store : bytes or None
        The signed C2PA manifest store (JUMBF bytes).
    sha256 : str
        SHA-256 of the output file, 64 hex characters.
    phash : str or None
        Perceptual hash (PDQ, 64 hex characters), when computed.
    prompt_hash : str or None
        SHA-256 of the prompt, 64 hex characters.
    requester : str or None
        Who asked for the media (an account name or API client).
    key_id : str or None
        ID of the watermark key used.
    fingerprint : bytes or None
        A compact image fingerprint of the output (:mod:`provenance.fingerprint`); None for
        stamps recorded before schema version 6.
    withdrawn_at : datetime or None
        When the stamp was withdrawn (:meth:`Registry.withdraw_stamp`): its credentials are no
        longer vouched for.

    Raises
    ------
    InvalidInputError
        If a field has the wrong type, length or format.
    """

    stamp_id: str
    created_at: datetime
    generator: str
    manifest_json: str
    manifest_store: bytes | None
    sha256: str
    phash: str | None = None
    prompt_hash: str | None = None
    requester: str | None = None
    key_id: str | None = None
    fingerprint: bytes | None = field(default=None, repr=False)
    withdrawn_at: datetime | None = None

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("stamp_id", _check_stamp_id(self.stamp_id))
        put("created_at", _check_time(self.created_at, "created_at"))
        _check_text(self.generator, "generator")
        if not isinstance(self.manifest_json, str):
            raise InvalidInputError(f"manifest_json must be JSON text (str); got {type(self.manifest_json).__name__}.")
        try:
            json.loads(self.manifest_json)
        except ValueError as exc:
            raise InvalidInputError(f"manifest_json is not valid JSON ({exc}); pass json.dumps(manifest).") from None
        if isinstance(self.manifest_store, (bytearray, memoryview)):
            put("manifest_store", bytes(self.manifest_store))
        elif self.manifest_store is not None and not isinstance(self.manifest_store, bytes):
            raise InvalidInputError(f"manifest_store must be bytes or None; got {type(self.manifest_store).__name__}.")
        put("sha256", _check_sha256(self.sha256))
        if self.phash is not None:
            put("phash", _check_hex(self.phash, _HEX64, "phash", "64 hex characters (a PDQ hash)"))
        if self.prompt_hash is not None:
            put("prompt_hash", _check_sha256(self.prompt_hash, "prompt_hash"))
        _check_text(self.requester, "requester", optional=True)
        _check_text(self.key_id, "key_id", max_len=64, optional=True)
        if isinstance(self.fingerprint, (bytearray, memoryview)):
            put("fingerprint", bytes(self.fingerprint))
        elif self.fingerprint is not None and not isinstance(self.fingerprint, bytes):
            raise InvalidInputError(f"fingerprint must be bytes or None; got {type(self.fingerprint).__name__}.")
        if self.fingerprint is not None and len(self.fingerprint) > _MAX_FINGERPRINT_BYTES:
            raise InvalidInputError(
                f"fingerprint is {len(self.fingerprint)} bytes; at most {_MAX_FINGERPRINT_BYTES} are kept "
                "(use provenance.fingerprint.make_fingerprint)."
            )
        if self.withdrawn_at is not None:
            put("withdrawn_at", _check_time(self.withdrawn_at, "withdrawn_at"))

    @classmethod
    def new(
        cls,
        *,
        generator: str,
        manifest_json: str,
        sha256: str,
        manifest_store: bytes | None = None,
        stamp_id: str | None = None,
        created_at: datetime | None = None,
        phash: str | None = None,
        prompt_hash: str | None = None,
        requester: str | None = None,
        key_id: str | None = None,
        fingerprint: bytes | None = None,
    ) -> "StampRecord":
        """Build a record, drawing a fresh ID and taking the current UTC time when not given."""
        return cls(
            stamp_id=new_stamp_id() if stamp_id is None else stamp_id,
            created_at=_utc_now() if created_at is None else created_at,
            generator=generator,
            manifest_json=manifest_json,
            manifest_store=manifest_store,
            sha256=sha256,
            phash=phash,
            prompt_hash=prompt_hash,
            requester=requester,
            key_id=key_id,
            fingerprint=fingerprint,
        )


@dataclass(frozen=True)
class AuditEvent:
    """One row of the append-only audit log.

    Attributes
    ----------
    event_id : int
        Position in the log; increases with every event.
    occurred_at : datetime
        When it was logged (UTC).
    kind : str
        One of :data:`AUDIT_KINDS`.
    sha256 : str
        SHA-256 of the media concerned.
    verdict : str
        Outcome, e.g. ``"stamped"``, ``"verified"``, ``"no_watermark"``.
    stamp_id : str or None
        The stamp concerned, if any.
    detail : dict or None
        Small JSON detail (hashes, scores, verdicts; never media).
    """

    event_id: int
    occurred_at: datetime
    kind: str
    sha256: str
    verdict: str
    stamp_id: str | None = None
    detail: dict | None = field(default=None, hash=False)

    def to_dict(self) -> dict:
        """Return a JSON-ready dict (time as ISO 8601)."""
        return {
            "event_id": self.event_id,
            "occurred_at": self.occurred_at.isoformat(),
            "kind": self.kind,
            "sha256": self.sha256,
            "verdict": self.verdict,
            "stamp_id": self.stamp_id,
            "detail": self.detail,
        }


# --------------------------------------------------------------------------- schema


class _UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive UTC text)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _id_column(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True)


# The current shape of the tables, for queries. Migrations declare their own copies
# (frozen as they shipped), so editing these never rewrites history.
_metadata = sa.MetaData()
_schema_version = sa.Table(
    "schema_version",
    _metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("applied_at", _UTCDateTime(timezone=True), nullable=False),
)
_stamps = sa.Table(
    "stamps",
    _metadata,
    sa.Column("stamp_id", sa.String(16), primary_key=True),
    sa.Column("created_at", _UTCDateTime(timezone=True), nullable=False),
    sa.Column("generator", sa.Text, nullable=False),
    sa.Column("manifest_json", sa.Text, nullable=False),
    sa.Column("manifest_store", sa.LargeBinary, nullable=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("phash", sa.String(64), nullable=True),
    sa.Column("prompt_hash", sa.String(64), nullable=True),
    sa.Column("requester", sa.Text, nullable=True),
    sa.Column("key_id", sa.Text, nullable=True),
    sa.Column("fingerprint", sa.LargeBinary, nullable=True),
    sa.Column("withdrawn_at", _UTCDateTime(timezone=True), nullable=True),
)
_audit_log = sa.Table(
    "audit_log",
    _metadata,
    _id_column("event_id"),
    sa.Column("occurred_at", _UTCDateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("verdict", sa.String(_MAX_VERDICT), nullable=False),
    sa.Column("stamp_id", sa.String(16), nullable=True),
    sa.Column("detail_json", sa.Text, nullable=True),
)
_hash_banks = sa.Table(
    "hash_banks",
    _metadata,
    _id_column("bank_id"),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.String(32), nullable=False),
    sa.Column("threshold", sa.Integer, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_at", _UTCDateTime(timezone=True), nullable=False),
    sa.Column("updated_at", _UTCDateTime(timezone=True), nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("withdrawals", sa.BigInteger, nullable=False),
    sa.Column("entry_count", sa.BigInteger, nullable=False),
    sa.Column("pdq_count", sa.BigInteger, nullable=False),
)
_bank_entries = sa.Table(
    "bank_entries",
    _metadata,
    _id_column("entry_id"),
    sa.Column("bank_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("value", sa.String(64), nullable=False),
    sa.Column("quality", sa.SmallInteger, nullable=True),
    sa.Column("source", sa.Text, nullable=True),
    sa.Column("case_id", sa.Text, nullable=True),
    sa.Column("listed_at", _UTCDateTime(timezone=True), nullable=True),
    sa.Column("added_at", _UTCDateTime(timezone=True), nullable=False),
)


# The statements of every verification, built once: SQLAlchemy then reuses their compiled
# form without rebuilding and re-keying a new statement object per call.
_GET_STAMP = sa.select(_stamps).where(_stamps.c.stamp_id == sa.bindparam("stamp_id"))
_FIND_BY_SHA256 = (
    sa.select(_stamps)
    .where(_stamps.c.sha256 == sa.bindparam("sha256"))
    .order_by(_stamps.c.created_at.desc(), _stamps.c.stamp_id)
    .limit(1)
)
_INSERT_EVENT = _audit_log.insert()


@dataclass(frozen=True)
class Migration:
    """One schema step: `apply` runs inside the migration transaction.

    Attributes
    ----------
    version : int
        Its position, 1, 2, 3, ... in :data:`MIGRATIONS`.
    name : str
        What it does, recorded in ``schema_version``.
    apply : callable
        ``apply(connection)``; may branch on ``connection.dialect.name``.
    """

    version: int
    name: str
    apply: Callable[[Connection], None] = field(repr=False)


def _v1_stamps_and_audit_log(conn: Connection) -> None:
    md = sa.MetaData()
    sa.Table(
        "stamps",
        md,
        sa.Column("stamp_id", sa.String(16), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("generator", sa.Text, nullable=False),
        sa.Column("manifest_json", sa.Text, nullable=False),
        sa.Column("manifest_store", sa.LargeBinary, nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("phash", sa.String(64), nullable=True),
        sa.Column("prompt_hash", sa.String(64), nullable=True),
        sa.Column("requester", sa.Text, nullable=True),
        sa.Column("key_id", sa.Text, nullable=True),
        sa.Index("ix_stamps_sha256", "sha256"),
        sa.Index("ix_stamps_phash", "phash"),
        sa.Index("ix_stamps_created_at", "created_at"),
    )
    sa.Table(
        "audit_log",
        md,
        _id_column("event_id"),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("verdict", sa.String(_MAX_VERDICT), nullable=False),
        sa.Column("stamp_id", sa.String(16), nullable=True),
        sa.Column("detail_json", sa.Text, nullable=True),
        sa.Index("ix_audit_log_occurred_at", "occurred_at"),
        sa.Index("ix_audit_log_stamp_id", "stamp_id"),
        sa.Index("ix_audit_log_sha256", "sha256"),
    )
    md.create_all(conn)


def _v2_audit_log_append_only(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        for op in ("UPDATE", "DELETE"):
            conn.exec_driver_sql(
                f"CREATE TRIGGER audit_log_no_{op.lower()} BEFORE {op} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )


def _v3_hash_banks(conn: Connection) -> None:
    """Hash banks and their entries; the ``stamped-outputs`` bank, filled from existing stamps."""
    md = sa.MetaData()
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    banks = sa.Table(
        "hash_banks",
        md,
        sa.Column("bank_id", id_type, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("threshold", sa.Integer, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),  # +1 on every change: caches reload
        sa.Column("withdrawals", sa.BigInteger, nullable=False),  # +1 on every removal: full reload
        sa.Column("entry_count", sa.BigInteger, nullable=False),
        sa.Column("pdq_count", sa.BigInteger, nullable=False),
    )
    sa.Table(
        "bank_entries",
        md,
        sa.Column("entry_id", id_type, primary_key=True, autoincrement=True),
        sa.Column("bank_id", id_type, sa.ForeignKey("hash_banks.bank_id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),  # pdq, md5, sha256
        sa.Column("value", sa.String(64), nullable=False),  # lowercase hex
        sa.Column("quality", sa.SmallInteger, nullable=True),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("case_id", sa.Text, nullable=True),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        # Serves duplicate checks, withdrawals and exact (MD5/SHA-256) lookups per bank; one
        # index only, so that million-row imports stay fast.
        sa.UniqueConstraint("bank_id", "kind", "value", name="uq_bank_entries_bank_kind_value"),
    )
    md.create_all(conn)
    now = _utc_now()
    now_db = now.replace(tzinfo=None) if conn.dialect.name == "sqlite" else now
    conn.execute(
        banks.insert().values(
            name=STAMPED_OUTPUTS_BANK, label=STAMPED_OUTPUTS_BANK, threshold=DEFAULT_BANK_THRESHOLD, enabled=True,
            description="PDQ hashes of our own stamped outputs, so copies whose watermark was destroyed are found.",
            created_at=now_db, updated_at=now_db, version=1, withdrawals=0, entry_count=0, pdq_count=0,
        )
    )
    conn.exec_driver_sql(
        "INSERT INTO bank_entries (bank_id, kind, value, source, case_id, added_at) "
        "SELECT b.bank_id, 'pdq', s.phash, s.generator, s.stamp_id, s.created_at "
        "FROM stamps s, hash_banks b WHERE b.name = %s AND s.phash IS NOT NULL "
        "AND s.stamp_id IN (SELECT MIN(stamp_id) FROM stamps WHERE phash IS NOT NULL GROUP BY phash)"
        % ("?" if conn.dialect.name == "sqlite" else "%(name)s"),
        (STAMPED_OUTPUTS_BANK,) if conn.dialect.name == "sqlite" else {"name": STAMPED_OUTPUTS_BANK},
    )
    conn.exec_driver_sql(
        "UPDATE hash_banks SET entry_count = (SELECT COUNT(*) FROM bank_entries e WHERE e.bank_id = hash_banks.bank_id), "
        "pdq_count = (SELECT COUNT(*) FROM bank_entries e WHERE e.bank_id = hash_banks.bank_id)"
    )


def _v4_api_tokens(conn: Connection) -> None:
    md = sa.MetaData()
    sa.Table(
        "api_tokens",
        md,
        sa.Column("token_id", sa.String(16), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("label", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    md.create_all(conn)


def _v5_bank_entries_no_fk(conn: Connection) -> None:
    """Drop ``bank_entries.bank_id``'s foreign key on PostgreSQL.

    Its check runs once per inserted row: a third of a million-row import (20 -> 13 s for the
    COPY). Entries are only ever written in the transaction that has locked their bank's row
    (:mod:`provenance.banks`), and banks are never deleted, so the check guards nothing the code
    can do. SQLite keeps it: its check is cheap and its ALTER TABLE cannot drop a constraint.
    """
    if conn.dialect.name != "postgresql":
        return
    names = conn.exec_driver_sql(
        "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid = 'bank_entries'::regclass"
    ).scalars().all()
    for name in names:
        conn.exec_driver_sql(f'ALTER TABLE bank_entries DROP CONSTRAINT "{name}"')


def _v6_stamp_fingerprints(conn: Connection) -> None:
    """Add ``stamps.fingerprint`` (an image fingerprint of the output) and ``stamps.withdrawn_at``.

    Older rows keep NULL: they are checked by their PDQ hash alone, and the report says so.
    """
    conn.exec_driver_sql(
        "ALTER TABLE stamps ADD COLUMN fingerprint " + ("BYTEA" if conn.dialect.name == "postgresql" else "BLOB")
    )
    conn.exec_driver_sql(
        "ALTER TABLE stamps ADD COLUMN withdrawn_at "
        + ("TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME")
    )


#: Ordered schema steps. Append new ones (version = previous + 1); never edit shipped ones.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "stamps and audit_log tables", _v1_stamps_and_audit_log),
    Migration(2, "audit_log append-only triggers", _v2_audit_log_append_only),
    Migration(3, "hash banks", _v3_hash_banks),
    Migration(4, "api tokens", _v4_api_tokens),
    Migration(5, "bank entries without a per-row foreign-key check on PostgreSQL", _v5_bank_entries_no_fk),
    Migration(6, "stamp fingerprints and withdrawals", _v6_stamp_fingerprints),
)
#: The schema version this code writes and expects.
SCHEMA_VERSION = MIGRATIONS[-1].version


def _check_migrations(steps: tuple[Migration, ...]) -> None:
    versions = [m.version for m in steps]
    if versions != list(range(1, len(steps) + 1)):
        raise RegistryError(f"migration versions must be 1, 2, 3, ... in order; got {versions}.")


_check_migrations(MIGRATIONS)


# --------------------------------------------------------------------------- engine


def _is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _where(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return "in-memory SQLite" if _is_memory_sqlite(url) else f"SQLite database {url.database}"
    return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return lines[0] if lines else type(orig).__name__


def _parse_url(url: str) -> URL:
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


def _create_engine(url: URL, *, connect_timeout_s: float, busy_timeout_s: float) -> Engine:
    try:
        if url.get_backend_name() == "postgresql":
            connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": max(1, round(connect_timeout_s))}
            return sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        if _is_memory_sqlite(url):
            engine = sa.create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s})
    except (sa_exc.SQLAlchemyError, ImportError) as exc:
        raise RegistryError(f"cannot use {_where(url)}: {_reason(exc)}; check PROVENANCE_DATABASE_URL") from exc
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


def _apply_migrations(engine: Engine, steps: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Bring the schema up to ``steps[-1].version`` in one locked transaction; return the version."""
    known = steps[-1].version if steps else 0
    with engine.connect() as conn:
        conn.execution_options(provenance_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
            _schema_version.create(conn, checkfirst=True)
            current = conn.scalar(sa.select(sa.func.coalesce(sa.func.max(_schema_version.c.version), 0)))
            if current > known:
                raise RegistryError(
                    f"the registry schema is at version {current} but this provenance knows only "
                    f"{known}; upgrade provenance (or point PROVENANCE_DATABASE_URL at another database)."
                )
            for step in steps:
                if step.version <= current:
                    continue
                log.info("registry migration %d: %s", step.version, step.name)
                step.apply(conn)
                conn.execute(
                    _schema_version.insert().values(version=step.version, name=step.name, applied_at=_utc_now())
                )
    return max(current, known)


# --------------------------------------------------------------------------- registry


def _row_to_record(row: sa.Row) -> StampRecord:
    m = row._mapping
    store = m["manifest_store"]
    return StampRecord(
        stamp_id=m["stamp_id"],
        created_at=m["created_at"],
        generator=m["generator"],
        manifest_json=m["manifest_json"],
        manifest_store=None if store is None else bytes(store),
        sha256=m["sha256"],
        phash=m["phash"],
        prompt_hash=m["prompt_hash"],
        requester=m["requester"],
        key_id=m["key_id"],
        fingerprint=None if m["fingerprint"] is None else bytes(m["fingerprint"]),
        withdrawn_at=m["withdrawn_at"],
    )


def _row_to_event(row: sa.Row) -> AuditEvent:
    m = row._mapping
    return AuditEvent(
        event_id=int(m["event_id"]),
        occurred_at=m["occurred_at"],
        kind=m["kind"],
        sha256=m["sha256"],
        verdict=m["verdict"],
        stamp_id=m["stamp_id"],
        detail=None if m["detail_json"] is None else json.loads(m["detail_json"]),
    )


def _encode_detail(detail: Mapping | None) -> str | None:
    if detail is None:
        return None
    if not isinstance(detail, Mapping):
        raise InvalidInputError(f"detail must be a dict or None; got {type(detail).__name__}.")
    try:
        text = json.dumps(dict(detail), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"detail must be plain JSON (str, numbers, lists, dicts): {exc}.") from None
    size = len(text.encode("utf-8"))
    if size > MAX_DETAIL_BYTES:
        raise InvalidInputError(
            f"detail is {size} bytes of JSON; the audit log keeps at most {MAX_DETAIL_BYTES} "
            "(hashes and verdicts only, never media)."
        )
    return text


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
        self._url = _parse_url(url.strip())
        self._engine: Engine | None = _create_engine(
            self._url, connect_timeout_s=connect_timeout_s, busy_timeout_s=busy_timeout_s
        )
        self._busy_timeout_s = busy_timeout_s
        try:
            with self._translate_errors("connect", connecting=True):
                self._engine.connect().close()
            with self._translate_errors("migration"):
                version = _apply_migrations(self._engine)
        except BaseException:
            self.close()
            raise
        log.debug("registry open: %s (schema version %d)", _where(self._url), version)

    @classmethod
    def open(cls, settings: Settings, **kwargs: Any) -> "Registry":
        """Open the registry `settings` name, creating the SQLite file's folder if needed.

        Raises
        ------
        RegistryError
            If the folder cannot be created or the database cannot be opened.
        """
        url = settings.effective_database_url
        parsed = _parse_url(url)
        if parsed.get_backend_name() == "sqlite" and not _is_memory_sqlite(parsed):
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
            raise self._error(action, exc, connecting=connecting) from exc

    def _error(self, action: str, exc: sa_exc.SQLAlchemyError, *, connecting: bool) -> RegistryError:
        reason, where = _reason(exc), _where(self._url)
        low = reason.lower()
        if self.dialect == "postgresql":
            if connecting or getattr(exc, "connection_invalidated", False):
                return RegistryError(
                    f"cannot connect to {where}: {reason}; check PROVENANCE_DATABASE_URL and that the server is running."
                )
            if "permission denied" in low:
                return RegistryError(
                    f"registry {action} failed on {where}: {reason}; the role in PROVENANCE_DATABASE_URL needs to "
                    "own the database (or have CREATE on its schema)."
                )
            return RegistryError(f"registry {action} failed on {where}: {reason}; check the database server's log.")
        if "unable to open" in low:
            return RegistryError(
                f"cannot open {where}: {reason}; check that its folder exists and is writable, "
                "or set PROVENANCE_INSTANCE_PATH / PROVENANCE_DATABASE_URL."
            )
        if "locked" in low or "busy" in low:
            return RegistryError(
                f"registry {action} failed: {where} stayed locked by another process for "
                f"{self._busy_timeout_s:g} s; retry, or look for a stuck process holding it."
            )
        if "readonly" in low or "read-only" in low:
            return RegistryError(f"registry {action} failed: {where} is read-only; make the file and its folder writable.")
        return RegistryError(
            f"registry {action} failed on {where}: {reason}; check that PROVENANCE_DATABASE_URL points at a "
            "provenance registry and the file is not corrupt."
        )

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
        values = {c.name: getattr(record, c.name) for c in _stamps.columns}
        try:
            conn.execute(_stamps.insert().values(**values))
        except sa_exc.IntegrityError as exc:
            raise DuplicateStampError(
                f"stamp ID {record.stamp_id} is already in the registry; nothing was recorded. "
                "Draw a new ID with new_stamp_id() and stamp again."
            ) from exc
        conn.execute(
            _audit_log.insert().values(
                occurred_at=_utc_now(),
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
            _hash_banks.update()
            .where(_hash_banks.c.name == STAMPED_OUTPUTS_BANK)
            .values(version=_hash_banks.c.version + 1, updated_at=_utc_now())
        )
        if bumped.rowcount == 0:
            return
        bank_id = conn.scalar(sa.select(_hash_banks.c.bank_id).where(_hash_banks.c.name == STAMPED_OUTPUTS_BANK))
        exists = conn.scalar(
            sa.select(_bank_entries.c.entry_id).where(
                _bank_entries.c.bank_id == bank_id, _bank_entries.c.kind == "pdq", _bank_entries.c.value == record.phash
            )
        )
        if exists is not None:  # the same picture stamped twice: one bank entry is enough
            return
        conn.execute(
            _bank_entries.insert().values(
                bank_id=bank_id, kind="pdq", value=record.phash, source=record.generator,
                case_id=record.stamp_id, added_at=record.created_at,
            )
        )
        conn.execute(
            _hash_banks.update()
            .where(_hash_banks.c.bank_id == bank_id)
            .values(entry_count=_hash_banks.c.entry_count + 1, pdq_count=_hash_banks.c.pdq_count + 1)
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
        stamp_id = _check_stamp_id(stamp_id)
        with self._transaction("lookup", write=False) as conn:
            row = conn.execute(_GET_STAMP, {"stamp_id": stamp_id}).first()
        return None if row is None else _row_to_record(row)

    def find_by_sha256(self, sha256: str) -> StampRecord | None:
        """Return the newest stamp whose output file has this SHA-256, or None.

        Raises
        ------
        InvalidInputError
            If `sha256` is not 64 hex characters.
        """
        sha256 = _check_sha256(sha256)
        with self._transaction("lookup", write=False) as conn:
            row = conn.execute(_FIND_BY_SHA256, {"sha256": sha256}).first()
        return None if row is None else _row_to_record(row)

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
        s = _stamps
        query = sa.select(s.c.stamp_id, s.c.phash, s.c.created_at).where(s.c.phash.is_not(None))
        if since is not None:
            query = query.where(s.c.created_at >= _check_time(since, "since"))
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
        stamp_id = _check_stamp_id(stamp_id)
        when = _utc_now() if at is None else _check_time(at, "at")
        with self._transaction("withdraw", write=True) as conn:
            conn.execute(
                _stamps.update()
                .where(_stamps.c.stamp_id == stamp_id, _stamps.c.withdrawn_at.is_(None))
                .values(withdrawn_at=when)
            )
            row = conn.execute(_GET_STAMP, {"stamp_id": stamp_id}).first()
        if row is None:
            raise InvalidInputError(f"No stamp {stamp_id} in the registry; check the ID (16 hex characters).")
        return _row_to_record(row)

    def count_stamps(self) -> int:
        """Return how many stamps are recorded."""
        with self._transaction("count", write=False) as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(_stamps)))

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
            "occurred_at": _utc_now(),
            "kind": kind,
            "sha256": _check_sha256(sha256),
            "verdict": _check_text(verdict, "verdict", max_len=_MAX_VERDICT),
            "stamp_id": None if stamp_id is None else _check_stamp_id(stamp_id),
            "detail_json": _encode_detail(detail),
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
        query = sa.select(_audit_log).order_by(_audit_log.c.event_id)
        if since is not None:
            query = query.where(_audit_log.c.occurred_at >= _check_time(since, "since"))
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
                raise InvalidInputError(f"limit must be a positive whole number or None; got {limit!r}.")
            query = query.limit(limit)
        with self._transaction("audit read", write=False) as conn:
            return [_row_to_event(row) for row in conn.execute(query)]

    # ---- schema

    @property
    def schema_version(self) -> int:
        """The highest migration version applied to this database."""
        with self._transaction("schema read", write=False) as conn:
            return int(conn.scalar(sa.select(sa.func.coalesce(sa.func.max(_schema_version.c.version), 0))))
