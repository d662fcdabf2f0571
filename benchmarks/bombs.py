"""What a small hostile file costs one verification: time and peak memory, before and after the guards.

::

    python benchmarks/bombs.py                          # this checkout; writes RESULTS.md
    python benchmarks/bombs.py --before /work/main      # the same files through another checkout too

Each case runs ``Verifier.verify`` (no registry) in a fresh process, three times alternately
with the other checkout's when ``--before`` is given; the table gives medians of wall time and
of the peak RSS the verification added (``ru_maxrss`` after minus before).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from provenance.errors import ProvenanceError
from provenance.report import Verifier
from provenance.settings import Settings
data = open(sys.argv[2], "rb").read()
with Verifier(Settings().with_instance(sys.argv[3]), use_registry=False) as verifier:
    verifier.verify(open(sys.argv[4], "rb").read())  # warm up: imports, keys, c2pa context
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        outcome = verifier.verify(data).verdict.code
    except ProvenanceError as exc:
        outcome = type(exc).__name__
    seconds = time.perf_counter() - started
print(json.dumps({"outcome": outcome, "seconds": seconds,
                  "rss_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024}))
"""


#: The lossless bitstream libwebp writes for an image of one colour, whatever its size.
_ONE_COLOUR = bytes.fromhex("075094e215b9ff8188e87f00")


def lossless_webp(width: int, height: int, *, pad: int = 0) -> bytes:
    """A valid one-colour lossless WebP of width x height (38 bytes), plus a `pad`-byte JUNK chunk."""
    bits = (width - 1) | ((height - 1) << 14)
    vp8l = b"\x2f" + struct.pack("<I", bits) + _ONE_COLOUR
    chunks = b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l + b"\0"  # chunks are padded to even sizes
    if pad:
        chunks += b"JUNK" + struct.pack("<I", pad) + b"\x00" * pad
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


def photo_webp(side: int) -> bytes:
    """A real photograph scaled to side x side, lossless WebP (a legitimate large file)."""
    from PIL import Image

    with Image.open(REPO.parent / "shared" / "samples" / "kodim03.png") as im:
        big = im.convert("RGB").resize((side, side), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    big.save(out, "WEBP", lossless=True, method=0)
    return out.getvalue()


CASES = {
    "38-byte WebP, 10,900 x 10,900 (119 MP)": lambda: lossless_webp(10_900, 10_900),
    "WebP, 9,400 x 9,400 (88 MP) padded to 87 KB": lambda: lossless_webp(9_400, 9_400, pad=87_000),
    "WebP, 7,700 x 7,700 (59 MP) padded to 240 KB (the most both guards allow)":
        lambda: lossless_webp(7_700, 7_700, pad=240_000),
    "lossless WebP photo, 3,000 x 3,000 (9 MP)": lambda: photo_webp(3_000),
}


def run(checkout: Path, path: Path, instance: Path, warm: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(checkout), str(path), str(instance), str(warm)],
                         capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout to compare with (e.g. the main branch)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    checkouts = {"after": REPO} | ({"before": args.before.resolve()} if args.before else {})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm.png"
        warm.write_bytes((REPO.parent / "shared" / "samples" / "kodim03.png").read_bytes())
        for label, make in CASES.items():
            path = Path(tmp) / "case.bin"
            data = make()
            path.write_bytes(data)
            results: dict[str, list[dict]] = {name: [] for name in checkouts}
            for _ in range(args.runs):  # alternate the checkouts: both see the same machine load
                for name, checkout in checkouts.items():
                    results[name].append(run(checkout, path, Path(tmp) / f"inst-{name}", warm))
            for name in checkouts:
                got = results[name]
                rows.append((label, len(data), name, got[0]["outcome"], statistics.median(r["seconds"] for r in got),
                             statistics.median(r["rss_mib"] for r in got)))
                print(rows[-1], flush=True)
    lines = ["| file | bytes | code | outcome | median s | median added peak RSS MiB |", "|---|---:|---|---|---:|---:|"]
    lines += [f"| {r[0]} | {r[1]:,} | {r[2]} | {r[3]} | {r[4]:.2f} | {r[5]:.0f} |" for r in rows]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _results import run_header, update_section

        command = "python benchmarks/bombs.py" + (f" --before {args.before}" if args.before else "")
        update_section("bombs", f"## Decompression bombs (hostile input)\n\n{run_header(command)}\n\n"
                       f"One `Verifier.verify` per fresh process (warmed up on one photo), medians of {args.runs} "
                       f"alternating runs. `before` is the code without the pixels-per-byte check and the decode "
                       f"budget.\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
