"""The content index (hashes of a platform's uploads, never media) and the sweep for copies.

A platform records each upload's hashes under its own content ID. A case's sweep finds every
content ID whose PDQ is within the threshold of one of the case's PDQ hashes or their
rotated and mirrored variants (:class:`provenance.search.HashIndex`, exact), or whose MD5 or
SHA-256 is equal (the database's indexes). Newly recorded content is checked against the
open and removed cases, so a re-upload after removal raises an alert.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import sqlalchemy as sa

from ..errors import InvalidInputError
from ..hashing import PerceptualHash, pack_hashes
from ..registry import Registry, transaction
from ..registry.schema import content_index, utc_now
from ..search import HashIndex, brute_force_search
from .records import CaseHash, check_hash

__all__ = ["DEFAULT_SWEEP_THRESHOLD", "MAX_CONTENT_ID_CHARS", "ContentRow", "PdqSnapshot", "ContentIndex",
           "check_content_row"]

logger = logging.getLogger(__name__)

#: PDQ distance, in bits, within which indexed content counts as a copy (Meta's recommendation).
DEFAULT_SWEEP_THRESHOLD = 31
#: Longest content ID.
MAX_CONTENT_ID_CHARS = 200
_REBUILD_DELTA = 50_000  # rows searched by brute force before the multi-index is rebuilt


@dataclass(frozen=True)
class ContentRow:
    """One indexed upload: the platform's content ID and its hashes (any may be None)."""

    content_id: str
    pdq: str | None = None
    quality: int | None = None
    md5: str | None = None
    sha256: str | None = None


def check_content_row(content_id: object, *, pdq: object = None, quality: object = None, md5: object = None,
                      sha256: object = None) -> ContentRow:
    """Check one row for the content index.

    Raises
    ------
    InvalidInputError
        If the content ID is empty or too long, no hash is given, or a hash is malformed.
    """
    if not isinstance(content_id, str) or not content_id.strip() or len(content_id.strip()) > MAX_CONTENT_ID_CHARS:
        raise InvalidInputError(f"content_id must be text of 1-{MAX_CONTENT_ID_CHARS} characters.")
    if pdq in ("", None) and md5 in ("", None) and sha256 in ("", None):
        raise InvalidInputError("Give at least one of pdq, md5 or sha256 for each content ID.")
    p = check_hash("pdq", pdq, None if quality in ("", None) else _int(quality)) if pdq not in ("", None) else None
    m = check_hash("md5", md5).value if md5 not in ("", None) else None
    s = check_hash("sha256", sha256).value if sha256 not in ("", None) else None
    return ContentRow(content_id.strip(), None if p is None else p.value, None if p is None else p.quality, m, s)


def _int(value: object) -> object:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


class PdqSnapshot:
    """An immutable in-memory PDQ index: content IDs and a :class:`HashIndex`, plus a small delta scanned.

    Parameters
    ----------
    content_ids : sequence of str
    codes : (N, 4) uint64 ndarray
        Packed PDQ hashes, one per content ID.
    """

    def __init__(self, content_ids: Sequence[str], codes: np.ndarray, *, last_row: int = 0,
                 delta_ids: Sequence[str] = (), delta: np.ndarray | None = None) -> None:
        # HashIndex sorts its rows (stably) by the top bits of their first 32-bit chunk: sorted
        # by the whole chunk first, they keep their order, so positions map straight to IDs.
        order = np.argsort(codes.view(np.uint32)[:, 0], kind="stable") if codes.shape[0] else np.zeros(0, np.intp)
        self._index = HashIndex(codes[order])
        self._ids = np.asarray(list(content_ids), dtype=object)[order]
        self._delta_ids = np.asarray(delta_ids, dtype=object)
        self._delta = np.zeros((0, 4), dtype=np.uint64) if delta is None else delta
        self.last_row = last_row

    def __len__(self) -> int:
        return len(self._index) + int(self._delta.shape[0])

    def with_delta(self, ids: Sequence[str], codes: np.ndarray, last_row: int) -> "PdqSnapshot":
        """A new snapshot with more rows (rebuilt when the delta has grown large)."""
        all_delta_ids = list(self._delta_ids) + list(ids)
        all_delta = np.concatenate([self._delta, codes]) if codes.size else self._delta
        if all_delta.shape[0] >= _REBUILD_DELTA:
            return PdqSnapshot(list(self._ids) + all_delta_ids, np.concatenate([self._index.codes, all_delta]),
                               last_row=last_row)
        snap = object.__new__(PdqSnapshot)
        snap._index, snap._ids, snap.last_row = self._index, self._ids, last_row
        snap._delta_ids, snap._delta = np.asarray(all_delta_ids, dtype=object), all_delta
        return snap

    def search(self, queries: np.ndarray, max_distance: int) -> list[tuple[str, int]]:
        """(content_id, smallest distance) of every row within `max_distance` of any query."""
        best: dict[str, int] = {}
        hits = self._index.search(queries, max_distance)
        for pos, dist in zip(hits.position.tolist(), hits.distance.tolist()):
            cid = self._ids[pos]
            best[cid] = min(dist, best.get(cid, 999))
        if self._delta.shape[0]:
            hits = brute_force_search(self._delta, queries, max_distance)
            for pos, dist in zip(hits.position.tolist(), hits.distance.tolist()):
                cid = self._delta_ids[pos]
                best[cid] = min(dist, best.get(cid, 999))
        return sorted(best.items(), key=lambda kv: (kv[1], kv[0]))


