"""provenance: invisible keyed watermarks, C2PA Content Credentials and verification.

Public API (everything the web app uses; pinned by ``tests/test_exported_members.py``)::

    from provenance import Settings, Stamper, Verifier, Registry, Banks
    with Stamper(settings) as stamper:
        stamped = stamper.stamp_image("in.png", generator="my-diffusion-v2")
    report = Verifier(settings).verify(stamped.data)

    from provenance import watermark
    result = watermark.detect(image, key=key)

The heavier names (stamping, verification, banks, the registry) are imported on first use, so
``import provenance`` stays cheap for the command line.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import errors, images, watermark
from .errors import (
    BankExistsError,
    BankNotFoundError,
    CaseNotFoundError,
    CaseStateError,
    ConfigError,
    DuplicateStampError,
    HashListError,
    ImageTooLargeError,
    InvalidImageError,
    InvalidInputError,
    InvalidVideoError,
    ManifestError,
    ProvenanceError,
    RegistryError,
    ResolverError,
    RegistryUnavailable,
    ServerFault,
    SigningError,
    TimestampAuthorityError,
    WebhookSignatureError,
    VideoTooLargeError,
)
from .settings import Settings
from .watermark import SEARCH_MODES

__version__ = "0.1.0"

# Subpackages imported on first access (PEP 562).
_LAZY_MODULES = ("resolution", "video")

# name -> module it lives in, imported on first access (PEP 562).
_LAZY = {
    "Stamper": "stamp",
    "Verifier": "report",
    "VerificationReport": "report",
    "VERDICT_CODES": "report",
    "Registry": "registry",
    "Banks": "banks",
    "HASH_KINDS": "banks",
    "REVIEW_NOTE": "banks",
    "ApiToken": "tokens",
    "TokenStore": "tokens",
    "transparency_report": "transparency",
    "parse_since": "transparency",
    "PerceptualHash": "hashing",
    "file_digests": "hashing",
    "pdq_dihedral_hashes_file": "hashing",
    "detect_mime_type": "manifest",
    "load_secret_file": "keys",
    # Take It Down removal cases (provenance.cases)
    "GOOD_FAITH_STATEMENT": "cases",
    "CaseStore": "cases",
    "ContentIndex": "cases",
    "ContentRow": "cases",
    "bank_case_hashes": "cases",
    "case_figures": "cases",
    "check_content_row": "cases",
    "check_request": "cases",
    "index_content": "cases",
    "open_case_store": "cases",
    "sweep_case": "cases",
}

__all__ = [
    "__version__",
    "errors",
    "images",
    "watermark",
    "Settings",
    "SEARCH_MODES",
    *_LAZY_MODULES,
    *_LAZY,
    "ProvenanceError",
    "InvalidImageError",
    "ImageTooLargeError",
    "InvalidInputError",
    "HashListError",
    "BankNotFoundError",
    "BankExistsError",
    "ManifestError",
    "ConfigError",
    "ServerFault",
    "RegistryError",
    "RegistryUnavailable",
    "DuplicateStampError",
    "SigningError",
    "TimestampAuthorityError",
    "ResolverError",
    "CaseNotFoundError",
    "CaseStateError",
    "WebhookSignatureError",
    "InvalidVideoError",
    "VideoTooLargeError",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        value = importlib.import_module(f".{name}", __name__)
    elif name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    else:
        raise AttributeError(f"module 'provenance' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_MODULES))
