"""``provenance verify FILE...``: one verification report per file."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ..errors import InvalidInputError, RegistryError
from ..report import VerificationReport, Verifier
from ..settings import Settings
from ..watermark import SEARCH_MODES
from .common import (
    EXIT_ERROR,
    EXIT_SOME_FAILED,
    FileProgress,
    for_each_file,
    MEDIA_SUFFIXES,
    echo_json,
    expand_paths,
    json_option,
    progress_option,
    reports_errors,
)

from .video import describe_video_report, is_video, verify_video_path  # noqa: E402

__all__ = ["VERIFY_EXIT_CODES_HELP", "verify_command", "describe_report"]

logger = logging.getLogger(__name__)

#: Exit codes of ``provenance verify`` (the verdict is in the output, not the exit code).
VERIFY_EXIT_CODES_HELP = f"""\b
Exit codes:
  0   every file was verified (whatever the verdicts)
  {EXIT_ERROR}   nothing was verified: bad settings, unreachable registry, or every file failed
  {EXIT_SOME_FAILED}   some files could not be verified; the others were
  64  usage error: unknown option, missing argument
"""


def describe_report(report: VerificationReport) -> list[str]:
    """Plain-text lines for one report: the headline, then its reasons indented."""
    return [report.verdict.headline] + [f"  - {reason}" for reason in report.verdict.reasons]


@click.command("verify", epilog=VERIFY_EXIT_CODES_HELP)
@click.argument("paths", metavar="FILE...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--offline-registry", "no_registry", is_flag=True,
              help="Do not use the registry (no recovery of stripped credentials, no audit log).")
@click.option("--search", type=click.Choice(SEARCH_MODES), default=None,
              help="Watermark search: full finds resized, cropped, rotated and photographed copies; crops finds "
                   "resized and cropped copies at close to quick's cost; quick finds resized copies and is the "
                   "fastest on unmarked images. Default: PROVENANCE_WATERMARK_SEARCH, else full.")
@json_option
@progress_option
@reports_errors
@click.pass_context
def verify_command(
    ctx: click.Context, paths: tuple[Path, ...], no_registry: bool, search: str | None, as_json: bool,
    progress: bool | None,
) -> None:
    """Check each FILE's Content Credentials, watermark, registry record and metadata.

    Folders are searched recursively for images, PDFs, audio and video. For each
    file: a verdict in plain words and the reasons for it. With --json, one line per
    file: {"path": ..., "report": {...}} (schemas/verification-report.v1.json) or
    {"path": ..., "error": "..."}. See docs/verify.md.
    """
    files = expand_paths(paths, suffixes=MEDIA_SUFFIXES | {".m4v", ".webm", ".mkv"})
    if not files:
        names = ", ".join(str(p) for p in paths)
        raise InvalidInputError(f"No media files found in {names}; give files or folders that hold some.")
    try:
        verifier = Verifier(Settings.from_env(), use_registry=not no_registry)
    except RegistryError as exc:
        raise RegistryError(
            f"{exc} To check files without the registry (no recovery of stripped credentials, no audit log), "
            "add --offline-registry."
        ) from exc

    def one(path: Path, bar: FileProgress) -> None:
        if is_video(path):
            video = verify_video_path(verifier, path, search=search)
            if as_json:
                echo_json({"path": str(path), "report": video.to_dict()}, progress=bar)
            else:
                for i, line in enumerate(describe_video_report(video)):
                    bar.echo(f"{path}: {line}" if i == 0 else line)
            return
        report = verifier.verify(path, search=search)
        if as_json:
            echo_json({"path": str(path), "report": report.to_dict()}, progress=bar)
        else:
            lines = describe_report(report)
            bar.echo(f"{path}: {lines[0]}")
            for line in lines[1:]:
                bar.echo(line)

    with verifier:
        failed = for_each_file(files, one, desc="verify", progress=progress, as_json=as_json)
    if failed:
        logger.info("%d of %d files could not be verified", failed, len(files))
        ctx.exit(EXIT_ERROR if failed == len(files) else EXIT_SOME_FAILED)
