"""What a batch job reads: a folder, a glob, or a list of paths or URLs in a text or Parquet file.

Listing runs on the client; workers open each file themselves through fsspec, so a list of
``s3://``, ``gs://`` or ``https://`` URLs works wherever the matching fsspec extra is installed.
"""

from __future__ import annotations

import glob as globlib
import os
from pathlib import Path

from ..errors import BatchSourceError

__all__ = ["LIST_COLUMN", "MEDIA_SUFFIXES", "list_sources", "read_bytes"]

#: The column a Parquet list of files must have.
LIST_COLUMN = "path"

#: Suffixes taken from folders and globs (the same media ``provenance verify`` picks up).
MEDIA_SUFFIXES = frozenset({
    ".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".avif", ".heic", ".heif",
    ".dng", ".svg", ".pdf", ".mp4", ".mov", ".m4a", ".mp3", ".wav", ".avi",
})

_LIST_SUFFIXES = (".txt", ".lst", ".list", ".parquet")


def _is_url(text: str) -> bool:
    return "://" in text[:16]


def _folder(path: Path) -> list[str]:
    return sorted(
        str(p) for p in path.rglob("*")
        if p.suffix.lower() in MEDIA_SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def _text_list(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise BatchSourceError(f"{path} is not a UTF-8 text list; give one path or URL per line.") from exc
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _parquet_list(path: Path) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BatchSourceError(f"{path} is not a readable Parquet file ({exc}); give a Parquet list with a "
                               f"{LIST_COLUMN!r} column, a text list or a folder.") from exc
    if LIST_COLUMN not in schema.names:
        raise BatchSourceError(
            f"{path} has no {LIST_COLUMN!r} column (it has {', '.join(schema.names) or 'none'}); a Parquet list "
            f"needs the paths or URLs in a string column called {LIST_COLUMN!r}."
        )
    column = pq.read_table(path, columns=[LIST_COLUMN]).column(0)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise BatchSourceError(f"The {LIST_COLUMN!r} column of {path} holds {column.type}, not strings; "
                               "store the paths or URLs as text.")
    return [p for p in column.to_pylist() if p]


def list_sources(source: str | os.PathLike) -> list[str]:
    """The files a batch job processes, in a stable order, each once.

    Parameters
    ----------
    source : str or path-like
        A folder (searched recursively for media; hidden entries skipped), a glob
        (``"archive/**/*.jpg"``), a text file with one path or URL per line (``#`` starts a
        comment), or a Parquet file with a ``path`` column.

    Returns
    -------
    list of str

    Raises
    ------
    BatchSourceError
        If `source` does not exist, matches nothing, cannot be read, or is a Parquet list
        without a string ``path`` column.
    """
    text = os.fspath(source)
    path = Path(text)
    try:
        if path.is_dir():
            found = _folder(path)
        elif any(ch in text for ch in "*?[") and not path.exists():
            found = sorted(p for p in globlib.glob(text, recursive=True) if os.path.isfile(p))
        elif path.suffix.lower() == ".parquet":
            found = _parquet_list(path)
        elif path.suffix.lower() in _LIST_SUFFIXES:
            found = _text_list(path)
        elif path.is_file():
            found = [text]
        else:
            raise BatchSourceError(f"{text} does not exist; give a folder, a glob, or a .txt/.parquet list of files.")
    except PermissionError as exc:
        raise BatchSourceError(f"{text} cannot be read ({exc.strerror}); check its permissions.") from exc
    except OSError as exc:
        raise BatchSourceError(f"{text} cannot be read ({exc.strerror or exc}).") from exc
    if not found:
        raise BatchSourceError(f"No media files found in {text}; give a folder, glob or list that names some.")
    return list(dict.fromkeys(found))


def read_bytes(path: str) -> bytes:
    """The bytes of a local file or an fsspec URL.

    Raises
    ------
    OSError
        If it cannot be read (missing, permission denied, a URL that fails).
    """
    if not _is_url(path):
        with open(path, "rb") as fh:
            return fh.read()
    import fsspec

    with fsspec.open(path, "rb") as fh:
        return fh.read()
