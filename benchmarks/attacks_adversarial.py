"""Keyless copy and removal attacks against the verdict, and legit copies, in one run (issue 13).

For each corpus photograph: stamp it with a real :class:`~provenance.stamp.Stamper` (SQLite
registry in a temporary instance), then verify with one :class:`~provenance.report.Verifier`:

- **legit copies**: every attack of :data:`provenance.attacks.ATTACKS` and three platform
  pipelines (long side 1080 + JPEG 75, long side 720 + JPEG 75, 16:9 centre crop + long side
  1280 + JPEG 75), saved as PNG without credentials. They should keep ``ai_generated_recovered``;
  the rate *before* this change is what the verdict would have been (watermark found and its ID
  in the registry), measured on the same reports;
- **copy attack** (:mod:`provenance.keyless_attacks`): the stamp's keyless mark estimate added to the *next*
  photograph (a different picture) at about 38 dB, plain, after JPEG 80 and after a 0.75 resize.
  A verdict vouches for the copied stamp when it is ``ai_generated_*`` with that stamp's record;
- **removal attack**: the estimate subtracted from the stamped picture (gain 1); the verdict
  should tie the near-copy to its stamp (``possible_match_watermark_missing``, or
  ``ai_generated_recovered`` if the mark survived).

Usage::

    python benchmarks/attacks_adversarial.py              # whole corpus, mixed sizes
    python benchmarks/attacks_adversarial.py --quick      # 3 photos, RESULTS.md untouched
    python benchmarks/attacks_adversarial.py --size 768 --limit 10
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

import _results
import corpus
from provenance.attacks import ATTACKS, jpeg
from provenance import keyless_attacks as adversary
from provenance.images import decode_image
from provenance.report import Verifier
from provenance.settings import Settings
from provenance.stamp import Stamper

VOUCHING = {"ai_generated_recovered", "ai_generated_trusted", "ai_generated_valid"}


def _fit(image: np.ndarray, long_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    f = long_side / max(h, w)
    if f >= 1:
        return image
    return np.asarray(Image.fromarray(image).resize((round(w * f), round(h * f)), Image.Resampling.LANCZOS))


def _crop_16_9(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    if w / h >= 16 / 9:
        nw = round(h * 16 / 9)
        x0 = (w - nw) // 2
        return image[:, x0 : x0 + nw]
    nh = round(w * 9 / 16)
    y0 = (h - nh) // 2
    return image[y0 : y0 + nh]


PLATFORMS = {
    "fit1080+jpeg75": lambda im: jpeg(_fit(im, 1080), 75),
    "fit720+jpeg75": lambda im: jpeg(_fit(im, 720), 75),
    "crop16:9+fit1280+jpeg75": lambda im: jpeg(_fit(_crop_16_9(im), 1280), 75),
}


def _png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def run(items: list[corpus.CorpusImage], *, quiet: bool = False, only: range | None = None,
        targets: list[corpus.CorpusImage] | None = None, field_percent: float = 0.0) -> dict:
    """Stamp `items[only]`, attack and verify; return the tallies.

    The copy attack's target for photo ``i`` is ``targets[(i + 1) % len(targets)]`` (default `items`).
    """
    targets = items if targets is None else targets
    only = range(len(items)) if only is None else only
    tally: dict = {"legit": defaultdict(Counter), "copy": defaultdict(Counter), "removal": Counter(),
                   "copy_psnr": defaultdict(list), "removal_psnr": [], "removal_pdq": [], "verify_ms": [],
                   "copy_vouching": [], "removal_untied": []}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({"PROVENANCE_WATERMARK_FIELD_PERCENT": str(field_percent)}).with_instance(tmp)
        with Stamper(settings) as stamper, Verifier(settings, registry=stamper.registry) as verifier:
            pictures = {i: corpus.load_corpus_image(items[i]) for i in only}
            stamps = {}
            for i in only:
                result = stamper.stamp_image(pictures[i], generator="bench-model 1.0")
                stamps[i] = (result.stamp_id, decode_image(result.data))

            def verify(pixels: np.ndarray, label: str):
                t0 = time.perf_counter()
                report = verifier.verify(_png(pixels), name=f"{label}.png")
                tally["verify_ms"].append(1e3 * (time.perf_counter() - t0))
                return report

            n = len(targets)
            for i in only:
                item, (stamp_id, marked) = items[i], stamps[i]
                for name, attack in {**ATTACKS, **PLATFORMS}.items():
                    report = verify(attack(marked), f"{item.name}-{name}")
                    before = report.watermark.detected and report.registry.lookup == "watermark_id"
                    after = report.verdict.code == "ai_generated_recovered" and report.registry.record.stamp_id == stamp_id
                    group = "platform" if name in PLATFORMS else "attacks"
                    tally["legit"][group].update(total=1, before=int(before), after=int(after))
                    tally["legit"][name].update(total=1, before=int(before), after=int(after))
                    if before and not after:
                        tally["legit"]["lost"][f"{item.name} {name}: {report.verdict.code}"] += 1
                target_item = targets[(i + 1) % n]
                target = corpus.load_corpus_image(target_item)
                planted = adversary.copy_mark(marked, target)
                for variant, pixels in (("plain", planted), ("jpeg80", jpeg(planted, 80)),
                                        ("resize0.75", adversary.resize_to(planted, 0.75))):
                    report = verify(pixels, f"{target_item.name}-copy-{variant}")
                    rec = report.registry.record
                    carries = report.watermark.stamp_id == stamp_id
                    vouch = report.verdict.code in VOUCHING and rec is not None and rec.stamp_id == stamp_id
                    tally["copy"][variant].update(total=1, mark_read=int(carries), vouching=int(vouch),
                                                  **{report.verdict.code: 1})
                    if variant == "plain":
                        tally["copy_psnr"][variant].append(adversary.psnr(target, planted))
                    if vouch:
                        tally["copy_vouching"].append(f"{item.name} on {target_item.name} ({variant})")
                removed = adversary.remove_mark(marked)
                report = verify(removed, f"{item.name}-removed")
                rec = report.registry.record
                tied = rec is not None and rec.stamp_id == stamp_id and report.verdict.code in (
                    "possible_match_watermark_missing", "ai_generated_recovered")
                pdq = report.registry.phash_distance
                tally["removal"].update(total=1, mark_gone=int(not report.watermark.detected), tied=int(tied),
                                        within=int(pdq is not None and pdq <= 31), **{report.verdict.code: 1})
                tally["removal_psnr"].append(adversary.psnr(marked, removed))
                tally["removal_pdq"].append(pdq)
                if not tied:
                    tally["removal_untied"].append(f"{item.name}: {report.verdict.code} (PDQ {pdq})")
                if not quiet:
                    print(f"[{i + 1}/{len(items)}] {item.name} done", file=sys.stderr, flush=True)
    return tally


def _worker(args: tuple[list[corpus.CorpusImage], range, float]) -> dict:
    items, only, field_percent = args
    tally = run(items, only=only, field_percent=field_percent)
    return {k: (dict(v) if isinstance(v, defaultdict) else v) for k, v in tally.items()}


def _merge(parts: list[dict]) -> dict:
    out: dict = {"legit": defaultdict(Counter), "copy": defaultdict(Counter), "removal": Counter(),
                 "copy_psnr": defaultdict(list), "removal_psnr": [], "removal_pdq": [], "verify_ms": [],
                 "copy_vouching": [], "removal_untied": []}
    for part in parts:
        for key, value in part.items():
            if key in ("legit", "copy", "copy_psnr"):
                for k, v in value.items():
                    if isinstance(v, Counter):
                        out[key][k].update(v)
                    else:
                        out[key][k].extend(v)
            elif key == "removal":
                out[key].update(value)
            else:
                out[key].extend(value)
    return out


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "-"


def format_report(tally: dict, items: list[corpus.CorpusImage], command: str) -> str:
    lines = [
        "## Adversarial attacks: copied and removed watermarks (issue 13)", "",
        _results.run_header(command), "",
        f"{len(items)} corpus photos ({', '.join(sorted({str(i.short_side) for i in items}))} px short side), "
        "each stamped by `Stamper` and verified as PNG without credentials by one `Verifier` (SQLite registry). "
        "*Before* is the verdict the previous code gave on the same report (watermark found and its ID in the "
        "registry means `ai_generated_recovered`); *after* is this code's verdict.", "",
        "### Copy attack: the stamp's keyless estimate planted on the next (different) photo", "",
        "| variant | pairs | mark read as the stamp's ID | verdicts vouching for the stamp (before -> after) | verdicts |",
        "|---|---:|---:|---:|---|",
    ]
    for variant, c in tally["copy"].items():
        codes = ", ".join(f"{k} {v}" for k, v in sorted(c.items()) if k not in ("total", "mark_read", "vouching"))
        lines.append(f"| {variant} | {c['total']} | {c['mark_read']} | {c['mark_read']} -> **{c['vouching']}** | {codes} |")
    ps = tally["copy_psnr"]["plain"]
    lines += ["", f"PSNR of the planted photo against the clean one: median {np.median(ps):.1f} dB "
              f"(min {min(ps):.1f}, max {max(ps):.1f})."]
    if tally["copy_vouching"]:
        lines.append("Vouching verdicts: " + "; ".join(tally["copy_vouching"]))
    r = tally["removal"]
    pdq = [d for d in tally["removal_pdq"] if d is not None]
    codes = ", ".join(f"`{k}` {v}" for k, v in sorted(r.items()) if k not in ("total", "mark_gone", "tied", "within"))
    lines += [
        "", "### Removal attack: the estimate subtracted from the stamped picture (gain 1)", "",
        f"- mark gone: {r['mark_gone']} of {r['total']}; PSNR against the stamped picture median "
        f"{np.median(tally['removal_psnr']):.1f} dB (min {min(tally['removal_psnr']):.1f})",
        f"- PDQ distance to the stamped output: median {np.median(pdq):.0f}, max {max(pdq)} bits; within 31: {r['within']}",
        f"- tied to its stamp in the verdict: **{r['tied']} of {r['total']}** (before: "
        f"{r['total'] - r['mark_gone']}, the ones whose mark survived); verdicts: {codes}",
    ]
    if tally["removal_untied"]:
        lines.append("- not tied: " + "; ".join(tally["removal_untied"]))
    lines += ["", "### Legit copies keep their verdict (same run)", "",
              "| attack | images | `ai_generated_recovered` before | after |", "|---|---:|---:|---:|"]
    legit = tally["legit"]
    for name in [*ATTACKS, *PLATFORMS]:
        c = legit[name]
        lines.append(f"| {name} | {c['total']} | {_pct(c['before'], c['total'])} | {_pct(c['after'], c['total'])} |")
    for group in ("attacks", "platform"):
        c = legit[group]
        lines.append(f"| **all {group}** | {c['total']} | {_pct(c['before'], c['total'])} ({c['before']}) | "
                     f"{_pct(c['after'], c['total'])} ({c['after']}) |")
    if legit["lost"]:
        lines += ["", "Lost (recovered before, not after): " + "; ".join(sorted(legit["lost"]))]
    ms = tally["verify_ms"]
    lines += ["", f"Verification time over all {len(ms)} verifications: median {np.median(ms):.0f} ms "
              "(noisy: a shared 2-core machine)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 photos; RESULTS.md untouched")
    parser.add_argument("--limit", type=int, help="use only the first N photos")
    parser.add_argument("--size", type=int, help="put every photo at this shorter side (default: a mix)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes, each with its own registry")
    parser.add_argument("--no-write", action="store_true", help="leave RESULTS.md alone")
    parser.add_argument("--field-percent", type=float, default=0.0,
                        help="PROVENANCE_WATERMARK_FIELD_PERCENT of the stamps (layer B's share; RESULTS.md untouched unless 0)")
    args = parser.parse_args(argv)
    limit = 3 if args.quick else args.limit
    items = corpus.corpus_images(short_side=args.size, limit=limit)
    if args.jobs > 1:
        chunks = [(items, range(j, len(items), args.jobs), args.field_percent) for j in range(args.jobs)]
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            tally = _merge(pool.map(_worker, chunks))
    else:
        tally = run(items, field_percent=args.field_percent)
    text = format_report(tally, items, "python benchmarks/attacks_adversarial.py " + " ".join(argv or sys.argv[1:]))
    print(text)
    if not (args.quick or args.no_write or args.field_percent):
        _results.update_section("attacks-adversarial", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
