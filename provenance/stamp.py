"""Stamp AI-generated images: watermark, sign Content Credentials, record in the registry.

One stamp, in this order:

1. draw a fresh 64-bit ID (:func:`~provenance.registry.new_stamp_id`);
2. embed the invisible watermark carrying it, with the active watermark key;
3. encode the marked pixels (PNG; JPEG or WebP at quality 95; TIFF);
4. sign a C2PA manifest over those bytes: ``c2pa.created`` with digitalSourceType
   ``trainedAlgorithmicMedia``, ``c2pa.watermarked``, a ``c2pa.soft-binding`` naming
   the watermark algorithm and the ID, and claim-generator info;
5. read the signed bytes back (a self-check: the credentials must validate);
6. record the stamp (ID, time, generator, manifest JSON and store, SHA-256, PDQ hash, image
   fingerprint (:mod:`~provenance.fingerprint`), optional prompt hash and requester, key ID) and, for :meth:`Stamper.stamp_file`,
   write the file: to a temporary name in the target folder, renamed into place
   inside the registry transaction. On any failure there is no output file and no row.

::

    with Stamper(Settings.from_env()) as stamper:      # keys, certificate, registry: once
        result = stamper.stamp_file("in.png", "out.png", generator="my-model 2.1")
        result.stamp_id, result.sha256

A :class:`Stamper` is meant to be built once per process and reused (it is thread-safe:
its registry has a connection pool and everything else is read-only).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import struct
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Union

import numpy as np

from . import watermark
from .errors import InvalidImageError, InvalidInputError, ManifestError
from .fingerprint import make_fingerprint
from .hashing import pdq_hash
from .images import ImageSource, check_image_array, decode_image, encode_image, image_format
from .keys import KeyRing, load_keyring
from .manifest import read_manifest
from .registry import Registry, StampRecord, new_stamp_id
from .settings import Settings
from .signing import SigningCredentials, ai_generated_manifest, load_credentials, sign_asset

__all__ = [
    "OUTPUT_FORMATS",
    "OUTPUT_QUALITY",
    "StampResult",
    "Stamper",
    "embedded_manifest_store",
]

logger = logging.getLogger(__name__)

#: Formats a stamp can be written as (Pillow name -> MIME type).
OUTPUT_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "TIFF": "image/tiff"}
#: JPEG / WebP quality of stamped outputs (the watermark survives far lower).
OUTPUT_QUALITY = 95

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_MAX_TEXT = 256

StampSource = Union[ImageSource, np.ndarray]


@dataclass(frozen=True)
class StampResult:
    """One stamped output.

    Attributes
    ----------
    stamp_id : str
        The 64-bit ID carried by the watermark and recorded in the registry (16 hex).
    key_id : str
        ID of the watermark key used.
    data : bytes
        The signed output file. Not shown in ``repr``.
    mime : str
        Its media type, e.g. ``"image/png"``.
    sha256 : str
        SHA-256 of `data`, hex.
    phash : str
        PDQ perceptual hash of the marked pixels, 64 hex.
    manifest_json : str
        The C2PA manifest store JSON read back from `data`. Not shown in ``repr``.
    generator : str
        The model or service named in the credentials.
    created_at : datetime
        When the stamp was recorded (UTC).
    width, height : int
        Pixel size.
    path : Path or None
        Where :meth:`Stamper.stamp_file` wrote it.
    """

    stamp_id: str
    key_id: str
    data: bytes = field(repr=False)
    mime: str
    sha256: str
    phash: str
    manifest_json: str = field(repr=False)
    generator: str
    created_at: datetime
    width: int
    height: int
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the file bytes or the manifest JSON)."""
        return {
            "stamp_id": self.stamp_id,
            "key_id": self.key_id,
            "mime": self.mime,
            "size": len(self.data),
            "sha256": self.sha256,
            "phash": self.phash,
            "generator": self.generator,
            "created_at": self.created_at.isoformat(),
            "width": self.width,
            "height": self.height,
            "path": None if self.path is None else str(self.path),
        }


# --------------------------------------------------------------------------- manifest store


