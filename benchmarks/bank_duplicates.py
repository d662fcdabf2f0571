"""Bank import duplicate check: a 200,000-row import into an empty bank, then a 5,000-row list
(half already in the bank) imported with ``skip_existing``. Run it once per code version (old vs
new on ``PYTHONPATH``), alternating, and compare medians.

Usage::

    python benchmarks/bank_duplicates.py sqlite
    PROVENANCE_TEST_POSTGRES_URL=... python benchmarks/bank_duplicates.py postgresql
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid

import numpy as np
import sqlalchemy as sa

from provenance.banks import Banks
from provenance.registry import Registry


def _hexes(rng: np.random.Generator, n: int) -> list[str]:
    return [row.tobytes().hex() for row in rng.integers(0, 256, (n, 32), dtype=np.uint8)]


def main(backend: str) -> dict:
    rng = np.random.default_rng(7)
    big = _hexes(rng, 200_000)
    small = big[:2_500] + _hexes(rng, 2_500)
    admin = schema = None
    if backend == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp()}/registry.sqlite"
    else:
        base = os.environ["PROVENANCE_TEST_POSTGRES_URL"]
        schema, admin = "bench_" + uuid.uuid4().hex[:8], sa.create_engine(base)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    try:
        with Registry(url) as registry:
            banks = Banks(registry)
            banks.create("b", label="ncii")
            started = time.perf_counter()
            banks.import_hashes("b", ("\n".join(big) + "\n").encode(), format="csv")
            t_big = time.perf_counter() - started
            started = time.perf_counter()
            result = banks.import_hashes("b", ("\n".join(small) + "\n").encode(), format="csv", skip_existing=True)
            t_small = time.perf_counter() - started
            assert (result.added, result.skipped) == (2_500, 2_500), result
    finally:
        if admin is not None:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()
    return {"backend": backend, "import_200k_s": round(t_big, 3), "import_5k_into_200k_s": round(t_small, 4)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite")))
