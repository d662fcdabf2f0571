"""Video banks: vPDQ match rates after platform attacks, hashing speed, and lookup in 100,000 banked videos.

1. Match rates. Clips are made here (640x360, 15 fps, 20 s: four 5 s scenes, each a slow pan and
   zoom over a random crop of a shared sample photo or over smooth random blobs). Every clip is
   banked (``Banks.add_video_file`` on SQLite: vPDQ frames + MD5/SHA-256); each is attacked
   with ``benchmarks/video.py``'s attacks (re-encodes, downscale, crop, excerpts, 24 -> 30 fps,
   mirror, brightness, screen recording) plus a 5 s excerpt, and matched with
   ``Banks.match_video_file`` (settings' thresholds: 80% of the query's frames, any share of the
   banked video's). Counted: matched to its own video, and matches to any other video.
2. Hashing: ``hash_video`` on a 20 s 720p 30 fps clip (decode included), per minute of video.
3. Lookup: 100,000 synthetic banked videos of 60 random frame hashes (6,000,000 frames) in one
   :class:`~provenance.banks.video_index.LoadedVideos`; query videos of 60 frames (a banked video's
   frames with up to 8 flipped bits, and unrelated ones), searched with their 60 mirror-image hashes. Compared side by side with a brute-force
   scan of all frames and with a per-video loop (vPDQ's brute-force matcher, timed on 2,000 videos
   and scaled). Medians of ``--runs`` alternating runs.

Usage::

    nice -n 5 python benchmarks/video_banks.py              # writes the "video-banks" section of RESULTS.md
    python benchmarks/video_banks.py --quick                # 2 clips, 10,000 videos
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import _results
from video import FPS, SAMPLES, SIZE, attacks, frames_of

from provenance.banks import Banks
from provenance.banks.index import pack_hex
from provenance.banks.video_index import build_videos, count_hits
from provenance.registry import Registry
from provenance.search import brute_force_search
from provenance.video import write_frames
from provenance.video.hashing import VPDQ_QUALITY, VideoHash, VpdqFrame, hash_video, match_vpdq

SCENE_S = 5


def scene(rng: np.random.Generator, photos: list[np.ndarray], *, seconds: int = SCENE_S, fps: int = FPS,
          size=SIZE) -> list[np.ndarray]:
    """A slow pan and zoom over a random crop of a photo, or over smooth random blobs."""
    w, h = size
    n = seconds * fps
    if rng.random() < 0.75:
        src = photos[int(rng.integers(len(photos)))]
        zoom = rng.uniform(1.2, 2.5)  # the crop is 1/zoom of the photo
        cw, ch = int(src.shape[1] / zoom), int(src.shape[1] / zoom * h / w)
        ch = min(ch, src.shape[0])
        x0, y0 = int(rng.integers(0, src.shape[1] - cw + 1)), int(rng.integers(0, src.shape[0] - ch + 1))
        img = Image.fromarray(src[y0 : y0 + ch, x0 : x0 + cw])
    else:
        img = Image.fromarray(rng.integers(0, 256, (9, 16, 3), dtype=np.uint8)).resize((w * 2, h * 2), Image.Resampling.BICUBIC)
    big = np.asarray(img.resize((int(w * 1.3), int(h * 1.3)), Image.Resampling.LANCZOS))
    out = []
    for i in range(n):  # pan diagonally over the margin while zooming in slightly
        t = i / max(1, n - 1)
        s = 1.0 - 0.12 * t
        cw, ch = int(big.shape[1] / 1.3 * s), int(big.shape[0] / 1.3 * s)
        x, y = int(t * (big.shape[1] - cw)), int(t * (big.shape[0] - ch) * 0.5)
        out.append(np.asarray(Image.fromarray(big[y : y + ch, x : x + cw]).resize(size, Image.Resampling.BILINEAR)))
    return out


def make_clips(tmp: Path, n: int, seconds: int) -> list[Path]:
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(SAMPLES.glob("*.png"))]
    rng = np.random.default_rng(14)
    paths = []
    for c in range(n):
        frames = [f for _ in range(seconds // SCENE_S) for f in scene(rng, photos)]
        p = tmp / f"banked_{c}.mp4"
        write_frames(p, frames, fps=FPS, crf=18)
        paths.append(p)
    return paths


def match_rates(tmp: Path, n_clips: int, seconds: int) -> list[str]:
    clips = make_clips(tmp, n_clips, seconds)
    steps = {"bench-1fps": 1.0, "bench-4fps": 0.25}  # vPDQ's one frame a second, and four a second
    with Registry(f"sqlite:///{tmp / 'banks.sqlite'}") as reg:
        banks = Banks(reg, video_query_percent=80.0, video_compared_percent=0.0)
        banks.update("stamped-outputs", enabled=False)
        ids: dict[tuple[str, str], int] = {}
        for bank, step in steps.items():
            banks.create(bank, label="ncii")
            for p in clips:
                banks.add_video_file(bank, p, source=p.stem, seconds_per_hash=step)
            ids.update({(bank, e.source): e.video_id for e in banks.videos(bank)})
        table: dict[str, list[tuple]] = {}
        for p in clips:
            out, _grab = attacks(p, tmp)
            fr = frames_of(p)
            k = SCENE_S * FPS
            for name, start in (("excerpt5s (cut on a whole second)", len(fr) // 2),
                                ("excerpt5s (cut mid-second)", len(fr) // 2 + FPS // 2)):
                out[name] = tmp / f"excerpt_{start}.mp4"
                write_frames(out[name], fr[start : start + k], fps=FPS, crf=23)
            out = {"none (the banked file)": p, **out}
            for attack, path in out.items():
                r = banks.match_video_file(path)
                row = []
                for bank in steps:
                    own = [m for m in r.matches if m.bank == bank and m.video_id == ids[(bank, p.stem)]]
                    wrong = sum(m.bank == bank and m.video_id != ids[(bank, p.stem)] for m in r.matches)
                    row += [bool(own), wrong]
                    if bank == "bench-1fps":
                        row += [own[0].query_match_percent, own[0].compared_match_percent] if own else list(_share(path, p))
                table.setdefault(attack, []).append(tuple(row))
            print(p.name, {a: v[-1][0] for a, v in table.items()}, file=sys.stderr)
    lines = ["| attack | matched (banked at 1 fps, vPDQ) | query / banked share (1 fps, medians) | matched (banked at 4 fps) "
             "| matches to other videos (1 fps, 4 fps) |",
             "|---|---:|---:|---:|---:|"]
    for attack, rows in table.items():
        a, b = sum(r[0] for r in rows), sum(r[4] for r in rows)
        lines.append(f"| {attack} | {100 * a / len(rows):.0f}% ({a}/{len(rows)}) | "
                     f"{statistics.median(r[2] for r in rows):.0f}% / {statistics.median(r[3] for r in rows):.0f}% | "
                     f"{100 * b / len(rows):.0f}% ({b}/{len(rows)}) | {sum(r[1] for r in rows)}, {sum(r[5] for r in rows)} |")
    return lines


def _share(query: Path, banked: Path) -> tuple[float, float]:
    m = match_vpdq(hash_video(query), hash_video(banked))
    return m.query_match_percent, m.compared_match_percent


def hashing_speed(tmp: Path, runs: int) -> list[str]:
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(SAMPLES.glob("*.png"))]
    rng = np.random.default_rng(3)
    seconds = 20
    frames = [f for _ in range(seconds // SCENE_S) for f in scene(rng, photos, fps=30, size=(1280, 720))]
    src = tmp / "hash_720p.mp4"
    write_frames(src, frames, fps=30, crf=20)
    del frames
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        h = hash_video(src)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return [f"| vPDQ hash of 720p 30 fps video (decode of every frame, PDQ of one a second, MD5 + SHA-256) | "
            f"{med / seconds * 60:.1f} s per minute of video | {med:.2f} s for {seconds} s, {len(h.frames)} frames hashed |"]


def lookup_speed(n_videos: int, runs: int, per: int = 60) -> list[str]:
    rng = np.random.default_rng(100)
    codes = rng.integers(0, 2**64, size=(n_videos * per, 4), dtype=np.uint64)
    owner = np.repeat(np.arange(n_videos, dtype=np.int32), per)
    t = time.perf_counter()
    snap = build_videos(1, codes, owner, np.arange(1, n_videos + 1))
    build_s = time.perf_counter() - t
    mem = snap.index.memory_bytes + snap.frame_video.nbytes
    # Queries: banked video 12345's frames, each with up to 8 bits flipped; and an unrelated video.
    target = min(12_345, n_videos - 1)
    flips = rng.integers(0, 64, size=(per, 8))
    near = codes[target * per : (target + 1) * per].copy()
    for j in range(8):
        near[np.arange(per), j % 4] ^= np.uint64(1) << flips[:, j].astype(np.uint64)
    unrelated = rng.integers(0, 2**64, size=(per, 4), dtype=np.uint64)
    frame_counts = snap.frame_counts

    mirror = rng.integers(0, 2**64, size=(per, 4), dtype=np.uint64)  # stands for the query's mirror-image hashes

    def indexed(q: np.ndarray) -> int:
        # What Banks.match_video runs: one search for the query frames and their mirror images,
        # then the per-video counts for each orientation.
        n = q.shape[0]
        frame, query, video = snap.hits(np.concatenate([q, mirror]), 31)
        found = 0
        for sel in (query < n, query >= n):
            c = count_hits(frame[sel], query[sel] % n, video[sel], n_queries=n)
            found += int(((c.query_matched * 100 >= 80 * n) & (c.banked_matched > 0)).sum())
        return found

    def brute(q: np.ndarray) -> int:
        hits = brute_force_search(codes, q, 31)
        video = owner[hits.position].astype(np.int64)
        pairs = np.unique(video * q.shape[0] + hits.query)
        cand, n = np.unique(pairs // q.shape[0], return_counts=True)
        return int((n * 100 >= 80 * q.shape[0]).sum())

    loop_videos = min(2_000, n_videos)
    vh = [VideoHash(tuple(VpdqFrame(i, 100, h, float(i)) for i, h in enumerate(_hexes(codes[v * per : (v + 1) * per]))))
          for v in range(loop_videos)]

    def per_video(q: np.ndarray) -> int:
        qh = VideoHash(tuple(VpdqFrame(i, 100, h, float(i)) for i, h in enumerate(_hexes(q))))
        return sum(match_vpdq(qh, b).is_match() for b in vh)

    assert indexed(near) == 1 and indexed(unrelated) == 0 and brute(near) == 1 and frame_counts[target] == per
    timings: dict[str, list[float]] = {"indexed": [], "brute": [], "loop": []}
    for _ in range(runs):  # alternate the three in each run
        for name, fn in (("indexed", indexed), ("brute", brute), ("loop", per_video)):
            t = time.perf_counter()
            fn(near)
            fn(unrelated)
            timings[name].append((time.perf_counter() - t) / 2)
    ix, br = statistics.median(timings["indexed"]), statistics.median(timings["brute"])
    loop = statistics.median(timings["loop"]) * n_videos / loop_videos
    return [
        f"Bank: {n_videos:,} videos x {per} frames = {n_videos * per:,} frame hashes in one index "
        f"(built in {build_s:.1f} s, {mem / 2**20:.0f} MiB with the frame -> video array).",
        "",
        "| lookup of one 60-frame query video (median of a matching and an unrelated query) | time | vs indexed |",
        "|---|---:|---:|",
        f"| frame index + per-video counts, the 60 frames and their 60 mirror images (what `Banks.match_video` runs) | {ix * 1000:.1f} ms | 1x |",
        f"| brute-force scan of every frame, same counting (60 frames only) | {br * 1000:.0f} ms | {br / ix:.0f}x |",
        f"| loop over videos with vPDQ's brute-force matcher (timed on {loop_videos:,} videos, scaled) | {loop:.0f} s | {loop / ix:,.0f}x |",
    ]


def db_lookup(tmp: Path, n_videos: int, runs: int, per: int = 60) -> list[str]:
    """End to end through a SQLite registry: import, first match (loads the bank), later matches."""
    rng = np.random.default_rng(200)
    codes = rng.integers(0, 2**64, size=(n_videos * per, 4), dtype=np.uint64)
    hexes = _hexes(codes)
    videos = [VideoHash(tuple(VpdqFrame(i, 100, hexes[v * per + i], float(i)) for i in range(per)))
              for v in range(n_videos)]
    with Registry(f"sqlite:///{tmp / 'db_lookup.sqlite'}") as reg:
        banks = Banks(reg)
        banks.create("bench", label="ncii")
        t = time.perf_counter()
        banks.add_videos("bench", videos)
        import_s = time.perf_counter() - t
        near = VideoHash(videos[n_videos // 2].frames[10:40])  # a 30 s excerpt of one banked video
        unrelated = VideoHash(tuple(VpdqFrame(i, 100, h, float(i)) for i, h in
                                    enumerate(_hexes(rng.integers(0, 2**64, size=(per, 4), dtype=np.uint64)))))
        t = time.perf_counter()
        first = banks.match_video(near)
        first_s = time.perf_counter() - t
        assert first.status == "matched" and len(first.matches) == 1
        times = []
        for _ in range(runs * 3):
            for q in (near, unrelated):
                t = time.perf_counter()
                banks.match_video(q)
                times.append(time.perf_counter() - t)
        assert banks.match_video(unrelated).status == "no_match"
    return [
        f"Through the registry (SQLite, {n_videos:,} synthetic videos x {per} frames): import "
        f"{import_s:.1f} s ({n_videos / import_s:,.0f} videos/s); first `Banks.match_video` (reads and indexes "
        f"the bank) {first_s:.1f} s; later matches (a 30-frame excerpt, an unrelated video) median "
        f"{statistics.median(times) * 1000:.1f} ms, refresh check and the matched videos' details included.",
    ]


def _hexes(codes: np.ndarray) -> list[str]:
    raw = codes.astype(">u8").tobytes().hex()
    return [raw[i : i + 64] for i in range(0, len(raw), 64)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--videos", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--db-only", type=int, metavar="N", help="only the end-to-end lookup through SQLite with N videos "
                    "(section video-banks-db)")
    args = ap.parse_args(argv)
    if args.db_only:
        with tempfile.TemporaryDirectory() as d:
            body = db_lookup(Path(d), args.db_only, args.runs)
        lines = ["## Video banks through the registry", "",
                 _results.run_header(f"python benchmarks/video_banks.py --db-only {args.db_only}"), "", *body]
        _results.update_section("video-banks-db", "\n".join(lines))
        print("\n".join(lines))
        return 0
    n_clips, n_videos = (2, 10_000) if args.quick else (args.clips, args.videos)
    seconds = 20
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rates = match_rates(tmp, n_clips, seconds)
        hashing = hashing_speed(tmp, args.runs)
    lookup = lookup_speed(n_videos, args.runs)
    lines = [
        "## Video banks (vPDQ)",
        "",
        _results.run_header("python benchmarks/video_banks.py" + (" --quick" if args.quick else "")),
        "",
        f"Match rates: {n_clips} clips made here (640x360, 15 fps, {seconds} s: four 5 s scenes of pans and zooms over "
        "random crops of the shared photos or smooth blobs), banked with `Banks.add_video_file`, attacked with "
        "benchmarks/video.py's attacks and a 5 s excerpt, matched with `Banks.match_video_file` (80% of the query's "
        f"frames of quality >= {VPDQ_QUALITY} within 31 bits of a banked frame; any share of the banked video's). "
        "Shares for unmatched queries are vPDQ's brute-force ones against the clip's own banked video.",
        "",
        *rates,
        "",
        "| speed | time | |",
        "|---|---:|---|",
        *hashing,
        "",
        *lookup,
    ]
    _results.update_section("video-banks", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
