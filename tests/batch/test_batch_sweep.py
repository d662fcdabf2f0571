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
