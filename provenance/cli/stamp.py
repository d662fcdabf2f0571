"""``provenance stamp IN OUT --generator NAME``: watermark, sign and record one image."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ..settings import Settings
from ..stamp import Stamper
from .common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, echo_json, json_option, reports_errors

__all__ = ["STAMP_EXIT_CODES_HELP", "stamp_command"]

logger = logging.getLogger(__name__)

#: Exit codes of ``provenance stamp`` (one file: there is no "some failed").
STAMP_EXIT_CODES_HELP = f"""\b
Exit codes:
  {EXIT_OK}   stamped and recorded
  {EXIT_ERROR}   error ("error: ..." on stderr): bad input, settings or registry; no output file
  {EXIT_USAGE}  usage error: unknown option, missing argument
"""


@click.command("stamp", epilog=STAMP_EXIT_CODES_HELP)
@click.argument("source", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("target", metavar="OUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--generator", required=True, metavar="NAME", help="The model or service that made the image, e.g. 'my-model 2.1'.")
@click.option("--prompt-hash", metavar="SHA256", help="SHA-256 of the prompt (64 hex digits); never the prompt itself.")
@click.option("--requester", metavar="WHO", help="Who asked for the image; kept in the registry only, not in the file.")
@json_option
@reports_errors
def stamp_command(
    source: Path, target: Path, generator: str, prompt_hash: str | None, requester: str | None, as_json: bool
) -> None:
    """Stamp the AI-generated image IN and write it to OUT (.png, .jpg, .webp or .tif; a video IN: .mp4).

    Embeds an invisible watermark carrying a fresh 64-bit ID, signs Content
    Credentials (C2PA) that say the image was made by GENERATOR, and records the
    stamp in the registry. OUT is written only if all of that succeeds.

    Keys, certificate and registry come from PROVENANCE_* settings (see
    docs/verify.md); without them, development ones are made in the instance folder.
    """
    from .video import is_video, stamp_video_file

    if is_video(source):
        stamp_video_file(source, target, generator=generator, prompt_hash=prompt_hash, requester=requester, as_json=as_json)
        return
    with Stamper(Settings.from_env()) as stamper:
        result = stamper.stamp_file(source, target, generator=generator, prompt_hash=prompt_hash, requester=requester)
        development = stamper.credentials.is_development or stamper.keyring.is_development
    if as_json:
        echo_json({"path": str(target), "stamp": result.to_dict()})
        return
    note = " (development key/certificate: not for production)" if development else ""
    click.echo(
        f"{target}: stamped ID {result.stamp_id} for {result.generator}, {result.width}x{result.height} "
        f"{result.mime}, key {result.key_id}, SHA-256 {result.sha256[:16]}...{note}"
    )
