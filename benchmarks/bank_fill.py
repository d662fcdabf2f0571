"""Fill a hash bank with random PDQ hashes through the ordinary import path, fast enough for 10M.

    python benchmarks/bank_fill.py --hashes 10000000 --instance /tmp/instance

Used by ``benchmarks/load.py --bank-hashes N`` to put a large bank behind the web app. The
hashes go in as CSV hash lists of ``--chunk`` rows through :meth:`Banks.import_hashes` (the
same parse, checks and bulk insert as ``provenance bank import``), one transaction per chunk,
so memory stays bounded whatever N is; the bank's counters are kept by the import itself.
Random 256-bit hashes never collide in practice, and the generator is seeded, so a fill is
reproducible.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["BankFill", "fill_bank", "random_hash_csv"]

DEFAULT_CHUNK = 1_000_000


@dataclass(frozen=True)
class BankFill:
    """What :func:`fill_bank` did: the bank, how many hashes it holds now, and how long the import took."""

    name: str
    hashes: int
    seconds: float


def random_hash_csv(count: int, rng: np.random.Generator) -> tuple[bytes, np.ndarray]:
    """A CSV hash list of `count` random PDQ hashes (one ``hash`` column), and the packed hashes."""
    from provenance.banks.index import unpack_hex

    codes = rng.integers(0, 2**64, size=(count, 4), dtype=np.uint64, endpoint=False)
    return ("hash\n" + "\n".join(unpack_hex(codes)) + "\n").encode("ascii"), codes


def fill_bank(settings, name: str, count: int, *, label: str = "load-benchmark", threshold: int = 31,  # noqa: ANN001
              chunk: int = DEFAULT_CHUNK, seed: int = 0, progress=None) -> BankFill:  # noqa: ANN001
    """Create bank `name` (or add to it) and import `count` random PDQ hashes in chunks of `chunk`.

    Parameters
    ----------
    settings : provenance.Settings
        Names the registry (SQLite in the instance folder, or PostgreSQL).
    name : str
    count : int
        Hashes to add.
    chunk : int
        Rows per import (per transaction).
    seed : int
        Seeds the hashes: the same seed gives the same hashes.
    progress : callable, optional
        Called with the number of hashes added so far after each chunk.

    Returns
    -------
    BankFill
    """
    from provenance.banks import Banks
    from provenance.errors import BankNotFoundError

    if count < 0 or chunk < 1:
        raise ValueError(f"count must be >= 0 and chunk >= 1; got {count} and {chunk}.")
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    with Banks.open(settings) as banks:
        try:
            banks.get(name)
        except BankNotFoundError:
            banks.create(name, label=label, threshold=threshold)
        done = 0
        while done < count:
            n = min(chunk, count - done)
            text, _ = random_hash_csv(n, rng)
            banks.import_hashes(name, text, format="csv")
            done += n
            if progress is not None:
                progress(done)
        held = banks.get(name).pdq_count
    return BankFill(name, int(held), time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hashes", type=int, required=True)
    parser.add_argument("--instance", type=Path, required=True, help="instance folder (its SQLite registry)")
    parser.add_argument("--bank", default="load-bench")
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from provenance import Settings

    fill = fill_bank(Settings(instance_path=args.instance), args.bank, args.hashes, chunk=args.chunk,
                     progress=lambda n: print(f"{n:,} hashes", file=sys.stderr, flush=True))
    print(f"bank {fill.name}: {fill.hashes:,} PDQ hashes, filled in {fill.seconds:.1f} s")


if __name__ == "__main__":
    main()
