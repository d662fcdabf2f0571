"""Sweep a hash bank over a content index: every (indexed file, bank hash) pair within the bank's threshold.

The index is the Parquet output of ``provenance batch hash`` (a ``path`` and a ``pdq`` column),
read one row group per task. The bank's packed PDQ hashes are broadcast to every worker once;
each task builds a :class:`~provenance.search.HashIndex` over its row group and searches it for
every bank hash, which is exact and touches a few hundred rows per bank hash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import BatchSourceError, InvalidInputError
from ..search import HashIndex

__all__ = ["SweepSummary", "match_partition", "sweep"]

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


def match_partition(index_path: str, row_group: int, bank: dict[str, Any]) -> dict[str, list]:
    """Matches of one row group of the index against `bank` (runs on a worker).

    `bank` holds ``codes`` ((B, 4) uint64), ``values`` (their hex), ``name`` and ``threshold``.
    """
    import pyarrow.parquet as pq

    table = pq.ParquetFile(index_path).read_row_group(row_group, columns=list(_INDEX_COLUMNS))
    paths, values = table.column("path").to_pylist(), table.column("pdq").to_pylist()
    codes, where = _pack(values)
    out: dict[str, list] = {"path": [], "pdq": [], "bank": [], "bank_pdq": [], "distance": []}
    if codes.shape[0] == 0 or bank["codes"].shape[0] == 0:
        return out | {"_hashed": [int(codes.shape[0])]}
    index = HashIndex(codes, min_indexed=1)
    hits = index.search(bank["codes"], bank["threshold"])
    # HashIndex reorders its rows; map its positions back to the row group's.
    order = np.lexsort(codes.T[::-1])
    sorted_pos = np.lexsort(index.codes.T[::-1])
    back = np.empty(codes.shape[0], dtype=np.int64)
    back[sorted_pos] = where[order]
    for q, p, d in zip(hits.query.tolist(), hits.position.tolist(), hits.distance.tolist()):
        row = int(back[p])
        out["path"].append(paths[row])
        out["pdq"].append(values[row])
        out["bank"].append(bank["name"])
        out["bank_pdq"].append(bank["values"][q])
        out["distance"].append(int(d))
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
    bank = {"codes": codes, "values": list(bank_values), "name": bank_name, "threshold": int(threshold)}
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
