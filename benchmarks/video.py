"""Video watermark: robustness table (attack x clips), PSNR and flicker, unmarked clips, speed.

Clips are made here (15 fps, 3 s): pans over the four shared sample photographs and a still
shot at 640x360, zooms into two corpus photos (``benchmarks/corpus.py``) at 640x360, pans,
zooms and a still over corpus photos at 1280x720, and a pan and a zoom at 1920x1080. Each is stamped with
:func:`provenance.video.watermark.embed_video`, attacked
with PyAV (re-encodes, scaling, crops, excerpts, frame-rate change, mirror, brightness, a
screen recording, a frame grab as JPEG), and detected with ``detect_video`` (frame grabs
with the image detector). Unmarked clips: the sources, noise, flat colour, film grain and
the shared fixtures' videos, each under two keys.

Speed: stamping time over clip duration (real-time factor) at 720p and 1080p, and detection
time of a 10 s 720p clip, medians of ``--runs`` alternating runs in this process.

False positives on many unmarked clips (``--unmarked-only``): ``--unmarked`` (500) small clips
made cheaply (2-3 s, 10 fps, 320x180 to 640x360, H.264 CRF 23): pans and zooms over the sample
photos, screen-recording-like text and UI frames, uniform noise, flat colour, film grain,
gradients, smooth blobs, and windows of the shared fixtures' videos decoded and rescaled. Each
is checked with ``detect_video`` under a random key of its own and the benchmark key; the
answers go to ``benchmarks/.cache/video_unmarked.jsonl`` as they come, so an interrupted run
resumes where it stopped.

Usage::

    nice -n 5 python benchmarks/video.py            # writes the "video" section of RESULTS.md
    python benchmarks/video.py --quick              # fewer clips, no speed section
    nice -n 5 python benchmarks/video.py --unmarked-only   # the "video-unmarked" section only (resumable)
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

import _results

from provenance import watermark
from provenance.watermark.detection import SCORE_THRESHOLD
from provenance.video import iter_frames, sample_frames, write_frames
from provenance.video.watermark import detect_video, detect_video_keys, embed_video

SAMPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "samples"
FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "c2pa-fixtures"
KEY = b"video-benchmark-key-0123456789ab"
PAYLOAD = bytes.fromhex("0123456789abcdef")
SIZE = (640, 360)
FPS = 15


def pan(photo: Path, *, n: int = 45, step: int = 4, size=SIZE) -> list[np.ndarray]:
    w, h = size
    img = Image.open(photo).convert("RGB")
    big = np.asarray(img.resize((w + step * n, int(img.height * (w + step * n) / img.width)), Image.Resampling.LANCZOS))
    y0 = max(0, (big.shape[0] - h) // 2)
    return [np.ascontiguousarray(big[y0 : y0 + h, i * step : i * step + w]) for i in range(n)]


def still(photo: Path, *, n: int = 45, size=SIZE) -> list[np.ndarray]:
    img = np.asarray(Image.open(photo).convert("RGB").resize(size, Image.Resampling.LANCZOS))
    return [img] * n


def zoom(photo: Path, *, n: int = 45, size=SIZE, end: float = 0.7) -> list[np.ndarray]:
    """A slow zoom into the centre of `photo` (the crop shrinks to `end` of the frame-filling one)."""
    w, h = size
    img = Image.open(photo).convert("RGB")
    fit = min(img.width / w, img.height / h)
    frames = []
    for i in range(n):
        s = fit * (1 + (end - 1) * i / max(1, n - 1))
        cw, ch = w * s, h * s
        box = ((img.width - cw) / 2, (img.height - ch) / 2, (img.width + cw) / 2, (img.height + ch) / 2)
        frames.append(np.asarray(img.resize(size, Image.Resampling.BILINEAR, box=box, reducing_gap=2.0)))
    return frames


def benchmark_clips() -> list[tuple[str, list[np.ndarray]]]:
    """The robustness clips: (name, frames); 640x360 over the shared samples, more over corpus photos."""
    import corpus

    photos = sorted(SAMPLES.glob("*.png"))
    clips = [("pan_" + p.stem, pan(p)) for p in photos] + [("still_" + photos[0].stem, still(photos[0]))]
    packaged = {ph.name: ph.path for ph in corpus.list_photos()}
    hd, fhd = (1280, 720), (1920, 1080)
    for kind, name, size in (("zoom", "coffee", SIZE), ("zoom", "astronaut", SIZE), ("pan", "china", hd),
                             ("pan", "rocket", hd), ("zoom", "flower", hd), ("still", "chelsea", hd),
                             ("zoom", "motorcycle", hd), ("pan", "grace_hopper", hd), ("pan", "china", fhd),
                             ("zoom", "flower", fhd)):
        if name not in packaged:
            print(f"corpus photo {name} missing (pip install -r benchmarks/requirements.txt); skipped", file=sys.stderr)
            continue
        make = {"pan": pan, "zoom": zoom, "still": still}[kind]
        clips.append((f"{kind}_{name}_{size[1]}p", make(packaged[name], size=size)))
    return clips


def frames_of(path: Path) -> list[np.ndarray]:
    return [f.rgb for f in iter_frames(path)]


def _resize(frames, w, h):
    return [np.asarray(Image.fromarray(f).resize((w // 2 * 2, h // 2 * 2), Image.Resampling.BILINEAR)) for f in frames]


def attacks(marked: Path, tmp: Path):
    """(name, path or None, frame-grab image or None) for each attack."""
    fr = frames_of(marked)
    h, w = fr[0].shape[:2]
    out = {}

    def enc(name, frames, **kw):
        p = tmp / f"{name}{kw.pop('suffix', '.mp4')}"
        write_frames(p, frames, **({"fps": FPS} | kw))
        out[name] = p

    enc("h264_crf23", fr, crf=23)
    # 480p for clips above it; 360p clips are downscaled to 0.75 (270p), a harder case.
    small = _resize(fr, round(w * 480 / h), 480) if h > 480 else _resize(fr, w * 3 // 4, h * 3 // 4)
    enc("crf28_downscaled", small, crf=28)
    enc("h265_crf30", fr, codec="libx265", crf=30)
    enc("vp9_1mbit_webm", fr, codec="libvpx-vp9", bit_rate=1_000_000, suffix=".webm")
    ch, cw = int(h * 0.8) // 2 * 2, int(w * 0.8) // 2 * 2
    enc("crop80", [f[(h - ch) // 2 : (h - ch) // 2 + ch, (w - cw) // 2 : (w - cw) // 2 + cw] for f in fr], crf=23)
    k = int(1.5 * FPS)
    enc("excerpt1.5s", fr[len(fr) // 3 : len(fr) // 3 + k], crf=23)
    enc("fps24to30", [fr[int(i * 24 / 30)] for i in range(int(len(fr) * 30 / 24))], crf=23, fps=30)
    enc("mirror", [np.ascontiguousarray(f[:, ::-1]) for f in fr], crf=23)
    enc("brightness0.8", [np.asarray(ImageEnhance.Brightness(Image.fromarray(f)).enhance(0.8)) for f in fr], crf=23)
    sh, sw = int(h * 0.85) // 2 * 2, int(w * 0.85) // 2 * 2
    screen = []
    for f in _resize(fr, sw, sh):
        canvas = np.zeros((h, w, 3), np.uint8)
        canvas[(h - sh) // 2 : (h - sh) // 2 + sh, (w - sw) // 2 : (w - sw) // 2 + sw] = f
        screen.append(canvas)
    enc("screen_recording", screen, crf=26)
    buf = io.BytesIO()
    Image.fromarray(fr[len(fr) // 2]).save(buf, "JPEG", quality=80)
    grab = np.asarray(Image.open(buf).convert("RGB"))
    return out, grab


def psnr_and_flicker(src: Path, marked: Path) -> tuple[float, float]:
    """Mean PSNR of marked vs source frames, and the added pattern's frame-to-frame change (RMS ratio)."""
    a, b = frames_of(src), frames_of(marked)
    psnrs, flick = [], []
    prev = None
    for x, y in zip(a, b):
        d = y.astype(np.float64) - x.astype(np.float64)
        psnrs.append(10 * np.log10(255**2 / max(np.mean(d**2), 1e-9)))
        dl = d.mean(axis=2)
        if prev is not None:
            flick.append(np.sqrt(np.mean((dl - prev) ** 2)) / max(np.sqrt(np.mean(dl**2)), 1e-9))
        prev = dl
    return float(np.mean(psnrs)), float(np.mean(flick))


