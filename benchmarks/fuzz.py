"""Fuzz every decoder path of the web app with truncated and mutated copies of the shared fixtures.

::

    python benchmarks/fuzz.py                  # 40 mutations per format (7 formats), writes RESULTS.md
    python benchmarks/fuzz.py --cases 5 --no-write

Each mutated file is sent to ``POST /api/v1/verify`` and ``POST /api/v1/hash`` of a real app
(Flask test client, no registry server needed: SQLite in a temporary instance folder). The table
counts answers by class; the bar is 0 answers 5xx and 0 exceptions escaping the app. Each format
runs in its own process, so that its peak RSS is its own; the slowest request is timed.

``tests/test_fuzz.py`` runs the same mutations on a small seeded sample by default, and the full
set with ``pytest --run-slow tests/test_fuzz.py``.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from provenance import Settings  # noqa: E402
from provenance.images import read_source  # noqa: E402

#: Fixtures per format, under ../shared/c2pa-fixtures (TIFF and GIF are made from a sample photo).
FIXTURES = {
    "JPEG": "pub_adobe-20220124-A.jpg",
    "PNG": "gen_ai_generated.png",
    "WebP": "rs_test.webp",
    "AVIF": "gen_sample1.avif",
    "HEIC": "gen_sample1.heic",
    "TIFF": None,
    "GIF": None,
}
ENDPOINTS = ("/api/v1/verify", "/api/v1/hash")


def shared_dir() -> Path:
    """``../shared`` beside the checkout, or ``$PROVENANCE_SHARED``."""
    return Settings.from_env().shared_path or REPO.parent / "shared"


def fixture_bytes(fmt: str, shared: Path) -> bytes:
    """The original file of `fmt`."""
    name = FIXTURES[fmt]
    if name is not None:
        return read_source(shared / "c2pa-fixtures" / name).data
    with Image.open(shared / "samples" / "kodim03.png") as im:
        small = im.convert("RGB").resize((192, 128))
    out = io.BytesIO()
    small.save(out, "TIFF" if fmt == "TIFF" else "GIF")
    return out.getvalue()


def mutations(data: bytes, *, seed: int, count: int) -> Iterator[tuple[str, bytes]]:
    """`count` damaged copies of `data`: truncations, flipped bytes, overwritten blocks (seeded)."""
    rng = random.Random(seed)
    for i in range(count):
        kind = ("truncate", "flip", "block")[i % 3]
        if kind == "truncate":
            cut = rng.randrange(16, len(data))
            yield f"truncate@{cut}", data[:cut]
        elif kind == "flip":
            out = bytearray(data)
            spots = [rng.randrange(len(data)) for _ in range(rng.randint(1, 16))]
            for spot in spots:
                out[spot] = rng.randrange(256)
            yield f"flip{len(spots)}@{spots[0]}", bytes(out)
        else:
            at = rng.randrange(len(data) - 64)
            out = bytearray(data)
            out[at:at + 64] = bytes([rng.randrange(256)]) * 64
            yield f"block64@{at}", bytes(out)


@dataclass(frozen=True)
class FormatRun:
    """What one format's mutations got from the app."""

    fmt: str
    requests: int
    ok: int
    client_errors: int
    server_errors: int
    uncaught: int
    max_ms: float
    max_rss_mib: float
    failures: tuple[str, ...]


def run_format(fmt: str, *, seed: int, count: int, shared: Path) -> FormatRun:
    """Send `count` mutations of the `fmt` fixture to every endpoint; count the answers."""
    from webapp import create_app

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings().with_instance(Path(tmp) / "instance")
        app = create_app({"TESTING": True, "PROPAGATE_EXCEPTIONS": True, "RATELIMIT_ENABLED": False,
                          "PROVENANCE_SETTINGS": settings})
        client = app.test_client()
        counts = {"ok": 0, "4xx": 0, "5xx": 0, "uncaught": 0}
        failures: list[str] = []
        slowest = 0.0
        for label, data in mutations(fixture_bytes(fmt, shared), seed=seed, count=count):
            for endpoint in ENDPOINTS:
                started = time.perf_counter()
                try:
                    status = client.post(endpoint, data=data, content_type="application/octet-stream").status_code
                except Exception as exc:  # noqa: BLE001 - an exception escaping the app is what we count
                    counts["uncaught"] += 1
                    failures.append(f"{fmt} {label} {endpoint}: {type(exc).__name__}: {exc}")
                    continue
                slowest = max(slowest, time.perf_counter() - started)
                key = "5xx" if status >= 500 else "4xx" if status >= 400 else "ok"
                counts[key] += 1
                if key == "5xx":
                    failures.append(f"{fmt} {label} {endpoint}: {status}")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return FormatRun(fmt, count * len(ENDPOINTS), counts["ok"], counts["4xx"], counts["5xx"], counts["uncaught"],
                         1000 * slowest, rss, tuple(failures))


def _run_in_child(args: tuple[str, int, int, str]) -> FormatRun:
    fmt, seed, count, shared = args
    return run_format(fmt, seed=seed, count=count, shared=Path(shared))


def table(runs: list[FormatRun]) -> str:
    """A Markdown table of the runs."""
    lines = ["| format | requests | 2xx | 4xx | 5xx | uncaught | slowest request ms | peak RSS MiB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        lines.append(f"| {r.fmt} | {r.requests} | {r.ok} | {r.client_errors} | {r.server_errors} | {r.uncaught} "
                     f"| {r.max_ms:.0f} | {r.max_rss_mib:.0f} |")
    total = [sum(getattr(r, f) for r in runs) for f in ("requests", "ok", "client_errors", "server_errors", "uncaught")]
    lines.append(f"| **all** | {' | '.join(str(t) for t in total)} | {max(r.max_ms for r in runs):.0f} "
                 f"| {max(r.max_rss_mib for r in runs):.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40, help="mutations per format (default 40)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/RESULTS.md alone")
    args = parser.parse_args(argv)
    shared = shared_dir()
    jobs = [(fmt, args.seed, args.cases, str(shared)) for fmt in FIXTURES]
    # One fresh process per format (maxtasksperchild=1): each peak RSS is that format's own.
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        runs = pool.map(_run_in_child, jobs, chunksize=1)
    text = table(runs)
    print(text)
    for run in runs:
        for failure in run.failures:
            print("FAIL", failure)
    if not args.no_write:
        from _results import run_header, update_section

        body = (f"## Fuzzing the decoders (hostile input)\n\n{run_header('python benchmarks/fuzz.py')}\n\n"
                f"{args.cases} mutations per format (truncations, 1-16 random bytes, a 64-byte block; seed "
                f"{args.seed}), each sent to {' and '.join(ENDPOINTS)}. The bar: 0 answers 5xx, 0 uncaught.\n\n{text}\n")
        update_section("fuzz", body)
    return 0 if all(r.server_errors == 0 and r.uncaught == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
