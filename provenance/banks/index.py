"""The enabled banks' PDQ hashes in memory: immutable snapshots, searched without a lock.

A :class:`LoadedBank` is never changed once built. A refresh builds new snapshots (appended
entries go into a small brute-force ``delta``; past :data:`DELTA_MAX` they are folded into a new
:class:`~provenance.search.HashIndex`) and :class:`~provenance.banks.Banks` swaps its whole
mapping of them at once, so a search that started on one snapshot reads that snapshot's
index, delta and threshold to the end, whatever other threads do meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..registry.schema import bank_entries
from ..search import HashIndex, brute_force_search
from .shared_index import shared_index

__all__ = ["DELTA_MAX", "LoadedBank", "append_entries", "load_bank", "pack_hex", "unpack_hex"]

logger = logging.getLogger(__name__)

#: Appended PDQ hashes searched by brute force before the index is rebuilt (or an eighth of the index).
DELTA_MAX = 65_536


def pack_hex(values: Sequence[str]) -> np.ndarray:
    """Lowercase 64-hex PDQ strings -> (N, 4) uint64, in one ``bytes.fromhex``."""
    if not values:
        return np.zeros((0, 4), dtype=np.uint64)
    return np.frombuffer(bytes.fromhex("".join(values)), dtype=">u8").reshape(-1, 4).astype(np.uint64)


def unpack_hex(codes: np.ndarray) -> list[str]:
    """(N, 4) uint64 packed PDQ hashes -> lowercase 64-hex strings."""
    raw = codes.astype(">u8").tobytes().hex()
    return [raw[i : i + 64] for i in range(0, len(raw), 64)]


def _frozen(codes: np.ndarray) -> np.ndarray:
    codes.setflags(write=False)
    return codes


@dataclass(frozen=True)
class LoadedBank:
    """One enabled bank's PDQ hashes and settings, as of one refresh (never changed afterwards)."""

    bank_id: int
    name: str
    label: str
    threshold: int
    version: int
    withdrawals: int
    pdq_count: int
    max_entry_id: int
    index: HashIndex
    delta: np.ndarray  # (D, 4) uint64, read-only: appended since the index was built
    index_file: Path | None = None  # the machine's shared, memory-mapped index (see .shared_index)

    @property
    def size(self) -> int:
        """How many PDQ hashes are loaded."""
        return len(self.index) + int(self.delta.shape[0])

    def with_settings(self, row: Any) -> "LoadedBank":
        """A copy carrying the name, label, threshold and counters of a ``hash_banks`` row."""
        return replace(self, name=row.name, label=row.label, threshold=int(row.threshold), version=int(row.version),
                       withdrawals=int(row.withdrawals), pdq_count=int(row.pdq_count))

    def search(self, queries: np.ndarray) -> dict[str, tuple[int, int]]:
        """Hashes within this snapshot's threshold of any query.

        Parameters
        ----------
        queries : (Q, 4) uint64 ndarray

        Returns
        -------
        dict
            Bank hash (hex) -> (query position, distance) of its closest query.
        """
        hits = self.index.search(queries, self.threshold)
        codes, qs, ds = [self.index.codes[hits.position]], [hits.query], [hits.distance]
        if self.delta.shape[0]:
            extra = brute_force_search(self.delta, queries, self.threshold)
            codes.append(self.delta[extra.position])
            qs.append(extra.query)
            ds.append(extra.distance)
        all_codes = np.concatenate(codes)
        best: dict[str, tuple[int, int]] = {}
        if all_codes.shape[0] == 0:
            return best
        q_all, d_all = np.concatenate(qs), np.concatenate(ds)
        for value, q, d in zip(unpack_hex(all_codes), q_all.tolist(), d_all.tolist()):  # hits only, not the bank
            if value not in best or d < best[value][1]:
                best[value] = (q, d)
        return best


#: Rows fetched from the database per step when a bank is read whole: bounds the Python objects alive at once.
_READ_BATCH = 100_000


def _read_all(conn: Connection, bank_id: int) -> tuple[HashIndex, int]:
    # Streamed and packed batch by batch: a 10M-hash bank as one list of rows would hold several
    # GB of Python objects per process while it loads. Rows come straight from the driver's cursor
    # (a server-side one on PostgreSQL): SQLAlchemy's row objects cost more than the query.
    sql = f"SELECT entry_id, value FROM {bank_entries.name} WHERE bank_id = %s AND kind = 'pdq'"
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        cursor = raw.cursor(name=f"bank_read_{bank_id}")
    else:
        cursor, sql = raw.cursor(), sql.replace("%s", "?")
    parts, max_id = [], 0
    try:
        cursor.execute(sql, (int(bank_id),))
        while batch := cursor.fetchmany(_READ_BATCH):
            ids, values = zip(*batch)
            parts.append(pack_hex(values))
            max_id = max(max_id, max(ids))
    finally:
        cursor.close()
    codes = np.concatenate(parts) if parts else np.zeros((0, 4), dtype=np.uint64)
    logger.info("bank %d: loaded %d PDQ hashes", bank_id, codes.shape[0])
    return HashIndex(codes), int(max_id)


def load_bank(conn: Connection, bank_id: int, row: Any, *, index_file: Path | None = None) -> LoadedBank:
    """Read every PDQ hash of a bank into a new snapshot with `row`'s settings.

    With `index_file`, the index is the machine's shared file (built there first if it is
    missing or older than the bank's last withdrawal) and only later additions are read.
    """
    empty = _frozen(np.zeros((0, 4), dtype=np.uint64))
    if index_file is None:
        index, max_id = _read_all(conn, bank_id)
        return LoadedBank(bank_id, "", "", 0, 0, 0, 0, max_id, index, empty).with_settings(row)
    shared = shared_index(index_file, withdrawals=int(row.withdrawals), min_entry_id=0,
                          build=lambda: _read_all(conn, bank_id))
    loaded = LoadedBank(bank_id, "", "", 0, 0, 0, 0, shared.max_entry_id, shared.index, empty,
                        index_file).with_settings(row)
    return append_entries(conn, replace(loaded, withdrawals=shared.withdrawals))


def append_entries(conn: Connection, have: LoadedBank) -> LoadedBank:
    """A new snapshot with the PDQ hashes added to the bank since `have` was built."""
    e = bank_entries
    rows = conn.execute(sa.select(e.c.entry_id, e.c.value).where(
        e.c.bank_id == have.bank_id, e.c.kind == "pdq", e.c.entry_id > have.max_entry_id)).all()
    if not rows:
        return have
    max_id = max(have.max_entry_id, max(r[0] for r in rows))
    delta = np.concatenate([have.delta, pack_hex([r[1] for r in rows])])
    if delta.shape[0] > max(DELTA_MAX, len(have.index) // 8) and have.index_file is not None:
        shared = shared_index(have.index_file, withdrawals=have.withdrawals, min_entry_id=max_id,
                              build=lambda: _read_all(conn, have.bank_id))
        return replace(have, max_entry_id=shared.max_entry_id, index=shared.index,
                       delta=_frozen(np.zeros((0, 4), dtype=np.uint64)))
    if delta.shape[0] > max(DELTA_MAX, len(have.index) // 8):
        return replace(have, max_entry_id=max_id, index=HashIndex(np.concatenate([have.index.codes, delta])),
                       delta=_frozen(np.zeros((0, 4), dtype=np.uint64)))
    return replace(have, max_entry_id=max_id, delta=_frozen(delta))