def unmarked_clips(tmp: Path, n_noise: int) -> list[Path]:
    rng = np.random.default_rng(7)
    paths = []
    for i in range(n_noise):
        kind = ("noise", "flat", "grain")[i % 3]
        if kind == "noise":
            fr = [rng.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8) for _ in range(10)]
        elif kind == "flat":
            c = rng.integers(0, 256, 3, dtype=np.uint8)
            fr = [np.broadcast_to(c, (SIZE[1], SIZE[0], 3)).copy() for _ in range(10)]
        else:
            base = rng.integers(60, 200, 3)
            fr = [np.clip(base + rng.normal(0, 12, (SIZE[1], SIZE[0], 1)), 0, 255).astype(np.uint8) for _ in range(10)]
        p = tmp / f"unmarked_{kind}_{i}.mp4"
        write_frames(p, fr, fps=FPS, crf=23)
        paths.append(p)
    return paths + [FIXTURES / "rs_video1.mp4", FIXTURES / "gen_c.mov"]


UNMARKED_KINDS = ("photo_pan", "photo_zoom", "screen", "noise", "flat", "grain", "gradient", "blobs", "fixture")
UNMARKED_SIZES = ((320, 180), (480, 270), (640, 360))
UNMARKED_CACHE = Path(__file__).resolve().parent / ".cache" / "video_unmarked.jsonl"
_WORDS = ("the", "report", "upload", "settings", "account", "video", "share", "privacy", "inbox", "search",
          "download", "profile", "2024", "error", "OK", "Cancel", "file", "edit", "view", "help", "meeting", "notes")


