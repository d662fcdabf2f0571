"""Radius search over packed PDQ hashes: an exact multi-index, with a brute-force baseline.

A PDQ hash is 256 bits, packed as 4 ``uint64`` words (:func:`provenance.hashing.pack_hashes`).
:func:`brute_force_search` compares a query with every row (``np.bitwise_count``); it is
simple and exact, and linear in the number of hashes. :class:`HashIndex` answers the same
question, exactly, while touching a few hundred thousand rows even at ten million.

How the index works (multi-index hashing, Norouzi et al. 2012)
--------------------------------------------------------------
Split each hash into 8 chunks of 32 bits. If two hashes differ in at most ``T`` bits, then
by the pigeonhole principle at least one chunk differs in at most ``r = T // 8`` bits
(otherwise the total would be at least ``8 * (r + 1) > T``). For ``T = 31``, ``r = 3``.

Each of the 8 tables groups the hashes by the top ``B`` bits of one chunk (``B`` is
``floor(log2(N)) - 2``, at most 20, so a bucket holds 4-8 hashes below ~8M): an ``int32`` permutation sorted by that
bucket and the bucket offsets. A query visits, in every table, the buckets whose ``B`` bits
are within ``r`` of its own (1,351 buckets for ``B = 20``, ``r = 3``), gathers those rows and
keeps the ones whose full 256-bit distance is at most ``T``. Nothing within ``T`` is missed.

The hashes themselves are stored sorted by chunk 0, so table 0 needs no permutation. Memory:
32 bytes (the hash) + 7 x 4 bytes (permutations) + 4-8 bytes (offsets) = 64-68 bytes per hash below
~8M hashes, and 62-64 from there on (the offsets stop growing at 2**20 buckets per table).

Radii with ``T // 8 > 3`` (``T >= 32``; enumerating 4-bit flips costs more than it saves) fall back to the brute-force scan, as do indexes
built over fewer than :data:`MIN_INDEXED` hashes (where the scan is cheap). Timings and memory:
``benchmarks/RESULTS.md``, section "Hash banks".
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

import numpy as np

from .errors import InvalidInputError

__all__ = [
    "MIN_INDEXED",
    "MAX_INDEXED_CHUNK_RADIUS",
    "SearchHits",
    "HashIndex",
    "brute_force_search",
    "check_packed",
]

logger = logging.getLogger(__name__)

#: Below this many hashes the index is not built: the brute-force scan takes well under 1 ms.
MIN_INDEXED = 32_768
#: Largest per-chunk radius the index enumerates (``T // 8``); larger radii scan everything.
MAX_INDEXED_CHUNK_RADIUS = 3
#: Most distance a search accepts: half the bits of a hash.
MAX_SEARCH_DISTANCE = 128

_CHUNKS = 8  # 32-bit chunks per hash
_MIN_BUCKET_BITS = 8
_MAX_BUCKET_BITS = 20  # 2**20 buckets x 8 tables x 4 bytes = 32 MB of offsets, 3.4 bytes/hash at 10M
_BRUTE_BLOCK = 1 << 20  # rows per block in the brute-force scan (bounds its temporaries)
_THREADED_BUILD_MIN = 1 << 20  # hashes from which the tables are built in threads (below, it is fast anyway)
_BUILD_THREADS = os.cpu_count() or 1  # threads building the tables (at most 8 are used); the result is the same


@dataclass(frozen=True)
class SearchHits:
    """Hits of a radius search, one row per (query, hash) pair, ordered by query then distance.

    Attributes
    ----------
    query : (K,) int64 ndarray
        Index of the query (row of the queries array) each hit is for.
    position : (K,) int64 ndarray
        Row of :attr:`HashIndex.codes` (or of the searched array) that was hit.
    distance : (K,) int64 ndarray
        Hamming distance, 0-256.
    """

    query: np.ndarray
    position: np.ndarray
    distance: np.ndarray

    def __len__(self) -> int:
        return int(self.query.shape[0])


def check_packed(codes: object, name: str = "codes") -> np.ndarray:
    """Return `codes` as a C-contiguous ``(N, 4) uint64`` array, or raise.

    Raises
    ------
    InvalidInputError
        If it is not an ``(N, 4) uint64`` array (see :func:`provenance.hashing.pack_hashes`).
    """
    if not isinstance(codes, np.ndarray) or codes.dtype != np.uint64 or codes.ndim != 2 or codes.shape[1] != 4:
        raise InvalidInputError(
            f"{name} must be an (N, 4) uint64 array from pack_hashes(); got "
            f"{getattr(codes, 'dtype', type(codes).__name__)} {getattr(codes, 'shape', '')}."
        )
    return np.ascontiguousarray(codes)


def _check_distance(max_distance: object) -> int:
    if isinstance(max_distance, bool) or not isinstance(max_distance, (int, np.integer)):
        raise InvalidInputError(f"max_distance must be a whole number of bits; got {max_distance!r}.")
    if not 0 <= int(max_distance) <= MAX_SEARCH_DISTANCE:
        raise InvalidInputError(
            f"max_distance must be between 0 and {MAX_SEARCH_DISTANCE} bits; got {max_distance} "
            "(PDQ's usual match threshold is 31)."
        )
    return int(max_distance)


def _row_distances(rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Hamming distances of paired ``(K, 4) uint64`` rows, as ``(K,) int64``.

    ``np.bitwise_count`` gives 4 byte-sized counts per row; they are added as lanes of one
    ``uint32`` (a reduction over a length-4 axis is several times slower in NumPy).
    """
    counts = np.ascontiguousarray(np.bitwise_count(rows ^ queries)).view(np.uint32).ravel()
    pairs = (counts & np.uint32(0x00FF00FF)) + ((counts >> np.uint32(8)) & np.uint32(0x00FF00FF))
    return ((pairs & np.uint32(0xFFFF)) + (pairs >> np.uint32(16))).astype(np.int64)


