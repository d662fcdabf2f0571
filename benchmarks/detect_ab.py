"""Same-run A/B of detection cost: this checkout against another one, in alternating processes.

Each round starts one child process per interpreter (this checkout's ``.venv`` and, by
default, the main checkout's), alternating their order; each child runs with one thread
(``PROVENANCE_FFT_WORKERS=1``, BLAS threads 1), decodes the same unmarked 1024x1024 JPEG and
times ``detect`` with the full and the quick search on ``--images`` unmarked photos (the
mean of each photo's median of ``--calls``, after a warm-up).
The report gives the median over rounds of each child's medians, the ratio B/A, and the
full search's speed as a fraction of the quick one's. Timings drift on a shared machine;
the ratios taken in one run are what hold.

Usage::

    python benchmarks/detect_ab.py --other /work/main/.venv/bin/python --rounds 7
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import _results
import corpus

_CHILD = r"""
import json, sys, time
import numpy as np
from provenance import watermark
from provenance.images import decode_image
calls = int(sys.argv[1])
blobs = [open(p, "rb").read() for p in sys.argv[2:]]
out = {}
for search in ("full", "quick"):
    watermark.detect(decode_image(blobs[0]), key="ab-key", search=search)
    medians = []
    for data in blobs:
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            image = decode_image(data)
            r = watermark.detect(image, key="ab-key", search=search)
            times.append((time.perf_counter() - t0) * 1e3)
        assert not r.detected
        medians.append(float(np.median(times)))
    out[search] = float(np.mean(medians))
print(json.dumps(out))
"""


def unmarked_jpegs(count: int) -> list[Path]:
    """1024x1024 centre crops of the first `count` corpus photos at 1024 px, as JPEG 90 (cached)."""
    corpus.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in corpus.corpus_images(short_side=1024, limit=count):
        path = corpus.CACHE_DIR / f"ab_unmarked_1024_{item.name.replace('@', '_')}.jpg"
        if not path.exists():
            image = corpus.load_corpus_image(item)
            top, left = (image.shape[0] - 1024) // 2, (image.shape[1] - 1024) // 2
            buf = io.BytesIO()
            Image.fromarray(image[top : top + 1024, left : left + 1024]).save(buf, format="JPEG", quality=90)
            path.write_bytes(buf.getvalue())
        paths.append(path)
    return paths


def run_child(python: str, paths: list[Path], calls: int) -> dict[str, float]:
    env = dict(os.environ, PROVENANCE_FFT_WORKERS="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    # Run from a neutral folder so that each interpreter imports its own installed checkout.
    proc = subprocess.run([python, "-c", _CHILD, str(calls), *map(str, paths)], capture_output=True, text=True,
                          env=env, cwd="/", check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--other", default="/work/main/.venv/bin/python", help="interpreter of the checkout to compare")
    parser.add_argument("--label", help="what the other checkout is, for the report (default: its interpreter)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=9)
    parser.add_argument("--images", type=int, default=4, help="unmarked photos, each timed (default 4)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    this = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python")
    paths = unmarked_jpegs(args.images)
    results: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    for r in range(args.rounds):
        order = [("A", args.other), ("B", this)]
        for label, python in order if r % 2 == 0 else order[::-1]:
            results[label].append(run_child(python, paths, args.calls))
            print(f"round {r} {label}: {results[label][-1]}", file=sys.stderr)
    med = {label: {s: float(np.median([x[s] for x in runs])) for s in ("full", "quick")} for label, runs in results.items()}
    lines = [
        "| checkout | full search ms | quick search ms | full req/s as % of quick |",
        "|---|---:|---:|---:|",
    ]
    for label, name in (("A", f"A: {args.label or f'`{args.other}`'}"), ("B", "B: this checkout")):
        m = med[label]
        lines.append(f"| {name} | {m['full']:.1f} | {m['quick']:.1f} | {100 * m['quick'] / m['full']:.0f}% |")
    lines += [
        "",
        f"- B/A, full search: {med['B']['full'] / med['A']['full']:.2f}; quick search: "
        f"{med['B']['quick'] / med['A']['quick']:.2f} (decode of the JPEG included in every call)",
        f"- {args.rounds} rounds of alternating child processes; in each, the mean over {len(paths)} photos of the"
        f" median of {args.calls} calls; one thread",
    ]
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        command = "python benchmarks/detect_ab.py " + " ".join(argv if argv is not None else sys.argv[1:])
        _results.update_section(
            "detect-ab", f"## Detection cost A/B: unmarked 1024x1024 JPEG\n\n{_results.run_header(command.strip())}\n\n{report}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