def _screen_frames(rng: np.random.Generator, w: int, h: int, n: int) -> list[np.ndarray]:
    """A screen-recording-like clip: windows, title bars, buttons and lines of text, scrolling, with a cursor."""
    dark = rng.random() < 0.4
    bg, fg = ((30, 30, 36), (220, 220, 220)) if dark else ((245, 245, 247), (25, 25, 30))
    page = Image.new("RGB", (w, h * 3), bg)
    d = ImageDraw.Draw(page)
    y = 4
    while y < h * 3 - 20:
        if rng.random() < 0.15:  # a panel with a title bar and a button
            x0, x1 = int(rng.integers(0, w // 3)), int(rng.integers(w // 2, w))
            y1 = y + int(rng.integers(30, 90))
            accent = tuple(int(c) for c in rng.integers(40, 220, 3))
            d.rectangle([x0, y, x1, y1], outline=fg, fill=tuple(min(255, c + (12 if dark else -12)) for c in bg))
            d.rectangle([x0, y, x1, y + 12], fill=accent)
            d.rectangle([x1 - 50, y1 - 18, x1 - 6, y1 - 4], fill=accent)
            d.text((x1 - 46, y1 - 17), "OK", fill=(255, 255, 255))
            y = y1 + 6
        else:
            words = " ".join(_WORDS[int(k)] for k in rng.integers(0, len(_WORDS), int(rng.integers(3, 12))))
            d.text((int(rng.integers(4, 30)), y), words, fill=fg)
            y += int(rng.integers(12, 20))
    page_a = np.asarray(page)
    speed = int(rng.integers(0, 12))  # pixels scrolled per frame (0: a static screen)
    cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
    frames = []
    for i in range(n):
        top = min(i * speed, page_a.shape[0] - h)
        f = page_a[top : top + h].copy()
        cx, cy = int(np.clip(cx + rng.integers(-8, 9), 0, w - 6)), int(np.clip(cy + rng.integers(-8, 9), 0, h - 10))
        f[cy : cy + 10, cx : cx + 6] = fg  # the mouse pointer
        frames.append(f)
    return frames


def _photo_frames(rng: np.random.Generator, photo: np.ndarray, w: int, h: int, n: int, *, zoom: bool) -> list[np.ndarray]:
    ph, pw = photo.shape[:2]
    frames = []
    s0 = rng.uniform(0.5, 0.9)
    s1 = s0 * (rng.uniform(0.7, 0.95) if zoom else 1.0)
    dx, dy = rng.uniform(-1, 1, 2) * (0 if zoom else 0.25)
    for i in range(n):
        t = i / max(1, n - 1)
        s = s0 + (s1 - s0) * t
        cw, ch = int(pw * s), int(min(ph, pw * s * h / w))
        x = int(np.clip((pw - cw) / 2 + dx * t * pw, 0, pw - cw))
        y = int(np.clip((ph - ch) / 2 + dy * t * ph, 0, ph - ch))
        frames.append(np.asarray(Image.fromarray(photo[y : y + ch, x : x + cw]).resize((w, h), Image.Resampling.BILINEAR)))
    return frames


def unmarked_clip(i: int, photos: list[np.ndarray], fixtures: list[list[np.ndarray]]) -> tuple[str, int, int, list[np.ndarray]]:
    """Clip number `i` of the unmarked corpus: (kind, width, height, frames); the same `i` gives the same clip."""
    rng = np.random.default_rng(10_000 + i)
    kind = UNMARKED_KINDS[i % len(UNMARKED_KINDS)]
    w, h = UNMARKED_SIZES[int(rng.integers(len(UNMARKED_SIZES)))]
    n = int(rng.choice([20, 30]))  # 2-3 s at 10 fps
    if kind in ("photo_pan", "photo_zoom"):
        frames = _photo_frames(rng, photos[int(rng.integers(len(photos)))], w, h, n, zoom=kind == "photo_zoom")
    elif kind == "screen":
        frames = _screen_frames(rng, w, h, n)
    elif kind == "noise":
        frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]
    elif kind == "flat":
        frames = [np.broadcast_to(rng.integers(0, 256, 3).astype(np.uint8), (h, w, 3)).copy()] * n
    elif kind == "grain":
        base = (np.asarray(Image.fromarray(photos[int(rng.integers(len(photos)))]).resize((w, h))).astype(np.float32)
                if rng.random() < 0.5 else np.full((h, w, 3), rng.integers(40, 200, 3), np.float32))
        sigma = rng.uniform(4, 16)
        frames = [np.clip(base + rng.normal(0, sigma, (h, w, 1)), 0, 255).astype(np.uint8) for _ in range(n)]
    elif kind == "gradient":
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        ramp = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
        frames = [np.broadcast_to((a + (b - a) * np.clip(ramp + 0.02 * k, 0, 1)).astype(np.uint8), (h, w, 3)).copy()
                  for k in range(n)]
    elif kind == "blobs":
        base = np.asarray(Image.fromarray(rng.integers(0, 256, (9, 16, 3), dtype=np.uint8)).resize(
            (w + n * 2, h), Image.Resampling.BICUBIC))
        frames = [np.ascontiguousarray(base[:, 2 * k : 2 * k + w]) for k in range(n)]
    else:  # a window of one of the shared fixtures' videos, cropped and rescaled
        src = fixtures[int(rng.integers(len(fixtures)))]
        start = int(rng.integers(0, max(1, len(src) - n)))
        fh, fw = src[0].shape[:2]
        s = rng.uniform(0.5, 1.0)
        cw, ch = int(fw * s), int(min(fh, fw * s * h / w))
        x, y = int(rng.integers(0, fw - cw + 1)), int(rng.integers(0, fh - ch + 1))
        frames = [np.asarray(Image.fromarray(src[(start + k) % len(src)][y : y + ch, x : x + cw]).resize((w, h)))
                  for k in range(n)]
    return kind, w, h, frames


def unmarked_false_positives(n_clips: int, tmp: Path, shard: tuple[int, int] = (0, 1)) -> list[str] | None:
    """Detection on `n_clips` unmarked clips under two keys each; resumes from :data:`UNMARKED_CACHE`.

    With ``shard=(k, n)`` only clips ``i % n == k`` are checked (processes on other shards append
    to the same cache) and None is returned; ``(0, 1)`` checks the rest and reports.
    """
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(SAMPLES.glob("*.png"))]
    fixtures = []
    for name in ("rs_video1.mp4", "gen_c.mov"):  # rs_dashinit.mp4 holds no decodable frame
        fixtures.append([f.rgb for f in sample_frames(FIXTURES / name, 40, max_side=960)])
    done: dict[int, dict] = {}
    UNMARKED_CACHE.parent.mkdir(exist_ok=True)
    if UNMARKED_CACHE.exists():
        for line in UNMARKED_CACHE.read_text().splitlines():
            row = json.loads(line)
            done[row["i"]] = row
    with open(UNMARKED_CACHE, "a") as cache:
        for i in range(n_clips):
            if i in done or i % shard[1] != shard[0]:
                continue
            kind, w, h, frames = unmarked_clip(i, photos, fixtures)
            p = tmp / f"unmarked_{i}.mp4"
            write_frames(p, frames, fps=10, crf=23)
            random_key = np.random.default_rng(20_000 + i).bytes(32)
            row = {"i": i, "kind": kind, "size": f"{w}x{h}", "frames": len(frames), "checks": []}
            for key in (random_key, KEY):
                t = time.perf_counter()
                r = detect_video(p, key=key)
                row["checks"].append({"detected": bool(r.watermark.detected), "score": float(r.watermark.score),
                                      "p_value": float(r.watermark.p_value), "frames_with_evidence": r.frames_with_evidence,
                                      "hypotheses": int(r.watermark.hypotheses),
                                      "seconds": round(time.perf_counter() - t, 3)})
            p.unlink()
            cache.write(json.dumps(row) + "\n")
            cache.flush()
            done[i] = row
            if i % 25 == 0:
                print(f"unmarked {i}/{n_clips} {kind} {w}x{h}: {[round(c['score'], 2) for c in row['checks']]}", file=sys.stderr)
    if shard[1] > 1:
        return None
    rows = [done[i] for i in range(n_clips)]
    checks = [c for r in rows for c in r["checks"]]
    hits = sum(c["detected"] for c in checks)
    best = max(checks, key=lambda c: c["score"])
    best_row = next(r for r in rows if best in r["checks"])
    lines = [
        f"Unmarked clips: {len(rows)} made here (2-3 s at 10 fps, 320x180 to 640x360, H.264 CRF 23), each checked "
        f"with `detect_video` (32 sampled frames, full search) under a random key of its own and the benchmark key: "
        f"**{hits} detections in {len(checks)} checks**. Best pilot score {best['score']:.2f} ({best_row['kind']} "
        f"{best_row['size']}): the maximum over every hypothesis searched (sampled frames x shifts x orientations, "
        f"and the clip lattice search: up to 8 lattices folded in the frames and a keyed scale sweep on the first; median {statistics.median(c['hypotheses'] for c in checks):,.0f} "
        f"hypotheses a check), so values above the single-hypothesis threshold {SCORE_THRESHOLD} are expected on "
        "unmarked clips; a detection also needs the decoded payload's CRC to pass, and its bound counts every "
        f"hypothesis and decode (lowest bound seen on these clips: p <= {min(c['p_value'] for c in checks):.2g}). "
        f"Frames with evidence: {sum(c['frames_with_evidence'] for c in checks)} in all. "
        f"Median detection time {statistics.median(c['seconds'] for c in checks):.2f} s a check (machine shared).",
        "",
        "| kind | clips | detections | best pilot score |",
        "|---|---:|---:|---:|",
    ]
    for kind in UNMARKED_KINDS:
        mine = [c for r in rows if r["kind"] == kind for c in r["checks"]]
        if mine:
            lines.append(f"| {kind} | {len(mine) // 2} | {sum(c['detected'] for c in mine)} | {max(c['score'] for c in mine):.2f} |")
    return lines


