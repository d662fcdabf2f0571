"""The current shape of the registry's tables, for queries.

Migrations (:mod:`provenance.registry.migrations`) declare their own copies, frozen as they
shipped, so editing these never rewrites history. Code that owns a table in this database
(banks, tokens, transparency) queries it through these objects inside
:func:`provenance.registry.transaction`.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

__all__ = [
    "DEFAULT_BANK_THRESHOLD",
    "MAX_VERDICT",
    "STAMPED_OUTPUTS_BANK",
    "UTCDateTime",
    "api_tokens",
    "audit_log",
    "bank_entries",
    "bank_videos",
    "case_events",
    "case_hashes",
    "case_matches",
    "cases",
    "content_index",
    "webhook_deliveries",
    "hash_banks",
    "id_column",
    "metadata",
    "schema_version",
    "stamps",
    "utc_now",
]

#: Bank that every stamped output's PDQ hash goes into (made by migration 3).
STAMPED_OUTPUTS_BANK = "stamped-outputs"
#: Default PDQ match threshold of a bank, in bits (Meta's recommendation).
DEFAULT_BANK_THRESHOLD = 31
#: Longest audit verdict, in characters.
MAX_VERDICT = 64


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(sa.types.TypeDecorator):
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


def id_column(name: str) -> sa.Column:
    """An auto-increment 64-bit primary key (INTEGER on SQLite, where only that auto-increments)."""
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True)


metadata = sa.MetaData()
schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("applied_at", UTCDateTime(timezone=True), nullable=False),
)
stamps = sa.Table(
    "stamps",
    metadata,
    sa.Column("stamp_id", sa.String(16), primary_key=True),
    sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    sa.Column("generator", sa.Text, nullable=False),
    sa.Column("manifest_json", sa.Text, nullable=False),
    sa.Column("manifest_store", sa.LargeBinary, nullable=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("phash", sa.String(64), nullable=True),
    sa.Column("prompt_hash", sa.String(64), nullable=True),
    sa.Column("requester", sa.Text, nullable=True),
    sa.Column("key_id", sa.Text, nullable=True),
    sa.Column("fingerprint", sa.LargeBinary, nullable=True),
    sa.Column("withdrawn_at", UTCDateTime(timezone=True), nullable=True),
)
audit_log = sa.Table(
    "audit_log",
    metadata,
    id_column("event_id"),
    sa.Column("occurred_at", UTCDateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("verdict", sa.String(MAX_VERDICT), nullable=False),
    sa.Column("stamp_id", sa.String(16), nullable=True),
    sa.Column("detail_json", sa.Text, nullable=True),
)
hash_banks = sa.Table(
    "hash_banks",
    metadata,
    id_column("bank_id"),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.String(32), nullable=False),
    sa.Column("threshold", sa.Integer, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("withdrawals", sa.BigInteger, nullable=False),
    sa.Column("entry_count", sa.BigInteger, nullable=False),
    sa.Column("pdq_count", sa.BigInteger, nullable=False),
    # Migration 8: banked videos (``bank_videos``) and their removals.
    sa.Column("video_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("video_withdrawals", sa.BigInteger, nullable=False, server_default="0"),
)
bank_entries = sa.Table(
    "bank_entries",
    metadata,
    id_column("entry_id"),
    sa.Column("bank_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("value", sa.String(64), nullable=False),
    sa.Column("quality", sa.SmallInteger, nullable=True),
    sa.Column("source", sa.Text, nullable=True),
    sa.Column("case_id", sa.Text, nullable=True),
    sa.Column("listed_at", UTCDateTime(timezone=True), nullable=True),
    sa.Column("added_at", UTCDateTime(timezone=True), nullable=False),
)
# Banked videos (migration 8, ``_v8_bank_videos``); see :mod:`provenance.banks.videos`.
bank_videos = sa.Table(
    "bank_videos",
    metadata,
    id_column("video_id"),
    sa.Column("bank_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("vpdq_sha256", sa.String(64), nullable=False),
    sa.Column("md5", sa.String(32), nullable=True),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("frame_count", sa.Integer, nullable=False),
    sa.Column("frames", sa.LargeBinary, nullable=False),
    sa.Column("source", sa.Text, nullable=True),
    sa.Column("case_id", sa.Text, nullable=True),
    sa.Column("listed_at", UTCDateTime(timezone=True), nullable=True),
    sa.Column("added_at", UTCDateTime(timezone=True), nullable=False),
)
# Web API bearer tokens (made by migration 4, ``_v4_api_tokens``): only the token's SHA-256 is kept.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_id", sa.String(16), primary_key=True),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("label", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
)

# Take It Down cases (migration 7, ``_v7_cases``); see :mod:`provenance.cases`.
_TS = UTCDateTime(timezone=True)
cases = sa.Table(
    "cases", metadata,
    sa.Column("case_id", sa.String(16), primary_key=True),
    sa.Column("status_sha256", sa.String(64), nullable=True, unique=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(8), nullable=False),
    sa.Column("received_at", _TS, nullable=False),
    sa.Column("deadline_at", _TS, nullable=False),
    sa.Column("decided_at", _TS, nullable=True),
    sa.Column("overdue_at", _TS, nullable=True),
    sa.Column("locations_json", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("signature", sa.Text, nullable=True),
    sa.Column("good_faith", sa.Boolean, nullable=False),
    sa.Column("contact", sa.Text, nullable=True),
    sa.Column("contact_purged_at", _TS, nullable=True),
    sa.Column("decision_note", sa.Text, nullable=True),
)
case_hashes = sa.Table(
    "case_hashes", metadata,
    id_column("hash_id"),
    sa.Column("case_id", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("value", sa.String(64), nullable=False),
    sa.Column("quality", sa.SmallInteger, nullable=True),
    sa.Column("origin", sa.String(8), nullable=False),
)
case_events = sa.Table(
    "case_events", metadata,
    id_column("event_id"),
    sa.Column("case_id", sa.String(16), nullable=False),
    sa.Column("occurred_at", _TS, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("from_state", sa.String(16), nullable=True),
    sa.Column("to_state", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=True),
)
case_matches = sa.Table(
    "case_matches", metadata,
    id_column("match_id"),
    sa.Column("case_id", sa.String(16), nullable=False),
    sa.Column("content_id", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("distance", sa.SmallInteger, nullable=False),
    sa.Column("found_at", _TS, nullable=False),
    sa.Column("alert", sa.Boolean, nullable=False),
)
content_index = sa.Table(
    "content_index", metadata,
    id_column("row_id"),
    sa.Column("content_id", sa.String(200), nullable=False),
    sa.Column("pdq", sa.String(64), nullable=True),
    sa.Column("quality", sa.SmallInteger, nullable=True),
    sa.Column("md5", sa.String(32), nullable=True),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("indexed_at", _TS, nullable=False),
)
webhook_deliveries = sa.Table(
    "webhook_deliveries", metadata,
    id_column("row_id"),
    sa.Column("delivery_id", sa.String(32), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("attempt", sa.SmallInteger, nullable=False),
    sa.Column("attempted_at", _TS, nullable=False),
    sa.Column("status_code", sa.SmallInteger, nullable=True),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
)
