"""Make the sample media in ``samples/``: stamped, stripped, tampered, screenshot and unmarked files.

Every file is made from a Kodak PhotoCD photograph in ``../shared/samples`` with provenance
itself, then verified with the same instance (its watermark key, development CA and
registry) and with a fresh throwaway instance, as a verifier on another machine would see it.
``INDEX.md`` records both verdicts; the script stops with an error if a file does not read
as :data:`SAMPLES` says, so the index never describes a broken sample.

Usage (from the repository root)::

    python samples/make_samples.py                        # into samples/, instance from PROVENANCE_* settings
    python samples/make_samples.py --out /tmp/s --instance /tmp/inst

Running it again replaces the files with new stamps (new IDs, new bytes). Run it with your
own instance to have the stripped and screenshot copies recovered from *your* registry.
Tests call :func:`make_samples` with a temporary instance.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from provenance import attacks
from provenance.errors import ProvenanceError
from provenance.images import decode_image, encode_image
from provenance.report import VerificationReport, Verifier
from provenance.settings import Settings
from provenance.stamp import Stamper

__all__ = ["SAMPLES", "Sample", "SampleResult", "make_samples", "read_index", "main"]

logger = logging.getLogger("make_samples")

HERE = Path(__file__).resolve().parent
#: Third-party photographs, read in place (never copied into the repository).
SHARED_SAMPLES = Path(os.environ.get("PROVENANCE_SHARED", HERE.parent.parent / "shared")) / "samples"
#: The photograph that is stamped (768 x 512, Kodak PhotoCD "kodim03", hats).
STAMP_PHOTO = "kodim03.png"
#: The photograph of the unmarked sample (768 x 512, "kodim07", shuttered window and flowers).
UNMARKED_PHOTO = "kodim07.png"
GENERATOR = "provenance-samples 1.0"
INDEX_NAME = "INDEX.md"


@dataclass(frozen=True)
class Sample:
    """One sample file and the verdicts it must get.

    Attributes
    ----------
    name : str
        File name in the output folder.
    how : str
        How it is made, in a few words.
    here : str
        Verdict code under the instance that made it (its key, CA and registry).
    elsewhere : str
        Verdict code under any other instance (another key, CA and registry).
    """

    name: str
    how: str
    here: str
    elsewhere: str


#: The samples, in the order they are made. ``stamped.png`` is the parent of the derived copies.
SAMPLES: tuple[Sample, ...] = (
    Sample("stamped.png", f"{STAMP_PHOTO} stamped as PNG", "ai_generated_trusted", "ai_generated_valid"),
    Sample("stamped.jpg", f"{STAMP_PHOTO} stamped as JPEG (quality 95)", "ai_generated_trusted", "ai_generated_valid"),
    Sample("stamped.webp", f"{STAMP_PHOTO} stamped as WebP (quality 95)", "ai_generated_trusted", "ai_generated_valid"),
    Sample("stripped.jpg", "stamped.png re-saved by Pillow: resize 0.75, JPEG 80, no metadata",
           "ai_generated_recovered", "no_signals"),
    Sample("tampered.png", "stamped.png with one pixel byte flipped after signing",
           "altered_after_signing", "altered_after_signing"),
    Sample("screenshot.png", "stamped.png cropped to 70%, scaled 0.8, under a 28 px window bar, as PNG",
           "ai_generated_recovered", "no_signals"),
    Sample("unmarked.jpg", f"{UNMARKED_PHOTO} at 0.75, JPEG 85: no provenance signals", "no_signals", "no_signals"),
)


@dataclass(frozen=True)
class SampleResult:
    """A sample as written and verified."""

    sample: Sample
    path: Path
    size: int
    here: VerificationReport
    elsewhere: VerificationReport

    @property
    def watermark_id(self) -> str | None:
        """The watermark ID the making instance reads (None if not found)."""
        return self.here.watermark.stamp_id


# --------------------------------------------------------------------------- derived copies


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)  # no EXIF, XMP or C2PA
    return buf.getvalue()


def strip(signed: bytes) -> bytes:
    """What a platform does on upload: decode, resize 0.75 (Lanczos), re-save as JPEG 80."""
    im = Image.open(io.BytesIO(signed)).convert("RGB")
    im = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.Resampling.LANCZOS)
    return _jpeg(np.asarray(im), 80)


def screenshot(signed: bytes, *, bar_px: int = 28) -> bytes:
    """A screenshot of part of the image: crop to the centre 70%, scale 0.8, a window bar on top."""
    part = attacks.resize(attacks.crop_center(decode_image(signed), 0.70), 0.8)
    height, width = part.shape[:2]
    canvas = Image.new("RGB", (width, height + bar_px), (236, 236, 236))
    canvas.paste(Image.fromarray(part), (0, bar_px))
    draw = ImageDraw.Draw(canvas)
    for i, colour in enumerate([(237, 106, 94), (245, 191, 79), (98, 197, 84)]):
        x = 10 + 20 * i
        draw.ellipse((x, bar_px // 2 - 6, x + 12, bar_px // 2 + 6), fill=colour)
    draw.text((80, bar_px // 2 - 6), "stamped.png - Image Viewer", fill=(60, 60, 60))
    return encode_image(np.asarray(canvas), "PNG")


def unmarked(photo: Path) -> bytes:
    """A photograph with no provenance signals: 0.75 x, JPEG 85."""
    return _jpeg(attacks.resize(decode_image(photo), 0.75), 85)


# --------------------------------------------------------------------------- making and checking


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def make_samples(
    out_dir: str | os.PathLike,
    *,
    settings: Settings | None = None,
    photos_dir: str | os.PathLike = SHARED_SAMPLES,
    write_index: bool = True,
) -> list[SampleResult]:
    """Make every file of :data:`SAMPLES` in `out_dir` and verify it two ways.

    Parameters
    ----------
    out_dir : path
        Output folder (created if missing); files of the same names are replaced.
    settings : Settings, optional
        The stamping instance (keys, certificate, registry). Default ``Settings.from_env()``.
    photos_dir : path
        Folder holding :data:`STAMP_PHOTO` and :data:`UNMARKED_PHOTO`.
    write_index : bool
        Also write ``INDEX.md`` describing the files.

    Returns
    -------
    list of SampleResult
        In the order of :data:`SAMPLES`.

    Raises
    ------
    RuntimeError
        If a sample does not get the verdict :data:`SAMPLES` gives it.
    ProvenanceError
        From stamping or verifying (bad settings, unreachable registry).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    photos = Path(photos_dir)
    for name in (STAMP_PHOTO, UNMARKED_PHOTO):
        if not (photos / name).is_file():
            raise FileNotFoundError(f"{photos / name} not found; set PROVENANCE_SHARED to the folder holding samples/.")
    settings = Settings.from_env() if settings is None else settings

    with Stamper(settings) as stamper:
        stamps = {s.name: stamper.stamp_image(photos / STAMP_PHOTO, generator=GENERATOR, output_format=s.name.split(".")[1])
                  for s in SAMPLES if s.name.startswith("stamped.")}
    for name, result in stamps.items():
        _write(out / name, result.data)
    parent = stamps["stamped.png"].data
    _write(out / "stripped.jpg", strip(parent))
    _write(out / "tampered.png", attacks.flip_png_pixel_byte(parent))
    _write(out / "screenshot.png", screenshot(parent))
    _write(out / "unmarked.jpg", unmarked(photos / UNMARKED_PHOTO))

    results = []
    with tempfile.TemporaryDirectory(prefix="provenance-elsewhere-") as other:
        with Verifier(settings) as here, Verifier(Settings(instance_path=Path(other))) as elsewhere:
            for sample in SAMPLES:
                path = out / sample.name
                results.append(SampleResult(sample, path, path.stat().st_size, here.verify(path), elsewhere.verify(path)))
    problems = [
        f"{r.sample.name}: {where} {got!r}, expected {want!r}"
        for r in results
        for where, got, want in (("here", r.here.verdict.code, r.sample.here),
                                 ("elsewhere", r.elsewhere.verdict.code, r.sample.elsewhere))
        if got != want
    ]
    expected_id = stamps["stamped.png"].stamp_id
    problems += [
        f"{r.sample.name}: watermark ID {r.watermark_id}, expected {expected_id}"
        for r in results
        if r.sample.name in ("stripped.jpg", "tampered.png", "screenshot.png") and r.watermark_id != expected_id
    ]
    if problems:
        raise RuntimeError("Samples do not read as expected:\n  " + "\n  ".join(problems))
    if write_index:
        _write(out / INDEX_NAME, index_markdown(results).encode("utf-8"))
    return results


