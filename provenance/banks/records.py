"""What a bank is and what it returns: banks, entries, matches, import results, and the checks on their fields."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

import numpy as np
import sqlalchemy as sa

from ..errors import InvalidInputError
from ..hashing import PerceptualHash
from ..registry.schema import DEFAULT_BANK_THRESHOLD
from ..search import MAX_SEARCH_DISTANCE

__all__ = [
    "HASH_KINDS",
    "MAX_TEXT",
    "REVIEW_NOTE",
    "Bank",
    "BankEntry",
    "BankMatch",
    "ImportResult",
    "MatchResult",
    "as_utc",
    "label_counts",
    "check_description",
    "check_hex_value",
    "check_label",
    "check_name",
    "check_threshold",
    "row_to_bank",
]

#: Hash kinds a bank holds, with their length in hex digits.
HASH_KINDS: dict[str, int] = {"pdq": 64, "md5": 32, "sha256": 64}
#: What every match result says about itself.
REVIEW_NOTE = (
    "A hash match is a signal for human review, never proof: different pictures can have close "
    "PDQ hashes, and a bank entry only records that someone reported a picture."
)
#: Longest free text (source, case ID) a bank entry keeps.
MAX_TEXT = 256

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_LABEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


@dataclass(frozen=True)
class Bank:
    """One bank: a name, a label, a PDQ distance threshold, and whether uploads are checked against it."""

    name: str
    label: str
    threshold: int
    enabled: bool
    entry_count: int
    pdq_count: int
    created_at: datetime
    updated_at: datetime
    version: int
    description: str | None = None
    video_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "name": self.name,
            "label": self.label,
            "threshold": self.threshold,
            "enabled": self.enabled,
            "entry_count": self.entry_count,
            "pdq_count": self.pdq_count,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
            "description": self.description,
            "video_count": self.video_count,
        }


@dataclass(frozen=True)
class BankEntry:
    """One reported hash: its kind and lowercase hex value, and where it came from (never media)."""

    value: str
    kind: str = "pdq"
    quality: int | None = None
    source: str | None = None
    case_id: str | None = None
    listed_at: datetime | None = None

    def __post_init__(self) -> None:
        kind = self.kind.lower() if isinstance(self.kind, str) else self.kind
        if kind not in HASH_KINDS:
            raise InvalidInputError(f"kind must be one of {', '.join(HASH_KINDS)}; got {self.kind!r}.")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "value", check_hex_value(self.value, kind))
        if self.quality is not None and (isinstance(self.quality, bool) or not isinstance(self.quality, int)
                                         or not 0 <= self.quality <= 100):
            raise InvalidInputError(f"quality must be a whole number 0-100 or None; got {self.quality!r}.")
        for name in ("source", "case_id"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT):
                raise InvalidInputError(f"{name} must be text of at most {MAX_TEXT} characters; got {value!r:.80}.")
        if self.listed_at is not None:
            object.__setattr__(self, "listed_at", as_utc(self.listed_at, "listed_at"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values, in the hash-list format (``date`` is ISO 8601)."""
        return {
            "hash": self.value,
            "kind": self.kind,
            "quality": self.quality,
            "source": self.source,
            "case_id": self.case_id,
            "date": None if self.listed_at is None else self.listed_at.isoformat(),
        }