def _half_distances(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Hamming distances over the first two words (128 bits) of ``(K, 4) uint64`` rows: a lower
    bound of the full distance, as ``(K,) uint16``."""
    counts = np.ascontiguousarray(np.bitwise_count(rows[:, :2] ^ query[:, :2])).view(np.uint16).ravel()
    return (counts & np.uint16(0xFF)) + (counts >> np.uint16(8))


def _empty_hits() -> SearchHits:
    empty = np.zeros(0, dtype=np.int64)
    return SearchHits(empty, empty.copy(), empty.copy())


def _sorted_hits(query: np.ndarray, position: np.ndarray, distance: np.ndarray) -> SearchHits:
    order = np.lexsort((position, distance, query))
    return SearchHits(query[order].astype(np.int64), position[order].astype(np.int64), distance[order].astype(np.int64))


def brute_force_search(codes: np.ndarray, queries: np.ndarray, max_distance: int) -> SearchHits:
    """Compare every query with every row: the exact baseline.

    Parameters
    ----------
    codes : (N, 4) uint64 ndarray
        Packed hashes.
    queries : (Q, 4) uint64 ndarray
        Packed query hashes (e.g. the 8 dihedral variants of one upload).
    max_distance : int
        Keep pairs at most this many bits apart (0-128).

    Returns
    -------
    SearchHits

    Raises
    ------
    InvalidInputError
        If an array has the wrong shape or dtype, or `max_distance` is out of range.
    """
    codes = check_packed(codes)
    queries = check_packed(queries, "queries")
    max_distance = _check_distance(max_distance)
    parts_q, parts_p, parts_d = [], [], []
    for start in range(0, codes.shape[0], _BRUTE_BLOCK):  # blocks of rows, each fully vectorised
        block = codes[start : start + _BRUTE_BLOCK]
        for q in range(queries.shape[0]):  # a handful of queries (e.g. 8 dihedral variants)
            dist = _row_distances(block, queries[q : q + 1])
            p = np.flatnonzero(dist <= max_distance)
            parts_q.append(np.full(p.size, q, dtype=np.int64))
            parts_p.append(p + start)
            parts_d.append(dist[p])
    if not parts_q:
        return _empty_hits()
    return _sorted_hits(np.concatenate(parts_q), np.concatenate(parts_p), np.concatenate(parts_d))


@lru_cache(maxsize=64)
def _flip_masks(bits: int, radius: int) -> np.ndarray:
    """All `bits`-bit integers with at most `radius` bits set (the probe offsets), uint32."""
    masks = [0]
    for k in range(1, radius + 1):
        masks.extend(sum(1 << b for b in combo) for combo in combinations(range(bits), k))
    out = np.array(masks, dtype=np.uint32)
    out.setflags(write=False)
    return out


def _bucket_bits(n: int) -> int:
    """~4-8 hashes per bucket (up to 2**20 buckets, then more per bucket).

    Smaller buckets mean fewer candidates per query (about 35% fewer than 8-16 per bucket, at
    1M hashes) for offsets of up to 8 bytes per hash; from ~8M hashes on, the 2**20 cap keeps
    the offsets under 4 bytes per hash (62-64 bytes per hash in all at 10M).
    """
    return int(np.clip(int(np.log2(max(n, 1))) - 2, _MIN_BUCKET_BITS, _MAX_BUCKET_BITS))


class HashIndex:
    """An exact radius-search index over packed PDQ hashes (multi-index hashing, see module doc).

    Parameters
    ----------
    codes : (N, 4) uint64 ndarray
        Packed hashes. Copied and reordered; the caller's array is not changed.
    min_indexed : int
        Build the tables only when there are at least this many hashes; below it every
        search is a brute-force scan (exact either way).

    Attributes
    ----------
    codes : (N, 4) uint64 ndarray
        The hashes, reordered (sorted by their first 32-bit chunk). Search results are
        positions in this array. Read-only.

    Raises
    ------
    InvalidInputError
        If `codes` is not an ``(N, 4) uint64`` array, or has 2**31 rows or more.
    """

    def __init__(self, codes: np.ndarray, *, min_indexed: int = MIN_INDEXED) -> None:
        codes = check_packed(codes)
        n = codes.shape[0]
        if n >= 2**31:
            raise InvalidInputError(f"A HashIndex holds fewer than 2**31 hashes; got {n:,}. Split the bank.")
        chunks = codes.view(np.uint32)  # (N, 8): any fixed split into 32-bit pieces will do
        self._indexed = n >= max(1, min_indexed)
        if not self._indexed:
            self.codes = codes.copy()
            self._bits = 0
            self._ids = np.zeros((_CHUNKS - 1, 0), dtype=np.int32)
            self._offsets = np.zeros((_CHUNKS, 1), dtype=np.int32)
        else:
            bits = _bucket_bits(n)
            shift = np.uint32(32 - bits)
            order0 = np.argsort(chunks[:, 0] >> shift, kind="stable")
            self.codes = codes[order0]
            chunks = self.codes.view(np.uint32)
            self._bits = bits
            self._ids = np.empty((_CHUNKS - 1, n), dtype=np.int32)
            self._offsets = np.empty((_CHUNKS, (1 << bits) + 1), dtype=np.int32)

            def build_table(t: int) -> None:  # whole-array operations on one table's rows
                buckets = chunks[:, t] >> shift
                counts = np.bincount(buckets, minlength=1 << bits)
                self._offsets[t, 0] = 0
                np.cumsum(counts, out=self._offsets[t, 1:])
                if t:
                    self._ids[t - 1] = np.argsort(buckets, kind="stable")

            # NumPy's sorts release the GIL, so the 8 tables build on several cores at once.
            threads = min(_CHUNKS, _BUILD_THREADS)
            if threads > 1 and n >= _THREADED_BUILD_MIN:
                with ThreadPoolExecutor(threads) as pool:
                    list(pool.map(build_table, range(_CHUNKS)))
            else:
                for t in range(_CHUNKS):
                    build_table(t)
        self.codes.setflags(write=False)

    @classmethod
    def from_arrays(cls, codes: np.ndarray, ids: np.ndarray, offsets: np.ndarray, bits: int) -> "HashIndex":
        """An index over arrays :meth:`arrays` returned (e.g. memory-mapped from a file), used as they are."""
        index = cls.__new__(cls)
        index.codes, index._ids, index._offsets, index._bits = codes, ids, offsets, int(bits)
        index._indexed = bits > 0
        return index

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The hashes, permutations, offsets and bucket bits that :meth:`from_arrays` takes back."""
        return self.codes, self._ids, self._offsets, self._bits

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    @property
    def indexed(self) -> bool:
        """True when the multi-index tables were built (False: every search scans)."""
        return self._indexed

    @property
    def memory_bytes(self) -> int:
        """Bytes held: hashes, permutations and offsets."""
        return int(self.codes.nbytes + self._ids.nbytes + self._offsets.nbytes)

    def search(self, queries: np.ndarray, max_distance: int) -> SearchHits:
        """Find every stored hash within `max_distance` bits of each query.

        Parameters
        ----------
        queries : (Q, 4) uint64 ndarray
            Packed query hashes.
        max_distance : int
            Radius in bits, 0-128 (the index is used up to 31; above, the hashes are scanned).

        Returns
        -------
        SearchHits
            Positions in :attr:`codes`; exactly the pairs a brute-force scan finds.

        Raises
        ------
        InvalidInputError
            If `queries` has the wrong shape or dtype, or `max_distance` is out of range.
        """
        queries = check_packed(queries, "queries")
        max_distance = _check_distance(max_distance)
        radius = max_distance // _CHUNKS
        if not self._indexed or radius > MAX_INDEXED_CHUNK_RADIUS:
            return brute_force_search(self.codes, queries, max_distance)
        if queries.shape[0] == 0 or len(self) == 0:
            return _empty_hits()
        masks = _flip_masks(self._bits, radius)
        parts = [self._search_one(queries[i : i + 1], masks, max_distance) for i in range(queries.shape[0])]
        q = np.concatenate([np.full(p.size, i, dtype=np.int64) for i, p in enumerate(parts)])  # a few queries
        p = np.concatenate(parts)
        return _sorted_hits(q, p, _row_distances(self.codes[p], queries[q]))

    def _search_one(self, query: np.ndarray, masks: np.ndarray, max_distance: int) -> np.ndarray:
        """Positions within `max_distance` of one ``(1, 4)`` query, each once."""
        n, bits = len(self), self._bits
        width = (1 << bits) + 1
        q_buckets = (query.view(np.uint32)[0] >> np.uint32(32 - bits)).astype(np.intp)  # (8,)
        probes = (q_buckets[:, None] ^ masks[None, :].astype(np.intp)) + (np.arange(_CHUNKS)[:, None] * width)
        flat_offsets = self._offsets.reshape(-1)
        starts = flat_offsets[probes].astype(np.int64)  # (8, M): row ranges of the visited buckets
        lengths = flat_offsets[probes + 1].astype(np.int64) - starts
        # Tables 1-7 index their permutation row; shift their ranges into the flattened permutations.
        starts[1:] += (np.arange(_CHUNKS - 1, dtype=np.int64) * n)[:, None]
        starts, lengths = starts.ravel(), lengths.ravel()
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        first = np.cumsum(lengths) - lengths
        slots = np.arange(total, dtype=np.int64) + np.repeat(starts - first, lengths)
        in_table0 = int(lengths[: masks.size].sum())  # table 0's slots come first and are positions already
        position = np.empty(total, dtype=np.int64)
        position[:in_table0] = slots[:in_table0]
        position[in_table0:] = self._ids.reshape(-1)[slots[in_table0:]]
        # The one random-access step: fetch each candidate's 32 bytes (np.take beats a[idx] 4x).
        rows = np.take(self.codes, position, axis=0)
        # Distance over the first 128 bits first: it already exceeds the radius for almost
        # every candidate (a random pair is within 31 of 128 bits with probability ~1e-9), so
        # only the few left need the full 256-bit distance.
        near = _half_distances(rows, query) <= max_distance
        position, rows = position[near], rows[near]
        distance = _row_distances(rows, query)
        # A hash near the query is usually found through several tables: keep it once.
        found = np.sort(position[distance <= max_distance])
        return found[np.r_[True, found[1:] != found[:-1]]] if found.size else found