def index_markdown(results: list[SampleResult]) -> str:
    """The ``INDEX.md`` table: each file, how it was made, and its verdicts here and elsewhere."""
    lines = [
        "# Sample media: what each file reads as",
        "",
        "Written by `python samples/make_samples.py` (see [README.md](README.md)). *here*: the verdict",
        "under the instance that made the files (its watermark key, development CA and registry).",
        "*elsewhere*: under any other instance, e.g. a fresh clone: the development CA is not",
        "trusted there and the watermark key and registry are not known.",
        "",
        "| file | bytes | made from | here | elsewhere | watermark ID (here) |",
        "|---|---:|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| `{r.sample.name}` | {r.size} | {r.sample.how} | `{r.here.verdict.code}` "
            f"| `{r.elsewhere.verdict.code}` | {r.watermark_id or '—'} |"
        )
    lines += ["", "Headlines, here:", ""]
    lines += [f"- `{r.sample.name}`: {r.here.verdict.headline}" for r in results]
    lines += ["", "Headlines, elsewhere:", ""]
    lines += [f"- `{r.sample.name}`: {r.elsewhere.verdict.headline}" for r in results]
    return "\n".join(lines) + "\n"


def read_index(path: str | os.PathLike) -> dict[str, tuple[str, str]]:
    """Parse an ``INDEX.md`` written by :func:`index_markdown`: file name -> (here, elsewhere)."""
    rows = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = (cells[3].strip("`"), cells[4].strip("`"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: samples/)")
    parser.add_argument("--instance", type=Path, help="instance folder (default: PROVENANCE_INSTANCE_PATH or ./instance)")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    try:
        settings = Settings.from_env()
        if args.instance is not None:
            settings = settings.with_instance(args.instance)
        results = make_samples(args.out, settings=settings)
    except (ProvenanceError, RuntimeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    width = max(len(r.sample.name) for r in results)
    for r in results:
        print(f"{r.sample.name:<{width}}  {r.size:>8} B  here: {r.here.verdict.code:<24} elsewhere: {r.elsewhere.verdict.code}")
    print(f"wrote {len(results)} files and {INDEX_NAME} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
