"""One bank index per machine: a memory-mapped file per bank, shared by every process through the page cache.

Without it each gunicorn worker builds its own :class:`~provenance.search.HashIndex` (about 64
bytes per hash: 640 MB per worker at 10M hashes). With ``PROVENANCE_BANK_INDEX_DIR`` set, the
first process that needs a bank builds its index once, writes the arrays to
``<dir>/<registry>-bank-<id>.idx`` and renames the file into place (atomic: readers see the
old file or the new one, never half of one); every process maps it read-only with
``np.memmap``. Hashes added since the file was built are read from the database into each
process's small delta (see :mod:`.index`), so an add reaches every worker on its next match;
a withdrawal, or a delta past :data:`~.index.DELTA_MAX`, makes the next process to notice
rebuild the file (under a lock, so once), and the others map the new one.

File layout: a 4 KiB JSON header, then the hashes ``(N, 4) uint64``, the permutations
``(7, N) int32`` and the bucket offsets ``(8, 2**bits + 1) int32``, each at a page boundary.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..search import HashIndex

__all__ = ["SharedIndex", "index_path", "open_index", "shared_index", "write_index"]

logger = logging.getLogger(__name__)

_MAGIC = "provenance-bank-index-1"
_PAGE = 4096


@dataclass(frozen=True)
class SharedIndex:
    """A bank's memory-mapped index and what it was built from."""

    index: HashIndex
    withdrawals: int
    max_entry_id: int
    path: Path


def index_path(directory: str | os.PathLike, registry_url: str, bank_id: int) -> Path:
    """The index file of one bank of one registry (several registries may share a folder)."""
    tag = hashlib.sha256(registry_url.encode()).hexdigest()[:12]
    return Path(directory) / f"{tag}-bank-{int(bank_id)}.idx"


def _aligned(n: int) -> int:
    return (n + _PAGE - 1) // _PAGE * _PAGE


def write_index(path: Path, index: HashIndex, *, withdrawals: int, max_entry_id: int) -> None:
    """Write `index` to `path` atomically (a temporary file in the same folder, then a rename)."""
    codes, ids, offsets, bits = index.arrays()
    layout, at = {}, _PAGE
    for name, arr in (("codes", codes), ("ids", ids), ("offsets", offsets)):
        layout[name] = {"offset": at, "shape": list(arr.shape), "dtype": arr.dtype.str}
        at = _aligned(at + arr.nbytes)
    header = json.dumps({"magic": _MAGIC, "withdrawals": int(withdrawals), "max_entry_id": int(max_entry_id),
                         "bits": int(bits), "arrays": layout}).encode()
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(header.ljust(_PAGE, b" "))
            for name, arr in (("codes", codes), ("ids", ids), ("offsets", offsets)):
                fh.seek(layout[name]["offset"])
                fh.write(np.ascontiguousarray(arr).tobytes())
            fh.truncate(at)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def open_index(path: Path) -> SharedIndex | None:
    """Map the index file at `path` read-only; None if there is none (or it is not one of ours)."""
    try:
        with open(path, "rb") as fh:
            header = json.loads(fh.read(_PAGE).rstrip(b" \x00") or b"{}")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable bank index %s: %s", path, exc)
        return None
    if header.get("magic") != _MAGIC:
        return None
    arrays = {}
    for name, spec in header["arrays"].items():
        shape = tuple(spec["shape"])
        if 0 in shape:
            arrays[name] = np.zeros(shape, dtype=spec["dtype"])
        else:
            arrays[name] = np.memmap(path, dtype=spec["dtype"], mode="r", offset=spec["offset"], shape=shape)
    index = HashIndex.from_arrays(arrays["codes"], arrays["ids"], arrays["offsets"], header["bits"])
    return SharedIndex(index, int(header["withdrawals"]), int(header["max_entry_id"]), path)


class _Lock:
    """An exclusive ``flock`` on ``<path>.lock``: one process per machine rebuilds a bank's file."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path.with_suffix(".lock"), "a")
        except OSError as exc:
            raise ConfigError(f"Cannot use PROVENANCE_BANK_INDEX_DIR {path.parent} ({exc.strerror or exc}); "
                              "point it at a writable local folder, or unset it.") from exc

    def __enter__(self) -> "_Lock":
        fcntl.flock(self._fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()


def shared_index(path: Path, *, withdrawals: int, min_entry_id: int, build) -> SharedIndex:  # noqa: ANN001
    """The mapped index at `path` if it is current, else one built by `build()` and written there.

    Current means built after the last withdrawal (`withdrawals`) and holding every entry up to
    at least `min_entry_id`. `build` returns ``(HashIndex, max_entry_id)``.
    """
    have = open_index(path)
    if have is not None and have.withdrawals == withdrawals and have.max_entry_id >= min_entry_id:
        return have
    with _Lock(path):
        have = open_index(path)  # another process may have built it while we waited
        if have is not None and have.withdrawals == withdrawals and have.max_entry_id >= min_entry_id:
            return have
        index, max_entry_id = build()
        write_index(path, index, withdrawals=withdrawals, max_entry_id=max_entry_id)
        logger.info("wrote shared bank index %s (%d hashes)", path, len(index))
    have = open_index(path)
    assert have is not None  # just written
    return have