class ContentIndex:
    """Hashes of a platform's uploads, searchable by a case's hashes.

    Thread-safe: searches read an immutable :class:`PdqSnapshot`, refreshed (new rows appended)
    under a lock and swapped whole.

    Parameters
    ----------
    registry : Registry
    threshold : int
        PDQ distance in bits within which content counts as a copy.
    """

    def __init__(self, registry: Registry, *, threshold: int = DEFAULT_SWEEP_THRESHOLD) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 <= threshold <= 64:
            raise InvalidInputError(f"threshold must be 0-64 bits; got {threshold!r}.")
        self._registry = registry
        self.threshold = threshold
        self._lock = threading.Lock()
        self._snapshot: PdqSnapshot | None = None

    def record(self, rows: Iterable[ContentRow]) -> int:
        """Add rows in one transaction (all or nothing); return how many."""
        rows = list(rows)
        for r in rows:
            if not isinstance(r, ContentRow):
                raise InvalidInputError("record() takes ContentRow values from check_content_row().")
        if not rows:
            return 0
        now = utc_now()
        with transaction(self._registry, "content index", write=True) as conn:
            conn.execute(content_index.insert(), [
                {"content_id": r.content_id, "pdq": r.pdq, "quality": r.quality, "md5": r.md5, "sha256": r.sha256,
                 "indexed_at": now} for r in rows
            ])
        return len(rows)

    def count(self) -> int:
        """Rows in the index."""
        with transaction(self._registry, "content index", write=False) as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(content_index)) or 0)

    def snapshot(self) -> PdqSnapshot:
        """The current PDQ snapshot, with rows added since the last call."""
        with self._lock:
            snap = self._snapshot
            last = 0 if snap is None else snap.last_row
            with transaction(self._registry, "content index", write=False) as conn:
                rows = conn.execute(
                    sa.select(content_index.c.row_id, content_index.c.content_id, content_index.c.pdq)
                    .where(content_index.c.row_id > last, content_index.c.pdq.is_not(None))
                    .order_by(content_index.c.row_id)
                ).all()
                newest = conn.scalar(sa.select(sa.func.max(content_index.c.row_id))) or last
            ids = [r.content_id for r in rows]
            # Checked hex on the way in (check_content_row); decode all rows at once.
            codes = np.frombuffer(bytes.fromhex("".join(r.pdq for r in rows)), dtype=">u8").reshape(-1, 4)
            codes = codes.astype(np.uint64)
            if snap is None:
                snap = PdqSnapshot(ids, codes, last_row=newest)
            elif rows or newest != last:
                snap = snap.with_delta(ids, codes, newest)
            self._snapshot = snap
            return snap

    def sweep(self, hashes: Iterable[CaseHash]) -> list[tuple[str, str, int]]:
        """(content_id, kind, distance) of indexed content matching any of `hashes`."""
        hashes = list(hashes)
        pdqs = [PerceptualHash.from_hex(h.value) for h in hashes if h.kind in ("pdq", "pdqv")]
        out: list[tuple[str, str, int]] = []
        if pdqs:
            for cid, dist in self.snapshot().search(pack_hashes(pdqs), self.threshold):
                out.append((cid, "pdq", dist))
        exact = {k: [h.value for h in hashes if h.kind == k] for k in ("md5", "sha256")}
        if exact["md5"] or exact["sha256"]:
            with transaction(self._registry, "content index", write=False) as conn:
                for kind, values in exact.items():
                    if values:
                        col = content_index.c[kind]
                        for cid in conn.execute(sa.select(content_index.c.content_id).where(col.in_(values))
                                                .distinct()).scalars():
                            out.append((cid, kind, 0))
        return out

    @staticmethod
    def match_rows(rows: Sequence[ContentRow], case_hashes: Sequence[tuple[str, CaseHash]],
                   threshold: int) -> list[tuple[str, str, str, int]]:
        """(case_id, content_id, kind, distance) for new `rows` against cases' hashes (small sets: scanned)."""
        out: list[tuple[str, str, str, int]] = []
        pdq_rows = [r for r in rows if r.pdq]
        case_pdqs = [(cid, h) for cid, h in case_hashes if h.kind in ("pdq", "pdqv")]
        if pdq_rows and case_pdqs:
            codes = pack_hashes(PerceptualHash.from_hex(r.pdq) for r in pdq_rows)
            queries = pack_hashes(PerceptualHash.from_hex(h.value) for _, h in case_pdqs)
            hits = brute_force_search(codes, queries, threshold)
            best: dict[tuple[str, str], int] = {}
            for q, p, d in zip(hits.query.tolist(), hits.position.tolist(), hits.distance.tolist()):
                key = (case_pdqs[q][0], pdq_rows[p].content_id)
                best[key] = min(d, best.get(key, 999))
            out.extend((c, cid, "pdq", d) for (c, cid), d in best.items())
        by_value: Mapping[tuple[str, str], list[str]] = {}
        for cid, h in case_hashes:
            if h.kind in ("md5", "sha256"):
                by_value.setdefault((h.kind, h.value), []).append(cid)  # type: ignore[attr-defined]
        for r in rows:
            for kind in ("md5", "sha256"):
                value = getattr(r, kind)
                for case_id in by_value.get((kind, value), []) if value else []:
                    out.append((case_id, r.content_id, kind, 0))
        return out
