"""Layer B (the keyed non-periodic field) on its own: which whole-image pipelines it survives.

For generator-sized outputs (:func:`corpus.output_images`) marked at each layer-B share, every
whole-image platform pipeline and a fold-and-subtract of layer A (gain 1) is applied, and layer
B alone is decoded at the unchanged canonical grid (as :func:`provenance.watermark.detect` does
once layer A fails there), and again at every offset of up to one canonical pixel (would a
small search pay?). Also reported: layer B's margin, the mean soft-bit correlation with the
true coded symbols in units of its spread (how far from the decoding limit it is).

Usage::

    python benchmarks/field_layer.py --shares 0.25,0.4 --per-size 2
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shares", default="0.25,0.4")
    parser.add_argument("--per-size", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="update RESULTS.md")
    args = parser.parse_args(argv)
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
