"""False positives: detect with random keys on many unmarked images; every detection is a false one.

Images come lazily from :func:`corpus.unmarked_image` (photo crops and rescales, text,
UI screenshots, gradients, noise, flat colours; 256-1024 px), each with its own random
key. Prints the detection count (must be 0), the score distribution (percentiles, a
text histogram, the maximum per kind) and the smallest p-value.

Usage::

    python benchmarks/false_positives.py                 # 10,000 images, 2 processes
    python benchmarks/false_positives.py --count 200     # smoke run, RESULTS.md untouched

A long run can be interrupted and resumed: every finished trial is appended to a
checkpoint file in ``benchmarks/.cache/`` whose name carries a fingerprint of the
detector's source, so a resumed run never mixes results of different detectors.
``--fresh`` ignores the checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import multiprocessing as mp
import sys
import time
from pathlib import Path
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

import _results
import competitor
import corpus

SMOKE_COUNT = 1000  # runs smaller than this do not write RESULTS.md unless --write


@dataclass(frozen=True)
class Trial:
    index: int
    kind: str
    description: str
    width: int
    height: int
    detected: bool
    score: float
    p_value: float
    detect_ms: float


_ENGINE: competitor.Engine | None = None


def _init_worker(engine_name: str) -> None:
    global _ENGINE
    _ENGINE = competitor.load_engine(engine_name)


def run_trial(task: tuple[int, int, int]) -> Trial:
    """Detect on unmarked image `index` with a random key."""
    index, seed, key_seed = task
    assert _ENGINE is not None, "call _init_worker first"
    item = corpus.unmarked_image(index, seed=seed)
    key = np.random.default_rng([key_seed, index]).bytes(16).hex()
    t0 = time.perf_counter()
    d = _ENGINE.detect(item.image, key)
    ms = (time.perf_counter() - t0) * 1e3
    h, w = item.image.shape[:2]
    return Trial(index, item.kind, item.description, w, h, bool(d.detected), d.score, d.p_value, ms)


def detector_fingerprint(engine: str) -> str:
    """Short hash of the watermark package's source (ours) or the engine name (others)."""
    if engine != "ours":
        return engine
    import provenance.watermark as wm

    digest = hashlib.sha256()
    for path in sorted(Path(wm.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def checkpoint_path(engine: str, seed: int, key_seed: int) -> Path:
    return corpus.CACHE_DIR / f"false-positives-{engine}-{detector_fingerprint(engine)}-s{seed}-k{key_seed}.jsonl"


def load_checkpoint(path: Path) -> dict[int, Trial]:
    """Trials already run (a torn last line from a killed run is skipped)."""
    done: dict[int, Trial] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                trial = Trial(**json.loads(line))
            except (ValueError, TypeError):
                continue
            done[trial.index] = trial
    return done


def histogram(values: np.ndarray, *, bins: int = 16, width: int = 50) -> list[str]:
    """A text histogram, one line per bin: range, count, bar (log-scaled when the counts span decades)."""
    counts, edges = np.histogram(values, bins=bins)
    use_log = counts.max() > 100 * max(1, counts[counts > 0].min())
    scale = np.log1p(counts) / np.log1p(counts.max()) if use_log else counts / counts.max()
    lines = [f"{lo:7.2f} .. {hi:7.2f} | {c:7d} | {'#' * int(round(s * width))}"
             for lo, hi, c, s in zip(edges[:-1], edges[1:], counts, scale)]
    if use_log:
        lines.append("(bar lengths are log-scaled)")
    return lines


def format_report(trials: list[Trial], engine: str) -> str:
    n = len(trials)
    detections = [t for t in trials if t.detected]
    kinds = Counter(t.kind for t in trials)
    lines = [
        f"- images: {n} unmarked ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}), "
        f"256-1024 px a side, one random key each, engine `{engine}`",
        f"- **detections: {len(detections)}** (must be 0)",
    ]
    for t in detections[:20]:
        lines.append(f"  - #{t.index} {t.kind} {t.width}x{t.height} {t.description}: score {t.score:.2f}, p {t.p_value:.2e}")
    scores = np.array([t.score for t in trials], dtype=np.float64)
    finite = scores[np.isfinite(scores)]
    pvals = np.array([t.p_value for t in trials], dtype=np.float64)
    pvals = pvals[np.isfinite(pvals)]
    lines.append(f"- median detect: {np.median([t.detect_ms for t in trials]):.0f} ms (under --jobs load)")
    if finite.size == 0:
        lines.append("- this engine reports no score or p-value")
        return "\n".join(lines)
    pct = np.percentile(finite, [50, 90, 99, 99.9])
    worst = trials[int(np.nanargmax(scores))]
    lines += [
        f"- score (sd): median {pct[0]:.2f}, p90 {pct[1]:.2f}, p99 {pct[2]:.2f}, p99.9 {pct[3]:.2f}, "
        f"max {finite.max():.2f} (#{worst.index} {worst.kind}: {worst.description})",
        f"- smallest p-value: {pvals.min():.3e}" if pvals.size else "- no p-values",
    ]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for t in trials:
        if math.isfinite(t.score):
            by_kind[t.kind].append(t.score)
    lines += ["", "| kind | images | median score | max score |", "|---|---:|---:|---:|"]
    for kind, vals in sorted(by_kind.items()):
        lines.append(f"| {kind} | {len(vals)} | {np.median(vals):.2f} | {max(vals):.2f} |")
    lines += ["", "Score histogram:", "", "```", *histogram(finite), "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=list(competitor.ENGINES), default="ours")
    parser.add_argument("--count", type=int, default=10_000, help="unmarked images (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the unmarked image stream")
    parser.add_argument("--key-seed", type=int, default=1, help="seed of the random keys")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="ignore (and overwrite) the checkpoint of an earlier run")
    write = parser.add_mutually_exclusive_group()
    write.add_argument("--write", action="store_true", help=f"update RESULTS.md even below {SMOKE_COUNT} images")
    write.add_argument("--no-write", action="store_true", help="leave RESULTS.md alone")
    args = parser.parse_args(argv)

    competitor.load_engine(args.engine)  # fail early, in the parent, if it is missing
    ckpt = checkpoint_path(args.engine, args.seed, args.key_seed)
    done = {} if args.fresh else load_checkpoint(ckpt)
    trials: list[Trial] = [t for i, t in done.items() if i < args.count]
    tasks = [(i, args.seed, args.key_seed) for i in range(args.count) if i not in done]
    progress = tqdm(total=args.count, initial=len(trials), desc=f"false positives [{args.engine}]", unit="img",
                    file=sys.stderr)
    if trials:
        progress.write(f"resuming: {len(trials)} trials from {ckpt}")
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    with ckpt.open("w" if args.fresh else "a") as log:

        def record(trial: Trial) -> None:
            trials.append(trial)
            log.write(json.dumps(dataclasses.asdict(trial)) + "\n")
            log.flush()
            progress.update()
            if trial.detected:
                progress.write(f"DETECTION on unmarked #{trial.index} ({trial.description}), score {trial.score:.2f}")

        if args.jobs <= 1:
            _init_worker(args.engine)
            for task in tasks:
                record(run_trial(task))
        else:
            with mp.get_context("spawn").Pool(args.jobs, initializer=_init_worker, initargs=(args.engine,)) as pool:
                for trial in pool.imap_unordered(run_trial, tasks, chunksize=8):
                    record(trial)
    progress.close()
    trials.sort(key=lambda t: t.index)

    report = format_report(trials, args.engine)
    print(report)
    command = "python benchmarks/false_positives.py " + " ".join(argv if argv is not None else sys.argv[1:])
    small = args.count < SMOKE_COUNT or args.engine == "null"
    if args.write or not (args.no_write or small):
        section = "false-positives" if args.engine == "ours" else f"false-positives-{args.engine}"
        _results.update_section(section, f"## False positives\n\n{_results.run_header(command.strip())}\n\n{report}")
        print(f"\nupdated section {section!r} of {_results.RESULTS_PATH}")
    return 0 if not any(t.detected for t in trials) or args.engine == "dwtdct" else 1


if __name__ == "__main__":
    sys.exit(main())
