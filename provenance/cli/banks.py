"""``provenance bank create|list|set|import|export|add|withdraw`` and ``add-video|videos|withdraw-video``:
manage hash banks (no media)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..banks import DEFAULT_BANK_THRESHOLD, BankEntry, Banks
from ..settings import Settings
from .common import echo_json, json_option, reports_errors

__all__ = ["bank_group"]


def _banks() -> Banks:
    return Banks.open(Settings.from_env())


def _show(bank, as_json: bool) -> None:
    if as_json:
        echo_json(bank.to_dict())
    else:
        state = "enabled" if bank.enabled else "disabled"
        click.echo(f"{bank.name}\tlabel={bank.label}\tthreshold={bank.threshold}\t{state}\t{bank.entry_count} hashes "
                   f"({bank.pdq_count} PDQ)\t{bank.video_count} videos")


@click.group("bank")
def bank_group() -> None:
    """Banks of reported hashes (StopNCII, NCMEC, ThreatExchange lists) that uploads are checked against.

    Banks live in the registry database (PROVENANCE_DATABASE_URL) and hold hashes only,
    never media. See docs/banks.md.
    """


@bank_group.command("create")
@click.argument("name")
@click.option("--label", required=True, help="What the bank holds: ncii, csam, terror, stamped-outputs, ...")
@click.option("--threshold", type=int, default=DEFAULT_BANK_THRESHOLD, show_default=True,
              help="Largest PDQ distance (bits of 256) that counts as a match.")
@click.option("--disabled", is_flag=True, help="Create it disabled (not checked until `bank set --enable`).")
@click.option("--description", help="Free text: where the list comes from.")
@json_option
@reports_errors
def create_command(name: str, label: str, threshold: int, disabled: bool, description: str | None, as_json: bool) -> None:
    """Create an empty bank NAME."""
    with _banks() as banks:
        _show(banks.create(name, label=label, threshold=threshold, enabled=not disabled, description=description), as_json)


@bank_group.command("list")
@json_option
@reports_errors
def list_command(as_json: bool) -> None:
    """List the banks with their label, threshold, state and hash counts."""
    with _banks() as banks:
        for bank in banks.list():
            _show(bank, as_json)


@bank_group.command("set")
@click.argument("name")
@click.option("--label")
@click.option("--threshold", type=int)
@click.option("--enable/--disable", "enabled", default=None, help="Check uploads against it, or stop.")
@json_option
@reports_errors
def set_command(name: str, label: str | None, threshold: int | None, enabled: bool | None, as_json: bool) -> None:
    """Change a bank's label, threshold or enabled state (takes effect on the next match)."""
    with _banks() as banks:
        _show(banks.update(name, label=label, threshold=threshold, enabled=enabled), as_json)


@bank_group.command("import")
@click.argument("name")
@click.argument("hash_list", metavar="FILE", type=click.Path(path_type=Path, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), help="Default: from the suffix or content.")
@click.option("--skip-existing", is_flag=True, help="Leave out hashes already in the bank instead of failing.")
@json_option
@reports_errors
def import_command(name: str, hash_list: Path, fmt: str | None, skip_existing: bool, as_json: bool) -> None:
    """Import a CSV or JSON hash list into bank NAME, all or nothing (FILE - reads stdin).

    CSV: a header naming hash (required), kind (pdq, md5, sha256), quality, source,
    case_id, date; or one hash per line. JSON: a list of such objects or of hex strings.
    A .vpdq file (Meta's vPDQ format) is imported as a video entry, as `bank add-video` does.
    """
    source = sys.stdin.buffer.read() if str(hash_list) == "-" else hash_list
    with _banks() as banks:
        if hash_list.suffix.lower() == ".vpdq":  # a video's vPDQ hash: a video entry (see `bank add-video`)
            result = banks.import_videos(name, hash_list, skip_existing=skip_existing)
        else:
            result = banks.import_hashes(name, source, format=fmt, skip_existing=skip_existing)
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(f"{name}: {result.added} hashes added" + (f", {result.skipped} already there" if result.skipped else ""))


@bank_group.command("export")
@click.argument("name")
@click.argument("out", metavar="FILE", type=click.Path(path_type=Path, allow_dash=True), default="-")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default=None,
              help="Default: from the suffix, else csv.")
@reports_errors
def export_command(name: str, out: Path, fmt: str | None) -> None:
    """Write bank NAME's hashes as a CSV or JSON hash list (to FILE, default stdout)."""
    fmt = fmt or ("json" if out.suffix.lower() == ".json" else "csv")
    with _banks() as banks:
        if str(out) == "-":
            banks.export(name, sys.stdout, format=fmt)
        else:
            n = banks.export(name, out, format=fmt)
            click.echo(f"{n} hashes written to {out}", err=True)


@bank_group.command("add")
@click.argument("name")
@click.argument("hashes", metavar="HASH...", nargs=-1, required=True)
@click.option("--kind", type=click.Choice(["pdq", "md5", "sha256"]), default="pdq", show_default=True)
@click.option("--source", help="Who reported it, e.g. stopncii.")
@click.option("--case-id", help="The report's case ID.")
@json_option
@reports_errors
def add_command(name: str, hashes: tuple[str, ...], kind: str, source: str | None, case_id: str | None,
                as_json: bool) -> None:
    """Add one or more hex hashes to bank NAME."""
    with _banks() as banks:
        result = banks.add(name, [BankEntry(h, kind=kind, source=source, case_id=case_id) for h in hashes])
    echo_json(result.to_dict()) if as_json else click.echo(f"{name}: {result.added} hashes added")


