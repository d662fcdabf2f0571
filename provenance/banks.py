"""Hash banks: lists of reported hashes that uploads are checked against.

Survivors of non-consensual intimate imagery report images by *hash* (StopNCII, NCMEC's Take
It Down), made on their own device, so the image never leaves it. A platform keeps banks of
such hashes and checks every upload. Banks live in the registry database
(:mod:`provenance.registry`, migration 3); **no media is ever stored**, only hex hashes with
a source, a case ID and a date.

::

    banks = Banks(registry)                                  # once per process
    banks.create("stopncii", label="ncii")                   # threshold 31, enabled
    banks.import_hashes("stopncii", Path("list.csv"))        # one transaction; bad rows change nothing
    result = banks.match_file("upload.jpg")                  # PDQ + 8 dihedrals + MD5/SHA-256
    result.status, [m.to_dict() for m in result.matches]
    banks.withdraw("stopncii", ["<64 hex>"])                 # takes effect on the next query

A match is **a signal for human review, never proof**: PDQ hashes of different pictures can
be close, and a bank entry says only that someone reported a picture.

Each bank has a ``version`` counter that every change increments. Before each query,
:class:`Banks` reads the counters of all banks (one small query) and reloads what changed:
appended entries only (new rows go into a small brute-force side array), or the whole bank
after a withdrawal. The PDQ hashes of a bank are held in a :class:`~provenance.search.HashIndex`.

Hash list formats (import and export)
-------------------------------------
CSV with a header row naming some of ``hash`` (required), ``kind`` (``pdq`` default, ``md5``,
``sha256``), ``quality``, ``source``, ``case_id``, ``date`` (ISO 8601); or a bare list, one
hash per line. JSON: a list of such objects (or of hex strings), or ``{"hashes": [...]}``.

Errors
------
:class:`HashListError` (an :class:`~provenance.errors.InvalidInputError`) for malformed
lists, with the line or item number; :class:`BankNotFoundError`, :class:`BankExistsError`;
:class:`~provenance.errors.RegistryError` when the database fails. A failed import or
withdrawal leaves the bank unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import threading
from functools import lru_cache
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Iterable, Mapping, Sequence, Union

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .errors import InvalidInputError, ProvenanceError
from .hashing import DIHEDRAL_NAMES, MIN_QUALITY, PerceptualHash, file_digests, pdq_dihedral_hashes_file
from .images import DEFAULT_MAX_PIXELS, ImageSource
from .registry import Registry, transaction
from .registry.schema import DEFAULT_BANK_THRESHOLD, STAMPED_OUTPUTS_BANK, utc_now
from .registry.schema import bank_entries as _bank_entries
from .registry.schema import hash_banks as _hash_banks
from .search import MAX_SEARCH_DISTANCE, HashIndex, brute_force_search, check_packed

__all__ = [
    "DEFAULT_BANK_THRESHOLD",
    "DEFAULT_MAX_IMPORT_ROWS",
    "HASH_KINDS",
    "REVIEW_NOTE",
    "STAMPED_OUTPUTS_BANK",
    "Bank",
    "BankEntry",
    "BankExistsError",
    "BankMatch",
    "BankNotFoundError",
    "Banks",
    "HashListError",
    "ImportResult",
    "MatchResult",
    "parse_hash_list",
]

logger = logging.getLogger(__name__)

#: Hash kinds a bank holds, with their length in hex digits.
HASH_KINDS: dict[str, int] = {"pdq": 64, "md5": 32, "sha256": 64}
#: Most rows one import accepts (``PROVENANCE_BANK_MAX_IMPORT_ROWS``).
DEFAULT_MAX_IMPORT_ROWS = 20_000_000
#: What every match result says about itself.
REVIEW_NOTE = (
    "A hash match is a signal for human review, never proof: different pictures can have close "
    "PDQ hashes, and a bank entry only records that someone reported a picture."
)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_LABEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_MAX_TEXT = 256
_HEX_OK = np.zeros(256, dtype=bool)
_HEX_OK[np.frombuffer(b"0123456789abcdefABCDEF", dtype=np.uint8)] = True
_COLUMNS = ("hash", "kind", "quality", "source", "case_id", "date")
_ALIASES = {"pdq": "hash", "signal": "hash", "value": "hash", "case": "case_id", "caseid": "case_id",
            "listed_at": "date", "added": "date", "type": "kind"}
_DELTA_MAX = 65_536  # appended PDQ hashes searched by brute force before the index is rebuilt

# The statements every match runs, built once: SQLAlchemy then reuses their compiled form
# without rebuilding and re-keying a new statement object per request.
_REFRESH = sa.select(
    _hash_banks.c.bank_id, _hash_banks.c.name, _hash_banks.c.label, _hash_banks.c.threshold,
    _hash_banks.c.enabled, _hash_banks.c.version, _hash_banks.c.withdrawals, _hash_banks.c.pdq_count,
    _hash_banks.c.entry_count,
)
_PDQ_DETAILS = sa.select(
    _bank_entries.c.value, _bank_entries.c.source, _bank_entries.c.case_id, _bank_entries.c.listed_at,
).where(
    _bank_entries.c.bank_id == sa.bindparam("bank_id"), _bank_entries.c.kind == "pdq",
    _bank_entries.c.value.in_(sa.bindparam("values", expanding=True)),
)
# A missing digest is bound as NULL, which equals nothing.
_EXACT = (
    sa.select(_hash_banks.c.name, _hash_banks.c.label, _hash_banks.c.threshold, _bank_entries.c.kind,
              _bank_entries.c.value, _bank_entries.c.source, _bank_entries.c.case_id, _bank_entries.c.listed_at)
    .join(_hash_banks, _hash_banks.c.bank_id == _bank_entries.c.bank_id)
    .where(
        _bank_entries.c.bank_id.in_(sa.select(_hash_banks.c.bank_id).where(_hash_banks.c.enabled.is_(True))
                                    .scalar_subquery()),
        _hash_banks.c.enabled.is_(True),
        sa.or_(sa.and_(_bank_entries.c.kind == "md5", _bank_entries.c.value == sa.bindparam("md5")),
               sa.and_(_bank_entries.c.kind == "sha256", _bank_entries.c.value == sa.bindparam("sha256"))),
    )
)

HashListSource = Union[str, os.PathLike, bytes, IO[bytes], IO[str]]


class BankNotFoundError(InvalidInputError):
    """No bank has this name; ``provenance bank list`` shows the banks."""


class BankExistsError(InvalidInputError):
    """A bank with this name exists already."""


class HashListError(InvalidInputError):
    """A hash list is malformed (bad hex, wrong length, duplicate, too many rows); nothing was imported."""


# --------------------------------------------------------------------------- values


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
        object.__setattr__(self, "value", _check_hex_value(self.value, kind))
        if self.quality is not None and (isinstance(self.quality, bool) or not isinstance(self.quality, int)
                                         or not 0 <= self.quality <= 100):
            raise InvalidInputError(f"quality must be a whole number 0-100 or None; got {self.quality!r}.")
        for name in ("source", "case_id"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or len(value) > _MAX_TEXT):
                raise InvalidInputError(f"{name} must be text of at most {_MAX_TEXT} characters; got {value!r:.80}.")
        if self.listed_at is not None:
            object.__setattr__(self, "listed_at", _aware(self.listed_at, "listed_at"))

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
        out: dict[str, int] = {}
        for m in self.matches:
            out[m.label] = out.get(m.label, 0) + 1
        return out

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


# --------------------------------------------------------------------------- checks


def _aware(value: object, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{name} must be a datetime; got {value!r}.")
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _check_hex_value(value: object, kind: str) -> str:
    want = HASH_KINDS[kind]
    if not isinstance(value, str):
        raise InvalidInputError(f"A {kind} hash must be a hex string; got {type(value).__name__}.")
    text = value.strip().lower()
    if len(text) != want or not re.fullmatch(r"[0-9a-f]+", text):
        raise InvalidInputError(
            f"A {kind} hash is {want} hex digits (0-9, a-f); got {len(text)} characters ({text[:80]!r})."
        )
    return text


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"A bank name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit; got {name!r:.80}."
        )
    return name


def _check_label(label: object) -> str:
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise InvalidInputError(
            f"A bank label is 1-32 lowercase letters, digits, '_' or '-' (e.g. ncii, csam, terror); got {label!r:.80}."
        )
    return label


def _check_threshold(threshold: object) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) or not 0 <= threshold <= MAX_SEARCH_DISTANCE:
        raise InvalidInputError(
            f"threshold must be a whole number of bits from 0 to {MAX_SEARCH_DISTANCE} "
            f"({DEFAULT_BANK_THRESHOLD} is PDQ's usual value); got {threshold!r}."
        )
    return int(threshold)


def _check_description(description: object) -> str | None:
    if description is not None and (not isinstance(description, str) or len(description) > 1000):
        raise InvalidInputError("description must be text of at most 1000 characters.")
    return description


# --------------------------------------------------------------------------- hash lists


@dataclass(frozen=True)
class _Rows:
    """A parsed hash list, column by column (validated, lowercase hex)."""

    kind: np.ndarray  # (N,) '<U6'
    value: list[str]
    quality: list[int | None]
    source: list[str | None]
    case_id: list[str | None]
    listed_at: list[datetime | None]
    line: np.ndarray  # (N,) int64: line (CSV) or item (JSON) number of each row, for messages
    order: np.ndarray | None = None  # (N,) rows sorted by kind + value, when known (insert order)
    keys: np.ndarray | None = None  # (N,) kind + value strings, when known

    def __len__(self) -> int:
        return len(self.value)


def _read_text(source: HashListSource) -> tuple[str, str | None]:
    """The list's text and a format hint from its file name."""
    hint = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        hint = path.suffix.lower().lstrip(".") or None
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise HashListError(f"{path}: no such file.") from None
        except IsADirectoryError:
            raise HashListError(f"{path} is a folder; give the hash list file.") from None
        except OSError as exc:
            raise HashListError(f"cannot read {path}: {exc.strerror or exc}.") from exc
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "read"):
        data = source.read()
    else:
        raise HashListError(f"A hash list is a path, bytes or an open file; got {type(source).__name__}.")
    if isinstance(data, str):
        return data, hint
    try:
        return bytes(data).decode("utf-8-sig"), hint
    except UnicodeDecodeError as exc:
        raise HashListError(f"The hash list is not UTF-8 text (byte {exc.start}); export it as UTF-8 CSV or JSON.") from None


