"""Bulk insert of checked hash-list rows: COPY on PostgreSQL, one executemany on SQLite."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

import numpy as np
from sqlalchemy.engine import Connection

from .lists import HashRows

__all__ = ["bulk_insert"]


@lru_cache(maxsize=4096)
def _sqlite_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite DateTime text, UTC


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


def bulk_insert(conn: Connection, bank_id: int, rows: HashRows, idx: np.ndarray, now: datetime) -> None:
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
    naive_now = _sqlite_time(now)  # the text UTCDateTime reads back
    naive = [None if d is None else _sqlite_time(d) for d in listed]
    conn.exec_driver_sql(
        "INSERT INTO bank_entries (bank_id, kind, value, quality, source, case_id, listed_at, added_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        list(zip([bank_id] * len(take), kinds, values, quality, source, case_id, naive, [naive_now] * len(take))),
    )