@dataclass(frozen=True)
class BankMatch:
    """One bank entry an upload matched.

    Attributes
    ----------
    bank, label : str
        The bank and its label (``ncii``, ``csam``, ``terror``, ``stamped-outputs``, ...).
    kind : str
        ``pdq`` (within `threshold` bits), ``md5`` or ``sha256`` (identical file bytes).
    distance : int
        PDQ Hamming distance (0 for exact hashes).
    threshold : int
        The bank's threshold when it matched.
    value : str
        The bank's hash, hex.
    variant : str or None
        Which dihedral variant of the upload matched (``original``, ``flip_y``, ...); None for exact hashes.
    source, case_id, listed_at
        From the bank entry.
    """

    bank: str
    label: str
    kind: str
    distance: int
    threshold: int
    value: str
    variant: str | None = None
    source: str | None = None
    case_id: str | None = None
    listed_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values. For authenticated callers only: bank names and distances help evade a bank."""
        return {
            "bank": self.bank,
            "label": self.label,
            "kind": self.kind,
            "distance": self.distance,
            "threshold": self.threshold,
            "hash": self.value,
            "variant": self.variant,
            "source": self.source,
            "case_id": self.case_id,
            "listed_at": None if self.listed_at is None else self.listed_at.isoformat(),
        }


@dataclass(frozen=True)
class MatchResult:
    """The outcome of checking one upload against every enabled bank.

    Attributes
    ----------
    status : str
        ``matched``, ``no_match``, ``unmatchable`` (PDQ quality below 50 and no exact match:
        too flat to hash, which is *not* "no match") or ``not_configured`` (no enabled bank).
    pdq : PerceptualHash or None
    matches : tuple of BankMatch
        Best (smallest distance) first; one per bank entry.
    banks_checked : int
    explanation : str
        Plain words, including :data:`REVIEW_NOTE` when something matched.
    """

    status: str
    pdq: PerceptualHash | None
    matches: tuple[BankMatch, ...]
    banks_checked: int
    explanation: str

    @property
    def labels(self) -> dict[str, int]:
        """How many entries matched per bank label."""
        return label_counts(self.matches)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (includes bank names and distances: authenticated callers only)."""
        return {
            "status": self.status,
            "explanation": self.explanation,
            "pdq": None if self.pdq is None else self.pdq.to_hex(),
            "pdq_quality": None if self.pdq is None else self.pdq.quality,
            "banks_checked": self.banks_checked,
            "matches": [m.to_dict() for m in self.matches],
        }


@dataclass(frozen=True)
class ImportResult:
    """What an import did: `added` new entries; `skipped` already in the bank (with ``skip_existing``)."""

    bank: str
    added: int
    skipped: int
    rows: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"bank": self.bank, "added": self.added, "skipped": self.skipped, "rows": self.rows}



def label_counts(matches: Iterable[Any]) -> dict[str, int]:
    """How many of `matches` (image or video bank matches) there are per bank label, in first-seen order."""
    out: dict[str, int] = {}
    for m in matches:
        out[m.label] = out.get(m.label, 0) + 1
    return out


def as_utc(value: object, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{name} must be a datetime; got {value!r}.")
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def check_hex_value(value: object, kind: str) -> str:
    want = HASH_KINDS[kind]
    if not isinstance(value, str):
        raise InvalidInputError(f"A {kind} hash must be a hex string; got {type(value).__name__}.")
    text = value.strip().lower()
    if len(text) != want or not re.fullmatch(r"[0-9a-f]+", text):
        raise InvalidInputError(
            f"A {kind} hash is {want} hex digits (0-9, a-f); got {len(text)} characters ({text[:80]!r})."
        )
    return text


def check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"A bank name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit; got {name!r:.80}."
        )
    return name


def check_label(label: object) -> str:
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise InvalidInputError(
            f"A bank label is 1-32 lowercase letters, digits, '_' or '-' (e.g. ncii, csam, terror); got {label!r:.80}."
        )
    return label


def check_threshold(threshold: object) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) or not 0 <= threshold <= MAX_SEARCH_DISTANCE:
        raise InvalidInputError(
            f"threshold must be a whole number of bits from 0 to {MAX_SEARCH_DISTANCE} "
            f"({DEFAULT_BANK_THRESHOLD} is PDQ's usual value); got {threshold!r}."
        )
    return int(threshold)


def check_description(description: object) -> str | None:
    if description is not None and (not isinstance(description, str) or len(description) > 1000):
        raise InvalidInputError("description must be text of at most 1000 characters.")
    return description



def row_to_bank(row: sa.Row) -> Bank:
    m = row._mapping
    return Bank(
        name=m["name"], label=m["label"], threshold=int(m["threshold"]), enabled=bool(m["enabled"]),
        entry_count=int(m["entry_count"]), pdq_count=int(m["pdq_count"]), created_at=m["created_at"],
        updated_at=m["updated_at"], version=int(m["version"]), description=m["description"],
        video_count=int(m.get("video_count") or 0),
    )
