"""``provenance batch sweep``: every pair a brute-force scan finds, partition by partition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.banks.index import unpack_hex
from provenance.batch.sweep import sweep
from provenance.errors import BatchSourceError
from provenance.search import brute_force_search

pytestmark = pytest.mark.slow


def test_sweep_finds_exactly_the_brute_force_pairs(tmp_path: Path, cluster: str) -> None:
    from distributed import Client

    rng = np.random.default_rng(5)
    index_codes = rng.integers(0, 2**63, size=(5000, 4), dtype=np.uint64)
    bank_codes = index_codes[rng.choice(5000, 40, replace=False)].copy()
    flips = rng.integers(0, 64, size=(40, 3))
    for i, bits in enumerate(flips):  # near copies, 0-3 bits away per word
        for b in bits[: i % 4]:
            bank_codes[i, i % 4] ^= np.uint64(1) << np.uint64(b)
    bank_codes = np.concatenate([bank_codes, rng.integers(0, 2**63, size=(60, 4), dtype=np.uint64)])
    values = unpack_hex(index_codes)
    values[7] = None  # an unhashable file
    pq.write_table(pa.table({"path": [f"f{i}" for i in range(5000)], "pdq": values}), tmp_path / "index.parquet",
                   row_group_size=700)
    with Client(cluster) as client:
        summary = sweep(client, tmp_path / "index.parquet", "b", unpack_hex(bank_codes), 31, tmp_path / "m.parquet")
    got = {(r["path"], r["bank_pdq"], r["distance"]) for r in pq.read_table(tmp_path / "m.parquet").to_pylist()}
    keep = np.array([i != 7 for i in range(5000)])
    hits = brute_force_search(index_codes[keep], bank_codes, 31)
    names = np.flatnonzero(keep)
    bank_hex = unpack_hex(bank_codes)
    want = {(f"f{names[p]}", bank_hex[q], d) for q, p, d in zip(hits.query, hits.position, hits.distance)}
    assert len(want) >= 40 and got == want
    assert summary.rows == 5000 and summary.hashed == 4999 and summary.matches == len(want)

    pq.write_table(pa.table({"path": ["a"], "hash": ["0" * 64]}), tmp_path / "wrong.parquet")
    with Client(cluster) as client, pytest.raises(BatchSourceError, match="no 'pdq' column"):
        sweep(client, tmp_path / "wrong.parquet", "b", bank_hex, 31, tmp_path / "m2.parquet")


@pytest.mark.parametrize("threshold", [0, 15, 31, 40])
def test_match_codes_equals_brute_force(threshold: int) -> None:
    from provenance.batch.sweep import BankTable, match_codes

    rng = np.random.default_rng(threshold)
    rows = rng.integers(0, 2**64, size=(20_000, 4), dtype=np.uint64, endpoint=False)
    bank = rng.integers(0, 2**64, size=(300, 4), dtype=np.uint64, endpoint=False)
    # Plant copies 0-45 bits away from bank hashes, spread over the rows.
    for i, at in enumerate(rng.choice(20_000, 120, replace=False)):
        copy = bank[i % 300].copy()
        bits = np.unpackbits(copy.view(np.uint8))
        bits[rng.choice(256, size=i % 46, replace=False)] ^= 1
        rows[at] = np.packbits(bits).view(np.uint64)
    r, b, d = match_codes(BankTable.build(bank, threshold), rows)
    hits = brute_force_search(rows, bank, threshold)
    assert len(hits) > 0
    assert sorted(zip(r.tolist(), b.tolist(), d.tolist())) == sorted(
        zip(hits.position.tolist(), hits.query.tolist(), hits.distance.tolist()))


def test_pdq_column_decoded_from_arrow_buffers() -> None:
    from provenance.batch.sweep import _pack, _pack_column

    codes = np.random.default_rng(9).integers(0, 2**64, size=(6, 4), dtype=np.uint64, endpoint=False)
    values = unpack_hex(codes)
    values[1] = None
    values[3] = values[3][:63]  # a short value: not hashed, like a file that had no PDQ
    values[4] = values[4].upper()
    column = pa.chunked_array([pa.array(values[:2]), pa.array(values[2:])]).slice(1)
    packed, where = _pack_column(column)
    want, want_where = _pack([None if v is None else v.lower() for v in values[1:]])
    assert np.array_equal(packed, want) and np.array_equal(where, want_where)
    assert where.tolist() == [1, 3, 4]  # positions in the sliced column
    with pytest.raises(BatchSourceError, match="not hex"):
        _pack_column(pa.array(["g" * 64]))
    with pytest.raises(BatchSourceError, match="not text"):
        _pack_column(pa.array([1, 2]))
