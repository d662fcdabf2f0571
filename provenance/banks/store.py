"""The :class:`Banks` store: banks and their entries in the registry database, and matching."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, Iterable, Sequence

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import BankExistsError, BankNotFoundError, HashListError, InvalidInputError
from ..hashing import DIHEDRAL_NAMES, MIN_QUALITY, PerceptualHash, file_digests, pdq_dihedral_hashes_file
from ..images import DEFAULT_MAX_DECODE_BYTES, DEFAULT_MAX_PIXELS, ImageSource, read_source
from ..registry import Registry, transaction
from ..registry.schema import DEFAULT_BANK_THRESHOLD, bank_entries, hash_banks, utc_now
from ..search import check_packed
from .bulk import bulk_insert
from .index import LoadedBank, append_entries, load_bank, pack_hex
from .shared_index import index_path
from .video_store import VideoBanks
from .lists import DEFAULT_MAX_IMPORT_ROWS, HashListSource, HashRows, parse_rows, rows_from_entries, write_hash_list
from .records import (
    HASH_KINDS,
    REVIEW_NOTE,
    Bank,
    BankEntry,
    BankMatch,
    ImportResult,
    MatchResult,
    check_description,
    check_hex_value,
    check_label,
    check_name,
    check_threshold,
    row_to_bank,
)

__all__ = ["Banks", "audit_detail"]

logger = logging.getLogger(__name__)

#: Banks at least this large are re-indexed in the background after a withdrawal (about 0.4 s of
#: work inline at this size, 38 s at 10M hashes: docs/scale.md).
BACKGROUND_REBUILD_FROM = 100_000

_LOOKUP_CHUNK = 5_000  # values per IN list when looking for entries already in a bank (SQLite)

# The statements every match runs, built once: SQLAlchemy then reuses their compiled form
# without rebuilding and re-keying a new statement object per request.
_REFRESH = sa.select(
    hash_banks.c.bank_id, hash_banks.c.name, hash_banks.c.label, hash_banks.c.threshold,
    hash_banks.c.enabled, hash_banks.c.version, hash_banks.c.withdrawals, hash_banks.c.pdq_count,
    hash_banks.c.entry_count,
)
_PDQ_DETAILS = sa.select(
    bank_entries.c.value, bank_entries.c.source, bank_entries.c.case_id, bank_entries.c.listed_at,
).where(
    bank_entries.c.bank_id == sa.bindparam("bank_id"), bank_entries.c.kind == "pdq",
    bank_entries.c.value.in_(sa.bindparam("values", expanding=True)),
)
# A missing digest is bound as NULL, which equals nothing.
_EXACT = (
    sa.select(hash_banks.c.name, hash_banks.c.label, hash_banks.c.threshold, bank_entries.c.kind,
              bank_entries.c.value, bank_entries.c.source, bank_entries.c.case_id, bank_entries.c.listed_at)
    .join(hash_banks, hash_banks.c.bank_id == bank_entries.c.bank_id)
    .where(
        bank_entries.c.bank_id.in_(sa.select(hash_banks.c.bank_id).where(hash_banks.c.enabled.is_(True))
                                    .scalar_subquery()),
        hash_banks.c.enabled.is_(True),
        sa.or_(sa.and_(bank_entries.c.kind == "md5", bank_entries.c.value == sa.bindparam("md5")),
               sa.and_(bank_entries.c.kind == "sha256", bank_entries.c.value == sa.bindparam("sha256"))),
    )
)


class Banks(VideoBanks):
    """Hash banks in the registry database, and matching against them (images here, videos in :class:`VideoBanks`).

    Build one per process and reuse it: the enabled banks' hashes are loaded on the first
    match and refreshed when a bank changes (checked with one small query before each match).
    Thread-safe.

    Parameters
    ----------
    registry : Registry
        Where the banks live. Not closed by :meth:`close` unless `owns_registry`.
    max_import_rows : int
        Largest import accepted.
    owns_registry : bool
        Close `registry` in :meth:`close`.
    background_rebuild_from : int
        After a withdrawal, a loaded bank of at least this many hashes keeps serving its old
        index (matches are checked against the database, so a withdrawn hash never matches)
        while a new one is built in a background thread; a smaller one is rebuilt at once.
    video_query_percent, video_compared_percent : float, optional
        vPDQ's two shares a video match needs (default ``PROVENANCE_VIDEO_BANK_*_PERCENT``).
    """

    def __init__(self, registry: Registry, *, max_import_rows: int = DEFAULT_MAX_IMPORT_ROWS,
                 owns_registry: bool = False, index_dir: str | os.PathLike | None = None,
                 video_query_percent: float | None = None, video_compared_percent: float | None = None,
                 background_rebuild_from: int = BACKGROUND_REBUILD_FROM) -> None:
        if not isinstance(registry, Registry):
            raise InvalidInputError(f"Banks needs a Registry; got {type(registry).__name__}.")
        if index_dir is None or video_query_percent is None or video_compared_percent is None:
            from ..settings import Settings

            env = Settings.from_env()
            # one memory-mapped index per machine (banks/shared_index.py), when configured
            index_dir = env.bank_index_dir if index_dir is None else index_dir
            video_query_percent = env.video_bank_query_percent if video_query_percent is None else video_query_percent
            video_compared_percent = (env.video_bank_compared_percent if video_compared_percent is None
                                      else video_compared_percent)
        self.video_query_percent = float(video_query_percent)
        self.video_compared_percent = float(video_compared_percent)
        self.index_dir = None if index_dir is None else Path(index_dir)
        self.registry = registry
        self.max_import_rows = max_import_rows
        self._owns_registry = owns_registry
        self._loaded: dict[int, LoadedBank] = {}  # replaced whole, never changed in place
        self._videos_loaded = {}  # the same, for video entries (.video_store)
        self._lock = threading.Lock()
        self.background_rebuild_from = int(background_rebuild_from)
        self._rebuild_lock = threading.Lock()
        self._rebuilding: dict[int, threading.Thread] = {}  # bank id -> its background rebuild

    @classmethod
    def open(cls, settings: Any = None) -> "Banks":
        """Open the registry `settings` names (default ``Settings.from_env()``) and its banks."""
        from ..settings import Settings

        settings = Settings.from_env() if settings is None else settings
        return cls(Registry.open(settings), max_import_rows=settings.bank_max_import_rows, owns_registry=True,
                   video_query_percent=settings.video_bank_query_percent,
                   video_compared_percent=settings.video_bank_compared_percent)

    def close(self) -> None:
        """Drop loaded hashes (after any background rebuild); close the registry if this object opened it. Idempotent."""
        self.wait_for_rebuilds()
        self._loaded = {}
        self._videos_loaded = {}
        if self._owns_registry:
            self.registry.close()

    def __enter__(self) -> "Banks":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- plumbing

    def _tx(self, action: str, *, write: bool):  # noqa: ANN202 (a context manager)
        return transaction(self.registry, action, write=write)

    def _bank_row(self, conn: Connection, name: str, *, lock: bool = False) -> sa.Row:
        query = sa.select(hash_banks).where(hash_banks.c.name == check_name(name))
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise BankNotFoundError(f"No bank named {name!r}; `provenance bank list` shows the banks, "
                                    "`provenance bank create` makes one.")
        return row

    # ---- banks

    def create(self, name: str, *, label: str, threshold: int = DEFAULT_BANK_THRESHOLD, enabled: bool = True,
               description: str | None = None) -> Bank:
        """Create an empty bank.

        Raises
        ------
        InvalidInputError
            On a bad name, label or threshold.
        BankExistsError
            If the name is taken.
        """
        name, label = check_name(name), check_label(label)
        threshold, description = check_threshold(threshold), check_description(description)
        now = utc_now()
        with self._tx("bank create", write=True) as conn:
            if conn.scalar(sa.select(hash_banks.c.bank_id).where(hash_banks.c.name == name)) is not None:
                raise BankExistsError(f"A bank named {name!r} exists already; pick another name.")
            conn.execute(hash_banks.insert().values(
                name=name, label=label, threshold=threshold, enabled=bool(enabled), description=description,
                created_at=now, updated_at=now, version=1, withdrawals=0, entry_count=0, pdq_count=0,
            ))
            return row_to_bank(self._bank_row(conn, name))

    def get(self, name: str) -> Bank:
        """Return the bank called `name`.

        Raises
        ------
        BankNotFoundError
        """
        with self._tx("bank read", write=False) as conn:
            return row_to_bank(self._bank_row(conn, name))

    def list(self) -> tuple[Bank, ...]:
        """All banks, by name, with their entry counts."""
        with self._tx("bank list", write=False) as conn:
            return tuple(row_to_bank(r) for r in conn.execute(sa.select(hash_banks).order_by(hash_banks.c.name)))

    def update(self, name: str, *, label: str | None = None, threshold: int | None = None,
               enabled: bool | None = None, description: str | None = None) -> Bank:
        """Change a bank's label, threshold, enabled flag or description; takes effect on the next match.

        Raises
        ------
        BankNotFoundError, InvalidInputError
        """
        values: dict[str, Any] = {}
        if label is not None:
            values["label"] = check_label(label)
        if threshold is not None:
            values["threshold"] = check_threshold(threshold)
        if enabled is not None:
            values["enabled"] = bool(enabled)
        if description is not None:
            values["description"] = check_description(description)
        with self._tx("bank update", write=True) as conn:
            row = self._bank_row(conn, name, lock=True)
            if values:
                conn.execute(hash_banks.update().where(hash_banks.c.bank_id == row.bank_id).values(
                    version=hash_banks.c.version + 1, updated_at=utc_now(), **values))
            return row_to_bank(self._bank_row(conn, name))

    # ---- entries

    def add(self, name: str, entries: Iterable[BankEntry | PerceptualHash | str], *,
            skip_existing: bool = False) -> ImportResult:
        """Add hashes to a bank in one transaction.

        Parameters
        ----------
        name : str
        entries : iterable of BankEntry, PerceptualHash or hex str (PDQ)
        skip_existing : bool
            Leave out hashes already in the bank instead of failing.

        Raises
        ------
        BankNotFoundError
        HashListError, InvalidInputError
            On bad or duplicate hashes; the bank is unchanged.
        """
        return self._insert(name, rows_from_entries(entries), skip_existing=skip_existing)

    def import_hashes(self, name: str, source: HashListSource, *, format: str | None = None,
                      skip_existing: bool = False) -> ImportResult:
        """Import a CSV or JSON hash list into a bank, all or nothing.

        Raises
        ------
        BankNotFoundError
        HashListError
            On malformed hex, wrong lengths, duplicates (in the list, or already in the bank unless
            `skip_existing`), too many rows; the bank is unchanged.
        """
        check_name(name)
        rows = parse_rows(source, format=format, max_rows=self.max_import_rows)
        return self._insert(name, rows, skip_existing=skip_existing)

    def _insert(self, name: str, rows: HashRows, *, skip_existing: bool) -> ImportResult:
        if len(rows) > self.max_import_rows:
            raise HashListError(f"{len(rows):,} hashes is more than one import takes ({self.max_import_rows:,}).")
        now = utc_now()
        with self._tx("bank import", write=True) as conn:
            bank = self._bank_row(conn, name, lock=True)
            keep = np.ones(len(rows), dtype=bool)
            keys = rows.keys if rows.keys is not None else np.char.add(rows.kind, np.array(rows.value))
            empty = bank.entry_count == 0  # nothing to look up (the usual first import of a big list)
            existing = np.zeros(0, dtype=keys.dtype) if empty else self._existing_keys(conn, bank.bank_id, rows, keys)
            if existing.size:
                present = np.isin(keys, existing)
                if present.any() and not skip_existing:
                    i = int(np.flatnonzero(present)[0])
                    raise HashListError(
                        f"line {rows.line[i]}: {rows.kind[i]} hash {rows.value[i]} is already in bank {name!r} "
                        f"({int(present.sum())} of the {len(rows)} are). Nothing was imported; "
                        "import with skip_existing (--skip-existing) to add only the new ones."
                    )
                keep = ~present
            idx = np.flatnonzero(keep)
            if idx.size:
                bulk_insert(conn, bank.bank_id, rows, idx, now)
            pdq_added = int((rows.kind[idx] == "pdq").sum())
            conn.execute(hash_banks.update().where(hash_banks.c.bank_id == bank.bank_id).values(
                version=hash_banks.c.version + 1, updated_at=now,
                entry_count=hash_banks.c.entry_count + int(idx.size),
                pdq_count=hash_banks.c.pdq_count + pdq_added,
            ))
        logger.info("bank %s: %d hashes added, %d already present", name, idx.size, len(rows) - idx.size)
        return ImportResult(bank=name, added=int(idx.size), skipped=int(len(rows) - idx.size), rows=len(rows))

    def _existing_keys(self, conn: Connection, bank_id: int, rows: HashRows, keys: np.ndarray) -> np.ndarray:
        """kind+value of the list's entries that the bank holds already.

        Looked up through the bank's unique (bank, kind, value) index, so the cost follows the
        list, not the bank: never every entry of a large bank read into Python.
        """
        e = bank_entries
        found: list[tuple[str, str]] = []
        if conn.dialect.name == "postgresql":  # one query: the list as two arrays, joined on the index
            found = conn.execute(sa.text(
                "SELECT e.kind, e.value FROM bank_entries e JOIN unnest(CAST(:kinds AS text[]), CAST(:vals AS text[])) "
                "AS t(kind, value) ON e.kind = t.kind AND e.value = t.value WHERE e.bank_id = :bank_id"
            ), {"kinds": rows.kind.tolist(), "vals": rows.value, "bank_id": bank_id}).all()
        else:
            for kind in np.unique(rows.kind).tolist():
                values = [rows.value[i] for i in np.flatnonzero(rows.kind == kind).tolist()]
                for start in range(0, len(values), _LOOKUP_CHUNK):
                    found.extend(conn.execute(sa.select(e.c.kind, e.c.value).where(
                        e.c.bank_id == bank_id, e.c.kind == kind,
                        e.c.value.in_(values[start : start + _LOOKUP_CHUNK]))).all())
        if not found:
            return np.zeros(0, dtype=keys.dtype)
        return np.char.add(np.array([r[0] for r in found]), np.array([r[1] for r in found]))

    def withdraw(self, name: str, values: Iterable[str | PerceptualHash], *, kind: str = "pdq",
                 missing_ok: bool = False) -> int:
        """Delete hashes from a bank (as StopNCII requires when a case is withdrawn).

        Takes effect on the next match, in every process sharing the database.

        Parameters
        ----------
        values : iterable of hex str or PerceptualHash
        kind : str
            ``pdq``, ``md5`` or ``sha256``.
        missing_ok : bool
            Ignore hashes that are not in the bank instead of failing.

        Returns
        -------
        int
            How many entries were deleted.

        Raises
        ------
        BankNotFoundError
        InvalidInputError
            On malformed hex, or a hash not in the bank (unless `missing_ok`); nothing is deleted.
        """
        if kind not in HASH_KINDS:
            raise InvalidInputError(f"kind must be one of {', '.join(HASH_KINDS)}; got {kind!r}.")
        hexes = sorted({check_hex_value(v.to_hex() if isinstance(v, PerceptualHash) else v, kind) for v in values})
        if not hexes:
            raise InvalidInputError("No hashes to withdraw were given.")
        e = bank_entries
        with self._tx("bank withdraw", write=True) as conn:
            bank = self._bank_row(conn, name, lock=True)
            present: set[str] = set()
            for start in range(0, len(hexes), 1000):  # bounded IN lists
                chunk = hexes[start : start + 1000]
                present.update(conn.scalars(sa.select(e.c.value).where(
                    e.c.bank_id == bank.bank_id, e.c.kind == kind, e.c.value.in_(chunk))))
            missing = [h for h in hexes if h not in present]
            if missing and not missing_ok:
                raise InvalidInputError(
                    f"{len(missing)} of the {len(hexes)} {kind} hashes are not in bank {name!r} (first: {missing[0]}); "
                    "nothing was withdrawn. Check the hashes, or pass missing_ok (--missing-ok)."
                )
            doomed = sorted(present)
            for start in range(0, len(doomed), 1000):
                conn.execute(e.delete().where(e.c.bank_id == bank.bank_id, e.c.kind == kind,
                                              e.c.value.in_(doomed[start : start + 1000])))
            if doomed:
                conn.execute(hash_banks.update().where(hash_banks.c.bank_id == bank.bank_id).values(
                    version=hash_banks.c.version + 1, withdrawals=hash_banks.c.withdrawals + 1,
                    updated_at=utc_now(), entry_count=hash_banks.c.entry_count - len(doomed),
                    pdq_count=hash_banks.c.pdq_count - (len(doomed) if kind == "pdq" else 0),
                ))
        logger.info("bank %s: %d %s hashes withdrawn", name, len(doomed), kind)
        return len(doomed)

    def entries(self, name: str) -> list[BankEntry]:
        """Every entry of a bank, oldest first."""
        e = bank_entries
        with self._tx("bank export", write=False) as conn:
            bank = self._bank_row(conn, name)
            rows = conn.execute(sa.select(e.c.kind, e.c.value, e.c.quality, e.c.source, e.c.case_id, e.c.listed_at)
                                .where(e.c.bank_id == bank.bank_id).order_by(e.c.entry_id)).all()
        return [BankEntry(value=r.value, kind=r.kind, quality=r.quality, source=r.source, case_id=r.case_id,
                          listed_at=r.listed_at) for r in rows]

    def export(self, name: str, out: str | os.PathLike | IO[str], *, format: str = "csv") -> int:
        """Write a bank's hashes as a CSV or JSON hash list (re-importable); return how many.

        Raises
        ------
        BankNotFoundError, InvalidInputError
        """
        if format not in ("csv", "json"):
            raise InvalidInputError(f"format must be csv or json; got {format!r}.")
        return write_hash_list(self.get(name), self.entries(name), out, format=format)

    # ---- loading

    def _refresh(self, conn: Connection) -> tuple[list[LoadedBank], bool]:
        """Bring the loaded banks up to date with the database and return them.

        Changed banks get new snapshots and the whole mapping is swapped at once: a search
        running in another thread keeps the snapshots it started with.

        Returns
        -------
        list of LoadedBank
            The enabled banks.
        bool
            Whether any enabled bank holds MD5 or SHA-256 entries (its ``entry_count`` is more
            than its ``pdq_count``); without them no exact lookup is needed.
        """
        rows = conn.execute(_REFRESH).all()
        enabled = {r.bank_id: r for r in rows if r.enabled}
        with self._lock:
            current, fresh = self._loaded, {}
            for bank_id, r in enabled.items():
                have = current.get(bank_id)
                if have is not None and have.version == r.version:
                    fresh[bank_id] = have
                    continue
                if have is None:
                    fresh[bank_id] = self._load(conn, bank_id, r)
                    continue
                if have.withdrawals == r.withdrawals or have.size >= self.background_rebuild_from:
                    have = append_entries(conn, have)  # (a small bank is reloaded after a withdrawal)
                if have.withdrawals == r.withdrawals and have.size == r.pdq_count:
                    fresh[bank_id] = have.with_settings(r)
                elif have.size < self.background_rebuild_from:
                    fresh[bank_id] = self._load(conn, bank_id, r)
                else:
                    # A withdrawal from a large bank: the snapshot still holds the withdrawn hashes,
                    # but a match is read back from the database (_search_bank), where they no
                    # longer are, so it stays right. The fresh index (38 s at 10M hashes) is built
                    # in the background rather than in this request; the snapshot keeps the
                    # withdrawal count it was built at, so it is known to be stale until then.
                    self._rebuild_later(bank_id)
                    fresh[bank_id] = replace(have.with_settings(r), withdrawals=have.withdrawals)
            self._loaded = fresh
        return list(fresh.values()), any(r.entry_count > r.pdq_count for r in enabled.values())

    def _load(self, conn: Connection, bank_id: int, row: Any) -> LoadedBank:
        index_file = None if self.index_dir is None else index_path(self.index_dir, self.registry.url, bank_id)
        return load_bank(conn, bank_id, row, index_file=index_file).with_settings(row)

    def _rebuild_later(self, bank_id: int) -> None:
        """Build bank `bank_id`'s index afresh in a background thread and swap it in (once at a time per bank)."""
        with self._rebuild_lock:
            if bank_id in self._rebuilding:
                return
            thread = threading.Thread(target=self._rebuild, args=(bank_id,), name=f"bank-{bank_id}-rebuild", daemon=True)
            self._rebuilding[bank_id] = thread
        thread.start()

    def _rebuild(self, bank_id: int) -> None:
        try:
            with self._tx("bank rebuild", write=False) as conn:
                row = conn.execute(_REFRESH.where(hash_banks.c.bank_id == bank_id)).first()
                built = None if row is None or not row.enabled else self._load(conn, bank_id, row)
            if built is not None:
                with self._lock:
                    # Swapped in whole, like a refresh; later refreshes append what was added since.
                    if bank_id in self._loaded:
                        self._loaded = {**self._loaded, bank_id: built}
                logger.info("rebuilt the index of bank %d (%d hashes) after a withdrawal", bank_id, built.size)
        except Exception:  # the stale snapshot stays in use (still right, only larger); the next change retries
            logger.exception("rebuilding the index of bank %d failed", bank_id)
        finally:
            with self._rebuild_lock:
                self._rebuilding.pop(bank_id, None)

    def wait_for_rebuilds(self, timeout: float | None = None) -> bool:
        """Wait for background index rebuilds (after withdrawals) to finish; False if some still run after `timeout` s."""
        with self._rebuild_lock:
            threads = list(self._rebuilding.values())
        for thread in threads:
            thread.join(timeout)
        with self._rebuild_lock:
            return not self._rebuilding

    def warm(self) -> int:
        """Load every enabled bank's PDQ index now; returns how many hashes they hold.

        With a shared index folder this builds the machine's index files (or checks they are
        current): gunicorn's master calls it before starting workers, so that no worker spends
        its first request, and the request timeout, building a 10M-hash index.
        """
        with self._tx("warm", write=False) as conn:
            loaded, _ = self._refresh(conn)
        return sum(b.size for b in loaded)

    # ---- matching

    def match(self, hashes: PerceptualHash | Sequence[PerceptualHash], *, md5: str | None = None,
              sha256: str | None = None, variants: Sequence[str] | None = None) -> tuple[BankMatch, ...]:
        """Match PDQ hashes (and optionally a file's MD5/SHA-256) against every enabled bank.

        Parameters
        ----------
        hashes : PerceptualHash or sequence of them
            Typically the 8 :func:`~provenance.hashing.pdq_dihedral_hashes` of an upload. Hashes with
            quality below 50 are not searched (unmatchable).
        md5, sha256 : str, optional
            Exact digests of the file's bytes.
        variants : sequence of str, optional
            A name for each hash (default :data:`~provenance.hashing.DIHEDRAL_NAMES` when 8 are given).

        Returns
        -------
        tuple of BankMatch
            One per matched bank entry (its best variant), smallest distance first.

        Raises
        ------
        InvalidInputError
            If an argument is malformed.
        """
        return self._match(hashes, md5=md5, sha256=sha256, variants=variants)[0]

    def _match(self, hashes: PerceptualHash | Sequence[PerceptualHash], *, md5: str | None, sha256: str | None,
               variants: Sequence[str] | None = None) -> tuple[tuple[BankMatch, ...], int]:
        """:meth:`match`, and how many enabled banks were checked, from one read transaction."""
        if isinstance(hashes, PerceptualHash):
            hashes = (hashes,)
        hashes = tuple(hashes)
        if not all(isinstance(h, PerceptualHash) for h in hashes):
            raise InvalidInputError("match takes PerceptualHash values; parse hex with PerceptualHash.from_hex().")
        if variants is None:
            variants = DIHEDRAL_NAMES if len(hashes) == len(DIHEDRAL_NAMES) else (None,) * len(hashes)
        if len(variants) != len(hashes):
            raise InvalidInputError(f"variants names {len(variants)} hashes but {len(hashes)} were given.")
        md5 = None if md5 is None else check_hex_value(md5, "md5")
        sha256 = None if sha256 is None else check_hex_value(sha256, "sha256")
        searchable = [i for i, h in enumerate(hashes) if h.is_matchable]
        found: list[BankMatch] = []
        with self._tx("bank match", write=False) as conn:
            loaded, has_exact = self._refresh(conn)
            if searchable and loaded:
                queries = check_packed(pack_hex([hashes[i].to_hex() for i in searchable]), "queries")
                for bank in loaded:  # a few banks; each search is vectorised over all of the bank's hashes
                    found.extend(self._search_bank(conn, bank, queries, [variants[i] for i in searchable]))
            # No enabled bank holds an MD5 or SHA-256 (the common case): nothing to look up.
            if has_exact and (md5 is not None or sha256 is not None):
                found.extend(self._exact(conn, md5, sha256))
        found.sort(key=lambda m: (m.distance, m.label, m.bank, m.value))
        return tuple(found), len(loaded)

    def _search_bank(self, conn: Connection, bank: LoadedBank, queries: np.ndarray,
                     names: list[str | None]) -> list[BankMatch]:
        best = bank.search(queries)
        if not best:
            return []
        rows = conn.execute(_PDQ_DETAILS, {"bank_id": bank.bank_id, "values": sorted(best)}).all()
        # Rows withdrawn since the refresh are simply not found here.
        return [BankMatch(bank=bank.name, label=bank.label, kind="pdq", distance=best[r.value][1],
                          threshold=bank.threshold, value=r.value, variant=names[best[r.value][0]],
                          source=r.source, case_id=r.case_id, listed_at=r.listed_at) for r in rows]

    def _exact(self, conn: Connection, md5: str | None, sha256: str | None) -> list[BankMatch]:
        rows = conn.execute(_EXACT, {"md5": md5, "sha256": sha256}).all()
        return [BankMatch(bank=r.name, label=r.label, kind=r.kind, distance=0, threshold=int(r.threshold),
                          value=r.value, source=r.source, case_id=r.case_id, listed_at=r.listed_at) for r in rows]

    def check(self, hashes: Sequence[PerceptualHash], *, md5: str | None = None,
              sha256: str | None = None, audit: bool = False) -> MatchResult:
        """Match and summarise: status, matches and a plain-words explanation.

        Parameters
        ----------
        hashes : sequence of PerceptualHash
            An upload's PDQ hashes, original first (e.g. its 8 dihedral variants); may be empty
            when `md5` or `sha256` is given (a video, or a platform that sends digests only).
        md5, sha256 : str, optional
            Exact digests of the file's bytes.
        audit : bool
            Append a ``match`` event to the audit log (`sha256`, or 64 zeros when it is not
            known; status; matches per label; never media).

        Raises
        ------
        InvalidInputError
            If nothing is given to match, or a hash is malformed.
        """
        hashes = tuple(hashes)
        if not hashes and md5 is None and sha256 is None:
            raise InvalidInputError("check needs the upload's PDQ hash, its MD5 or its SHA-256.")
        # checked: the enabled banks that were searched, from the same snapshot as the matches
        matches, checked = self._match(hashes, md5=md5, sha256=sha256)
        pdq = hashes[0] if hashes else None
        if matches:
            labels = sorted({m.label for m in matches})
            text = (f"Matched {len(matches)} reported hash{'es' if len(matches) > 1 else ''} "
                    f"(labels: {', '.join(labels)}). {REVIEW_NOTE}")
            status = "matched"
        elif checked == 0:
            status, text = "not_configured", "No hash bank is enabled; the perceptual hash is shown for reference."
        elif pdq is not None and not pdq.is_matchable:
            status = "unmatchable"
            text = (f"The image is too flat to hash reliably (PDQ quality {pdq.quality} < {MIN_QUALITY}), so it "
                    "could not be checked against the hash banks. This is not a 'no match'.")
        else:
            status = "no_match"
            exact = "" if pdq is not None else " (exact hashes only: no PDQ hash was given)"
            text = f"No match in {checked} enabled hash bank{'s' if checked > 1 else ''}{exact}."
        result = MatchResult(status, pdq, matches, checked, text)
        if audit:
            self.registry.log_event("match", sha256=check_hex_value(sha256, "sha256") if sha256 else "0" * 64,
                                    verdict=result.status, detail=audit_detail(result))
        return result

    def match_file(self, source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS,
                   max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES, audit: bool = False) -> MatchResult:
        """Hash a file (PDQ with its 8 dihedral variants, MD5, SHA-256) and check it against every enabled bank.

        Parameters
        ----------
        source : path, bytes or binary file
        max_pixels, max_decode_bytes : int
            The decoder's limits (``PROVENANCE_MAX_PIXELS``, ``PROVENANCE_MAX_DECODE_MB``).
        audit : bool
            Append a ``match`` event to the audit log (SHA-256, status, matches per label; never media).

        Raises
        ------
        InvalidImageError
            If the file is not a readable image.
        """
        data = read_source(source).data
        hashes = pdq_dihedral_hashes_file(data, max_pixels=max_pixels, max_decode_bytes=max_decode_bytes)
        digests = file_digests(data)
        return self.check(hashes, md5=digests.md5, sha256=digests.sha256, audit=audit)


def audit_detail(result: MatchResult) -> dict[str, Any]:
    """What the audit log keeps about a match: status, matches per label, the PDQ hash (never media)."""
    return {"bank_matches": result.labels, "pdq": None if result.pdq is None else result.pdq.to_hex()}
