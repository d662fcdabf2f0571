"""benchmarks/bank_fill.py: large random banks through the import path, and reading them back in batches."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from provenance import Settings
from provenance.banks import Banks, index
from provenance.banks.index import unpack_hex
from provenance.hashing import PerceptualHash

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bank_fill import fill_bank, random_hash_csv  # noqa: E402


def test_fill_imports_every_hash_in_chunks_and_is_reproducible(tmp_path: Path) -> None:
    settings = Settings(instance_path=tmp_path / "a")
    seen: list[int] = []
    fill = fill_bank(settings, "big", 2_500, chunk=1_000, seed=3, progress=seen.append)
    assert (fill.name, fill.hashes) == ("big", 2_500) and seen == [1_000, 2_000, 2_500]
    _, codes = random_hash_csv(1_000, np.random.default_rng(3))  # the first chunk again: same seed, same hashes
    with Banks.open(settings) as banks:
        bank = banks.get("big")
        assert (bank.pdq_count, bank.entry_count, bank.threshold) == (2_500, 2_500, 31)
        probe = PerceptualHash.from_hex(unpack_hex(codes[417:418])[0])
        assert [m.distance for m in banks.match(probe)] == [0]
    assert fill_bank(settings, "big", 500, chunk=1_000, seed=4).hashes == 3_000  # adds to an existing bank
    with pytest.raises(ValueError, match="chunk"):
        fill_bank(settings, "big", 10, chunk=0)


def test_a_bank_larger_than_one_read_batch_loads_whole(tmp_path: Path, db_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # The bank is read from the database in batches (bounded memory at 10M hashes): every batch counts.
    monkeypatch.setattr(index, "_READ_BATCH", 64)
    settings = Settings(instance_path=tmp_path, database_url=db_url)
    fill_bank(settings, "b", 1_000, chunk=300, seed=1)
    _, codes = random_hash_csv(300, np.random.default_rng(1))
    with Banks.open(settings) as banks:
        for row in (0, 63, 64, 299):
            assert [m.distance for m in banks.match(PerceptualHash.from_hex(unpack_hex(codes[row : row + 1])[0]))] == [0]
        (loaded,) = [x for x in banks._loaded.values() if x.name == "b"]
        assert loaded.size == 1_000 and loaded.max_entry_id == 1_000
