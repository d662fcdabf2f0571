"""Bank index memory per worker: every process building its own HashIndex vs one memory-mapped file per machine.

    python benchmarks/shared_index.py --hashes 10000000 --workers 4

Starts `--workers` processes the way gunicorn's workers hold a bank: "private" builds a
:class:`~provenance.search.HashIndex` in each (what every worker did before issue 17),
"shared" maps the file :mod:`provenance.banks.shared_index` writes once. Each process then
answers 300 searches (8 dihedral hashes each, T = 31) and reports its RSS and PSS (PSS splits
shared pages between the processes mapping them, so the PSS total is the machine's real cost)
and its median search latency. Writes its section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import run_header, update_section  # noqa: E402


def _mem() -> tuple[float, float]:
    """(RSS, PSS) of this process in MiB."""
    values = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if parts[0] in ("Rss:", "Pss:"):
            values[parts[0]] = int(parts[1]) / 1024
    return values["Rss:"], values["Pss:"]


def _worker(mode: str, source: str, queries: np.ndarray, ready, go, out) -> None:  # noqa: ANN001
    from provenance.banks.shared_index import open_index
    from provenance.search import HashIndex

    if mode == "private":
        index = HashIndex(np.load(source))
    else:
        index = open_index(Path(source)).index
    ready.set()
    go.wait()
    took = []
    for i in range(0, queries.shape[0], 8):
        start = time.perf_counter()
        index.search(queries[i : i + 8], 31)
        took.append(1000 * (time.perf_counter() - start))
    rss, pss = _mem()
    out.put((rss, pss, statistics.median(took)))


def run(mode: str, source: str, queries: np.ndarray, workers: int) -> list[tuple[float, float, float]]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    go = ctx.Event()
    readies = [ctx.Event() for _ in range(workers)]
    procs = [ctx.Process(target=_worker, args=(mode, source, queries, readies[i], go, out)) for i in range(workers)]
    for p in procs:
        p.start()
    for r in readies:
        r.wait()
    go.set()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hashes", type=int, default=10_000_000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    from provenance.banks.shared_index import write_index
    from provenance.search import HashIndex

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 2**64 - 1, size=(args.hashes, 4), dtype=np.uint64)
    queries = codes[rng.choice(args.hashes, 300 * 8, replace=False)].copy()
    queries[::2, 0] ^= np.uint64(0b1011)  # half of them near copies, 3 bits away
    with tempfile.TemporaryDirectory() as tmp:
        npy, idx = Path(tmp) / "codes.npy", Path(tmp) / "bank.idx"
        np.save(npy, codes)
        start = time.perf_counter()
        write_index(idx, HashIndex(codes), withdrawals=0, max_entry_id=args.hashes)
        built = time.perf_counter() - start
        del codes
        rows = []
        for mode, source in (("private", str(npy)), ("shared", str(idx))):
            res = run(mode, source, queries, args.workers)
            rss, pss, lat = zip(*res)
            rows.append(f"| {mode} | {statistics.mean(rss):,.0f} MiB | {sum(rss):,.0f} MiB | {sum(pss):,.0f} MiB | "
                        f"{statistics.median(lat):.2f} ms |")
            print(rows[-1], flush=True)
        size = idx.stat().st_size / 2**20
    body = (f"{args.hashes:,} random PDQ hashes, {args.workers} worker processes, 300 searches of 8 hashes (T = 31) "
            f"each; index file {size:,.0f} MiB, built and written once in {built:.0f} s.\n\n"
            "| bank index | RSS per worker | RSS total | PSS total (real) | median search |\n"
            "|---|---:|---:|---:|---:|\n" + "\n".join(rows))
    update_section("shared-index", "## Shared bank index per machine (issue 17)\n\n"
                   + run_header(" ".join(sys.argv)) + "\n\n" + body)
    print(body)


if __name__ == "__main__":
    main()
