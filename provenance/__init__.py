"""provenance: invisible keyed watermarks, C2PA Content Credentials and verification.

Public API::

    from provenance import watermark
    marked = watermark.embed(image, payload, key=key)
    result = watermark.detect(image, key=key)
"""

from __future__ import annotations

from . import errors, images, video, watermark
from .errors import (
    ConfigError,
    ImageTooLargeError,
    InvalidImageError,
    InvalidInputError,
    InvalidVideoError,
    ManifestError,
    ProvenanceError,
    RegistryError,
    VideoTooLargeError,
)
from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "errors",
    "images",
    "video",
    "watermark",
    "Settings",
    "ProvenanceError",
    "InvalidImageError",
    "ImageTooLargeError",
    "InvalidInputError",
    "ManifestError",
    "RegistryError",
    "ConfigError",
    "InvalidVideoError",
    "VideoTooLargeError",
]
