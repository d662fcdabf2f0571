"""Embed and detect speed at 512, 1024 and 2048 px, peak memory at 50 megapixels, against dwtDct.

Timings: median over ``--runs`` calls in this process after one warm-up call, on a square
centre crop of a corpus photograph resized to that shorter side. The baseline
(invisible-watermark ``dwtDct``) is timed on the same crops in the same run.

Memory: each 50-megapixel embed or detect runs in a fresh child process, which builds
the image, resets its peak-RSS counter (``/proc/self/clear_refs``), makes the one call
and reports ``VmHWM``: the peak, with the input image (143 MiB) included.

Usage::

    python benchmarks/speed.py                  # ours vs dwtDct, 10 runs, 50 MP memory for ours
    python benchmarks/speed.py --runs 3 --no-rss
    python benchmarks/speed.py --rss-competitor # also 50 MP memory for dwtDct (minutes: it loops in Python)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

import _results
import competitor
import corpus

SIZES = (512, 1024, 2048)
MEGAPIXEL_SHAPE = (5774, 8660)  # height, width: 50.0 MP at 3:2
PAYLOAD = bytes.fromhex("0123456789abcdef")
KEY = "speed-benchmark-key"


def photo_crop(side: int) -> np.ndarray:
    """A side x side centre crop of the first corpus photo at shorter side `side`."""
    item = corpus.corpus_images(short_side=side, limit=1)[0]
    image = corpus.load_corpus_image(item)
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    return np.ascontiguousarray(image[top : top + side, left : left + side])


def time_engine(engine: competitor.Engine, image: np.ndarray, runs: int) -> tuple[float, float]:
    """Median embed and detect milliseconds over `runs` calls, after one warm-up call of each."""
    marked = engine.embed(image, PAYLOAD, KEY)
    engine.detect(marked, KEY)
    embed_ms, detect_ms = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        marked = engine.embed(image, PAYLOAD, KEY)
        embed_ms.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        engine.detect(marked, KEY)
        detect_ms.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(embed_ms)), float(np.median(detect_ms))


# --- peak memory, in a child process ---------------------------------------------------------


#: Detection cases at 1024 px: the grid found at once, the lattice search, and nothing to find.
DETECT_CASES = ("marked", "marked, jpeg75", "marked, resize0.75", "marked, rotate5", "unmarked")


def time_detect_cases(engine: competitor.Engine, image: np.ndarray, runs: int) -> dict[str, float]:
    """Median detect ms per case of :data:`DETECT_CASES` (attacks from provenance.attacks)."""
    from provenance.attacks import ATTACKS

    marked = engine.embed(image, PAYLOAD, KEY)
    inputs = {
        "marked": marked,
        "marked, jpeg75": ATTACKS["jpeg75"](marked),
        "marked, resize0.75": ATTACKS["resize0.75"](marked),
        "marked, rotate5": ATTACKS["rotate5"](marked),
        "unmarked": image,
    }
    out = {}
    for case, img in inputs.items():
        engine.detect(img, KEY)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            engine.detect(img, KEY)
            times.append((time.perf_counter() - t0) * 1e3)
        out[case] = float(np.median(times))
    return out


def _vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _large_image() -> np.ndarray:
    photo = corpus.load_photo(corpus.list_photos()[0])
    height, width = MEGAPIXEL_SHAPE
    return np.array(Image.fromarray(photo).resize((width, height), Image.Resampling.BICUBIC))


def _child(mode: str, engine_name: str) -> None:
    engine = competitor.load_engine(engine_name)
    image = _large_image()
    if mode == "detect":
        image = engine.embed(image, PAYLOAD, KEY)
    reset = _reset_peak()
    before = _vm_kib("VmRSS")
    t0 = time.perf_counter()
    if mode == "embed":
        engine.embed(image, PAYLOAD, KEY)
    else:
        engine.detect(image, KEY)
    seconds = time.perf_counter() - t0
    print(json.dumps({"peak_kib": _vm_kib("VmHWM"), "before_kib": before, "seconds": seconds, "reset": reset}))


def measure_peak(mode: str, engine_name: str) -> dict:
    """Run one 50 MP `mode` ("embed" or "detect") in a fresh child; return its figures."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--engine", engine_name]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=corpus.BENCH_DIR)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- report ----------------------------------------------------------------------------------


