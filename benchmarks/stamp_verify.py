"""Stamp and verify speed per 1024x1024 image (PNG, JPEG, WebP), by phase, and files/s on a folder of 100.

Each figure is the median over ``--runs`` calls after one warm-up, in one process, on a
1024x1024 crop of a Kodak photograph from ``../shared/samples`` (upscaled from 768x512, so
smoother than a native 1024 px image). The registry is SQLite in a temporary instance, with
the development key and CA, unless ``--database-url`` names another.

*Total* is the public call: ``Stamper.stamp_image(array, output_format=...)`` (watermark,
encode, sign, read back, PDQ, registry write) and ``Verifier.verify(bytes)`` (C2PA read,
decode, watermark detection with every key, PDQ, registry lookup and recovery, metadata,
audit log). The phase columns time the same library calls one by one, so they add up to
about the total.

The folder: 100 files (25 stamped PNG, 25 stamped JPEG, 25 stripped copies of stamped files
(resize 0.75, JPEG 80), 25 unmarked JPEGs), verified with one ``Verifier`` in this process and
with ``provenance verify FOLDER --json`` in a child process (startup included).

Usage::

    python benchmarks/stamp_verify.py               # 10 runs, writes its section of RESULTS.md
    python benchmarks/stamp_verify.py --runs 3 --no-write
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

import _results
from provenance import watermark
from provenance.hashing import pdq_hash
from provenance.images import decode_image, encode_image
from provenance.manifest import read_manifest
from provenance.metadata import read_metadata
from provenance.registry import StampRecord, new_stamp_id
from provenance.report import Verifier
from provenance.settings import Settings
from provenance.signing import ai_generated_manifest, sign_asset
from provenance.stamp import OUTPUT_FORMATS, OUTPUT_QUALITY, Stamper, embedded_manifest_store

REPO = Path(__file__).resolve().parents[1]
SHARED_SAMPLES = Path(os.environ.get("PROVENANCE_SHARED", REPO.parent / "shared")) / "samples"
SIDE = 1024
FORMATS = ("PNG", "JPEG", "WEBP")
FOLDER_SIZE = 100
GENERATOR = "benchmark-model 1.0"


def photo_crops() -> list[np.ndarray]:
    """Every Kodak photograph, upscaled to a shorter side of 1024 and centre-cropped to 1024x1024."""
    crops = []
    for path in sorted(SHARED_SAMPLES.glob("kodim*.png")):
        im = Image.open(path).convert("RGB")
        scale = SIDE / min(im.size)
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.BICUBIC)
        left, top = (im.width - SIDE) // 2, (im.height - SIDE) // 2
        crops.append(np.asarray(im.crop((left, top, left + SIDE, top + SIDE))))
    if not crops:
        raise SystemExit(f"no kodim*.png in {SHARED_SAMPLES}; set PROVENANCE_SHARED")
    return crops


def stripped(data: bytes) -> bytes:
    """Resize 0.75 (Lanczos) and re-save as JPEG 80, dropping all metadata."""
    im = Image.open(io.BytesIO(data)).convert("RGB")
    im = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def _median_ms(samples: list[float]) -> float:
    return 1000 * float(np.median(samples))


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


# --------------------------------------------------------------------------- per-image phases


STAMP_PHASES = ("embed", "encode", "sign", "read back", "PDQ", "registry write")
VERIFY_PHASES = ("C2PA read", "decode", "detect", "PDQ", "registry", "metadata")


def stamp_phases(stamper: Stamper, image: np.ndarray, fmt: str) -> dict[str, float]:
    """One stamp, its steps timed one by one (seconds), as ``Stamper`` runs them."""
    mime = OUTPUT_FORMATS[fmt]
    stamp_id = new_stamp_id()
    anchors = (stamper.credentials.ca_pem,)
    t: dict[str, float] = {}
    marked, t["embed"] = _timed(lambda: watermark.embed(image, bytes.fromhex(stamp_id), key=stamper.keyring.active.secret))
    unsigned, t["encode"] = _timed(lambda: encode_image(marked, fmt, quality=OUTPUT_QUALITY))
    manifest = ai_generated_manifest(generator=GENERATOR, watermark_id=stamp_id)
    signed, t["sign"] = _timed(lambda: sign_asset(unsigned, mime, manifest, stamper.credentials))
    summary, t["read back"] = _timed(
        lambda: read_manifest(signed, mime=mime, settings=stamper.settings, extra_trust_anchors=anchors)
    )
    phash, t["PDQ"] = _timed(lambda: pdq_hash(marked).to_hex())
    record = StampRecord.new(
        stamp_id=stamp_id, generator=GENERATOR, manifest_json=summary.manifest_json,
        manifest_store=embedded_manifest_store(signed, mime), sha256=hashlib.sha256(signed).hexdigest(),
        phash=phash, key_id=stamper.keyring.active.key_id,
    )
    _, t["registry write"] = _timed(lambda: stamper.registry.record_stamp(record))
    return t


def verify_phases(verifier: Verifier, data: bytes, mime: str) -> dict[str, float]:
    """One verification, its steps timed one by one (seconds), as ``Verifier.verify`` runs them."""
    t: dict[str, float] = {}
    anchors = (verifier.credentials.ca_pem,)
    _, t["C2PA read"] = _timed(lambda: read_manifest(data, mime=mime, settings=verifier.settings, extra_trust_anchors=anchors))
    pixels, t["decode"] = _timed(lambda: decode_image(data))

    def detect():
        for key in verifier.keyring:
            found = watermark.detect(pixels, key=key.secret)
            if found.detected:
                return found
        return found

    found, t["detect"] = _timed(detect)
    _, t["PDQ"] = _timed(lambda: pdq_hash(pixels))

    def lookup():
        record = verifier.registry.get_stamp(found.payload_hex) if found.detected else None
        if record is not None and record.manifest_store is not None:
            read_manifest(record.manifest_store, mime="application/c2pa", settings=verifier.settings,
                          extra_trust_anchors=anchors)
        return record

    _, t["registry"] = _timed(lookup)
    _, t["metadata"] = _timed(lambda: read_metadata(data))
    return t


def per_image_table(settings: Settings, image: np.ndarray, runs: int) -> tuple[list[str], dict[str, bytes]]:
    """Median stamp and verify milliseconds per format, by phase; also one stamped file per format."""
    head_s = " | ".join(STAMP_PHASES)
    head_v = " | ".join(VERIFY_PHASES)
    stamp_lines = [
        f"| format | bytes | **stamp total** | {head_s} |",
        "|---|---:|---:|" + "---:|" * len(STAMP_PHASES),
    ]
    verify_lines = [
        f"| file | **verify total** | verdict | {head_v} |",
        "|---|---:|---|" + "---:|" * len(VERIFY_PHASES),
    ]
    files: dict[str, bytes] = {}
    with Stamper(settings) as stamper, Verifier(settings) as verifier:
        for fmt in FORMATS:
            result = stamper.stamp_image(image, generator=GENERATOR, output_format=fmt)  # warm-up
            stamp_phases(stamper, image, fmt)
            totals, phases = [], {k: [] for k in STAMP_PHASES}
            for _ in range(runs):
                result, seconds = _timed(lambda: stamper.stamp_image(image, generator=GENERATOR, output_format=fmt))
                totals.append(seconds)
                for k, v in stamp_phases(stamper, image, fmt).items():
                    phases[k].append(v)
            files[fmt] = result.data
            cells = " | ".join(f"{_median_ms(phases[k]):.0f}" for k in STAMP_PHASES)
            stamp_lines.append(f"| {fmt} | {len(result.data)} | **{_median_ms(totals):.0f}** | {cells} |")
            print(stamp_lines[-1], file=sys.stderr, flush=True)

        cases = [(f"stamped {fmt}", files[fmt], OUTPUT_FORMATS[fmt]) for fmt in FORMATS]
        cases.append(("stripped copy (0.75, JPEG 80)", stripped(files["PNG"]), "image/jpeg"))
        for label, data, mime in cases:
            report = verifier.verify(data)  # warm-up
            verify_phases(verifier, data, mime)
            totals, phases = [], {k: [] for k in VERIFY_PHASES}
            for _ in range(runs):
                report, seconds = _timed(lambda: verifier.verify(data))
                totals.append(seconds)
                for k, v in verify_phases(verifier, data, mime).items():
                    phases[k].append(v)
            cells = " | ".join(f"{_median_ms(phases[k]):.0f}" for k in VERIFY_PHASES)
            verify_lines.append(f"| {label} | **{_median_ms(totals):.0f}** | `{report.verdict.code}` | {cells} |")
            print(verify_lines[-1], file=sys.stderr, flush=True)
    return stamp_lines + [""] + verify_lines, files


# --------------------------------------------------------------------------- a folder of 100


def make_folder(settings: Settings, crops: list[np.ndarray], folder: Path) -> float:
    """Write the 100-file folder; return the seconds the 50 stamps took (median per stamp)."""
    folder.mkdir(parents=True)
    quarter = FOLDER_SIZE // 4
    per_stamp = []
    with Stamper(settings) as stamper:
        for i in range(2 * quarter):
            image = crops[i % len(crops)]
            image = image[:, ::-1] if (i // len(crops)) % 2 else image  # vary the content a little
            fmt = "PNG" if i < quarter else "JPEG"
            result, seconds = _timed(lambda: stamper.stamp_image(np.ascontiguousarray(image), generator=GENERATOR,
                                                                 output_format=fmt))
            per_stamp.append(seconds)
            (folder / f"stamped-{i:03d}.{'png' if fmt == 'PNG' else 'jpg'}").write_bytes(result.data)
            if i < quarter:
                (folder / f"stripped-{i:03d}.jpg").write_bytes(stripped(result.data))
    for i in range(quarter):
        image = np.rot90(crops[i % len(crops)], k=1 + i // len(crops))
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image)).save(buf, format="JPEG", quality=85)
        (folder / f"unmarked-{i:03d}.jpg").write_bytes(buf.getvalue())
    assert len(list(folder.iterdir())) == FOLDER_SIZE
    return _median_ms(per_stamp)


def folder_rows(settings: Settings, folder: Path, env: dict[str, str]) -> list[str]:
    files = sorted(folder.iterdir())
    verdicts: dict[str, int] = {}
    with Verifier(settings) as verifier:
        t0 = time.perf_counter()
        for path in files:
            code = verifier.verify(path).verdict.code
            verdicts[code] = verdicts.get(code, 0) + 1
        library_s = time.perf_counter() - t0

    cmd = [sys.executable, "-m", "provenance", "verify", str(folder), "--json", "--no-progress"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    cli_s = time.perf_counter() - t0
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    if out.returncode != 0 or len(lines) != len(files):
        raise SystemExit(f"provenance verify failed (exit {out.returncode}, {len(lines)} lines): {out.stderr[-2000:]}")
    cli_verdicts: dict[str, int] = {}
    for line in lines:
        code = line["report"]["verdict"]["code"]
        cli_verdicts[code] = cli_verdicts.get(code, 0) + 1
    if cli_verdicts != verdicts:
        raise SystemExit(f"CLI verdicts {cli_verdicts} differ from the library's {verdicts}")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "provenance", "--version"], capture_output=True, env=env, check=True)
    startup_s = time.perf_counter() - t0
    mix = ", ".join(f"{n} `{code}`" for code, n in sorted(verdicts.items()))
    return [
        "| how | seconds | files/s |",
        "|---|---:|---:|",
        f"| `Verifier.verify` in one process | {library_s:.1f} | {len(files) / library_s:.1f} |",
        f"| `provenance verify FOLDER --json` (child process) | {cli_s:.1f} | {len(files) / cli_s:.1f} |",
        "",
        f"- verdicts (same from both): {mix}",
        f"- `python -m provenance --version` alone takes {startup_s:.1f} s (interpreter and imports)",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed calls per format")
    parser.add_argument("--database-url", help="registry URL (default: SQLite in a temporary instance)")
    parser.add_argument("--no-folder", action="store_true", help="skip the 100-file folder")
    parser.add_argument("--no-write", action="store_true", help="leave RESULTS.md alone")
    args = parser.parse_args(argv)

    crops = photo_crops()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="provenance-bench-") as tmp:
        settings = Settings(instance_path=Path(tmp) / "instance", database_url=args.database_url)
        env = {**os.environ, "PROVENANCE_INSTANCE_PATH": str(settings.instance_path),
               "PROVENANCE_DATABASE_URL": args.database_url or ""}
        table, _ = per_image_table(settings, crops[0], args.runs)
        lines = [f"Per 1024x1024 image, median ms of {args.runs} calls after a warm-up:", "", *table]
        if not args.no_folder:
            stamp_ms = make_folder(settings, crops, Path(tmp) / "folder")
            lines += ["", f"A folder of {FOLDER_SIZE} files (made with 50 stamps, median {stamp_ms:.0f} ms each):", ""]
            lines += folder_rows(settings, Path(tmp) / "folder", env)
    registry = "SQLite" if not args.database_url else args.database_url.split(":")[0]
    lines += ["", f"- registry: {registry}; development key and CA; one watermark key",
              f"- 1-minute load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, "
              f"on {os.cpu_count()} CPUs: above the CPU count, other processes were competing and the "
              "times are inflated"]
    report = "\n".join(lines)
    print(report)
    command = "python benchmarks/stamp_verify.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if not args.no_write:
        _results.update_section(
            "stamp-verify", f"## Stamp and verify\n\n{_results.run_header(command.strip())}\n\n{report}"
        )
        print(f"\nupdated section 'stamp-verify' of {_results.RESULTS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