def speed(tmp: Path, runs: int) -> list[str]:
    photo = sorted(SAMPLES.glob("*.png"))[0]
    rows = []
    for name, size, seconds in (("720p", (1280, 720), 3), ("1080p", (1920, 1080), 3)):
        src = tmp / f"speed_{name}.mp4"
        write_frames(src, pan(photo, n=30 * seconds, step=3, size=size), fps=30, crf=20)
        times = []
        for r in range(runs):
            t = time.perf_counter()
            embed_video(src, tmp / f"speed_{name}_m.mp4", PAYLOAD, key=KEY)
            times.append(time.perf_counter() - t)
        rtf = statistics.median(times) / seconds
        rows.append(f"| stamp (watermark + H.264 encode) {name}, {seconds} s at 30 fps | {statistics.median(times):.2f} s | real-time factor {rtf:.2f} |")
    src = tmp / "speed_10s.mp4"
    write_frames(src, pan(photo, n=300, step=1, size=(1280, 720)), fps=30, crf=23)
    marked = tmp / "speed_10s_m.mp4"
    embed_video(src, marked, PAYLOAD, key=KEY)
    for label, path in (("marked", marked), ("unmarked", src)):
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            detect_video(path, key=KEY)
            times.append(time.perf_counter() - t)
        rows.append(f"| detect 10 s 720p ({label}, 32 frames, decode included) | {statistics.median(times):.2f} s | |")
    ring = [KEY, b"second key of the ring", b"third key of the ring"]
    for label, fn in (("a loop of detect_video", lambda: [detect_video(src, key=k) for k in ring]),
                      ("detect_video_keys", lambda: detect_video_keys(src, ring))):
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        rows.append(f"| detect 10 s 720p (unmarked), a ring of 3 keys, {label} | {statistics.median(times):.2f} s | |")
    return rows


