"""Sweep a hash bank over a content index: every (indexed file, bank hash) pair within the bank's threshold.

The index is the Parquet output of ``provenance batch hash`` (a ``path`` and a ``pdq`` column),
read one row group per task. The bank's packed PDQ hashes are broadcast to every worker once.

Matching is a vectorised multi-index join (the pigeonhole argument of :mod:`provenance.search`
with 16 chunks of 16 bits): two hashes within ``T`` bits agree to within ``T // 16`` bits on at
least one chunk. The bank is expanded once into a table of (chunk, 16-bit value) -> bank hashes,
with every value within ``T // 16`` bits of each bank chunk; each index row then looks up its 16
chunks, and only those candidates (about 40 per row for 10,000 bank hashes at ``T = 31``) are
compared: first on 128 bits, which rules out nearly all of them, then the few left on all 256.
Exact: nothing within ``T`` is missed. The ``pdq`` column is decoded from its Arrow buffers,
and paths are read only for the rows that match.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import BatchSourceError, InvalidInputError

__all__ = ["SweepSummary", "BankTable", "match_codes", "match_partition", "sweep"]

_INDEX_COLUMNS = ("path", "pdq")


@dataclass(frozen=True)
class SweepSummary:
    """How a sweep went: index rows read, rows with a PDQ hash, matches written, and where."""

    rows: int
    hashed: int
    matches: int
    dest: str


def _pack(values: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Packed (N, 4) uint64 codes of the valid 64-hex values, and their positions."""
    keep = np.array([isinstance(v, str) and len(v) == 64 for v in values], dtype=bool)
    text = "".join(v for v, k in zip(values, keep) if k)
    try:
        codes = np.frombuffer(bytes.fromhex(text), dtype=">u8").reshape(-1, 4).astype(np.uint64)
    except ValueError as exc:
        raise BatchSourceError(f"The pdq column holds a value that is not hex ({exc}).") from exc
    return codes, np.flatnonzero(keep)


_NIBBLE = np.full(256, 255, dtype=np.uint8)  # ASCII hex digit -> its value; anything else -> 255
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _NIBBLE[ord(chr(_c).upper())] = _i


