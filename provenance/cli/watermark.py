"""``provenance watermark``: embed and detect the invisible keyed watermark from the shell."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from .. import watermark
from ..errors import InvalidInputError
from ..images import decode_image, image_format, save_image
from ..keys import WatermarkKey
from ..settings import Settings
from ..video.watermark import VIDEO_PSNR
from .common import IMAGE_SUFFIXES
from .common import (
    EXIT_CODES_HELP,
    EXIT_SOME_FAILED,
    FileProgress,
    for_each_file,
    echo_json,
    expand_paths,
    json_option,
    key_options,
    load_keys,
    parse_payload_hex,
    progress_option,
    psnr_db,
    reports_errors,
)

__all__ = ["watermark_group", "describe_result"]

logger = logging.getLogger(__name__)


@click.group("watermark", epilog=EXIT_CODES_HELP)
def watermark_group() -> None:
    """Embed or detect the invisible keyed watermark."""


@watermark_group.command("embed", epilog=EXIT_CODES_HELP)
@click.argument("source", metavar="IN", type=click.Path(path_type=Path))
@click.argument("target", metavar="OUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--payload",
    required=True,
    metavar="HEX",
    help=f"What to hide: 1 to {watermark.MAX_PAYLOAD_BYTES} bytes as hex, e.g. 0123456789abcdef.",
)
@key_options
@click.option(
    "--psnr",
    type=click.FloatRange(20.0, 60.0),
    default=None,
    help=f"Target fidelity in dB: higher is fainter and less robust [default: {watermark.DEFAULT_PSNR:g} for images, "
    f"{VIDEO_PSNR:g} for video].",
)
@click.option(
    "--quality",
    type=click.IntRange(1, 100),
    default=95,
    show_default=True,
    help="JPEG/WebP quality when OUT is .jpg or .webp.",
)
@reports_errors
def embed_command(
    source: Path,
    target: Path,
    payload: str,
    key_file: Path | None,
    key_hex: str | None,
    psnr: float | None,
    quality: int,
) -> None:
    """Hide PAYLOAD in image IN and write the result to OUT.

    OUT's format follows its suffix (.png, .jpg, .webp, .tif); it is written
    atomically. Transparency is kept (PNG/WebP); JPEG cannot hold it.
    """
    data = parse_payload_hex(payload, max_bytes=watermark.MAX_PAYLOAD_BYTES)
    key = load_keys(key_file, key_hex)[0]
    from .video import embed_video_file, is_video

    if is_video(source):
        click.echo(embed_video_file(source, target, data, key, psnr=psnr))
        return
    image_format(target)  # fail on a bad suffix before the work
    settings = Settings.from_env()
    image = decode_image(source, max_pixels=settings.max_pixels, keep_alpha=True)
    psnr = watermark.DEFAULT_PSNR if psnr is None else psnr
    start = time.perf_counter()
    marked = watermark.embed(image, data, key=key.secret, psnr=psnr)
    elapsed = time.perf_counter() - start
    save_image(marked, target, quality=quality)
    height, width = image.shape[:2]
    click.echo(
        f"{target}: embedded payload {data.hex()} ({len(data) * 8} bits){_key_label(key)} "
        f"into {width}x{height} {source}; PSNR {psnr_db(image, marked):.1f} dB vs the original "
        f"(target {psnr:g}), {elapsed * 1000:.0f} ms."
    )


@watermark_group.command("detect", epilog=EXIT_CODES_HELP)
@click.argument("paths", metavar="FILE...", nargs=-1, required=True, type=click.Path(path_type=Path))
@key_options
@json_option
@progress_option
@reports_errors
@click.pass_context
def detect_command(
    ctx: click.Context,
    paths: tuple[Path, ...],
    key_file: Path | None,
    key_hex: str | None,
    as_json: bool,
    progress: bool | None,
) -> None:
    """Look for the watermark in each FILE (folders are searched recursively).

    One line per file: the payload and how sure the detector is, or "no
    watermark found". A file that cannot be read gets an error line and the
    run goes on (exit code 2). With --json, each line is
    {"path": ..., "watermark": {...}} or {"path": ..., "error": "..."}.
    """
    keys = load_keys(key_file, key_hex)
    settings = Settings.from_env()
    files = expand_paths(paths, suffixes=IMAGE_SUFFIXES | {".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi"})
    if not files:
        names = ", ".join(str(p) for p in paths)
        raise InvalidInputError(f"No image files found in {names}; give image files or folders that hold some.")

    def one(path: Path, bar: FileProgress) -> None:
        from .video import detect_video_file, is_video

        if is_video(path):
            frames, key = detect_video_file(path, keys)
            if as_json:
                echo_json({"path": str(path), "watermark": frames.to_dict()}, progress=bar)
            else:
                bar.echo(f"{path}: {describe_result(frames.watermark)} ({frames.frames_with_evidence} of {frames.frames} frames)")
            return
        result, key = _detect_file(path, keys, max_pixels=settings.max_pixels)
        if as_json:
            record: dict = {"path": str(path), "watermark": result.to_dict()}
            if result.detected and len(keys) > 1:
                record["key_id"] = key.key_id
            echo_json(record, progress=bar)
        else:
            label = _key_label(key) if result.detected and len(keys) > 1 else ""
            bar.echo(f"{path}: {describe_result(result)}{label}")

    failed = for_each_file(files, one, desc="detect", progress=progress, as_json=as_json)
    if failed:
        logger.info("%d of %d files could not be processed", failed, len(files))
        ctx.exit(EXIT_SOME_FAILED)


def _detect_file(
    path: Path, keys: tuple[WatermarkKey, ...], *, max_pixels: int
) -> tuple[watermark.WatermarkResult, WatermarkKey]:
    if not path.exists():
        raise FileNotFoundError(2, "no such file")
    image = decode_image(path, max_pixels=max_pixels)
    start = time.perf_counter()
    index, result = watermark.detect_keys(image, [key.secret for key in keys])
    logger.debug("%s, %d keys: %s in %.0f ms", path, len(keys), result, (time.perf_counter() - start) * 1000)
    return result, keys[index]


def _key_label(key: WatermarkKey) -> str:
    """`` with key <id>`` for keys named in a key file; nothing for a bare key."""
    return "" if key.key_id in ("key-file", "key-hex") else f" with key {key.key_id}"


def describe_result(result: watermark.WatermarkResult) -> str:
    """One plain-language line for a detection result.

    Examples: ``watermark found, payload 0102..., p = 3e-12 (strength 25.1 sd),
    geometry: scale 0.75, rotated -2.0°, mirrored`` or ``no watermark found
    (best score 4.1 sd)``.
    """
    if not result.detected:
        return f"no watermark found (best score {result.score:.1f} sd)"
    p = f"p = {result.p_value:.2g}" if result.p_value > 0 else "p < 1e-300"
    return (
        f"watermark found, payload {result.payload_hex}, {p} (strength {result.score:.1f} sd), "
        f"geometry: {_describe_geometry(result)}"
    )


def _describe_geometry(result: watermark.WatermarkResult) -> str:
    parts = []
    if result.scale is not None and abs(result.scale - 1.0) >= 0.01:
        parts.append(f"scale {result.scale:.2f}")
    if result.rotation_degrees is not None and abs(result.rotation_degrees) >= 0.05:
        parts.append(f"rotated {result.rotation_degrees:.1f}°")
    if result.mirrored:
        parts.append("mirrored")
    return ", ".join(parts) or "unchanged"