_AB_CHILD = r"""
import json, sys, time
from provenance.video.watermark import detect_video, embed_video
key, payload = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2])
task, path = sys.argv[3], sys.argv[4]
t = time.perf_counter()
if task == "stamp":
    embed_video(path, sys.argv[5], payload, key=key)
    ok = True
else:
    ok = detect_video(path, key=key).watermark.payload == payload
print(json.dumps({"seconds": time.perf_counter() - t, "found": ok}))
"""


def speed_ab(other: str, rounds: int, tmp: Path) -> list[str]:
    """Stamping and detection times of this checkout and another interpreter's, in alternating processes."""
    import subprocess

    photo = sorted(SAMPLES.glob("*.png"))[0]
    short, long_ = tmp / "ab_720p_3s.mp4", tmp / "ab_720p_10s.mp4"
    write_frames(short, pan(photo, n=90, step=3, size=(1280, 720)), fps=30, crf=20)
    write_frames(long_, pan(photo, n=300, step=1, size=(1280, 720)), fps=30, crf=23)
    pythons = {"this": sys.executable, "other": other}
    marked = {}
    for name, py in pythons.items():  # each checkout's own stamped 10 s clip
        marked[name] = tmp / f"ab_marked_{name}.mp4"
        subprocess.run([py, "-c", _AB_CHILD, KEY.hex(), PAYLOAD.hex(), "stamp", str(long_), str(marked[name])], check=True,
                       capture_output=True)
    tasks = {"stamp 720p 3 s": ("stamp", short), "detect 10 s 720p, marked by this checkout": ("detect", marked["this"]),
             "detect 10 s 720p, marked by the other": ("detect", marked["other"]), "detect 10 s 720p, unmarked": ("detect", long_)}
    times: dict[tuple[str, str], list[float]] = {}
    found: dict[tuple[str, str], list[bool]] = {}
    for r in range(rounds):
        for label, (task, path) in tasks.items():
            order = list(pythons.items()) if r % 2 == 0 else list(pythons.items())[::-1]
            for name, py in order:
                out = subprocess.run([py, "-c", _AB_CHILD, KEY.hex(), PAYLOAD.hex(), task, str(path), str(tmp / "ab_out.mp4")],
                                     check=True, capture_output=True, text=True)
                row = json.loads(out.stdout.splitlines()[-1])
                times.setdefault((label, name), []).append(row["seconds"])
                found.setdefault((label, name), []).append(row["found"])
    lines = ["| task | this checkout (median s) | other (median s) | this / other | payload found (this, other) |", "|---|---:|---:|---:|---|"]
    for label in tasks:
        a, b = statistics.median(times[(label, "this")]), statistics.median(times[(label, "other")])
        fa, fb = all(found[(label, "this")]), all(found[(label, "other")])
        shown = "-" if label.startswith("stamp") else f"{'yes' if fa else 'no'}, {'yes' if fb else 'no'}"
        lines.append(f"| {label} | {a:.2f} | {b:.2f} | {a / b:.2f} | {shown} |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-speed", action="store_true",
                    help="leave out the speed rows (take them with --speed-only on a quiet machine)")
    ap.add_argument("--unmarked", type=int, default=500, help="unmarked clips for the false-positive check")
    ap.add_argument("--unmarked-only", action="store_true", help="run only the false-positive check on unmarked clips")
    ap.add_argument("--shard", default="0/1", metavar="K/N",
                    help="with --unmarked-only: check only clips i %% N == K, in parallel with other shards "
                         "(the cache is shared; a final run with the default 0/1 checks the rest and reports)")
    ap.add_argument("--speed-ab", metavar="PYTHON",
                    help="only time stamping and detection against another checkout's interpreter, alternating processes")
    ap.add_argument("--speed-only", action="store_true",
                    help="only time stamping (720p, 1080p) and detection (10 s 720p, marked and unmarked) here")
    args = ap.parse_args(argv)
    if args.speed_only:
        with tempfile.TemporaryDirectory() as d:
            rows = speed(Path(d), args.runs)
        lines = ["## Video watermark: speed", "", _results.run_header(f"python benchmarks/video.py --speed-only --runs {args.runs}"), "",
                 f"Medians of {args.runs} runs in one process (run it on a quiet machine: these are absolute times). "
                 "Bars: stamping 720p within the clip's duration, 1080p within twice; detecting 10 s of 720p within 1 s.",
                 "", "| speed | median time | |", "|---|---:|---|", *rows]
        _results.update_section("video-speed", "\n".join(lines))
        print("\n".join(lines))
        return 0
    if args.speed_ab:
        with tempfile.TemporaryDirectory() as d:
            body = speed_ab(args.speed_ab, args.runs, Path(d))
        lines = ["## Video watermark: speed against another checkout", "",
                 _results.run_header(f"python benchmarks/video.py --speed-ab {args.speed_ab} --runs {args.runs}"), "",
                 f"Each task in a fresh process per checkout, the two alternating, {args.runs} rounds; the machine is shared, "
                 "so the ratio is what holds. Stamping: a 3 s 1280x720 30 fps pan, each checkout with its own defaults "
                 "(mark strength, CRF). Detection: 32 sampled frames at most, full search, decode included; each "
                 "checkout's stamped copy of a 10 s 720p pan, and the unmarked source.", "", *body]
        _results.update_section("video-speed-ab", "\n".join(lines))
        print("\n".join(lines))
        return 0
    if args.unmarked_only:
        k, n = (int(x) for x in args.shard.split("/"))
        with tempfile.TemporaryDirectory() as d:
            body = unmarked_false_positives(args.unmarked, Path(d), (k, n))
        if body is None:
            return 0
        lines = ["## Video watermark: false positives on unmarked clips", "",
                 _results.run_header(f"python benchmarks/video.py --unmarked-only --unmarked {args.unmarked}"), "", *body]
        _results.update_section("video-unmarked", "\n".join(lines))
        print("\n".join(lines))
        return 0
    clips = benchmark_clips()
    if args.quick:
        clips = clips[:2]
    table: dict[str, list[bool]] = {}
    fidelity = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name, fr in clips:
            src, marked = tmp / f"{name}.mp4", tmp / f"{name}_m.mp4"
            write_frames(src, fr, fps=FPS, crf=0)  # lossless: the stamp's own encode loss counts in full
            embed_video(src, marked, PAYLOAD, key=KEY)
            fidelity.append((name, *psnr_and_flicker(src, marked)))
            results, grab = attacks(marked, tmp)
            table.setdefault("none", []).append(detect_video(marked, key=KEY).watermark.payload == PAYLOAD)
            for attack, path in results.items():
                table.setdefault(attack, []).append(detect_video(path, key=KEY).watermark.payload == PAYLOAD)
            table.setdefault("frame_grab_jpeg80", []).append(watermark.detect(grab, key=KEY).payload == PAYLOAD)
            print(name, {k: v[-1] for k, v in table.items()}, file=sys.stderr)
        unmarked = unmarked_clips(tmp, 6 if args.quick else 30) + [tmp / f"{n}.mp4" for n, _ in clips]
        false_hits = 0
        checks = 0
        for p in unmarked:
            for key in (KEY, b"another key for false positives"):
                checks += 1
                false_hits += detect_video(p, key=key).watermark.detected
        speed_rows = [] if args.quick or args.no_speed else speed(tmp, args.runs)
    lines = [
        "## Video watermark",
        "",
        _results.run_header("python benchmarks/video.py" + (" --quick" if args.quick else "") + (" --no-speed" if args.no_speed else "")),
        "",
        f"Clips: {len(clips)} made here (15 fps, 3 s; pans over the shared sample photos and a still shot at 640x360, "
        "zooms into corpus photos at 640x360, pans, zooms and a still over corpus photos at 1280x720, a pan and a zoom "
        "at 1920x1080; sources lossless), stamped with the defaults (`VIDEO_PSNR`, `PROVENANCE_VIDEO_CRF` and the trial encode), attacked with PyAV, detected "
        "over up to 32 sampled frames (`detect_video`). crf28_downscaled takes 720p and 1080p clips to 480p and 360p "
        "clips to 270p.",
        "",
        "| attack | exact payload | clips missed |",
        "|---|---:|---|",
    ]
    for attack, ok in table.items():
        missed = ", ".join(n for (n, _), hit in zip(clips, ok) if not hit) or "-"
        lines.append(f"| {attack} | {100 * sum(ok) / len(ok):.0f}% ({sum(ok)}/{len(ok)}) | {missed} |")
    lines += ["", "| clip | PSNR dB (mean per frame) | flicker (RMS of frame-to-frame change of the added pattern / its RMS) |", "|---|---:|---:|"]
    lines += [f"| {n} | {p:.1f} | {f:.2f} |" for n, p, f in fidelity]
    lines += ["", f"Unmarked clips: {false_hits} detections in {checks} checks ({len(unmarked)} clips x 2 keys: noise, flat colour, "
              "film grain, the source clips, and the shared fixtures rs_video1.mp4 and gen_c.mov)."]
    if speed_rows:
        lines += ["", "| speed | median time | |", "|---|---:|---|"] + speed_rows
    _results.update_section("video", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