def _pack_column(column: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_pack` of a pyarrow string column, decoded from its buffers (no Python string per row)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_large_string(column.type):
        column = column.cast(pa.string())
    if not pa.types.is_string(column.type):
        raise BatchSourceError(f"The pdq column holds {column.type}, not text; give 64-hex PDQ hashes.")
    keep = pc.fill_null(pc.equal(pc.binary_length(column), 64), False)
    where = np.flatnonzero(keep.to_numpy(zero_copy_only=False))
    valid = column.filter(keep)
    if len(valid) == 0:
        return np.zeros((0, 4), dtype=np.uint64), where
    offsets = np.frombuffer(valid.buffers()[1], dtype=np.int32)[valid.offset : valid.offset + len(valid) + 1]
    text = np.frombuffer(valid.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]  # 64 bytes per row
    nibbles = _NIBBLE[text].reshape(-1, 32, 2)
    if (nibbles == 255).any():
        row = int(np.flatnonzero((nibbles == 255).any(axis=(1, 2)))[0])
        raise BatchSourceError(f"The pdq column holds a value that is not hex ({valid[row].as_py()!r:.80}).")
    packed = (nibbles[:, :, 0] << 4) | nibbles[:, :, 1]  # (N, 32) bytes, big-endian words
    return np.ascontiguousarray(packed).view(">u8").astype(np.uint64), where


_CHUNKS16 = 16
_CANDIDATES_PER_STEP = 4_000_000  # (row, bank hash) candidates per step: bounds the temporaries to ~100 MB


@dataclass(frozen=True)
class BankTable:
    """A bank expanded for the join: CSR over (chunk, 16-bit value) of bank-hash positions."""

    codes: np.ndarray  # (B, 4) uint64
    offsets: np.ndarray  # (16 * 65536 + 1,) int32
    ids: np.ndarray  # (E,) int32: bank positions, grouped by key
    max_distance: int

    @classmethod
    def build(cls, codes: np.ndarray, max_distance: int) -> "BankTable":
        """Expand `codes` for radius `max_distance` (0-128)."""
        from itertools import combinations

        radius = int(max_distance) // _CHUNKS16
        masks = [0] + [sum(1 << b for b in combo) for k in range(1, radius + 1) for combo in combinations(range(16), k)]
        masks_arr = np.array(masks, dtype=np.uint32)
        chunks = np.ascontiguousarray(codes).view(np.uint16).astype(np.uint32)  # (B, 16)
        b = codes.shape[0]
        if b * _CHUNKS16 * masks_arr.size >= 2**31:
            raise InvalidInputError(f"A bank of {b:,} hashes at threshold {max_distance} is too large to sweep in one "
                                    "pass; split it into smaller banks or lower the threshold.")
        keys = ((np.arange(_CHUNKS16, dtype=np.uint32)[None, :, None] << 16)
                | (chunks[:, :, None] ^ masks_arr[None, None, :])).ravel()  # (B * 16 * M,)
        ids = np.repeat(np.arange(b, dtype=np.int32), _CHUNKS16 * masks_arr.size)
        order = np.argsort(keys, kind="stable")
        counts = np.bincount(keys, minlength=_CHUNKS16 << 16)
        offsets = np.zeros(counts.size + 1, dtype=np.int32)
        np.cumsum(counts, out=offsets[1:])
        return cls(np.ascontiguousarray(codes), offsets, ids[order], int(max_distance))


def _half_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances of paired (K, 2) uint64 rows (128 bits), as (K,) uint16: a lower bound of the full one."""
    counts = np.ascontiguousarray(np.bitwise_count(a ^ b)).view(np.uint16).ravel()
    return (counts & np.uint16(0xFF)) + (counts >> np.uint16(8))


def match_codes(table: BankTable, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (row, bank position, distance) with distance <= the table's, for (N, 4) uint64 `rows`.

    Ordered by row, then bank position; each pair once.
    """
    rows = np.ascontiguousarray(rows)
    per_row = max(1.0, table.ids.size / 65536)  # expected candidates per index row
    step = int(np.clip(_CANDIDATES_PER_STEP / per_row, 1024, 262_144))
    bank_half = np.ascontiguousarray(table.codes[:, :2])
    chunk_base = np.arange(_CHUNKS16, dtype=np.int32)[None, :] << 16
    found_r, found_b, found_d = [], [], []
    for lo in range(0, rows.shape[0], step):
        block = rows[lo : lo + step]
        n = block.shape[0]
        keys = chunk_base | block.view(np.uint16).astype(np.int32)  # (n, 16)
        starts = np.take(table.offsets, keys).ravel()
        lengths = np.take(table.offsets, keys + 1).ravel() - starts
        total = int(lengths.sum(dtype=np.int64))
        if total == 0:
            continue
        row_of = np.repeat(np.arange(n, dtype=np.int32), lengths.reshape(n, _CHUNKS16).sum(axis=1))
        first = np.cumsum(lengths, dtype=np.int64) - lengths
        slots = np.arange(total, dtype=np.int64) + np.repeat(starts - first, lengths)
        bank_of = np.take(table.ids, slots)
        # The first 128 bits rule out almost every candidate (a random pair is within 31 of 128
        # bits with probability ~1e-9); only the few left get the full 256-bit distance.
        half = _half_distances(np.take(block[:, :2], row_of, axis=0), np.take(bank_half, bank_of, axis=0))
        cand = np.flatnonzero(half <= table.max_distance)
        r, b = row_of[cand].astype(np.int64), bank_of[cand].astype(np.int64)
        dist = np.bitwise_count(block[r] ^ table.codes[b]).sum(axis=1, dtype=np.int64)
        near = dist <= table.max_distance
        # A near pair is usually found through several chunks: keep it once (only the few matches are sorted).
        pair, keep = np.unique(r[near] * table.codes.shape[0] + b[near], return_index=True)
        found_r.append(pair // table.codes.shape[0] + lo)
        found_b.append(pair % table.codes.shape[0])
        found_d.append(dist[near][keep])
    if not found_r:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(found_r), np.concatenate(found_b), np.concatenate(found_d)


def match_partition(index_path: str, row_group: int, bank: dict[str, Any]) -> dict[str, list]:
    """Matches of one row group of the index against `bank` (runs on a worker).

    `bank` holds ``table`` (a :class:`BankTable`), ``values`` (its hashes in hex) and ``name``.
    """
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(index_path)
    pdq = pf.read_row_group(row_group, columns=["pdq"]).column(0)
    codes, where = _pack_column(pdq)
    rows, bank_pos, dist = match_codes(bank["table"], codes)
    at = where[rows]
    # Paths are read only when there are matches: most row groups have none.
    paths = pf.read_row_group(row_group, columns=["path"]).column(0).take(at).to_pylist() if at.size else []
    out: dict[str, list] = {
        "path": paths,
        "pdq": pdq.take(at).to_pylist(),
        "bank": [bank["name"]] * int(at.size),
        "bank_pdq": [bank["values"][q] for q in bank_pos.tolist()],
        "distance": [int(d) for d in dist.tolist()],
    }
    return out | {"_hashed": [int(codes.shape[0])]}


def _check_index(index_path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(index_path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BatchSourceError(f"{index_path} is not a readable Parquet file ({exc}); give the output of "
                               "`provenance batch hash` (one file, or a folder of parts).") from exc
    missing = [c for c in _INDEX_COLUMNS if c not in pf.schema_arrow.names]
    if missing:
        raise BatchSourceError(f"{index_path} has no {' or '.join(map(repr, missing))} column; a content index needs "
                               "path and pdq columns (the output of `provenance batch hash`).")
    return pf


def sweep(client: Any, index: str | os.PathLike, bank_name: str, bank_values: Sequence[str], threshold: int,
          dest: str | os.PathLike, *, on_partition: Callable[[int], None] | None = None) -> SweepSummary:
    """Match one bank's PDQ hashes against every row of a content index, partition by partition.

    Parameters
    ----------
    client : distributed.Client
    index : path-like
        A Parquet file, or a folder of Parquet part files, with ``path`` and ``pdq`` columns.
    bank_name : str
    bank_values : sequence of str
        The bank's PDQ hashes, 64 hex each.
    threshold : int
        Largest Hamming distance that is a match.
    dest : path-like
        The Parquet file of matches (path, pdq, bank, bank_pdq, distance).

    Raises
    ------
    BatchSourceError
        If the index cannot be read or lacks the columns.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from distributed import as_completed

    index = Path(index)
    files = sorted(index.glob("part-*.parquet")) if index.is_dir() else [index]
    if not files:
        raise BatchSourceError(f"{index} holds no Parquet parts; give a `provenance batch hash` output.")
    tasks = [(str(f), g) for f in files for g in range(_check_index(f).num_row_groups)]
    codes, _ = _pack(list(bank_values))
    if codes.shape[0] != len(bank_values):
        raise InvalidInputError(f"Bank {bank_name!r} holds PDQ values that are not 64 hex characters.")
    bank = {"table": BankTable.build(codes, threshold), "values": list(bank_values), "name": bank_name}
    [shared] = client.scatter([bank], broadcast=True)
    futures = [client.submit(match_partition, f, g, shared, pure=False, retries=1) for f, g in tasks]
    schema = pa.schema([("path", pa.string()), ("pdq", pa.string()), ("bank", pa.string()),
                        ("bank_pdq", pa.string()), ("distance", pa.int16())])
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.tmp")
    rows = hashed = matches = 0
    with pq.ParquetWriter(tmp, schema) as writer:
        for future in as_completed(futures):
            part = future.result()
            hashed += part.pop("_hashed")[0]
            writer.write_table(pa.table(part, schema=schema))
            matches += len(part["path"])
            if on_partition is not None:
                on_partition(1)
    os.replace(tmp, dest)
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return SweepSummary(rows=rows, hashed=hashed, matches=matches, dest=str(dest))
