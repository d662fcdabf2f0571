"""Verify a file: Content Credentials, watermark, registry, metadata and hashes in one report.

::

    report = provenance.report.verify("upload.jpg")        # builds a Verifier for this call
    report.verdict.code, report.verdict.headline
    json.dumps(report.to_dict())                           # schemas/verification-report.v1.json

    verifier = Verifier(Settings.from_env())               # once per process (web app, CLI batch)
    report = verifier.verify(data, name="upload.jpg")

What is checked, in order:

1. the file: size, SHA-256, type (from its bytes, not its name), pixel size;
2. the C2PA manifest (:func:`~provenance.manifest.read_manifest`), offline, with the
   configured trust anchors plus our development CA when we sign with it;
3. the watermark, with every configured key (images only);
4. the registry: the stamp whose ID the watermark carries (else whose SHA-256 equals the
   file's, else the nearest stamped output by PDQ hash), and the Content Credentials it
   recorded at stamping time, so they are recovered even when the file's own metadata was
   stripped; and whether the picture is that stamp's image (:mod:`provenance.binding`): a
   copied watermark or a near-copy whose watermark was removed gets its own verdict;
5. metadata signals (:func:`~provenance.metadata.read_metadata`);
6. hash banks (:mod:`provenance.banks`): the upload's PDQ hash and its 8 dihedral variants,
   and the file's MD5/SHA-256, against every enabled bank; a match is a signal for human
   review, never proof; quality below 50 is ``unmatchable``, not "no match";
7. an overall verdict: a code from :data:`VERDICT_CODES`, a headline and reasons in plain words.

Each verification appends one audit event (SHA-256, verdict code and bank matches per
label, never the media) when a registry is in use. See ``docs/verify.md``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Union

import numpy as np

from . import watermark
from .errors import ImageTooLargeError, InvalidImageError, InvalidInputError, ManifestError
from .watermark.detection import MIN_DETECT_SIDE, check_search
from .banks import REVIEW_NOTE, BankMatch, Banks
from .binding import ImageCheck, NearCopy, StampIndex, check_image
from .hashing import MAX_SIDE, MIN_QUALITY, PerceptualHash, pdq_dihedral_hashes
from .images import SNIFF_BYTES, DecodedImage, decode_image_and_shrink, detect_mime_type, read_source
from .keys import KeyRing, load_keyring
from .manifest import ManifestSummary, read_manifest
from .metadata import read_metadata
from .registry import Registry, StampRecord
from .resolution.client import RemoteResolution, load_resolver_tokens, resolve_remotely, soft_binding_queries
from .settings import Settings
from .signing import DEV_ORGANIZATION, WATERMARK_ALG, SigningCredentials, load_credentials

__all__ = [
    "SCHEMA_VERSION",
    "VERDICT_CODES",
    "FileInfo",
    "WatermarkSection",
    "RegistrySection",
    "HashMatchSection",
    "Verdict",
    "VerificationReport",
    "Verifier",
    "verify",
    "evidence_strength",
]

logger = logging.getLogger(__name__)

#: Version of the JSON layout of :meth:`VerificationReport.to_dict` (``schemas/verification-report.v1.json``).
SCHEMA_VERSION = "1.3"  # 1.1: hash-match details (banks), watermark.search; 1.2: registry.image_check, near_copies; 1.3: search "crops"

#: Verdict codes, strongest signal first, with what each means.
VERDICT_CODES: dict[str, str] = {
    "ai_generated_trusted": "Content Credentials from a trusted signer say the image was made by AI.",
    "ai_generated_valid": "Intact Content Credentials say the image was made by AI; the signer is not on a trust list.",
    "ai_edited": "Intact Content Credentials say AI was used to edit the image or to make part of it.",
    "ai_generated_recovered": (
        "The file has no Content Credentials, but our watermark was found and the original credentials "
        "were recovered from the registry."
    ),
    "watermark_copied": (
        "Our watermark from a registered stamp was found, but the picture is not that stamp's image: the mark "
        "was probably copied onto it, and the stamp's credentials do not apply."
    ),
    "watermark_unconfirmed": (
        "Our watermark from a registered stamp was found, but whether the picture is that stamp's image could "
        "not be confirmed; the stamp's credentials are a possible match only."
    ),
    "stamp_withdrawn": "The picture points to a registered stamp that has been withdrawn; its credentials are not vouched for.",
    "watermark_unregistered": "Our watermark was found, but the registry has no record of its ID.",
    "possible_match_watermark_missing": (
        "No watermark, but the picture is a near-copy of a stamped output (perceptual hash): a possible match; "
        "the watermark is missing (removed or destroyed)."
    ),
    "altered_after_signing": "The file has Content Credentials, but its content was changed after signing.",
    "credentials_invalid": "The file has Content Credentials, but they are broken (signature, certificate or format).",
    "credentials_trusted": "Content Credentials from a trusted signer; they do not say AI was used.",
    "credentials_untrusted": "Intact Content Credentials from a signer not on a trust list; they do not say AI was used.",
    "metadata_ai": "No Content Credentials or watermark, but the metadata says the image was made or edited with AI.",
    "no_signals": "No provenance signals found.",
}

#: File types whose pixels are decoded here (others are reported as not decodable, not as errors).
_CORE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/tiff", "image/bmp"})
#: C2PA failure codes that mean "the content does not match what was signed".
_HARD_BINDING_MISMATCH = frozenset(
    {"assertion.dataHash.mismatch", "assertion.boxesHash.mismatch", "assertion.bmffHash.mismatch",
     "assertion.collectionHash.mismatch"}
)
_STAMP_ID_BYTES = 8

VerifySource = Union[str, os.PathLike, bytes, bytearray, memoryview]


def evidence_strength(p_value: float) -> str:
    """Describe a watermark p-value in words.

    ``<= 1e-9`` very strong, ``<= 1e-6`` strong, ``<= 1e-3`` moderate, ``<= 0.05`` weak,
    otherwise no evidence.
    """
    if p_value <= 1e-9:
        return "very strong evidence"
    if p_value <= 1e-6:
        return "strong evidence"
    if p_value <= 1e-3:
        return "moderate evidence"
    if p_value <= 0.05:
        return "weak evidence"
    return "no evidence"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class FileInfo:
    """The file itself.

    `mime` comes from the file's bytes; `notes` says when the name's extension disagrees.
    """

    name: str | None
    size: int
    sha256: str
    mime: str | None
    width: int | None = None
    height: int | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "mime": self.mime,
            "width": self.width,
            "height": self.height,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class WatermarkSection:
    """What the watermark search found.

    Attributes
    ----------
    status : str
        ``detected``, ``not_detected``, ``not_applicable`` (not an image), ``too_small``
        or ``not_decoded`` (an image type whose pixels cannot be decoded here).
    explanation : str
        Plain words.
    key_id : str or None
        The key that found it.
    stamp_id : str or None
        The 64-bit ID it carries (16 hex), when it is 8 bytes long.
    payload : str or None
        The raw payload, hex.
    p_value : float or None
        Bound on the chance that an unmarked image gives a result this strong with any of
        the keys tried (the detector's bound times `keys_tried`).
    strength : str or None
        `p_value` in words (:func:`evidence_strength`).
    """

    status: str
    explanation: str
    keys_tried: int = 0
    key_id: str | None = None
    stamp_id: str | None = None
    payload: str | None = None
    p_value: float | None = None
    score: float | None = None
    strength: str | None = None
    scale: float | None = None
    rotation_degrees: float | None = None
    mirrored: bool | None = None
    search: str | None = None
    frame: str | None = None  # the grid the geometry refers to (not in the JSON report)

    @property
    def detected(self) -> bool:
        """True when a watermark was found."""
        return self.status == "detected"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        geometry = None
        if self.detected:
            geometry = {
                "scale": None if self.scale is None else round(self.scale, 4),
                "rotation_degrees": None if self.rotation_degrees is None else round(self.rotation_degrees, 2),
                "mirrored": self.mirrored,
            }
        return {
            "status": self.status,
            "detected": self.detected,
            "explanation": self.explanation,
            "algorithm": WATERMARK_ALG,
            "keys_tried": self.keys_tried,
            "key_id": self.key_id,
            "stamp_id": self.stamp_id,
            "payload": self.payload,
            "p_value": self.p_value,
            "score": None if self.score is None else round(self.score, 3),
            "strength": self.strength,
            "geometry": geometry,
            "search": self.search,
        }


@dataclass(frozen=True)
class RegistrySection:
    """What the registry knows about this file.

    Attributes
    ----------
    status : str
        ``found``, ``not_found`` or ``not_configured`` (no registry consulted).
    lookup : str or None
        How the record was found: ``watermark_id``, ``sha256`` or ``phash`` (the nearest stamped
        output by perceptual hash, when no watermark was found: a possible match).
    record : StampRecord or None
        The stamp. Only a summary goes into :meth:`to_dict` (never the requester or prompt hash).
    recovered_manifest : ManifestSummary or None
        The Content Credentials recorded at stamping, read from the stored manifest store on
        its own (their signature is checked; their content hash cannot be, without the original).
    recovered_because_missing : bool
        True when the file itself carried no Content Credentials.
    exact_file : bool
        True when the file's SHA-256 is the one recorded: it is the very file we issued.
    phash_distance : int or None
        PDQ Hamming distance between the file and the recorded output (0-256; <= 31 is a match).
    image_check : ImageCheck or None
        Whether the picture is the stamp's image (:func:`provenance.binding.check_image`).
    near_copies : tuple of NearCopy
        Stamped outputs whose PDQ hash is within the match threshold of the file's, nearest first.
    """

    status: str
    explanation: str
    lookup: str | None = None
    record: StampRecord | None = field(default=None, repr=False)
    recovered_manifest: ManifestSummary | None = field(default=None, repr=False)
    recovered_because_missing: bool = False
    exact_file: bool = False
    phash_distance: int | None = None
    image_check: ImageCheck | None = None
    near_copies: tuple[NearCopy, ...] = ()

    @property
    def found(self) -> bool:
        """True when a stamp record was found."""
        return self.record is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        record = None
        if self.record is not None:
            r = self.record
            record = {
                "stamp_id": r.stamp_id,
                "created_at": _iso(r.created_at),
                "generator": r.generator,
                "key_id": r.key_id,
                "sha256": r.sha256,
                "phash": r.phash,
                "has_manifest_store": r.manifest_store is not None,
                "has_fingerprint": r.fingerprint is not None,
                "withdrawn_at": _iso(r.withdrawn_at),
            }
        recovered = None
        if self.recovered_manifest is not None:
            recovered = self.recovered_manifest.to_dict()
            recovered["signature_state"] = _signature_state(self.recovered_manifest)
        return {
            "status": self.status,
            "found": self.found,
            "explanation": self.explanation,
            "lookup": self.lookup,
            "record": record,
            "recovered_manifest": recovered,
            "recovered_because_missing": self.recovered_because_missing,
            "exact_file": self.exact_file,
            "phash_distance": self.phash_distance,
            "image_check": None if self.image_check is None else self.image_check.to_dict(),
            "near_copies": [n.to_dict() for n in self.near_copies],
        }


@dataclass(frozen=True)
class HashMatchSection:
    """Perceptual and exact hashes of the upload, and hash-bank matches.

    Attributes
    ----------
    status : str
        ``matched``, ``no_match``, ``unmatchable`` (PDQ quality below 50 and no exact match: too
        flat to hash, never "no match") or ``not_configured`` (no registry or no enabled bank).
    matches : tuple of BankMatch
        Bank, label, kind, distance, threshold, source, case ID, variant. A signal for human
        review, never proof.
    """

    status: str = "not_configured"
    pdq: str | None = None
    pdq_quality: int | None = None
    matches: tuple[BankMatch, ...] = ()
    explanation: str = "No hash bank is configured; the perceptual hash is shown for reference."
    md5: str | None = None
    banks_checked: int = 0

    def to_dict(self, *, public: bool = False) -> dict[str, Any]:
        """JSON-ready values.

        With ``public=True`` (unauthenticated callers) the outcome and matches are withheld:
        bank names, distances and even "no match" would help someone evade a bank.
        """
        out = {
            "status": self.status,
            "explanation": self.explanation,
            "pdq": self.pdq,
            "pdq_quality": self.pdq_quality,
            "pdq_matchable": None if self.pdq_quality is None else self.pdq_quality >= MIN_QUALITY,
            "md5": self.md5,
            "banks_checked": self.banks_checked,
            "review_note": REVIEW_NOTE,
            "matches": [m.to_dict() for m in self.matches],
        }
        if public and self.status in ("matched", "no_match"):
            out.update(status="withheld", matches=[], banks_checked=None,
                       explanation="Hash-bank results are shown to authorised reviewers only.")
        return out


@dataclass(frozen=True)
class Verdict:
    """The overall conclusion: a code from :data:`VERDICT_CODES`, a headline and reasons."""

    code: str
    headline: str
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"code": self.code, "headline": self.headline, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class VerificationReport:
    """Everything :func:`verify` found about one file.

    Attributes
    ----------
    file : FileInfo
    manifest : ManifestSummary
        The file's own Content Credentials (state ``absent`` if none).
    development_certificate : bool
        True when the file is signed with a provenance development certificate.
    watermark : WatermarkSection
    registry : RegistrySection
    metadata : dict
        :meth:`provenance.metadata.MetadataReport.to_dict`.
    hash_match : HashMatchSection
    verdict : Verdict
    checked_at : datetime
    duration_ms : float
    """

    file: FileInfo
    manifest: ManifestSummary
    development_certificate: bool
    watermark: WatermarkSection
    registry: RegistrySection
    metadata: Mapping[str, Any]
    hash_match: HashMatchSection
    verdict: Verdict
    checked_at: datetime
    duration_ms: float
    schema_version: str = SCHEMA_VERSION
    #: What PROVENANCE_RESOLVERS said, when they were asked (see :meth:`Verifier._resolve_remotely`).
    remote_resolution: RemoteResolution | None = None

    def to_dict(self, *, public: bool = False) -> dict[str, Any]:
        """JSON-ready values, following ``schemas/verification-report.v1.json``.

        ``public=True`` withholds hash-bank outcomes (see :meth:`HashMatchSection.to_dict`);
        use it for unauthenticated callers.
        """
        manifest = self.manifest.to_dict()
        manifest["development_certificate"] = self.development_certificate
        out = {
            "schema_version": self.schema_version,
            "checked_at": self.checked_at.isoformat(),
            "duration_ms": round(self.duration_ms, 1),
            "file": self.file.to_dict(),
            "verdict": self.verdict.to_dict(),
            "manifest": manifest,
            "watermark": self.watermark.to_dict(),
            "registry": self.registry.to_dict(),
            "metadata": dict(self.metadata),
            "hash_match": self.hash_match.to_dict(public=public),
        }
        if self.remote_resolution is not None:
            out["remote_resolution"] = self.remote_resolution.to_dict()
        return out


# --------------------------------------------------------------------------- helpers


def _signature_state(summary: ManifestSummary) -> str:
    """State of recovered credentials, ignoring the content hash (no original to check it against)."""
    if summary.state in ("valid", "trusted"):
        return summary.state
    rest = [f for f in summary.failures if f.code not in _HARD_BINDING_MISMATCH]
    if summary.error or any(not f.trust_only for f in rest):
        return "invalid"
    return "valid" if rest else "trusted"


def _with_remote(verdict: Verdict, remote: RemoteResolution) -> Verdict:
    """The verdict with what the remote services said; a "nothing found" headline names recovered credentials.

    They are a possible match only: the remote service matched a soft binding (which a keyless copy of a
    watermark also carries), and no fingerprint here can confirm that this picture is the one they describe.
    """
    headline = verdict.headline
    found = remote.recovered
    if remote.status == "recovered" and found is not None and verdict.code in ("no_signals", "metadata_ai", "watermark_unregistered"):
        headline = (f"Possible match: Content Credentials recovered from {found.service} (signed by "
                    f"{_signer(found.summary)}, signature {found.signature_state}) say: "
                    f"{found.summary.ai_disclosure.replace('_', '-')}; not confirmed to be this picture's")
    return Verdict(verdict.code, headline, verdict.reasons + (remote.explanation,))


def _signer(summary: ManifestSummary) -> str:
    return summary.signer_common_name or summary.signer_org or "an unnamed signer"


_EXT_MIME = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
    ".gif": "image/gif", ".tif": "image/tiff", ".tiff": "image/tiff", ".pdf": "application/pdf",
    ".mp4": "video/mp4", ".wav": "audio/wav", ".avif": "image/avif", ".heic": "image/heic",
}


def _name_notes(name: str | None, mime: str) -> tuple[str, ...]:
    if not name:
        return ()
    expected = _EXT_MIME.get(Path(name).suffix.lower())
    if expected and expected != mime:
        return (f"The name ends in {Path(name).suffix} but the content is {mime}; the content was checked.",)
    return ()


# --------------------------------------------------------------------------- verifier


#: What a search that found nothing did not look for, by search mode.
_NOT_FOUND = {
    "full": "The image may never have been stamped, or was changed too much.",
    "crops": "A crops search was made (search=crops): whole-image resizes and crops are covered, but rotations "
             "and perspective are not looked for.",
    "quick": "Only a quick search was made (search=quick): whole-image resizes are covered, but crops that change "
             "the long side, rotations and perspective are not looked for.",
}


class Verifier:
    """Holds what verification needs (keys, trust, registry), built once and reused.

    Parameters
    ----------
    settings : Settings, optional
        Default ``Settings.from_env()``.
    keyring : KeyRing, optional
        Watermark keys; default :func:`~provenance.keys.load_keyring`.
    credentials : SigningCredentials, optional
        Our signing credentials, used to trust our own development CA; default
        :func:`~provenance.signing.load_credentials`.
    registry : Registry, optional
        Default ``Registry.open(settings)`` (closed by :meth:`close`).
    banks : Banks, optional
        Hash banks to match against; default the registry's (none without a registry).
    use_registry : bool
        False to verify without a registry (no recovery, no audit log).

    Raises
    ------
    ConfigError
        If keys, certificates or trust files are missing or wrong.
    RegistryError
        If the registry cannot be reached (pass ``use_registry=False`` to verify without it).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        keyring: KeyRing | None = None,
        credentials: SigningCredentials | None = None,
        registry: Registry | None = None,
        use_registry: bool = True,
        banks: Banks | None = None,
    ) -> None:
        self.settings = Settings.from_env() if settings is None else settings
        self.keyring = load_keyring(self.settings) if keyring is None else keyring
        self.credentials = load_credentials(self.settings) if credentials is None else credentials
        self._owns_registry = registry is None and use_registry
        self.registry = registry if registry is not None else (Registry.open(self.settings) if use_registry else None)
        self._anchors: tuple[bytes, ...] = (self.credentials.ca_pem,) if self.credentials.ca_pem else ()
        if banks is None and self.registry is not None:
            banks = Banks(self.registry, max_import_rows=self.settings.bank_max_import_rows,
                          video_query_percent=self.settings.video_bank_query_percent,
                          video_compared_percent=self.settings.video_bank_compared_percent)
        self.banks = banks
        self.stamp_index = None if self.registry is None else StampIndex(self.registry)

    def close(self) -> None:
        """Close the registry if this verifier opened it. Idempotent."""
        if self._owns_registry and self.registry is not None:
            self.registry.close()

    def __enter__(self) -> "Verifier":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- sections

    def _pixels(self, data: bytes, mime: str, has_manifest: bool) -> tuple[DecodedImage | None, str | None]:
        """Decoded RGB pixels (and their copy shrunk for PDQ), or None and why not.

        Corrupt pixels of a common image type are an error, unless the file carries Content
        Credentials: then the report is still worth having (they will usually say why).
        """
        try:
            decoded = decode_image_and_shrink(
                data, shrink_to=MAX_SIDE, max_pixels=self.settings.max_pixels,
                max_decode_bytes=self.settings.max_decode_bytes,
            )
            return decoded, None
        except ImageTooLargeError:
            raise
        except InvalidImageError as exc:
            if mime not in _CORE_IMAGE_TYPES:
                return None, f"The pixels of this {mime} file cannot be decoded here, so no watermark search was made."
            if not has_manifest:
                raise InvalidImageError(f"{exc} The file looks like {mime} but its pixels cannot be read.") from exc
            return None, f"The image data is corrupt ({exc}), so no watermark search was made."

    @staticmethod
    def _unreadable(manifest: ManifestSummary, mime: str) -> ManifestError:
        """The error for a file whose container and pixels are both unreadable."""
        return ManifestError(
            f"The file could not be parsed as {mime} ({manifest.error}); it may be truncated or corrupt. "
            "Upload the complete original file."
        )

    def _watermark(self, pixels: np.ndarray | None, is_image: bool, why_not: str | None, search: str) -> WatermarkSection:
        if not is_image:
            return WatermarkSection("not_applicable", "Watermarks are not applicable to this file type (not an image).")
        if pixels is None:
            return WatermarkSection("not_decoded", why_not or "The image could not be decoded.")
        h, w = pixels.shape[:2]
        if min(h, w) < MIN_DETECT_SIDE:
            return WatermarkSection(
                "too_small",
                f"The image is {w}x{h} pixels, too small to carry a watermark (needs "
                f"{MIN_DETECT_SIDE} pixels a side); no search was made.",
            )
        index, best = watermark.detect_keys(pixels, [key.secret for key in self.keyring], search=search)
        if best.detected:
            key = self.keyring.keys[index]
            p = min(1.0, best.p_value * len(self.keyring))
            payload = best.payload or b""
            stamp_id = payload.hex() if len(payload) == _STAMP_ID_BYTES else None
            return WatermarkSection(
                "detected",
                f"Our invisible watermark was found with key {key.key_id} ({evidence_strength(p)}: "
                f"an unmarked image gives a result this strong with probability below {p:.1e}).",
                keys_tried=index + 1, key_id=key.key_id, stamp_id=stamp_id, payload=payload.hex(), p_value=p,
                score=best.score, strength=evidence_strength(p), scale=best.scale,
                rotation_degrees=best.rotation_degrees, mirrored=best.mirrored, frame=best.frame,
                search=search,
            )
        keys = len(self.keyring)
        return WatermarkSection(
            "not_detected",
            f"No watermark of ours was found (searched with {keys} key{'s' if keys > 1 else ''}). "
            + _NOT_FOUND[search],
            keys_tried=keys,
            p_value=min(1.0, best.p_value * keys),
            score=best.score,
            strength="no evidence",
            search=search,
        )

    def _registry(
        self, mark: WatermarkSection, sha256: str, hashes: tuple[PerceptualHash, ...], pixels: np.ndarray | None,
        manifest: ManifestSummary,
    ) -> RegistrySection:
        if self.registry is None or self.stamp_index is None:
            return RegistrySection("not_configured", "No registry was consulted.")
        near = self.stamp_index.near_copies(hashes) if hashes else ()
        record, lookup = None, None
        if mark.stamp_id is not None:
            record, lookup = self.registry.get_stamp(mark.stamp_id), "watermark_id"
        if record is None:
            by_hash = self.registry.find_by_sha256(sha256)
            if by_hash is not None:
                record, lookup = by_hash, "sha256"
        if record is None and near and not mark.detected:
            record, lookup = self.registry.get_stamp(near[0].stamp_id), "phash"
        if record is None:
            if mark.stamp_id is not None:
                return RegistrySection(
                    "not_found",
                    f"The registry has no stamp with the watermark's ID {mark.stamp_id} (never recorded here, or its "
                    "record was deleted).", "watermark_id", near_copies=near,
                )
            return RegistrySection("not_found", "No registry record matches this file (by watermark ID, SHA-256 or "
                                   "perceptual hash).", near_copies=near)
        check = check_image(
            record, sha256=sha256, hashes=hashes, pixels=pixels,
            scale=mark.scale, rotation_degrees=mark.rotation_degrees, mirrored=mark.mirrored, frame=mark.frame,
        )
        recovered = None
        if record.sha256 == sha256 and manifest.has_manifest:
            recovered = manifest  # byte for byte the file we issued: its credentials are the recorded ones
        elif record.manifest_store is not None:
            recovered = read_manifest(
                record.manifest_store, mime="application/c2pa", settings=self.settings,
                extra_trust_anchors=self._anchors,
            )
        missing = not manifest.has_manifest
        distance = None
        if hashes and record.phash is not None:
            distance = PerceptualHash.from_hex(record.phash) - hashes[0]
        exact = record.sha256 == sha256
        how = {"watermark_id": "its watermark ID", "sha256": "its exact SHA-256",
               "phash": f"its perceptual hash ({check.phash_distance} bits of 256 from the stamped output)"}[lookup]
        text = f"Found by {how}: stamp {record.stamp_id}, made by {record.generator} on {record.created_at:%Y-%m-%d %H:%M} UTC."
        if recovered is not None and missing:
            if check.confirmed and lookup != "phash" and record.withdrawn_at is None:
                text += " The file carries no Content Credentials; the original ones were recovered from the registry."
            else:
                text += " The file carries no Content Credentials; the stamp's recorded ones are shown as a possible match."
        return RegistrySection(
            "found", text, lookup, record, recovered, recovered_because_missing=missing and recovered is not None,
            exact_file=exact, phash_distance=distance, image_check=check, near_copies=near,
        )

    def _hash_match(self, hashes: tuple[PerceptualHash, ...], data: bytes, sha256: str) -> HashMatchSection:
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        pdq = hashes[0] if hashes else None
        base = {"pdq": None if pdq is None else pdq.to_hex(), "pdq_quality": None if pdq is None else pdq.quality,
                "md5": md5}
        if self.banks is None:
            return HashMatchSection(**base)
        if hashes:
            result = self.banks.check(hashes, md5=md5, sha256=sha256)
            return HashMatchSection(status=result.status, matches=result.matches, explanation=result.explanation,
                                    banks_checked=result.banks_checked, **base)
        exact = self.banks.check((), md5=md5, sha256=sha256)  # not an image: exact hashes only
        matches, checked = exact.matches, exact.banks_checked
        if matches:
            text = f"The file's exact hash is in {len(matches)} bank entr{'ies' if len(matches) > 1 else 'y'}. {REVIEW_NOTE}"
            return HashMatchSection("matched", matches=matches, explanation=text, banks_checked=checked, **base)
        if not checked:
            return HashMatchSection(**base)
        return HashMatchSection("no_match", explanation="Not an image: only its exact MD5/SHA-256 were checked; no match.",
                                banks_checked=checked, **base)

    def _resolve_remotely(
        self, manifest: ManifestSummary, mark: WatermarkSection, reg: RegistrySection, phash: PerceptualHash | None
    ) -> RemoteResolution | None:
        """Ask ``PROVENANCE_RESOLVERS`` about soft bindings our registry does not hold (None: not asked).

        Only when nothing here explains the file: no intact credentials and no registry record.
        Asked about: the watermark ID, the file's own soft bindings, then its PDQ hash.
        """
        if not self.settings.resolvers or reg.found or manifest.state in ("valid", "trusted"):
            return None
        bindings = soft_binding_queries(
            watermark_id=mark.stamp_id, soft_bindings=[(b.alg, b.value) for b in manifest.soft_bindings],
            pdq_hex=phash.to_hex() if phash is not None and phash.is_matchable else None,
        )
        if not bindings:
            return None

        def validate(store: bytes) -> tuple[ManifestSummary, str]:
            summary = read_manifest(store, mime="application/c2pa", settings=self.settings,
                                    extra_trust_anchors=self._anchors)
            return summary, _signature_state(summary)

        path = self.settings.resolver_tokens_path
        return resolve_remotely(self.settings.resolvers, bindings, validate, timeout_s=self.settings.resolver_timeout_s,
                                tokens=load_resolver_tokens(path) if path else None)

    # ---- verdict

    def _verdict(
        self, manifest: ManifestSummary, dev: bool, mark: WatermarkSection, reg: RegistrySection, meta_ai: int
    ) -> Verdict:
        reasons: list[str] = []
        check = reg.image_check
        signer = _signer(manifest)
        trust_words = "trusted" if manifest.state == "trusted" else "signer not on a trust list"
        if dev:
            trust_words += ", development certificate"
        codes = {f.code for f in manifest.failures}

        if manifest.state == "invalid":
            if codes & _HARD_BINDING_MISMATCH:
                code, headline = "altered_after_signing", "Content Credentials present but the image was altered after signing"
            else:
                code, headline = "credentials_invalid", "Content Credentials present but they do not check out"
            reasons.append(manifest.explanation)
        elif manifest.state in ("valid", "trusted"):
            disclosure = manifest.ai_disclosure
            if disclosure == "ai_generated":
                code = "ai_generated_trusted" if manifest.state == "trusted" else "ai_generated_valid"
                headline = f"AI-generated: signed by {signer} ({trust_words})"
            elif disclosure in ("ai_edited", "composite"):
                code = "ai_edited"
                what = "edited with AI" if disclosure == "ai_edited" else "partly made with AI (composite)"
                headline = f"{what[0].upper()}{what[1:]}: signed by {signer} ({trust_words})"
            else:
                code = "credentials_trusted" if manifest.state == "trusted" else "credentials_untrusted"
                headline = f"Content Credentials signed by {signer} ({trust_words}); they do not say AI was used"
            if dev and manifest.state == "trusted":
                reasons.append(
                    "The Content Credentials are intact and signed with this installation's development "
                    "certificate, which is trusted here for our own outputs only, and nowhere else."
                )
            elif dev:
                reasons.append(
                    "The Content Credentials are intact but signed with a provenance development certificate from "
                    "another installation. Development certificates are trusted nowhere, so who signed cannot be "
                    "confirmed."
                )
            else:
                reasons.append(manifest.explanation)
        elif reg.found and reg.record.withdrawn_at is not None:
            code = "stamp_withdrawn"
            headline = (
                f"Stamp {reg.record.stamp_id} was withdrawn on {reg.record.withdrawn_at:%Y-%m-%d}: "
                "its Content Credentials are not vouched for"
            )
        elif mark.detected and reg.found and check is not None and check.status == "mismatch":
            code = "watermark_copied"
            headline = (
                f"Copied watermark: a watermark from stamp {reg.record.stamp_id} was found on a picture that does not "
                f"match that stamp's image; it was probably copied, and the stamp's credentials do not apply"
            )
        elif mark.detected and reg.found and check is not None and not check.confirmed:
            code = "watermark_unconfirmed"
            headline = (
                f"Watermark from stamp {reg.record.stamp_id} found, but the picture could not be confirmed to be that "
                "stamp's image: its credentials are a possible match only"
            )
        elif mark.detected and reg.found:
            code = "ai_generated_recovered"
            headline = (
                "AI-generated: watermark found, original Content Credentials recovered from the registry "
                "(metadata had been removed)"
            )
        elif mark.detected:
            code = "watermark_unregistered"
            headline = "AI-generated: our watermark was found, but the registry has no record of it"
        elif reg.found and reg.lookup == "phash":
            code = "possible_match_watermark_missing"
            headline = (
                f"Possible match: a near-copy of stamp {reg.record.stamp_id} (perceptual hash {check.phash_distance} "
                "bits of 256 away), but its watermark is missing (removed or destroyed)"
            )
        elif reg.found:
            code = "ai_generated_recovered"
            headline = "AI-generated: this exact file is in the registry (its Content Credentials had been removed)"
        elif meta_ai:
            code = "metadata_ai"
            headline = "The metadata says AI was used, but nothing verifiable backs it"
        else:
            code = "no_signals"
            headline = "No provenance signals found — this does not show the image is authentic"

        if dev and manifest.state == "invalid":
            reasons.append("The file was signed with a provenance development certificate.")
        if mark.detected:
            reasons.append(mark.explanation)
            bound = {b.value.lower() for b in manifest.soft_bindings if b.alg == WATERMARK_ALG}
            if bound and mark.stamp_id and mark.stamp_id not in bound:
                reasons.append(
                    f"Warning: the credentials name watermark ID {', '.join(sorted(bound))} but the image carries "
                    f"{mark.stamp_id}; the credentials may have been copied from another image."
                )
        elif mark.status in ("too_small", "not_decoded"):
            reasons.append(mark.explanation)
        if reg.found:
            reasons.append(reg.explanation)
            vouched = code == "ai_generated_recovered" or manifest.state in ("valid", "trusted", "invalid")
            if check is not None and not reg.exact_file:
                reasons.append(check.explanation)
                if check.method == "pdq" and reg.record.fingerprint is None:
                    reasons.append("The stamp predates image fingerprints; the picture was checked by its perceptual "
                                   "hash only.")
            if code == "watermark_copied":
                reasons.append(
                    f"Stamp {reg.record.stamp_id}'s Content Credentials describe a different picture and do not apply "
                    "to this one. Anyone can estimate a watermark from a stamped image and add it to another; the "
                    "mark alone does not show this picture was made by AI."
                )
            elif code == "possible_match_watermark_missing":
                reasons.append(
                    "The picture carries no watermark of ours, but it is perceptually almost the same as a stamped "
                    "output: the watermark was probably removed or destroyed. Treat the credentials below as a "
                    "possible match and compare the pictures."
                )
            elif code == "stamp_withdrawn":
                reasons.append(f"The stamp was withdrawn from the registry on {reg.record.withdrawn_at:%Y-%m-%d %H:%M} "
                               "UTC; its recorded credentials are shown for reference only.")
            if reg.recovered_manifest is not None:
                state = _signature_state(reg.recovered_manifest)
                what = "recovered" if vouched else "recorded (possible match, not vouched for)"
                reasons.append(
                    f"The {what} Content Credentials are signed by {_signer(reg.recovered_manifest)} "
                    f"(signature {state}) and say: {reg.recovered_manifest.ai_disclosure.replace('_', '-')}."
                )
            if reg.exact_file:
                reasons.append("The file is byte for byte the one we issued.")
        elif reg.status == "not_found" and mark.stamp_id:
            reasons.append(reg.explanation)
        others = [n for n in reg.near_copies if reg.record is None or n.stamp_id != reg.record.stamp_id]
        if others:
            reasons.append(
                "The picture is a near-copy (perceptual hash) of stamped output"
                + ("s " if len(others) > 1 else " ")
                + ", ".join(f"{n.stamp_id} ({n.distance} bits)" for n in others)
                + ": a possible match."
            )
        if manifest.remote_manifest_url or (not manifest.has_manifest and manifest.error):
            reasons.append(manifest.explanation)
        if meta_ai:
            reasons.append(f"The metadata carries {meta_ai} AI indicator{'s' if meta_ai > 1 else ''} (easy to add or remove).")
        if code == "no_signals":
            reasons.append(
                "No Content Credentials, no watermark of ours and no AI metadata were found. Most platforms strip "
                "metadata on upload, and other generators' watermarks are not checked here."
            )
        return Verdict(code, headline, tuple(dict.fromkeys(reasons)))

    # ---- public

    def verify(self, source: VerifySource, *, name: str | None = None, search: str | None = None) -> VerificationReport:
        """Verify one file.

        Parameters
        ----------
        source : path or bytes
            An image, or any file C2PA can carry credentials in (PDF, MP4, WAV, ...).
        name : str, optional
            The file name to report (default: the path's name).
        search : {"full", "crops", "quick"}, optional
            The watermark search for this file (default ``PROVENANCE_WATERMARK_SEARCH``):
            ``quick`` skips the search for crops that change the long side, rotations and perspective.

        Returns
        -------
        VerificationReport

        Raises
        ------
        InvalidInputError
            If the file is empty, missing, a folder, or of no type provenance can read, or
            `search` is not a search mode.
        InvalidImageError
            If an image's pixels are corrupt (PNG, JPEG, WebP, GIF, TIFF, BMP).
        ImageTooLargeError
            If it has more pixels than ``PROVENANCE_MAX_PIXELS``.
        ManifestError
            If its container cannot be parsed at all.
        RegistryError
            If the registry fails during lookup or audit.
        """
        started = time.perf_counter()
        checked_at = datetime.now().astimezone()
        # Checked before any work: a non-image never reaches detect(), which checks it too.
        search = check_search(self.settings.watermark_search if search is None else search)
        src = read_source(source, name=name)
        data, name = src.data, src.name
        sha256 = hashlib.sha256(data).hexdigest()
        mime = detect_mime_type(data[:SNIFF_BYTES])
        if mime is None:
            raise InvalidInputError(
                f"{name or 'The file'} is not a file type provenance can check (images such as PNG, JPEG, WebP, "
                "TIFF, AVIF, HEIC; PDF; MP4/MOV; WAV/MP3/FLAC)."
            )
        is_image = mime.startswith("image/") and mime != "image/svg+xml"
        # A container c2pa cannot parse is a finding, not the end: the watermark and the registry
        # can still recover provenance. Only a file that is unreadable throughout is an error.
        manifest = read_manifest(
            data, mime=mime, settings=self.settings, extra_trust_anchors=self._anchors, strict=False
        )
        try:
            decoded, why_not = self._pixels(data, mime, manifest.has_manifest) if is_image else (None, None)
        except InvalidImageError as exc:
            if manifest.container_unparsed and not isinstance(exc, ImageTooLargeError):
                raise self._unreadable(manifest, mime) from exc
            raise
        if decoded is None and manifest.container_unparsed and not manifest.has_manifest:
            raise self._unreadable(manifest, mime)
        pixels = None if decoded is None else decoded.pixels
        mark = self._watermark(pixels, is_image, why_not, search)
        dihedral = pdq_dihedral_hashes(pixels, shrunk=decoded.shrunk) if decoded is not None else ()
        phash = dihedral[0] if dihedral else None
        reg = self._registry(mark, sha256, dihedral, pixels, manifest)
        metadata = read_metadata(data)
        dev = manifest.has_manifest and manifest.signer_org == DEV_ORGANIZATION
        hashes = self._hash_match(dihedral, data, sha256)
        verdict = self._verdict(manifest, dev, mark, reg, len(metadata.ai_indicators))
        remote = self._resolve_remotely(manifest, mark, reg, phash)
        if remote is not None:
            verdict = _with_remote(verdict, remote)
        # Bank matches stay in their own section (withheld from public callers); they do not
        # change or enter the provenance verdict.
        info = FileInfo(
            name=name, size=len(data), sha256=sha256, mime=mime,
            width=None if pixels is None else int(pixels.shape[1]),
            height=None if pixels is None else int(pixels.shape[0]),
            notes=_name_notes(name, mime),
        )
        report = VerificationReport(
            file=info, manifest=manifest, development_certificate=dev, watermark=mark, registry=reg,
            metadata=metadata.to_dict(), hash_match=hashes, verdict=verdict, checked_at=checked_at,
            duration_ms=1000 * (time.perf_counter() - started), remote_resolution=remote,
        )
        if self.registry is not None:
            stamp_id = reg.record.stamp_id if reg.record is not None else mark.stamp_id
            detail = {"bank_matches": {m.label: 0 for m in hashes.matches}} if hashes.matches else None
            if detail is not None:
                for m in hashes.matches:
                    detail["bank_matches"][m.label] += 1
            if reg.image_check is not None and not reg.image_check.confirmed:
                # Which stamp's mark was found on another picture: what the copied-mark figures count.
                detail = dict(detail or {}, image_check=reg.image_check.status, watermark_id=mark.stamp_id)
            self.registry.log_event("verify", sha256=sha256, verdict=verdict.code, stamp_id=stamp_id, detail=detail)
        logger.info("verified %s: %s (%.0f ms)", name or sha256[:12], verdict.code, report.duration_ms)
        return report


def verify(
    source: VerifySource,
    *,
    settings: Settings | None = None,
    verifier: Verifier | None = None,
    name: str | None = None,
    search: str | None = None,
) -> VerificationReport:
    """Verify one file and return a :class:`VerificationReport`.

    Parameters
    ----------
    source : path or bytes
        The file.
    settings : Settings, optional
        Used to build a :class:`Verifier` for this call when `verifier` is not given.
    verifier : Verifier, optional
        A reusable verifier (keys, trust and registry loaded once).
    name : str, optional
        File name to report.
    search : {"full", "crops", "quick"}, optional
        The watermark search (default ``PROVENANCE_WATERMARK_SEARCH``).

    Raises
    ------
    ProvenanceError
        See :meth:`Verifier.verify` and :class:`Verifier`.
    """
    if verifier is not None:
        return verifier.verify(source, name=name, search=search)
    with Verifier(settings) as own:
        return own.verify(source, name=name, search=search)
