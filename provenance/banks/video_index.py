"""A bank's videos in memory: every banked frame's PDQ hash in one index, frame -> video.

Looking a query video up does not loop over the banked videos. All their frames (quality
>= 50) sit in one :class:`~provenance.search.HashIndex` with a parallel array naming each
frame's video; one radius search finds every (query frame, banked frame) pair within the
bank's threshold, and the two vPDQ shares are counted per candidate video with
``np.unique``/``bincount`` over those hits. Videos with no hit cost nothing.

Like :mod:`.index`, a :class:`LoadedVideos` snapshot is never changed: additions go into a
brute-force ``delta`` (folded into the index past :data:`~.index.DELTA_MAX` frames), a
withdrawal reloads the bank, and the store swaps whole snapshots.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..registry.schema import bank_videos
from ..search import HashIndex, brute_force_search
from ..video.hashing import VPDQ_QUALITY
from .index import DELTA_MAX
from .video_records import FRAME_DTYPE

__all__ = ["LoadedVideos", "VideoCounts", "append_videos", "build_videos", "count_hits", "load_videos", "pack_digests"]

logger = logging.getLogger(__name__)


def pack_digests(pdq: np.ndarray) -> np.ndarray:
    """(N, 32) uint8 PDQ digests -> (N, 4) uint64 packed hashes (as :func:`~.index.pack_hex`)."""
    return np.ascontiguousarray(pdq).view(">u8").reshape(-1, 4).astype(np.uint64)


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class VideoCounts:
    """Per candidate video (positions in :attr:`LoadedVideos.video_ids`): matched frames on each side."""

    video: np.ndarray  # (C,) int64
    query_matched: np.ndarray  # (C,) int64: distinct query frames with a hit in that video
    banked_matched: np.ndarray  # (C,) int64: distinct frames of that video hit by some query frame


@dataclass(frozen=True)
class LoadedVideos:
    """One enabled bank's videos as of one refresh (never changed afterwards).

    Attributes
    ----------
    index : HashIndex
        Frames of quality >= 50, in :attr:`HashIndex.codes` order.
    frame_video : (F,) int32 ndarray
        Video (position in `video_ids`) of each indexed frame.
    delta, delta_video : (D, 4) uint64 and (D,) int32 ndarrays
        Frames added since the index was built, searched by brute force.
    video_ids : (V,) int64 ndarray
        Database IDs of the loaded videos.
    frame_counts : (V,) int64 ndarray
        Each video's frames of quality >= 50 (the denominator of its share).
    """

    bank_id: int
    video_count: int
    video_withdrawals: int
    version: int
    max_video_id: int
    index: HashIndex
    frame_video: np.ndarray
    delta: np.ndarray
    delta_video: np.ndarray
    video_ids: np.ndarray
    frame_counts: np.ndarray
    md5: dict[str, int]  # digest -> position in video_ids
    sha256: dict[str, int]

    @property
    def size(self) -> int:
        """How many videos are loaded."""
        return int(self.video_ids.shape[0])

    def with_row(self, row: Any) -> "LoadedVideos":
        """A copy carrying a ``hash_banks`` row's counters."""
        return replace(self, version=int(row.version), video_count=int(row.video_count),
                       video_withdrawals=int(row.video_withdrawals))

    def hits(self, queries: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (banked frame, query, video) triple within `max_distance` bits, as three (K,) int64 arrays.

        Frames are numbered over the index, then the delta.
        """
        n_main = len(self.index)
        hits = self.index.search(queries, max_distance)
        frame, query = hits.position, hits.query
        video = self.frame_video[frame].astype(np.int64)
        if self.delta.shape[0]:
            extra = brute_force_search(self.delta, queries, max_distance)
            frame = np.concatenate([frame, extra.position + n_main])
            query = np.concatenate([query, extra.query])
            video = np.concatenate([video, self.delta_video[extra.position].astype(np.int64)])
        return frame.astype(np.int64), query.astype(np.int64), video

    def count(self, queries: np.ndarray, max_distance: int) -> VideoCounts:
        """Matched frames per video for query frames `queries` ((Q, 4) uint64), vectorised over the hits."""
        return count_hits(*self.hits(queries, max_distance), n_queries=int(queries.shape[0]))


def count_hits(frame: np.ndarray, query: np.ndarray, video: np.ndarray, *, n_queries: int) -> VideoCounts:
    """Per candidate video: distinct query frames and distinct banked frames among the hits."""
    if video.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return VideoCounts(empty, empty, empty)
    q = max(1, n_queries)
    pairs = np.unique(video * q + query)  # each (video, query frame) once
    cand, query_matched = np.unique(pairs // q, return_counts=True)
    _frames, first = np.unique(frame, return_index=True)  # each banked frame once
    banked_matched = np.bincount(np.searchsorted(cand, video[first]), minlength=cand.size)
    return VideoCounts(cand, query_matched.astype(np.int64), banked_matched.astype(np.int64))


def build_videos(bank_id: int, codes: np.ndarray, frame_video: np.ndarray, video_ids: np.ndarray, *,
                 md5: dict[str, int] | None = None, sha256: dict[str, int] | None = None,
                 max_video_id: int | None = None) -> LoadedVideos:
    """A snapshot over packed frame hashes `codes` ((F, 4) uint64) of videos `frame_video` ((F,) positions).

    The index keeps the order of the rows it is given when they are sorted by their first
    32-bit chunk (:class:`~provenance.search.HashIndex` sorts stably on that chunk's top bits),
    so the frames are sorted that way first and ``frame_video`` follows them.
    """
    order = np.argsort(codes.view(np.uint32)[:, 0], kind="stable")
    codes, frame_video = np.ascontiguousarray(codes[order]), np.ascontiguousarray(frame_video[order], dtype=np.int32)
    index = HashIndex(codes)
    if not np.array_equal(index.codes, codes):  # the frame -> video mapping relies on it
        raise RuntimeError("HashIndex reordered the frames it was given; the video index needs them in chunk order.")
    video_ids = np.asarray(video_ids, dtype=np.int64)
    counts = np.bincount(frame_video, minlength=video_ids.size).astype(np.int64)
    return LoadedVideos(
        bank_id, int(video_ids.size), 0, 0, int(video_ids.max(initial=0) if max_video_id is None else max_video_id),
        index, _frozen(frame_video), _frozen(np.zeros((0, 4), dtype=np.uint64)), _frozen(np.zeros(0, dtype=np.int32)),
        _frozen(video_ids), _frozen(counts), md5 or {}, sha256 or {},
    )


def _read(conn: Connection, bank_id: int, after: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list, list]:
    """Videos with ID > `after`: their IDs, matchable frame hashes, frame -> video, and digests."""
    v = bank_videos
    rows = conn.execute(sa.select(v.c.video_id, v.c.frames, v.c.md5, v.c.sha256).where(
        v.c.bank_id == bank_id, v.c.video_id > after).order_by(v.c.video_id)).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    blobs = [bytes(r[1]) for r in rows]
    lengths = np.array([len(b) // FRAME_DTYPE.itemsize for b in blobs], dtype=np.int64)
    frames = np.frombuffer(b"".join(blobs), dtype=FRAME_DTYPE)
    keep = frames["quality"] >= VPDQ_QUALITY
    owner = np.repeat(np.arange(len(rows), dtype=np.int32), lengths)[keep]
    return ids, pack_digests(frames["pdq"][keep]), owner, [r[2] for r in rows], [r[3] for r in rows]


def load_videos(conn: Connection, bank_id: int, row: Any) -> LoadedVideos:
    """Read every video of a bank into a new snapshot with `row`'s counters."""
    ids, codes, owner, md5, sha = _read(conn, bank_id, 0)
    logger.info("bank %d: loaded %d videos (%d vPDQ frames)", bank_id, ids.size, codes.shape[0])
    return build_videos(
        bank_id, codes, owner, ids,
        md5={d: i for i, d in enumerate(md5) if d}, sha256={d: i for i, d in enumerate(sha) if d},
    ).with_row(row)


def append_videos(conn: Connection, have: LoadedVideos, row: Any) -> LoadedVideos:
    """A new snapshot with the videos added since `have` was loaded (a withdrawal needs :func:`load_videos`)."""
    ids, codes, owner, md5, sha = _read(conn, have.bank_id, have.max_video_id)
    if ids.size == 0:
        return have.with_row(row)
    base = have.size
    video_ids = np.concatenate([have.video_ids, ids])
    new_md5 = dict(have.md5) | {d: base + i for i, d in enumerate(md5) if d}
    new_sha = dict(have.sha256) | {d: base + i for i, d in enumerate(sha) if d}
    delta = np.concatenate([have.delta, codes])
    delta_video = np.concatenate([have.delta_video, owner + base]).astype(np.int32)
    if delta.shape[0] > max(DELTA_MAX, len(have.index) // 8):
        return build_videos(have.bank_id, np.concatenate([have.index.codes, delta]),
                            np.concatenate([have.frame_video, delta_video]), video_ids,
                            md5=new_md5, sha256=new_sha).with_row(row)
    counts = np.concatenate([have.frame_counts, np.bincount(owner, minlength=ids.size).astype(np.int64)])
    return replace(have, max_video_id=int(ids.max()), delta=_frozen(delta), delta_video=_frozen(delta_video),
                   video_ids=_frozen(video_ids), frame_counts=_frozen(counts), md5=new_md5,
                   sha256=new_sha).with_row(row)
