"""The exceptions provenance raises.

Every error the library raises on bad input or bad configuration is a
:class:`ProvenanceError`, so callers (the CLI, the web app) can catch one type
and show its message. Messages say what is wrong and what to do.

::

    ProvenanceError
    ├── InvalidImageError      (also a ValueError) unreadable, hostile or wrong-shaped image
    │   └── ImageTooLargeError decompression-bomb guard: too many pixels or bytes
    ├── InvalidInputError      (also a ValueError) a bad argument that is not an image
    ├── ManifestError          C2PA reading or signing failed
    ├── RegistryError          the registry database is unreachable or inconsistent
    ├── ConfigError            settings, keys or certificates are missing or wrong
    └── ResolverError          a remote soft-binding resolution service failed or answered wrongly

"No watermark" and "no manifest" are results, not errors.
"""

from __future__ import annotations

__all__ = [
    "ProvenanceError",
    "InvalidImageError",
    "ImageTooLargeError",
    "InvalidInputError",
    "ManifestError",
    "RegistryError",
    "ConfigError",
    "ResolverError",
]


class ProvenanceError(Exception):
    """Base class of every error provenance raises on purpose."""


class InvalidImageError(ProvenanceError, ValueError):
    """The image cannot be decoded, or its array has the wrong shape or dtype."""


class ImageTooLargeError(InvalidImageError):
    """The image has more pixels (or bytes) than the configured limit allows."""


class InvalidInputError(ProvenanceError, ValueError):
    """An argument other than an image is wrong: a payload, a key, a hex string."""


class ManifestError(ProvenanceError):
    """A C2PA manifest could not be read, built or signed."""


class RegistryError(ProvenanceError):
    """The registry database could not be reached or a write failed."""


class ConfigError(ProvenanceError):
    """A setting, key file or certificate is missing or invalid."""


class ResolverError(ProvenanceError):
    """A remote soft-binding resolution service timed out, failed or sent an answer that is not the API's."""
