"""Is the upload the stamped picture? The check behind every "recovered credentials" verdict.

A watermark ID or a perceptual-hash match only *proposes* a stamp (C2PA calls a soft-binding
hit a candidate manifest that the validator must confirm). Two pure decisions and one index:

- :func:`check_image`: does the upload show (part of) the proposed stamp's picture? Its exact
  SHA-256, then its PDQ hash and the 8 dihedral variants (whole-picture copies), then the
  fingerprint kept at stamping (:mod:`provenance.fingerprint`) with the geometry the watermark
  detector recovered (crops, resizes, rotations). Records from before fingerprints were kept
  are checked by PDQ alone, and the result says so.
- :class:`StampIndex`: the registry's own lookup of stamped outputs by PDQ hash, kept in memory
  and refreshed with what was stamped since; it ties a near-copy whose watermark was removed
  or destroyed to its stamp.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

import numpy as np

from .errors import InvalidInputError
from .fingerprint import Fingerprint, FingerprintMatch, compare_fingerprint
from .hashing import MIN_QUALITY, PerceptualHash, hamming_distances, pack_hashes
from .registry import DEFAULT_BANK_THRESHOLD, Registry, StampRecord

__all__ = [
    "CHECK_STATUSES",
    "NEAR_COPY_MAX_DISTANCE",
    "ImageCheck",
    "NearCopy",
    "StampIndex",
    "check_image",
]

#: PDQ distance (bits of 256) within which an upload is a near-copy of a stamped output.
NEAR_COPY_MAX_DISTANCE = DEFAULT_BANK_THRESHOLD
#: Outcomes of :func:`check_image`.
CHECK_STATUSES = ("confirmed", "mismatch", "unconfirmed")
#: How far back a refresh looks before the newest stamp it has seen: stamps written by another
#: machine may commit a little after a later-timed one.
_REFRESH_OVERLAP = timedelta(minutes=10)


@dataclass(frozen=True)
class ImageCheck:
    """Whether an upload shows the picture of the stamp its watermark (or hash) points to.

    Attributes
    ----------
    status : str
        ``confirmed``, ``mismatch`` (a different picture: the mark was probably copied) or
        ``unconfirmed`` (cannot tell, e.g. an old record without a fingerprint).
    method : str
        What decided it: ``sha256``, ``pdq``, ``fingerprint`` or ``pdq_only`` (no fingerprint).
    explanation : str
        Plain words.
    phash_distance : int or None
        Smallest PDQ distance over the 8 dihedral variants (0-256).
    fingerprint : FingerprintMatch or None
        The fingerprint comparison, when one was made.
    """

    status: str
    method: str
    explanation: str
    phash_distance: int | None = None
    fingerprint: FingerprintMatch | None = None

    @property
    def confirmed(self) -> bool:
        """True when the upload shows the stamped picture."""
        return self.status == "confirmed"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "status": self.status,
            "method": self.method,
            "explanation": self.explanation,
            "phash_distance": self.phash_distance,
            "fingerprint": None if self.fingerprint is None else self.fingerprint.to_dict(),
        }


@dataclass(frozen=True)
class NearCopy:
    """A stamped output whose PDQ hash is close to the upload's."""

    stamp_id: str
    distance: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"stamp_id": self.stamp_id, "distance": self.distance}


def _min_distance(record: StampRecord, hashes: Sequence[PerceptualHash]) -> int | None:
    if record.phash is None or not hashes:
        return None
    stored = PerceptualHash.from_hex(record.phash)
    return min(stored - h for h in hashes)


