"""Layer B (the keyed non-periodic field) on its own: which whole-image pipelines it survives.

For generator-sized outputs (:func:`corpus.output_images`) marked at each layer-B share, every
whole-image platform pipeline and a fold-and-subtract of layer A (gain 1) is applied, and layer
B alone is decoded at the unchanged canonical grid (as :func:`provenance.watermark.detect` does
once layer A fails there), and again at every offset of up to one canonical pixel (would a
small search pay?). Also reported: layer B's margin, the mean soft-bit correlation with the
true coded symbols in units of its spread (how far from the decoding limit it is).

With ``--cost``: what layer B adds to detection, which every unmarked image pays (one sparse
product and one Viterbi decode at the unchanged grid), against the quick search in the same
run: 4 unmarked 1024x1024 JPEGs (quality 85), decoded and detected in turn, medians of 7 rounds.

Usage::

    python benchmarks/field_layer.py --shares 0.25,0.4 --per-size 2
    python benchmarks/field_layer.py --cost
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time

import numpy as np
from PIL import Image

import _results
import corpus
from provenance import attacks, keyless_attacks, watermark
from provenance.watermark.coding import decode_payload, encode_payload
from provenance.watermark.field import keyed_field
from provenance.watermark.frame import canonical_luma, canonical_shape
from provenance.watermark.patterns import keyed_pattern
from provenance.watermark.sync import whiten

PIPELINES = (
    "fit1080+jpeg60", "fit1080+jpeg75", "fit1080+webp70", "fit720+jpeg60", "fit720+webp70",
    "fit1600+jpeg75", "reshare2", "reshare3", "upscale2.5+jpeg85",
)


def _layer_b(image: np.ndarray, key: bytes, symbols: np.ndarray) -> tuple[bytes | None, bool, float]:
    """(payload at the grid, decoded at some offset of <= 1 px, margin) of layer B alone."""
    h, w = image.shape[:2]
    y = canonical_luma(image, canonical_shape(h, w))
    hw, ww = y.shape[0] // 8 * 8, y.shape[1] // 8 * 8
    y0, x0 = (y.shape[0] - hw) // 2, (y.shape[1] - ww) // 2
    yw = whiten(np.ascontiguousarray(y[y0 : y0 + hw, x0 : x0 + ww]))
    field, salt = keyed_field(key), keyed_pattern(key).salt
    soft = field.soft_bits(yw, (y0, x0))
    at_grid = decode_payload(soft, salt)
    inner = yw[1:-1, 1:-1]
    near = any(
        decode_payload(field.soft_bits(inner, (y0 + 1 + dy, x0 + 1 + dx)), salt) is not None
        for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    )
    c = soft * symbols
    return at_grid, near, float(c.mean() / (c.std() + 1e-12))


def cost(rounds: int = 7) -> str:
    """Median ms of the quick search, the full search and layer B's decode on unmarked JPEGs."""
    jpegs = []
    for item in corpus.corpus_images(short_side=1024, limit=4):
        image = corpus.load_corpus_image(item)[:1024, :1024]
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image)).save(buf, format="JPEG", quality=85)
        jpegs.append(buf.getvalue())
    key = b"field-layer-cost-key"
    field, salt = keyed_field(key), keyed_pattern(key).salt
    times: dict[str, list[float]] = {"quick": [], "full": [], "B": []}
    for _ in range(rounds):
        for data in jpegs:
            for search in ("quick", "full"):
                t0 = time.perf_counter()
                image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
                watermark.detect(image, key=key, search=search)
                times[search].append(time.perf_counter() - t0)
            y = canonical_luma(image, canonical_shape(*image.shape[:2]))
            hw, ww = y.shape[0] // 8 * 8, y.shape[1] // 8 * 8
            y0, x0 = (y.shape[0] - hw) // 2, (y.shape[1] - ww) // 2
            yw = whiten(np.ascontiguousarray(y[y0 : y0 + hw, x0 : x0 + ww]))
            t0 = time.perf_counter()
            decode_payload(field.soft_bits(yw, (y0, x0)), salt)
            times["B"].append(time.perf_counter() - t0)
    ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    return (
        "| step | median ms |\n|---|---:|\n"
        f"| quick search (JPEG decode included; layer B's decode included) | {ms['quick']:.1f} |\n"
        f"| full search (the same) | {ms['full']:.1f} |\n"
        f"| layer B's decode alone (sparse product + Viterbi + CRC) | {ms['B']:.2f} |\n\n"
        f"- layer B is {100 * ms['B'] / ms['quick']:.1f}% of the quick search and "
        f"{100 * ms['B'] / ms['full']:.1f}% of the full search; 4 unmarked 1024x1024 JPEGs x {rounds} rounds, one process"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shares", default="0.25,0.4")
    parser.add_argument("--per-size", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="update RESULTS.md")
    parser.add_argument("--cost", action="store_true", help="measure layer B's detection cost instead")
    args = parser.parse_args(argv)
    if args.cost:
        report = cost()
        print(report)
        if args.write:
            _results.update_section("field-layer-cost", "## Layer B: detection cost (unmarked 1024x1024 JPEG)\n\n"
                                    f"{_results.run_header('python benchmarks/field_layer.py --cost --write')}\n\n{report}")
        return 0
    shares = [float(s) for s in args.shares.split(",")]
    items = corpus.output_images(per_size=args.per_size)
    rng = np.random.default_rng(3)
    rows: dict[tuple[float, str], list[tuple[bool, bool, float]]] = {}
    for i, item in enumerate(items):
        image = corpus.load_corpus_image(item)
        key, payload = rng.bytes(16), rng.bytes(8)
        symbols = encode_payload(payload, keyed_pattern(key).salt)
        for share in shares:
            marked = watermark.embed(image, payload, key=key, field_share=share)
            cases = [("none", marked), ("fold-and-subtract A, gain 1", keyless_attacks.remove_mark(marked, gain=1.0))]
            cases += [(p, attacks.PLATFORM_PIPELINES[p](marked)) for p in PIPELINES
                      if not (p.startswith("upscale") and max(image.shape[:2]) > 2048)]
            for name, attacked in cases:
                got, near, margin = _layer_b(attacked, key, symbols)
                rows.setdefault((share, name), []).append((got == payload, near, margin))
        print(f"{i + 1}/{len(items)} {item.name}", file=sys.stderr, flush=True)
    names = list(dict.fromkeys(name for _, name in rows))
    head = "| pipeline | " + " | ".join(f"B at {s:.0%}: at grid / within 1 px / margin" for s in shares) + " |"
    lines = [head, "|---|" + "---:|" * len(shares)]
    for name in names:
        cells = []
        for s in shares:
            r = rows[(s, name)]
            cells.append(f"{sum(a for a, _, _ in r)}/{len(r)} / {sum(b for _, b, _ in r)}/{len(r)} / "
                         f"{np.median([m for _, _, m in r]):.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    report = "\n".join(lines) + (
        f"\n\n- {len(items)} outputs ({args.per_size} per size, 1024x1024 to 4096x4096), a random key and payload "
        "each; layer B decoded alone; margin = median over images of mean/sd of soft bit x true symbol"
    )
    print(report)
    if args.write:
        command = "python benchmarks/field_layer.py " + " ".join(argv if argv is not None else sys.argv[1:])
        _results.update_section(
            "field-layer", f"## Layer B alone: whole-image pipelines\n\n{_results.run_header(command.strip())}\n\n{report}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
