"""The registry's schema history: an ordered list of steps, applied in one locked transaction.

To change the schema, append a :class:`Migration` (version = previous + 1) with its own frozen
table copies; never edit one that has shipped. Update :mod:`provenance.registry.schema` to the
new shape in the same change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import RegistryError
from .schema import DEFAULT_BANK_THRESHOLD, MAX_VERDICT, STAMPED_OUTPUTS_BANK, id_column, schema_version, utc_now

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "apply_migrations"]

log = logging.getLogger(__name__)

_MIGRATION_LOCK_KEY = 0x70726F76656E616E  # "provenan": pg_advisory_xact_lock key


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
        id_column("event_id"),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("verdict", sa.String(MAX_VERDICT), nullable=False),
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
    now = utc_now()
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

    Its check runs once per inserted row, a third of a million-row import's time (docs/banks.md).
    Entries are only ever written in the transaction that has locked their bank's row
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


def _v7_cases(conn: Connection) -> None:
    """Take It Down removal cases, their hashes, audit events and sweep matches; the content
    index (hashes of a platform's uploads, never media); webhook deliveries."""
    md = sa.MetaData()
    ts = sa.DateTime(timezone=True)
    sa.Table(
        "cases", md,
        sa.Column("case_id", sa.String(16), primary_key=True),
        sa.Column("status_sha256", sa.String(64), nullable=True, unique=True),  # NULL once expired
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),  # form, api
        sa.Column("received_at", ts, nullable=False),
        sa.Column("deadline_at", ts, nullable=False),
        sa.Column("decided_at", ts, nullable=True),
        sa.Column("overdue_at", ts, nullable=True),  # set once, when first seen overdue
        sa.Column("locations_json", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("signature", sa.Text, nullable=True),  # purged with the contact
        sa.Column("good_faith", sa.Boolean, nullable=False),
        sa.Column("contact", sa.Text, nullable=True),  # personal data: purged after close
        sa.Column("contact_purged_at", ts, nullable=True),
        sa.Column("decision_note", sa.Text, nullable=True),  # what was removed, or the reason
        sa.Index("ix_cases_state_deadline", "state", "deadline_at"),
        sa.Index("ix_cases_received_at", "received_at"),
    )
    sa.Table(
        "case_hashes", md,
        id_column("hash_id"),
        sa.Column("case_id", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("quality", sa.SmallInteger, nullable=True),
        sa.Column("origin", sa.String(8), nullable=False),  # browser, server, api
        sa.Index("ix_case_hashes_case", "case_id"),
        sa.Index("ix_case_hashes_value", "kind", "value"),
    )
    sa.Table(
        "case_events", md,
        id_column("event_id"),
        sa.Column("case_id", sa.String(16), nullable=False),
        sa.Column("occurred_at", ts, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Index("ix_case_events_case", "case_id"),
    )
    sa.Table(
        "case_matches", md,
        id_column("match_id"),
        sa.Column("case_id", sa.String(16), nullable=False),
        sa.Column("content_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("distance", sa.SmallInteger, nullable=False),
        sa.Column("found_at", ts, nullable=False),
        sa.Column("alert", sa.Boolean, nullable=False),  # found when new content was indexed
        sa.UniqueConstraint("case_id", "content_id", "kind", name="uq_case_matches"),
    )
    sa.Table(
        "content_index", md,
        id_column("row_id"),
        sa.Column("content_id", sa.String(200), nullable=False),
        sa.Column("pdq", sa.String(64), nullable=True),
        sa.Column("quality", sa.SmallInteger, nullable=True),
        sa.Column("md5", sa.String(32), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("indexed_at", ts, nullable=False),
        sa.Index("ix_content_index_md5", "md5"),
        sa.Index("ix_content_index_sha256", "sha256"),
    )
    sa.Table(
        "webhook_deliveries", md,
        id_column("row_id"),
        sa.Column("delivery_id", sa.String(32), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("attempt", sa.SmallInteger, nullable=False),
        sa.Column("attempted_at", ts, nullable=False),
        sa.Column("status_code", sa.SmallInteger, nullable=True),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
    )
    md.create_all(conn)


def _v8_bank_videos(conn: Connection) -> None:
    """Video entries in hash banks: one row per banked video with its vPDQ frames packed in a blob.

    ``hash_banks`` gains ``video_count`` and ``video_withdrawals`` (a withdrawal reloads a bank's
    video index; additions are appended), so a refresh knows what to reload.
    """
    md = sa.MetaData()
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    sa.Table(
        "bank_videos",
        md,
        sa.Column("video_id", id_type, primary_key=True, autoincrement=True),
        sa.Column("bank_id", id_type, nullable=False),
        sa.Column("vpdq_sha256", sa.String(64), nullable=False),  # of the canonical vPDQ text: duplicate check
        sa.Column("md5", sa.String(32), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("frame_count", sa.Integer, nullable=False),
        sa.Column("frames", sa.LargeBinary, nullable=False),  # 41 bytes a frame, see provenance.banks.videos
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("case_id", sa.Text, nullable=True),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("bank_id", "vpdq_sha256", name="uq_bank_videos_bank_vpdq"),
    )
    md.create_all(conn)
    for column in ("video_count", "video_withdrawals"):
        conn.exec_driver_sql(f"ALTER TABLE hash_banks ADD COLUMN {column} BIGINT NOT NULL DEFAULT 0")


#: Ordered schema steps. Append new ones (version = previous + 1); never edit shipped ones.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "stamps and audit_log tables", _v1_stamps_and_audit_log),
    Migration(2, "audit_log append-only triggers", _v2_audit_log_append_only),
    Migration(3, "hash banks", _v3_hash_banks),
    Migration(4, "api tokens", _v4_api_tokens),
    Migration(5, "bank entries without a per-row foreign-key check on PostgreSQL", _v5_bank_entries_no_fk),
    Migration(6, "stamp fingerprints and withdrawals", _v6_stamp_fingerprints),
    Migration(7, "take it down cases, content index, webhook deliveries", _v7_cases),
    Migration(8, "video entries in hash banks", _v8_bank_videos),
)
#: The schema version this code writes and expects.
SCHEMA_VERSION = MIGRATIONS[-1].version


def _check_migrations(steps: tuple[Migration, ...]) -> None:
    versions = [m.version for m in steps]
    if versions != list(range(1, len(steps) + 1)):
        raise RegistryError(f"migration versions must be 1, 2, 3, ... in order; got {versions}.")


_check_migrations(MIGRATIONS)


def apply_migrations(engine: Engine, steps: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Bring the schema up to ``steps[-1].version`` in one locked transaction; return the version."""
    known = steps[-1].version if steps else 0
    with engine.connect() as conn:
        conn.execution_options(provenance_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
            schema_version.create(conn, checkfirst=True)
            current = conn.scalar(sa.select(sa.func.coalesce(sa.func.max(schema_version.c.version), 0)))
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
                    schema_version.insert().values(version=step.version, name=step.name, applied_at=utc_now())
                )
    return max(current, known)
