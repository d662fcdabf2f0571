"""Answering Soft Binding Resolution API queries from our registry and its stamped-outputs bank.

Pure functions over the public methods of :class:`~provenance.registry.Registry` and
:class:`~provenance.banks.Banks`; the web app (``webapp/resolution.py``) only parses requests
and shapes responses. What we resolve:

``io.github.provenance.watermark.v1``  (watermark) the value is the stamp ID: its 8 raw bytes, or
                                       its 16 hex characters as the ``c2pa.soft-binding`` assertion
                                       carries them, base64-encoded; exact, score 100
``io.github.provenance.pdq.v1``        (fingerprint) a PDQ hash: its 32 raw bytes or 64 hex
                                       characters, base64-encoded; the stamped outputs within the
                                       bank's threshold, score ``100 * (256 - distance) / 256``

A manifest ID is the stamp ID (16 hex); its manifest store is the one embedded at stamping.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

from ..banks import STAMPED_OUTPUTS_BANK, Banks
from ..binding import check_image
from ..errors import InvalidImageError, InvalidInputError
from ..hashing import HASH_BITS, MAX_SIDE, PerceptualHash, pdq_dihedral_hashes
from ..images import decode_image_and_shrink
from ..keys import KeyRing
from ..registry import Registry
from ..signing import WATERMARK_ALG
from .. import watermark
from .jumbf import active_manifest_store

__all__ = [
    "WATERMARK_ALG",
    "PDQ_ALG",
    "SUPPORTED_ALGORITHMS",
    "DEFAULT_MAX_RESULTS",
    "MAX_RESULTS",
    "MAX_ALG_CHARS",
    "MAX_VALUE_CHARS",
    "ResolutionMatch",
    "supported_algorithms",
    "check_alg",
    "decode_value",
    "check_max_results",
    "check_manifest_id",
    "find_by_binding",
    "find_by_content",
    "manifest_store_for",
    "pdq_similarity",
]

logger = logging.getLogger(__name__)

#: Our name for PDQ as a soft-binding fingerprint (PDQ has no entry on the C2PA algorithm list).
PDQ_ALG = "io.github.provenance.pdq.v1"
#: What this service resolves, by kind (the shape of the spec's ``supportedAlgorithms``).
SUPPORTED_ALGORITHMS: dict[str, tuple[str, ...]] = {"watermarks": (WATERMARK_ALG,), "fingerprints": (PDQ_ALG,)}
#: ``maxResults`` when not given (the spec's default), and the most one query returns.
DEFAULT_MAX_RESULTS = 10
MAX_RESULTS = 100
#: Longest algorithm name and base64 value accepted (ours are far shorter).
MAX_ALG_CHARS = 256
MAX_VALUE_CHARS = 4096

_STAMP_ID = re.compile(r"[0-9a-fA-F]{16}")
_HEX = re.compile(rb"[0-9a-fA-F]+")
_ALG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]*")
_B64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")


@dataclass(frozen=True)
class ResolutionMatch:
    """One manifest that a query matched.

    Attributes
    ----------
    manifest_id : str
        The stamp ID (16 hex): ``GET manifests/{manifest_id}`` gives its store.
    similarity_score : int
        0 (weakest) to 100 (strongest).
    alg : str
        The algorithm that matched.
    """

    manifest_id: str
    similarity_score: int
    alg: str

    def to_dict(self) -> dict[str, Any]:
        """The spec's ``c2pa.softBindingQueryResult`` item."""
        return {"manifestId": self.manifest_id, "similarityScore": self.similarity_score}


def supported_algorithms() -> dict[str, list[dict[str, str]]]:
    """The spec's ``c2pa.softBindingAlgList``: ``{"watermarks": [{"alg"}], "fingerprints": [...]}``."""
    return {kind: [{"alg": alg} for alg in algs] for kind, algs in SUPPORTED_ALGORITHMS.items()}


def check_alg(alg: object) -> str:
    """`alg` when it is an algorithm this service resolves.

    Raises
    ------
    InvalidInputError
        If `alg` is missing, too long, malformed or not one we resolve.
    """
    if not isinstance(alg, str) or not alg.strip():
        raise InvalidInputError("Say which soft-binding algorithm the value is for: 'alg', e.g. "
                                f"{WATERMARK_ALG!r}.")
    alg = alg.strip()
    if len(alg) > MAX_ALG_CHARS or not _ALG.fullmatch(alg):
        raise InvalidInputError(f"'alg' is not an algorithm name (at most {MAX_ALG_CHARS} characters such as "
                                f"{WATERMARK_ALG!r}); see services/supportedAlgorithms.")
    if alg not in (WATERMARK_ALG, PDQ_ALG):
        raise InvalidInputError(f"This service does not resolve {alg!r}; it resolves {WATERMARK_ALG} and {PDQ_ALG} "
                                "(services/supportedAlgorithms).")
    return alg