@bank_group.command("withdraw")
@click.argument("name")
@click.argument("hashes", metavar="HASH...", nargs=-1, required=True)
@click.option("--kind", type=click.Choice(["pdq", "md5", "sha256"]), default="pdq", show_default=True)
@click.option("--missing-ok", is_flag=True, help="Ignore hashes not in the bank instead of failing.")
@json_option
@reports_errors
def withdraw_command(name: str, hashes: tuple[str, ...], kind: str, missing_ok: bool, as_json: bool) -> None:
    """Delete hashes from bank NAME (a withdrawn case); effective on the next match everywhere."""
    with _banks() as banks:
        n = banks.withdraw(name, hashes, kind=kind, missing_ok=missing_ok)
    echo_json({"bank": name, "withdrawn": n}) if as_json else click.echo(f"{name}: {n} hashes withdrawn")


@bank_group.command("add-video")
@click.argument("name")
@click.argument("files", metavar="FILE...", nargs=-1, required=True, type=click.Path(path_type=Path, allow_dash=True))
@click.option("--source", help="Who reported it, e.g. stopncii (for entries that do not say).")
@click.option("--case-id", help="The report's case ID (for entries that do not say).")
@click.option("--skip-existing", is_flag=True, help="Leave out videos already in the bank instead of failing.")
@click.option("--seconds-per-hash", type=float, default=1.0, show_default=True,
              help="For video files: hash one frame per this many seconds (vPDQ: 1; 0.25 banks 4 a second, "
                   "which excerpts cut mid-second of fast-moving video still match).")
@json_option
@reports_errors
def add_video_command(name: str, files: tuple[Path, ...], source: str | None, case_id: str | None,
                      skip_existing: bool, seconds_per_hash: float, as_json: bool) -> None:
    """Add videos to bank NAME: video files (vPDQ-hashed here, with MD5 and SHA-256; the video is
    not kept) or hash lists: Meta's vPDQ format (one video, "frame,quality,pdq_hex,timestamp"
    lines), HMA's vPDQ JSON, or the JSON that `bank videos --json` writes. FILE - reads a list
    from stdin. Each FILE is one transaction; a bad one stops the command.
    """
    from ..video import is_video_file

    settings = Settings.from_env()
    with _banks() as banks:
        for path in files:
            if str(path) == "-":
                result = banks.import_videos(name, sys.stdin.buffer.read(), skip_existing=skip_existing,
                                             default_source=source, case_id=case_id)
            elif is_video_file(path):
                result = banks.add_video_file(name, path, source=source, case_id=case_id, settings=settings,
                                              skip_existing=skip_existing, seconds_per_hash=seconds_per_hash)
            else:
                _refuse_media(path)
                result = banks.import_videos(name, path, skip_existing=skip_existing, default_source=source,
                                             case_id=case_id)
            if as_json:
                echo_json({"path": str(path), **result.to_dict()})
            else:
                click.echo(f"{name}: {path}: {result.added} video{'s' if result.added != 1 else ''} added"
                           + (f", {result.skipped} already there" if result.skipped else ""))


def _refuse_media(path: Path) -> None:
    """A file that is an image, PDF or audio (by its bytes) is neither a video nor a video list: say so."""
    from ..errors import InvalidInputError
    from ..images import SNIFF_BYTES, detect_mime_type

    try:
        with open(path, "rb") as f:
            mime = detect_mime_type(f.read(SNIFF_BYTES))
    except OSError:
        return  # import_videos says why it cannot be read
    if mime is not None:
        raise InvalidInputError(
            f"{path.name} is not a video but {mime}; `bank add-video` takes video files and vPDQ lists. "
            "For an image, get its PDQ with `provenance hash` and add it with `provenance bank add`."
        )


@bank_group.command("videos")
@click.argument("name")
@json_option
@reports_errors
def videos_command(name: str, as_json: bool) -> None:
    """List bank NAME's videos: ID, frames, SHA-256, source, case. With --json, a re-importable video list."""
    with _banks() as banks:
        entries = banks.videos(name)
    if as_json:
        echo_json({"bank": name, "videos": [e.to_dict() for e in entries]})
        return
    for e in entries:
        click.echo(f"{e.video_id}\t{len(e.frames)} vPDQ frames\tsha256={e.sha256 or '-'}\tsource={e.source or '-'}"
                   f"\tcase={e.case_id or '-'}")


@bank_group.command("withdraw-video")
@click.argument("name")
@click.argument("video_ids", metavar="ID...", nargs=-1, required=True, type=int)
@click.option("--missing-ok", is_flag=True, help="Ignore IDs not in the bank instead of failing.")
@json_option
@reports_errors
def withdraw_video_command(name: str, video_ids: tuple[int, ...], missing_ok: bool, as_json: bool) -> None:
    """Delete videos from bank NAME by ID (`bank videos NAME` lists them); effective on the next match."""
    with _banks() as banks:
        n = banks.withdraw_videos(name, list(video_ids), missing_ok=missing_ok)
    echo_json({"bank": name, "withdrawn": n}) if as_json else click.echo(f"{name}: {n} videos withdrawn")
