"""The exceptions provenance raises.

Every error the library raises on bad input or bad configuration is a
:class:`ProvenanceError`, so callers (the CLI, the web app) can catch one type
and show its message. Messages say what is wrong and what to do.

::

    ProvenanceError
    ├── InvalidImageError      (also a ValueError) unreadable, hostile or wrong-shaped image
    │   └── ImageTooLargeError decompression-bomb guard: too many pixels or bytes
    ├── InvalidVideoError      (also a ValueError) unreadable, truncated or unsupported video
    │   └── VideoTooLargeError a video beyond the duration, frame-size, frame-count or byte limits
    ├── InvalidInputError      (also a ValueError) a bad argument that is not an image
    ├── ManifestError          C2PA reading or signing failed
    ├── RegistryError          the registry database is unreachable or inconsistent
    └── ConfigError            settings, keys or certificates are missing or wrong

"No watermark" and "no manifest" are results, not errors.
"""

from __future__ import annotations

__all__ = [
    "ProvenanceError",
    "InvalidImageError",
    "ImageTooLargeError",
    "InvalidInputError",
    "InvalidVideoError",
    "VideoTooLargeError",
    "ManifestError",
    "RegistryError",
    "ConfigError",
]


class ProvenanceError(Exception):
    """Base class of every error provenance raises on purpose."""


class InvalidImageError(ProvenanceError, ValueError):
    """The image cannot be decoded, or its array has the wrong shape or dtype."""


class ImageTooLargeError(InvalidImageError):
    """The image has more pixels (or bytes) than the configured limit allows."""


class InvalidVideoError(ProvenanceError, ValueError):
    """The video cannot be demuxed or decoded, has no video track, or is not a video at all."""


class VideoTooLargeError(InvalidVideoError):
    """The video is longer, larger or has more frames (or bytes) than the configured limits allow."""


class InvalidInputError(ProvenanceError, ValueError):
    """An argument other than an image is wrong: a payload, a key, a hex string."""


class ManifestError(ProvenanceError):
    """A C2PA manifest could not be read, built or signed."""


class RegistryError(ProvenanceError):
    """The registry database could not be reached or a write failed."""


class ConfigError(ProvenanceError):
    """A setting, key file or certificate is missing or invalid."""