def _png_store(data: bytes) -> bytes | None:
    pos = 8
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        if ctype == b"caBX":
            return data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return None


def _webp_store(data: bytes) -> bytes | None:
    pos = 12
    while pos + 8 <= len(data):
        ctype, length = struct.unpack("<4sI", data[pos : pos + 8])
        if ctype == b"C2PA":
            return data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)
    return None


def _jpeg_store(data: bytes) -> bytes | None:
    """Reassemble the JUMBF superbox spread over APP11 segments (ISO 19566-5)."""
    pos, parts = 2, {}
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no more headers
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos + 4 : pos + 2 + length]
        if marker == 0xEB and segment[:2] == b"JP" and len(segment) >= 16:
            instance, sequence = struct.unpack(">HI", segment[2:8])
            parts.setdefault(instance, []).append((sequence, segment[8:]))
        pos += 2 + length
    for segments in parts.values():
        segments.sort()
        first = segments[0][1]
        if first[4:8] != b"jumb":
            continue
        header = 16 if struct.unpack(">I", first[:4])[0] == 1 else 8  # continuations repeat the box header
        return first + b"".join(body[header:] for _, body in segments[1:])
    return None


def embedded_manifest_store(data: bytes, mime: str) -> bytes | None:
    """Return the C2PA manifest store (JUMBF bytes) embedded in a PNG, JPEG or WebP file.

    The store is what c2pa calls a sidecar (``.c2pa``): it can be read and its signature
    checked on its own, e.g. ``read_manifest(store, mime="application/c2pa")``.

    Parameters
    ----------
    data : bytes
        The signed file.
    mime : str
        ``"image/png"``, ``"image/jpeg"`` or ``"image/webp"``; other types give None.

    Returns
    -------
    bytes or None
        None when the file type is not one of these or carries no store.
    """
    parse = {"image/png": _png_store, "image/jpeg": _jpeg_store, "image/webp": _webp_store}.get(mime)
    if parse is None:
        return None
    try:
        store = parse(bytes(data))
    except struct.error:
        return None
    return store if store and store[4:8] == b"jumb" else None


# --------------------------------------------------------------------------- stamping


