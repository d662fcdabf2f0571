"""provenance: invisible keyed watermarks, C2PA Content Credentials and verification.

Public API::

    from provenance import watermark
    marked = watermark.embed(image, payload, key=key)
    result = watermark.detect(image, key=key)
"""

from __future__ import annotations

from . import errors, images, watermark
from .errors import (
    ConfigError,
    ImageTooLargeError,
    InvalidImageError,
    InvalidInputError,
    ManifestError,
    ProvenanceError,
    RegistryError,
    ResolverError,
)
from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "errors",
    "images",
    "watermark",
    "Settings",
    "ProvenanceError",
    "InvalidImageError",
    "ImageTooLargeError",
    "InvalidInputError",
    "ManifestError",
    "RegistryError",
    "ConfigError",
    "ResolverError",
]
