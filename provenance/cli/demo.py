"""``provenance demo``: watermark a photo, degrade it like an upload pipeline, find the payload again."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import click
import numpy as np
from scipy import ndimage

from .. import attacks, watermark
from ..errors import InvalidInputError
from ..images import decode_image, save_image
from ..settings import Settings
from .common import EXIT_CODES_HELP, CommandError, load_keys, psnr_db, reports_errors

__all__ = ["demo_command", "default_sample", "synthetic_photo"]

#: Sample photograph looked for in ``../shared/samples`` beside the checkout.
SAMPLE_NAME = "kodim03.png"
#: Size of the synthetic photo used when no sample is found (height, width).
SYNTHETIC_SHAPE = (512, 768)


def default_sample() -> Path | None:
    """Return ``../shared/samples/kodim03.png`` beside the repository (or under ``$PROVENANCE_SHARED``), if present."""
    shared = Settings.from_env().shared_path
    root = shared if shared is not None else Path(__file__).resolve().parents[2].parent / "shared"
    sample = root / "samples" / SAMPLE_NAME
    return sample if sample.is_file() else None


def synthetic_photo(height: int, width: int, *, seed: int = 0) -> np.ndarray:
    """Make a photo-like ``(height, width, 3) uint8`` image from `seed`.

    A smooth, correlated colour field (sky, shading) plus fine texture and a few
    soft-edged shapes, so that the watermark has both flat and busy areas to hide in.

    Parameters
    ----------
    height, width : int
        Size in pixels, each at least 8.
    seed : int
        The same seed gives the same image.

    Returns
    -------
    (height, width, 3) uint8 ndarray
    """
    if min(height, width) < 8:
        raise InvalidInputError(f"height and width must be at least 8; got {height}x{width}.")
    rng = np.random.default_rng(seed)
    # Smooth field: coarse random grid, cubic upsampling, colours mixed so channels correlate.
    coarse = rng.normal(size=(max(2, height // 96), max(2, width // 96), 3))
    zoom = (height / coarse.shape[0], width / coarse.shape[1], 1)
    field = ndimage.zoom(coarse, zoom, order=3, mode="nearest")[:height, :width]
    mix = np.array([[1.0, 0.8, 0.6], [0.3, 1.0, 0.5], [0.2, 0.4, 1.0]])
    image = 120.0 + 35.0 * (field @ mix.T)
    image += np.linspace(30.0, -30.0, height)[:, None, None]  # light from above
    # Shapes with soft edges.
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(6):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        radius = rng.uniform(0.05, 0.2) * min(height, width)
        inside = np.clip(radius - np.hypot(yy - cy, xx - cx), 0.0, 2.0) / 2.0
        image += inside[..., None] * rng.uniform(-60.0, 60.0, size=3)
    # Fine texture (foliage, fabric), strong in some regions and absent in others (sky), plus grain.
    texture = ndimage.gaussian_filter(rng.normal(size=(height, width)), 1.2)
    regions = ndimage.zoom(rng.normal(size=coarse.shape[:2]), zoom[:2], order=3, mode="nearest")[:height, :width]
    busy = np.clip(regions + 0.3, 0.0, 1.0) * np.linspace(0.3, 1.0, height)[:, None]
    image += 70.0 * (texture * busy)[..., None] + rng.normal(0.0, 1.5, size=(height, width, 1))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@click.command("demo", epilog=EXIT_CODES_HELP, short_help="Watermark, degrade and detect a photo, step by step.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Folder for the original, marked and degraded images and the demo key.",
)
@click.option(
    "--image",
    "image_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Photo to use (default: ../shared/samples/{SAMPLE_NAME} if present, else a synthetic photo).",
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Watermark key to use (see `provenance watermark embed --help`); default: a fresh random key.",
)
@click.option("--seed", type=int, help="Seed for the payload (and key, and synthetic photo); default: random.")
@reports_errors
def demo_command(out_dir: Path, image_path: Path | None, key_file: Path | None, seed: int | None) -> None:
    """Watermark a photo, degrade it as an upload pipeline would, and recover the payload.

    Writes original.png, marked.png, degraded.png and demo-key.hex into --out, and
    explains each step. Exits 1 if the payload is not recovered.
    """
    rng = np.random.default_rng(seed)
    settings = Settings.from_env()

    source = image_path or default_sample()
    if source is not None:
        original = decode_image(source, max_pixels=settings.max_pixels)
        described = f"the photo {source}"
    else:
        original = synthetic_photo(*SYNTHETIC_SHAPE, seed=int(rng.integers(2**31)))
        described = "a synthetic photo-like image (no sample photo found)"
    height, width = original.shape[:2]

    if key_file is not None:
        key = load_keys(key_file, None)[0].secret
        key_note = f"the key in {key_file}"
    else:
        if seed is None:
            key, key_note = secrets.token_bytes(32), "a fresh random 256-bit development key"
        else:
            key = bytes(rng.integers(0, 256, size=32, dtype=np.uint8))
            key_note = f"a 256-bit development key made from --seed {seed}"
    payload = bytes(rng.integers(0, 256, size=watermark.MAX_PAYLOAD_BYTES, dtype=np.uint8))

    start = time.perf_counter()
    marked = watermark.embed(original, payload, key=key)
    embed_ms = (time.perf_counter() - start) * 1000
    psnr = psnr_db(original, marked)

    degraded = attacks.crop_center(attacks.jpeg(attacks.resize(marked, 0.75), 75), 0.80)

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"{name}.png" for name in ("original", "marked", "degraded")}
    save_image(original, paths["original"])
    save_image(marked, paths["marked"])
    save_image(degraded, paths["degraded"])
    key_path = out_dir / "demo-key.hex"
    if key_file is None:
        _write_private(key_path, key.hex() + "\n")

    received = decode_image(paths["degraded"], max_pixels=settings.max_pixels)
    start = time.perf_counter()
    result = watermark.detect(received, key=key)
    detect_ms = (time.perf_counter() - start) * 1000
    recovered = result.detected and result.payload == payload

    lines = [
        f"1. Took {described}, {width}x{height} pixels.",
        f"2. Used {key_note}" + (f" ({key.hex()}, saved in {key_path})." if key_file is None else "."),
        f"3. Hid the 64-bit payload {payload.hex()} in it: PSNR {psnr:.1f} dB against the original "
        f"(above about 40 dB the change is invisible), {embed_ms:.0f} ms.",
        f"4. Degraded the marked image like a social network would: resized to 75%, "
        f"JPEG quality 75, cropped to the centre 80%; now {degraded.shape[1]}x{degraded.shape[0]}.",
        f"5. Looked for the watermark in {paths['degraded']} with the key alone (no original): "
        f"{detect_ms:.0f} ms.",
    ]
    if result.detected:
        lines.append(
            f"   Found payload {result.payload_hex} "
            f"{'✓ matches' if recovered else '✗ does NOT match'} what was hidden; "
            f"chance of this on an unmarked image p = {result.p_value:.2g} "
            f"(strength {result.score:.1f} sd); estimated scale {result.scale:.2f}."
        )
    else:
        lines.append(f"   ✗ No watermark found (best score {result.score:.1f} sd).")
    lines.append(
        f"Files in {out_dir}: original.png, marked.png, degraded.png"
        + (", demo-key.hex." if key_file is None else ".")
    )
    if key_file is None:
        lines.append(f"Try: provenance watermark detect {out_dir} --key-file {key_path}")
    for line in lines:
        click.echo(line)
    if not recovered:
        hint = ""
        if min(height, width) < 512:
            hint = f" {width}x{height} is small for this much degradation; try a photo of 512 px or more per side."
        raise CommandError(f"the payload was not recovered from the degraded image.{hint}")


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