def _opt_text(value: object, column: str, line: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    value = value.strip()
    if not value:
        return None
    if len(value) > _MAX_TEXT:
        raise HashListError(f"line {line}: {column} is {len(value)} characters; at most {_MAX_TEXT} are kept.")
    return value


def _opt_quality(value: object, line: int) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        q = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        q = None
    if q is None or not 0 <= q <= 100:
        raise HashListError(f"line {line}: quality must be a whole number 0-100; got {value!r:.40}.")
    return q


def _opt_date(value: object, line: int) -> datetime | None:
    text = _opt_text(value, "date", line)
    if text is None:
        return None
    parsed = _parse_date(text)
    if parsed is None:
        raise HashListError(f"line {line}: date must be ISO 8601 (2024-05-06 or 2024-05-06T07:08:09Z); got {text!r:.40}.")
    return parsed


@lru_cache(maxsize=4096)
def _parse_date(text: str) -> datetime | None:
    """ISO 8601 text -> UTC datetime (None if invalid); lists repeat a few dates over many rows."""
    try:
        return _aware(datetime.fromisoformat(text), "date")
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _sqlite_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite DateTime text, UTC


def _csv_records(text: str) -> tuple[dict[str, list], list[int]]:
    """CSV text -> columns (name -> list of cells) and the line number of each row."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return {}, []
    head = [c.strip().lower() for c in next(csv.reader([lines[first]]))]
    bare = len(head) == 1 and re.fullmatch(r"[0-9a-fA-F]+", head[0] or "-") is not None
    if bare:  # one hash per line, no header
        numbers = [i + 1 for i, line in enumerate(lines) if i >= first and line.strip()]
        return {"hash": [lines[n - 1] for n in numbers]}, numbers
    columns = [_ALIASES.get(c, c) for c in head]
    unknown = [c for c in columns if c not in _COLUMNS]
    if "hash" not in columns or unknown or len(set(columns)) != len(columns):
        raise HashListError(
            f"line {first + 1}: the CSV header must name a 'hash' column, once, and only columns among "
            f"{', '.join(_COLUMNS)}; got {', '.join(head)}."
        )
    numbers = [i + 1 for i in range(first + 1, len(lines)) if lines[i].strip(" \t,")]
    body = [lines[n - 1] for n in numbers]
    if '"' in text:
        rows = list(csv.reader(body))
    else:  # no quoting anywhere: a plain split gives what csv.reader would, several times faster
        rows = [line.split(",") for line in body]
    widths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    wrong = np.flatnonzero(widths != len(columns))
    if wrong.size:
        i = int(wrong[0])
        raise HashListError(f"line {numbers[i]}: {widths[i]} fields, but the header names {len(columns)}.")
    cells = list(zip(*rows)) if rows else [()] * len(columns)
    return {c: list(col) for c, col in zip(columns, cells)}, numbers


def _json_records(text: str) -> tuple[dict[str, list], list[int]]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise HashListError(f"The hash list is not valid JSON ({exc}).") from None
    if isinstance(doc, Mapping):
        doc = doc.get("hashes")
    if not isinstance(doc, list):
        raise HashListError('A JSON hash list is a list of hashes, or {"hashes": [...]}.')
    records: list[dict[str, Any]] = []
    for n, item in enumerate(doc, start=1):
        if isinstance(item, str):
            records.append({"hash": item})
        elif isinstance(item, Mapping):
            record = {_ALIASES.get(str(k).lower(), str(k).lower()): v for k, v in item.items()}
            unknown = [k for k in record if k not in _COLUMNS]
            if unknown or "hash" not in record:
                raise HashListError(
                    f"item {n}: needs a 'hash' and only keys among {', '.join(_COLUMNS)}; got {', '.join(item)}."
                )
            records.append(record)
        else:
            raise HashListError(f"item {n}: expected a hex string or an object; got {type(item).__name__}.")
    return _to_columns(records), list(range(1, len(records) + 1))


def _to_columns(records: list[dict[str, Any]]) -> dict[str, list]:
    return {c: [r.get(c) for r in records] for c in _COLUMNS if any(c in r for r in records)}


def parse_hash_list(
    source: HashListSource, *, format: str | None = None, max_rows: int = DEFAULT_MAX_IMPORT_ROWS
) -> list[BankEntry]:
    """Parse and check a CSV or JSON hash list (see the module docstring for the formats).

    Parameters
    ----------
    source : path, bytes or open file
    format : {"csv", "json"}, optional
        Default: from the file suffix, else JSON if the text starts with ``[`` or ``{``.
    max_rows : int
        Refuse lists with more rows.

    Returns
    -------
    list of BankEntry

    Raises
    ------
    HashListError
        On malformed hex, a wrong length for the kind, duplicates, bad columns, too many rows.
    """
    rows = _parse(source, format=format, max_rows=max_rows)
    return [
        BankEntry(value=v, kind=str(k), quality=q, source=s, case_id=c, listed_at=d)
        for k, v, q, s, c, d in zip(rows.kind, rows.value, rows.quality, rows.source, rows.case_id, rows.listed_at)
    ]


def _parse(source: HashListSource, *, format: str | None, max_rows: int) -> _Rows:
    text, hint = _read_text(source)
    fmt = (format or (hint if hint in ("csv", "json") else None) or "").lower()
    if not fmt:
        fmt = "json" if text.lstrip()[:1] in ("[", "{") else "csv"
    if fmt not in ("csv", "json"):
        raise HashListError(f"format must be csv or json; got {format!r}.")
    records, numbers = _json_records(text) if fmt == "json" else _csv_records(text)
    if not numbers:
        raise HashListError("The hash list holds no hashes.")
    if len(numbers) > max_rows:
        raise HashListError(
            f"The hash list has {len(numbers):,} rows; one import takes at most {max_rows:,} "
            "(PROVENANCE_BANK_MAX_IMPORT_ROWS). Split it into several imports."
        )
    return _check_rows(records, np.asarray(numbers, dtype=np.int64))


def _check_rows(columns: dict[str, list], line: np.ndarray) -> _Rows:
    """Validate the columns of a list; hex checks and duplicate detection are vectorised."""
    what = "line"
    n = len(line)
    none = [None] * n
    values = [("" if v is None else str(v)).strip().lower() for v in columns["hash"]]
    kinds = np.array([(str(k or "pdq")).strip().lower() or "pdq" for k in columns.get("kind", none)])
    bad_kind = ~np.isin(kinds, list(HASH_KINDS))
    if bad_kind.any():
        i = int(np.flatnonzero(bad_kind)[0])
        raise HashListError(f"{what} {line[i]}: kind must be one of {', '.join(HASH_KINDS)}; got {kinds[i]!r:.40}.")
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    want = np.where(kinds == "md5", HASH_KINDS["md5"], HASH_KINDS["pdq"])
    wrong = lengths != want
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        raise HashListError(
            f"{what} {line[i]}: a {kinds[i]} hash is {want[i]} hex digits; got {lengths[i]} ({values[i][:80]!r}). "
            "Nothing was imported."
        )
    joined = "".join(values).encode("ascii", errors="replace")  # non-ASCII becomes '?', caught below
    bad = ~_HEX_OK[np.frombuffer(joined, dtype=np.uint8)]
    if bad.any():
        i = int(np.searchsorted(np.cumsum(lengths), np.flatnonzero(bad)[0], side="right"))
        raise HashListError(
            f"{what} {line[i]}: a hash may contain only hex digits 0-9 and a-f; got {values[i][:80]!r}. "
            "Nothing was imported."
        )
    keys = np.char.add(kinds, np.array(values))
    order = np.argsort(keys, kind="stable")
    same = keys[order][1:] == keys[order][:-1]
    if same.any():
        j = int(np.flatnonzero(same)[0])
        a, b = sorted((int(order[j]), int(order[j + 1])))
        raise HashListError(
            f"{what} {line[b]}: duplicate {kinds[b]} hash {values[b]} (also on {what} {line[a]}); "
            "remove the repeat. Nothing was imported."
        )
    numbers = line.tolist()
    return _Rows(
        kind=kinds,
        value=values,
        quality=[_opt_quality(v, k) for v, k in zip(columns.get("quality", none), numbers)],
        source=_text_column(columns.get("source", none), "source", numbers),
        case_id=_text_column(columns.get("case_id", none), "case_id", numbers),
        listed_at=[_opt_date(v, k) for v, k in zip(columns.get("date", none), numbers)],
        line=line,
        order=order,
        keys=keys,
    )


def _text_column(cells: list, column: str, numbers: list[int]) -> list[str | None]:
    """Strip a text column (empty -> None) and check its lengths in one pass."""
    out = [None if v is None else (str(v).strip() or None) for v in cells]
    lengths = np.fromiter((0 if v is None else len(v) for v in out), dtype=np.int64, count=len(out))
    too_long = np.flatnonzero(lengths > _MAX_TEXT)
    if too_long.size:
        i = int(too_long[0])
        raise HashListError(f"line {numbers[i]}: {column} is {lengths[i]} characters; at most {_MAX_TEXT} are kept.")
    return out


def _rows_from_entries(entries: Iterable[BankEntry | PerceptualHash | str]) -> _Rows:
    items: list[BankEntry] = []
    for item in entries:
        if isinstance(item, BankEntry):
            items.append(item)
        elif isinstance(item, PerceptualHash):
            items.append(BankEntry(item.to_hex(), quality=item.quality))
        elif isinstance(item, str):
            items.append(BankEntry(item))
        else:
            raise InvalidInputError(
                f"Bank entries are BankEntry, PerceptualHash or hex strings; got {type(item).__name__}."
            )
    if not items:
        raise InvalidInputError("No hashes given; pass at least one.")
    columns = {"hash": [e.value for e in items], "kind": [e.kind for e in items],
               "quality": [e.quality for e in items], "source": [e.source for e in items],
               "case_id": [e.case_id for e in items],
               "date": [None if e.listed_at is None else e.listed_at.isoformat() for e in items]}
    return _check_rows(columns, np.arange(1, len(items) + 1, dtype=np.int64))


def _pack_hex(values: Sequence[str]) -> np.ndarray:
    """Lowercase 64-hex PDQ strings -> (N, 4) uint64, in one ``bytes.fromhex``."""
    if not values:
        return np.zeros((0, 4), dtype=np.uint64)
    return np.frombuffer(bytes.fromhex("".join(values)), dtype=">u8").reshape(-1, 4).astype(np.uint64)


def _unpack_hex(codes: np.ndarray) -> list[str]:
    raw = codes.astype(">u8").tobytes().hex()
    return [raw[i : i + 64] for i in range(0, len(raw), 64)]


# --------------------------------------------------------------------------- loaded banks


@dataclass
class _Loaded:
    """One enabled bank's PDQ hashes in memory."""

    bank_id: int
    name: str
    label: str
    threshold: int
    version: int
    withdrawals: int
    pdq_count: int
    max_entry_id: int
    index: HashIndex
    delta: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), dtype=np.uint64))

    @property
    def size(self) -> int:
        return len(self.index) + int(self.delta.shape[0])