def check_image(
    record: StampRecord,
    *,
    sha256: str,
    hashes: Sequence[PerceptualHash] = (),
    pixels: np.ndarray | None = None,
    scale: float | None = None,
    rotation_degrees: float | None = None,
    mirrored: bool | None = None,
    frame: str | None = None,
    max_distance: int = NEAR_COPY_MAX_DISTANCE,
) -> ImageCheck:
    """Decide whether the upload shows (part of) `record`'s stamped picture.

    Parameters
    ----------
    record : StampRecord
        The stamp the watermark ID (or a hash) points to.
    sha256 : str
        The upload's SHA-256.
    hashes : sequence of PerceptualHash
        The upload's PDQ hash and its dihedral variants (:func:`~provenance.hashing.pdq_dihedral_hashes`).
    pixels : (H, W, 3) uint8 ndarray, optional
        The upload's pixels, channels last; not changed.
    scale, rotation_degrees, mirrored, frame : optional
        The geometry the watermark detector recovered (``WatermarkResult``), None if unknown.
    max_distance : int
        PDQ distance within which the whole picture is the stamped one.

    Returns
    -------
    ImageCheck
    """
    if not isinstance(record, StampRecord):
        raise InvalidInputError(f"record must be a StampRecord; got {type(record).__name__}.")
    if record.sha256 == sha256:
        return ImageCheck("confirmed", "sha256", "The file is byte for byte the stamped output.", 0)
    distance = _min_distance(record, hashes)
    hashable = bool(hashes) and hashes[0].quality >= MIN_QUALITY
    if distance is not None and hashable and distance <= max_distance:
        return ImageCheck(
            "confirmed", "pdq",
            f"The picture's perceptual hash is {distance} bits of 256 from the stamped output's "
            f"(a match is {max_distance} or less).", distance,
        )
    far = "" if distance is None else f"its perceptual hash is {distance} bits of 256 from the stamped output's"
    if record.fingerprint is not None and pixels is not None:
        try:
            fp = Fingerprint.from_bytes(record.fingerprint)
        except InvalidInputError as exc:
            return ImageCheck("unconfirmed", "pdq_only", f"The stamp's image fingerprint is unreadable ({exc}); {far}.",
                              distance)
        match = compare_fingerprint(pixels, fp, scale=scale, rotation_degrees=rotation_degrees, mirrored=mirrored,
                                    frame=frame)
        status = {"match": "confirmed", "mismatch": "mismatch"}.get(match.status, "unconfirmed")
        return ImageCheck(status, "fingerprint", match.explanation, distance, match)
    if record.fingerprint is None:
        text = ("The stamp was recorded before image fingerprints were kept, so only its perceptual hash could be "
                "compared")
        text += f", and {far}: a crop, rotation or heavy edit of it, or a different picture." if far else "."
        return ImageCheck("unconfirmed", "pdq_only", text, distance)
    return ImageCheck("unconfirmed", "pdq_only", f"The pixels could not be compared; {far or 'no hash either'}.",
                      distance)


class StampIndex:
    """The PDQ hashes of every stamped output, in memory, for near-copy lookups.

    Built once per verifier; each :meth:`near_copies` call first fetches the stamps recorded
    since the last one (one small query). Thread-safe.

    Parameters
    ----------
    registry : Registry
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._lock = threading.Lock()
        self._ids: list[str] = []
        self._seen: set[str] = set()
        self._packed = np.zeros((0, 4), np.uint64)
        self._newest: datetime | None = None

    def __len__(self) -> int:
        return len(self._ids)

    def refresh(self) -> None:
        """Add the stamps recorded since the last refresh.

        Raises
        ------
        RegistryError
            If the database fails.
        """
        with self._lock:
            since = None if self._newest is None else self._newest - _REFRESH_OVERLAP
            rows = self.registry.stamp_phashes(since=since)
            new_ids, new_hashes = [], []
            for stamp_id, phash, created in rows:
                if self._newest is None or created > self._newest:
                    self._newest = created
                if stamp_id in self._seen:
                    continue
                self._seen.add(stamp_id)
                new_ids.append(stamp_id)
                new_hashes.append(PerceptualHash.from_hex(phash))
            if new_ids:
                self._ids.extend(new_ids)
                self._packed = np.concatenate([self._packed, pack_hashes(new_hashes)])

    def near_copies(
        self, hashes: Sequence[PerceptualHash], *, max_distance: int = NEAR_COPY_MAX_DISTANCE, limit: int = 5
    ) -> tuple[NearCopy, ...]:
        """Stamps whose output is within `max_distance` of any of `hashes`, nearest first.

        Parameters
        ----------
        hashes : sequence of PerceptualHash
            The upload's PDQ hash and dihedral variants. An unmatchable hash (quality below
            50: too flat to hash) gives no near-copies.
        max_distance : int
            Bits of 256.
        limit : int
            At most this many.

        Raises
        ------
        RegistryError
            If the database fails.
        """
        if not hashes or hashes[0].quality < MIN_QUALITY:
            return ()
        self.refresh()
        with self._lock:
            # No copy of the ID list: refresh only appends, and the first len(packed) IDs never change.
            packed, ids = self._packed, self._ids
        if not len(packed):
            return ()
        best = np.min(np.stack([hamming_distances(h, packed) for h in hashes]), axis=0)
        close = np.flatnonzero(best <= max_distance)
        order = close[np.lexsort((close, best[close]))][:limit]
        return tuple(NearCopy(ids[i], int(best[i])) for i in order)
