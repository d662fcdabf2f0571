"""Key rings: detection with several keys, the keyless work shared (``detect_keys``) against a loop of ``detect``.

A service that rotates keys verifies every upload with each key of its ring. ``detect_keys``
makes the size-normalised grid, its whitening, the lattice proposals and the folded spectra
once and runs only the shift search per key; the loop (what the verifier did before) repeats
everything per key. Both give the same result (tests/test_watermark.py). Timed side by side in
one process with one thread, alternating the two within every round, on unmarked 1024x1024
JPEGs (decode included, as at the server); the report gives medians over rounds.

Usage::

    python benchmarks/keyring.py                 # rings of 1-4 keys, 5 rounds
    python benchmarks/keyring.py --rounds 9 --no-write
"""

from __future__ import annotations

import os

for _var in ("PROVENANCE_FFT_WORKERS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import _results  # noqa: E402
from detect_ab import unmarked_jpegs  # noqa: E402
from provenance import watermark  # noqa: E402
from provenance.images import decode_image  # noqa: E402


def _loop(data: bytes, keys: list[str], search: str) -> watermark.WatermarkResult:
    image = decode_image(data)
    best = None
    for key in keys:
        result = watermark.detect(image, key=key, search=search)
        if result.detected:
            return result
        best = result if best is None or result.score > best.score else best
    assert best is not None
    return best


def _shared(data: bytes, keys: list[str], search: str) -> watermark.WatermarkResult:
    return watermark.detect_keys(decode_image(data), keys, search=search)[1]


def _ms(fn, *args) -> float:
    t0 = time.perf_counter()
    result = fn(*args)
    assert not result.detected
    return (time.perf_counter() - t0) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--max-keys", type=int, default=4)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    blobs = [p.read_bytes() for p in unmarked_jpegs(args.images)]
    rings = range(1, args.max_keys + 1)
    times: dict[tuple[str, int, str], list[float]] = {}
    for search in watermark.SEARCH_MODES:
        _shared(blobs[0], ["warm-up"], search)
        _loop(blobs[0], ["warm-up"], search)
    for r in range(args.rounds):
        for n in rings:
            keys = [f"ring-key-{i}" for i in range(n)]
            for search in watermark.SEARCH_MODES:
                order = (("loop", _loop), ("shared", _shared))
                for name, fn in order if (r + n) % 2 == 0 else order[::-1]:
                    per_image = [_ms(fn, data, keys, search) for data in blobs]
                    times.setdefault((search, n, name), []).append(float(np.mean(per_image)))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    med = {k: float(np.median(v)) for k, v in times.items()}
    lines = [
        "| search | keys | loop of detect, ms | detect_keys, ms | detect_keys / loop | detect_keys / one key |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for search in watermark.SEARCH_MODES:
        for n in rings:
            loop, shared = med[(search, n, "loop")], med[(search, n, "shared")]
            lines.append(f"| {search} | {n} | {loop:.1f} | {shared:.1f} | {shared / loop:.2f} | "
                         f"{shared / med[(search, 1, 'shared')]:.2f} |")
    lines += ["", f"- {args.rounds} rounds; in each, the mean over {len(blobs)} unmarked 1024x1024 JPEG photos (decode "
              "included) of one call, the two ways alternating; one thread; medians over rounds"]
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        command = "python benchmarks/keyring.py " + " ".join(argv if argv is not None else sys.argv[1:])
        _results.update_section("keyring", f"## Key rings: detection with several keys\n\n"
                                           f"{_results.run_header(command.strip())}\n\n{report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