def _row_to_bank(row: sa.Row) -> Bank:
    m = row._mapping
    return Bank(
        name=m["name"], label=m["label"], threshold=int(m["threshold"]), enabled=bool(m["enabled"]),
        entry_count=int(m["entry_count"]), pdq_count=int(m["pdq_count"]), created_at=m["created_at"],
        updated_at=m["updated_at"], version=int(m["version"]), description=m["description"],
    )


class Banks:
    """Hash banks in the registry database, and matching against them.

    Build one per process and reuse it: the enabled banks' hashes are loaded on the first
    match and refreshed when a bank changes (checked with one small query before each match).
    Thread-safe.

    Parameters
    ----------
    registry : Registry
        Where the banks live. Not closed by :meth:`close` unless `owns_registry`.
    max_import_rows : int
        Largest import accepted.
    owns_registry : bool
        Close `registry` in :meth:`close`.
    """

    def __init__(self, registry: Registry, *, max_import_rows: int = DEFAULT_MAX_IMPORT_ROWS,
                 owns_registry: bool = False) -> None:
        if not isinstance(registry, Registry):
            raise InvalidInputError(f"Banks needs a Registry; got {type(registry).__name__}.")
        self.registry = registry
        self.max_import_rows = max_import_rows
        self._owns_registry = owns_registry
        self._loaded: dict[int, _Loaded] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, settings: Any = None) -> "Banks":
        """Open the registry `settings` names (default ``Settings.from_env()``) and its banks."""
        from .settings import Settings

        settings = Settings.from_env() if settings is None else settings
        return cls(Registry.open(settings), max_import_rows=settings.bank_max_import_rows, owns_registry=True)

    def close(self) -> None:
        """Drop loaded hashes; close the registry if this object opened it. Idempotent."""
        self._loaded = {}
        if self._owns_registry:
            self.registry.close()

    def __enter__(self) -> "Banks":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- plumbing

    def _tx(self, action: str, *, write: bool):  # noqa: ANN202 (a context manager)
        return transaction(self.registry, action, write=write)

    def _bank_row(self, conn: Connection, name: str, *, lock: bool = False) -> sa.Row:
        query = sa.select(_hash_banks).where(_hash_banks.c.name == _check_name(name))
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise BankNotFoundError(f"No bank named {name!r}; `provenance bank list` shows the banks, "
                                    "`provenance bank create` makes one.")
        return row

    # ---- banks

    def create(self, name: str, *, label: str, threshold: int = DEFAULT_BANK_THRESHOLD, enabled: bool = True,
               description: str | None = None) -> Bank:
        """Create an empty bank.

        Raises
        ------
        InvalidInputError
            On a bad name, label or threshold.
        BankExistsError
            If the name is taken.
        """
        name, label = _check_name(name), _check_label(label)
        threshold, description = _check_threshold(threshold), _check_description(description)
        now = utc_now()
        with self._tx("bank create", write=True) as conn:
            if conn.scalar(sa.select(_hash_banks.c.bank_id).where(_hash_banks.c.name == name)) is not None:
                raise BankExistsError(f"A bank named {name!r} exists already; pick another name.")
            conn.execute(_hash_banks.insert().values(
                name=name, label=label, threshold=threshold, enabled=bool(enabled), description=description,
                created_at=now, updated_at=now, version=1, withdrawals=0, entry_count=0, pdq_count=0,
            ))
            return _row_to_bank(self._bank_row(conn, name))

    def get(self, name: str) -> Bank:
        """Return the bank called `name`.

        Raises
        ------
        BankNotFoundError
        """
        with self._tx("bank read", write=False) as conn:
            return _row_to_bank(self._bank_row(conn, name))

    def list(self) -> tuple[Bank, ...]:
        """All banks, by name, with their entry counts."""
        with self._tx("bank list", write=False) as conn:
            return tuple(_row_to_bank(r) for r in conn.execute(sa.select(_hash_banks).order_by(_hash_banks.c.name)))

    def update(self, name: str, *, label: str | None = None, threshold: int | None = None,
               enabled: bool | None = None, description: str | None = None) -> Bank:
        """Change a bank's label, threshold, enabled flag or description; takes effect on the next match.

        Raises
        ------
        BankNotFoundError, InvalidInputError
        """
        values: dict[str, Any] = {}
        if label is not None:
            values["label"] = _check_label(label)
        if threshold is not None:
            values["threshold"] = _check_threshold(threshold)
        if enabled is not None:
            values["enabled"] = bool(enabled)
        if description is not None:
            values["description"] = _check_description(description)
        with self._tx("bank update", write=True) as conn:
            row = self._bank_row(conn, name, lock=True)
            if values:
                conn.execute(_hash_banks.update().where(_hash_banks.c.bank_id == row.bank_id).values(
                    version=_hash_banks.c.version + 1, updated_at=utc_now(), **values))
            return _row_to_bank(self._bank_row(conn, name))

    # ---- entries

    def add(self, name: str, entries: Iterable[BankEntry | PerceptualHash | str], *,
            skip_existing: bool = False) -> ImportResult:
        """Add hashes to a bank in one transaction.

        Parameters
        ----------
        name : str
        entries : iterable of BankEntry, PerceptualHash or hex str (PDQ)
        skip_existing : bool
            Leave out hashes already in the bank instead of failing.

        Raises
        ------
        BankNotFoundError
        HashListError, InvalidInputError
            On bad or duplicate hashes; the bank is unchanged.
        """
        return self._insert(name, _rows_from_entries(entries), skip_existing=skip_existing)

    def import_hashes(self, name: str, source: HashListSource, *, format: str | None = None,
                      skip_existing: bool = False) -> ImportResult:
        """Import a CSV or JSON hash list into a bank, all or nothing.

        Raises
        ------
        BankNotFoundError
        HashListError
            On malformed hex, wrong lengths, duplicates (in the list, or already in the bank unless
            `skip_existing`), too many rows; the bank is unchanged.
        """
        _check_name(name)
        rows = _parse(source, format=format, max_rows=self.max_import_rows)
        return self._insert(name, rows, skip_existing=skip_existing)

    def _insert(self, name: str, rows: _Rows, *, skip_existing: bool) -> ImportResult:
        if len(rows) > self.max_import_rows:
            raise HashListError(f"{len(rows):,} hashes is more than one import takes ({self.max_import_rows:,}).")
        now = utc_now()
        with self._tx("bank import", write=True) as conn:
            bank = self._bank_row(conn, name, lock=True)
            keep = np.ones(len(rows), dtype=bool)
            keys = rows.keys if rows.keys is not None else np.char.add(rows.kind, np.array(rows.value))
            existing = self._existing_keys(conn, bank.bank_id, rows.value, keys)
            if existing.size:
                present = np.isin(keys, existing)
                if present.any() and not skip_existing:
                    i = int(np.flatnonzero(present)[0])
                    raise HashListError(
                        f"line {rows.line[i]}: {rows.kind[i]} hash {rows.value[i]} is already in bank {name!r} "
                        f"({int(present.sum())} of the {len(rows)} are). Nothing was imported; "
                        "import with skip_existing (--skip-existing) to add only the new ones."
                    )
                keep = ~present
            idx = np.flatnonzero(keep)
            if idx.size:
                _bulk_insert(conn, bank.bank_id, rows, idx, now)
            pdq_added = int((rows.kind[idx] == "pdq").sum())
            conn.execute(_hash_banks.update().where(_hash_banks.c.bank_id == bank.bank_id).values(
                version=_hash_banks.c.version + 1, updated_at=now,
                entry_count=_hash_banks.c.entry_count + int(idx.size),
                pdq_count=_hash_banks.c.pdq_count + pdq_added,
            ))
        logger.info("bank %s: %d hashes added, %d already present", name, idx.size, len(rows) - idx.size)
        return ImportResult(bank=name, added=int(idx.size), skipped=int(len(rows) - idx.size), rows=len(rows))

    def _existing_keys(self, conn: Connection, bank_id: int, values: list[str], keys: np.ndarray) -> np.ndarray:
        """kind+value of entries already in the bank among `keys` (all of the bank's for big lists)."""
        e = _bank_entries
        if len(values) <= 1000:
            query = sa.select(e.c.kind, e.c.value).where(e.c.bank_id == bank_id, e.c.value.in_(values))
        else:
            query = sa.select(e.c.kind, e.c.value).where(e.c.bank_id == bank_id)
        found = conn.execute(query).all()
        if not found:
            return np.zeros(0, dtype=keys.dtype)
        return np.char.add(np.array([r[0] for r in found]), np.array([r[1] for r in found]))

    def withdraw(self, name: str, values: Iterable[str | PerceptualHash], *, kind: str = "pdq",
                 missing_ok: bool = False) -> int:
        """Delete hashes from a bank (as StopNCII requires when a case is withdrawn).

        Takes effect on the next match, in every process sharing the database.

        Parameters
        ----------
        values : iterable of hex str or PerceptualHash
        kind : str
            ``pdq``, ``md5`` or ``sha256``.
        missing_ok : bool
            Ignore hashes that are not in the bank instead of failing.

        Returns
        -------
        int
            How many entries were deleted.

        Raises
        ------
        BankNotFoundError
        InvalidInputError
            On malformed hex, or a hash not in the bank (unless `missing_ok`); nothing is deleted.
        """
        if kind not in HASH_KINDS:
            raise InvalidInputError(f"kind must be one of {', '.join(HASH_KINDS)}; got {kind!r}.")
        hexes = sorted({_check_hex_value(v.to_hex() if isinstance(v, PerceptualHash) else v, kind) for v in values})
        if not hexes:
            raise InvalidInputError("No hashes to withdraw were given.")
        e = _bank_entries
        with self._tx("bank withdraw", write=True) as conn:
            bank = self._bank_row(conn, name, lock=True)
            present: set[str] = set()
            for start in range(0, len(hexes), 1000):  # bounded IN lists
                chunk = hexes[start : start + 1000]
                present.update(conn.scalars(sa.select(e.c.value).where(
                    e.c.bank_id == bank.bank_id, e.c.kind == kind, e.c.value.in_(chunk))))
            missing = [h for h in hexes if h not in present]
            if missing and not missing_ok:
                raise InvalidInputError(
                    f"{len(missing)} of the {len(hexes)} {kind} hashes are not in bank {name!r} (first: {missing[0]}); "
                    "nothing was withdrawn. Check the hashes, or pass missing_ok (--missing-ok)."
                )
            doomed = sorted(present)
            for start in range(0, len(doomed), 1000):
                conn.execute(e.delete().where(e.c.bank_id == bank.bank_id, e.c.kind == kind,
                                              e.c.value.in_(doomed[start : start + 1000])))
            if doomed:
                conn.execute(_hash_banks.update().where(_hash_banks.c.bank_id == bank.bank_id).values(
                    version=_hash_banks.c.version + 1, withdrawals=_hash_banks.c.withdrawals + 1,
                    updated_at=utc_now(), entry_count=_hash_banks.c.entry_count - len(doomed),
                    pdq_count=_hash_banks.c.pdq_count - (len(doomed) if kind == "pdq" else 0),
                ))
        logger.info("bank %s: %d %s hashes withdrawn", name, len(doomed), kind)
        return len(doomed)

    def entries(self, name: str) -> list[BankEntry]:
        """Every entry of a bank, oldest first."""
        e = _bank_entries
        with self._tx("bank export", write=False) as conn:
            bank = self._bank_row(conn, name)
            rows = conn.execute(sa.select(e.c.kind, e.c.value, e.c.quality, e.c.source, e.c.case_id, e.c.listed_at)
                                .where(e.c.bank_id == bank.bank_id).order_by(e.c.entry_id)).all()
        return [BankEntry(value=r.value, kind=r.kind, quality=r.quality, source=r.source, case_id=r.case_id,
                          listed_at=r.listed_at) for r in rows]

    def export(self, name: str, out: str | os.PathLike | IO[str], *, format: str = "csv") -> int:
        """Write a bank's hashes as a CSV or JSON hash list (re-importable); return how many.

        Raises
        ------
        BankNotFoundError, InvalidInputError
        """
        if format not in ("csv", "json"):
            raise InvalidInputError(f"format must be csv or json; got {format!r}.")
        bank = self.get(name)
        entries = self.entries(name)
        buf = io.StringIO()
        if format == "csv":
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(_COLUMNS)
            for entry in entries:
                d = entry.to_dict()
                writer.writerow(["" if d[c] is None else d[c] for c in _COLUMNS])
        else:
            json.dump({"bank": bank.name, "label": bank.label, "threshold": bank.threshold,
                       "hashes": [e.to_dict() for e in entries]}, buf, indent=1)
            buf.write("\n")
        if hasattr(out, "write"):
            out.write(buf.getvalue())  # type: ignore[union-attr]
        else:
            Path(out).write_text(buf.getvalue(), encoding="utf-8")
        return len(entries)

    # ---- loading

    def _refresh(self, conn: Connection) -> tuple[list[_Loaded], bool]:
        """Bring the loaded banks up to date with the database.

        Returns
        -------
        list of _Loaded
            The enabled banks.
        bool
            Whether any enabled bank holds MD5 or SHA-256 entries (its ``entry_count`` is more
            than its ``pdq_count``); without them no exact lookup is needed.
        """
        rows = conn.execute(_REFRESH).all()
        enabled = {r.bank_id: r for r in rows if r.enabled}
        with self._lock:
            for bank_id in list(self._loaded):
                if bank_id not in enabled:
                    del self._loaded[bank_id]
            for bank_id, r in enabled.items():
                have = self._loaded.get(bank_id)
                if have is not None and have.version == r.version:
                    continue
                if have is not None and have.withdrawals == r.withdrawals:
                    self._append(conn, have)
                if have is None or have.withdrawals != r.withdrawals or have.size != r.pdq_count:
                    have = self._load(conn, bank_id)
                have.name, have.label, have.threshold = r.name, r.label, int(r.threshold)
                have.version, have.withdrawals, have.pdq_count = int(r.version), int(r.withdrawals), int(r.pdq_count)
                self._loaded[bank_id] = have
            loaded = list(self._loaded.values())
        return loaded, any(r.entry_count > r.pdq_count for r in enabled.values())

    def _load(self, conn: Connection, bank_id: int) -> _Loaded:
        e = _bank_entries
        rows = conn.execute(sa.select(e.c.entry_id, e.c.value).where(e.c.bank_id == bank_id, e.c.kind == "pdq")).all()
        max_id = max((r[0] for r in rows), default=0)
        codes = _pack_hex([r[1] for r in rows])
        logger.info("bank %d: loaded %d PDQ hashes", bank_id, len(rows))
        return _Loaded(bank_id, "", "", 0, 0, 0, 0, int(max_id), HashIndex(codes))

    def _append(self, conn: Connection, have: _Loaded) -> None:
        e = _bank_entries
        rows = conn.execute(sa.select(e.c.entry_id, e.c.value).where(
            e.c.bank_id == have.bank_id, e.c.kind == "pdq", e.c.entry_id > have.max_entry_id)).all()
        if not rows:
            return
        have.max_entry_id = max(have.max_entry_id, max(r[0] for r in rows))
        have.delta = np.concatenate([have.delta, _pack_hex([r[1] for r in rows])])
        if have.delta.shape[0] > max(_DELTA_MAX, len(have.index) // 8):
            have.index = HashIndex(np.concatenate([have.index.codes, have.delta]))
            have.delta = np.zeros((0, 4), dtype=np.uint64)

    # ---- matching

    def match(self, hashes: PerceptualHash | Sequence[PerceptualHash], *, md5: str | None = None,
              sha256: str | None = None, variants: Sequence[str] | None = None) -> tuple[BankMatch, ...]:
        """Match PDQ hashes (and optionally a file's MD5/SHA-256) against every enabled bank.

        Parameters
        ----------
        hashes : PerceptualHash or sequence of them
            Typically the 8 :func:`~provenance.hashing.pdq_dihedral_hashes` of an upload. Hashes with
            quality below 50 are not searched (unmatchable).
        md5, sha256 : str, optional
            Exact digests of the file's bytes.
        variants : sequence of str, optional
            A name for each hash (default :data:`~provenance.hashing.DIHEDRAL_NAMES` when 8 are given).

        Returns
        -------
        tuple of BankMatch
            One per matched bank entry (its best variant), smallest distance first.

        Raises
        ------
        InvalidInputError
            If an argument is malformed.
        """
        return self._match(hashes, md5=md5, sha256=sha256, variants=variants)[0]

    def _match(self, hashes: PerceptualHash | Sequence[PerceptualHash], *, md5: str | None, sha256: str | None,
               variants: Sequence[str] | None = None) -> tuple[tuple[BankMatch, ...], int]:
        """:meth:`match`, and how many enabled banks were checked, from one read transaction."""
        if isinstance(hashes, PerceptualHash):
            hashes = (hashes,)
        hashes = tuple(hashes)
        if not all(isinstance(h, PerceptualHash) for h in hashes):
            raise InvalidInputError("match takes PerceptualHash values; parse hex with PerceptualHash.from_hex().")
        if variants is None:
            variants = DIHEDRAL_NAMES if len(hashes) == len(DIHEDRAL_NAMES) else (None,) * len(hashes)
        if len(variants) != len(hashes):
            raise InvalidInputError(f"variants names {len(variants)} hashes but {len(hashes)} were given.")
        md5 = None if md5 is None else _check_hex_value(md5, "md5")
        sha256 = None if sha256 is None else _check_hex_value(sha256, "sha256")
        searchable = [i for i, h in enumerate(hashes) if h.is_matchable]
        found: list[BankMatch] = []
        with self._tx("bank match", write=False) as conn:
            loaded, has_exact = self._refresh(conn)
            if searchable and loaded:
                queries = check_packed(_pack_hex([hashes[i].to_hex() for i in searchable]), "queries")
                for bank in loaded:  # a few banks; each search is vectorised over all of the bank's hashes
                    found.extend(self._search_bank(conn, bank, queries, [variants[i] for i in searchable]))
            # No enabled bank holds an MD5 or SHA-256 (the common case): nothing to look up.
            if has_exact and (md5 is not None or sha256 is not None):
                found.extend(self._exact(conn, md5, sha256))
        found.sort(key=lambda m: (m.distance, m.label, m.bank, m.value))
        return tuple(found), len(loaded)

    def _search_bank(self, conn: Connection, bank: _Loaded, queries: np.ndarray,
                     names: list[str | None]) -> list[BankMatch]:
        hits = bank.index.search(queries, bank.threshold)
        codes = [bank.index.codes[hits.position]]
        qs, ds = [hits.query], [hits.distance]
        if bank.delta.shape[0]:
            extra = brute_force_search(bank.delta, queries, bank.threshold)
            codes.append(bank.delta[extra.position])
            qs.append(extra.query)
            ds.append(extra.distance)
        all_codes = np.concatenate(codes)
        if all_codes.shape[0] == 0:
            return []
        values = _unpack_hex(all_codes)
        q_all, d_all = np.concatenate(qs), np.concatenate(ds)
        best: dict[str, tuple[int, int]] = {}
        for value, q, d in zip(values, q_all.tolist(), d_all.tolist()):  # hits only (a handful), not the bank
            if value not in best or d < best[value][1]:
                best[value] = (q, d)
        rows = conn.execute(_PDQ_DETAILS, {"bank_id": bank.bank_id, "values": sorted(best)}).all()
        # Rows withdrawn since the refresh are simply not found here.
        return [BankMatch(bank=bank.name, label=bank.label, kind="pdq", distance=best[r.value][1],
                          threshold=bank.threshold, value=r.value, variant=names[best[r.value][0]],
                          source=r.source, case_id=r.case_id, listed_at=r.listed_at) for r in rows]

    def _exact(self, conn: Connection, md5: str | None, sha256: str | None) -> list[BankMatch]:
        rows = conn.execute(_EXACT, {"md5": md5, "sha256": sha256}).all()
        return [BankMatch(bank=r.name, label=r.label, kind=r.kind, distance=0, threshold=int(r.threshold),
                          value=r.value, source=r.source, case_id=r.case_id, listed_at=r.listed_at) for r in rows]

    def check(self, hashes: Sequence[PerceptualHash], *, md5: str | None = None,
              sha256: str | None = None, audit: bool = False) -> MatchResult:
        """Match and summarise: status, matches and a plain-words explanation.

        Parameters
        ----------
        hashes : sequence of PerceptualHash
            An upload's PDQ hashes, original first (e.g. its 8 dihedral variants); may be empty
            when `md5` or `sha256` is given (a video, or a platform that sends digests only).
        md5, sha256 : str, optional
            Exact digests of the file's bytes.
        audit : bool
            Append a ``match`` event to the audit log (`sha256`, or 64 zeros when it is not
            known; status; matches per label; never media).

        Raises
        ------
        InvalidInputError
            If nothing is given to match, or a hash is malformed.
        """
        hashes = tuple(hashes)
        if not hashes and md5 is None and sha256 is None:
            raise InvalidInputError("check needs the upload's PDQ hash, its MD5 or its SHA-256.")
        # checked: the enabled banks that were searched, from the same snapshot as the matches
        matches, checked = self._match(hashes, md5=md5, sha256=sha256)
        pdq = hashes[0] if hashes else None
        if matches:
            labels = sorted({m.label for m in matches})
            text = (f"Matched {len(matches)} reported hash{'es' if len(matches) > 1 else ''} "
                    f"(labels: {', '.join(labels)}). {REVIEW_NOTE}")
            status = "matched"
        elif checked == 0:
            status, text = "not_configured", "No hash bank is enabled; the perceptual hash is shown for reference."
        elif pdq is not None and not pdq.is_matchable:
            status = "unmatchable"
            text = (f"The image is too flat to hash reliably (PDQ quality {pdq.quality} < {MIN_QUALITY}), so it "
                    "could not be checked against the hash banks. This is not a 'no match'.")
        else:
            status = "no_match"
            exact = "" if pdq is not None else " (exact hashes only: no PDQ hash was given)"
            text = f"No match in {checked} enabled hash bank{'s' if checked > 1 else ''}{exact}."
        result = MatchResult(status, pdq, matches, checked, text)
        if audit:
            self.registry.log_event("match", sha256=_check_hex_value(sha256, "sha256") if sha256 else "0" * 64,
                                    verdict=result.status, detail=audit_detail(result))
        return result

    def match_file(self, source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS,
                   audit: bool = False) -> MatchResult:
        """Hash a file (PDQ with its 8 dihedral variants, MD5, SHA-256) and check it against every enabled bank.

        Parameters
        ----------
        source : path, bytes or binary file
        audit : bool
            Append a ``match`` event to the audit log (SHA-256, status, matches per label; never media).

        Raises
        ------
        InvalidImageError
            If the file is not a readable image.
        """
        data = _read_bytes(source)
        hashes = pdq_dihedral_hashes_file(data, max_pixels=max_pixels)
        digests = file_digests(data)
        return self.check(hashes, md5=digests.md5, sha256=digests.sha256, audit=audit)


def audit_detail(result: MatchResult) -> dict[str, Any]:
    """What the audit log keeps about a match: status, matches per label, the PDQ hash (never media)."""
    return {"bank_matches": result.labels, "pdq": None if result.pdq is None else result.pdq.to_hex()}


def _read_bytes(source: ImageSource) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        try:
            data = Path(source).read_bytes()
        except FileNotFoundError:
            raise InvalidInputError(f"{source}: no such file.") from None
        except IsADirectoryError:
            raise InvalidInputError(f"{source} is a folder; give image files.") from None
    elif hasattr(source, "read"):
        data = source.read()
    else:
        raise InvalidInputError(f"Cannot read {type(source).__name__}; pass a path or the file's bytes.")
    if not data:
        raise InvalidInputError("The file is empty (0 bytes).")
    return data


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: object) -> str:
    """One field of PostgreSQL COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).translate(_COPY_ESCAPES)


def _copy_column(values: list) -> list[str]:
    """:func:`_copy_text` of a column: free text with nothing to escape is kept as is, and
    repeated values (dates, sources, qualities) are converted once."""
    if all(v is None or type(v) is str for v in values):
        joined = "\x00".join(v for v in values if v is not None)
        if not any(c in joined for c in "\\\t\n\r"):
            return ["\\N" if v is None else v for v in values]
    memo: dict[object, str] = {}
    return [memo[v] if v in memo else memo.setdefault(v, _copy_text(v)) for v in values]


def _bulk_insert(conn: Connection, bank_id: int, rows: _Rows, idx: np.ndarray, now: datetime) -> None:
    """Insert the selected rows: COPY on PostgreSQL, executemany on SQLite (both inside the caller's transaction)."""
    # Insert in (kind, value) order: the unique index then grows at its end, several times
    # faster than random inserts on both backends.
    if rows.order is not None:  # sorted once when the list was checked
        chosen = np.zeros(len(rows), dtype=bool)
        chosen[idx] = True
        idx = rows.order[chosen[rows.order]]
    else:
        idx = idx[np.argsort(np.char.add(rows.kind[idx], np.array(rows.value)[idx]), kind="stable")]
    take = idx.tolist()
    kinds = rows.kind[idx].tolist()
    values = [rows.value[i] for i in take]
    quality = [rows.quality[i] for i in take]
    source = [rows.source[i] for i in take]
    case_id = [rows.case_id[i] for i in take]
    listed = [rows.listed_at[i] for i in take]
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        # COPY text format built with joins (not a Python call per row): \N is NULL, and
        # backslash, tab and newlines in free text are escaped.
        prefix, suffix = f"{bank_id}\t", "\t" + now.isoformat() + "\n"
        cols = [kinds, values, _copy_column(quality), _copy_column(source), _copy_column(case_id),
                _copy_column(listed)]
        body = "".join(prefix + "\t".join(fields) + suffix for fields in zip(*cols))
        with cursor.copy("COPY bank_entries (bank_id, kind, value, quality, source, case_id, listed_at, added_at) "
                         "FROM STDIN") as copy:
            copy.write(body.encode("utf-8"))
        return
    naive_now = _sqlite_time(now)  # the text _UTCDateTime reads back
    naive = [None if d is None else _sqlite_time(d) for d in listed]
    conn.exec_driver_sql(
        "INSERT INTO bank_entries (bank_id, kind, value, quality, source, case_id, listed_at, added_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        list(zip([bank_id] * len(take), kinds, values, quality, source, case_id, naive, [naive_now] * len(take))),
    )
