"""One output row per file: what ``provenance batch hash|verify|stamp`` found, or why it could not.

The functions here run on the workers, one file at a time, with the :class:`~provenance.report.Verifier`
or :class:`~provenance.stamp.Stamper` the worker built once (see :mod:`.runner`). A file that
cannot be processed is a row with its ``error``; only a fault of the service itself (the registry
down) escapes, because then every following file would fail the same way.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, ProvenanceError, ServerFault
from ..hashing import file_digests, pdq_hash_file
from .sources import read_bytes

__all__ = ["JOB_KINDS", "FileRow", "ROW_COLUMNS", "hash_file", "stamp_file", "verify_file"]

logger = logging.getLogger(__name__)

#: The per-file jobs ``provenance batch`` runs.
JOB_KINDS = ("hash", "verify", "stamp")


@dataclass(frozen=True)
class FileRow:
    """One file's outcome in a batch job's output.

    Attributes
    ----------
    path : str
        The file as listed by the source.
    size : int or None
        Bytes read.
    sha256, md5 : str or None
        Digests of the bytes (lowercase hex).
    pdq : str or None
        PDQ hash (64 hex) of the pixels; of the stamped output for ``stamp``.
    quality : int or None
        PDQ quality, 0-100.
    verdict : str or None
        Verification verdict code (``verify``).
    watermark_id : str or None
        The stamp ID the watermark carries (``verify``) or was given (``stamp``).
    manifest_state : str or None
        Content Credentials state (``verify``): absent, valid, trusted, invalid...
    output : str or None
        Where ``stamp`` wrote the stamped file.
    error : str or None
        Why the file could not be processed; the other fields may then be empty.
    """

    path: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    pdq: str | None = None
    quality: int | None = None
    verdict: str | None = None
    watermark_id: str | None = None
    manifest_state: str | None = None
    output: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values, every column present."""
        return asdict(self)


#: Output columns, in order.
ROW_COLUMNS = tuple(f.name for f in fields(FileRow))


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({exc.filename or 'file'})"
    return " ".join(str(exc).split()) or type(exc).__name__


def _failed(path: str, exc: BaseException, **known: Any) -> FileRow:
    if isinstance(exc, ServerFault):  # not this file's fault: stop the batch, it is retried on resume
        raise exc
    logger.debug("%s failed", path, exc_info=True)
    return FileRow(path=path, error=_error_text(exc), **known)


def _digests(data: bytes) -> dict[str, Any]:
    digests = file_digests(data)
    return {"size": len(data), "sha256": digests.sha256, "md5": digests.md5}


def hash_file(path: str, *, max_pixels: int) -> FileRow:
    """SHA-256, MD5 and PDQ of one file."""
    known: dict[str, Any] = {}
    try:
        data = read_bytes(path)
        known = _digests(data)
        phash = pdq_hash_file(data, max_pixels=max_pixels)
    except (ProvenanceError, OSError) as exc:
        return _failed(path, exc, **known)
    return FileRow(path=path, pdq=phash.to_hex(), quality=int(phash.quality), **known)


def verify_file(verifier: Any, path: str, *, search: str | None = None) -> FileRow:
    """What ``provenance verify --json`` says about one file, as a row."""
    known: dict[str, Any] = {}
    try:
        data = read_bytes(path)
        known = _digests(data)
        report = verifier.verify(data, name=Path(path).name or path, search=search)
    except (ProvenanceError, OSError) as exc:
        return _failed(path, exc, **known)
    pdq, quality = report.hash_match.pdq, report.hash_match.pdq_quality
    return FileRow(path=path, pdq=pdq, quality=quality, verdict=report.verdict.code,
                   watermark_id=report.watermark.stamp_id, manifest_state=report.manifest.state, **known)


def stamped_name(path: str, sha256: str, suffix: str) -> str:
    """The output name for one input: its stem and the start of its SHA-256, so that reruns pick the same name."""
    stem = Path(path.rstrip("/")).stem or "file"
    return f"{stem}-{sha256[:16]}{suffix}"


def stamp_file(stamper: Any, path: str, *, out_dir: str, generator: str, suffix: str = ".png") -> FileRow:
    """Stamp one file into `out_dir` through the registry, or find it stamped already.

    The output name is fixed by the input's bytes, and :meth:`~provenance.stamp.Stamper.stamp_file`
    renames it into place inside the registry transaction, so an output file whose SHA-256 the
    registry knows was recorded by an earlier, interrupted run: it is reported, not stamped again.
    """
    known: dict[str, Any] = {}
    try:
        data = read_bytes(path)
        known = _digests(data)
        out = Path(out_dir) / stamped_name(path, known["sha256"], suffix)
        if out.is_file():
            done = stamper.registry.find_by_sha256(hashlib.sha256(out.read_bytes()).hexdigest())
            if done is not None:
                return FileRow(path=path, pdq=done.phash, watermark_id=done.stamp_id, output=str(out), **known)
        result = stamper.stamp_file(path, out, generator=generator) if not _is_remote(path) else None
        if result is None:
            raise InvalidInputError(f"{path}: batch stamping reads local files only; copy the file here first.")
    except (ProvenanceError, OSError) as exc:
        return _failed(path, exc, **known)
    return FileRow(path=path, pdq=result.phash, watermark_id=result.stamp_id, output=str(out), **known)


def _is_remote(path: str) -> bool:
    return "://" in path[:16]
