"""Where a batch job's rows go: a folder of Parquet or JSON Lines part files, one per batch.

Each finished batch is written to a temporary file and renamed into place, so a part is
complete or absent: a job killed at any moment loses at most the batches in flight, and a
rerun skips every path already in a part (:func:`done_paths`).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import InvalidInputError
from .rows import ROW_COLUMNS, FileRow

__all__ = ["FORMATS", "PartWriter", "batches", "done_paths", "output_format", "read_rows"]

#: Output formats, by part-file suffix.
FORMATS = {"parquet": ".parquet", "jsonl": ".jsonl"}


def output_format(dest: str | os.PathLike, fmt: str | None = None) -> str:
    """``parquet`` or ``jsonl``: `fmt` if given, else from DEST's suffix (default Parquet)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InvalidInputError(f"Output format must be parquet or jsonl; got {fmt!r}.")
        return fmt
    return "jsonl" if Path(dest).suffix.lower() in (".jsonl", ".ndjson", ".json") else "parquet"


def _schema():  # noqa: ANN202 (pyarrow is imported lazily: the batch extra)
    import pyarrow as pa

    types = {"size": pa.int64(), "quality": pa.int16()}
    return pa.schema([(name, types.get(name, pa.string())) for name in ROW_COLUMNS])


def _parts(dest: Path) -> list[Path]:
    if not dest.is_dir():
        return []
    return sorted(p for p in dest.iterdir() if p.name.startswith("part-") and p.suffix in FORMATS.values())


def read_rows(dest: str | os.PathLike) -> list[dict]:
    """Every row in DEST's part files (Parquet or JSON Lines), in part order."""
    rows: list[dict] = []
    for part in _parts(Path(dest)):
        if part.suffix == ".jsonl":
            rows.extend(json.loads(line) for line in part.read_text(encoding="utf-8").splitlines() if line)
        else:
            import pyarrow.parquet as pq

            rows.extend(pq.read_table(part).to_pylist())
    return rows


def done_paths(dest: str | os.PathLike) -> set[str]:
    """Paths that already have a row in DEST (processed, or failed with an error) and are skipped on resume."""
    dest = Path(dest)
    done: set[str] = set()
    for part in _parts(dest):
        if part.suffix == ".jsonl":
            for line in part.read_text(encoding="utf-8").splitlines():
                if line:
                    done.add(json.loads(line)["path"])
        else:
            import pyarrow.parquet as pq

            done.update(pq.read_table(part, columns=["path"]).column(0).to_pylist())
    return done


class PartWriter:
    """Writes each batch's rows to DEST/part-NNNNNN-<token>.<fmt>, atomically.

    Parameters
    ----------
    dest : path-like
        A folder (created if missing). A file there of the same name is refused.
    fmt : {"parquet", "jsonl"}
    """

    def __init__(self, dest: str | os.PathLike, fmt: str) -> None:
        self.dest = Path(dest)
        self.fmt = output_format(dest, fmt)
        if self.dest.exists() and not self.dest.is_dir():
            raise InvalidInputError(f"{self.dest} is a file; --out names a folder that will hold the part files.")
        try:
            self.dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInputError(f"Cannot create {self.dest} ({exc.strerror or exc}); check the path and its "
                                    "permissions.") from exc
        self._run = secrets.token_hex(3)  # parts of different runs never collide
        self._count = len(_parts(self.dest))
        self.rows_written = 0

    def write(self, rows: Sequence[FileRow]) -> Path | None:
        """Write one batch's rows as a new part file; returns it (None for no rows)."""
        if not rows:
            return None
        self._count += 1
        final = self.dest / f"part-{self._count:06d}-{self._run}{FORMATS[self.fmt]}"
        tmp = self.dest / f".{final.name}.tmp"
        if self.fmt == "jsonl":
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.writelines(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in rows)
                fh.flush()
                os.fsync(fh.fileno())
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pylist([r.to_dict() for r in rows], schema=_schema())
            pq.write_table(table, tmp)
        os.replace(tmp, final)
        self.rows_written += len(rows)
        return final


def batches(paths: Iterable[str], size: int) -> list[list[str]]:
    """`paths` cut into lists of at most `size`."""
    items = list(paths)
    return [items[i : i + size] for i in range(0, len(items), size)]