def _ratio(ours: float, theirs: float | None) -> str:
    return f"{ours / theirs:.2f}" if theirs else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=list(competitor.ENGINES), default="ours")
    parser.add_argument("--runs", type=int, default=10, help="timed calls per size (2048 px: a third)")
    parser.add_argument("--no-competitor", action="store_true", help="skip dwtDct")
    parser.add_argument("--no-rss", action="store_true", help="skip the 50 MP peak-memory children")
    parser.add_argument("--rss-competitor", action="store_true", help="also measure dwtDct at 50 MP (slow)")
    parser.add_argument("--write", action="store_true", help="update RESULTS.md even for --engine null")
    parser.add_argument("--no-write", action="store_true", help="leave RESULTS.md alone")
    parser.add_argument("--child", choices=("embed", "detect"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.engine)
        return 0

    ours = competitor.load_engine(args.engine)
    theirs = None if args.no_competitor or args.engine == "dwtdct" else competitor.load_engine("dwtdct")
    label = "ours" if args.engine == "ours" else args.engine
    lines = [
        f"| size | {label} embed ms | {label} detect ms | dwtDct embed ms | dwtDct detect ms "
        "| embed ratio (ours/theirs) | detect ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for side in SIZES:
        image = photo_crop(side)
        runs = args.runs if side < 2048 else max(3, args.runs // 3)
        e_ms, d_ms = time_engine(ours, image, runs)
        te_ms = td_ms = None
        if theirs is not None:
            te_ms, td_ms = time_engine(theirs, image, runs)
        fmt = lambda v: f"{v:.0f}" if v is not None else "-"  # noqa: E731
        lines.append(
            f"| {side}x{side} | {e_ms:.0f} | {d_ms:.0f} | {fmt(te_ms)} | {fmt(td_ms)} "
            f"| {_ratio(e_ms, te_ms)} | {_ratio(d_ms, td_ms)} |"
        )
        print(lines[-1], file=sys.stderr, flush=True)

    cases = time_detect_cases(ours, photo_crop(1024), args.runs)
    lines += [
        "",
        f"Detect at 1024x1024 by case ({label}; an unmarked image or a resized/rotated one takes the full "
        "lattice search, an unchanged grid is found at once):",
        "",
        "| " + " | ".join(cases) + " |",
        "|" + "---:|" * len(cases),
        "| " + " | ".join(f"{v:.0f} ms" for v in cases.values()) + " |",
    ]
    print("\n".join(lines[-3:]), file=sys.stderr, flush=True)

    if not args.no_rss:
        mp = MEGAPIXEL_SHAPE[0] * MEGAPIXEL_SHAPE[1] / 1e6
        input_mib = MEGAPIXEL_SHAPE[0] * MEGAPIXEL_SHAPE[1] * 3 / 2**20
        lines += [
            "",
            f"Peak memory at {MEGAPIXEL_SHAPE[1]}x{MEGAPIXEL_SHAPE[0]} ({mp:.1f} MP; the input array alone is "
            f"{input_mib:.0f} MiB), one call in a fresh process:",
            "",
            "| engine | call | peak RSS MiB | RSS before the call MiB | seconds |",
            "|---|---|---:|---:|---:|",
        ]
        engines = [args.engine] + (["dwtdct"] if args.rss_competitor and args.engine != "dwtdct" else [])
        for name in engines:
            for mode in ("embed", "detect"):
                r = measure_peak(mode, name)
                note = "" if r["reset"] else " (peak not reset: includes building the image)"
                lines.append(
                    f"| {name} | {mode} | {r['peak_kib'] / 1024:.0f}{note} | {r['before_kib'] / 1024:.0f} "
                    f"| {r['seconds']:.2f} |"
                )
                print(lines[-1], file=sys.stderr, flush=True)

    report = "\n".join(lines)
    report += f"\n\n- timings: median of {args.runs} calls (2048 px: {max(3, args.runs // 3)}) after a warm-up, one process"
    print(report)
    command = "python benchmarks/speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.write or not (args.no_write or args.engine == "null"):
        _results.update_section("speed", f"## Speed and memory\n\n{_results.run_header(command.strip())}\n\n{report}")
        print(f"\nupdated section 'speed' of {_results.RESULTS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
