"""Hash lists: parsing and checking CSV or JSON lists (vectorised, with line numbers in every
message), and writing a bank back out in the same format."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Iterable, Mapping, Union

import numpy as np

from ..errors import HashListError, InvalidInputError
from ..hashing import PerceptualHash
from ..images import read_source
from .records import HASH_KINDS, MAX_TEXT, Bank, BankEntry, as_utc

__all__ = [
    "COLUMNS",
    "DEFAULT_MAX_IMPORT_ROWS",
    "HashListSource",
    "HashRows",
    "parse_hash_list",
    "parse_rows",
    "rows_from_entries",
    "write_hash_list",
]

#: Most rows one import accepts (``PROVENANCE_BANK_MAX_IMPORT_ROWS``).
DEFAULT_MAX_IMPORT_ROWS = 20_000_000
#: Columns of a hash list, in the order an export writes them.
COLUMNS = ("hash", "kind", "quality", "source", "case_id", "date")

_HEX_OK = np.zeros(256, dtype=bool)
_HEX_OK[np.frombuffer(b"0123456789abcdefABCDEF", dtype=np.uint8)] = True
_ALIASES = {"pdq": "hash", "signal": "hash", "value": "hash", "case": "case_id", "caseid": "case_id",
            "listed_at": "date", "added": "date", "type": "kind"}

HashListSource = Union[str, os.PathLike, bytes, IO[bytes], IO[str]]


@dataclass(frozen=True)
class HashRows:
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
        hint = Path(source).suffix.lower().lstrip(".") or None
    if hasattr(source, "read"):
        data = source.read()  # a text-mode file gives str, which a hash list may be
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)  # may be empty: parsing says the list holds no hashes
    else:
        try:
            data = read_source(source).data
        except InvalidInputError as exc:
            raise HashListError(str(exc)) from None
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
    if len(value) > MAX_TEXT:
        raise HashListError(f"line {line}: {column} is {len(value)} characters; at most {MAX_TEXT} are kept.")
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
        return as_utc(datetime.fromisoformat(text), "date")
    except ValueError:
        return None


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
    unknown = [c for c in columns if c not in COLUMNS]
    if "hash" not in columns or unknown or len(set(columns)) != len(columns):
        raise HashListError(
            f"line {first + 1}: the CSV header must name a 'hash' column, once, and only columns among "
            f"{', '.join(COLUMNS)}; got {', '.join(head)}."
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
            unknown = [k for k in record if k not in COLUMNS]
            if unknown or "hash" not in record:
                raise HashListError(
                    f"item {n}: needs a 'hash' and only keys among {', '.join(COLUMNS)}; got {', '.join(item)}."
                )
            records.append(record)
        else:
            raise HashListError(f"item {n}: expected a hex string or an object; got {type(item).__name__}.")
    return _to_columns(records), list(range(1, len(records) + 1))


def _to_columns(records: list[dict[str, Any]]) -> dict[str, list]:
    return {c: [r.get(c) for r in records] for c in COLUMNS if any(c in r for r in records)}


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
    rows = parse_rows(source, format=format, max_rows=max_rows)
    return [
        BankEntry(value=v, kind=str(k), quality=q, source=s, case_id=c, listed_at=d)
        for k, v, q, s, c, d in zip(rows.kind, rows.value, rows.quality, rows.source, rows.case_id, rows.listed_at)
    ]


def parse_rows(source: HashListSource, *, format: str | None, max_rows: int) -> HashRows:
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


def _check_rows(columns: dict[str, list], line: np.ndarray) -> HashRows:
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
    return HashRows(
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
    too_long = np.flatnonzero(lengths > MAX_TEXT)
    if too_long.size:
        i = int(too_long[0])
        raise HashListError(f"line {numbers[i]}: {column} is {lengths[i]} characters; at most {MAX_TEXT} are kept.")
    return out


def rows_from_entries(entries: Iterable[BankEntry | PerceptualHash | str]) -> HashRows:
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



def write_hash_list(bank: Bank, entries: list[BankEntry], out: str | os.PathLike | IO[str], *, format: str = "csv") -> int:
    """Write `entries` of `bank` as a CSV or JSON hash list (re-importable); return how many.

    Raises
    ------
    InvalidInputError
        If `format` is not csv or json.
    """
    if format not in ("csv", "json"):
        raise InvalidInputError(f"format must be csv or json; got {format!r}.")
    buf = io.StringIO()
    if format == "csv":
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(COLUMNS)
        for entry in entries:
            d = entry.to_dict()
            writer.writerow(["" if d[c] is None else d[c] for c in COLUMNS])
    else:
        json.dump({"bank": bank.name, "label": bank.label, "threshold": bank.threshold,
                   "hashes": [e.to_dict() for e in entries]}, buf, indent=1)
        buf.write("\n")
    if hasattr(out, "write"):
        out.write(buf.getvalue())  # type: ignore[union-attr]
    else:
        Path(out).write_text(buf.getvalue(), encoding="utf-8")
    return len(entries)
