"""Take It Down sweep: one case (a PDQ hash, its 7 rotated/mirrored variants, an MD5 and a SHA-256)
swept against 1M and 10M indexed items.

The PDQ part is :class:`provenance.cases.PdqSnapshot` (the exact multi-index of
:mod:`provenance.search`), built over random hashes with 8 planted copies, radius 31; every
planted copy must be found. The exact part is the lookup of the MD5 and SHA-256 in sorted
``uint64`` prefix columns (what the database's indexes do, here in memory so 10M rows need no
database load). Sweep time = PDQ search + exact lookups; median of 7 runs, with the brute-force
scan of the same 8 queries in the same run for comparison.

Usage::

    nice -n 5 python benchmarks/sweep.py                  # 1M and 10M; prints markdown
    nice -n 5 python benchmarks/sweep.py --write          # also updates RESULTS.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import run_header, update_section  # noqa: E402

from provenance.cases import PdqSnapshot  # noqa: E402
from provenance.search import brute_force_search  # noqa: E402


def _timed(fn, runs: int = 7) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def run(n: int, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64)
    queries = rng.integers(0, 2**64, size=(8, 4), dtype=np.uint64)
    planted = rng.choice(n, size=8, replace=False)
    for q, pos in enumerate(planted):  # a copy of each variant, 0-31 bits away
        bits = np.unpackbits(queries[q].view(np.uint8))
        flip = rng.choice(256, size=int(rng.integers(0, 32)), replace=False)
        bits[flip] ^= 1
        codes[pos] = np.packbits(bits).view(np.uint64)
    ids = np.char.add("c", np.arange(n).astype(str)).astype(object)
    t = time.perf_counter()
    snap = PdqSnapshot(ids, codes)
    build_s = time.perf_counter() - t
    md5_prefix = np.sort(rng.integers(0, 2**63, size=n, dtype=np.int64))
    sha_prefix = np.sort(rng.integers(0, 2**63, size=n, dtype=np.int64))
    probe = np.array([md5_prefix[n // 3], sha_prefix[n // 2]])

    def sweep():
        hits = snap.search(queries, 31)
        exact = (np.searchsorted(md5_prefix, probe[:1]), np.searchsorted(sha_prefix, probe[1:]))
        return hits, exact

    sweep_s, (hits, _) = _timed(sweep)
    found = {cid for cid, _ in hits}
    assert {f"c{p}" for p in planted} <= found, "a planted copy was missed"
    brute_s, _ = _timed(lambda: brute_force_search(codes, queries, 31), runs=3)
    return {"n": n, "build_s": build_s, "sweep_s": sweep_s, "brute_s": brute_s, "found": len(found)}


def run_db(n: int, seed: int = 2) -> dict:
    """The service's path: n rows in a SQLite content index, then ContentIndex.sweep (PDQ + MD5 + SHA-256)."""
    import tempfile

    from provenance.cases import CaseHash, ContentIndex, ContentRow
    from provenance.registry import Registry

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64)
    hexes = [codes[i].astype(">u8").tobytes().hex() for i in range(n)]
    md5s = [f"{i:032x}" for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp, Registry(f"sqlite:///{tmp}/c.sqlite") as registry:
        index = ContentIndex(registry)
        t = time.perf_counter()
        for start in range(0, n, 100_000):
            index.record(ContentRow(f"c{i}", hexes[i], 90, md5s[i], None) for i in range(start, min(n, start + 100_000)))
        insert_s = time.perf_counter() - t
        t = time.perf_counter()
        index.snapshot()
        load_s = time.perf_counter() - t
        case = [CaseHash("pdq", hexes[n // 2], 90)] + [CaseHash("pdqv", h, 90) for h in hexes[:7]]
        case += [CaseHash("md5", md5s[n // 3]), CaseHash("sha256", "ab" * 32)]
        sweep_s, found = _timed(lambda: index.sweep(case))
    assert {("c%d" % (n // 2), "pdq"), ("c%d" % (n // 3), "md5")} <= {(c, k) for c, k, _ in found}
    return {"n": n, "insert_s": insert_s, "load_s": load_s, "sweep_s": sweep_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--db-size", type=int, default=1_000_000, help="rows for the SQLite run (0: skip)")
    args = parser.parse_args()
    lines = [run_header("python benchmarks/sweep.py " + " ".join(sys.argv[1:])), "",
             "| indexed items | index build | one case swept (8 PDQ variants + MD5 + SHA-256) | brute-force scan, same 8 | found |",
             "|---:|---:|---:|---:|---:|"]
    for n in args.sizes:
        r = run(n)
        lines.append(f"| {n:,} | {r['build_s']:.1f} s | {r['sweep_s'] * 1000:.1f} ms | {r['brute_s'] * 1000:.0f} ms "
                     f"| {r['found']} (8 planted) |")
        print(lines[-1], flush=True)
    if args.db_size:
        r = run_db(args.db_size)
        lines += ["", "Through the service's path (`ContentIndex` on SQLite: PDQ snapshot in memory, MD5/SHA-256 by the "
                  "database's indexes):", "",
                  "| rows | record (100k per transaction) | first snapshot load | one case swept |", "|---:|---:|---:|---:|",
                  f"| {r['n']:,} | {r['insert_s']:.1f} s | {r['load_s']:.1f} s | {r['sweep_s'] * 1000:.1f} ms |"]
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        update_section("sweep", "## Take It Down sweep (benchmarks/sweep.py)\n\n" + text)


if __name__ == "__main__":
    main()
