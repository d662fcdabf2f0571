"""The C2PA Soft Binding Resolution API: answering it from our registry, and asking other services.

::

    from provenance import resolution
    value = resolution.decode_value("q83vASNFZ4k=")                 # base64 -> bytes
    matches = resolution.find_by_binding(registry, banks, resolution.WATERMARK_ALG, value)
    store = resolution.manifest_store_for(registry, matches[0].manifest_id)   # bytes, as embedded

    remote = resolution.resolve_remotely(settings.resolvers, [(alg, value_b64)], validate)

Modules: :mod:`.server` (lookups for ``webapp/resolution.py``), :mod:`.client` (remote
services, ``PROVENANCE_RESOLVERS``), :mod:`.jumbf` (cutting the active manifest out of a store).
See ``docs/resolution.md``.
"""

from __future__ import annotations

from .client import (
    MAX_JSON_BYTES,
    MAX_STORE_BYTES,
    RecoveredManifest,
    RemoteAttempt,
    RemoteMatch,
    RemoteResolution,
    ResolverClient,
    binding_value,
    load_resolver_tokens,
    resolve_remotely,
    soft_binding_queries,
)
from .jumbf import ManifestBox, active_manifest_store, manifest_boxes
from .server import (
    DEFAULT_MAX_RESULTS,
    MAX_ALG_CHARS,
    MAX_RESULTS,
    MAX_VALUE_CHARS,
    PDQ_ALG,
    SUPPORTED_ALGORITHMS,
    WATERMARK_ALG,
    ResolutionMatch,
    check_alg,
    check_manifest_id,
    check_max_results,
    decode_value,
    find_by_binding,
    find_by_content,
    manifest_store_for,
    pdq_similarity,
    supported_algorithms,
)

__all__ = [
    "DEFAULT_MAX_RESULTS",
    "MAX_ALG_CHARS",
    "MAX_JSON_BYTES",
    "MAX_RESULTS",
    "MAX_STORE_BYTES",
    "MAX_VALUE_CHARS",
    "PDQ_ALG",
    "SUPPORTED_ALGORITHMS",
    "WATERMARK_ALG",
    "ManifestBox",
    "RecoveredManifest",
    "RemoteAttempt",
    "RemoteMatch",
    "RemoteResolution",
    "ResolutionMatch",
    "ResolverClient",
    "active_manifest_store",
    "binding_value",
    "check_alg",
    "check_manifest_id",
    "check_max_results",
    "decode_value",
    "find_by_binding",
    "find_by_content",
    "load_resolver_tokens",
    "manifest_boxes",
    "manifest_store_for",
    "pdq_similarity",
    "resolve_remotely",
    "soft_binding_queries",
    "supported_algorithms",
]
