"""``provenance batch hash|verify|stamp SOURCE --out DEST`` and ``provenance batch sweep``: jobs on Dask."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from ..errors import ConfigError
from ..watermark import SEARCH_MODES
from .common import EXIT_ERROR, EXIT_SOME_FAILED, echo_json, reports_errors

__all__ = ["batch_group"]

logger = logging.getLogger(__name__)

BATCH_EXIT_CODES_HELP = f"""\b
Exit codes:
  0   every file has a row in DEST (failed files have an error in theirs)
  {EXIT_ERROR}   the job stopped: bad SOURCE, unreachable cluster or registry (rerun to resume)
  {EXIT_SOME_FAILED}   the job finished but some files failed (see the error column)
  64  usage error
"""


def _load() -> Any:
    try:
        from .. import batch
    except ImportError as exc:
        raise ConfigError(f"`provenance batch` needs the batch extra ({exc.name} is missing): "
                          "pip install 'media-provenance[batch]'.") from exc
    return batch


def _job_options(func: Any) -> Any:
    func = click.option("--scheduler", metavar="ADDRESS", default=None,
                        help="Run on this Dask scheduler (tcp://host:8786). Default: DASK_SCHEDULER_ADDRESS, "
                             "else a LocalCluster with one worker process per core.")(func)
    func = click.option("--workers", type=click.IntRange(1, 1024), default=None,
                        help="Worker processes of the LocalCluster (default: one per core).")(func)
    func = click.option("--batch-size", type=click.IntRange(1, 100_000), default=None,
                        help="Files per task (default 32).")(func)
    func = click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl"]), default=None,
                        help="Part-file format (default: jsonl when DEST ends in .jsonl, else parquet).")(func)
    func = click.option("--progress/--no-progress", default=None,
                        help="Show a progress bar on stderr (default: when stderr is a terminal).")(func)
    func = click.option("--out", "dest", required=True, type=click.Path(path_type=Path),
                        help="Output folder of part files; rerunning with the same DEST resumes the job.")(func)
    func = click.argument("source")(func)
    return func


def _run(ctx: click.Context, options: Any, source: str, dest: Path, scheduler: str | None, workers: int | None,
         batch_size: int | None, fmt: str | None, progress: bool | None) -> None:
    batch = _load()
    paths = batch.list_sources(source)
    _preflight(options)
    _quiet_dask()
    client = batch.connect(scheduler, workers=workers)
    try:
        with tqdm(total=len(paths), desc=options.kind, unit="file", file=sys.stderr,
                  disable=progress is False or (progress is None and not _isatty(sys.stderr)),
                  leave=False, dynamic_ncols=True) as bar:
            bar.update(len(batch.done_paths(dest)) if dest.is_dir() else 0)
            summary = batch.run_job(client, paths, dest, options, fmt=fmt,
                                    batch_size=batch_size or batch.DEFAULT_BATCH_SIZE,
                                    on_batch=lambda rows: bar.update(len(rows)))
    finally:
        batch.close(client)
    echo_json({"dest": summary.dest, "listed": summary.listed, "skipped": summary.skipped,
               "processed": summary.processed, "failed": summary.failed})
    if summary.failed:
        ctx.exit(EXIT_ERROR if summary.failed == summary.processed and not summary.skipped else EXIT_SOME_FAILED)


def _quiet_dask() -> None:
    """Hide Dask's chatter and tracebacks (it sets its loggers' levels when imported) unless -v: our errors say
    what happened."""
    if logging.getLogger("provenance").isEnabledFor(logging.INFO):
        return
    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name.startswith("distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _preflight(options: Any) -> None:
    """Check settings, keys and registry here before any worker starts, and make the development
    keys once (workers on this machine then all load the same ones)."""
    from ..settings import Settings

    if options.kind == "verify":
        from ..report import Verifier

        Verifier(Settings.from_env(), use_registry=options.use_registry).close()
    elif options.kind == "stamp":
        from ..stamp import Stamper

        Stamper(Settings.from_env()).close()


@click.group("batch", epilog=BATCH_EXIT_CODES_HELP)
def batch_group() -> None:
    """Hash, verify or stamp many files on a Dask cluster; sweep a bank over a content index.

    SOURCE is a folder, a glob, or a .txt/.parquet list of paths or URLs (a Parquet list needs
    a `path` column). DEST is a folder of part files (Parquet or JSON Lines), one row per file:
    path, size, sha256, md5, pdq, quality, verdict, watermark_id, manifest_state, output, error.
    Killed jobs resume where they stopped. Needs the batch extra. See docs/scale.md.
    """


@batch_group.command("hash", epilog=BATCH_EXIT_CODES_HELP)
@_job_options
@reports_errors
@click.pass_context
def batch_hash(ctx: click.Context, **kw: Any) -> None:
    """SHA-256, MD5 and PDQ of every file in SOURCE."""
    _run(ctx, _load().JobOptions("hash"), **kw)


@batch_group.command("verify", epilog=BATCH_EXIT_CODES_HELP)
@_job_options
@click.option("--offline-registry", "no_registry", is_flag=True, help="Do not use the registry.")
@click.option("--search", type=click.Choice(SEARCH_MODES), default=None, help="Watermark search mode.")
@reports_errors
@click.pass_context
def batch_verify(ctx: click.Context, no_registry: bool, search: str | None, **kw: Any) -> None:
    """Verify every file in SOURCE, as `provenance verify` does."""
    _run(ctx, _load().JobOptions("verify", use_registry=not no_registry, search=search), **kw)


@batch_group.command("stamp", epilog=BATCH_EXIT_CODES_HELP)
@_job_options
@click.option("--stamped-dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the stamped PNGs (every worker must be able to write it).")
@click.option("--generator", required=True, help="The model or service named in the credentials.")
@reports_errors
@click.pass_context
def batch_stamp(ctx: click.Context, stamped_dir: Path, generator: str, **kw: Any) -> None:
    """Watermark, sign and record every image in SOURCE (through the registry; reruns stamp nothing twice)."""
    stamped_dir.mkdir(parents=True, exist_ok=True)
    _run(ctx, _load().JobOptions("stamp", out_dir=str(stamped_dir.resolve()), generator=generator), **kw)


@batch_group.command("sweep")
@click.option("--index", "index", required=True, type=click.Path(path_type=Path),
              help="Content index: the Parquet output of `provenance batch hash` (path and pdq columns).")
@click.option("--bank", "bank_name", required=True, help="The bank to sweep with (its threshold applies).")
@click.option("--out", "dest", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Parquet file of matches: path, pdq, bank, bank_pdq, distance.")
@click.option("--scheduler", metavar="ADDRESS", default=None, help="Dask scheduler (default: a LocalCluster).")
@click.option("--workers", type=click.IntRange(1, 1024), default=None, help="LocalCluster worker processes.")
@reports_errors
def batch_sweep(index: Path, bank_name: str, dest: Path, scheduler: str | None, workers: int | None) -> None:
    """Match a bank against a content index, partition by partition; matches to Parquet."""
    from ..banks import Banks

    batch = _load()
    from ..batch.sweep import sweep

    with Banks.open() as banks:
        bank = banks.get(bank_name)
        values = [e.value for e in banks.entries(bank_name) if e.kind == "pdq"]
    _quiet_dask()
    client = batch.connect(scheduler, workers=workers)
    try:
        summary = sweep(client, index, bank.name, values, bank.threshold, dest)
    finally:
        batch.close(client)
    echo_json({"dest": summary.dest, "rows": summary.rows, "hashed": summary.hashed, "matches": summary.matches,
               "bank": bank.name, "bank_hashes": len(values)})
