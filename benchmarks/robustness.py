"""Robustness and fidelity of the watermark over the photo corpus and every attack.

For each corpus photograph: a random 64-bit payload and key (seeded by image index),
embed, measure fidelity (PSNR; visibility in the flattest 10% of 16x16 blocks), detect
on the unmarked original (a false detection if it fires), then apply every attack of
:data:`provenance.attacks.ATTACKS` to the marked image and detect. A recovery is an exact
payload match; a wrong payload is a detection whose payload differs (must be 0).

With ``--platform`` the images are generator-sized outputs (1024x1024 to 4096x4096, made from
the same photos, :func:`corpus.output_images`) and the attacks are the sharing-platform
pipelines of :data:`provenance.attacks.PLATFORM_PIPELINES` (its own RESULTS.md section); the
fidelity lines then add SSIM and a contrast-sensitivity-weighted PSNR.

Usage::

    python benchmarks/robustness.py                    # full corpus, 2 processes
    python benchmarks/robustness.py --platform --per-size 8   # platform pipelines
    python benchmarks/robustness.py --quick            # 4 photos, smoke run, RESULTS.md untouched
    python benchmarks/robustness.py --engine dwtdct    # the invisible-watermark baseline
    python benchmarks/robustness.py --size 512 --jobs 1 --attacks none,jpeg50

Prints a markdown table, updates its section of ``benchmarks/RESULTS.md`` and, for the
``ours`` engine, saves ``benchmarks/side_by_side.png`` (original | marked | 10x difference).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

import _results
import competitor
import corpus
from provenance.attacks import ATTACKS, HARDER_ATTACKS, HARDER_PIPELINES, PLATFORM_PIPELINES

BLOCK = 16
FLAT_FRACTION = 0.10


@dataclass(frozen=True)
class AttackOutcome:
    attack: str
    recovered: bool
    wrong_payload: bool
    detected: bool
    detect_ms: float
    bit_errors: int | None


@dataclass(frozen=True)
class ImageRecord:
    name: str
    short_side: int
    width: int
    height: int
    psnr_db: float
    flat_mean_abs: float
    flat_max_abs: int
    embed_ms: float
    false_detection: bool
    outcomes: tuple[AttackOutcome, ...]
    ssim: float | None = None
    csf_psnr_db: float | None = None


def psnr(original: np.ndarray, marked: np.ndarray) -> float:
    """Peak signal-to-noise ratio over all channels, in dB (inf when identical)."""
    mse = float(np.mean((marked.astype(np.float64) - original) ** 2))
    return 10.0 * math.log10(255.0**2 / mse) if mse > 0 else math.inf


def flat_area_difference(original: np.ndarray, marked: np.ndarray) -> tuple[float, int]:
    """Mean and max absolute difference (any channel) in the flattest 10% of 16x16 blocks.

    Flatness is the standard deviation of the original's luminance in the block.
    """
    h, w = (original.shape[0] // BLOCK) * BLOCK, (original.shape[1] // BLOCK) * BLOCK
    luma = original[:h, :w].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    blocks = luma.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).swapaxes(1, 2)
    std = blocks.std(axis=(2, 3)).ravel()
    count = max(1, int(len(std) * FLAT_FRACTION))
    flattest = np.argpartition(std, count - 1)[:count]
    diff = np.abs(marked[:h, :w].astype(np.int16) - original[:h, :w]).max(axis=2)
    diff_blocks = diff.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).swapaxes(1, 2).reshape(-1, BLOCK, BLOCK)
    chosen = diff_blocks[flattest]
    return float(chosen.mean()), int(chosen.max())


#: Viewing condition of the contrast-sensitivity weighting: the image at 100% on a desktop
#: display (about 96 dpi seen from 60 cm: 40 pixels per degree of visual angle).
PIXELS_PER_DEGREE = 40.0


def csf_psnr(original: np.ndarray, marked: np.ndarray) -> float:
    """PSNR of the luminance difference weighted by the Mannos-Sakrison contrast sensitivity function.

    The difference's spectrum is multiplied by the CSF (peak 1, near 8 cycles/degree at
    :data:`PIXELS_PER_DEGREE`), so an error at the frequencies the eye sees best counts fully
    and one it hardly sees (very low or very high) counts little. Unlike PSNR it tells a fine
    grain apart from a mottle of the same energy.
    """
    luma = np.array([0.299, 0.587, 0.114])
    d = (marked.astype(np.float64) - original) @ luma if original.ndim == 3 else marked.astype(np.float64) - original
    h, w = d.shape
    fy = np.fft.fftfreq(h)[:, None] * PIXELS_PER_DEGREE
    fx = np.fft.rfftfreq(w)[None, :] * PIXELS_PER_DEGREE
    f = np.hypot(fy, fx)
    csf = 2.6 * (0.0192 + 0.114 * f) * np.exp(-((0.114 * f) ** 1.1))
    csf /= csf.max()
    weighted = np.fft.irfft2(np.fft.rfft2(d) * csf, s=(h, w))
    mse = float(np.mean(weighted**2))
    return 10.0 * math.log10(255.0**2 / mse) if mse > 0 else math.inf


def ssim(original: np.ndarray, marked: np.ndarray) -> float:
    """Structural similarity of the luminance (scikit-image, 7x7 windows)."""
    from skimage.metrics import structural_similarity

    luma = np.array([0.299, 0.587, 0.114])
    return float(structural_similarity(original @ luma, marked @ luma, data_range=255.0))


def applies(attack: str, image: np.ndarray) -> bool:
    """Whether a platform pipeline applies to an output of this shape.

    The 16:9 and 9:16 crops are of square outputs, the 1:1 crop of the others; the 2.5x upscale
    is run on outputs up to 2048 px (a 4096 px output would become 105 MP, which no platform serves).
    """
    h, w = image.shape[:2]
    if attack.startswith("crop16:9") or attack.startswith("crop9:16"):
        return h == w
    if attack.startswith("crop1:1"):
        return h != w
    if attack.startswith("upscale"):
        return max(h, w) <= 2048
    return True


def payload_and_key(index: int, seed: int) -> tuple[bytes, str]:
    """The random 64-bit payload and key for the image at `index`."""
    rng = np.random.default_rng([seed, index, 0x5EED])
    return rng.bytes(8), rng.bytes(16).hex()


def _bit_errors(a: bytes, b: bytes) -> int:
    return int(np.unpackbits(np.frombuffer(bytes(x ^ y for x, y in zip(a, b)), dtype=np.uint8)).sum())


_ENGINE: competitor.Engine | None = None


def _init_worker(engine_name: str, canonical_side: int | None = None, field_share: float | None = None) -> None:
    global _ENGINE
    if canonical_side is not None:
        # Design comparison only: the canonical grid's long side is a module constant.
        from provenance.watermark import frame

        frame.CANONICAL_SIDE = canonical_side
    _ENGINE = competitor.load_engine(engine_name)
    if field_share is not None and engine_name == "ours":
        # Design comparison only: layer B's share of the power (embed's field_share).
        from provenance import watermark

        def embed(image: np.ndarray, payload: bytes, key: str) -> np.ndarray:
            return watermark.embed(image, payload, key=key, field_share=field_share)

        _ENGINE = competitor.Engine(_ENGINE.name, embed, _ENGINE.detect, _ENGINE.keyed)


def evaluate_image(task: tuple[int, corpus.CorpusImage, int, tuple[str, ...]]) -> ImageRecord:
    """Embed in one corpus image, then detect on the original and after every attack."""
    index, item, seed, attack_names = task
    assert _ENGINE is not None, "call _init_worker first"
    engine = _ENGINE
    platform = attack_names[0] in PLATFORM_PIPELINES
    suite = PLATFORM_PIPELINES if platform else ATTACKS
    image = corpus.load_corpus_image(item)
    payload, key = payload_and_key(index, seed)
    t0 = time.perf_counter()
    marked = engine.embed(image, payload, key)
    embed_ms = (time.perf_counter() - t0) * 1e3
    flat_mean, flat_max = flat_area_difference(image, marked)
    false_detection = engine.detect(image, key).detected
    outcomes = []
    for name in attack_names:
        if platform and not applies(name, image):
            continue
        attacked = suite[name](marked)
        t0 = time.perf_counter()
        d = engine.detect(attacked, key)
        ms = (time.perf_counter() - t0) * 1e3
        ok = d.payload == payload
        outcomes.append(
            AttackOutcome(
                name,
                recovered=bool(d.detected and ok),
                wrong_payload=bool(d.detected and not ok),
                detected=bool(d.detected),
                detect_ms=ms,
                bit_errors=_bit_errors(d.payload, payload) if d.payload is not None else None,
            )
        )
    return ImageRecord(
        item.name, item.short_side, image.shape[1], image.shape[0], psnr(image, marked),
        flat_mean, flat_max, embed_ms, bool(false_detection), tuple(outcomes),
        ssim(image, marked) if platform else None, csf_psnr(image, marked) if platform else None,
    )


def _pct(n: int, total: int) -> str:
    return f"{100.0 * n / total:.1f}%" if total else "-"


def format_report(records: list[ImageRecord], engine: str, attack_names: tuple[str, ...]) -> str:
    """The markdown tables and fidelity lines for a finished run."""
    n = len(records)
    by_attack: dict[str, list[AttackOutcome]] = defaultdict(list)
    for rec in records:
        for o in rec.outcomes:
            by_attack[o.attack].append(o)
    show_bits = engine == "dwtdct"
    head = "| attack | recovered | wrong payloads | median detect ms |" + (" mean bit accuracy |" if show_bits else "")
    lines = [head, "|---|---:|---:|---:|" + ("---:|" if show_bits else "")]
    for name in attack_names:
        outs = by_attack[name]
        rec_n = sum(o.recovered for o in outs)
        bars = {**HARDER_ATTACKS, **HARDER_PIPELINES}
        label = f"{name} (bar {bars[name]:.0%})" if name in bars else name
        row = (f"| {label} | {_pct(rec_n, len(outs))} ({rec_n}/{len(outs)}) | {sum(o.wrong_payload for o in outs)} "
               f"| {np.median([o.detect_ms for o in outs]):.0f} |")
        if show_bits:
            errs = [o.bit_errors for o in outs if o.bit_errors is not None]
            row += f" {100 * (1 - np.mean(errs) / 64):.1f}% |" if errs else " - |"
        lines.append(row)

    platform = any(r.ssim is not None for r in records)
    size_of = (lambda r: f"{r.width}x{r.height}") if platform else (lambda r: r.short_side)
    sizes = sorted({size_of(r) for r in records}, key=lambda s: (str(s).count("x") and int(str(s).split("x")[0]), s))
    word = "output size" if platform else "shorter side"
    lines += ["", f"Recovered by {word} (images at that size in brackets):", ""]
    lines.append("| attack | " + " | ".join(f"{s}{'' if platform else ' px'} ({sum(size_of(r) == s for r in records)})" for s in sizes) + " |")
    lines.append("|---|" + "---:|" * len(sizes))
    for name in attack_names:
        cells = []
        for s in sizes:
            outs = [o for r in records if size_of(r) == s for o in r.outcomes if o.attack == name]
            cells.append(_pct(sum(o.recovered for o in outs), len(outs)))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if platform:
        lines += ["", "Fidelity by output size (PSNR / SSIM / CSF-weighted PSNR, mean and min):", ""]
        lines.append("| output | PSNR mean | PSNR min | SSIM mean | SSIM min | CSF-PSNR mean | CSF-PSNR min | flat 10% mean abs diff |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for s in sizes:
            rs = [r for r in records if size_of(r) == s]
            p = [r.psnr_db for r in rs]
            q = [r.ssim for r in rs]
            c = [r.csf_psnr_db for r in rs]
            lines.append(f"| {s} | {np.mean(p):.2f} | {min(p):.2f} | {np.mean(q):.4f} | {min(q):.4f} | {np.mean(c):.2f} "
                         f"| {min(c):.2f} | {np.mean([r.flat_mean_abs for r in rs]):.2f} |")

    psnrs = np.array([r.psnr_db for r in records])
    total_wrong = sum(o.wrong_payload for r in records for o in r.outcomes)
    lines += [
        "",
        f"- images: {n} ({', '.join(f'{s}' for s in sizes)} {word}), engine `{engine}`",
        f"- PSNR: mean {psnrs.mean():.2f} dB, min {psnrs.min():.2f} dB ({records[int(psnrs.argmin())].name})",
        f"- flattest 10% of 16x16 blocks: mean |diff| {np.mean([r.flat_mean_abs for r in records]):.2f}, "
        f"max |diff| {max(r.flat_max_abs for r in records)} (0-255 levels, worst channel)",
        f"- median embed: {np.median([r.embed_ms for r in records]):.0f} ms (mixed sizes, under --jobs load)",
        f"- false detections on the unmarked originals with the image's key: "
        f"{sum(r.false_detection for r in records)}/{n}",
        f"- wrong payloads over all attacks: {total_wrong}",
    ]
    missed = []
    for r in records:
        names = [o.attack for o in r.outcomes if not o.recovered]
        if names:
            missed.append(f"{r.name}: " + ("all" if len(names) == len(r.outcomes) else ", ".join(names)))
    if missed:
        lines.append(f"- missed, by image: {'; '.join(missed)}")
    return "\n".join(lines)


def save_side_by_side(engine: competitor.Engine, item: corpus.CorpusImage, path: Path, *, seed: int) -> None:
    """Save original | marked | 128 + 10 x (marked - original) for a ~512 px crop of one photo."""
    image = corpus.load_corpus_image(item)
    payload, key = payload_and_key(0, seed)
    marked = engine.embed(image, payload, key)
    h, w = image.shape[:2]
    cw, ch = min(512, w), min(384, h)
    top, left = (h - ch) // 2, (w - cw) // 2
    orig_c = image[top : top + ch, left : left + cw].astype(np.int16)
    mark_c = marked[top : top + ch, left : left + cw].astype(np.int16)
    diff = np.clip(128 + 10 * (mark_c - orig_c), 0, 255).astype(np.uint8)
    gap = 8
    sheet = np.full((ch, 3 * cw + 2 * gap, 3), 255, dtype=np.uint8)
    for i, panel in enumerate((orig_c.astype(np.uint8), mark_c.astype(np.uint8), diff)):
        sheet[:, i * (cw + gap) : i * (cw + gap) + cw] = panel
    Image.fromarray(sheet).save(path)


def save_full_resolution_crop(engine: competitor.Engine, item: corpus.CorpusImage, path: Path, *, seed: int) -> None:
    """Save original | marked | 128 + 10 x (marked - original) for a 512 x 512 crop at 100% of a large output."""
    image = corpus.load_corpus_image(item)
    payload, key = payload_and_key(0, seed)
    marked = engine.embed(image, payload, key)
    h, w = image.shape[:2]
    side = 512
    top, left = (h - side) // 2, (w - side) // 2
    orig_c = image[top : top + side, left : left + side].astype(np.int16)
    mark_c = marked[top : top + side, left : left + side].astype(np.int16)
    diff = np.clip(128 + 10 * (mark_c - orig_c), 0, 255).astype(np.uint8)
    gap = 8
    sheet = np.full((side, 3 * side + 2 * gap, 3), 255, dtype=np.uint8)
    for i, panel in enumerate((orig_c.astype(np.uint8), mark_c.astype(np.uint8), diff)):
        sheet[:, i * (side + gap) : i * (side + gap) + side] = panel
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=list(competitor.ENGINES), default="ours")
    parser.add_argument("--quick", action="store_true", help="4 photos; do not write RESULTS.md unless --write")
    parser.add_argument("--limit", type=int, help="use only the first N photos")
    parser.add_argument("--size", type=int, help="put every photo at this shorter side (default: a mix)")
    parser.add_argument("--attacks", help="comma-separated subset of attacks (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--platform", action="store_true", help="generator-sized outputs and platform pipelines")
    parser.add_argument("--per-size", type=int, default=8, help="photos per output size with --platform (default 8)")
    parser.add_argument("--canonical-side", type=int, help="override the canonical grid's long side (design comparison)")
    parser.add_argument("--field-share", type=float, help="layer B's share of the power (design comparison)")
    write = parser.add_mutually_exclusive_group()
    write.add_argument("--write", action="store_true", help="update RESULTS.md even for --quick/null runs")
    write.add_argument("--no-write", action="store_true", help="leave RESULTS.md alone")
    args = parser.parse_args(argv)

    suite = PLATFORM_PIPELINES if args.platform else ATTACKS
    attack_names = tuple(suite) if not args.attacks else tuple(a.strip() for a in args.attacks.split(","))
    unknown = [a for a in attack_names if a not in suite]
    if unknown:
        parser.error(f"unknown attacks {unknown}; choose from {', '.join(suite)}")
    limit = args.limit or (4 if args.quick else None)
    if args.platform:
        items = corpus.output_images(per_size=2 if args.quick else args.per_size)
    else:
        items = corpus.corpus_images(short_side=args.size, limit=limit)
    engine = competitor.load_engine(args.engine)  # fail early, in the parent, if it is missing
    tasks = [(i, item, args.seed, attack_names) for i, item in enumerate(items)]

    records: list[ImageRecord] = []
    progress = tqdm(total=len(tasks), desc=f"robustness [{args.engine}]", unit="img", file=sys.stderr)
    if args.jobs <= 1:
        _init_worker(args.engine, args.canonical_side, args.field_share)
        for task in tasks:
            records.append(evaluate_image(task))
            progress.update()
    else:
        ctx = mp.get_context("spawn")
        with ctx.Pool(args.jobs, initializer=_init_worker, initargs=(args.engine, args.canonical_side, args.field_share)) as pool:
            for rec in pool.imap_unordered(evaluate_image, tasks):
                records.append(rec)
                progress.update()
    progress.close()
    order = {item.name: i for i, item in enumerate(items)}
    records.sort(key=lambda r: order[r.name])

    report = format_report(records, args.engine, attack_names)
    print(report)

    command = "python benchmarks/robustness.py " + " ".join(argv if argv is not None else sys.argv[1:])
    comparison = args.canonical_side or args.field_share is not None
    should_write = args.write or not (args.no_write or args.quick or args.engine == "null" or comparison)
    if should_write:
        section = "robustness" if args.engine == "ours" else f"robustness-{args.engine}"
        title = "Robustness" if args.engine == "ours" else f"Robustness: baseline `{args.engine}`"
        if args.platform:
            section, title = section + "-platform", title + ": platform pipelines on generator-sized outputs"
        _results.update_section(section, f"## {title}\n\n{_results.run_header(command.strip())}\n\n{report}")
        print(f"\nupdated section {section!r} of {_results.RESULTS_PATH}")
    if args.platform:
        big = [item for item in items if item.name.endswith("4096x4096")]
        if big:
            out = corpus.BENCH_DIR.parent / "docs" / "img" / "watermark-4096-crop.png"
            save_full_resolution_crop(engine, big[0], out, seed=args.seed)
            print(f"saved {out}")
        return 0
    if args.engine == "ours":
        out = corpus.BENCH_DIR / "side_by_side.png"
    else:
        out = corpus.CACHE_DIR / f"side_by_side_{args.engine}.png"
    save_side_by_side(engine, items[0], out, seed=args.seed)
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
