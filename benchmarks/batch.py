"""Batch jobs on Dask: files/s for plain ``provenance verify`` vs ``provenance batch verify`` with 1 and
2 workers on the same files, and a sweep of a large content index against a bank.

    python benchmarks/batch.py files --count 200 --runs 3
    python benchmarks/batch.py sweep --rows 10000000 --bank 10000

Timings alternate the three ways per run and report medians (the machine is shared). Writes
its section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import run_header, update_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _make_files(folder: Path, count: int) -> None:
    """`count` 512x512 JPEG crops of the sample photos (a typical upload size after resizing)."""
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((ROOT.parent / "shared" / "samples").glob("*.png"))]
    rng = np.random.default_rng(0)
    for i in range(count):
        photo = photos[i % len(photos)]
        big = np.asarray(Image.fromarray(photo).resize((768, 1152) if photo.shape[0] > photo.shape[1] else (1152, 768)))
        y, x = rng.integers(0, big.shape[0] - 512), rng.integers(0, big.shape[1] - 512)
        Image.fromarray(big[y : y + 512, x : x + 512]).save(folder / f"f{i:05d}.jpg", quality=90)


def _timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode not in (0, 2):
        raise SystemExit(f"{cmd} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - start


def files(count: int, runs: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        _make_files(tmp / "in", count)
        env = {**os.environ, "PROVENANCE_INSTANCE_PATH": str(tmp / "instance"), "PROVENANCE_DATABASE_URL": ""}
        subprocess.run([BIN / "provenance", "verify", str(tmp / "in" / "f00000.jpg")], env=env,
                       stdout=subprocess.DEVNULL, check=True)  # dev keys made once, outside the timings
        ways = {
            "provenance verify (1 process)": lambda r: [BIN / "provenance", "verify", str(tmp / "in"), "--json"],
            "batch verify, 1 Dask worker": lambda r: [BIN / "provenance", "batch", "verify", str(tmp / "in"),
                                                      "--out", str(tmp / f"w1-{r}"), "--workers", "1"],
            "batch verify, 2 Dask workers": lambda r: [BIN / "provenance", "batch", "verify", str(tmp / "in"),
                                                       "--out", str(tmp / f"w2-{r}"), "--workers", "2"],
        }
        times: dict[str, list[float]] = {k: [] for k in ways}
        for r in range(runs):
            for name, cmd in ways.items():
                times[name].append(_timed(cmd(r), env))
                print(f"run {r} {name}: {times[name][-1]:.1f} s", flush=True)
    base = statistics.median(times["provenance verify (1 process)"])
    lines = ["| way | median wall time | files/s | vs plain CLI |", "|---|---:|---:|---:|"]
    for name, ts in times.items():
        m = statistics.median(ts)
        lines.append(f"| {name} | {m:.1f} s | {count / m:.1f} | {base / m:.2f}x |")
    return (f"Verify {count} JPEGs (512x512), SQLite registry, {runs} alternating runs, medians; wall time "
            "includes process start and, for Dask, starting the LocalCluster.\n\n" + "\n".join(lines))


def sweep(rows: int, bank: int, row_group: int) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from distributed import Client, LocalCluster

    from provenance.banks.index import unpack_hex
    from provenance.batch.sweep import sweep as run_sweep

    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "index.parquet"
        start = time.perf_counter()
        with pq.ParquetWriter(path, pa.schema([("path", pa.string()), ("pdq", pa.string())])) as writer:
            for lo in range(0, rows, row_group):
                n = min(row_group, rows - lo)
                codes = rng.integers(0, 2**63, size=(n, 4), dtype=np.uint64)
                writer.write_table(pa.table({"path": [f"s3://archive/{i}.jpg" for i in range(lo, lo + n)],
                                             "pdq": unpack_hex(codes)}))
        made = time.perf_counter() - start
        bank_codes = rng.integers(0, 2**63, size=(bank, 4), dtype=np.uint64)
        planted = pq.ParquetFile(path).read_row_group(0, columns=["pdq"]).column(0).to_pylist()[:100]
        values = unpack_hex(bank_codes)[: bank - len(planted)] + planted
        results = []
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as lc, Client(lc) as c:
                start = time.perf_counter()
                summary = run_sweep(c, path, "bench", values, 31, tmp / "m.parquet")
                took = time.perf_counter() - start
            assert summary.matches >= len(planted), summary
            results.append(f"| {workers} | {took:.1f} s | {rows / took:,.0f} | {summary.matches} |")
            print(results[-1], flush=True)
    return (f"Sweep of a {rows:,}-row content index (random PDQ, row groups of {row_group:,}) against a "
            f"{bank:,}-hash bank (100 planted exact copies), threshold 31; index written in {made:.0f} s.\n\n"
            "| Dask workers | wall time | index rows/s | matches |\n|---:|---:|---:|---:|\n" + "\n".join(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    f = sub.add_parser("files")
    f.add_argument("--count", type=int, default=2000)
    f.add_argument("--runs", type=int, default=3)
    s = sub.add_parser("sweep")
    s.add_argument("--rows", type=int, default=10_000_000)
    s.add_argument("--bank", type=int, default=10_000)
    s.add_argument("--row-group", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.what == "files":
        body = files(args.count, args.runs)
        update_section("batch-files", "## Batch verify on Dask (issue 17)\n\n"
                       + run_header(" ".join(sys.argv)) + "\n\n" + body)
    else:
        body = sweep(args.rows, args.bank, args.row_group)
        update_section("batch-sweep", "## Batch sweep (issue 17)\n\n" + run_header(" ".join(sys.argv)) + "\n\n" + body)
    print(body)


if __name__ == "__main__":
    main()
