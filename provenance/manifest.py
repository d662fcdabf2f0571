"""Read and validate C2PA manifests (Content Credentials) with c2pa-python.

:func:`read_manifest` reads any format c2pa-python reads (JPEG, PNG, WebP,
AVIF, HEIC, TIFF/DNG, GIF, SVG, MP4/MOV, WAV/MP3/FLAC, PDF, ...), from a path
or from bytes, and returns a :class:`ManifestSummary`. Reading is fully
offline: no remote manifest fetch, no OCSP, no DID resolution, no network.

States
------
``absent``   no Content Credentials (or only a link to credentials stored online)
``invalid``  credentials present but broken: tampered, expired, unreadable
``valid``    signature and hashes check out, but the signer is not on a trust
             list you have configured
``trusted``  valid, and the signer chains to a configured trust anchor

c2pa-python 0.38 lists ``signingCredential.untrusted`` among the failures of a
"Valid" manifest; it is kept in :attr:`ManifestSummary.failures` (so codes
match the SDK) but the state stays ``valid``, not an error.

A :class:`c2pa.Context` is built once per distinct trust configuration and
cached, since this runs on the upload path.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import logging
import mimetypes
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import c2pa
from cryptography import x509

from .errors import ConfigError, InvalidInputError, ManifestError
from .images import SNIFF_BYTES, detect_mime_type, read_source
from .settings import Settings

__all__ = [
    "STATES",
    "AI_DISCLOSURES",
    "ValidationFailure",
    "Action",
    "SoftBinding",
    "IngredientSummary",
    "ManifestSummary",
    "read_manifest",
    "detect_mime_type",  # provenance.images.detect_mime_type, the one sniffer, re-exported for callers
    "explain_failure",
]

logger = logging.getLogger(__name__)

#: The states a manifest (or ingredient) can be in, worst to best.
STATES = ("absent", "invalid", "valid", "trusted")
#: What the credentials say about AI involvement.
AI_DISCLOSURES = ("ai_generated", "ai_edited", "composite", "capture", "unknown")

#: Deepest ingredient nesting followed (guards against cyclic or hostile stores).
MAX_INGREDIENT_DEPTH = 16

_UNTRUSTED = "signingCredential.untrusted"
#: Start of :attr:`ManifestSummary.error` when c2pa could not parse the file's container.
_UNPARSED_PREFIX = "the file could not be parsed"

# --------------------------------------------------------------------------- failure codes

_EXPLANATIONS: dict[str, str] = {
    "assertion.dataHash.mismatch": "the pixels (or other content) were changed after signing",
    "assertion.boxesHash.mismatch": "the file's content was changed after signing",
    "assertion.bmffHash.mismatch": (
        "the video or audio data does not match what was signed: it was changed after signing, "
        "or only part of the file (e.g. one fragment) was checked"
    ),
    "assertion.collectionHash.mismatch": "a file in the signed collection was changed after signing",
    "assertion.hashedURI.mismatch": "part of the credentials (an assertion) was changed after signing",
    "assertion.missing": "the credentials refer to an assertion that is missing",
    "assertion.multipleHardBindings": "the credentials bind to the content in more than one way, which is not allowed",
    "assertion.undeclared": "the credentials contain an assertion the signer did not declare",
    "assertion.inaccessible": "an assertion of the credentials could not be read",
    "assertion.dataHash.malformed": "the content hash in the credentials is malformed",
    "assertion.action.ingredientMismatch": "an edit action refers to an ingredient that does not match",
    "assertion.action.malformed": "the list of edits in the credentials is malformed",
    "claimSignature.mismatch": "the signature does not match the credentials: they were altered after signing",
    "claimSignature.missing": "the credentials are not signed",
    "claimSignature.outsideValidity": "the signature was made outside the signing certificate's validity period",
    "signingCredential.untrusted": "the signer is not on a trust list you have configured",
    "signingCredential.expired": (
        "the signing certificate has expired and no trusted time-stamp proves the signature was made while it was valid"
    ),
    "signingCredential.invalid": "the signing certificate is malformed or not allowed for signing",
    "signingCredential.revoked": "the signing certificate was revoked by its issuer",
    "signingCredential.ocsp.revoked": "the signing certificate was revoked by its issuer",
    "signingCredential.ocsp.unknown": "the revocation status of the signing certificate is unknown",
    "timeStamp.mismatch": "the time-stamp does not match the signature",
    "timeStamp.untrusted": "the time-stamp authority is not on a trust list you have configured",
    "timeStamp.outsideValidity": "the time-stamp was made outside the time-stamp certificate's validity period",
    "timeStamp.malformed": "the time-stamp is malformed",
    "ingredient.manifest.missing": "an ingredient's credentials are referenced but missing from the file",
    "ingredient.manifest.mismatch": "an ingredient's credentials do not match the ones that were referenced",
    "ingredient.claimSignature.mismatch": "an ingredient's signature does not match the one that was referenced",
    "ingredient.hashedURI.mismatch": "an ingredient's credentials were changed after they were referenced",
    "manifest.inaccessible": "the credentials could not be read",
    "manifest.multipleParents": "the credentials name more than one parent ingredient",
    "manifest.update.invalid": "an update manifest changes something it may not change",
    "manifest.update.wrongParents": "an update manifest does not have exactly one parent",
    "claim.missing": "the credentials have no claim",
    "claim.multiple": "the credentials have more than one claim",
    "claim.hardBindings.missing": "the credentials are not bound to the content (no content hash)",
    "claim.required.missing": "a required part of the claim is missing",
    "claim.cbor.invalid": "the claim is not well-formed",
    "hashedURI.missing": "the credentials refer to data that is missing",
    "hashedURI.mismatch": "data referred to by the credentials was changed after signing",
    "algorithm.unsupported": "the credentials use a hash or signature algorithm that is not supported",
    "algorithm.deprecated": "the credentials use a deprecated algorithm",
    "general.error": "an unexpected error happened while checking the credentials",
    "cawg.x509.credential.untrusted": (
        "the certificate behind an identity assertion (CAWG) is not on a trust list you have configured"
    ),
    "cawg.ica.did_unavailable": (
        "an identity assertion (CAWG) needs its issuer's DID document, which cannot be fetched offline"
    ),
    "cawg.ica.invalid_issuer": "the issuer of an identity claims aggregation (CAWG) is not valid",
    "cawg.ica.signature_mismatch": "an identity claims aggregation (CAWG) signature does not match",
    "cawg.identity.hard_binding_missing": "an identity assertion (CAWG) does not cover the content binding",
    "cawg.identity.assertion.mismatch": "an identity assertion (CAWG) does not match the claim it signs",
}

#: Codes that only say "not trusted"; with nothing else the credentials are still ``valid``.
_TRUST_ONLY_CODES = frozenset({_UNTRUSTED, "cawg.x509.credential.untrusted", "timeStamp.untrusted"})


def explain_failure(code: str, detail: str | None = None) -> str:
    """Return a plain-language explanation of a C2PA validation status code.

    Parameters
    ----------
    code : str
        A code such as ``"assertion.dataHash.mismatch"``.
    detail : str, optional
        c2pa's own (technical) explanation, used for codes this table lacks.
    """
    if code in _EXPLANATIONS:
        return _EXPLANATIONS[code]
    suffix = f" ({detail})" if detail else ""
    if code.startswith("cawg."):
        return f"an identity assertion (CAWG) could not be verified: {code}{suffix}"
    return f"the check {code!r} failed{suffix}"


# --------------------------------------------------------------------------- result types


@dataclass(frozen=True)
class ValidationFailure:
    """One failed validation check.

    Attributes
    ----------
    code : str
        The C2PA status code, e.g. ``"assertion.dataHash.mismatch"``.
    explanation : str
        What it means, in plain language.
    scope : str
        ``"active_manifest"`` or ``"ingredient"``.
    ingredient : str or None
        Title of the ingredient it occurred in (scope ``"ingredient"``).
    url : str or None
        The JUMBF URI c2pa reported.
    detail : str or None
        c2pa's own technical explanation.
    """

    code: str
    explanation: str
    scope: str = "active_manifest"
    ingredient: str | None = None
    url: str | None = None
    detail: str | None = None

    @property
    def trust_only(self) -> bool:
        """True when this failure only says a signer is not trusted."""
        return self.code in _TRUST_ONLY_CODES

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "code": self.code,
            "explanation": self.explanation,
            "scope": self.scope,
            "ingredient": self.ingredient,
            "url": self.url,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Action:
    """One entry of a ``c2pa.actions`` assertion.

    `digital_source_type` is the full IPTC/C2PA URI the action declares (not
    guessed from vendor parameters); `software_agent` is ``"name version"``.
    """

    action: str
    digital_source_type: str | None = None
    software_agent: str | None = None
    when: str | None = None

    @property
    def digital_source_type_name(self) -> str | None:
        """The last part of `digital_source_type`, e.g. ``"trainedAlgorithmicMedia"``."""
        return _dst_name(self.digital_source_type)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "action": self.action,
            "digital_source_type": self.digital_source_type,
            "software_agent": self.software_agent,
            "when": self.when,
        }


@dataclass(frozen=True)
class SoftBinding:
    """A ``c2pa.soft-binding`` value: a watermark or fingerprint that finds the manifest again."""

    alg: str
    value: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"alg": self.alg, "value": self.value}


def _bytes_dict(name: str, data: bytes | None, fmt: str | None, include: bool) -> dict[str, Any]:
    out: dict[str, Any] = {f"{name}_format": fmt, f"{name}_size": len(data) if data is not None else None}
    if include:
        out[f"{name}_base64"] = base64.b64encode(data).decode("ascii") if data is not None else None
    return out


@dataclass(frozen=True)
class IngredientSummary:
    """One ingredient of a manifest, with its own validation and its own ingredients.

    `state` is ``absent`` when the ingredient carries no credentials of its own.
    """

    title: str | None
    format: str | None
    relationship: str | None
    state: str
    failures: tuple[ValidationFailure, ...] = ()
    ai_disclosure: str = "unknown"
    signer_org: str | None = None
    signer_common_name: str | None = None
    manifest_label: str | None = None
    thumbnail: bytes | None = field(default=None, repr=False)
    thumbnail_format: str | None = None
    children: tuple["IngredientSummary", ...] = ()

    def to_dict(self, *, include_thumbnails: bool = False) -> dict[str, Any]:
        """JSON-ready values; thumbnails as sizes, or base64 with `include_thumbnails`."""
        return {
            "title": self.title,
            "format": self.format,
            "relationship": self.relationship,
            "state": self.state,
            "failures": [f.to_dict() for f in self.failures],
            "ai_disclosure": self.ai_disclosure,
            "signer_org": self.signer_org,
            "signer_common_name": self.signer_common_name,
            "manifest_label": self.manifest_label,
            **_bytes_dict("thumbnail", self.thumbnail, self.thumbnail_format, include_thumbnails),
            "children": [c.to_dict(include_thumbnails=include_thumbnails) for c in self.children],
        }


@dataclass(frozen=True)
class ManifestSummary:
    """What the Content Credentials of a file say, and whether they hold up.

    Attributes
    ----------
    state : str
        ``absent``, ``invalid``, ``valid`` or ``trusted`` (see the module docstring).
    explanation : str
        One or two plain sentences saying what `state` means for this file.
    failures : tuple of ValidationFailure
        Failed checks of the active manifest, then of its ingredients.
    error : str or None
        Why the credentials could not be read at all (state ``invalid`` or ``absent``).
    remote_manifest_url : str or None
        Where the credentials live when the file only links to them online.
    manifest_count : int
        Manifests in the store (the active one plus its ingredients' ones).
    manifest_json : str or None
        c2pa's raw manifest-store JSON.
    """

    state: str
    explanation: str
    failures: tuple[ValidationFailure, ...] = ()
    signer_org: str | None = None
    signer_common_name: str | None = None
    signing_time: datetime | None = None
    time_stamped: bool = False
    claim_generator: str | None = None
    title: str | None = None
    active_manifest_label: str | None = None
    actions: tuple[Action, ...] = ()
    ai_disclosure: str = "unknown"
    ingredients: tuple[IngredientSummary, ...] = ()
    thumbnail: bytes | None = field(default=None, repr=False)
    thumbnail_format: str | None = None
    soft_bindings: tuple[SoftBinding, ...] = ()
    remote_manifest_url: str | None = None
    manifest_count: int = 0
    mime_type: str | None = None
    manifest_json: str | None = field(default=None, repr=False)
    error: str | None = None

    @property
    def has_manifest(self) -> bool:
        """True when credentials were found and read (state other than ``absent``)."""
        return self.state != "absent"

    @property
    def container_unparsed(self) -> bool:
        """True when c2pa could not parse the file's container (``read_manifest(strict=False)``)."""
        return bool(self.error) and self.error.startswith(_UNPARSED_PREFIX)

    @property
    def active_failures(self) -> tuple[ValidationFailure, ...]:
        """Failures of the active manifest only."""
        return tuple(f for f in self.failures if f.scope == "active_manifest")

    @property
    def ingredient_failures(self) -> tuple[ValidationFailure, ...]:
        """Failures found inside ingredients."""
        return tuple(f for f in self.failures if f.scope == "ingredient")

    def to_dict(self, *, include_thumbnails: bool = False, include_manifest_json: bool = False) -> dict[str, Any]:
        """JSON-ready values.

        Bytes are left out (only their size and format) unless `include_thumbnails`,
        which adds them as base64; the raw JSON only with `include_manifest_json`.
        """
        out: dict[str, Any] = {
            "state": self.state,
            "explanation": self.explanation,
            "failures": [f.to_dict() for f in self.failures],
            "signer_org": self.signer_org,
            "signer_common_name": self.signer_common_name,
            "signing_time": self.signing_time.isoformat() if self.signing_time else None,
            "time_stamped": self.time_stamped,
            "claim_generator": self.claim_generator,
            "title": self.title,
            "active_manifest_label": self.active_manifest_label,
            "actions": [a.to_dict() for a in self.actions],
            "ai_disclosure": self.ai_disclosure,
            "ingredients": [i.to_dict(include_thumbnails=include_thumbnails) for i in self.ingredients],
            **_bytes_dict("thumbnail", self.thumbnail, self.thumbnail_format, include_thumbnails),
            "soft_bindings": [s.to_dict() for s in self.soft_bindings],
            "remote_manifest_url": self.remote_manifest_url,
            "manifest_count": self.manifest_count,
            "mime_type": self.mime_type,
            "error": self.error,
        }
        if include_manifest_json:
            out["manifest_json"] = self.manifest_json
        return out


# --------------------------------------------------------------------------- MIME hints


def _hint_to_mime(hint: str | None) -> str | None:
    """Turn a MIME type, file name or extension into a MIME type (or None)."""
    if not hint or not hint.strip():
        return None
    hint = hint.strip()
    if "/" in hint and "." not in hint.rsplit("/", 1)[-1]:
        return hint.lower()
    name = hint if "." in hint else f"x.{hint}"
    if name.lower().endswith(".dng"):
        return "image/dng"
    return mimetypes.guess_type(name)[0]


def _choose_mime(head: bytes, hint: str | None) -> str | None:
    sniffed = detect_mime_type(head)
    hinted = _hint_to_mime(hint)
    if sniffed == "image/tiff" and hinted in ("image/dng", "image/x-adobe-dng", "image/x-nikon-nef", "image/x-sony-arw"):
        return hinted  # raw formats are TIFF containers; the hint is more specific
    return sniffed or hinted


# --------------------------------------------------------------------------- trust / Context


def _pem_problem(text: str) -> str | None:
    """Why `text` is not a bundle of PEM certificates, or None if it is."""
    if "-----BEGIN CERTIFICATE-----" not in text:
        return "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
    # c2pa silently skips malformed certificates, so check them here.
    try:
        x509.load_pem_x509_certificates(text.encode("utf-8"))
    except ValueError as exc:
        return f"a certificate in it is malformed ({exc})"
    return None


def _read_pem_file(path: Path, what: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the {what} file {path}: {exc}. Check PROVENANCE_TRUST_* settings.") from exc
    problem = _pem_problem(text)
    if problem:
        raise ConfigError(f"The {what} file {path} is not usable: {problem}. Point it at a PEM certificate bundle.")
    return text if text.endswith("\n") else text + "\n"


_OID = re.compile(r"[0-2](\.\d+)+")


def _read_trust_config(path: Path) -> str:
    """Read an EKU list: one dotted OID a line, ``//`` or ``#`` comments (c2pa ignores bad lines silently)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the trust config file {path}: {exc}.") from exc
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(("//", "#"))]
    bad = [ln for ln in lines if not _OID.fullmatch(ln)]
    if bad or not lines:
        raise ConfigError(
            f"The trust config file {path} must list extended-key-usage OIDs, one a line (e.g. 1.3.6.1.5.5.7.3.36); "
            f"got {bad[0]!r}." if bad else f"The trust config file {path} lists no OIDs."
        )
    return text


def _file_stamp(path: Path, what: str) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ConfigError(f"The {what} file {path} does not exist or cannot be read ({exc}).") from exc
    return (str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


#: (anchor file stamps, allowed-list stamp, trust-config stamp, extra anchor PEMs); a stamp is (path, mtime, size).
_TrustKey = tuple


def _trust_key(settings: Settings, extra_trust_anchors: Sequence[bytes]) -> _TrustKey:
    extras: list[bytes] = []
    for i, pem in enumerate(extra_trust_anchors):
        if isinstance(pem, str):
            pem = pem.encode("utf-8")
        problem = _pem_problem(pem.decode("utf-8", "replace")) if isinstance(pem, (bytes, bytearray)) else "not bytes"
        if problem:
            raise InvalidInputError(
                f"extra_trust_anchors[{i}] must be PEM certificate bytes (-----BEGIN CERTIFICATE-----...); {problem}."
            )
        extras.append(bytes(pem))
    anchors = tuple(_file_stamp(p, "trust anchors") for p in settings.trust_anchors)
    allowed = _file_stamp(settings.trust_allowed, "trust allowed-list") if settings.trust_allowed else None
    config = _file_stamp(settings.trust_config, "trust config") if settings.trust_config else None
    return (anchors, allowed, config, tuple(extras))


_context_lock = threading.Lock()


@functools.lru_cache(maxsize=16)
def _context_for(key: _TrustKey) -> c2pa.Context:
    anchors, allowed, config, extras = key
    trust: dict[str, str] = {}
    if anchors:
        trust["trust_anchors"] = "".join(_read_pem_file(Path(p), "trust anchors") for p, _, _ in anchors)
    if extras:
        trust["user_anchors"] = "".join(
            (e.decode("utf-8", "replace") if e.endswith(b"\n") else e.decode("utf-8", "replace") + "\n")
            for e in extras
        )
    if allowed:
        trust["allowed_list"] = _read_pem_file(Path(allowed[0]), "trust allowed-list")
    if config:
        trust["trust_config"] = _read_trust_config(Path(config[0]))
    settings = {
        "verify": {
            "verify_trust": True,
            "remote_manifest_fetch": False,
            "ocsp_fetch": False,
        },
        # An empty allow-list blocks every host: no DID resolution, no network at all.
        "core": {"allowed_network_hosts": []},
    }
    if trust:
        settings["trust"] = trust
    try:
        ctx = c2pa.Context.from_dict(settings)
    except c2pa.C2paError as exc:
        raise ConfigError(
            f"The C2PA trust settings were rejected ({exc}); check that the trust anchor, allowed-list and "
            "extra anchor files hold valid PEM certificates and the trust config holds EKU OIDs."
        ) from exc
    logger.debug("built a c2pa Context for %d anchor file(s), %d extra anchor(s)", len(anchors), len(extras))
    return ctx


def _context(settings: Settings, extra_trust_anchors: Sequence[bytes]) -> tuple[c2pa.Context, bool]:
    key = _trust_key(settings, extra_trust_anchors)
    with _context_lock:
        ctx = _context_for(key)
    has_trust = bool(key[0] or key[1] or key[3])
    return ctx, has_trust


# --------------------------------------------------------------------------- reading


_REMOTE_URL = re.compile(r"(https?://\S+)")


#: Reasons c2pa gives only in the text of its catch-all ``C2paError.Other`` (c2pa-python 0.38 has
#: no typed subclass for these), as what they mean for the reader.
_OTHER_REASONS = (
    ("unknown algorithm", "they are signed with a missing or unknown algorithm, so the signature cannot be checked"),
    ("prerelease", "they use a pre-release (pre-1.0) C2PA format that current readers reject"),
)
#: c2pa's words, inside ``C2paError.Other``, for a file whose container it cannot parse at all.
_UNPARSED_ASSET = "asset could not be parsed"


def _carries_store(data: bytes) -> bool:
    """True when the bytes hold a C2PA manifest store (a JUMBF box labelled ``c2pa``)."""
    return b"jumb" in data and b"c2pa" in data


def _error_summary(exc: c2pa.C2paError, mime: str | None, data: bytes, strict: bool) -> ManifestSummary:
    """Turn a c2pa error into a summary, or (`strict`) raise when the file's container cannot be parsed."""
    message = str(exc)
    # c2pa-python 0.38 raises a failed remote fetch as a plain C2paError("Remote: ...").
    if isinstance(exc, c2pa.C2paError.RemoteManifest) or (type(exc) is c2pa.C2paError and message.startswith("Remote")):
        match = _REMOTE_URL.search(message)
        url = match.group(1).rstrip(".,;") if match else None
        where = f" at {url}" if url else " online"
        return ManifestSummary(
            state="absent",
            explanation=(
                f"This file does not carry its Content Credentials; it only links to credentials stored{where}. "
                "provenance works offline and did not fetch them, so nothing was verified."
            ),
            remote_manifest_url=url,
            mime_type=mime,
            error="remote manifest not fetched (offline)",
        )
    if isinstance(exc, c2pa.C2paError.NotSupported):
        kind = mime or "this file type"
        return ManifestSummary(
            state="absent",
            explanation=f"No Content Credentials: {kind} is not a format that can carry them (or is not a media file).",
            mime_type=mime,
            error=f"unsupported file type ({kind})",
        )
    unparsed = isinstance(exc, (c2pa.C2paError.Io, c2pa.C2paError.FileNotFound)) or (
        isinstance(exc, c2pa.C2paError.Other) and _UNPARSED_ASSET in message
    )
    if unparsed:
        if strict:
            raise ManifestError(
                f"The file could not be parsed as {mime or 'media'} ({message}); it may be truncated or corrupt. "
                "Upload the complete original file."
            ) from exc
        if not _carries_store(data):
            return ManifestSummary(
                state="absent",
                explanation=(
                    f"No Content Credentials could be read: the file could not be parsed as {mime or 'media'} "
                    "(it may be truncated or corrupt)."
                ),
                mime_type=mime,
                error=f"{_UNPARSED_PREFIX} [{message}]",
            )
        reason = f"{_UNPARSED_PREFIX} around them, so they cannot be read"
    elif isinstance(exc, c2pa.C2paError.Signature):
        reason = "their signature cannot be checked"
    elif isinstance(exc, (c2pa.C2paError.Verify, c2pa.C2paError.Decoding, c2pa.C2paError.Json)):
        reason = "the embedded credentials are corrupt (their JUMBF container or claim is malformed)"
    else:
        lower = message.lower()
        reason = next((why for words, why in _OTHER_REASONS if words in lower), f"they could not be decoded ({message})")
    return ManifestSummary(
        state="invalid",
        explanation=f"This file has Content Credentials, but they cannot be read: {reason}.",
        mime_type=mime,
        error=f"{reason} [{message}]",
    )


def read_manifest(
    source: str | os.PathLike | bytes,
    *,
    mime: str | None = None,
    settings: Settings | None = None,
    extra_trust_anchors: Sequence[bytes] = (),
    strict: bool = True,
) -> ManifestSummary:
    """Read and validate the C2PA manifest (Content Credentials) of a file, offline.

    Parameters
    ----------
    source : path, bytes or binary file
        The media file. Its type is detected from its first bytes.
    mime : str, optional
        A MIME type, file name or extension, used when the bytes do not reveal
        the type (and to tell DNG from TIFF).
    settings : Settings, optional
        Trust configuration (``trust_anchors``, ``trust_allowed``,
        ``trust_config``); default ``Settings.from_env()``.
    extra_trust_anchors : sequence of bytes
        PEM root certificates to trust in addition (e.g. the development CA).
    strict : bool
        True raises :class:`ManifestError` when the file's container cannot be parsed; False
        reports it instead: state ``invalid`` when the bytes hold a manifest store (the
        credentials are there but unreadable), else ``absent`` with :attr:`ManifestSummary.error`
        set, so that a verification can go on to the pixels.

    Returns
    -------
    ManifestSummary
        State ``absent`` for no (or only remote) credentials, ``invalid`` for
        broken or unreadable ones, else ``valid`` or ``trusted``.

    Raises
    ------
    InvalidInputError
        If `source` is empty, missing, of the wrong type, or an extra anchor is not PEM.
    ManifestError
        With `strict`, if the file's container cannot be parsed at all (truncated or corrupt).
    ConfigError
        If a trust file is missing or not valid PEM.
    """
    settings = Settings.from_env() if settings is None else settings
    ctx, has_trust = _context(settings, extra_trust_anchors)
    src = read_source(source)
    fmt = _choose_mime(src.data[:SNIFF_BYTES], mime or src.name)
    stream = io.BytesIO(src.data)
    try:
        try:
            reader = c2pa.Reader.try_create(fmt, stream, context=ctx) if fmt else c2pa.Reader.try_create(
                stream, context=ctx
            )
            if reader is None:
                return ManifestSummary(
                    state="absent", explanation="This file has no Content Credentials (C2PA manifest).", mime_type=fmt
                )
            with reader:
                raw = reader.json()
                remote_url = None if reader.is_embedded() else reader.get_remote_url()
                return _summarise(reader, raw, fmt, has_trust, remote_url)
        except c2pa.C2paError as exc:
            logger.debug("c2pa could not read the manifest: %s", exc)
            return _error_summary(exc, fmt, src.data, strict)
    finally:
        stream.close()


# --------------------------------------------------------------------------- summarising

_CAPTURE_TYPES = frozenset(
    {
        "digitalCapture",
        "computationalCapture",
        "negativeFilm",
        "positiveFilm",
        "print",
        "screenCapture",
        "compositeCapture",
        "virtualRecording",
    }
)
_AI_TYPES = frozenset({"trainedAlgorithmicMedia", "algorithmicMedia"})
_COMPOSITE_TYPES = frozenset({"compositeWithTrainedAlgorithmicMedia", "compositeSynthetic"})
_AI_EDIT_TYPES = frozenset({"algorithmicallyEnhanced"})
#: Actions that bring the asset itself into being: an AI source type there means AI-generated.
_ORIGIN_ACTIONS = frozenset({"c2pa.created", "c2pa.opened"})
_RANK = {"unknown": 0, "capture": 1, "ai_edited": 2, "composite": 3, "ai_generated": 4}


def _dst_name(uri: str | None) -> str | None:
    if not uri:
        return None
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _disclosure_of(action: str, dst_uri: str | None) -> str:
    name = _dst_name(dst_uri)
    if name in _AI_TYPES:
        if action in _ORIGIN_ACTIONS:
            return "ai_generated"
        return "composite" if action == "c2pa.placed" else "ai_edited"
    if name in _COMPOSITE_TYPES:
        return "composite"
    if name in _AI_EDIT_TYPES:
        return "ai_edited"
    if name in _CAPTURE_TYPES:
        return "capture"
    return "unknown"


def _param_dst(params: Any) -> str | None:
    """A digitalSourceType tucked into action parameters (as Adobe Firefly writes it)."""
    if not isinstance(params, Mapping):
        return None
    for key, value in params.items():
        if isinstance(value, str) and (key == "digitalSourceType" or key.endswith(".digitalSourceType")):
            return value
    return None


def _agent(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        parts = [str(value.get("name") or ""), str(value.get("version") or "")]
        return " ".join(p for p in parts if p) or None
    return None


def _base_label(label: str) -> str:
    return label.split("__", 1)[0]


def _actions_of(manifest: Mapping[str, Any]) -> tuple[tuple[Action, ...], str]:
    """The actions of a manifest and the AI disclosure they imply."""
    actions: list[Action] = []
    disclosure = "unknown"
    for assertion in manifest.get("assertions") or ():
        if not re.fullmatch(r"c2pa\.actions(\.v\d+)?", _base_label(str(assertion.get("label", "")))):
            continue
        for entry in (assertion.get("data") or {}).get("actions") or ():
            if not isinstance(entry, Mapping):
                continue
            name = str(entry.get("action", ""))
            dst = entry.get("digitalSourceType") if isinstance(entry.get("digitalSourceType"), str) else None
            actions.append(
                Action(
                    action=name,
                    digital_source_type=dst,
                    software_agent=_agent(entry.get("softwareAgent")),
                    when=entry.get("when") if isinstance(entry.get("when"), str) else None,
                )
            )
            for candidate in (dst, _param_dst(entry.get("parameters"))):
                found = _disclosure_of(name, candidate)
                if _RANK[found] > _RANK[disclosure]:
                    disclosure = found
    return tuple(actions), disclosure


def _soft_bindings_of(manifest: Mapping[str, Any]) -> tuple[SoftBinding, ...]:
    out: list[SoftBinding] = []
    for assertion in manifest.get("assertions") or ():
        if _base_label(str(assertion.get("label", ""))) != "c2pa.soft-binding":
            continue
        data = assertion.get("data") or {}
        alg = str(data.get("alg", ""))
        blocks = data.get("blocks") or ()
        values = [b.get("value") for b in blocks if isinstance(b, Mapping)]
        if not values and "value" in data:
            values = [data["value"]]
        out.extend(SoftBinding(alg=alg, value=str(v)) for v in values if v is not None)
    return tuple(out)


def _claim_generator(manifest: Mapping[str, Any]) -> str | None:
    if isinstance(manifest.get("claim_generator"), str):
        return manifest["claim_generator"]
    infos = manifest.get("claim_generator_info") or ()
    names = [_agent(i) for i in infos if isinstance(i, Mapping)]
    return ", ".join(n for n in names if n) or None


def _thumbnail(reader: c2pa.Reader, ref: Any) -> tuple[bytes | None, str | None]:
    if not isinstance(ref, Mapping) or not ref.get("identifier"):
        return None, None
    buf = io.BytesIO()
    try:
        reader.resource_to_stream(str(ref["identifier"]), buf)
    except c2pa.C2paError as exc:
        logger.debug("thumbnail %s unavailable: %s", ref.get("identifier"), exc)
        return None, None
    return buf.getvalue() or None, ref.get("format")


def _failures(entries: Iterable[Any], scope: str, ingredient: str | None = None) -> tuple[ValidationFailure, ...]:
    out = []
    for entry in entries or ():
        if not isinstance(entry, Mapping) or not entry.get("code"):
            continue
        code, detail = str(entry["code"]), entry.get("explanation")
        out.append(
            ValidationFailure(
                code=code,
                explanation=explain_failure(code, detail),
                scope=scope,
                ingredient=ingredient,
                url=entry.get("url"),
                detail=detail,
            )
        )
    return tuple(out)


def _state_from(failures: Sequence[ValidationFailure], has_manifest: bool, has_trust: bool) -> str:
    if not has_manifest:
        return "absent"
    if any(not f.trust_only for f in failures):
        return "invalid"
    if failures or not has_trust:
        return "valid"
    return "trusted"


class _Walker:
    """Builds the ingredient tree of a manifest store."""

    def __init__(self, reader: c2pa.Reader, store: Mapping[str, Any], deltas: Mapping[str, Any], has_trust: bool):
        self.reader = reader
        self.manifests = store.get("manifests") or {}
        self.deltas = deltas
        self.has_trust = has_trust
        self.seen_uris: set[str] = set()

    def unmatched_failures(self) -> tuple[ValidationFailure, ...]:
        """Ingredient failures whose ingredient is not in the tree (e.g. beyond the depth limit)."""
        return tuple(
            f
            for uri, delta in self.deltas.items()
            if uri not in self.seen_uris
            for f in _failures(delta.get("failure") or (), "ingredient")
        )

    def disclosure(self, label: str | None, depth: int = 0) -> str:
        """AI disclosure of a manifest, falling back to its parent ingredient's."""
        manifest = self.manifests.get(label) if label else None
        if manifest is None or depth > MAX_INGREDIENT_DEPTH:
            return "unknown"
        _, found = _actions_of(manifest)
        if found != "unknown":
            return found
        for ing in manifest.get("ingredients") or ():
            if ing.get("relationship") == "parentOf":
                return self.disclosure(ing.get("active_manifest"), depth + 1)
        return "unknown"

    def ingredients(self, label: str | None, depth: int = 0) -> tuple[IngredientSummary, ...]:
        manifest = self.manifests.get(label) if label else None
        if manifest is None or depth > MAX_INGREDIENT_DEPTH:
            return ()
        out = []
        for ing in manifest.get("ingredients") or ():
            if not isinstance(ing, Mapping):
                continue
            title = ing.get("title")
            uri = f"self#jumbf=/c2pa/{label}/c2pa.assertions/{ing.get('label', '')}"
            self.seen_uris.add(uri)
            delta = (self.deltas.get(uri) or {}).get("failure") or ()
            failures = _failures(delta, "ingredient", title)
            child_label = ing.get("active_manifest")
            child = self.manifests.get(child_label) if child_label else None
            has_manifest = child is not None or bool(failures)
            signature = (child or {}).get("signature_info") or {}
            thumb, thumb_fmt = _thumbnail(self.reader, ing.get("thumbnail"))
            out.append(
                IngredientSummary(
                    title=title,
                    format=ing.get("format"),
                    relationship=ing.get("relationship"),
                    state=_state_from(failures, has_manifest, self.has_trust),
                    failures=failures,
                    ai_disclosure=self.disclosure(child_label, depth + 1),
                    signer_org=signature.get("issuer"),
                    signer_common_name=signature.get("common_name"),
                    manifest_label=child_label,
                    thumbnail=thumb,
                    thumbnail_format=thumb_fmt,
                    children=self.ingredients(child_label, depth + 1),
                )
            )
        return tuple(out)


def _flatten(ingredients: Iterable[IngredientSummary]) -> Iterable[IngredientSummary]:
    for ing in ingredients:
        yield ing
        yield from _flatten(ing.children)


def _where(failure: ValidationFailure) -> str:
    if failure.scope != "ingredient":
        return ""
    return f" (in ingredient {failure.ingredient!r})" if failure.ingredient else " (in an ingredient)"


def _explain_state(state: str, failures: Sequence[ValidationFailure], org: str | None, cn: str | None) -> str:
    signer = " / ".join(p for p in (org, cn) if p) or "an unnamed signer"
    if state == "trusted":
        return f"The Content Credentials are intact and signed by {signer}, which is on a trust list you have configured."
    if state == "valid":
        reasons = list(dict.fromkeys(f.explanation + _where(f) for f in failures))
        if not reasons:
            return f"The Content Credentials are intact (signed by {signer}); no trust list is configured."
        return f"The Content Credentials are intact (signed by {signer}), but not trusted: " + "; ".join(reasons) + "."
    broken = [f for f in failures if not f.trust_only] or list(failures)
    first_by_code = {f.code: f for f in reversed(broken)}  # the active manifest's entry wins
    reasons = list(dict.fromkeys(f.explanation + _where(f) for f in broken if first_by_code[f.code] is f))
    return "The Content Credentials failed validation: " + ("; ".join(reasons) or "see the failures") + "."


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _summarise(
    reader: c2pa.Reader, raw: str, mime: str | None, has_trust: bool, remote_url: str | None
) -> ManifestSummary:
    try:
        store = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"c2pa returned manifest JSON that does not parse ({exc}); report this file.") from exc
    manifests = store.get("manifests") or {}
    label = store.get("active_manifest")
    active = manifests.get(label) or {}
    results = store.get("validation_results") or {}
    deltas = {
        d.get("ingredientAssertionURI"): d.get("validationDeltas") or {}
        for d in results.get("ingredientDeltas") or ()
        if isinstance(d, Mapping)
    }
    walker = _Walker(reader, store, deltas, has_trust)
    ingredients = walker.ingredients(label)
    failures = _failures((results.get("activeManifest") or {}).get("failure") or (), "active_manifest")
    failures += tuple(f for ing in _flatten(ingredients) for f in ing.failures) + walker.unmatched_failures()

    known_state = str(store.get("validation_state") or "").lower()
    state = known_state if known_state in ("invalid", "valid", "trusted") else _state_from(failures, True, has_trust)
    signature = active.get("signature_info") or {}
    org, cn = signature.get("issuer"), signature.get("common_name")
    actions, _ = _actions_of(active)
    thumb, thumb_fmt = _thumbnail(reader, active.get("thumbnail"))
    return ManifestSummary(
        state=state,
        explanation=_explain_state(state, failures, org, cn),
        failures=failures,
        signer_org=org,
        signer_common_name=cn,
        signing_time=_parse_time(signature.get("time")),
        time_stamped=bool(signature.get("time")),
        claim_generator=_claim_generator(active),
        title=active.get("title"),
        active_manifest_label=label,
        actions=actions,
        ai_disclosure=walker.disclosure(label),
        ingredients=ingredients,
        thumbnail=thumb,
        thumbnail_format=thumb_fmt,
        soft_bindings=_soft_bindings_of(active),
        remote_manifest_url=remote_url,
        manifest_count=len(manifests),
        mime_type=mime,
        manifest_json=raw,
    )
