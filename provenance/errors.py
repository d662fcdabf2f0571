"""The exceptions provenance raises.

Every error the library raises on purpose is a :class:`ProvenanceError`, so callers (the CLI,
the web app) can catch one type and show its message. Messages say what is wrong and what to
do. Two branches matter to a caller: bad input (the request is wrong; a 4xx in the web app)
and :class:`ServerFault` (the service is wrong or a service it needs is down; a 5xx). Settings,
keys and certificates are the operator's input: :class:`ConfigError` sits on its own.

::

    ProvenanceError
    ├── InvalidImageError          (also a ValueError) unreadable, hostile or wrong-shaped image
    │   └── ImageTooLargeError     decompression-bomb guard: too many pixels or bytes
    ├── InvalidVideoError          (also a ValueError) unreadable, truncated or unsupported video
    │   └── VideoTooLargeError     a video beyond the duration, frame-size, frame-count or byte limits
    ├── InvalidInputError          (also a ValueError) a bad argument that is not an image
    │   ├── HashListError          a malformed hash list; nothing was imported
    │   ├── BankNotFoundError      no hash bank has this name
    │   │   └── BankVideoNotFoundError  the bank has no video with this ID
    │   ├── BankExistsError        a hash bank with this name exists already
    │   ├── CaseNotFoundError      no removal case has this number (or status token)
    │   ├── CaseStateError         the case cannot make this transition from its state
    │   ├── WebhookSignatureError  a webhook delivery's signature is missing, wrong, old or replayed
    │   └── BatchSourceError       a batch job's file list cannot be read or has the wrong columns
    ├── ManifestError              a C2PA manifest could not be read or built from this input
    ├── ConfigError                settings, keys or certificates are missing or wrong
    └── ServerFault                not the caller's fault: retry later or tell the operator
        ├── RegistryError          the registry database failed
        │   ├── RegistryUnavailable    it cannot be reached (server down, file unopenable)
        │   └── DuplicateStampError    a stamp ID collided; draw a new one and retry
        ├── SigningError           (also a ManifestError) signing failed on our side
        │   └── TimestampAuthorityError  the time-stamp authority did not answer
        ├── ResolverError          a remote soft-binding resolution service failed or answered wrongly
        └── ClusterError           the Dask cluster of a batch job is unreachable or went away (resumable)

"No watermark" and "no manifest" are results, not errors.
"""

from __future__ import annotations

__all__ = [
    "ProvenanceError",
    "InvalidImageError",
    "ImageTooLargeError",
    "InvalidInputError",
    "HashListError",
    "BankNotFoundError",
    "BankVideoNotFoundError",
    "BankExistsError",
    "CaseNotFoundError",
    "CaseStateError",
    "WebhookSignatureError",
    "InvalidVideoError",
    "VideoTooLargeError",
    "ManifestError",
    "ConfigError",
    "ServerFault",
    "RegistryError",
    "RegistryUnavailable",
    "DuplicateStampError",
    "SigningError",
    "TimestampAuthorityError",
    "ResolverError",
    "BatchSourceError",
    "ClusterError",
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


class HashListError(InvalidInputError):
    """A hash list is malformed (bad hex, wrong length, duplicate, too many rows); nothing was imported."""


class BankNotFoundError(InvalidInputError):
    """No bank has this name; ``provenance bank list`` shows the banks."""


class BankVideoNotFoundError(BankNotFoundError):
    """The bank has no video with this ID; ``provenance bank videos NAME`` lists them."""


class BankExistsError(InvalidInputError):
    """A bank with this name exists already."""


class CaseNotFoundError(InvalidInputError):
    """No removal case has this number or status token; check the link or ``provenance cases list``."""


class CaseStateError(InvalidInputError):
    """The case's state does not allow this action (e.g. deciding a case that is already closed)."""


class WebhookSignatureError(InvalidInputError):
    """A webhook delivery's signature header is missing, does not match, is too old or was seen before."""


class ManifestError(ProvenanceError):
    """A C2PA manifest could not be read or built from the input."""


class ConfigError(ProvenanceError):
    """A setting, key file or certificate is missing or invalid."""


class ServerFault(ProvenanceError):
    """The service, not the request, failed: a database or signing service is down or broken."""


class RegistryError(ServerFault):
    """The registry database could not be reached or a write failed."""


class RegistryUnavailable(RegistryError):
    """The registry database cannot be reached (server down, file cannot be opened); retry later."""


class DuplicateStampError(RegistryError):
    """A stamp with this ID is already recorded; draw a new ID and retry."""


class SigningError(ServerFault, ManifestError):
    """Signing the C2PA manifest failed on the server's side (certificate, key, signer)."""


class TimestampAuthorityError(SigningError):
    """The time-stamp authority (``PROVENANCE_TSA_URL``) did not answer or refused the request."""


class ResolverError(ServerFault):
    """A remote soft-binding resolution service timed out, failed or sent an answer that is not the API's."""


class BatchSourceError(InvalidInputError):
    """A batch job's list of files cannot be read: no such folder, glob or list, or a list with the wrong columns."""


class ClusterError(ServerFault):
    """The Dask cluster running a batch job cannot be reached or went away; the job can be resumed."""
