"""``provenance hash FILE...`` and ``provenance match FILE...``.

``hash`` prints each image's PDQ hash and quality (and MD5/SHA-256), so a person can report an
image by hash without sharing it. ``match`` checks images against every enabled hash bank.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ..banks import Banks
from ..errors import InvalidInputError
from ..hashing import MIN_QUALITY, file_digests, pdq_hash_file
from ..settings import Settings
from ..video import is_video_file
from .common import (
    EXIT_ERROR,
    EXIT_SOME_FAILED,
    FileProgress,
    for_each_file,
    echo_json,
    expand_paths,
    json_option,
    progress_option,
    reports_errors,
)

__all__ = ["hash_command", "match_command"]

logger = logging.getLogger(__name__)


def _match_video(banks: Banks, path: Path, settings: Settings, audit: bool, as_json: bool, bar: FileProgress) -> None:
    result = banks.match_video_file(path, settings=settings, audit=audit)
    if as_json:
        echo_json({"path": str(path), "kind": "video", **result.to_dict()}, progress=bar)
        return
    bar.echo(f"{path}: {result.status} - {result.explanation}")
    for m in result.matches:
        bar.echo(f"  - bank {m.bank} ({m.label}): video {m.video_id}, {m.kind}: {m.query_match_percent:.0f}% of this "
                 f"video's frames, {m.compared_match_percent:.0f}% of the banked video's; source {m.source or '-'}, "
                 f"case {m.case_id or '-'}")


def _files(paths: tuple[Path, ...]) -> list[Path]:
    files = expand_paths(paths)
    if not files:
        raise InvalidInputError(f"No images found in {', '.join(map(str, paths))}; give image files or folders.")
    return files


def _run(ctx: click.Context, files: list[Path], desc: str, progress: bool | None, as_json: bool, one) -> None:
    failed = for_each_file(files, one, desc=desc, progress=progress, as_json=as_json)
    if failed:
        ctx.exit(EXIT_ERROR if failed == len(files) else EXIT_SOME_FAILED)


@click.command("hash")
@click.argument("paths", metavar="FILE...", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
@progress_option
@reports_errors
@click.pass_context
def hash_command(ctx: click.Context, paths: tuple[Path, ...], as_json: bool, progress: bool | None) -> None:
    """Print each image's PDQ hash and quality, and the file's MD5 and SHA-256.

    The image never leaves this machine: report it by its hash. Text output is
    "PDQ QUALITY PATH" per file (quality below 50: too flat to match). With --json:
    {"path", "pdq", "quality", "matchable", "md5", "sha256"} per line.
    """
    def one(path: Path, bar: FileProgress) -> None:
        data = path.read_bytes()
        h = pdq_hash_file(data, max_pixels=Settings.from_env().max_pixels)
        d = file_digests(data)
        if as_json:
            echo_json({"path": str(path), "pdq": h.to_hex(), "quality": h.quality, "matchable": h.is_matchable,
                       "md5": d.md5, "sha256": d.sha256}, progress=bar)
        else:
            note = "" if h.is_matchable else f"  (quality < {MIN_QUALITY}: unmatchable)"
            bar.echo(f"{h.to_hex()} {h.quality:3d} {path}{note}")

    _run(ctx, _files(paths), "hash", progress, as_json, one)


@click.command("match")
@click.argument("paths", metavar="FILE...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--no-audit", is_flag=True, help="Do not record the checks in the audit log.")
@json_option
@progress_option
@reports_errors
@click.pass_context
def match_command(ctx: click.Context, paths: tuple[Path, ...], no_audit: bool, as_json: bool,
                  progress: bool | None) -> None:
    """Check each image against every enabled hash bank (PDQ, its 8 rotations/mirrors, MD5, SHA-256),
    and each video (.mp4, .mov, ...) against the banked videos (vPDQ shares, MD5, SHA-256).

    A match is a signal for human review, never proof. Each check is recorded in the
    audit log (SHA-256, outcome, matches per label; never the image) unless --no-audit.
    Exit code 0 whatever the outcome; it is in the output.
    """
    files = _files(paths)
    settings = Settings.from_env()
    with Banks.open(settings) as banks:
        def one(path: Path, bar: FileProgress) -> None:
            if is_video_file(path):
                return _match_video(banks, path, settings, not no_audit, as_json, bar)
            result = banks.match_file(path, max_pixels=settings.max_pixels, audit=not no_audit)
            if as_json:
                echo_json({"path": str(path), **result.to_dict()}, progress=bar)
                return
            bar.echo(f"{path}: {result.status} - {result.explanation}")
            for m in result.matches:
                where = f", {m.variant}" if m.variant and m.variant != "original" else ""
                bar.echo(f"  - bank {m.bank} ({m.label}): {m.kind} distance {m.distance} <= {m.threshold}{where}; "
                         f"source {m.source or '-'}, case {m.case_id or '-'}")

        _run(ctx, files, "match", progress, as_json, one)