def decode_value(value: object) -> bytes:
    """The bytes of a base64 soft-binding value (standard or URL-safe alphabet, padding optional).

    Raises
    ------
    InvalidInputError
        If `value` is missing, longer than :data:`MAX_VALUE_CHARS` or not base64.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError("Send the soft-binding value, base64-encoded: 'value'.")
    text = value.strip()
    if len(text) > MAX_VALUE_CHARS:
        raise InvalidInputError(f"'value' is longer than {MAX_VALUE_CHARS} base64 characters; no soft binding we "
                                "resolve is that long.")
    if not _B64.fullmatch(text):
        raise InvalidInputError("'value' is not base64 (letters, digits, '+', '/' or '-', '_', then up to two '=').")
    text = text.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError("'value' is not valid base64 (its length is impossible); check how it was encoded.") from None
    if not data:
        raise InvalidInputError("'value' decodes to nothing; send the soft-binding value itself.")
    return data


def check_max_results(value: object) -> int:
    """``maxResults`` as an int from 1 up; larger than :data:`MAX_RESULTS` is clamped to it.

    Raises
    ------
    InvalidInputError
        If `value` is not a whole number of at least 1.
    """
    if value is None or value == "":
        return DEFAULT_MAX_RESULTS
    if isinstance(value, bool):
        raise InvalidInputError("'maxResults' must be a whole number of at least 1.")
    if isinstance(value, str):
        if not value.strip().isdigit() or len(value.strip()) > 12:
            raise InvalidInputError(f"'maxResults' must be a whole number of at least 1; got {value[:20]!r}.")
        value = int(value.strip())
    if not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"'maxResults' must be a whole number of at least 1; got {str(value)[:20]!r}.")
    return min(value, MAX_RESULTS)


def check_manifest_id(manifest_id: object) -> str:
    """A manifest ID of this service (a stamp ID, 16 hex), lower-cased.

    Raises
    ------
    InvalidInputError
        If it is not 16 hex characters.
    """
    if not isinstance(manifest_id, str) or not _STAMP_ID.fullmatch(manifest_id):
        shown = manifest_id[:40] if isinstance(manifest_id, str) else manifest_id
        raise InvalidInputError(f"A manifest ID of this service is a stamp ID, 16 hex characters, as "
                                f"matches/byBinding returns it; got {shown!r}.")
    return manifest_id.lower()


def _as_hex(data: bytes, raw_bytes: int, what: str) -> str:
    """The hex form of a value sent either as `raw_bytes` raw bytes or as their hex text."""
    if len(data) == raw_bytes:
        return data.hex()
    if len(data) == 2 * raw_bytes and _HEX.fullmatch(data):
        return data.decode("ascii").lower()
    raise InvalidInputError(f"A {what} value is {raw_bytes} bytes (or {2 * raw_bytes} hex characters), "
                            f"base64-encoded; this one decodes to {len(data)} bytes.")


def pdq_similarity(distance: int) -> int:
    """The spec's 0-100 similarity score for a PDQ Hamming distance (share of the 256 bits that agree)."""
    return round(100 * (HASH_BITS - distance) / HASH_BITS)


def _with_store(registry: Registry, stamp_ids: Iterable[str]) -> set[str]:
    """The stamp IDs among `stamp_ids` whose record holds a manifest store (all we can serve)."""
    return {s for s in stamp_ids if (r := registry.get_stamp(s)) is not None and r.manifest_store is not None}


def _pdq_matches(registry: Registry, banks: Banks, hashes: Sequence[PerceptualHash], max_results: int
                 ) -> list[ResolutionMatch]:
    found = [m for m in banks.match(tuple(hashes)) if m.bank == STAMPED_OUTPUTS_BANK and m.case_id
             and _STAMP_ID.fullmatch(m.case_id)]  # only our stamped outputs: other banks are never disclosed
    best: dict[str, int] = {}
    for m in found:  # smallest distance first
        best.setdefault(m.case_id.lower(), m.distance)
    ids = list(best)[:max_results]
    servable = _with_store(registry, ids)
    return [ResolutionMatch(s, pdq_similarity(best[s]), PDQ_ALG) for s in ids if s in servable]


