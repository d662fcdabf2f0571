"""Batch jobs over many files on a Dask cluster: hash, verify or stamp, and sweep a bank over an index.

Needs the ``batch`` extra (``pip install media-provenance[batch]``: Dask distributed, pyarrow,
fsspec). Modules: :mod:`.sources` (what to read), :mod:`.rows` (one row per file),
:mod:`.output` (Parquet / JSON Lines part files, resume), :mod:`.runner` (the cluster job),
:mod:`.sweep` (a bank against a content index). See ``docs/scale.md``.
"""

from __future__ import annotations

from .output import FORMATS, PartWriter, done_paths, output_format, read_rows
from .rows import JOB_KINDS, ROW_COLUMNS, FileRow
from .runner import DEFAULT_BATCH_SIZE, JobOptions, JobSummary, ToolsPlugin, close, connect, run_job
from .sources import LIST_COLUMN, list_sources

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "FORMATS",
    "JOB_KINDS",
    "LIST_COLUMN",
    "ROW_COLUMNS",
    "FileRow",
    "JobOptions",
    "JobSummary",
    "PartWriter",
    "ToolsPlugin",
    "close",
    "connect",
    "done_paths",
    "list_sources",
    "output_format",
    "read_rows",
    "run_job",
]
