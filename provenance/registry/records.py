"""What the registry keeps: stamp records and audit events, and the checks on their fields."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

import sqlalchemy as sa

from ..errors import InvalidInputError
from .schema import utc_now

__all__ = [
    "AUDIT_KINDS",
    "MAX_DETAIL_BYTES",
    "STAMPED_VERDICT",
    "AuditEvent",
    "StampRecord",
    "check_sha256",
    "check_stamp_id",
    "check_text",
    "check_time",
    "encode_detail",
    "new_stamp_id",
    "row_to_event",
    "row_to_record",
]

#: Event kinds the audit log accepts.
AUDIT_KINDS = ("stamp", "verify", "match")
#: Largest audit ``detail`` accepted, as UTF-8 JSON bytes.
MAX_DETAIL_BYTES = 4096
#: Audit verdict written with every recorded stamp.
STAMPED_VERDICT = "stamped"

_HEX16 = re.compile(r"[0-9a-fA-F]{16}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_MAX_TEXT = 256
_MAX_FINGERPRINT_BYTES = 65536


def new_stamp_id() -> str:
    """Return a random 64-bit stamp ID as 16 lowercase hex characters."""
    return secrets.token_hex(8)


def check_hex(value: object, pattern: re.Pattern, name: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        shown = repr(value) if not isinstance(value, str) or len(value) <= 80 else f"{value[:80]!r}..."
        raise InvalidInputError(f"{name} must be {what}; got {shown}.")
    return value.lower()


def check_stamp_id(value: object, name: str = "stamp_id") -> str:
    return check_hex(value, _HEX16, name, "16 hex characters (a 64-bit ID, see new_stamp_id())")


def check_sha256(value: object, name: str = "sha256") -> str:
    return check_hex(value, _HEX64, name, "64 hex characters (a SHA-256 digest)")


def check_text(value: object, name: str, *, max_len: int = _MAX_TEXT, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise InvalidInputError(f"{name} must be a non-empty string of at most {max_len} characters; got {value!r:.100}.")
    return value


def check_time(value: object, name: str) -> datetime:
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

        put("stamp_id", check_stamp_id(self.stamp_id))
        put("created_at", check_time(self.created_at, "created_at"))
        check_text(self.generator, "generator")
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
        put("sha256", check_sha256(self.sha256))
        if self.phash is not None:
            put("phash", check_hex(self.phash, _HEX64, "phash", "64 hex characters (a PDQ hash)"))
        if self.prompt_hash is not None:
            put("prompt_hash", check_sha256(self.prompt_hash, "prompt_hash"))
        check_text(self.requester, "requester", optional=True)
        check_text(self.key_id, "key_id", max_len=64, optional=True)
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
            put("withdrawn_at", check_time(self.withdrawn_at, "withdrawn_at"))

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
            created_at=utc_now() if created_at is None else created_at,
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


def row_to_record(row: sa.Row) -> StampRecord:
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


def row_to_event(row: sa.Row) -> AuditEvent:
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


def encode_detail(detail: Mapping | None) -> str | None:
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
