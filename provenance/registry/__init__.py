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

``api_tokens``      web API bearer tokens: SHA-256 of the token, role, label, times (:mod:`provenance.tokens`)

Every stamp with a perceptual hash is also added to the ``stamped-outputs`` bank in the
same transaction (see :mod:`provenance.banks`).

The package owns the database: :mod:`.schema` (the tables' current shape), :mod:`.engine`
(URLs, engines, errors in plain words), :mod:`.migrations`, :mod:`.records` (what a row
holds) and :mod:`.store` (:class:`Registry`, and :func:`transaction`, through which banks,
tokens and transparency reach their tables).

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
(a duplicate stamp ID raises its subclass :class:`~provenance.errors.DuplicateStampError`;
an unreachable database :class:`~provenance.errors.RegistryUnavailable`).
"""

from __future__ import annotations

from ..errors import DuplicateStampError
from .engine import DEFAULT_BUSY_TIMEOUT_S, DEFAULT_CONNECT_TIMEOUT_S
from .migrations import MIGRATIONS, SCHEMA_VERSION, Migration
from .records import AUDIT_KINDS, MAX_DETAIL_BYTES, STAMPED_VERDICT, AuditEvent, StampRecord, new_stamp_id
from .schema import DEFAULT_BANK_THRESHOLD, STAMPED_OUTPUTS_BANK
from .store import Registry, transaction

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
