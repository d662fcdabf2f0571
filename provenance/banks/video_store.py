"""Video entries of :class:`~provenance.banks.Banks`: add, import, list, withdraw and match banked videos.

::

    banks.add_video_file("ncii", "reported.mp4", source="stopncii")     # vPDQ + MD5/SHA-256, no media kept
    banks.import_videos("ncii", Path("hma_export.vpdq"))                   # vPDQ text or a JSON video list
    result = banks.match_video_file("upload.mp4")
    [(m.video_id, m.query_match_percent, m.compared_match_percent) for m in result.matches]

A query video matches a banked one when the share of its frames (quality >= 50) within the
bank's threshold of some banked frame reaches ``PROVENANCE_VIDEO_BANK_QUERY_PERCENT`` (80) and
the share of the banked video's frames matched reaches ``PROVENANCE_VIDEO_BANK_COMPARED_PERCENT``
(0: any, so a short clip cut from a long banked video matches), with at least one frame
matched; or when its MD5 or SHA-256 is a banked video's.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import BankVideoNotFoundError, HashListError, InvalidInputError
from ..registry.schema import bank_videos, hash_banks, utc_now
from ..video.hashing import VPDQ_QUALITY, VideoHash
from .index import pack_hex
from .records import REVIEW_NOTE, ImportResult, check_hex_value
from .video_index import LoadedVideos, append_videos, count_hits, load_videos
from .video_records import VideoBankMatch, VideoEntry, VideoListSource, VideoMatchResult, pack_frames, parse_video_list, unpack_frames

__all__ = ["VideoBanks"]

logger = logging.getLogger(__name__)

_VIDEO_REFRESH = sa.select(
    hash_banks.c.bank_id, hash_banks.c.name, hash_banks.c.label, hash_banks.c.threshold, hash_banks.c.enabled,
    hash_banks.c.version, hash_banks.c.video_count, hash_banks.c.video_withdrawals,
)
_DETAILS = sa.select(
    bank_videos.c.video_id, bank_videos.c.md5, bank_videos.c.sha256, bank_videos.c.source, bank_videos.c.case_id,
    bank_videos.c.listed_at,
).where(bank_videos.c.video_id.in_(sa.bindparam("ids", expanding=True)))


class _Found(NamedTuple):
    """One banked video a query matched, before its details are read."""

    row: Any  # the bank's hash_banks row
    kind: str
    query_matched: int
    query_frames: int
    banked_matched: int
    banked_frames: int
    video_id: int
    variant: str


def _check_percent(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise InvalidInputError(f"{name} must be a number from 0 to 100; got {value!r}.")
    return float(value)


class VideoBanks:
    """The video half of :class:`~provenance.banks.Banks` (a mixin: it uses the bank's registry and lock).

    Thresholds: the bank's PDQ threshold for a frame; `video_query_percent` and
    `video_compared_percent` (from :class:`~provenance.settings.Settings`) for a video.
    """

    video_query_percent: float = 80.0
    video_compared_percent: float = 0.0
    _videos_loaded: dict[int, LoadedVideos]
    _lock: threading.Lock

    # ---- entries

    def add_videos(self, name: str, entries: Iterable[VideoEntry | VideoHash], *,
                   skip_existing: bool = False) -> ImportResult:
        """Add videos (their vPDQ frames and digests) to bank `name` in one transaction.

        Raises
        ------
        BankNotFoundError
        HashListError
            If a video is in the list twice, or already in the bank (unless `skip_existing`);
            the bank is unchanged.
        """
        items = [e if isinstance(e, VideoEntry) else VideoEntry.from_hash(e) for e in entries]
        if not all(isinstance(e, VideoEntry) for e in items):
            raise InvalidInputError("add_videos takes VideoEntry or VideoHash values.")
        if len(items) > self.max_import_rows:
            raise HashListError(f"{len(items):,} videos is more than one import takes ({self.max_import_rows:,}).")
        keys = [e.vpdq_sha256 for e in items]
        seen: dict[str, int] = {}
        for n, k in enumerate(keys, 1):
            if k in seen:
                raise HashListError(f"video {n} has the same vPDQ frames as video {seen[k]}; nothing was imported.")
            seen[k] = n
        now = utc_now()
        v = bank_videos
        with self._tx("bank video import", write=True) as conn:
            bank = self._bank_row(conn, name, lock=True)
            present: set[str] = set()
            for start in range(0, len(keys), 1000):
                present.update(conn.scalars(sa.select(v.c.vpdq_sha256).where(
                    v.c.bank_id == bank.bank_id, v.c.vpdq_sha256.in_(keys[start : start + 1000]))))
            if present and not skip_existing:
                n = next(i for i, k in enumerate(keys, 1) if k in present)
                raise HashListError(f"video {n} is already in bank {name!r} ({len(present)} of the {len(keys)} are). "
                                    "Nothing was imported; use skip_existing (--skip-existing) to add only the new ones.")
            rows = [{"bank_id": bank.bank_id, "vpdq_sha256": k, "md5": e.md5, "sha256": e.sha256,
                     "frame_count": len(e.frames), "frames": pack_frames(e.frames), "source": e.source,
                     "case_id": e.case_id, "listed_at": e.listed_at, "added_at": now}
                    for e, k in zip(items, keys) if k not in present]
            if rows:
                conn.execute(v.insert(), rows)
                conn.execute(hash_banks.update().where(hash_banks.c.bank_id == bank.bank_id).values(
                    version=hash_banks.c.version + 1, updated_at=now, video_count=hash_banks.c.video_count + len(rows)))
        logger.info("bank %s: %d videos added, %d already there", name, len(rows), len(present))
        return ImportResult(bank=name, added=len(rows), skipped=len(items) - len(rows), rows=len(items))

    def add_video_file(self, name: str, path: str | os.PathLike, *, source: str | None = None,
                       case_id: str | None = None, settings: Any = None, skip_existing: bool = False,
                       seconds_per_hash: float = 1.0) -> ImportResult:
        """vPDQ-hash a video file (with its MD5 and SHA-256) and add it to bank `name`; the video is not kept.

        `seconds_per_hash` below vPDQ's 1.0 banks more frames, so that a query sampled at other
        instants (an excerpt cut mid-second, another frame rate) still lands near a banked frame
        when the picture moves fast (benchmarks/RESULTS.md, "Video banks").

        Raises
        ------
        InvalidVideoError, VideoTooLargeError
            If the file is not a readable video or beyond the limits.
        InvalidInputError
            If it has no frames.
        """
        from ..video.hashing import hash_video

        if isinstance(seconds_per_hash, bool) or not isinstance(seconds_per_hash, (int, float)) or not 0.04 <= seconds_per_hash <= 60:
            raise InvalidInputError(f"seconds_per_hash must be 0.04 to 60 seconds; got {seconds_per_hash!r}.")
        video_hash = hash_video(path, settings=settings, seconds_per_hash=float(seconds_per_hash))
        return self.add_video_hash(name, video_hash, source=source, case_id=case_id, skip_existing=skip_existing)

    def add_video_hash(self, name: str, video_hash: VideoHash, *, source: str | None = None,
                       case_id: str | None = None, skip_existing: bool = False) -> ImportResult:
        """Add one :class:`~provenance.video.hashing.VideoHash` with a source and case ID to bank `name`.

        Raises
        ------
        BankNotFoundError, HashListError
        InvalidInputError
            If it has no frames.
        """
        return self.add_videos(name, [VideoEntry.from_hash(video_hash, source=source, case_id=case_id)],
                               skip_existing=skip_existing)

    def import_videos(self, name: str, source: VideoListSource, *, skip_existing: bool = False,
                      default_source: str | None = None, case_id: str | None = None) -> ImportResult:
        """Import a vPDQ file or JSON video list (:mod:`.video_records`) into bank `name`, all or nothing.

        `default_source` and `case_id` fill entries that have none.

        Raises
        ------
        BankNotFoundError
        HashListError
            On a malformed or empty list (with the line or video number), or duplicates.
        """
        entries = parse_video_list(source, max_videos=self.max_import_rows)
        if default_source is not None or case_id is not None:
            entries = [VideoEntry(e.frames, e.md5, e.sha256, e.source or default_source, e.case_id or case_id,
                                  e.listed_at) for e in entries]
        return self.add_videos(name, entries, skip_existing=skip_existing)

    def videos(self, name: str) -> list[VideoEntry]:
        """Every video of bank `name`, oldest first, with its ID."""
        v = bank_videos
        with self._tx("bank video export", write=False) as conn:
            bank = self._bank_row(conn, name)
            rows = conn.execute(sa.select(v.c.video_id, v.c.frames, v.c.md5, v.c.sha256, v.c.source, v.c.case_id,
                                          v.c.listed_at).where(v.c.bank_id == bank.bank_id).order_by(v.c.video_id)).all()
        return [VideoEntry(unpack_frames(bytes(r.frames)), r.md5, r.sha256, r.source, r.case_id, r.listed_at,
                           video_id=int(r.video_id)) for r in rows]

    def withdraw_videos(self, name: str, video_ids: Sequence[int], *, missing_ok: bool = False) -> int:
        """Delete videos from bank `name` by ID (``provenance bank videos NAME`` lists them); all or nothing.

        Raises
        ------
        BankNotFoundError
        BankVideoNotFoundError
            If an ID is not a video of this bank (unless `missing_ok`); nothing is withdrawn.
        """
        ids = []
        for x in video_ids:
            if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1:
                raise InvalidInputError(f"A video ID is a whole number >= 1 (see `provenance bank videos`); got {x!r:.40}.")
            ids.append(int(x))
        if not ids:
            raise InvalidInputError("Give at least one video ID to withdraw.")
        v = bank_videos
        with self._tx("bank video withdraw", write=True) as conn:
            bank = self._bank_row(conn, name, lock=True)
            present = set(conn.scalars(sa.select(v.c.video_id).where(v.c.bank_id == bank.bank_id, v.c.video_id.in_(ids))))
            missing = sorted(set(ids) - present)
            if missing and not missing_ok:
                raise BankVideoNotFoundError(
                    f"Bank {name!r} has no video with ID {missing[0]}"
                    + (f" (nor {len(missing) - 1} more of the given IDs)" if len(missing) > 1 else "")
                    + "; nothing was withdrawn. `provenance bank videos NAME` lists its videos.")
            if present:
                conn.execute(v.delete().where(v.c.bank_id == bank.bank_id, v.c.video_id.in_(sorted(present))))
                conn.execute(hash_banks.update().where(hash_banks.c.bank_id == bank.bank_id).values(
                    version=hash_banks.c.version + 1, video_withdrawals=hash_banks.c.video_withdrawals + 1,
                    updated_at=utc_now(), video_count=hash_banks.c.video_count - len(present)))
        logger.info("bank %s: %d videos withdrawn", name, len(present))
        return len(present)

    # ---- matching

    def _refresh_videos(self, conn: Connection) -> list[tuple[Any, LoadedVideos]]:
        """The enabled banks holding videos, with up-to-date snapshots (swapped whole, as images are)."""
        rows = [r for r in conn.execute(_VIDEO_REFRESH).all() if r.enabled]
        with self._lock:
            current = getattr(self, "_videos_loaded", {})
            fresh: dict[int, LoadedVideos] = {}
            for r in rows:
                have = current.get(r.bank_id)
                if have is not None and have.version == r.version:
                    fresh[r.bank_id] = have
                elif have is not None and have.video_withdrawals == r.video_withdrawals:
                    fresh[r.bank_id] = append_videos(conn, have, r)
                else:
                    fresh[r.bank_id] = load_videos(conn, r.bank_id, r)
            self._videos_loaded = fresh
        return [(r, fresh[r.bank_id]) for r in rows]

    def match_video(self, video_hash: VideoHash, *, query_percent: float | None = None,
                    compared_percent: float | None = None) -> VideoMatchResult:
        """Match a video's vPDQ hash (and its MD5/SHA-256) against every enabled bank's videos.

        Parameters
        ----------
        video_hash : VideoHash
            From :func:`~provenance.video.hashing.hash_video`, or parsed vPDQ frames.
        query_percent, compared_percent : float, optional
            The shares (0-100) both sides need; default the settings'.

        Raises
        ------
        InvalidInputError
            If an argument is malformed.
        """
        if not isinstance(video_hash, VideoHash):
            raise InvalidInputError("match_video takes a VideoHash; make one with provenance.video.hashing.hash_video().")
        qp = _check_percent(self.video_query_percent if query_percent is None else query_percent, "query_percent")
        cp = _check_percent(self.video_compared_percent if compared_percent is None else compared_percent,
                            "compared_percent")
        md5 = None if video_hash.md5 is None else check_hex_value(video_hash.md5, "md5")
        sha = None if video_hash.sha256 is None else check_hex_value(video_hash.sha256, "sha256")
        keep = [i for i, f in enumerate(video_hash.frames) if f.quality >= VPDQ_QUALITY]
        queries = pack_hex([video_hash.frames[i].pdq_hex for i in keep])
        nq = int(queries.shape[0])
        mirrored = len(video_hash.mirrored) == len(video_hash.frames) and nq > 0
        if mirrored:  # one search for both orientations; the hits are split by query number below
            for i in keep:
                check_hex_value(video_hash.mirrored[i], "pdq")
            queries = np.concatenate([queries, pack_hex([video_hash.mirrored[i] for i in keep])])
        found: list[_Found] = []
        with self._tx("bank video match", write=False) as conn:
            loaded = self._refresh_videos(conn)
            for row, snap in loaded:
                if snap.size == 0:
                    continue
                hit: dict[int, tuple[str, int, int, str]] = {}
                if nq:
                    frame, query, video = snap.hits(queries, int(row.threshold))
                    flipped = query >= nq
                    for variant, sel in (("original", ~flipped), ("mirrored", flipped)):
                        c = count_hits(frame[sel], query[sel] % nq, video[sel], n_queries=nq)
                        banked = snap.frame_counts[c.video]
                        ok = (c.query_matched * 100 >= qp * nq) & (c.banked_matched * 100 >= cp * np.maximum(banked, 1))
                        for pos, a, b in zip(c.video[ok].tolist(), c.query_matched[ok].tolist(),
                                             c.banked_matched[ok].tolist()):
                            if pos not in hit or (a, b) > hit[pos][1:3]:  # the better orientation
                                hit[pos] = ("vpdq", a, b, variant)
                for kind, digest, table in (("sha256", sha, snap.sha256), ("md5", md5, snap.md5)):
                    pos = table.get(digest) if digest else None
                    if pos is not None and pos not in hit:
                        hit[pos] = (kind, nq, int(snap.frame_counts[pos]), "original")
                found.extend(_Found(row, kind, a, nq, b, int(snap.frame_counts[pos]), int(snap.video_ids[pos]), variant)
                             for pos, (kind, a, b, variant) in hit.items())
            details = {}
            ids = sorted({f.video_id for f in found})
            for start in range(0, len(ids), 1000):
                details.update({r.video_id: r for r in conn.execute(_DETAILS, {"ids": ids[start : start + 1000]})})
        matches = []
        for row, kind, a, q, b, banked, vid, variant in found:
            d = details.get(vid)
            if d is None:  # withdrawn since the refresh
                continue
            matches.append(VideoBankMatch(
                bank=row.name, label=row.label, video_id=vid, kind=kind,
                query_match_percent=100.0 * a / q if q else (100.0 if kind != "vpdq" else 0.0),
                compared_match_percent=100.0 * b / banked if banked else (100.0 if kind != "vpdq" else 0.0),
                query_frames_matched=a, query_frames=q, banked_frames_matched=b, banked_frames=banked,
                threshold=int(row.threshold), md5=d.md5, sha256=d.sha256, source=d.source, case_id=d.case_id,
                listed_at=d.listed_at, variant=variant))
        matches.sort(key=lambda m: (-m.query_match_percent, -m.compared_match_percent, m.bank, m.video_id))
        checked = len(loaded)
        if matches:
            labels = sorted({m.label for m in matches})
            status = "matched"
            text = (f"Matched {len(matches)} reported video{'s' if len(matches) > 1 else ''} (labels: {', '.join(labels)}; "
                    f"best: {matches[0].query_match_percent:.0f}% of this video's frames). {REVIEW_NOTE}")
        elif checked == 0:
            status, text = "not_configured", "No hash bank is enabled; the vPDQ hash is shown for reference."
        elif nq == 0:
            status = "unmatchable"
            text = (f"No frame of this video is detailed enough to hash reliably (PDQ quality < {VPDQ_QUALITY}), so it "
                    "could not be checked against the banked videos (only its exact MD5/SHA-256 were). This is not a 'no match'.")
        else:
            status = "no_match"
            text = f"No banked video matched in {checked} enabled hash bank{'s' if checked > 1 else ''} ({nq} frames searched)."
        return VideoMatchResult(status, tuple(matches), checked, nq, qp, cp, text)

    def check_video(self, video_hash: VideoHash, *, audit: bool = False) -> VideoMatchResult:
        """:meth:`match_video` with the settings' thresholds; `audit` appends a ``match`` event (never media)."""
        result = self.match_video(video_hash)
        if audit:
            self.registry.log_event("match", sha256=video_hash.sha256 or "0" * 64, verdict=result.status,
                                    detail={"bank_matches": result.labels, "vpdq_frames": len(video_hash.frames)})
        return result

    def match_video_file(self, path: str | os.PathLike, *, settings: Any = None, audit: bool = False) -> VideoMatchResult:
        """vPDQ-hash a video file and :meth:`check_video` it.

        Raises
        ------
        InvalidVideoError, VideoTooLargeError
        """
        from ..video.hashing import hash_video

        return self.check_video(hash_video(path, settings=settings), audit=audit)

