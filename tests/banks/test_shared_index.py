"""The per-machine shared bank index: one memory-mapped file per bank, seen by every process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from provenance.banks import Banks
from provenance.banks.index import unpack_hex
from provenance.banks.shared_index import index_path, open_index
from provenance.hashing import PerceptualHash
from provenance.registry import Registry


def _random_hex(n: int, seed: int) -> list[str]:
    return unpack_hex(np.random.default_rng(seed).integers(0, 2**63, size=(n, 4), dtype=np.uint64))


def test_two_banks_objects_share_one_mapped_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    values = _random_hex(40_000, 1)  # above MIN_INDEXED: the multi-index tables are in the file too
    with Registry(url) as reg_a, Registry(url) as reg_b:
        a = Banks(reg_a, index_dir=tmp_path / "idx", background_rebuild_from=0)
        b = Banks(reg_b, index_dir=tmp_path / "idx", background_rebuild_from=0)
        a.create("csam", label="test")
        a.add("csam", values)
        probe = PerceptualHash.from_hex(values[123])
        assert [m.distance for m in a.match(probe)] == [0]
        assert [m.distance for m in b.match(probe)] == [0]
        (loaded_a,) = [x for x in a._loaded.values() if x.name == "csam"]
        (loaded_b,) = [x for x in b._loaded.values() if x.name == "csam"]
        assert isinstance(loaded_a.index.codes, np.memmap) and loaded_a.index.indexed
        assert loaded_a.index.codes.filename == loaded_b.index.codes.filename
        assert Path(loaded_a.index.codes.filename) == index_path(tmp_path / "idx", reg_a.url, loaded_a.bank_id)
        built = Path(loaded_a.index.codes.filename).stat().st_mtime_ns

        new = _random_hex(1, 2)[0]
        a.add("csam", [new])  # an add goes to each process's delta: the file is not rebuilt
        assert [m.distance for m in b.match(PerceptualHash.from_hex(new))] == [0]
        assert Path(loaded_a.index.codes.filename).stat().st_mtime_ns == built

        a.withdraw("csam", [values[123]])  # right at once; the file is rebuilt once, in the background
        assert b.match(probe) == () and a.match(probe) == ()
        assert [m.distance for m in b.match(PerceptualHash.from_hex(values[124]))] == [0]
        assert a.wait_for_rebuilds(60) and b.wait_for_rebuilds(60)
        shared = open_index(Path(loaded_a.index.codes.filename))
        assert shared is not None and len(shared.index) == 40_000 and shared.withdrawals == 1
        assert b.match(probe) == () and [m.distance for m in a.match(PerceptualHash.from_hex(new))] == [0]
        (rebuilt,) = [x for x in a._loaded.values() if x.name == "csam"]
        assert rebuilt.withdrawals == 1 and len(rebuilt.index) == 40_000
        a.close()
        b.close()


def test_a_withdrawal_is_right_before_the_background_rebuild_and_after(tmp_path: Path) -> None:
    # The snapshot loaded before a withdrawal still holds the withdrawn hash until the rebuild
    # swaps in; a match is read back from the database, so the withdrawn hash never matches,
    # and a banked hash 1 bit from it still does.
    url = f"sqlite:///{tmp_path / 'r.db'}"
    values = _random_hex(20_000, 5)
    near = PerceptualHash.from_hex(values[7]).to_hex()
    near = f"{int(near[0], 16) ^ 1:x}" + near[1:]
    with Registry(url) as reg, Banks(reg, background_rebuild_from=10_000) as banks:
        banks.create("ncii", label="test")
        banks.add("ncii", values + [near])
        probe = PerceptualHash.from_hex(values[7])
        assert sorted(m.distance for m in banks.match(probe)) == [0, 1]
        banks.withdraw("ncii", [values[7]])
        for _ in range(2):  # before the rebuild has swapped in (or while it runs), then after it
            found = banks.match(probe)
            assert [(m.value, m.distance) for m in found] == [(near, 1)]
            assert banks.wait_for_rebuilds(60)
        (loaded,) = [x for x in banks._loaded.values() if x.name == "ncii"]
        assert loaded.size == 20_000 and loaded.withdrawals == 1


_CHILD = textwrap.dedent("""
    import sys, time
    from provenance.banks import Banks
    from provenance.hashing import PerceptualHash
    from provenance.registry import Registry
    url, idx, probe = sys.argv[1:4]
    with Registry(url) as reg:
        banks = Banks(reg, index_dir=idx)
        banks.match(PerceptualHash.from_hex("0" * 64))
        maps = open("/proc/self/maps").read()
        print("mapped" if ".idx" in maps else "private", flush=True)
        while True:
            if banks.match(PerceptualHash.from_hex(probe)):
                print("seen", flush=True)
                break
            time.sleep(0.2)
""")


@pytest.mark.slow
def test_another_process_sees_an_add_within_10_s(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    values = _random_hex(40_000, 3)
    with Registry(url) as reg:
        banks = Banks(reg, index_dir=tmp_path / "idx")
        banks.create("b", label="test")
        banks.add("b", values)
        banks.match(PerceptualHash.from_hex(values[0]))  # builds the file
        probe = _random_hex(1, 4)[0]
        children = [subprocess.Popen([sys.executable, "-c", _CHILD, url, str(tmp_path / "idx"), probe],
                                     stdout=subprocess.PIPE, text=True) for _ in range(2)]
        try:
            assert [c.stdout.readline().strip() for c in children] == ["mapped", "mapped"]
            added = time.monotonic()
            banks.add("b", [probe])
            for child in children:
                assert child.stdout.readline().strip() == "seen"
                child.wait(timeout=10)
            assert time.monotonic() - added < 10
        finally:
            for child in children:
                child.kill()
                child.wait()
                child.stdout.close()


def test_warm_builds_every_enabled_banks_file_before_any_match(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    values = _random_hex(40_000, 7)
    with Registry(url) as reg:
        banks = Banks(reg, index_dir=tmp_path / "idx")
        banks.create("ncii", label="test")
        banks.add("ncii", values)
        banks.create("off", label="disabled", enabled=False)
        banks.add("off", _random_hex(10, 8))
    with Registry(url) as reg:  # a fresh process's view: nothing loaded, no file yet
        banks = Banks(reg, index_dir=tmp_path / "idx")
        files = list((tmp_path / "idx").glob("*")) if (tmp_path / "idx").exists() else []
        assert not [f for f in files if f.suffix != ".lock"]
        assert banks.warm() == 40_000  # the disabled bank is not loaded
        (loaded,) = [b for b in banks._loaded.values() if b.name == "ncii"]
        assert "off" not in {b.name for b in banks._loaded.values()}
        shared = open_index(index_path(tmp_path / "idx", reg.url, loaded.bank_id))
        assert shared is not None and len(shared.index) == 40_000