def find_by_binding(registry: Registry, banks: Banks | None, alg: str, value: bytes, *,
                    max_results: int = DEFAULT_MAX_RESULTS) -> tuple[ResolutionMatch, ...]:
    """The manifests a soft-binding value matches, strongest first.

    Parameters
    ----------
    registry : Registry
    banks : Banks or None
        For PDQ queries (no PDQ matches without it).
    alg : str
        From :func:`check_alg`.
    value : bytes
        From :func:`decode_value`.
    max_results : int

    Raises
    ------
    InvalidInputError
        If `alg` is not ours or `value` has the wrong length for it.
    RegistryError
        If the database fails.
    """
    alg = check_alg(alg)
    if alg == WATERMARK_ALG:
        stamp_id = _as_hex(value, 8, "watermark ID")
        return (ResolutionMatch(stamp_id, 100, alg),) if _with_store(registry, [stamp_id]) else ()
    query = PerceptualHash.from_hex(_as_hex(value, HASH_BITS // 8, "PDQ"))
    if banks is None:
        return ()
    return tuple(_pdq_matches(registry, banks, [query], max_results))


def find_by_content(data: bytes, *, registry: Registry, banks: Banks | None, keyring: KeyRing,
                    max_pixels: int, search: str = "full", algs: Sequence[str] = (WATERMARK_ALG, PDQ_ALG),
                    max_results: int = DEFAULT_MAX_RESULTS) -> tuple[ResolutionMatch, ...]:
    """The manifests an image matches: by our watermark's ID, then by PDQ among our stamped outputs.

    A watermark match is checked against the stamp's picture (:func:`~provenance.binding.check_image`):
    a mark copied onto another picture returns nothing, an unconfirmed one a lower score. The image
    is decoded in memory and never stored.

    Parameters
    ----------
    data : bytes
        The image file.
    keyring : KeyRing
        Watermark keys to detect with.
    algs : sequence of str
        Which of our algorithms to use (default both).

    Raises
    ------
    InvalidImageError
        If the pixels cannot be decoded; ImageTooLargeError over `max_pixels`.
    RegistryError
        If the database fails.
    """
    decoded = decode_image_and_shrink(data, shrink_to=MAX_SIDE, max_pixels=max_pixels)
    hashes = pdq_dihedral_hashes(decoded.pixels, shrunk=decoded.shrunk)
    out: list[ResolutionMatch] = []
    if WATERMARK_ALG in algs:
        try:
            _, result = watermark.detect_keys(decoded.pixels, [key.secret for key in keyring], search=search)
        except InvalidImageError:  # too small to carry a watermark: no match, not an error
            result = None
        if result is not None and result.detected and result.payload and len(result.payload) == 8:
            found = find_by_binding(registry, banks, WATERMARK_ALG, result.payload, max_results=max_results)
            out.extend(_checked(found, registry, data, hashes, decoded.pixels, result))
    if PDQ_ALG in algs and banks is not None and len(out) < max_results:
        have = {m.manifest_id for m in out}
        out.extend(m for m in _pdq_matches(registry, banks, hashes, max_results) if m.manifest_id not in have)
    return tuple(out[:max_results])


#: similarityScore of a watermark match whose picture could not be confirmed as the stamp's.
UNCONFIRMED_SCORE = 50


def _checked(found: Iterable[ResolutionMatch], registry: Registry, data: bytes, hashes: Sequence[PerceptualHash],
             pixels, result: "watermark.WatermarkResult") -> list[ResolutionMatch]:
    """Watermark matches that the upload's picture supports (issue 13: a mark can be copied without the key).

    A stamp whose picture the upload does not show (a copied mark) is dropped; one that cannot be
    confirmed either way keeps a lower score, :data:`UNCONFIRMED_SCORE`.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    kept = []
    for match in found:
        record = registry.get_stamp(match.manifest_id)
        if record is None:
            continue
        check = check_image(record, sha256=sha256, hashes=hashes, pixels=pixels, scale=result.scale,
                            rotation_degrees=result.rotation_degrees, mirrored=result.mirrored, frame=result.frame)
        if check.status == "mismatch":
            continue
        kept.append(match if check.status == "confirmed" else replace(match, similarity_score=UNCONFIRMED_SCORE))
    return kept


def manifest_store_for(registry: Registry, manifest_id: str, *, active_only: bool = False) -> bytes | None:
    """The manifest store recorded for a stamp, byte for byte (or only its active manifest); None if unknown.

    Raises
    ------
    InvalidInputError
        If `manifest_id` is not a stamp ID.
    ManifestError
        If `active_only` and the stored bytes are not a manifest store.
    RegistryError
        If the database fails.
    """
    record = registry.get_stamp(check_manifest_id(manifest_id))
    if record is None or record.manifest_store is None:
        return None
    return active_manifest_store(record.manifest_store) if active_only else record.manifest_store