def _check_text(value: object, name: str, example: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
        raise InvalidInputError(f"{name} must be a non-empty string of at most {_MAX_TEXT} characters, e.g. {example!r}.")
    return value.strip()


def _check_prompt_hash(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise InvalidInputError(
            "prompt_hash must be the SHA-256 of the prompt as 64 hex characters "
            "(e.g. hashlib.sha256(prompt.encode()).hexdigest()); never pass the prompt itself."
        )
    return value.lower()


def _output_format(output_format: str) -> tuple[str, str]:
    fmt = str(output_format).strip().upper().lstrip(".")
    fmt = {"JPG": "JPEG", "TIF": "TIFF"}.get(fmt, fmt)
    if fmt not in OUTPUT_FORMATS:
        raise InvalidInputError(
            f"Cannot stamp as {output_format!r}; choose one of {', '.join(OUTPUT_FORMATS)} (.png, .jpg, .webp, .tif)."
        )
    return fmt, OUTPUT_FORMATS[fmt]


class Stamper:
    """Watermarks, signs and records images; holds the keys, certificate and registry.

    Parameters
    ----------
    settings : Settings, optional
        Default ``Settings.from_env()``.
    keyring : KeyRing, optional
        Default :func:`~provenance.keys.load_keyring` of `settings`.
    credentials : SigningCredentials, optional
        Default :func:`~provenance.signing.load_credentials` of `settings`.
    registry : Registry, optional
        Default ``Registry.open(settings)``, closed by :meth:`close`. A registry you pass
        stays open.

    Raises
    ------
    ConfigError
        If the watermark keys or the signing certificate are missing or wrong.
    RegistryError
        If the registry database cannot be reached.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        keyring: KeyRing | None = None,
        credentials: SigningCredentials | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.settings = Settings.from_env() if settings is None else settings
        self.keyring = load_keyring(self.settings) if keyring is None else keyring
        self.credentials = load_credentials(self.settings) if credentials is None else credentials
        self._owns_registry = registry is None
        self.registry = Registry.open(self.settings) if registry is None else registry

    def close(self) -> None:
        """Close the registry if this stamper opened it. Idempotent."""
        if self._owns_registry:
            self.registry.close()

    def __enter__(self) -> "Stamper":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- the steps before anything is written

    def _pixels(self, source: StampSource, fmt: str) -> np.ndarray:
        if isinstance(source, np.ndarray):
            image = check_image_array(source)
            if image.ndim == 2:
                image = np.repeat(image[:, :, None], 3, axis=2)
            if fmt == "JPEG" and image.shape[2] == 4:
                raise InvalidInputError("JPEG cannot hold transparency; stamp as PNG or WebP, or drop the alpha channel.")
            return image
        return decode_image(source, max_pixels=self.settings.max_pixels, keep_alpha=fmt != "JPEG")

    def _prepare(
        self,
        source: StampSource,
        *,
        generator: str,
        output_format: str,
        prompt_hash: str | None,
        requester: str | None,
        title: str | None,
    ) -> tuple[StampRecord, StampResult]:
        generator = _check_text(generator, "generator", "my-model 2.1")  # type: ignore[assignment]
        requester = _check_text(requester, "requester", "alice@example.org", optional=True)
        prompt_hash = _check_prompt_hash(prompt_hash)
        fmt, mime = _output_format(output_format)
        started = time.perf_counter()
        image = self._pixels(source, fmt)
        if min(image.shape[:2]) < watermark.MIN_EMBED_SIDE:
            raise InvalidImageError(
                f"The image is {image.shape[1]}x{image.shape[0]}; stamping needs at least "
                f"{watermark.MIN_EMBED_SIDE}x{watermark.MIN_EMBED_SIDE} pixels. Stamp the full-size output."
            )
        key = self.keyring.active
        stamp_id = new_stamp_id()
        marked = watermark.embed(
            image, bytes.fromhex(stamp_id), key=key.secret, field_share=self.settings.watermark_field_percent / 100
        )
        unsigned = encode_image(marked, fmt, quality=OUTPUT_QUALITY)
        manifest = ai_generated_manifest(
            generator=generator, watermark_id=stamp_id, prompt_hash=prompt_hash, title=title
        )
        signed = sign_asset(unsigned, mime, manifest, self.credentials)
        anchors = (self.credentials.ca_pem,) if self.credentials.ca_pem else ()
        summary = read_manifest(signed, mime=mime, settings=self.settings, extra_trust_anchors=anchors)
        if summary.state not in ("valid", "trusted") or summary.manifest_json is None:
            raise ManifestError(
                f"The signed output did not validate ({summary.state}: {summary.explanation}); nothing was written. "
                "Check the signing certificate settings."
            )
        sha256 = hashlib.sha256(signed).hexdigest()
        phash = pdq_hash(np.ascontiguousarray(marked[:, :, :3])).to_hex()
        # Of the output, never of the caller's input: it is what a verified upload must show.
        fingerprint = make_fingerprint(marked).to_bytes()
        store = embedded_manifest_store(signed, mime)
        record = StampRecord.new(
            stamp_id=stamp_id,
            generator=generator,
            manifest_json=summary.manifest_json,
            manifest_store=store,
            sha256=sha256,
            phash=phash,
            prompt_hash=prompt_hash,
            requester=requester,
            key_id=key.key_id,
            fingerprint=fingerprint,
        )
        result = StampResult(
            stamp_id=stamp_id,
            key_id=key.key_id,
            data=signed,
            mime=mime,
            sha256=sha256,
            phash=phash,
            manifest_json=summary.manifest_json,
            generator=generator,
            created_at=record.created_at,
            width=int(image.shape[1]),
            height=int(image.shape[0]),
        )
        logger.debug("prepared stamp %s (%s, %d bytes) in %.0f ms", stamp_id, mime, len(signed),
                     1000 * (time.perf_counter() - started))
        return record, result

    # ---- public

    def stamp_image(
        self,
        source: StampSource,
        *,
        generator: str,
        output_format: str = "PNG",
        prompt_hash: str | None = None,
        requester: str | None = None,
        title: str | None = None,
    ) -> StampResult:
        """Stamp an image and record it; return the signed file's bytes.

        The stamp is recorded before this returns. If you then fail to deliver the bytes,
        the registry holds a stamp nobody received, which is harmless.

        Parameters
        ----------
        source : path, bytes, binary file, or (H, W[, 3|4]) uint8 ndarray
            The generated image; channels last. Transparency is kept for PNG, WebP and TIFF.
        generator : str
            The model or service that made it (``softwareAgent`` of ``c2pa.created``).
        output_format : str
            ``"PNG"`` (default), ``"JPEG"``, ``"WEBP"`` or ``"TIFF"``.
        prompt_hash : str, optional
            SHA-256 of the prompt, 64 hex characters (never the prompt).
        requester : str, optional
            Who asked for the image; kept in the registry only, never in the file.
        title : str, optional
            Manifest title.

        Returns
        -------
        StampResult

        Raises
        ------
        InvalidImageError
            If the image cannot be decoded or is under 256 pixels on a side.
        InvalidInputError
            On a bad argument or output format.
        ManifestError
            If signing fails.
        RegistryError
            If the stamp cannot be recorded (then nothing is returned).
        """
        record, result = self._prepare(
            source, generator=generator, output_format=output_format,
            prompt_hash=prompt_hash, requester=requester, title=title,
        )
        self.registry.record_stamp(record)
        logger.info("stamped %s (%s) for %s", result.stamp_id, result.mime, result.generator)
        return result

    def stamp_file(
        self,
        in_path: str | os.PathLike,
        out_path: str | os.PathLike,
        *,
        generator: str,
        prompt_hash: str | None = None,
        requester: str | None = None,
    ) -> StampResult:
        """Stamp the image at `in_path` and write it to `out_path` (format from its suffix).

        The output appears complete, and recorded, or not at all: it is written to a
        temporary file in the target folder and renamed into place inside the registry
        transaction; if the commit fails the file is removed again, and a file that was at
        `out_path` before comes back. An existing file at `out_path` is replaced.

        Returns
        -------
        StampResult
            With ``path`` set.

        Raises
        ------
        InvalidInputError
            If `out_path` has an unsupported suffix or its folder does not exist.
        InvalidImageError, ManifestError, RegistryError
            As :meth:`stamp_image`; no output file is left behind.
        """
        out = Path(out_path)
        fmt = image_format(out)
        _output_format(fmt)
        if not out.parent.is_dir():
            raise InvalidInputError(f"The output folder {out.parent} does not exist; create it first.")
        if out.is_dir():
            raise InvalidInputError(f"{out} is a folder; give the output file name, e.g. {out / 'stamped.png'}.")
        record, result = self._prepare(
            Path(in_path), generator=generator, output_format=fmt,
            prompt_hash=prompt_hash, requester=requester, title=out.name,
        )
        tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
        backup = out.with_name(f".{out.name}.{secrets.token_hex(4)}.previous")
        renamed = kept = False
        try:
            with self.registry.recording(record):
                try:
                    with open(tmp, "xb") as fh:
                        fh.write(result.data)
                        fh.flush()
                        os.fsync(fh.fileno())
                    if out.is_file():  # a second name for the file being replaced, until the commit
                        os.link(out, backup)
                        kept = True
                    os.replace(tmp, out)
                except OSError as exc:
                    raise InvalidInputError(
                        f"Cannot write {out} ({exc.strerror or exc}); check the folder's permissions and free space."
                    ) from exc
                renamed = True
        except BaseException:
            if renamed:  # the commit failed after the rename: put back what was there before
                if kept:
                    os.replace(backup, out)
                else:
                    out.unlink(missing_ok=True)
            raise
        finally:
            tmp.unlink(missing_ok=True)
            backup.unlink(missing_ok=True)
        logger.info("stamped %s -> %s (%s)", result.stamp_id, out, result.generator)
        return replace(result, path=out)
