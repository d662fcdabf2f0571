"""Loading a large bank: the first match of a worker, which reads every PDQ hash from the registry and indexes it.

    python benchmarks/bank_load.py --instance DIR --runs 2     # DIR holds a bank filled by bank_fill.py

Each way runs in a fresh process (alternating, ``--runs`` times; medians) and reports its wall
time and peak RSS:

* ``before``: the bank read the way it was before (one ``SELECT ... .all()`` into SQLAlchemy
  rows, then packed; that function is swapped back in for the process), indexed in memory;
* ``private``: :class:`~provenance.banks.Banks` with no index folder (each gunicorn worker
  with ``PROVENANCE_BANK_INDEX_DIR=``): read in batches from the driver's cursor, indexed in memory;
* ``shared, build``: with an empty index folder: the same read, then the index file written
  (what the first worker on a machine does after a withdrawal);
* ``shared, map``: the file exists: the worker maps it and reads nothing but newer entries.

Writes its section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import run_header, update_section  # noqa: E402

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np
import sqlalchemy as sa
from provenance import Settings
from provenance.banks import Banks
from provenance.hashing import PerceptualHash
from provenance.registry import Registry

way, instance, bank, index_dir = sys.argv[1:5]
settings = Settings(instance_path=Path(instance))
if way == "before":  # the read as it was (git b058d6d), swapped in for this process only
    import provenance.banks.index as bank_index
    from provenance.registry.schema import bank_entries as e
    from provenance.search import HashIndex

    def _read_all_before(conn, bank_id):
        rows = conn.execute(sa.select(e.c.entry_id, e.c.value).where(e.c.bank_id == bank_id, e.c.kind == "pdq")).all()
        return HashIndex(bank_index.pack_hex([r[1] for r in rows])), int(max((r[0] for r in rows), default=0))

    bank_index._read_all = _read_all_before
start = time.perf_counter()
with Banks(Registry.open(settings), owns_registry=True, index_dir=index_dir or None) as banks:
    banks.match(PerceptualHash.from_hex("0" * 64))
    size = sum(x.size for x in banks._loaded.values() if x.name == bank)
took = time.perf_counter() - start
print(json.dumps({"seconds": took, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "size": size}))
"""


def _run(way: str, instance: Path, bank: str, index_dir: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, way, str(instance), bank, index_dir],
                         capture_output=True, text=True, env={**os.environ, "PROVENANCE_BANK_INDEX_DIR": ""})
    if out.returncode:
        raise SystemExit(f"{way} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instance", type=Path, required=True)
    parser.add_argument("--bank", default="load-bench")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    ways = ("before", "private", "shared, build", "shared, map")
    got: dict[str, list[dict]] = {w: [] for w in ways}
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        idx = Path(tmp) / "bank-index"
        for r in range(args.runs):
            for way in ways:
                if way == "shared, build":
                    shutil.rmtree(idx, ignore_errors=True)
                loads.append(os.getloadavg()[0])
                res = _run(way.split(",")[0], args.instance, args.bank, str(idx) if way.startswith("shared") else "")
                got[way].append(res)
                print(f"run {r} {way}: {res['seconds']:.1f} s, peak RSS {res['peak_rss_mib']:,.0f} MiB", flush=True)
        file_mib = sum(f.stat().st_size for f in idx.glob("*.idx")) / 2**20
    size = got["private"][0]["size"]
    base = statistics.median(x["seconds"] for x in got["before"])
    lines = ["| way | median wall time | vs before | peak RSS (median) |", "|---|---:|---:|---:|"]
    for way, res in got.items():
        m = statistics.median(x["seconds"] for x in res)
        lines.append(f"| {way} | {m:.1f} s | {base / m:.2f}x | {statistics.median(x['peak_rss_mib'] for x in res):,.0f} MiB |")
    body = (f"First match of a fresh process against a bank of {size:,} random PDQ hashes in a SQLite registry "
            f"(reads and indexes the bank), {args.runs} alternating runs, medians; index file {file_mib:,.0f} MiB; "
            f"load average (1 min) at the starts: {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores.\n\n"
            + "\n".join(lines))
    update_section("bank-load", "## Loading a large bank (issue 17)\n\n" + run_header(" ".join(sys.argv)) + "\n\n" + body)
    print(body)


if __name__ == "__main__":
    main()
